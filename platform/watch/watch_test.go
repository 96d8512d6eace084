package watch_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/guarantor/guarantor/platform/changelog"
	"github.com/guarantor/guarantor/platform/notify"
	"github.com/guarantor/guarantor/platform/sqldb"
	"github.com/guarantor/guarantor/platform/sqldb/sqldbtest"
	"github.com/guarantor/guarantor/platform/watch"
)

// writer appends changes and signals the notifier after each commit, as a service does.
type writer struct {
	db *sqldb.DB
	n  *notify.Notifier
}

func (w writer) append(tb testing.TB, name string) changelog.Entry {
	tb.Helper()
	var e changelog.Entry
	err := w.db.InTx(context.Background(), func(tx *sql.Tx) error {
		var err error
		e, err = changelog.Append(context.Background(), tx, w.db, changelog.Record{
			IDPrefix: "w", ResourceName: name, Collection: "things", Kind: "updated", Subject: "w.updated",
			Encode: func(int64, string, time.Time) ([]byte, error) { return []byte(name), nil },
		})
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	w.n.Notify(e.Seq)
	return e
}

// watcher runs watch.Stream in the background and collects what it delivers.
type watcher struct {
	entries   chan changelog.Entry
	bookmarks chan int64
	done      chan error
	cancel    context.CancelFunc
}

func startWatch(tb testing.TB, opts watch.Options) *watcher {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{
		entries:   make(chan changelog.Entry, 1000),
		bookmarks: make(chan int64, 1000),
		done:      make(chan error, 1),
		cancel:    cancel,
	}
	go func() {
		w.done <- watch.Stream(ctx, opts,
			func(e changelog.Entry) error { w.entries <- e; return nil },
			func(seq int64) error { w.bookmarks <- seq; return nil })
	}()
	tb.Cleanup(w.stop)
	return w
}

func (w *watcher) stop() {
	w.cancel()
	<-w.done
	w.done <- context.Canceled // keep stop idempotent
}

// expect reads exactly the given seqs, in order.
func (w *watcher) expect(tb testing.TB, want ...int64) {
	tb.Helper()
	for _, seq := range want {
		select {
		case e := <-w.entries:
			if e.Seq != seq {
				tb.Fatalf("got seq %d, want %d", e.Seq, seq)
			}
		case err := <-w.done:
			tb.Fatalf("stream ended with %v while waiting for seq %d", err, seq)
		case <-time.After(10 * time.Second):
			tb.Fatalf("timed out waiting for seq %d", seq)
		}
	}
}

// nextBookmark waits for a bookmark >= min.
func (w *watcher) nextBookmark(tb testing.TB, minSeq int64) int64 {
	tb.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case seq := <-w.bookmarks:
			if seq >= minSeq {
				return seq
			}
		case <-deadline:
			tb.Fatalf("no bookmark >= %d", minSeq)
		}
	}
}

func TestReplayThenLive(t *testing.T) {
	sqldbtest.ForEachDialect(t, func(t *testing.T, db *sqldb.DB) {
		w := writer{db, notify.New()}
		for i := range 5 {
			w.append(t, fmt.Sprintf("things/%d", i))
		}
		// from computes the start position from the head at the subtest's start (earlier
		// subtests append live changes); the expected replay is everything after it.
		tests := []struct {
			name string
			from func(head int64) int64
		}{
			{"from a version", func(head int64) int64 { return head - 3 }},
			{"from the head", func(head int64) int64 { return head }},
			{"from the beginning", func(int64) int64 { return 0 }},
			{"from now", func(int64) int64 { return watch.FromNow }},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				head, _, err := changelog.Head(context.Background(), db)
				if err != nil {
					t.Fatal(err)
				}
				from := tt.from(head)
				var replay []int64
				for seq := from + 1; from >= 0 && seq <= head; seq++ {
					replay = append(replay, seq)
				}
				s := startWatch(t, watch.Options{DB: db, Notifier: w.n, From: from, BookmarkEvery: 20 * time.Millisecond, Batch: 2})
				s.expect(t, replay...)
				// The stream has passed its start once it reports a bookmark at the head.
				s.nextBookmark(t, head)
				e := w.append(t, "things/live")
				s.expect(t, e.Seq)
				s.stop()
			})
		}
	})
}

