package sqldb_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"

	"github.com/guarantor/guarantor/platform/sqldb"
	"github.com/guarantor/guarantor/platform/sqldb/sqldbtest"
)

// TestCachedStatements runs the cached Exec and QueryRow through the pool and through
// transactions on both dialects: committed writes are seen, rolled-back ones are not, a
// statement prepared before a schema change still works after it, and a bad query
// reports its error instead of being cached.
func TestCachedStatements(t *testing.T) {
	sqldbtest.ForEachDialect(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		if _, err := db.ExecContext(ctx, "CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL)"); err != nil {
			t.Fatal(err)
		}
		const (
			insert = "INSERT INTO kv (k, v) VALUES (?, ?)"
			get    = "SELECT v FROM kv WHERE k = ?"
		)
		value := func(q sqldb.Queryer, k string) (int, error) {
			var v int
			err := db.QueryRowCached(ctx, q, get, k).Scan(&v)
			return v, err
		}
		for i, k := range []string{"a", "b", "c"} {
			err := db.InTx(ctx, func(tx *sql.Tx) error {
				if _, err := db.ExecCached(ctx, tx, insert, k, i); err != nil {
					return err
				}
				// The transaction sees its own write through the same cached statement.
				if v, err := value(tx, k); err != nil || v != i {
					t.Errorf("in tx: %s = %d, %v; want %d", k, v, err, i)
				}
				return nil
			})
			if err != nil {
				t.Fatalf("insert %s: %v", k, err)
			}
		}
		errRollback := errors.New("roll back")
		err := db.InTx(ctx, func(tx *sql.Tx) error {
			if _, err := db.ExecCached(ctx, tx, insert, "d", 9); err != nil {
				return err
			}
			return errRollback
		})
		if !errors.Is(err, errRollback) {
			t.Fatalf("InTx = %v, want the rollback error", err)
		}
		if _, err := value(db, "d"); !errors.Is(err, sql.ErrNoRows) {
			t.Fatalf("rolled-back row: err = %v, want sql.ErrNoRows", err)
		}
		if v, err := value(db, "b"); err != nil || v != 1 {
			t.Fatalf("b = %d, %v; want 1", v, err)
		}
		// A duplicate key is reported as such through a cached statement.
		err = db.InTx(ctx, func(tx *sql.Tx) error {
			_, err := db.ExecCached(ctx, tx, insert, "a", 5)
			return err
		})
		if !sqldb.IsUniqueViolation(err) {
			t.Fatalf("duplicate insert: %v, want a unique violation", err)
		}
		// Statements prepared before a schema change keep working after it.
		if _, err := db.ExecContext(ctx, "ALTER TABLE kv ADD COLUMN note TEXT"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecCached(ctx, db, insert, "e", 4); err != nil {
			t.Fatalf("insert after ALTER: %v", err)
		}
		if v, err := value(db, "e"); err != nil || v != 4 {
			t.Fatalf("e = %d, %v; want 4", v, err)
		}
		// QueryCached reads several rows, from the pool and inside a transaction.
		keys := func(q sqldb.Queryer) []string {
			rows, err := db.QueryCached(ctx, q, "SELECT k FROM kv WHERE v >= ? ORDER BY k", 1)
			if err != nil {
				t.Fatalf("QueryCached: %v", err)
			}
			defer rows.Close()
			var out []string
			for rows.Next() {
				var k string
				if err := rows.Scan(&k); err != nil {
					t.Fatal(err)
				}
				out = append(out, k)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			return out
		}
		if got := strings.Join(keys(db), ","); got != "b,c,e" {
			t.Fatalf("QueryCached from the pool = %s, want b,c,e", got)
		}
		err = db.InTx(ctx, func(tx *sql.Tx) error {
			if _, err := db.ExecCached(ctx, tx, insert, "f", 7); err != nil {
				return err
			}
			if got := strings.Join(keys(tx), ","); got != "b,c,e,f" {
				t.Errorf("QueryCached in the tx = %s, want b,c,e,f", got)
			}
			return errRollback
		})
		if !errors.Is(err, errRollback) {
			t.Fatalf("InTx = %v, want the rollback error", err)
		}
		if _, err := db.QueryCached(ctx, db, "SELECT k FROM missing_table"); err == nil || !strings.Contains(err.Error(), "missing_table") {
			t.Fatalf("bad query: %v, want an error naming missing_table", err)
		}
		// A query that cannot be prepared fails at Scan (and again next time: not cached).
		for range 2 {
			var v int
			err := db.QueryRowCached(ctx, db, "SELECT v FROM missing_table WHERE k = ?", "a").Scan(&v)
			if err == nil || !strings.Contains(err.Error(), "missing_table") {
				t.Fatalf("bad query: %v, want an error naming missing_table", err)
			}
		}
	})
}
