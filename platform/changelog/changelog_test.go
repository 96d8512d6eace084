package changelog_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/guarantor/guarantor/platform/changelog"
	"github.com/guarantor/guarantor/platform/sqldb"
	"github.com/guarantor/guarantor/platform/sqldb/sqldbtest"
)

// record returns a Record whose payload echoes what Append assigned, so tests can check that
// Encode saw the stored values.
func record(name, kind string) changelog.Record {
	return changelog.Record{
		IDPrefix:     "test",
		ResourceName: name,
		Collection:   strings.Split(name, "/")[0],
		Kind:         kind,
		Subject:      "guarantor.test.v1." + kind,
		Principal:    "user:alice",
		RequestID:    "req-" + name,
		TraceParent:  "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		Encode: func(seq int64, id string, t time.Time) ([]byte, error) {
			return fmt.Appendf(nil, "%d|%s|%d", seq, id, t.UnixNano()), nil
		},
	}
}

// appendOne appends rec in its own transaction.
func appendOne(tb testing.TB, db *sqldb.DB, rec changelog.Record) changelog.Entry {
	tb.Helper()
	var e changelog.Entry
	err := db.InTx(context.Background(), func(tx *sql.Tx) error {
		var err error
		e, err = changelog.Append(context.Background(), tx, db, rec)
		return err
	})
	if err != nil {
		tb.Fatalf("append %s: %v", rec.ResourceName, err)
	}
	return e
}

func seqs(entries []changelog.Entry) []int64 {
	out := make([]int64, len(entries))
	for i, e := range entries {
		out[i] = e.Seq
	}
	return out
}

