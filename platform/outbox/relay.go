package outbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/guarantor/guarantor/platform/changelog"
	"github.com/guarantor/guarantor/platform/notify"
	"github.com/guarantor/guarantor/platform/sqldb"
)

// Relay publishes a change log to one JetStream stream; see the package comment for its
// guarantees. Zero durations and sizes take the defaults noted on each field.
type Relay struct {
	DB        *sqldb.DB
	JetStream jetstream.JetStream
	Stream    string           // the stream name; also names the cursor and the leadership lock
	Notifier  *notify.Notifier // wakes the relay when a change commits (nil: Fallback polling only)
	Log       *zap.Logger
	Metrics   *Metrics // nil: no metrics
	// StreamConfig, when set, is the stream's configuration: a relay that finds the
	// stream missing (JetStream lost it) creates it again and restores it (see
	// syncFromStream) instead of waiting for a restart of the service to create it.
	StreamConfig *jetstream.StreamConfig

	Batch          int           // entries read per pass; default 256
	MinBackoff     time.Duration // first retry delay after an error; default 100ms
	MaxBackoff     time.Duration // cap of the exponential, jittered backoff; default 30s
	Fallback       time.Duration // re-check interval when no notification comes; default 2s
	PublishTimeout time.Duration // for a batch's acknowledgements; default 5s
	LeaderRetry    time.Duration // how often a standby replica campaigns; default 2s
	LeaderCheck    time.Duration // how often the leader checks its lock session; default 5s
	// CursorEvery spaces the saves of the cursor while changes flow; default 1s. The relay
	// works from its in-memory cursor; the saved one only tells the next term where to
	// start, and every term first moves it past the stream's last message (syncFromStream),
	// so a saved cursor that trails by up to this much costs nothing but that check.
	// Saving after every pass was a second write transaction per change at low load.
	CursorEvery time.Duration
	// StreamCheck is how often an idle relay checks that the stream still holds what it
	// published (syncFromStream), so that a stream JetStream lost is restored before the
	// next change comes; default 10s.
	StreamCheck time.Duration
	// RecreateAfter is how long the stream must have been missing before the relay
	// creates it again (StreamConfig); default 1s. Right after a deletion, the server may
	// still be tearing the old stream's storage down, and an operator deleting a stream to
	// create it anew does so at once: the relay should race neither.
	RecreateAfter time.Duration
	// missingSince is when the relay first found the stream missing (zero: it was not).
	missingSince time.Time

	// Tracer, when set, records a producer span for the publish of every change that
	// carries a trace context, from the send to JetStream's acknowledgement, as a child of
	// the request's span: a trace then shows how long the change took to reach the
	// stream. Nil records nothing.
	Tracer trace.Tracer

	// AfterPublish, when set, runs after each acked publish and before the in-memory cursor
	// moves. Returning an error abandons the pass as a crash there would: the batch's cursor
	// update is skipped and the relay retries after a backoff. It is a failpoint for tests.
	AfterPublish func(changelog.Entry) error
}

func (r *Relay) withDefaults() Relay {
	c := *r
	if c.Log == nil {
		c.Log = zap.NewNop()
	}
	c.Log = c.Log.With(zap.String("stream", c.Stream))
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.Batch <= 0 {
		c.Batch = 256
	}
	def(&c.MinBackoff, 100*time.Millisecond)
	def(&c.MaxBackoff, 30*time.Second)
	def(&c.Fallback, 2*time.Second)
	def(&c.PublishTimeout, 5*time.Second)
	def(&c.LeaderRetry, 2*time.Second)
	def(&c.LeaderCheck, 5*time.Second)
	def(&c.CursorEvery, time.Second)
	def(&c.StreamCheck, 10*time.Second)
	def(&c.RecreateAfter, time.Second)
	return c
}

