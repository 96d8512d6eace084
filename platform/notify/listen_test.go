package notify_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/guarantor/guarantor/platform/changelog"
	"github.com/guarantor/guarantor/platform/notify"
	"github.com/guarantor/guarantor/platform/sqldb"
	"github.com/guarantor/guarantor/platform/sqldb/sqldbtest"
)

func waitClosed(tb testing.TB, ch <-chan struct{}, what string) {
	tb.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		tb.Fatalf("timed out waiting for %s", what)
	}
}

func appendChange(tb testing.TB, db *sqldb.DB) int64 {
	tb.Helper()
	var seq int64
	err := db.InTx(context.Background(), func(tx *sql.Tx) error {
		e, err := changelog.Append(context.Background(), tx, db, changelog.Record{
			IDPrefix: "t", ResourceName: "things/1", Collection: "things", Kind: "updated", Subject: "t.updated",
			Encode: func(int64, string, time.Time) ([]byte, error) { return []byte("x"), nil },
		})
		seq = e.Seq
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return seq
}

// Commits on one replica reach the Notifier of another through LISTEN/NOTIFY, and the listener
// survives its connection being killed.
func TestListenPostgres(t *testing.T) {
	db, dsn := sqldbtest.OpenDSN(t, sqldb.Postgres)
	ctx, cancel := context.WithCancel(context.Background())
	if err := sqldb.MigratePlatform(ctx, db); err != nil {
		t.Fatal(err)
	}
	n := notify.New()
	ready := n.Changed() // the listener notifies once LISTEN is in place
	done := make(chan error, 1)
	go func() { done <- notify.ListenPostgres(ctx, dsn, changelog.NotifyChannel, n, zaptest.NewLogger(t)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ListenPostgres returned %v, want nil after cancel", err)
		}
	})
	waitClosed(t, ready, "LISTEN")

	t.Run("a commit is forwarded with its seq", func(t *testing.T) {
		ch := n.Changed()
		seq := appendChange(t, db)
		waitClosed(t, ch, "the NOTIFY")
		deadline := time.Now().Add(5 * time.Second)
		for n.Last() < seq && time.Now().Before(deadline) {
			<-n.Changed()
		}
		if n.Last() != seq {
			t.Fatalf("Last = %d, want %d", n.Last(), seq)
		}
	})
	t.Run("reconnects after its session is killed", func(t *testing.T) {
		reconnected := n.Changed()
		res, err := db.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE datname = current_database() AND query LIKE 'LISTEN%'`)
		if err != nil {
			t.Fatal(err)
		}
		if rows, _ := res.RowsAffected(); rows != 1 {
			t.Fatalf("terminated %d listener sessions, want 1", rows)
		}
		waitClosed(t, reconnected, "the wake-up after reconnecting")
		// Wait until the new session is listening, then check a commit still arrives.
		deadline := time.Now().Add(10 * time.Second)
		for {
			ch := n.Changed()
			seq := appendChange(t, db)
			select {
			case <-ch:
			case <-time.After(200 * time.Millisecond):
			}
			if n.Last() >= seq {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no NOTIFY after reconnecting")
			}
		}
	})
}