func equalSeqs(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestAppendAndRead(t *testing.T) {
	sqldbtest.ForEachDialect(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		if last, oldest, err := changelog.Head(ctx, db); err != nil || last != 0 || oldest != 1 {
			t.Fatalf("empty Head = %d, %d, %v; want 0, 1, nil", last, oldest, err)
		}
		names := []string{"events/a", "events/b", "events/a", "guarantees/x", "events/a"}
		var appended []changelog.Entry
		for i, n := range names {
			e := appendOne(t, db, record(n, "updated"))
			if want := int64(i + 1); e.Seq != want {
				t.Fatalf("seq = %d, want %d", e.Seq, want)
			}
			if want := fmt.Sprintf("test-%d", e.Seq); e.ID != want {
				t.Fatalf("id = %q, want %q", e.ID, want)
			}
			if want := fmt.Sprintf("%d|%s|%d", e.Seq, e.ID, e.Time.UnixNano()); string(e.Payload) != want {
				t.Fatalf("payload = %q, want %q (Encode must see the stored seq, id and time)", e.Payload, want)
			}
			if i > 0 && !e.Time.After(appended[i-1].Time) {
				t.Fatalf("time %v not after previous %v", e.Time, appended[i-1].Time)
			}
			appended = append(appended, e)
		}

		t.Run("Head", func(t *testing.T) {
			last, oldest, err := changelog.Head(ctx, db)
			if err != nil || last != 5 || oldest != 1 {
				t.Fatalf("Head = %d, %d, %v; want 5, 1, nil", last, oldest, err)
			}
		})
		t.Run("stored entry equals returned entry", func(t *testing.T) {
			got, err := changelog.Since(ctx, db, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(appended) {
				t.Fatalf("len = %d, want %d", len(got), len(appended))
			}
			for i := range got {
				g, w := got[i], appended[i]
				if g.Seq != w.Seq || g.ID != w.ID || g.ResourceName != w.ResourceName || g.Collection != w.Collection ||
					g.Kind != w.Kind || g.Subject != w.Subject || string(g.Payload) != string(w.Payload) ||
					g.Principal != w.Principal || g.RequestID != w.RequestID || g.TraceParent != w.TraceParent ||
					!g.Time.Equal(w.Time) {
					t.Fatalf("stored %+v\nreturned %+v", g, w)
				}
			}
		})
		reads := []struct {
			name string
			read func() ([]changelog.Entry, error)
			want []int64
		}{
			{"Since 0", func() ([]changelog.Entry, error) { return changelog.Since(ctx, db, 0, 10) }, []int64{1, 2, 3, 4, 5}},
			{"Since 2", func() ([]changelog.Entry, error) { return changelog.Since(ctx, db, 2, 10) }, []int64{3, 4, 5}},
			{"Since with limit", func() ([]changelog.Entry, error) { return changelog.Since(ctx, db, 1, 2) }, []int64{2, 3}},
			{"Since head", func() ([]changelog.Entry, error) { return changelog.Since(ctx, db, 5, 10) }, []int64{}},
			{"ForResource", func() ([]changelog.Entry, error) { return changelog.ForResource(ctx, db, "events/a", 0, 10) }, []int64{1, 3, 5}},
			{"ForResource after", func() ([]changelog.Entry, error) { return changelog.ForResource(ctx, db, "events/a", 1, 1) }, []int64{3}},
			{"ForResource unknown", func() ([]changelog.Entry, error) { return changelog.ForResource(ctx, db, "events/zzz", 0, 10) }, []int64{}},
		}
		for _, r := range reads {
			t.Run(r.name, func(t *testing.T) {
				got, err := r.read()
				if err != nil {
					t.Fatal(err)
				}
				if !equalSeqs(seqs(got), r.want) {
					t.Fatalf("seqs = %v, want %v", seqs(got), r.want)
				}
			})
		}
	})
}

func TestAppendRollbackLeavesNoGap(t *testing.T) {
	sqldbtest.ForEachDialect(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		appendOne(t, db, record("events/a", "created"))
		boom := errors.New("mutation failed after append")
		err := db.InTx(ctx, func(tx *sql.Tx) error {
			if _, err := changelog.Append(ctx, tx, db, record("events/b", "created")); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v", err)
		}
		if e := appendOne(t, db, record("events/c", "created")); e.Seq != 2 {
			t.Fatalf("seq after rollback = %d, want 2", e.Seq)
		}
	})
}

func TestAppendValidates(t *testing.T) {
	sqldbtest.ForEachDialect(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		encodeErr := errors.New("cannot marshal")
		tests := []struct {
			name   string
			mutate func(*changelog.Record)
			want   string
		}{
			{"no prefix", func(r *changelog.Record) { r.IDPrefix = "" }, "IDPrefix"},
			{"no resource", func(r *changelog.Record) { r.ResourceName = "" }, "ResourceName"},
			{"no collection", func(r *changelog.Record) { r.Collection = "" }, "Collection"},
			{"no kind", func(r *changelog.Record) { r.Kind = "" }, "Kind"},
			{"no subject", func(r *changelog.Record) { r.Subject = "" }, "Subject"},
			{"no encoder", func(r *changelog.Record) { r.Encode = nil }, "Encode"},
			{"outside its collection", func(r *changelog.Record) { r.Collection = "actors" }, "not in collection"},
			{"encoder fails", func(r *changelog.Record) {
				r.Encode = func(int64, string, time.Time) ([]byte, error) { return nil, encodeErr }
			}, "cannot marshal"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				rec := record("events/a", "created")
				tt.mutate(&rec)
				err := db.InTx(ctx, func(tx *sql.Tx) error {
					_, err := changelog.Append(ctx, tx, db, rec)
					return err
				})
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("err = %v, want it to mention %q", err, tt.want)
				}
			})
		}
		if last, _, _ := changelog.Head(ctx, db); last != 0 {
			t.Fatalf("head = %d after failed appends, want 0", last)
		}
	})
}

