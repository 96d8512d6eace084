package watch_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/guarantor/guarantor/platform/changelog"
	"github.com/guarantor/guarantor/platform/notify"
	"github.com/guarantor/guarantor/platform/sqldb"
	"github.com/guarantor/guarantor/platform/sqldb/sqldbtest"
	"github.com/guarantor/guarantor/platform/watch"
)

// TestFromBeyondTheHead: a version the log has not reached (a client resuming against a
// database restored from a backup older than what it saw) is refused at once with
// ErrAhead. Accepted, the stream waited silently until the log passed it, and every
// change up to it (3 to 5 here) was skipped. The head itself is a valid position.
func TestFromBeyondTheHead(t *testing.T) {
	db := sqldbtest.Open(t, sqldb.SQLite)
	w := writer{db, notify.New()}
	w.append(t, "things/a")
	w.append(t, "things/b") // head: 2
	nothing := func(changelog.Entry) error { return nil }
	bookmark := func(int64) error { return nil }

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := watch.Stream(ctx, watch.Options{DB: db, Notifier: w.n, From: 5}, nothing, bookmark)
	if !errors.Is(err, watch.ErrAhead) {
		t.Fatalf("Stream from 5 with the log at 2 = %v, want ErrAhead", err)
	}

	short, stop := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer stop()
	if err := watch.Stream(short, watch.Options{DB: db, Notifier: w.n, From: 2}, nothing, bookmark); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stream from the head = %v, want it to follow the log until its context ends", err)
	}
}
