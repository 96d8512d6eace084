// Package projection keeps a local projection of another service's change stream: a
// durable JetStream pull consumer delivers the stream's messages in order; each batch is
// handed to the service's Apply callback inside one database transaction that also moves
// the projection's position, and the messages are acked only after that commit.
//
// What this guarantees, and what it asks of Apply:
//   - nothing is lost: a message is acked only once what Apply wrote has committed;
//   - a message may be applied twice (a crash or a lost ack between commit and ack
//     redelivers it), so Apply must be idempotent, e.g. an upsert keyed by resource name
//     that keeps the row with the highest source sequence;
//   - the position in the database is the truth: at start-up a consumer whose acks run
//     ahead of it (the database was restored or replaced) is recreated from the database's
//     position, and a stream that restarted below it (its storage was lost), or that was
//     deleted and created again (its creation time, saved with the position, changed),
//     is read again from its start;
//   - the consumer is durable, so a restarted process resumes where it stopped.
//
// The package holds no domain types: messages are bytes and headers; the service decodes
// them in Apply.
package projection

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/guarantor/guarantor/platform/natsx"
	"github.com/guarantor/guarantor/platform/sqldb"
)

//go:embed migrations
var migrations embed.FS

// Migrate creates the projection's position table (with its own goose version table, so
// it evolves apart from the service's schema). Call it from the service's Migrate.
func Migrate(ctx context.Context, db *sqldb.DB) error {
	sub, err := fs.Sub(migrations, "migrations/"+db.Dialect.String())
	if err != nil {
		return fmt.Errorf("projection: migrations: %w", err)
	}
	return sqldb.Migrate(ctx, db, sub, "projection_migrations")
}

// Message is one message of the stream, as Apply sees it.
type Message struct {
	Subject string
	Data    []byte
	Header  nats.Header
	// StreamSeq is the message's sequence in the stream.
	StreamSeq uint64
}

// ApplyFunc writes what a message means to the projection, through tx only.
type ApplyFunc func(ctx context.Context, tx *sql.Tx, m Message) error

// permanent marks an error that retrying cannot fix.
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanent marks an Apply error that no retry can fix, such as a message the service
// cannot decode: the message is logged and skipped instead of blocking the projection.
// Apply must return it before writing anything through tx.
func Permanent(err error) error { return permanent{err} }

// Consumer runs one projection. Zero durations and sizes take the defaults noted.
type Consumer struct {
	DB        *sqldb.DB
	JetStream jetstream.JetStream
	// Stream is the stream to consume, e.g. "GUARANTOR_EVENTS".
	Stream string
	// Name names the durable consumer and the projection's position row, e.g.
	// "guarantees-refs". Two processes with the same Name share the work.
	Name string
	// FilterSubjects, when set, limits the consumer to these subjects.
	FilterSubjects []string
	Apply          ApplyFunc
	Log            *zap.Logger
	Metrics        *Metrics // nil: no metrics
	// Tracer, when set, records a consumer span for each message that carries a trace
	// context (the traceparent the outbox publishes), from its apply to the commit of
	// its batch, as a child of the span that made the change. Nil records nothing.
	Tracer trace.Tracer

	Batch      int           // messages per transaction; default 256
	MaxWait    time.Duration // how long an idle pull waits for a message; default 5s
	AckWait    time.Duration // redelivery delay of an unacked message; default 5s
	MinBackoff time.Duration // first retry delay after an error; default 100ms
	MaxBackoff time.Duration // cap of the retry delay; default 10s

	// maxAge is the stream's maximum age (0: none), learnt by ensure.
	maxAge time.Duration
}

func (c *Consumer) withDefaults() Consumer {
	d := *c
	if d.Log == nil {
		d.Log = zap.NewNop()
	}
	d.Log = d.Log.With(zap.String("projection", d.Name), zap.String("stream", d.Stream))
	if d.Batch <= 0 {
		d.Batch = 256
	}
	def := func(v *time.Duration, to time.Duration) {
		if *v <= 0 {
			*v = to
		}
	}
	def(&d.MaxWait, 5*time.Second)
	// Short, because a pull request still open on the server when a consumer process
	// stops can swallow a message published right then; it comes back after AckWait.
	def(&d.AckWait, 5*time.Second)
	def(&d.MinBackoff, 100*time.Millisecond)
	def(&d.MaxBackoff, 10*time.Second)
	return d
}

