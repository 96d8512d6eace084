// Package watch is the loop behind every service's Watch RPC: replay the change log from a
// position, then follow it live, with no gap between the two and bookmarks while idle.
//
// Each stream reads the database at its own pace, so a slow client slows only itself: there
// is no shared in-memory fan-out buffer to overflow.
package watch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/guarantor/guarantor/platform/changelog"
	"github.com/guarantor/guarantor/platform/notify"
	"github.com/guarantor/guarantor/platform/sqldb"
)

// ErrCompacted is changelog.ErrCompacted: the requested position is older than the retained
// history. Services map it to OUT_OF_RANGE; the client lists again.
var ErrCompacted = changelog.ErrCompacted

// ErrAhead means the requested position is past the end of the log: the client saw
// changes this database does not hold (it was restored from an older backup). Waiting
// for the log to reach it would skip every change up to it. Services map it to
// OUT_OF_RANGE; the client lists again.
var ErrAhead = errors.New("watch: position is ahead of the change log")

// FromNow as Options.From starts the stream at the current head.
const FromNow int64 = -1

// DefaultPoll is the safety-net re-read interval when no bookmark interval is set: a lost
// notification (e.g. while a LISTEN connection reconnects) delays a watcher at most this long.
const DefaultPoll = 5 * time.Second

// Options configure one stream.
type Options struct {
	DB       *sqldb.DB
	Notifier *notify.Notifier // wakes the stream when a change commits; nil means poll only
	// From is the position to resume after: entries with seq > From are sent, so 0 replays the
	// whole (uncompacted) log. FromNow (any negative value) sends only changes committed after
	// the stream started. 0 is deliberately not "now": a List of an empty collection returns
	// version 0, and a Watch from it must not skip a change committed in between.
	From int64
	// BookmarkEvery is how often an idle stream reports its position (0: never). The timer
	// also makes the stream re-read the log, as a safety net behind the Notifier.
	BookmarkEvery time.Duration
	Batch         int                        // entries per read; default changelog.DefaultLimit
	Match         func(changelog.Entry) bool // nil matches everything
}

// Stream sends every change after opts.From that Match accepts, in seq order, then keeps
// following the log until ctx ends (it then returns ctx.Err()) or send/bookmark fail (their
// error is returned). bookmark(seq) reports that every change up to seq has been considered,
// matched or not: a client that resumes from it misses nothing.
//
// It returns ErrCompacted when opts.From is older than the retained history, or when
// compaction overtakes a stream that is still replaying, and ErrAhead when opts.From is
// past the log's head.
func Stream(ctx context.Context, opts Options, send func(changelog.Entry) error, bookmark func(seq int64) error) error {
	if opts.DB == nil {
		return errors.New("watch: Options.DB is nil")
	}
	if opts.Batch <= 0 {
		opts.Batch = changelog.DefaultLimit
	}
	last, oldest, err := changelog.Head(ctx, opts.DB)
	if err != nil {
		return err
	}
	pos := opts.From
	switch {
	case pos < 0:
		pos = last
	case pos < oldest-1:
		return ErrCompacted
	case pos > last:
		return fmt.Errorf("%w: %d, the log ends at %d", ErrAhead, pos, last)
	}

	interval := opts.BookmarkEvery
	if interval <= 0 {
		interval = DefaultPoll
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()

	for {
		// Take the wake-up channel before reading: a commit after the read closes it.
		changed := opts.Notifier.Changed()
		pos, err = drain(ctx, opts, pos, send)
		if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		case <-ticker.C:
			// Catch up first, so the bookmark reports a position that is really current.
			if pos, err = drain(ctx, opts, pos, send); err != nil {
				return err
			}
			if opts.BookmarkEvery > 0 && bookmark != nil {
				if err := bookmark(pos); err != nil {
					return err
				}
			}
		}
	}
}

// drain sends everything after pos and returns the new position.
func drain(ctx context.Context, opts Options, pos int64, send func(changelog.Entry) error) (int64, error) {
	for {
		if err := ctx.Err(); err != nil {
			return pos, err
		}
		entries, err := changelog.Since(ctx, opts.DB, pos, opts.Batch)
		if err != nil {
			return pos, err
		}
		for _, e := range entries {
			// History after oldest_seq-1 is gapless; a hole means Compact removed entries
			// this stream had not read yet.
			if e.Seq != pos+1 {
				return pos, fmt.Errorf("%w: expected seq %d, found %d", ErrCompacted, pos+1, e.Seq)
			}
			if opts.Match == nil || opts.Match(e) {
				if err := send(e); err != nil {
					return pos, err
				}
			}
			pos = e.Seq
		}
		if len(entries) < opts.Batch {
			return pos, nil
		}
	}
}
