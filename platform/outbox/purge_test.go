package outbox_test

import (
	"context"
	"testing"
	"time"

	"github.com/guarantor/guarantor/platform/notify"
	"github.com/guarantor/guarantor/platform/outbox"
	"github.com/guarantor/guarantor/platform/sqldb"
	"github.com/guarantor/guarantor/platform/sqldb/sqldbtest"
)

// purgedWithTrailingCursor publishes 10 changes, leaves the saved cursor at 3 (the cursor
// is saved at most once a CursorEvery, so a crash leaves it behind the stream, as
// TestRelaySavesItsCursorLazily does by hand), purges the stream while no relay runs
// (TestRelayRestoresALostStream's second case), appends 2 more changes and starts a relay
// reading batch entries per pass.
func purgedWithTrailingCursor(t *testing.T, batch int) (*sqldb.DB, *outbox.Relay) {
	db := sqldbtest.Open(t, sqldb.SQLite)
	ctx := context.Background()
	ns := startNATS(t)
	n := notify.New()
	first := fastRelay(t, db, ns, n)
	stream := ensureStream(t, first.JetStream)
	stop := runRelay(t, first)
	appendN(t, db, []*notify.Notifier{n}, 10)
	waitFor(t, "the cursor to reach 10", func() bool { return cursor(t, db) == 10 })
	stop()

	if _, err := db.ExecContext(ctx, db.Rebind("UPDATE outbox_cursor SET last_seq = 3 WHERE stream = ?"), testStream); err != nil {
		t.Fatal(err)
	}
	if err := stream.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	appendN(t, db, nil, 2)
	second := fastRelay(t, db, ns, n)
	second.Batch = batch
	second.CursorEvery = 10 * time.Millisecond
	runRelay(t, second)
	return db, second
}

// TestPurgeWithTrailingCursorLoses: after such a purge the relay must publish again, under
// fresh ids, every change the stream lost, not only those up to its saved cursor (1..3):
// 4..10 were acknowledged too, and JetStream's duplicates window still remembers their
// plain ids after the purge. It used to send them under those ids, had them acknowledged
// as duplicates and dropped, moved its cursor past them and stored 11 and 12 after 3:
// the stream read 1, 2, 3, 11, 12, and no later check found the gap.
func TestPurgeWithTrailingCursorLoses(t *testing.T) {
	db, r := purgedWithTrailingCursor(t, 7) // the first pass after the restore: 4..10
	waitFor(t, "the cursor to reach 12", func() bool { return cursor(t, db) == 12 })
	time.Sleep(time.Second) // several stream checks (every 200 ms)
	requireExactlyOnceInOrder(t, r.JetStream, 12)
}

// TestPurgeWithTrailingCursorStalls: the same with the default batch. The window 4..12
// used to have 4..10 acknowledged as duplicates and 11 refused (it expected test-10 as
// the last message id, the stream's was test-3~redrive-...); every retry repeated that,
// so the relay published nothing more for the duplicates window (2 hours).
func TestPurgeWithTrailingCursorStalls(t *testing.T) {
	db, r := purgedWithTrailingCursor(t, 0)
	deadline := time.Now().Add(5 * time.Second)
	for cursor(t, db) != 12 {
		if time.Now().After(deadline) {
			t.Fatalf("cursor = %d 5 s after the restart, want 12; stream holds %v", cursor(t, db), streamSeqs(t, r.JetStream))
		}
		time.Sleep(20 * time.Millisecond)
	}
	requireExactlyOnceInOrder(t, r.JetStream, 12)
}
