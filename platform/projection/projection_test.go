package projection_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	"github.com/guarantor/guarantor/platform/outbox"
	"github.com/guarantor/guarantor/platform/projection"
	"github.com/guarantor/guarantor/platform/sqldb"
	"github.com/guarantor/guarantor/platform/sqldb/sqldbtest"
	"github.com/guarantor/guarantor/platform/testkit/natstest"
)

const (
	stream = "SOURCE"
	name   = "test-projection"
)

// fixture is a source stream and a database with a projected table `items(name, seq)`
// kept at the highest sequence, as a service's Apply would.
type fixture struct {
	t   testing.TB
	js  jetstream.JetStream
	db  *sqldb.DB
	mu  sync.Mutex
	fed []string // every message Apply saw, in order ("name@seq")
	// fail, when set, decides whether Apply fails for a message.
	fail func(m projection.Message) error
}

func newFixture(t testing.TB, db *sqldb.DB, ns *natstest.Server) *fixture {
	t.Helper()
	nc, err := nats.Connect(ns.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, js: js, db: db}
	ctx := context.Background()
	if err := projection.Migrate(ctx, f.db); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.ExecContext(ctx, "CREATE TABLE items (name TEXT PRIMARY KEY, seq BIGINT NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) ensureStream() {
	f.t.Helper()
	if _, err := outbox.EnsureStream(context.Background(), f.js, outbox.StreamConfig(stream, []string{"src.>"}, 1)); err != nil {
		f.t.Fatal(err)
	}
}

// publish sends "name@seq" messages (the seq as a header, like the outbox's).
func (f *fixture) publish(items ...string) uint64 {
	f.t.Helper()
	var last uint64
	for _, it := range items {
		var n string
		var seq int
		if _, err := fmt.Sscanf(it, "%s %d", &n, &seq); err != nil {
			f.t.Fatal(err)
		}
		msg := nats.NewMsg("src." + n)
		msg.Data = []byte(n)
		msg.Header.Set(outbox.HeaderSeq, strconv.Itoa(seq))
		ack, err := f.js.PublishMsg(context.Background(), msg)
		if err != nil {
			f.t.Fatal(err)
		}
		last = ack.Sequence
	}
	return last
}

func (f *fixture) apply(ctx context.Context, tx *sql.Tx, m projection.Message) error {
	seq, err := strconv.ParseInt(m.Header.Get(outbox.HeaderSeq), 10, 64)
	if err != nil {
		return projection.Permanent(err)
	}
	f.mu.Lock()
	f.fed = append(f.fed, fmt.Sprintf("%s@%d", m.Data, seq))
	var failed error
	if f.fail != nil {
		failed = f.fail(m)
	}
	f.mu.Unlock()
	if failed != nil {
		return failed
	}
	_, err = tx.ExecContext(ctx, f.db.Rebind(`INSERT INTO items (name, seq) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET seq = excluded.seq WHERE excluded.seq > items.seq`), string(m.Data), seq)
	return err
}

// run runs a consumer, adjusted by tweaks, until the returned stop is called.
func (f *fixture) run(tweaks ...func(c *projection.Consumer)) (*projection.Consumer, func()) {
	f.t.Helper()
	c := &projection.Consumer{
		DB: f.db, JetStream: f.js, Stream: stream, Name: name, Apply: f.apply, Log: zaptest.NewLogger(f.t),
		MaxWait: 200 * time.Millisecond, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
	}
	for _, tweak := range tweaks {
		tweak(c)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				f.t.Errorf("Run: %v", err)
			}
		})
	}
	f.t.Cleanup(stop)
	return c, stop
}

func (f *fixture) waitPosition(seq uint64) {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		pos, err := projection.Position(context.Background(), f.db, name)
		if err != nil {
			f.t.Fatal(err)
		}
		if uint64(pos) >= seq {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("position %d, want %d", pos, seq)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (f *fixture) items() map[string]int64 {
	f.t.Helper()
	rows, err := f.db.QueryContext(context.Background(), "SELECT name, seq FROM items")
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var n string
		var s int64
		if err := rows.Scan(&n, &s); err != nil {
			f.t.Fatal(err)
		}
		out[n] = s
	}
	return out
}

func (f *fixture) fedCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.fed)
}