// Run relays until ctx ends, then returns nil. It returns an error only for a misconfigured
// Relay; every runtime failure (database, NATS, lost leadership) is logged and retried.
func (r *Relay) Run(ctx context.Context) error {
	if r.DB == nil || r.JetStream == nil || r.Stream == "" {
		return errors.New("outbox: Relay needs DB, JetStream and Stream")
	}
	c := r.withDefaults()
	c.Metrics.initStream(c.Stream)
	for {
		l, ok, err := tryLead(ctx, c.DB, c.Stream, c.LeaderCheck)
		if ctx.Err() != nil {
			if ok {
				l.release()
			}
			return nil
		}
		if err != nil {
			c.Log.Warn("relay leadership campaign failed", zap.Error(err))
		}
		if !ok {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(c.LeaderRetry):
			}
			continue
		}
		c.Log.Info("relay leading")
		termCtx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-l.lost:
				c.Log.Warn("relay lost its leadership session, stopping publishing")
				cancel()
			case <-termCtx.Done():
			}
		}()
		c.lead(termCtx)
		cancel()
		l.release()
		// Whoever leads next reports the lag; a stale figure here would add to it.
		c.Metrics.setLag(c.Stream, 0)
	}
}

// lead publishes for one leadership term, until ctx ends.
func (c *Relay) lead(ctx context.Context) {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = c.MinBackoff
	b.MaxInterval = c.MaxBackoff
	b.RandomizationFactor = 0.5 // jitter: replicas and services do not retry in lock step

	var (
		cursor   int64
		loaded   bool
		needSync = true // reconcile with the stream at the start of the term and after errors
		// streamLast is the stream sequence of the stream's last message as the relay last
		// knew it (0: unknown): each pass's first publish expects it, so a stream deleted
		// and created again under a running relay refuses the publish instead of taking
		// new changes without the old ones.
		streamLast uint64
		saved      int64 // the cursor as the database holds it
		lastSaved  time.Time
	)
	save := func(ctx context.Context) error {
		if cursor <= saved {
			return nil
		}
		if err := advanceCursor(ctx, c.DB, c.Stream, cursor); err != nil {
			return err
		}
		saved, lastSaved = cursor, time.Now()
		return nil
	}
	// Leave the next term as little to check as possible, even when the term ends because
	// ctx did: the cursor only ever covers acknowledged entries, so saving it is safe after
	// losing the leadership too.
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.PublishTimeout)
		defer cancel()
		if err := save(sctx); err != nil {
			c.Log.Warn("relay could not save its cursor at the end of its term", zap.Error(err), zap.Int64("cursor", cursor))
		}
	}()
	fallback := time.NewTicker(c.Fallback)
	defer fallback.Stop()
	check := time.NewTicker(c.StreamCheck)
	defer check.Stop()
	for ctx.Err() == nil {
		changed := c.Notifier.Changed() // before reading: see notify's package comment
		caughtUp, err := func() (bool, error) {
			if !loaded {
				var err error
				if cursor, err = loadCursor(ctx, c.DB, c.Stream); err != nil {
					return false, err
				}
				saved, lastSaved, loaded = cursor, time.Now(), true
			}
			if needSync {
				moved, err := c.syncFromStream(ctx, &cursor, &streamLast)
				if err != nil {
					return false, err
				}
				if moved {
					saved = max(saved, cursor) // syncFromStream saves what it moves
				}
				needSync = false
			}
			caughtUp, err := c.pass(ctx, &cursor, &streamLast)
			if err == nil && time.Since(lastSaved) >= c.CursorEvery {
				err = save(ctx)
			}
			return caughtUp, err
		}()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			needSync = true
			wait := b.NextBackOff()
			c.Metrics.observeError(c.Stream)
			if loaded {
				// The lag must grow while nothing can be published (NATS down): a pass
				// that fails never reaches the figure it sets when it succeeds.
				c.reportLag(ctx, cursor)
			}
			c.Log.Warn("relay pass failed, retrying from cursor", zap.Error(err),
				zap.Int64("cursor", cursor), zap.Duration("backoff", wait))
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			continue
		}
		b.Reset()
		if !caughtUp {
			continue
		}
		select {
		case <-ctx.Done():
		case <-changed:
		case <-fallback.C:
			// Idle: persist the position reached since the last save.
			if err := save(ctx); err != nil && ctx.Err() == nil {
				c.Log.Warn("relay could not save its cursor", zap.Error(err), zap.Int64("cursor", cursor))
			}
		case <-check.C:
			needSync = true
		}
	}
}