// Run consumes until ctx ends, then returns nil. It returns an error only for a
// misconfigured Consumer: a missing stream, NATS or database trouble are logged and
// retried with a growing, jittered backoff, so the service keeps serving (its projection
// lagging) while the other service is away.
func (c *Consumer) Run(ctx context.Context) error {
	if c.DB == nil || c.JetStream == nil || c.Stream == "" || c.Name == "" || c.Apply == nil {
		return errors.New("projection: Consumer needs DB, JetStream, Stream, Name and Apply")
	}
	cfg := c.withDefaults()
	cfg.Metrics.init(cfg.Name)
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = cfg.MinBackoff
	b.MaxInterval = cfg.MaxBackoff
	b.RandomizationFactor = 0.5
	for ctx.Err() == nil {
		cons, err := cfg.ensure(ctx)
		if err == nil {
			b.Reset()
			err = cfg.consume(ctx, cons, b)
		}
		if ctx.Err() != nil {
			return nil
		}
		wait := b.NextBackOff()
		cfg.Metrics.observeError(cfg.Name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			cfg.Log.Info("waiting for the stream to exist", zap.Duration("retry_in", wait))
		} else {
			cfg.Log.Warn("projection failed, retrying", zap.Error(err), zap.Duration("retry_in", wait))
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
	return nil
}

// ensure returns the durable consumer, creating it, or recreating it from the database's
// position when the server's state has moved past what the database holds.
func (c *Consumer) ensure(ctx context.Context) (jetstream.Consumer, error) {
	pos, created, err := position(ctx, c.DB, c.Name)
	if err != nil {
		return nil, err
	}
	stream, err := c.JetStream.Stream(ctx, c.Stream)
	if err != nil {
		return nil, fmt.Errorf("projection: stream %s: %w", c.Stream, err)
	}
	info := stream.CachedInfo()
	if now := natsx.Incarnation(info.Created); now != created {
		if created != 0 && now != 0 {
			// The stream was deleted and created again (its storage was lost and the
			// producer re-drove it): its positions started over and name other messages,
			// however far it has grown. Read it from its start; Apply is idempotent.
			c.Log.Warn("stream was created again since the projection read it, reading it again from the start",
				zap.Int64("position", pos), zap.Time("created_before", time.Unix(0, created)), zap.Time("created", info.Created))
			pos = 0
		}
		// Known from now on (or first learnt: a position saved before it was recorded is
		// taken to count in the stream as it is).
		if err := resetPosition(ctx, c.DB, c.Name, pos, now); err != nil {
			return nil, err
		}
	}
	c.maxAge = info.Config.MaxAge
	if first := info.State.FirstSeq; c.maxAge > 0 && pos > 0 && uint64(pos)+1 < first {
		// The projection was away longer than the stream keeps a message.
		c.expired(uint64(pos), first)
		if err := resetPosition(ctx, c.DB, c.Name, int64(first-1), natsx.Incarnation(info.Created)); err != nil {
			return nil, err
		}
		pos = int64(first - 1)
	}
	start := uint64(pos) + 1
	if last := info.State.LastSeq; last < uint64(pos) {
		// The stream restarted below our position (its storage was lost and the producer
		// re-published): read it again from the start; Apply is idempotent.
		c.Log.Warn("stream is behind the projection's position, reading it again from the start",
			zap.Uint64("stream_last_seq", last), zap.Int64("position", pos))
		start = 1
	}
	cons, err := stream.Consumer(ctx, c.Name)
	switch {
	case err == nil:
		floor := cons.CachedInfo().AckFloor.Stream
		if floor < start {
			return cons, nil
		}
		// The server believes messages were applied that the database does not hold.
		c.Log.Warn("consumer is ahead of the projection's position, recreating it",
			zap.Uint64("ack_floor", floor), zap.Int64("position", pos))
		if err := stream.DeleteConsumer(ctx, c.Name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return nil, fmt.Errorf("projection: delete consumer %s: %w", c.Name, err)
		}
	case !errors.Is(err, jetstream.ErrConsumerNotFound):
		return nil, fmt.Errorf("projection: consumer %s: %w", c.Name, err)
	}
	cfg := jetstream.ConsumerConfig{
		Durable:        c.Name,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        c.AckWait,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		FilterSubjects: c.FilterSubjects,
		MaxAckPending:  4 * c.Batch,
	}
	if start > 1 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = start
	}
	cons, err = stream.CreateConsumer(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("projection: create consumer %s: %w", c.Name, err)
	}
	c.Log.Info("consumer created", zap.Uint64("start_seq", start))
	return cons, nil
}

// expired reports that the stream let the messages between after and first go (at its
// maximum age) before the projection read them.
func (c *Consumer) expired(after, first uint64) {
	n := first - after - 1
	// A purge of the stream looks the same from here (its first sequence jumps): after a
	// purge and redrive, the re-driven copies follow and nothing is missing.
	c.Log.Error("the stream no longer holds messages the projection has not read: unless the stream was just purged and re-driven, they reached its maximum age and the projection lacks what they said; purge and redrive the stream to restore it",
		zap.Uint64("after_seq", after), zap.Uint64("first_seq", first), zap.Uint64("at_most", n), zap.Duration("max_age", c.maxAge))
	c.Metrics.observeExpired(c.Name, n)
}

// checkExpired reports the messages after position prev that the stream no longer holds.
// A failure to look only loses the report.
func (c *Consumer) checkExpired(ctx context.Context, prev uint64) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := c.JetStream.Stream(ctx, c.Stream)
	if err != nil {
		c.Log.Warn("could not look for expired messages", zap.Error(err))
		return
	}
	if first := st.CachedInfo().State.FirstSeq; first > prev+1 {
		c.expired(prev, first)
	}
}