func TestAsOf(t *testing.T) {
	sqldbtest.ForEachDialect(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		before := time.Now()
		e1 := appendOne(t, db, record("events/a", "created"))
		appendOne(t, db, record("events/b", "created"))
		e3 := appendOne(t, db, record("events/a", "updated"))
		tests := []struct {
			name    string
			at      time.Time
			wantSeq int64 // 0: not found
		}{
			{"before any change", before.Add(-time.Hour), 0},
			{"exactly at first change", e1.Time, 1},
			{"between changes", e3.Time.Add(-time.Nanosecond), 1},
			{"at the update", e3.Time, 3},
			{"long after", e3.Time.Add(time.Hour), 3},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e, found, err := changelog.AsOf(ctx, db, "events/a", tt.at)
				if err != nil {
					t.Fatal(err)
				}
				if found != (tt.wantSeq != 0) || e.Seq != tt.wantSeq {
					t.Fatalf("AsOf = seq %d found %v, want seq %d", e.Seq, found, tt.wantSeq)
				}
			})
		}
	})
}

func TestCompact(t *testing.T) {
	sqldbtest.ForEachDialect(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		// 1 a, 2 b, 3 a, 4 c, 5 a | cut | 6 b, 7 a
		for _, n := range []string{"events/a", "events/b", "events/a", "events/c", "events/a"} {
			appendOne(t, db, record(n, "updated"))
		}
		cutTime := time.Now()
		appendOne(t, db, record("events/b", "updated"))
		appendOne(t, db, record("events/a", "updated"))

		t.Run("nothing older than keepAfter", func(t *testing.T) {
			n, err := changelog.Compact(ctx, db, time.Unix(0, 1))
			if err != nil || n != 0 {
				t.Fatalf("Compact = %d, %v; want 0, nil", n, err)
			}
		})
		t.Run("an outbox cursor holds compaction back", func(t *testing.T) {
			if _, err := db.ExecContext(ctx, "INSERT INTO outbox_cursor (stream, last_seq) VALUES ('S', 2)"); err != nil {
				t.Fatal(err)
			}
			n, err := changelog.Compact(ctx, db, cutTime)
			if err != nil || n != 0 {
				t.Fatalf("Compact = %d, %v; want 0 (nothing superseded up to seq 2)", n, err)
			}
			if _, err := db.ExecContext(ctx, "UPDATE outbox_cursor SET last_seq = 3"); err != nil {
				t.Fatal(err)
			}
			n, err = changelog.Compact(ctx, db, cutTime)
			if err != nil || n != 1 {
				t.Fatalf("Compact = %d, %v; want 1 (seq 1, superseded by 3)", n, err)
			}
			if _, err := db.ExecContext(ctx, "UPDATE outbox_cursor SET last_seq = 7"); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("keeps each resource's latest entry as of the cut", func(t *testing.T) {
			n, err := changelog.Compact(ctx, db, cutTime)
			if err != nil || n != 1 {
				t.Fatalf("Compact = %d, %v; want 1 (seq 3, superseded by 5)", n, err)
			}
			all, err := changelog.Since(ctx, db, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if want := []int64{2, 4, 5, 6, 7}; !equalSeqs(seqs(all), want) {
				t.Fatalf("remaining = %v, want %v", seqs(all), want)
			}
			last, oldest, err := changelog.Head(ctx, db)
			if err != nil || last != 7 || oldest != 4 {
				t.Fatalf("Head = %d, %d, %v; want 7, 4 (history complete from seq 4)", last, oldest, err)
			}
		})
		t.Run("AsOf refuses the compacted past and stays exact after the cut", func(t *testing.T) {
			if _, _, err := changelog.AsOf(ctx, db, "events/a", time.Unix(0, 1)); !errors.Is(err, changelog.ErrCompacted) {
				t.Fatalf("AsOf before the horizon: err = %v, want ErrCompacted", err)
			}
			e, found, err := changelog.AsOf(ctx, db, "events/a", cutTime)
			if err != nil || !found || e.Seq != 5 {
				t.Fatalf("AsOf(cut) = seq %d, %v, %v; want 5", e.Seq, found, err)
			}
			e, found, err = changelog.AsOf(ctx, db, "events/b", cutTime)
			if err != nil || !found || e.Seq != 2 {
				t.Fatalf("AsOf(b, cut) = seq %d, %v, %v; want 2", e.Seq, found, err)
			}
		})
		t.Run("appends continue after compaction", func(t *testing.T) {
			if e := appendOne(t, db, record("events/d", "created")); e.Seq != 8 {
				t.Fatalf("seq = %d, want 8", e.Seq)
			}
		})
	})
}

// TestCompactInBatches checks batched compaction against a model of what must remain: every
// entry after the cut, and each resource's last entry at or before it. The run is
// interrupted after two batches and resumed, and writers append all along.
func TestCompactInBatches(t *testing.T) {
	sqldbtest.ForEachDialect(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		rng := rand.New(rand.NewPCG(1, 2))
		const before, after = 120, 10
		names := make([]string, 0, before+after)
		for range before {
			n := fmt.Sprintf("events/r%d", rng.IntN(15)) // 15 resources: most entries are superseded
			names = append(names, n)
			appendOne(t, db, record(n, "updated"))
		}
		keepAfter := time.Now()
		for range after {
			n := fmt.Sprintf("events/r%d", rng.IntN(15))
			names = append(names, n)
			appendOne(t, db, record(n, "updated"))
		}
		// The model: seq i+1 is names[i].
		lastAtCut := map[string]int64{}
		for i, n := range names[:before] {
			lastAtCut[n] = int64(i + 1)
		}
		var want []int64
		var maxDeleted int64
		for i, n := range names {
			seq := int64(i + 1)
			if seq > before || lastAtCut[n] == seq {
				want = append(want, seq)
			} else {
				maxDeleted = seq
			}
		}

		// Interrupt after two batches of 7.
		interrupted, cancel := context.WithCancel(ctx)
		var batches int
		var lastDone int64
		first, err := changelog.CompactWith(interrupted, db, keepAfter, changelog.CompactOptions{
			Batch: 7,
			Progress: func(p changelog.CompactProgress) {
				if p.Cut != before || p.Done <= lastDone || p.Done > p.Cut {
					t.Errorf("progress %+v after done %d: want done rising to cut %d", p, lastDone, before)
				}
				lastDone = p.Done
				if batches++; batches == 2 {
					cancel()
				}
			},
		})
		if !errors.Is(err, context.Canceled) || batches != 2 || lastDone != 14 {
			t.Fatalf("interrupted run: err %v after %d batches (done %d); want context.Canceled after 2 (done 14)", err, batches, lastDone)
		}

		// Resume while writers append.
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				appendOne(t, db, record(fmt.Sprintf("events/new%d", i), "created"))
			}
		}()
		batches = 0
		rest, err := changelog.CompactWith(ctx, db, keepAfter, changelog.CompactOptions{
			Batch:    7,
			Progress: func(changelog.CompactProgress) { batches++ },
		})
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		if wantBatches := (before - 14 + 6) / 7; batches != wantBatches {
			t.Errorf("resumed run took %d batches, want %d (it carries on from seq 14)", batches, wantBatches)
		}
		if got, wantDeleted := first+rest, int64(len(names)-len(want)); got != wantDeleted {
			t.Errorf("deleted %d + %d = %d entries, want %d", first, rest, got, wantDeleted)
		}
		all, err := changelog.Since(ctx, db, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		got := seqs(all)
		if len(got) != len(want)+20 || !equalSeqs(got[:len(want)], want) {
			t.Fatalf("remaining = %v,\nwant %v and 20 new entries", got, want)
		}
		last, oldest, err := changelog.Head(ctx, db)
		if err != nil || last != before+after+20 || oldest != maxDeleted+1 {
			t.Fatalf("Head = %d, %d, %v; want %d, %d", last, oldest, err, before+after+20, maxDeleted+1)
		}
		for n, seq := range lastAtCut {
			e, found, err := changelog.AsOf(ctx, db, n, keepAfter)
			if err != nil || !found || e.Seq != seq {
				t.Errorf("AsOf(%s, cut) = seq %d, %v, %v; want %d", n, e.Seq, found, err, seq)
			}
		}
		if n, err := changelog.Compact(ctx, db, keepAfter); err != nil || n != 0 {
			t.Errorf("a second run = %d, %v; want 0, nil", n, err)
		}
	})
}

