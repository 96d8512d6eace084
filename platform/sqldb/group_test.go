package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func openGroupTestDB(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "g.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := db.ExecContext(context.Background(), "CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	return db
}

// holdWriter occupies the writer with a transaction until the returned function is
// called, so that what is queued meanwhile runs as one group.
func holdWriter(t *testing.T, db *DB) (release func()) {
	t.Helper()
	started, hold := make(chan struct{}), make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- db.InTx(context.Background(), func(tx *sql.Tx) error {
			close(started)
			<-hold
			_, err := tx.Exec("INSERT INTO kv (k, v) VALUES ('holder', 0)")
			return err
		})
	}()
	<-started
	return func() {
		close(hold)
		if err := <-errc; err != nil {
			t.Errorf("holder: %v", err)
		}
	}
}

func queued(db *DB) int {
	db.writer.mu.Lock()
	defer db.writer.mu.Unlock()
	return len(db.writer.queue)
}

func waitQueued(t *testing.T, db *DB, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for queued(db) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d transactions queued, want %d", queued(db), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func keys(t *testing.T, db *DB) map[string]int {
	t.Helper()
	rows, err := db.Query("SELECT k, v FROM kv")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]int{}
	for rows.Next() {
		var k string
		var v int
		if err := rows.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		got[k] = v
	}
	return got
}

// TestGroupCommit: transactions queued together commit together, each failing member
// leaves no trace, a panicking member panics in its own caller, and a duplicate key
// written by an earlier member is committed by the time the later one hears of it.
func TestGroupCommit(t *testing.T) {
	db := openGroupTestDB(t)
	release := holdWriter(t, db)

	const n = 40
	errFail := errors.New("member fails")
	type outcome struct {
		err      error
		panicked any
		visible  bool // for the duplicate: the winner's row is visible when the loser returns
	}
	results := make([]outcome, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { results[i].panicked = recover() }()
			key := fmt.Sprintf("k%02d", i)
			if i == n-1 {
				key = "k00" // duplicates member 0's key
			}
			results[i].err = db.InTx(context.Background(), func(tx *sql.Tx) error {
				if _, err := tx.Exec("INSERT INTO kv (k, v) VALUES (?, ?)", key, i); err != nil {
					return err
				}
				switch i % 10 {
				case 3:
					return errFail // after writing: the write must vanish
				case 7:
					panic("member panics")
				}
				return nil
			})
			if i == n-1 {
				var v int
				results[i].visible = db.QueryRow("SELECT v FROM kv WHERE k = 'k00'").Scan(&v) == nil
			}
		}()
		// Queue them in order, so that member 0 writes k00 before the duplicate.
		waitQueued(t, db, i+1)
	}
	release()
	wg.Wait()

	got := keys(t, db)
	for i := range n - 1 {
		key := fmt.Sprintf("k%02d", i)
		_, present := got[key]
		r := results[i]
		switch i % 10 {
		case 3:
			if !errors.Is(r.err, errFail) || present {
				t.Errorf("member %d: err %v, row present %v; want its error and no row", i, r.err, present)
			}
		case 7:
			if r.panicked != "member panics" || present {
				t.Errorf("member %d: panic %v, row present %v; want the panic and no row", i, r.panicked, present)
			}
		default:
			if r.err != nil || r.panicked != nil || !present {
				t.Errorf("member %d: err %v, panic %v, row present %v; want committed", i, r.err, r.panicked, present)
			}
		}
	}
	last := results[n-1]
	if !IsUniqueViolation(last.err) || !last.visible || got["k00"] != 0 {
		t.Errorf("duplicate: err %v, winner visible %v, k00 = %d; want a unique violation after member 0's row committed", last.err, last.visible, got["k00"])
	}
	if g, m := db.writer.groups.Load(), db.writer.members.Load(); g == 0 || m < 2*g {
		t.Errorf("%d shared commits for %d transactions: nothing was grouped", g, m)
	}
}

// TestGroupAbortRetries: when the shared transaction is lost (here a member ends it
// outright, as an interrupted statement makes SQLite do), nothing of it commits and the
// members that had succeeded run again.
func TestGroupAbortRetries(t *testing.T) {
	db := openGroupTestDB(t)
	release := holdWriter(t, db)
	const n = 6
	errs := make([]error, n)
	var runs [n]int
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.InTx(context.Background(), func(tx *sql.Tx) error {
				runs[i]++
				if _, err := tx.Exec("INSERT INTO kv (k, v) VALUES (?, ?)", fmt.Sprint(i), i); err != nil {
					return err
				}
				if i == 2 && runs[i] == 1 {
					if _, err := tx.Exec("ROLLBACK"); err != nil {
						return err
					}
					return errors.New("statement interrupted")
				}
				return nil
			})
		}()
		waitQueued(t, db, i+1)
	}
	release()
	wg.Wait()
	got := keys(t, db)
	for i := range n {
		_, present := got[fmt.Sprint(i)]
		switch {
		case i == 2:
			if errs[i] == nil || present {
				t.Errorf("member 2: err %v, present %v; want its error and no row", errs[i], present)
			}
		case errs[i] != nil || !present:
			t.Errorf("member %d: err %v, present %v; want committed on retry", i, errs[i], present)
		}
	}
	if runs[0] < 2 {
		t.Errorf("member 0 ran %d times; the aborted group should have made it run again", runs[0])
	}
}

