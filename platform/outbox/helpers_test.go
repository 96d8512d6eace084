package outbox_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/guarantor/guarantor/platform/changelog"
	"github.com/guarantor/guarantor/platform/notify"
	"github.com/guarantor/guarantor/platform/outbox"
	"github.com/guarantor/guarantor/platform/sqldb"
)

const (
	testStream  = "CHANGES_TEST"
	testSubject = "test.things.updated"
)

// natsServer is an embedded JetStream server that a test can stop and restart on the same
// port and store directory.
type natsServer struct {
	tb       testing.TB
	storeDir string
	port     int
	srv      *server.Server
	// syncAlways fsyncs every write, as production's `sync_interval: always`.
	syncAlways bool
}

func startNATS(tb testing.TB) *natsServer {
	tb.Helper()
	n := &natsServer{tb: tb, storeDir: tb.TempDir(), port: server.RANDOM_PORT}
	n.start()
	n.port = n.srv.Addr().(*net.TCPAddr).Port
	tb.Cleanup(n.stop)
	return n
}

func (n *natsServer) start() {
	n.tb.Helper()
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: n.port, JetStream: true, StoreDir: n.storeDir, NoLog: true, NoSigs: true,
		SyncAlways: n.syncAlways,
	})
	if err != nil {
		n.tb.Fatalf("nats server: %v", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		n.tb.Fatal("nats server not ready")
	}
	n.srv = srv
}

func (n *natsServer) stop() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
		n.srv = nil
	}
}

func (n *natsServer) url() string { return "nats://127.0.0.1:" + strconv.Itoa(n.port) }

// jetStream connects a client that keeps reconnecting, as a service's would.
func (n *natsServer) jetStream(tb testing.TB) jetstream.JetStream {
	tb.Helper()
	nc, err := nats.Connect(n.url(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	if err != nil {
		tb.Fatalf("nats connect: %v", err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	return js
}

func ensureStream(tb testing.TB, js jetstream.JetStream) jetstream.Stream {
	tb.Helper()
	s, err := outbox.EnsureStream(context.Background(), js, outbox.StreamConfig(testStream, []string{"test.>"}, 1))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// streamSeqs returns the Guarantor-Seq of every message in the stream, in stream order.
func streamSeqs(tb testing.TB, js jetstream.JetStream) []int64 {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, testStream)
	if err != nil {
		tb.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	var out []int64
	if info.State.Msgs == 0 {
		return out
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		msg, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // deleted
		}
		if err != nil {
			tb.Fatal(err)
		}
		v, err := strconv.ParseInt(msg.Header.Get(outbox.HeaderSeq), 10, 64)
		if err != nil {
			tb.Fatalf("stream message %d: %s header: %v", seq, outbox.HeaderSeq, err)
		}
		out = append(out, v)
	}
	if uint64(len(out)) != info.State.Msgs {
		tb.Fatalf("read %d messages, stream reports %d", len(out), info.State.Msgs)
	}
	return out
}

// requireExactlyOnceInOrder checks the stream holds seqs 1..n, each once, in order.
func requireExactlyOnceInOrder(tb testing.TB, js jetstream.JetStream, n int) {
	tb.Helper()
	got := streamSeqs(tb, js)
	if len(got) != n {
		tb.Fatalf("stream holds %d messages, want %d: %v", len(got), n, got)
	}
	for i, seq := range got {
		if seq != int64(i+1) {
			tb.Fatalf("stream message %d has seq %d, want %d (duplicate or out of order): %v", i, seq, i+1, got)
		}
	}
}

// waitFor polls cond until it holds.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// appendN appends n changes on db and notifies each commit, as a service does.
func appendN(tb testing.TB, db *sqldb.DB, notifiers []*notify.Notifier, n int) {
	tb.Helper()
	ctx := context.Background()
	for range n {
		var e changelog.Entry
		err := db.InTx(ctx, func(tx *sql.Tx) error {
			var err error
			e, err = changelog.Append(ctx, tx, db, changelog.Record{
				IDPrefix: "test", ResourceName: "things/1", Collection: "things", Kind: "updated",
				Subject: testSubject, TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
				Encode: func(seq int64, id string, _ time.Time) ([]byte, error) {
					return fmt.Appendf(nil, "%s", id), nil
				},
			})
			return err
		})
		if err != nil {
			tb.Fatal(err)
		}
		for _, n := range notifiers {
			n.Notify(e.Seq)
		}
	}
}

// appendSized appends one change whose payload is size bytes.
func appendSized(tb testing.TB, db *sqldb.DB, size int) {
	tb.Helper()
	ctx := context.Background()
	err := db.InTx(ctx, func(tx *sql.Tx) error {
		_, err := changelog.Append(ctx, tx, db, changelog.Record{
			IDPrefix: "test", ResourceName: "things/1", Collection: "things", Kind: "updated", Subject: testSubject,
			Encode: func(int64, string, time.Time) ([]byte, error) { return make([]byte, size), nil },
		})
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
}

func cursor(tb testing.TB, db *sqldb.DB) int64 {
	tb.Helper()
	var seq int64
	err := db.QueryRowContext(context.Background(), db.Rebind("SELECT last_seq FROM outbox_cursor WHERE stream = ?"), testStream).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0
	}
	if err != nil {
		tb.Fatal(err)
	}
	return seq
}

// runRelay starts r in the background; the returned stop cancels it and waits for Run to end.
func runRelay(tb testing.TB, r *outbox.Relay) (stop func()) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Relay.Run: %v", err)
		}
	}
	tb.Cleanup(stop)
	return stop
}