// Concurrent appenders must yield gapless seqs that become visible in seq order: a reader that
// has seen everything up to n must never later find an entry <= n. Each appender keeps its
// transaction open a little after Append, widening the window in which a seq assigned before
// commit (a plain sequence or MAX(seq)+1 without the head lock) would be seen out of order.
func TestConcurrentAppendsCommitInOrder(t *testing.T) {
	sqldbtest.ForEachDialect(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		const writers, each = 6, 25
		const total = writers * each
		readerErr := make(chan error, 1)
		stop := make(chan struct{})
		go func() {
			var pos int64
			for {
				entries, err := changelog.Since(ctx, db, pos, 50)
				if err != nil {
					readerErr <- err
					return
				}
				for _, e := range entries {
					if e.Seq != pos+1 {
						readerErr <- fmt.Errorf("reader at %d saw seq %d: a gap, so an earlier seq was not yet committed", pos, e.Seq)
						return
					}
					pos = e.Seq
				}
				if pos == total {
					readerErr <- nil
					return
				}
				select {
				case <-stop:
					readerErr <- fmt.Errorf("reader stopped at %d of %d", pos, total)
					return
				default:
				}
			}
		}()
		var wg sync.WaitGroup
		errs := make(chan error, total)
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					errs <- db.InTx(ctx, func(tx *sql.Tx) error {
						_, err := changelog.Append(ctx, tx, db, record(fmt.Sprintf("events/w%d-%d", w, i), "created"))
						if err != nil {
							return err
						}
						// More work in the same transaction after the append.
						time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond)
						return nil
					})
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		select {
		case err := <-readerErr:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			close(stop)
			t.Fatal(<-readerErr)
		}
		all, err := changelog.Since(ctx, db, 0, total+10)
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]bool{}
		for i, e := range all {
			if e.Seq != int64(i+1) {
				t.Fatalf("entry %d has seq %d: not gapless", i, e.Seq)
			}
			ids[e.ID] = true
		}
		if len(all) != total || len(ids) != total {
			t.Fatalf("entries = %d, distinct ids = %d, want %d", len(all), len(ids), total)
		}
	})
}

// TestCompactBesideAnotherProcess: `<service> compact` may run while the service writes to
// the same SQLite file through its own connections (another process): each waits for the
// other's short transactions (busy_timeout) instead of failing.
func TestCompactBesideAnotherProcess(t *testing.T) {
	t.Parallel()
	service, dsn := sqldbtest.OpenDSN(t, sqldb.SQLite)
	ctx := context.Background()
	if err := sqldb.MigratePlatform(ctx, service); err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		appendOne(t, service, record(fmt.Sprintf("events/r%d", i%10), "updated"))
	}
	command, err := sqldb.Open(ctx, dsn, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = command.Close() })
	done := make(chan error, 1)
	go func() {
		_, err := changelog.CompactWith(ctx, command, time.Now(), changelog.CompactOptions{Batch: 7})
		done <- err
	}()
	for i := range 300 {
		appendOne(t, service, record(fmt.Sprintf("events/new%d", i), "created"))
	}
	if err := <-done; err != nil {
		t.Fatalf("compaction beside the writer: %v", err)
	}
	all, err := changelog.Since(ctx, service, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 10+300 {
		t.Fatalf("%d entries left, want the 10 resources' last and the 300 new", len(all))
	}
}
