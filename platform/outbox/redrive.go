package outbox

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/guarantor/guarantor/platform/changelog"
	"github.com/guarantor/guarantor/platform/sqldb"
)

// ErrStreamAhead means the stream holds changes the change log does not (the database was
// restored from an older backup): purge the stream, then Redrive.
var ErrStreamAhead = errors.New("outbox: stream is ahead of the change log")

// errLostLeadership ends a redrive whose leadership ended under it.
var errLostLeadership = errors.New("outbox: redrive lost the stream's leadership (its database session failed) and stopped publishing; run it again")

// redriveLeaderCheck is how often a redrive checks its leadership's session, as a
// relay does by default.
var redriveLeaderCheck = 5 * time.Second

// redriveTimeout bounds each publish of a redrive.
const redriveTimeout = 10 * time.Second

// Redrive rebuilds the stream from the change log after JetStream lost data (or was purged):
// it reads the stream's last message (its Guarantor-Seq header), publishes every later entry in
// order, waiting for each ack, then moves the relay's cursor to the end. An empty stream gets
// the whole retained log, so purge-then-redrive yields an ordered, duplicate-free stream.
//
// No relay may publish to the stream meanwhile: Redrive takes the relay's leadership and
// returns ErrNotLeader when a relay holds it (stop the relays first; they resume from the
// cursor Redrive leaves).
//
// Redriven messages carry Nats-Msg-Id "<entry id>~redrive-<run>": JetStream's duplicate
// tracking survives a purge, so the plain entry IDs would be dropped as duplicates for a
// Duplicates window after it. Consumers deduplicate on Guarantor-Seq, never on the message id.
// If Redrive fails half way, running it again continues after the stream's last message.
func Redrive(ctx context.Context, db *sqldb.DB, js jetstream.JetStream, stream string, log *zap.Logger) (published int, err error) {
	return RedriveAfter(ctx, db, js, stream, log, nil)
}

// RedriveAfter is Redrive running prepare (when not nil) first, once it holds the
// stream's leadership: what a redrive must do to the database or the stream (migrate the
// schema, update the stream's configuration) is then never done by one that is refused
// because a relay runs.
func RedriveAfter(ctx context.Context, db *sqldb.DB, js jetstream.JetStream, stream string, log *zap.Logger, prepare func(context.Context) error) (published int, err error) {
	if log == nil {
		log = zap.NewNop()
	}
	log = log.With(zap.String("stream", stream))
	l, ok, err := tryLead(ctx, db, stream, redriveLeaderCheck)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, ErrNotLeader
	}
	defer l.release()
	// A term lost half way (PostgreSQL: the lock's session failed) may already be another
	// relay's: stop publishing at once, as a relay does.
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	defer func() {
		if err != nil && errors.Is(context.Cause(ctx), errLostLeadership) {
			err = errLostLeadership
		}
	}()
	go func() {
		select {
		case <-l.lost:
			stop(errLostLeadership)
		case <-ctx.Done():
		}
	}()
	if prepare != nil {
		if err := prepare(ctx); err != nil {
			return 0, err
		}
	}

	sctx, cancel := context.WithTimeout(ctx, redriveTimeout)
	from, _, err := lastStreamSeq(sctx, js, stream)
	cancel()
	if err != nil {
		return 0, err
	}
	head, _, err := changelog.Head(ctx, db)
	if err != nil {
		return 0, err
	}
	if from > head {
		return 0, fmt.Errorf("%w: stream at seq %d, change log head %d", ErrStreamAhead, from, head)
	}
	log.Info("redrive starting", zap.Int64("after_seq", from), zap.Int64("changelog_head", head))
	// The cursor row may not exist yet (no relay ever ran): republish moves it as it goes.
	if _, err := loadCursor(ctx, db, stream); err != nil {
		return 0, err
	}
	published, pos, err := republish(ctx, db, js, stream, from, math.MaxInt64, redriveWindow, redriveTimeout, log)
	if err != nil {
		return published, err
	}
	// It may lag behind the stream (nothing needed publishing).
	if err := advanceCursor(ctx, db, stream, pos); err != nil {
		return published, err
	}
	log.Info("redrive done", zap.Int("published", published), zap.Int64("last_seq", pos))
	return published, nil
}

// redriveWindow is how many entries Redrive sends before waiting for their acks: within
// the client's default limit of pending asynchronous publishes (4,000), and four times
// the relay's batch, since a redrive has no latency to keep low. With NATS fsyncing
// every write (about 2 ms each, see docs/operations.md) a window is acknowledged well
// within redriveTimeout.
const redriveWindow = 1024

// progressEvery is how often republish logs how far it got: a redrive of a long change
// log waits for an ack per change and runs for minutes.
var progressEvery = 5 * time.Second

// republish publishes, in order, the change log's entries after from and up to to, with
// message ids of their own (see Redrive), moving the cursor as it goes, and logs its
// progress every progressEvery. It returns how many it published and the seq of the last
// one (from when none).
//
// It publishes size entries at a time through publishWindow, as the relay's pass
// does, each window's acks awaited within timeout: a failure leaves the stream a prefix
// of the log, and the cursor moves only past acknowledged entries.
func republish(ctx context.Context, db *sqldb.DB, js jetstream.JetStream, stream string, from, to int64, size int, timeout time.Duration, log *zap.Logger) (published int, pos int64, err error) {
	run := "~redrive-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	pos = from
	start, reported := time.Now(), time.Now()
	for pos < to {
		entries, err := changelog.Since(ctx, db, pos, size)
		if err != nil {
			return published, pos, err
		}
		for len(entries) > 0 && entries[len(entries)-1].Seq > to {
			entries = entries[:len(entries)-1]
		}
		if len(entries) == 0 {
			break
		}
		acked, err := publishWindow(ctx, js, stream, entries, window{suffix: run, timeout: timeout})
		published += acked
		if acked > 0 {
			pos = entries[acked-1].Seq
			if err := advanceCursor(ctx, db, stream, pos); err != nil {
				return published, pos, err
			}
		}
		if err != nil {
			return published, pos, err
		}
		if time.Since(reported) >= progressEvery {
			reported = time.Now()
			head, _, err := changelog.Head(ctx, db)
			if err != nil {
				return published, pos, err
			}
			log.Info("re-publishing", zap.Int("published", published), zap.Int64("at_seq", pos),
				zap.Int64("changelog_head", min(head, to)),
				zap.Float64("per_second", float64(published)/time.Since(start).Seconds()))
		}
	}
	return published, pos, nil
}
