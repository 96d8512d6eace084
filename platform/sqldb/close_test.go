package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
)

// TestInTxAfterCloseWithoutWriter: Close on a SQLite database that never ran a write
// transaction marks the writer as started (writerOnce) without making one, so a later
// InTx dereferences a nil *groupWriter and panics instead of returning errClosed (what
// it returns when a write had run before Close, see TestGroupClose).
func TestInTxAfterCloseWithoutWriter(t *testing.T) {
	db, err := Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "c.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	var got error
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("InTx after Close panicked: %v", p)
			}
		}()
		got = db.InTx(context.Background(), func(*sql.Tx) error { return nil })
	}()
	if !errors.Is(got, errClosed) {
		t.Fatalf("InTx after Close = %v, want errClosed", got)
	}
}