// pass publishes one batch after *cursor, in order, then moves *cursor (lead saves it to the
// database now and then). caughtUp reports that the batch was the end of the log.
//
// The batch goes out as a window of asynchronous publishes, each after the first carrying
// Nats-Expected-Last-Msg-Id: the previous change's id. JetStream stores a message only when
// the stream's last message is the one it names, so when change k is lost or refused,
// every later change of the window is refused too, and the retry starts again at k: the
// stream never holds k+1 before k. (A change already stored is recognised by its
// Nats-Msg-Id before that check and acknowledged as a duplicate, so a retry re-sends the
// window harmlessly.) The first message carries no expectation: after a restart the server
// may not know the stream's last id, and syncFromStream has aligned the cursor with the
// stream. Waiting for each ack before sending the next would cost a round trip per change.
func (c *Relay) pass(ctx context.Context, cursor *int64, streamLast *uint64) (caughtUp bool, err error) {
	entries, err := changelog.Since(ctx, c.DB, *cursor, c.Batch)
	if err != nil {
		return false, err
	}
	if len(entries) == 0 {
		c.Metrics.setLag(c.Stream, 0)
		return true, nil
	}
	spans := c.startSpans(entries)
	sent := time.Now()
	acked, err := publishWindow(ctx, c.JetStream, c.Stream, entries, window{
		expectSeq: *streamLast,
		timeout:   c.PublishTimeout,
		onAck: func(e changelog.Entry, ack *jetstream.PubAck) error {
			spans.acked(ack)
			c.Metrics.observePublish(c.Stream, time.Since(sent))
			*streamLast = max(*streamLast, ack.Sequence)
			if ack.Duplicate {
				c.Log.Debug("relay re-published an entry already in the stream", zap.String("id", e.ID))
			}
			if c.AfterPublish != nil {
				return c.AfterPublish(e)
			}
			return nil
		},
	})
	spans.failed(acked, err)
	if err != nil {
		return false, err
	}
	last := entries[len(entries)-1].Seq
	*cursor = last
	if len(entries) < c.Batch {
		// The batch ended the log as it was read: nothing was waiting then.
		c.Metrics.setLag(c.Stream, 0)
		return true, nil
	}
	c.reportLag(ctx, last)
	return false, nil
}

// reportLag sets the lag metric to the entries after cursor, when the database answers.
func (c *Relay) reportLag(ctx context.Context, cursor int64) {
	if c.Metrics == nil {
		return
	}
	if head, _, err := changelog.Head(ctx, c.DB); err == nil {
		c.Metrics.setLag(c.Stream, max(head-cursor, 0))
	}
}

// expiredUpTo is where the changes a stream should still hold begin, after last (the
// Guarantor-Seq of its last message): with a maximum age, JetStream drops a message that
// age after its publication, so a change committed before now-maxAge may be gone for
// good reason (it was published after its commit), while every later one must be there.
// Both times come from this process's clock, so a clock offset from the NATS server's
// cancels out.
func expiredUpTo(ctx context.Context, db *sqldb.DB, maxAge time.Duration, last int64) (int64, error) {
	if maxAge <= 0 {
		return last, nil
	}
	expired, err := changelog.VersionAt(ctx, db, time.Now().Add(-maxAge))
	if err != nil {
		return 0, err
	}
	return max(last, expired), nil
}

