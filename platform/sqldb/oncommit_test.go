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
		if len(seen) < 2 || len(seen) > 21 || seen[len(seen)-1] != 21 || !slices.IsSorted(seen) {
			t.Fatalf("after 21 commits (some shared) the hook saw %v, want a rising count ending at 21", seen)
		}
	})
}
