package outbox_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap/zaptest"

	"github.com/guarantor/guarantor/platform/changelog"
	"github.com/guarantor/guarantor/platform/notify"
	"github.com/guarantor/guarantor/platform/outbox"
	"github.com/guarantor/guarantor/platform/sqldb"
	"github.com/guarantor/guarantor/platform/sqldb/sqldbtest"
)

// fastRelay returns a relay tuned for tests: short backoffs and checks.
func fastRelay(tb testing.TB, db *sqldb.DB, ns *natsServer, n *notify.Notifier) *outbox.Relay {
	tb.Helper()
	return &outbox.Relay{
		DB: db, JetStream: ns.jetStream(tb), Stream: testStream, Notifier: n, Log: zaptest.NewLogger(tb),
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Fallback: 500 * time.Millisecond,
		PublishTimeout: 500 * time.Millisecond, LeaderRetry: 50 * time.Millisecond, LeaderCheck: 100 * time.Millisecond,
		StreamCheck: 200 * time.Millisecond,
	}
}

func TestStreamConfig(t *testing.T) {
	t.Parallel()
	cfg := outbox.StreamConfig("S", []string{"a.>"}, 0)
	if cfg.Name != "S" || cfg.Replicas != 1 || cfg.Duplicates != outbox.DuplicatesWindow || cfg.Storage.String() != "File" {
		t.Fatalf("unexpected config %+v", cfg)
	}
}

func TestRelayRejectsIncompleteConfig(t *testing.T) {
	t.Parallel()
	if err := (&outbox.Relay{}).Run(context.Background()); err == nil {
		t.Fatal("Run accepted a Relay without DB, JetStream and Stream")
	}
}

// (a) NATS goes away while writes continue and comes back on the same port and store: every
// change reaches the stream exactly once, in order.
func TestRelaySurvivesNATSOutage(t *testing.T) {
	sqldbtest.ForEachDialect(t, func(t *testing.T, db *sqldb.DB) {
		ns := startNATS(t)
		n := notify.New()
		r := fastRelay(t, db, ns, n)
		reg := prometheus.NewRegistry()
		r.Metrics = outbox.NewMetrics(reg)
		ensureStream(t, r.JetStream)
		runRelay(t, r)

		appendN(t, db, []*notify.Notifier{n}, 20)
		waitFor(t, "20 messages", func() bool { return len(streamSeqs(t, r.JetStream)) == 20 })

		ns.stop()
		appendN(t, db, []*notify.Notifier{n}, 30)
		// Let the relay fail against the missing server before it comes back.
		waitFor(t, "a failed relay pass", func() bool { return metricValue(t, reg, "guarantor_outbox_errors_total") >= 2 })
		// What an operator's alert reads while nothing can be published.
		waitFor(t, "the lag metric to count the 30 waiting", func() bool { return metricValue(t, reg, "guarantor_outbox_lag_entries") == 30 })
		ns.start()
		appendN(t, db, []*notify.Notifier{n}, 10)

		waitFor(t, "the cursor to reach 60", func() bool { return cursor(t, db) == 60 })
		requireExactlyOnceInOrder(t, r.JetStream, 60)
		// The metric counts acknowledged publishes. An entry the client library sent
		// after reconnecting, once the relay had stopped waiting for its ack, is not
		// counted: the relay found it in the stream and moved past it instead of publishing
		// it again. The 30 written while NATS was up are counted.
		published := metricValue(t, reg, "guarantor_outbox_published_total")
		if published < 30 || published > 60 {
			t.Fatalf("published metric = %v, want 30 to 60", published)
		}
		if got := metricValue(t, reg, "guarantor_outbox_publish_seconds"); got != published {
			t.Fatalf("publish latency observations = %v, want %v", got, published)
		}
		if got := metricValue(t, reg, "guarantor_outbox_lag_entries"); got != 0 {
			t.Fatalf("lag metric = %v, want 0", got)
		}
	})
}