// syncFromStream reconciles *cursor with the stream's last message. Entries that reached the
// stream but not the cursor (a crash or timeout between ack and cursor update) are not
// published again, whatever the Duplicates window: the cursor moves past them. Entries the
// cursor covers that the stream no longer holds (JetStream lost them: the stream was
// deleted and created again, lost its storage, or was purged) are published again, in
// order, as Redrive would, before anything new: a service restarted on an empty stream
// restores it by itself. On a stream with a maximum age, changes older than that age are
// not lost but expired, and are not published again.
//
// It sets *streamLast to the stream's last sequence once reconciled, and reports whether it
// moved *cursor (saving it).
func (c *Relay) syncFromStream(ctx context.Context, cursor *int64, streamLast *uint64) (moved bool, err error) {
	sctx, cancel := context.WithTimeout(ctx, c.PublishTimeout)
	defer cancel()
	st, err := c.JetStream.Stream(sctx, c.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) && c.StreamConfig != nil {
		if c.missingSince.IsZero() {
			c.missingSince = time.Now()
		}
		if wait := c.RecreateAfter - time.Since(c.missingSince); wait > 0 {
			// The pass fails and is retried with backoff until the wait is over.
			return false, fmt.Errorf("outbox: stream %s is missing: creating it again if it still is in %s", c.Stream, wait.Round(time.Millisecond))
		}
		c.Log.Warn("stream is missing: creating it again")
		if st, err = EnsureStream(sctx, c.JetStream, *c.StreamConfig); err != nil {
			return false, err
		}
	}
	if err == nil {
		c.missingSince = time.Time{}
	}
	if err != nil {
		return false, fmt.Errorf("outbox: stream %s: %w", c.Stream, err)
	}
	// Nothing is published before this relay's next pass: what it publishes then leaves
	// the stream after this sequence, and acks move streamLast along.
	*streamLast = st.CachedInfo().State.LastSeq
	last, lastMsg, err := lastChangeSeq(sctx, st)
	if err != nil {
		return false, err
	}
	// What the stream must hold again. Normally up to the cursor: changes after it were
	// never acknowledged, and the next pass publishes them. But when the stream lost its
	// tail (a purge, or deleted messages: its last stored message is not at its last
	// sequence), changes after that message may have been acknowledged beyond the saved
	// cursor (it is saved lazily, and a crash loses the rest), and JetStream's duplicates
	// window still remembers their ids: the next pass would see them acknowledged as
	// duplicates and not stored. So they are all published again, under fresh ids,
	// through the change log's head.
	to := *cursor
	if lastMsg < st.CachedInfo().State.LastSeq {
		head, _, err := changelog.Head(ctx, c.DB)
		if err != nil {
			return false, err
		}
		to = max(to, head)
	}
	if last < to {
		from, err := expiredUpTo(ctx, c.DB, st.CachedInfo().Config.MaxAge, last)
		if err != nil {
			return false, err
		}
		if from >= to {
			// The stream's changes reached their maximum age and JetStream let them go:
			// nothing was lost, and publishing them again would only make them expire again.
			return false, nil
		}
		c.Log.Warn("stream lacks changes the relay published: publishing them again",
			zap.Int64("stream_last_seq", last), zap.Int64("from_seq", from), zap.Int64("to_seq", to), zap.Int64("cursor", *cursor))
		// Message ids of their own, as Redrive's: after a purge, JetStream's duplicate
		// window still remembers the plain ids and would drop the copies.
		// In the relay's batches, whose acks PublishTimeout is sized for.
		n, pos, err := republish(ctx, c.DB, c.JetStream, c.Stream, from, to, c.Batch, c.PublishTimeout, c.Log)
		if err != nil {
			return false, err
		}
		c.Log.Warn("relay published lost changes again", zap.Int("published", n), zap.Int64("up_to_seq", pos))
		info, err := st.Info(ctx)
		if err != nil {
			return false, fmt.Errorf("outbox: stream %s: %w", c.Stream, err)
		}
		*streamLast = info.State.LastSeq
		// republish saved the cursor as it went.
		moved = pos > *cursor
		*cursor = max(*cursor, pos)
		return moved, nil
	}
	if last == *cursor {
		return false, nil
	}
	head, _, err := changelog.Head(ctx, c.DB)
	if err != nil {
		return false, err
	}
	if last > head {
		// The stream knows changes the database does not: the database was restored from an
		// older backup. New entries would reuse published IDs and seqs; an operator must purge
		// the stream and Redrive. Keep relaying from the cursor meanwhile, loudly.
		c.Log.Error("stream is ahead of the change log: purge the stream and redrive",
			zap.Int64("stream_seq", last), zap.Int64("changelog_head", head))
		return false, nil
	}
	if err := advanceCursor(ctx, c.DB, c.Stream, last); err != nil {
		return false, err
	}
	c.Log.Info("relay cursor advanced to the stream's last message", zap.Int64("from", *cursor), zap.Int64("to", last))
	*cursor = last
	return true, nil
}