// TestGroupBeforeCommit: BeforeCommit functions run after every member's function, in
// member order, outside the savepoints, and only for members that succeeded; one that
// fails rolls the whole group back: its member gets its error, the others commit on
// their retry.
func TestGroupBeforeCommit(t *testing.T) {
	db := openGroupTestDB(t)
	var mu sync.Mutex
	var log []string
	note := func(s string) {
		mu.Lock()
		log = append(log, s)
		mu.Unlock()
	}
	// Member "b" fails in its function; "d" fails in its BeforeCommit the first time.
	members := []string{"a", "b", "c", "d"}
	var dRuns int
	errs := make([]error, len(members))
	release := holdWriter(t, db)
	var wg sync.WaitGroup
	for i, m := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.InTx(context.Background(), func(tx *sql.Tx) error {
				note("fn " + m)
				if _, err := tx.Exec("INSERT INTO kv (k, v) VALUES (?, 0)", m); err != nil {
					return err
				}
				db.BeforeCommit(tx, func(tx *sql.Tx) error {
					note("before " + m)
					if m == "d" {
						dRuns++
						if dRuns == 1 {
							return errors.New("index full")
						}
					}
					_, err := tx.Exec("INSERT INTO kv (k, v) VALUES (?, 1)", m+"-before")
					return err
				})
				if m == "b" {
					return errors.New("refused")
				}
				return nil
			})
		}()
		waitQueued(t, db, i+1)
	}
	release()
	wg.Wait()
	mu.Lock()
	first := append([]string(nil), log[:7]...)
	mu.Unlock()
	if want := []string{"fn a", "fn b", "fn c", "fn d", "before a", "before c", "before d"}; fmt.Sprint(first) != fmt.Sprint(want) {
		t.Fatalf("first group ran %v, want %v", first, want)
	}
	if errs[0] != nil || errs[2] != nil {
		t.Errorf("members a and c: %v, %v; want committed on their retry", errs[0], errs[2])
	}
	if errs[1] == nil || errs[3] == nil || errs[3].Error() != "index full" {
		t.Errorf("members b and d: %v, %v; want their own errors", errs[1], errs[3])
	}
	got := keys(t, db)
	for _, k := range []string{"a", "a-before", "c", "c-before"} {
		if _, ok := got[k]; !ok {
			t.Errorf("%s missing from %v", k, got)
		}
	}
	for _, k := range []string{"b", "b-before", "d", "d-before"} {
		if _, ok := got[k]; ok {
			t.Errorf("%s committed: %v", k, got)
		}
	}
}

// TestGroupQueuedCancel: a caller whose context ends while its transaction is queued
// gets the context's error, and its function never runs.
func TestGroupQueuedCancel(t *testing.T) {
	db := openGroupTestDB(t)
	release := holdWriter(t, db)
	ctx, cancel := context.WithCancel(context.Background())
	ran := false
	errc := make(chan error, 1)
	go func() {
		errc <- db.InTx(ctx, func(tx *sql.Tx) error {
			ran = true
			return nil
		})
	}()
	waitQueued(t, db, 1)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("InTx = %v, want context.Canceled", err)
	}
	release()
	// A later transaction still runs (and the writer has passed the abandoned one).
	if err := db.InTx(context.Background(), func(*sql.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if ran {
		t.Fatal("the abandoned transaction ran")
	}
}

// TestGroupClose: Close lets what is queued commit and refuses later calls.
func TestGroupClose(t *testing.T) {
	db := openGroupTestDB(t)
	release := holdWriter(t, db)
	errc := make(chan error, 1)
	go func() { errc <- db.InTx(context.Background(), func(*sql.Tx) error { return nil }) }()
	waitQueued(t, db, 1)
	closed := make(chan struct{})
	go func() { _ = db.Close(); close(closed) }()
	release()
	<-closed
	if err := <-errc; err != nil {
		t.Fatalf("queued InTx = %v, want it committed", err)
	}
	if err := db.InTx(context.Background(), func(*sql.Tx) error { return nil }); !errors.Is(err, errClosed) {
		t.Fatalf("InTx after Close = %v, want errClosed", err)
	}
}