func TestAppliesInOrderAndResumes(t *testing.T) {
	t.Parallel()
	sqldbtest.ForEachDialect(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db, natstest.Start(t))
		// The stream does not exist yet: the consumer waits for it.
		_, stop := f.run()
		time.Sleep(50 * time.Millisecond)
		f.ensureStream()
		last := f.publish("a 1", "b 2", "a 3", "c 4")
		f.waitPosition(last)
		if got := f.items(); got["a"] != 3 || got["b"] != 2 || got["c"] != 4 {
			t.Fatalf("items %v", got)
		}
		stop()
		fed := f.fedCount()

		// Stopped: new messages wait in the stream; a new consumer process resumes from the
		// durable consumer's position instead of replaying.
		last = f.publish("b 5", "d 6")
		_, stop = f.run()
		f.waitPosition(last)
		// A message published while the old process's last pull request was still open
		// on the server is redelivered after AckWait: wait for both to land.
		deadline := time.Now().Add(20 * time.Second)
		for got := f.items(); got["b"] != 5 || got["d"] != 6; got = f.items() {
			if time.Now().After(deadline) {
				t.Fatalf("items %v, want b=5 and d=6", got)
			}
			time.Sleep(50 * time.Millisecond)
		}
		stop()
		if n := f.fedCount() - fed; n != 2 {
			t.Errorf("after the restart Apply saw %d messages, want the 2 new ones (no replay)", n)
		}
	})
}

func TestRetriesAndSkips(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sqldbtest.Open(t, sqldb.SQLite), natstest.Start(t))
	f.ensureStream()
	var failures int
	f.fail = func(m projection.Message) error {
		if string(m.Data) == "boom" && failures < 2 {
			failures++
			return errors.New("database hiccup")
		}
		return nil
	}
	f.run()
	f.publish("a 1", "boom 2", "c 3")
	// A message the service cannot decode (no sequence header) is skipped, not retried
	// forever.
	msg := nats.NewMsg("src.bad")
	msg.Data = []byte("bad")
	if _, err := f.js.PublishMsg(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	if last := f.publish("d 4"); last != 5 {
		t.Fatalf("stream sequence %d, want 5", last)
	}
	f.waitPosition(5)
	got := f.items()
	if got["a"] != 1 || got["boom"] != 2 || got["c"] != 3 || got["d"] != 4 || len(got) != 4 {
		t.Errorf("items %v", got)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if failures != 2 {
		t.Errorf("%d failures, want 2 (the batch rolled back and was redelivered)", failures)
	}
}

// TestDatabaseBehindConsumer replaces the database (a restore, a new volume) while the
// durable consumer survives: the projection must be rebuilt from the stream, not resumed
// from the consumer's acks.
func TestDatabaseBehindConsumer(t *testing.T) {
	t.Parallel()
	ns := natstest.Start(t)
	f := newFixture(t, sqldbtest.Open(t, sqldb.SQLite), ns)
	f.ensureStream()
	last := f.publish("a 1", "b 2")
	_, stop := f.run()
	f.waitPosition(last)
	stop()

	fresh := newFixture(t, sqldbtest.Open(t, sqldb.SQLite), ns)
	fresh.run()
	fresh.waitPosition(last)
	if got := fresh.items(); len(got) != 2 {
		t.Errorf("a fresh database got %v, want both items replayed", got)
	}
}

// TestStreamRebuilt: the source stream is deleted and created again (JetStream lost its
// storage) and re-driven from a compacted change log, so its positions start over and
// name other changes; by the time the projection looks, the new stream has grown past
// the old position. Whether the projection was stopped meanwhile or kept running, it
// reads the new stream from its start instead of skipping what lies below its old
// position, and goes on from there after a restart.
func TestStreamRebuilt(t *testing.T) {
	t.Parallel()
	for _, running := range []bool{false, true} {
		t.Run(fmt.Sprintf("running=%v", running), func(t *testing.T) {
			t.Parallel()
			sqldbtest.ForEachDialect(t, func(t *testing.T, db *sqldb.DB) {
				f := newFixture(t, db, natstest.Start(t))
				f.ensureStream()
				last := f.publish("a 1", "b 2", "c 3", "a 4")
				_, stop := f.run()
				f.waitPosition(last)
				if !running {
					stop()
				}

				natstest.RecreateStream(t, f.js, outbox.StreamConfig(stream, []string{"src.>"}, 1))
				// The redrive of a log compacted up to change 3: c (3) and a (4) are what
				// is left, then two new changes; the stream is past the old position 4.
				if last = f.publish("c 3", "a 4", "d 5", "e 6", "f 7"); last != 5 {
					t.Fatalf("the new stream is at %d, want 5", last)
				}
				if !running {
					_, stop = f.run()
				}
				deadline := time.Now().Add(20 * time.Second)
				for got := f.items(); got["d"] != 5 || got["e"] != 6 || got["f"] != 7; got = f.items() {
					if time.Now().After(deadline) {
						t.Fatalf("items %v, want d, e and f from the new stream", got)
					}
					time.Sleep(20 * time.Millisecond)
				}
				f.waitPosition(last)
				if got := f.items(); got["a"] != 4 || got["b"] != 2 || got["c"] != 3 || len(got) != 6 {
					t.Fatalf("items %v", got)
				}
				// From here on the new stream is the one the position counts in.
				stop()
				fed := f.fedCount()
				last = f.publish("g 8")
				_, stop = f.run()
				f.waitPosition(last)
				stop()
				if n := f.fedCount() - fed; n != 1 {
					t.Errorf("after a restart Apply saw %d messages, want the 1 new one", n)
				}
			})
		})
	}
}

// gate holds Apply until it is opened, so a test can keep the projection behind.
type gate struct {
	mu      sync.Mutex
	open    chan struct{}
	entered chan uint64 // the stream sequence of every message Apply was handed
}

func newGate() *gate { return &gate{open: make(chan struct{}), entered: make(chan uint64, 64)} }

// wrap returns apply held by the gate.
func (g *gate) wrap(apply projection.ApplyFunc) projection.ApplyFunc {
	return func(ctx context.Context, tx *sql.Tx, m projection.Message) error {
		g.mu.Lock()
		open := g.open
		g.mu.Unlock()
		select {
		case g.entered <- m.StreamSeq:
		default:
		}
		select {
		case <-open:
		case <-ctx.Done():
			return ctx.Err()
		}
		return apply(ctx, tx, m)
	}
}

func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	close(g.open)
}