// (b) A crash between the publish and the cursor update (the failpoint), then a new relay: no
// loss, no duplicate.
func TestRelayCrashBetweenPublishAndCursor(t *testing.T) {
	sqldbtest.ForEachDialect(t, func(t *testing.T, db *sqldb.DB) {
		ns := startNATS(t)
		n := notify.New()
		appendN(t, db, []*notify.Notifier{n}, 10)

		crashed := make(chan struct{})
		var once sync.Once
		first := fastRelay(t, db, ns, n)
		ensureStream(t, first.JetStream)
		first.AfterPublish = func(e changelog.Entry) error {
			if e.Seq == 5 {
				once.Do(func() { close(crashed) })
				return errors.New("injected crash after publishing seq 5")
			}
			return nil
		}
		stopFirst := runRelay(t, first)
		<-crashed
		stopFirst() // the process is gone before it could save the cursor
		if c := cursor(t, db); c != 0 {
			t.Fatalf("cursor = %d after the crash, want 0", c)
		}
		// The batch went out as one window before the acks were read: the stream holds all
		// ten, and the cursor none of them.
		requireExactlyOnceInOrder(t, first.JetStream, 10)

		second := fastRelay(t, db, ns, n)
		runRelay(t, second)
		appendN(t, db, []*notify.Notifier{n}, 5)
		waitFor(t, "the cursor to reach 15", func() bool { return cursor(t, db) == 15 })
		requireExactlyOnceInOrder(t, second.JetStream, 15)
	})
}

// A change the stream refuses in the middle of a window holds back every later one, so
// the stream never holds a change before an earlier one; once the stream accepts it, the
// relay goes on in order.
func TestRelayKeepsOrderWhenAChangeIsRefused(t *testing.T) {
	db := sqldbtest.Open(t, sqldb.SQLite)
	ns := startNATS(t)
	n := notify.New()
	r := fastRelay(t, db, ns, n)
	st := ensureStream(t, r.JetStream)
	// Change 4 is too big for the stream as configured: JetStream refuses it.
	cfg := st.CachedInfo().Config
	cfg.MaxMsgSize = 512
	if _, err := r.JetStream.UpdateStream(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	appendN(t, db, nil, 3)
	appendSized(t, db, 4096)
	appendN(t, db, nil, 6)
	reg := prometheus.NewRegistry()
	r.Metrics = outbox.NewMetrics(reg)
	runRelay(t, r)
	n.Notify(10)
	waitFor(t, "the relay to fail on change 4", func() bool { return metricValue(t, reg, "guarantor_outbox_errors_total") >= 2 })
	requireExactlyOnceInOrder(t, r.JetStream, 3)
	if c := cursor(t, db); c > 3 {
		t.Fatalf("cursor = %d past the refused change", c)
	}

	cfg.MaxMsgSize = -1
	if _, err := r.JetStream.UpdateStream(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the cursor to reach 10", func() bool { return cursor(t, db) == 10 })
	requireExactlyOnceInOrder(t, r.JetStream, 10)
}

// (c) Two replicas' relays against one PostgreSQL database while writers append on both, and
// the leader's lock session is killed half way: each change once, in order.
func TestTwoRelaysOnePostgres(t *testing.T) {
	db1, dsn := sqldbtest.OpenDSN(t, sqldb.Postgres)
	ctx := context.Background()
	if err := sqldb.MigratePlatform(ctx, db1); err != nil {
		t.Fatal(err)
	}
	db2, err := sqldb.Open(ctx, dsn, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db2.Close() })

	ns := startNATS(t)
	n1, n2 := notify.New(), notify.New()
	both := []*notify.Notifier{n1, n2}
	r1, r2 := fastRelay(t, db1, ns, n1), fastRelay(t, db2, ns, n2)
	ensureStream(t, r1.JetStream)
	var published [2]atomic.Int64
	r1.AfterPublish = func(changelog.Entry) error { published[0].Add(1); return nil }
	r2.AfterPublish = func(changelog.Entry) error { published[1].Add(1); return nil }
	runRelay(t, r1)
	runRelay(t, r2)

	const writers, each = 4, 30
	var wg sync.WaitGroup
	for w := range writers {
		db := db1
		if w%2 == 1 {
			db = db2
		}
		wg.Go(func() { appendN(t, db, both, each) })
	}
	// Kill whichever session holds the relay's advisory lock once publishing is under way.
	waitFor(t, "publishing to start", func() bool { return published[0].Load()+published[1].Load() > 10 })
	res, err := db1.ExecContext(ctx, `SELECT pg_terminate_backend(l.pid) FROM pg_locks l
		WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`)
	if err != nil {
		t.Fatal(err)
	}
	if killed, _ := res.RowsAffected(); killed != 1 {
		t.Fatalf("killed %d lock sessions, want 1", killed)
	}
	wg.Wait()

	const total = writers * each
	waitFor(t, "the cursor to reach the head", func() bool { return cursor(t, db1) == total })
	requireExactlyOnceInOrder(t, r1.JetStream, total)
	if published[0].Load() == 0 || published[1].Load() == 0 {
		t.Logf("publishes by relay: %d and %d (leadership did not move)", published[0].Load(), published[1].Load())
	}
}

// metricValue returns the value of the stream's sample of a counter or gauge, or the sample
// count of a histogram.
func metricValue(tb testing.TB, reg *prometheus.Registry, name string) float64 {
	tb.Helper()
	families, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "stream" && l.GetValue() == testStream {
					return sampleValue(m)
				}
			}
		}
	}
	return 0
}

