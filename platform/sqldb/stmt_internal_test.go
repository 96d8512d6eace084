package sqldb

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
)

// TestStatementCacheReuse shows that repeated fixed queries, through the pool and through
// transactions, are prepared once on SQLite.
func TestStatementCacheReuse(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "c.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE TABLE n (v INTEGER)"); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		err := db.InTx(ctx, func(tx *sql.Tx) error {
			_, err := db.ExecCached(ctx, tx, "INSERT INTO n (v) VALUES (?)", i)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.QueryRowCached(ctx, db, "SELECT COUNT(*) FROM n").Scan(&n); err != nil || n != i+1 {
			t.Fatalf("count = %d, %v; want %d", n, err, i+1)
		}
	}
	db.stmts.mu.Lock()
	got := len(db.stmts.stmts)
	db.stmts.mu.Unlock()
	if got != 2 {
		t.Fatalf("%d statements cached, want 2 (one per query text)", got)
	}
}
