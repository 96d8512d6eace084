package sqldb_test

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/guarantor/guarantor/platform/sqldb"
	"github.com/guarantor/guarantor/platform/sqldb/sqldbtest"
)

// TestOnCommit: the hook runs after every commit, alone or shared, and sees what was
// committed; a rolled-back transaction does not run it.
func TestOnCommit(t *testing.T) {
	sqldbtest.ForEachDialect(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		if _, err := db.ExecContext(ctx, "CREATE TABLE c (n INTEGER NOT NULL)"); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var seen []int
		db.OnCommit(func() {
			var n int
			if err := db.QueryRowContext(ctx, "SELECT count(*) FROM c").Scan(&n); err != nil {
				t.Error(err)
			}
			mu.Lock()
			seen = append(seen, n)
			mu.Unlock()
		})
		insert := func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, db.Rebind("INSERT INTO c (n) VALUES (?)"), 1)
			return err
		}
		if err := db.InTx(ctx, insert); err != nil {
			t.Fatal(err)
		}
		errNo := errors.New("no")
		if err := db.InTx(ctx, func(tx *sql.Tx) error { _ = insert(tx); return errNo }); !errors.Is(err, errNo) {
			t.Fatalf("InTx = %v", err)
		}
		mu.Lock()
		if !slices.Equal(seen, []int{1}) {
			t.Fatalf("after one commit and one rollback the hook saw %v, want [1]", seen)
		}
		mu.Unlock()
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				if err := db.InTx(ctx, insert); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		db.OnCommit(nil)
		mu.Lock()
		defer mu.Unlock()
		if len(seen) < 2 || len(seen) > 21 || slices.Max(seen) != 21 {
			t.Fatalf("after 21 commits the hook saw %v, want at most one count per commit, up to 21", seen)
		}
		// SQLite commits one transaction (or group) at a time: each sees the one before.
		if db.Dialect == sqldb.SQLite && !slices.IsSorted(seen) {
			t.Fatalf("the hook saw %v, want a rising count", seen)
		}
	})
}

// TestAfterCommit: functions registered in a transaction run once it has committed, and
// see what it wrote; a transaction that rolls back (alone, or as one member of a shared
// SQLite commit) runs none of its own.
func TestAfterCommit(t *testing.T) {
	sqldbtest.ForEachDialect(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		if _, err := db.ExecContext(ctx, "CREATE TABLE a (n INTEGER NOT NULL)"); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		ran := map[int]bool{}
		write := func(n int, fail bool) error {
			return db.InTx(ctx, func(tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx, db.Rebind("INSERT INTO a (n) VALUES (?)"), n); err != nil {
					return err
				}
				db.AfterCommit(tx, func() {
					var found int
					if err := db.QueryRowContext(ctx, db.Rebind("SELECT count(*) FROM a WHERE n = ?"), n).Scan(&found); err != nil || found != 1 {
						t.Errorf("after commit of %d: found %d rows, %v", n, found, err)
					}
					mu.Lock()
					ran[n] = true
					mu.Unlock()
				})
				if fail {
					return errors.New("roll back")
				}
				return nil
			})
		}
		var wg sync.WaitGroup
		for n := range 30 {
			wg.Go(func() {
				err := write(n, n%3 == 0)
				if (err != nil) != (n%3 == 0) {
					t.Errorf("write %d: %v", n, err)
				}
			})
		}
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for n := range 30 {
			if ran[n] != (n%3 != 0) {
				t.Errorf("after-commit of %d ran: %v, want %v", n, ran[n], n%3 != 0)
			}
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback() }()
		defer func() {
			if recover() == nil {
				t.Error("AfterCommit outside InTx did not panic")
			}
		}()
		db.AfterCommit(tx, func() {})
	})
}

// TestBeforeCommit: a function registered with BeforeCommit runs in the transaction once
// the caller's function succeeded, and its writes commit with the rest; it does not run
// when the function fails, and when it fails nothing of the transaction commits.
func TestBeforeCommit(t *testing.T) {
	sqldbtest.ForEachDialect(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		if _, err := db.ExecContext(ctx, "CREATE TABLE b (k TEXT NOT NULL)"); err != nil {
			t.Fatal(err)
		}
		insert := func(tx *sql.Tx, k string) error {
			_, err := tx.ExecContext(ctx, db.Rebind("INSERT INTO b (k) VALUES (?)"), k)
			return err
		}
		run := func(k string, fnErr, beforeErr error) error {
			return db.InTx(ctx, func(tx *sql.Tx) error {
				if err := insert(tx, k); err != nil {
					return err
				}
				db.BeforeCommit(tx, func(tx *sql.Tx) error {
					if beforeErr != nil {
						return beforeErr
					}
					return insert(tx, k+"-before")
				})
				return fnErr
			})
		}
		failed := errors.New("failed")
		if err := run("ok", nil, nil); err != nil {
			t.Fatal(err)
		}
		if err := run("fn-fails", failed, nil); !errors.Is(err, failed) {
			t.Fatalf("err = %v, want the function's", err)
		}
		if err := run("before-fails", nil, failed); !errors.Is(err, failed) {
			t.Fatalf("err = %v, want BeforeCommit's", err)
		}
		rows, err := db.QueryContext(ctx, "SELECT k FROM b ORDER BY k")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []string
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				t.Fatal(err)
			}
			got = append(got, k)
		}
		if want := []string{"ok", "ok-before"}; !slices.Equal(got, want) {
			t.Fatalf("committed %v, want %v", got, want)
		}
	})
}
