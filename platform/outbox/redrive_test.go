package outbox_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/guarantor/guarantor/platform/notify"
	"github.com/guarantor/guarantor/platform/outbox"
	"github.com/guarantor/guarantor/platform/sqldb"
	"github.com/guarantor/guarantor/platform/sqldb/sqldbtest"
)

// (d) Redrive rebuilds the stream from the change log after JetStream lost data.
// TestMain makes every re-publishing batch log its progress (a long redrive logs it
// every 5 s), so tests can see it.
func TestMain(m *testing.M) {
	outbox.SetProgressEvery(0)
	outbox.SetRedriveLeaderCheck(20 * time.Millisecond)
	os.Exit(m.Run())
}

func TestRedrive(t *testing.T) {
	sqldbtest.ForEachDialect(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		ns := startNATS(t)
		n := notify.New()
		r := fastRelay(t, db, ns, n)
		js := r.JetStream
		stream := ensureStream(t, js)
		stopRelay := runRelay(t, r)
		appendN(t, db, []*notify.Notifier{n}, 10)
		waitFor(t, "the cursor to reach 10", func() bool { return cursor(t, db) == 10 })

		t.Run("refused while a relay runs", func(t *testing.T) {
			if _, err := outbox.Redrive(ctx, db, js, testStream, zaptest.NewLogger(t)); !errors.Is(err, outbox.ErrNotLeader) {
				t.Fatalf("err = %v, want ErrNotLeader", err)
			}
		})
		stopRelay()

		t.Run("after a purge", func(t *testing.T) {
			if err := stream.Purge(ctx); err != nil {
				t.Fatal(err)
			}
			core, logs := observer.New(zap.InfoLevel)
			got, err := outbox.Redrive(ctx, db, js, testStream, zap.New(core))
			if err != nil || got != 10 {
				t.Fatalf("Redrive = %d, %v; want 10", got, err)
			}
			requireExactlyOnceInOrder(t, js, 10)
			progress := logs.FilterMessage("re-publishing").All()
			if len(progress) == 0 {
				t.Fatal("no progress logged")
			}
			if f := progress[len(progress)-1].ContextMap(); f["published"] != int64(10) || f["at_seq"] != int64(10) || f["changelog_head"] != int64(10) {
				t.Fatalf("last progress line %v, want published 10 at seq 10 of 10", f)
			}
		})
		t.Run("after losing the tail", func(t *testing.T) {
			info, err := stream.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for seq := info.State.LastSeq; seq > info.State.LastSeq-3; seq-- {
				if err := stream.DeleteMsg(ctx, seq); err != nil {
					t.Fatal(err)
				}
			}
			got, err := outbox.Redrive(ctx, db, js, testStream, zaptest.NewLogger(t))
			if err != nil || got != 3 {
				t.Fatalf("Redrive = %d, %v; want 3", got, err)
			}
			requireExactlyOnceInOrder(t, js, 10)
		})
		t.Run("nothing to do on a complete stream", func(t *testing.T) {
			got, err := outbox.Redrive(ctx, db, js, testStream, zaptest.NewLogger(t))
			if err != nil || got != 0 {
				t.Fatalf("Redrive = %d, %v; want 0", got, err)
			}
		})
		t.Run("the relay resumes after it", func(t *testing.T) {
			runRelay(t, fastRelay(t, db, ns, n))
			appendN(t, db, []*notify.Notifier{n}, 5)
			waitFor(t, "the cursor to reach 15", func() bool { return cursor(t, db) == 15 })
			requireExactlyOnceInOrder(t, js, 15)
		})
	})
}

func TestRedriveRefusesStreamAhead(t *testing.T) {
	db := sqldbtest.Open(t, sqldb.SQLite)
	ns := startNATS(t)
	js := ns.jetStream(t)
	ensureStream(t, js)
	msg := nats.NewMsg(testSubject)
	msg.Header.Set(outbox.HeaderSeq, "999")
	if _, err := js.PublishMsg(context.Background(), msg, jetstream.WithMsgID("test-999")); err != nil {
		t.Fatal(err)
	}
	if _, err := outbox.Redrive(context.Background(), db, js, testStream, zaptest.NewLogger(t)); !errors.Is(err, outbox.ErrStreamAhead) {
		t.Fatalf("err = %v, want ErrStreamAhead", err)
	}
}

// TestRedriveStopsAtARefusedChange: when JetStream refuses one change of a window (here:
// larger than the stream accepts), the changes after it in the window are refused too
// (each expects its predecessor as the stream's last message), so the stream is left a
// prefix of the log and the cursor stops before the refused change.
func TestRedriveStopsAtARefusedChange(t *testing.T) {
	db := sqldbtest.Open(t, sqldb.SQLite)
	ns := startNATS(t)
	js := ns.jetStream(t)
	cfg := outbox.StreamConfig(testStream, []string{"test.>"}, 1)
	cfg.MaxMsgSize = 2000
	if _, err := js.CreateStream(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	appendN(t, db, nil, 5)
	appendSized(t, db, 3000) // change 6: too large for the stream
	appendN(t, db, nil, 4)
	n, err := outbox.Redrive(context.Background(), db, js, testStream, zaptest.NewLogger(t))
	if err == nil || n != 5 {
		t.Fatalf("Redrive = %d, %v; want 5 and an error", n, err)
	}
	requireExactlyOnceInOrder(t, js, 5)
	if got := cursor(t, db); got != 5 {
		t.Fatalf("cursor = %d, want 5", got)
	}
}

// hangingJetStream acknowledges no publish: a redrive using it waits for its acks until
// its timeout (10 s) or its end.
type hangingJetStream struct{ jetstream.JetStream }

func (hangingJetStream) PublishMsgAsync(m *nats.Msg, _ ...jetstream.PublishOpt) (jetstream.PubAckFuture, error) {
	return pendingAck{m}, nil
}

type pendingAck struct{ m *nats.Msg }

func (pendingAck) Ok() <-chan *jetstream.PubAck { return nil }
func (pendingAck) Err() <-chan error            { return nil }
func (p pendingAck) Msg() *nats.Msg             { return p.m }

// TestRedriveStopsWhenItLosesTheLeadership: on PostgreSQL a redrive's leadership is a
// lock held by a database session; when that session ends (here: killed), another relay
// may take the lock, and the redrive must stop publishing at once, as a relay does,
// rather than go on interleaving its publishes with the new leader's.
func TestRedriveStopsWhenItLosesTheLeadership(t *testing.T) {
	db := sqldbtest.Open(t, sqldb.Postgres)
	ctx := context.Background()
	ns := startNATS(t)
	js := ns.jetStream(t)
	ensureStream(t, js)
	appendN(t, db, nil, 3)

	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := outbox.Redrive(ctx, db, hangingJetStream{js}, testStream, zaptest.NewLogger(t))
		done <- err
	}()
	var killed int64
	waitFor(t, "the redrive to hold the stream's lock, and its session to be killed", func() bool {
		res, err := db.ExecContext(ctx, `SELECT pg_terminate_backend(l.pid) FROM pg_locks l
			WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`)
		if err != nil {
			t.Fatal(err)
		}
		killed, _ = res.RowsAffected()
		return killed == 1
	})
	select {
	case err := <-done:
		if !errors.Is(err, outbox.ErrLostLeadership) {
			t.Fatalf("Redrive = %v, want ErrLostLeadership", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("Redrive stopped %v after its session was killed, want promptly", d)
		}
	case <-time.After(8 * time.Second):
		t.Fatal("Redrive still publishing 8 s after its leadership's session was killed")
	}
}