// consume applies batches until ctx ends or something fails.
func (c *Consumer) consume(ctx context.Context, cons jetstream.Consumer, b *backoff.ExponentialBackOff) error {
	c.Metrics.setLag(c.Name, cons.CachedInfo().NumPending)
	prev, _, err := position(ctx, c.DB, c.Name)
	if err != nil {
		return err
	}
	for ctx.Err() == nil {
		// Take what is there at once; when nothing is, wait for one message so an idle
		// projection picks up a new change immediately, then loop to take the rest.
		batch, err := cons.FetchNoWait(c.Batch)
		if err != nil {
			return fmt.Errorf("projection: fetch: %w", err)
		}
		msgs, err := collect(batch)
		if err != nil {
			return err
		}
		if len(msgs) == 0 {
			wctx, cancel := context.WithTimeout(ctx, c.MaxWait)
			batch, err = cons.Fetch(1, jetstream.FetchContext(wctx))
			if err == nil {
				msgs, err = collect(batch)
			}
			cancel()
			if ctx.Err() != nil {
				return nil
			}
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				return err
			}
			if len(msgs) == 0 {
				c.Metrics.setLag(c.Name, 0)
				continue
			}
		}
		// The batch in hand is not applied yet, and Apply may take long (a slow or locked
		// database) or fail and retry: count it, with what the server held behind it, now.
		if meta, err := msgs[len(msgs)-1].Metadata(); err == nil {
			c.Metrics.setLag(c.Name, meta.NumPending+uint64(len(msgs)))
		}
		if c.maxAge > 0 {
			// A hole before the batch is a filtered-out message, or one the stream let go
			// before it was read: the stream's first message tells which.
			if meta, err := msgs[0].Metadata(); err == nil && meta.Sequence.Stream > uint64(prev)+1 {
				c.checkExpired(ctx, uint64(prev))
			}
		}
		if err := c.applyBatch(ctx, msgs); err != nil {
			// Hand the batch back for immediate redelivery, in order, after our backoff.
			for _, m := range msgs {
				_ = m.Nak()
			}
			return err
		}
		if meta, err := msgs[len(msgs)-1].Metadata(); err == nil {
			prev = max(prev, int64(meta.Sequence.Stream))
		}
		b.Reset()
	}
	return nil
}

func collect(batch jetstream.MessageBatch) ([]jetstream.Msg, error) {
	var msgs []jetstream.Msg
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	if err := batch.Error(); err != nil {
		return msgs, fmt.Errorf("projection: fetch: %w", err)
	}
	return msgs, nil
}