// A client that resumes from the last seq it received misses nothing and receives nothing
// twice, while a writer keeps appending throughout.
func TestResumeMissesNothing(t *testing.T) {
	sqldbtest.ForEachDialect(t, func(t *testing.T, db *sqldb.DB) {
		w := writer{db, notify.New()}
		const total = 120
		var wg sync.WaitGroup
		wg.Go(func() {
			for i := range total {
				w.append(t, fmt.Sprintf("things/%d", i%7))
			}
		})
		var got []int64
		var pos int64
		for session := 0; len(got) < total; session++ {
			if session > 50 {
				t.Fatalf("no progress: %d of %d after %d sessions", len(got), total, session)
			}
			opts := watch.Options{DB: db, Notifier: w.n, From: pos, Batch: 5}
			s := startWatch(t, opts)
			// Take a few entries, then drop the connection.
			for range 17 {
				select {
				case e := <-s.entries:
					if len(got) > 0 && e.Seq != got[len(got)-1]+1 {
						t.Fatalf("after seq %d got %d", got[len(got)-1], e.Seq)
					}
					got = append(got, e.Seq)
					pos = e.Seq
				case <-time.After(10 * time.Second):
					t.Fatalf("stalled at %d", pos)
				}
				if len(got) == total {
					break
				}
			}
			s.stop()
		}
		wg.Wait()
		if len(got) != total || got[0] != 1 || got[total-1] != total {
			t.Fatalf("got %d entries from %d to %d, want 1..%d", len(got), got[0], got[len(got)-1], total)
		}
	})
}

// A filter hides entries but bookmarks still advance past them, so resuming from a bookmark
// does not replay what the filter already skipped.
func TestMatchAndBookmarks(t *testing.T) {
	sqldbtest.ForEachDialect(t, func(t *testing.T, db *sqldb.DB) {
		w := writer{db, notify.New()}
		s := startWatch(t, watch.Options{
			DB: db, Notifier: w.n, From: 0, BookmarkEvery: 20 * time.Millisecond,
			Match: func(e changelog.Entry) bool { return e.ResourceName == "things/keep" },
		})
		w.append(t, "things/skip")
		keep := w.append(t, "things/keep")
		skip := w.append(t, "things/skip")
		s.expect(t, keep.Seq)
		if got := s.nextBookmark(t, skip.Seq); got != skip.Seq {
			t.Fatalf("bookmark = %d, want %d", got, skip.Seq)
		}
		select {
		case e := <-s.entries:
			t.Fatalf("filtered entry %d delivered", e.Seq)
		default:
		}
	})
}

func TestCompacted(t *testing.T) {
	sqldbtest.ForEachDialect(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		w := writer{db, notify.New()}
		for _, n := range []string{"things/a", "things/a", "things/a", "things/b"} {
			w.append(t, n)
		}
		if n, err := changelog.Compact(ctx, db, time.Now()); err != nil || n != 2 {
			t.Fatalf("Compact = %d, %v; want 2 (seqs 1 and 2)", n, err)
		}
		tests := []struct {
			name    string
			from    int64
			wantErr error
			want    []int64
		}{
			{"from the beginning", 0, watch.ErrCompacted, nil},
			{"before the retained history", 1, watch.ErrCompacted, nil},
			{"at oldest-1", 2, nil, []int64{3, 4}},
			{"from now", watch.FromNow, nil, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if tt.wantErr != nil {
					err := watch.Stream(ctx, watch.Options{DB: db, From: tt.from},
						func(changelog.Entry) error { t.Fatal("sent an entry"); return nil }, nil)
					if !errors.Is(err, tt.wantErr) {
						t.Fatalf("err = %v, want %v", err, tt.wantErr)
					}
					return
				}
				s := startWatch(t, watch.Options{DB: db, Notifier: w.n, From: tt.from})
				s.expect(t, tt.want...)
				s.stop()
			})
		}
	})
}

// Compaction overtaking a stream that is still replaying must end the stream with
// ErrCompacted rather than silently skip the deleted entries.
func TestCompactionDuringReplay(t *testing.T) {
	sqldbtest.ForEachDialect(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		w := writer{db, notify.New()}
		for range 6 {
			w.append(t, "things/a")
		}
		first := true
		err := watch.Stream(ctx, watch.Options{DB: db, From: 0, Batch: 2}, func(e changelog.Entry) error {
			if first {
				first = false
				if _, err := changelog.Compact(ctx, db, time.Now()); err != nil {
					return err
				}
			}
			return nil
		}, nil)
		if !errors.Is(err, watch.ErrCompacted) {
			t.Fatalf("err = %v, want ErrCompacted", err)
		}
	})
}

// send errors end the stream with that error (a client gone away).
func TestSendErrorEndsStream(t *testing.T) {
	sqldbtest.ForEachDialect(t, func(t *testing.T, db *sqldb.DB) {
		w := writer{db, notify.New()}
		w.append(t, "things/a")
		gone := errors.New("client gone")
		err := watch.Stream(context.Background(), watch.Options{DB: db, From: 0},
			func(changelog.Entry) error { return gone }, nil)
		if !errors.Is(err, gone) {
			t.Fatalf("err = %v, want %v", err, gone)
		}
	})
}