func sampleValue(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return 0
}

func TestNewMetrics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		reg  func() prometheus.Registerer
	}{
		{"nil registerer", func() prometheus.Registerer { return nil }},
		{"registering twice reuses the collectors", func() prometheus.Registerer {
			reg := prometheus.NewRegistry()
			outbox.NewMetrics(reg)
			return reg
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if outbox.NewMetrics(tt.reg()) == nil {
				t.Fatal("nil metrics")
			}
		})
	}
}

// The relay saves its cursor now and then, not after every pass: while changes flow the
// saved cursor may trail, the end of a term saves it, and a relay starting from a cursor
// that trails the stream publishes nothing twice.
func TestRelaySavesItsCursorLazily(t *testing.T) {
	sqldbtest.ForEachDialect(t, func(t *testing.T, db *sqldb.DB) {
		ns := startNATS(t)
		n := notify.New()
		first := fastRelay(t, db, ns, n)
		first.CursorEvery, first.Fallback = time.Hour, time.Hour // only the end of the term saves
		ensureStream(t, first.JetStream)
		stop := runRelay(t, first)
		appendN(t, db, []*notify.Notifier{n}, 10)
		waitFor(t, "10 messages in the stream", func() bool { return len(streamSeqs(t, first.JetStream)) == 10 })
		if c := cursor(t, db); c != 0 {
			t.Fatalf("saved cursor = %d while the term runs, want 0 (saves an hour apart)", c)
		}
		stop()
		if c := cursor(t, db); c != 10 {
			t.Fatalf("saved cursor = %d after the term ended, want 10", c)
		}

		// A cursor trailing the stream (as after a crash between saves): the next term
		// starts past the stream's last message.
		if _, err := db.ExecContext(context.Background(), db.Rebind("UPDATE outbox_cursor SET last_seq = 3 WHERE stream = ?"), testStream); err != nil {
			t.Fatal(err)
		}
		second := fastRelay(t, db, ns, n)
		second.CursorEvery = 10 * time.Millisecond
		runRelay(t, second)
		appendN(t, db, []*notify.Notifier{n}, 5)
		waitFor(t, "the cursor to reach 15", func() bool { return cursor(t, db) == 15 })
		requireExactlyOnceInOrder(t, second.JetStream, 15)
	})
}

// TestRelayRestoresALostStream: JetStream loses changes the relay had published, the
// stream deleted and created again while the relay runs, or purged while it was stopped
// (JetStream's duplicate window still remembers the plain message ids then). The relay
// publishes the lost changes again, in order, before the new ones, with no redrive run
// by hand.
func TestRelayRestoresALostStream(t *testing.T) {
	sqldbtest.ForEachDialect(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		ns := startNATS(t)
		n := notify.New()
		r := fastRelay(t, db, ns, n)
		js := r.JetStream
		ensureStream(t, js)
		stop := runRelay(t, r)
		appendN(t, db, []*notify.Notifier{n}, 10)
		waitFor(t, "the cursor to reach 10", func() bool { return cursor(t, db) == 10 })

		// Deleted while the relay runs: its publishes fail until the stream is back.
		if err := js.DeleteStream(ctx, testStream); err != nil {
			t.Fatal(err)
		}
		appendN(t, db, []*notify.Notifier{n}, 5)
		time.Sleep(100 * time.Millisecond)
		stream := ensureStream(t, js)
		waitFor(t, "the stream to hold 15 changes", func() bool { return len(streamSeqs(t, js)) >= 15 })
		requireExactlyOnceInOrder(t, js, 15)

		// Purged while the relay is stopped.
		stop()
		if err := stream.Purge(ctx); err != nil {
			t.Fatal(err)
		}
		stop = runRelay(t, fastRelay(t, db, ns, n))
		appendN(t, db, []*notify.Notifier{n}, 2)
		waitFor(t, "the stream to hold 17 changes", func() bool { return len(streamSeqs(t, js)) >= 17 })
		requireExactlyOnceInOrder(t, js, 17)
		waitFor(t, "the cursor to reach 17", func() bool { return cursor(t, db) == 17 })

		// Deleted, and nobody creates it again: a relay that knows its configuration does.
		stop()
		if err := js.DeleteStream(ctx, testStream); err != nil {
			t.Fatal(err)
		}
		cfg := outbox.StreamConfig(testStream, []string{"test.>"}, 1)
		own := fastRelay(t, db, ns, n)
		own.StreamConfig = &cfg
		runRelay(t, own)
		appendN(t, db, []*notify.Notifier{n}, 3)
		waitFor(t, "the stream to hold 20 changes", func() bool {
			if _, err := js.Stream(ctx, testStream); err != nil {
				return false
			}
			return len(streamSeqs(t, js)) >= 20
		})
		requireExactlyOnceInOrder(t, js, 20)

		// Deleted while the relay is idle: it notices without a new change.
		if err := js.DeleteStream(ctx, testStream); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the stream to hold 20 changes again", func() bool {
			if _, err := js.Stream(ctx, testStream); err != nil {
				return false
			}
			return len(streamSeqs(t, js)) >= 20
		})
		requireExactlyOnceInOrder(t, js, 20)
	})
}