func (g *gate) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open = make(chan struct{})
}

// waitEntered waits until Apply has been handed the message at stream sequence seq.
func (g *gate) waitEntered(t testing.TB, seq uint64) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case got := <-g.entered:
			if got == seq {
				return
			}
		case <-timeout:
			t.Fatalf("Apply was never handed stream sequence %d", seq)
		}
	}
}

// lagOf reads guarantor_projection_lag{projection=name} from reg; -1 when it is absent.
func lagOf(t testing.TB, reg *prometheus.Registry) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, fam := range families {
		if fam.GetName() != "guarantor_projection_lag" {
			continue
		}
		for _, m := range fam.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "projection" && l.GetValue() == name {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return -1
}

// waitLag waits until the lag metric satisfies ok, failing with what it last read.
func waitLag(t testing.TB, reg *prometheus.Registry, what string, ok func(float64) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		lag := lagOf(t, reg)
		if ok(lag) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("guarantor_projection_lag = %v, want %s", lag, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLagMetric shows the lag the service README documents for its clients:
// guarantor_projection_lag counts the messages of the stream not yet applied, so it is
// above zero whenever the projection is behind, whether the messages arrived while the
// process was down or while Apply was busy, and 0 once it has caught up. Apply is held by
// a gate, so "behind" lasts as long as the test looks.
func TestLagMetric(t *testing.T) {
	t.Parallel()
	sqldbtest.ForEachDialect(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db, natstest.Start(t))
		f.ensureStream()
		reg := prometheus.NewRegistry()
		metrics, err := projection.NewMetrics(reg)
		if err != nil {
			t.Fatal(err)
		}
		g := newGate()
		// Published before the consumer starts: it begins three messages behind.
		last := f.publish("a 1", "b 2", "c 3")
		f.run(func(c *projection.Consumer) { c.Metrics, c.Apply = metrics, g.wrap(f.apply) })
		g.waitEntered(t, 1)
		if lag := lagOf(t, reg); lag < 1 {
			t.Errorf("lag %v with 3 messages waiting to be applied, want at least 1", lag)
		}
		g.release()
		f.waitPosition(last)
		waitLag(t, reg, "0 once caught up", func(l float64) bool { return l == 0 })

		// Behind while running: the next message is stuck in Apply (a slow or locked
		// database) while two more arrive behind it.
		g.close()
		f.publish("d 4")
		g.waitEntered(t, 4)
		last = f.publish("e 5", "f 6")
		// Give the consumer the time to update the metric if it is going to, then look.
		time.Sleep(100 * time.Millisecond)
		if lag := lagOf(t, reg); lag < 1 {
			t.Errorf("lag %v with Apply stuck on stream sequence 4 and 6 published, want at least 1", lag)
		}
		g.release()
		f.waitPosition(last)
		waitLag(t, reg, "0 once caught up again", func(l float64) bool { return l == 0 })
		if got := f.items(); got["d"] != 4 || got["e"] != 5 || got["f"] != 6 {
			t.Errorf("items %v", got)
		}
	})
}

// TestExpiredMessagesReported: on a stream with a maximum age, messages that expired
// before the projection read them (it was stopped, or stuck) are reported, counted and
// passed over, whether the projection finds them gone at start or while consuming.
func TestExpiredMessagesReported(t *testing.T) {
	t.Parallel()
	sqldbtest.ForEachDialect(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		f := newFixture(t, db, natstest.Start(t))
		cfg := outbox.StreamConfig(stream, []string{"src.>"}, 1)
		cfg.MaxAge, cfg.Duplicates = 2*time.Second, time.Second // JetStream wants Duplicates <= MaxAge
		st, err := f.js.CreateStream(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		waitEmpty := func() {
			t.Helper()
			deadline := time.Now().Add(20 * time.Second)
			for {
				info, err := st.Info(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if info.State.Msgs == 0 {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d messages still in the stream after 20 s", info.State.Msgs)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		reg := prometheus.NewRegistry()
		metrics, err := projection.NewMetrics(reg)
		if err != nil {
			t.Fatal(err)
		}
		g := newGate()
		g.release()
		tweak := func(c *projection.Consumer) { c.Metrics, c.Apply = metrics, g.wrap(f.apply) }
		expired := func() float64 { return expiredOf(t, reg) }

		_, stop := f.run(tweak)
		f.waitPosition(f.publish("a 1", "b 2"))
		stop()
		// Stopped longer than the stream keeps a message.
		f.publish("c 3", "d 4")
		waitEmpty()
		f.run(tweak)
		f.waitPosition(f.publish("e 5"))
		if got := expired(); got != 2 {
			t.Fatalf("expired = %v after a restart past 3 and 4, want 2", got)
		}

		// Slow while running: Apply holds 6 while 7 arrives, and the stream lets both go.
		g.close()
		f.publish("f 6")
		g.waitEntered(t, 6)
		f.publish("g 7")
		waitEmpty()
		g.release()
		f.waitPosition(f.publish("h 8"))
		if got := expired(); got != 3 {
			t.Fatalf("expired = %v after 7 went while Apply was busy with 6, want 3", got)
		}
		items := f.items()
		for _, gone := range []string{"c", "d", "g"} {
			if _, ok := items[gone]; ok {
				t.Errorf("item %s projected although it expired unread", gone)
			}
		}
		for _, kept := range []string{"a", "b", "e", "f", "h"} {
			if _, ok := items[kept]; !ok {
				t.Errorf("item %s missing", kept)
			}
		}
	})
}

// expiredOf reads guarantor_projection_expired_total (0 before anything expired).
func expiredOf(t testing.TB, reg *prometheus.Registry) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, fam := range families {
		if fam.GetName() == "guarantor_projection_expired_total" {
			for _, m := range fam.GetMetric() {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