// applyBatch applies msgs and the new position in one transaction, then acks them.
func (c *Consumer) applyBatch(ctx context.Context, msgs []jetstream.Msg) (err error) {
	var last uint64
	var pending uint64
	spans := make([]trace.Span, 0, len(msgs))
	defer func() {
		// The batch commits or fails as one: so do its messages' spans.
		for _, s := range spans {
			if err != nil {
				s.SetStatus(codes.Error, err.Error())
			}
			s.End()
		}
	}()
	err = c.DB.InTx(ctx, func(tx *sql.Tx) error {
		// InTx may run this again when a shared commit failed: that attempt's spans end
		// here, and the retry starts its own.
		for _, s := range spans {
			s.SetStatus(codes.Error, "transaction retried")
			s.End()
		}
		spans = spans[:0]
		for _, m := range msgs {
			meta, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("projection: message metadata: %w", err)
			}
			if s := c.startSpan(m, meta.Sequence.Stream); s != nil {
				spans = append(spans, s)
			}
			err = c.Apply(ctx, tx, Message{Subject: m.Subject(), Data: m.Data(), Header: m.Headers(), StreamSeq: meta.Sequence.Stream})
			var perm permanent
			if errors.As(err, &perm) {
				c.Log.Error("skipping a message the projection cannot apply", zap.Uint64("stream_seq", meta.Sequence.Stream),
					zap.String("subject", m.Subject()), zap.Error(err))
				c.Metrics.observeSkipped(c.Name)
			} else if err != nil {
				return fmt.Errorf("projection: apply stream seq %d: %w", meta.Sequence.Stream, err)
			}
			last = max(last, meta.Sequence.Stream)
			pending = meta.NumPending
		}
		return savePosition(ctx, tx, c.DB, c.Name, int64(last))
	})
	if err != nil {
		return err
	}
	for _, m := range msgs {
		// A lost ack only means a redelivery, which Apply absorbs.
		_ = m.Ack()
	}
	c.Metrics.observeApplied(c.Name, len(msgs))
	c.Metrics.setLag(c.Name, pending)
	return nil
}

// startSpan starts the consumer span of m, or returns nil (no tracer, or no trace
// context in m).
func (c *Consumer) startSpan(m jetstream.Msg, streamSeq uint64) trace.Span {
	if c.Tracer == nil {
		return nil
	}
	parent := propagation.TraceContext{}.Extract(context.Background(), natsx.HeaderCarrier(m.Headers()))
	if !trace.SpanContextFromContext(parent).IsValid() {
		return nil
	}
	_, s := c.Tracer.Start(parent, "process "+c.Stream, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.destination.name", m.Subject()),
			attribute.String("messaging.consumer.group.name", c.Name),
			attribute.Int64("messaging.nats.stream.sequence", int64(streamSeq)),
		))
	return s
}

// Position returns the highest stream sequence the projection name has applied (0 when
// it has applied nothing).
func Position(ctx context.Context, db *sqldb.DB, name string) (int64, error) {
	seq, _, err := position(ctx, db, name)
	return seq, err
}

// position returns the projection's position and the incarnation of the stream it counts
// in (0 when unknown).
func position(ctx context.Context, db *sqldb.DB, name string) (seq, created int64, err error) {
	err = db.QueryRowContext(ctx, db.Rebind("SELECT stream_seq, stream_created FROM projection_positions WHERE name = ?"), name).Scan(&seq, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("projection: read position of %s: %w", name, err)
	}
	return seq, created, nil
}

// resetPosition sets the projection's position to seq in the stream incarnation created,
// back as well as forward (savePosition only moves forward).
func resetPosition(ctx context.Context, db *sqldb.DB, name string, seq, created int64) error {
	return db.InTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, db.Rebind(`INSERT INTO projection_positions (name, stream_seq, stream_created, update_time) VALUES (?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET stream_seq = excluded.stream_seq, stream_created = excluded.stream_created,
				update_time = excluded.update_time`), name, seq, created, time.Now().UnixNano())
		if err != nil {
			return fmt.Errorf("projection: reset position of %s: %w", name, err)
		}
		return nil
	})
}

// savePosition moves the position forward to seq, never back: with several processes
// sharing the consumer, batches may commit out of order.
func savePosition(ctx context.Context, tx *sql.Tx, db *sqldb.DB, name string, seq int64) error {
	_, err := tx.ExecContext(ctx, db.Rebind(`INSERT INTO projection_positions (name, stream_seq, update_time) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET
			stream_seq = CASE WHEN excluded.stream_seq > projection_positions.stream_seq THEN excluded.stream_seq ELSE projection_positions.stream_seq END,
			update_time = excluded.update_time`), name, seq, time.Now().UnixNano())
	if err != nil {
		return fmt.Errorf("projection: save position of %s: %w", name, err)
	}
	return nil
}