// TestRelayLetsChangesExpire: on a stream with a maximum age, changes JetStream let go
// at that age are not lost ones: the relay does not publish them again (they would only
// expire again), while changes younger than that age that the stream lacks (a purge) it
// does publish again.
func TestRelayLetsChangesExpire(t *testing.T) {
	sqldbtest.ForEachDialect(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		ns := startNATS(t)
		n := notify.New()
		r := fastRelay(t, db, ns, n)
		js := r.JetStream
		const maxAge = 4 * time.Second
		cfg := outbox.StreamConfig(testStream, []string{"test.>"}, 1)
		cfg.MaxAge, cfg.Duplicates = maxAge, time.Second // JetStream wants Duplicates <= MaxAge
		stream, err := js.CreateStream(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		r.StreamConfig = &cfg
		runRelay(t, r)
		appendN(t, db, []*notify.Notifier{n}, 5)
		waitFor(t, "the cursor to reach 5", func() bool { return cursor(t, db) == 5 })

		empty := func() bool {
			info, err := stream.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return info.State.Msgs == 0
		}
		waitFor(t, "the changes to expire", empty)
		// Several idle checks (every 200 ms) find the stream empty.
		time.Sleep(time.Second)
		if !empty() {
			t.Fatalf("the relay published expired changes again: stream holds %v", streamSeqs(t, js))
		}

		// Purged while young: lost, so published again, but not the expired ones.
		appendN(t, db, []*notify.Notifier{n}, 3)
		waitFor(t, "the cursor to reach 8", func() bool { return cursor(t, db) == 8 })
		if err := stream.Purge(ctx); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "changes published again", func() bool { return !empty() })
		time.Sleep(time.Second) // time for a wrong relay to publish more
		if got := streamSeqs(t, js); !slices.Equal(got, []int64{6, 7, 8}) {
			t.Fatalf("stream holds %v, want [6 7 8]", got)
		}
	})
}

// TestRelayWaitsBeforeRecreatingAStream: a relay that finds its stream deleted creates it
// again only once it has been missing for RecreateAfter: right after a deletion the
// server may still be tearing the old stream's storage down (a stream created in that
// moment could take no writes), and an operator who deletes a stream to create it anew
// does so at once. Then it restores what the stream held.
func TestRelayWaitsBeforeRecreatingAStream(t *testing.T) {
	db := sqldbtest.Open(t, sqldb.SQLite)
	ctx := context.Background()
	ns := startNATS(t)
	n := notify.New()
	r := fastRelay(t, db, ns, n)
	cfg := outbox.StreamConfig(testStream, []string{"test.>"}, 1)
	r.StreamConfig = &cfg
	r.StreamCheck = 20 * time.Millisecond
	r.RecreateAfter = 700 * time.Millisecond
	js := r.JetStream
	ensureStream(t, js)
	runRelay(t, r)
	appendN(t, db, []*notify.Notifier{n}, 3)
	waitFor(t, "the stream to hold 3 changes", func() bool { return len(streamSeqs(t, js)) >= 3 })

	if err := js.DeleteStream(ctx, testStream); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	waitFor(t, "the stream to be created again", func() bool {
		_, err := js.Stream(ctx, testStream)
		return err == nil
	})
	if d := time.Since(deleted); d < r.RecreateAfter {
		t.Fatalf("the stream was created again %v after its deletion, before RecreateAfter (%v)", d, r.RecreateAfter)
	}
	waitFor(t, "the stream to hold 3 changes again", func() bool { return len(streamSeqs(t, js)) >= 3 })
	requireExactlyOnceInOrder(t, js, 3)
}
