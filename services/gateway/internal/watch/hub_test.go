package watch

// Tests of the fan-out against a real embedded JetStream: the tests create the two
// streams themselves, publish changes as the services do, and call Service.Watch with
// an in-process server stream whose client the test plays.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	gatewayv1 "github.com/guarantor/guarantor/gen/go/guarantor/gateway/v1"
	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
	"github.com/guarantor/guarantor/platform/apperr"
	"github.com/guarantor/guarantor/platform/principal"
	"github.com/guarantor/guarantor/platform/testkit/natstest"
	"github.com/guarantor/guarantor/services/gateway/internal/frame"
)

// waitFor bounds every wait of these tests.
const waitFor = 20 * time.Second

type env struct {
	js jetstream.JetStream
}

// newEnv starts NATS with both change streams; maxConsumers > 0 limits their consumers.
func newEnv(t *testing.T, maxConsumers int) *env {
	t.Helper()
	srv := natstest.Start(t)
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range Streams {
		cfg := jetstream.StreamConfig{Name: st.Name, Subjects: []string{"test." + st.Service}}
		if maxConsumers > 0 {
			cfg.MaxConsumers = maxConsumers
		}
		if _, err := js.CreateStream(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
	}
	return &env{js: js}
}

// service returns a watch service on e, closed at the end of the test, and its metrics.
func (e *env) service(t *testing.T, cfg Config, log *zap.Logger) (*Service, *prometheus.Registry) {
	t.Helper()
	if log == nil {
		log = zaptest.NewLogger(t)
	}
	reg := prometheus.NewRegistry()
	s := New(e.js, cfg, reg, log)
	t.Cleanup(s.Close)
	return s, reg
}

// publish appends data to a stream and checks it got sequence want.
func (e *env) publish(t *testing.T, service string, data []byte, want uint64) {
	t.Helper()
	ack, err := e.js.Publish(context.Background(), "test."+service, data)
	if err != nil {
		t.Fatal(err)
	}
	if ack.Sequence != want {
		t.Fatalf("published %s change at sequence %d, want %d", service, ack.Sequence, want)
	}
}

// publishEvents publishes events changes from..to, each at the stream sequence of its
// number (the stream must hold from-1 messages).
func (e *env) publishEvents(t *testing.T, from, to uint64) {
	t.Helper()
	for i := from; i <= to; i++ {
		e.publishEventChange(t, int64(i), i)
	}
}

// publishEventChange publishes events change number change, expecting it at stream
// sequence at.
func (e *env) publishEventChange(t *testing.T, change int64, at uint64) {
	t.Helper()
	data, err := proto.Marshal(&eventsv1.Change{
		Sequence:     change,
		ResourceName: fmt.Sprintf("events/e%d", change),
		Kind:         typev1.ChangeKind_CHANGE_KIND_CREATED,
		Resource:     &eventsv1.Change_Event{Event: &eventsv1.Event{}},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.publish(t, "events", data, at)
}

func (e *env) publishGuarantees(t *testing.T, from, to uint64) {
	t.Helper()
	for i := from; i <= to; i++ {
		c := &guaranteesv1.Change{
			Sequence:     int64(i),
			ResourceName: fmt.Sprintf("frameworks/f%d", i),
			Kind:         typev1.ChangeKind_CHANGE_KIND_CREATED,
			Resource:     &guaranteesv1.Change_Framework{Framework: &guaranteesv1.Framework{}},
		}
		data, err := proto.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		e.publish(t, "guarantees", data, i)
	}
}

// consumers is how many consumers a stream holds.
func (e *env) consumers(t *testing.T, stream string) int {
	t.Helper()
	st, err := e.js.Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Consumers
}

// waitConsumers waits until a stream holds want consumers.
func (e *env) waitConsumers(t *testing.T, stream string, want int) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		got := e.consumers(t, stream)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %d consumers, want %d", stream, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitHub waits until the hub of stream idx has read seq.
func waitHub(t *testing.T, s *Service, idx int, seq uint64) {
	t.Helper()
	h := s.hubs[idx]
	deadline := time.Now().Add(waitFor)
	for {
		h.mu.RLock()
		last := h.last
		h.mu.RUnlock()
		if last >= seq {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hub read up to %d, want %d", last, seq)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// metric is the value of a metric without labels.
func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		m := f.GetMetric()[0]
		if g := m.GetGauge(); g != nil {
			return g.GetValue()
		}
		return m.GetCounter().GetValue()
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// serverStream is the gateway's side of one Watch: what Watch sends waits in an
// unbuffered channel until the test (the client) reads it, so a test that stops reading
// is a client whose connection is full.
type serverStream struct {
	grpc.ServerStream // unused methods
	ctx               context.Context
	sent              chan *gatewayv1.WatchResponse
}

func (s *serverStream) Context() context.Context { return s.ctx }

func (s *serverStream) Send(m *gatewayv1.WatchResponse) error {
	return s.SendMsg(m)
}

// SendMsg encodes m with the gateway server's codec and decodes it as a client would: the
// watch sends changes as pre-encoded frames.
func (s *serverStream) SendMsg(v any) error {
	data, err := frame.Codec{}.Marshal(v)
	if err != nil {
		return err
	}
	m := &gatewayv1.WatchResponse{}
	if err := proto.Unmarshal(data.Materialize(), m); err != nil {
		return err
	}
	select {
	case s.sent <- m:
		return nil
	case <-s.ctx.Done():
		return s.ctx.Err()
	}
}

// watcher is a client of one Watch.
type watcher struct {
	t    *testing.T
	sent chan *gatewayv1.WatchResponse
	done chan error // what Watch returned
}

var viewer = principal.Principal{ID: "key:viewer", Role: principal.RoleViewer}

// open starts a watch and returns it after its opening bookmark; the watch ends (and
// is waited for) at the end of the test.
func open(t *testing.T, s *Service, req *gatewayv1.WatchRequest) *watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(principal.NewContext(context.Background(), viewer))
	w := &watcher{t: t, sent: make(chan *gatewayv1.WatchResponse), done: make(chan error, 1)}
	go func() { w.done <- s.Watch(req, &serverStream{ctx: ctx, sent: w.sent}) }()
	t.Cleanup(func() {
		cancel()
		<-w.done
	})
	m, err := w.next()
	if err != nil {
		t.Fatalf("open watch: %v", err)
	}
	if m.GetType() != typev1.WatchEventType_WATCH_EVENT_TYPE_BOOKMARK {
		t.Fatalf("first message %v, want a bookmark", m)
	}
	return w
}

// next is the next message, or the error the watch ended with.
// openErr opens a watch that should be refused, and returns why it was; it fails the
// test when the watch opens instead.
func openErr(t *testing.T, s *Service, req *gatewayv1.WatchRequest) error {
	t.Helper()
	ctx, cancel := context.WithCancel(principal.NewContext(context.Background(), viewer))
	w := &watcher{t: t, sent: make(chan *gatewayv1.WatchResponse), done: make(chan error, 1)}
	go func() { w.done <- s.Watch(req, &serverStream{ctx: ctx, sent: w.sent}) }()
	defer func() {
		cancel()
		<-w.done
	}()
	m, err := w.next()
	if err == nil {
		t.Fatalf("watch opened with %v, want it refused", m)
	}
	return err
}

func (w *watcher) next() (*gatewayv1.WatchResponse, error) {
	select {
	case m := <-w.sent:
		return m, nil
	case err := <-w.done:
		w.done <- err // for whoever asks next
		return nil, err
	case <-time.After(waitFor):
		return nil, errors.New("nothing received in time")
	}
}

// got is a change as a watcher received it.
type got struct {
	service string
	seq     uint64 // the change's own number, which the tests publish at that stream sequence
	token   string
	resp    *gatewayv1.WatchResponse
}

// changes reads n changes, skipping bookmarks.
func (w *watcher) changes(n int) ([]got, error) {
	var out []got
	for len(out) < n {
		m, err := w.next()
		if err != nil {
			return out, err
		}
		out = append(out, gotOf(m)...)
	}
	return out, nil
}

// gotOf is the changes a message carries: its own, or a batch's, each as if it had
// come alone with the message's token.
func gotOf(m *gatewayv1.WatchResponse) []got {
	var out []got
	switch {
	case m.GetEventsChange() != nil:
		out = append(out, got{"events", uint64(m.GetEventsChange().GetSequence()), m.GetResumeToken(), m})
	case m.GetGuaranteesChange() != nil:
		out = append(out, got{"guarantees", uint64(m.GetGuaranteesChange().GetSequence()), m.GetResumeToken(), m})
	}
	for _, c := range m.GetChanges() {
		one := &gatewayv1.WatchResponse{Type: c.GetType(), ResumeToken: m.GetResumeToken()}
		switch {
		case c.GetEventsChange() != nil:
			one.Change = &gatewayv1.WatchResponse_EventsChange{EventsChange: c.GetEventsChange()}
			out = append(out, got{"events", uint64(c.GetEventsChange().GetSequence()), m.GetResumeToken(), one})
		case c.GetGuaranteesChange() != nil:
			one.Change = &gatewayv1.WatchResponse_GuaranteesChange{GuaranteesChange: c.GetGuaranteesChange()}
			out = append(out, got{"guarantees", uint64(c.GetGuaranteesChange().GetSequence()), m.GetResumeToken(), one})
		}
	}
	return out
}

// mustChanges reads n changes or fails.
func (w *watcher) mustChanges(n int) []got {
	w.t.Helper()
	out, err := w.changes(n)
	if err != nil {
		w.t.Fatalf("after %d of %d changes: %v", len(out), n, err)
	}
	return out
}

// tokenAt is the token a watch of s sends at pos having passed change (the highest
// change sequence, per stream): it names the incarnations of the streams s's hubs read.
func tokenAt(s *Service, pos []uint64, change []int64) string {
	inc := make([]int64, len(s.hubs))
	for i, h := range s.hubs {
		inc[i] = h.incarnation()
	}
	return string(appendToken(nil, position{seq: pos, inc: inc, change: change}))
}

// seqs is each service's sequence of changes.
func seqs(gs []got) map[string][]uint64 {
	out := map[string][]uint64{}
	for _, g := range gs {
		out[g.service] = append(out[g.service], g.seq)
	}
	return out
}

func span(from, to uint64) []uint64 {
	var out []uint64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func wantSeqs(t *testing.T, gs []got, want map[string][]uint64) {
	t.Helper()
	have := seqs(gs)
	for svc, w := range want {
		if !slices.Equal(have[svc], w) {
			t.Fatalf("%s changes arrived as %v, want %v", svc, have[svc], w)
		}
	}
	if n := len(want["events"]) + len(want["guarantees"]); len(gs) != n {
		t.Fatalf("got %d changes, want %d", len(gs), n)
	}
}

// TestManyWatchersShareOneConsumerPerStream: more watchers than the streams allow
// consumers all get every change, and each stream holds one consumer for all of them.
func TestManyWatchersShareOneConsumerPerStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 3)
	s, _ := e.service(t, Config{}, nil)
	const watchers = 5
	var ws []*watcher
	for range watchers {
		ws = append(ws, open(t, s, &gatewayv1.WatchRequest{}))
	}
	e.publishEvents(t, 1, 20)
	e.publishGuarantees(t, 1, 10)
	var wg sync.WaitGroup
	results := make([][]got, watchers)
	errs := make([]error, watchers)
	for i, w := range ws {
		wg.Go(func() { results[i], errs[i] = w.changes(30) })
	}
	wg.Wait()
	for i := range ws {
		if errs[i] != nil {
			t.Fatalf("watcher %d: %v after %d changes", i, errs[i], len(results[i]))
		}
		wantSeqs(t, results[i], map[string][]uint64{"events": span(1, 20), "guarantees": span(1, 10)})
	}
	for _, st := range Streams {
		if n := e.consumers(t, st.Name); n != 1 {
			t.Errorf("%s holds %d consumers with %d watchers open, want 1 (the gateway's)", st.Name, n, watchers)
		}
	}
}

// TestWatchersShareEncodedChanges: a change is encoded once for every watcher, and each
// watcher gets it followed by its own token.
func TestWatchersShareEncodedChanges(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	s, _ := e.service(t, Config{}, nil)
	a := open(t, s, &gatewayv1.WatchRequest{})
	b := open(t, s, &gatewayv1.WatchRequest{})
	e.publishEvents(t, 1, 5)
	ga, gb := a.mustChanges(5), b.mustChanges(5)
	waitHub(t, s, 0, 5)
	held, _, _, err := s.hubs[0].entriesAfter(0, 0, make([]entry, 0, 5))
	if err != nil || len(held) != 5 {
		t.Fatalf("the hub holds %d entries (%v), want 5", len(held), err)
	}
	for i := range ga {
		if ga[i].resp.GetEventsChange().GetSequence() != int64(ga[i].seq) || !proto.Equal(ga[i].resp.GetEventsChange(), gb[i].resp.GetEventsChange()) {
			t.Fatalf("change %d: the watchers got %v and %v", ga[i].seq, ga[i].resp, gb[i].resp)
		}
		if it, _ := scan(0, held[i], &matcher{}, viewer, new(passed)); &it.change[0] != &held[i].change[0] {
			t.Fatalf("change %d: a watcher's item does not share the hub's encoding", ga[i].seq)
		}
		if want := tokenAt(s, []uint64{ga[i].seq, 0}, []int64{int64(ga[i].seq), 0}); ga[i].token != want || gb[i].token != want {
			t.Fatalf("change %d: tokens %q and %q, want %q", ga[i].seq, ga[i].token, gb[i].token, want)
		}
	}
}

// TestResumeOlderThanTheRing: a watch resuming from a position the in-memory ring no
// longer holds reads it from a private consumer, gets every change once and in order
// (skipping one the gateway cannot decode), and then follows the ring like any other
// watcher, its private consumer gone.
func TestResumeOlderThanTheRing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	s, reg := e.service(t, Config{HubBuffer: 4}, nil)
	live := open(t, s, &gatewayv1.WatchRequest{})
	e.publishEvents(t, 1, 6)
	e.publish(t, "events", []byte("\xff not a change"), 7)
	e.publishEvents(t, 8, 20)
	var all []uint64
	for _, i := range span(1, 20) {
		if i != 7 {
			all = append(all, i)
		}
	}
	// Once the live watcher has everything, the ring holds 17 to 20.
	wantSeqs(t, live.mustChanges(19), map[string][]uint64{"events": all})

	tests := []struct {
		after   uint64
		catchUp bool
	}{
		{0, true},
		{6, true}, // next is the undecodable 7
		{15, true},
		{16, false}, // the ring holds everything after 16
		{19, false},
		{20, false},
	}
	// No subtests: the resumed watches stay open for the end of the test.
	var resumed []*watcher
	for _, tt := range tests {
		before := metric(t, reg, "guarantor_gateway_watch_catchups_total")
		w := open(t, s, &gatewayv1.WatchRequest{ResumeToken: EncodeToken([]uint64{tt.after, 0})})
		resumed = append(resumed, w)
		var want []uint64
		for _, i := range all {
			if i > tt.after {
				want = append(want, i)
			}
		}
		gs, err := w.changes(len(want))
		if err != nil {
			t.Fatalf("after=%d: %v after %d changes", tt.after, err, len(gs))
		}
		if have := seqs(gs)["events"]; !slices.Equal(have, want) {
			t.Fatalf("after=%d: got %v, want %v", tt.after, have, want)
		}
		for _, g := range gs {
			if tok := tokenAt(s, []uint64{g.seq, 0}, []int64{int64(g.seq), 0}); g.token != tok {
				t.Fatalf("after=%d: change %d has token %q, want %q", tt.after, g.seq, g.token, tok)
			}
		}
		if caught := metric(t, reg, "guarantor_gateway_watch_catchups_total") > before; caught != tt.catchUp {
			t.Fatalf("after=%d: read from a private consumer: %v, want %v", tt.after, caught, tt.catchUp)
		}
	}
	// Every resumed watcher is back on the ring: no private consumer is left, and the
	// next changes reach all of them (once: a repeat would arrive first).
	e.waitConsumers(t, Streams[0].Name, 1)
	if n := metric(t, reg, "guarantor_gateway_watch_catchup_consumers"); n != 0 {
		t.Fatalf("%v watchers still read from private consumers", n)
	}
	e.publishEvents(t, 21, 22)
	for i, w := range resumed {
		if gs := w.mustChanges(2); gs[0].seq != 21 || gs[1].seq != 22 {
			t.Fatalf("watcher resumed after %d: then got %v, want 21 and 22", tests[i].after, seqs(gs))
		}
	}
}

// TestLaggingWatcherCatchesUp: a client slower than a burst falls behind the ring
// without overflowing its buffer; it reads the burst from a private consumer, in order,
// and returns to the ring.
func TestLaggingWatcherCatchesUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	s, reg := e.service(t, Config{Buffer: 2, OverflowGrace: time.Minute, HubBuffer: 4}, nil)
	w := open(t, s, &gatewayv1.WatchRequest{})
	e.publishEvents(t, 1, 40)
	// The client reads nothing until the burst is over: its reader stops a few changes
	// in, with its buffer full, while the ring moves on to 37-40.
	waitHub(t, s, 0, 40)
	wantSeqs(t, w.mustChanges(40), map[string][]uint64{"events": span(1, 40)})
	if n := metric(t, reg, "guarantor_gateway_watch_catchups_total"); n == 0 {
		t.Fatal("the lagging watcher never read from a private consumer: the test did not lag")
	}
	e.waitConsumers(t, Streams[0].Name, 1)
	if n := metric(t, reg, "guarantor_gateway_watch_catchup_consumers"); n != 0 {
		t.Fatalf("%v watchers still read from private consumers", n)
	}
	e.publishEvents(t, 41, 41)
	if g := w.mustChanges(1); g[0].seq != 41 {
		t.Fatalf("then got %d, want 41", g[0].seq)
	}
}

// TestSlowWatcherOverflowsFastOneGetsAll: a client that stops keeping up has its watch
// ended with a resumable RESOURCE_EXHAUSTED, while a fast client gets every change
// meanwhile; resuming from the error's token misses nothing and repeats nothing. Batching
// changes the messages, not the bound: a batched watch's token is its last batch's.
func TestSlowWatcherOverflowsFastOneGetsAll(t *testing.T) {
	t.Parallel()
	const grace = 500 * time.Millisecond
	for _, tc := range []struct {
		name     string
		cfg      Config
		maxBatch int32
	}{
		{"by count", Config{Buffer: 4}, 0},
		{"by count, batched", Config{Buffer: 4}, 2},
		// The changes published here take about 20 bytes each: 100 bytes hold a few,
		// far fewer than the 1,024 the count allows.
		{"by bytes", Config{BufferBytes: 100}, 0},
		{"by bytes, batched", Config{BufferBytes: 100}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, 0)
			cfg := tc.cfg
			cfg.OverflowGrace, cfg.HubBuffer, cfg.BatchLinger = grace, 8, -1
			s, reg := e.service(t, cfg, nil)
			req := &gatewayv1.WatchRequest{MaxBatch: tc.maxBatch}
			slow := open(t, s, req)
			fast := open(t, s, req)
			const n = 60
			e.publishEvents(t, 1, n)
			// The slow client reads nothing until the fast one has every change: the slow
			// watch's buffer fills and its grace runs out meanwhile.
			wantSeqs(t, fast.mustChanges(n), map[string][]uint64{"events": span(1, n)})
			var slowGot []got
			var slowErr error
			for slowErr == nil && len(slowGot) < n {
				var g []got
				g, slowErr = slow.changes(1)
				slowGot = append(slowGot, g...)
				time.Sleep(2 * grace)
			}
			st, _ := status.FromError(slowErr)
			if st.Code() != codes.ResourceExhausted {
				t.Fatalf("slow watch ended with %v after %d changes, want RESOURCE_EXHAUSTED", slowErr, len(slowGot))
			}
			var token string
			for _, d := range st.Details() {
				if ei, ok := d.(*errdetails.ErrorInfo); ok && ei.GetReason() == OverflowReason {
					token = ei.GetMetadata()["resume_token"]
				}
			}
			if len(slowGot) == 0 || len(slowGot) >= n {
				t.Fatalf("the slow watcher got %d of %d changes before overflowing: the test did not test", len(slowGot), n)
			}
			if last := slowGot[len(slowGot)-1]; token != last.token {
				t.Fatalf("overflow token %q, want the last message's %q", token, last.token)
			}
			if metric(t, reg, "guarantor_gateway_watch_overflows_total") != 1 {
				t.Fatal("overflows_total did not count the overflow")
			}
			req.ResumeToken = token
			rest := open(t, s, req).mustChanges(n - len(slowGot))
			wantSeqs(t, append(slowGot, rest...), map[string][]uint64{"events": span(1, n)})
		})
	}
}

// TestCatchUpConsumersAreBounded: watchers catching up at once share MaxCatchUp private
// consumers per stream instead of each taking one of the stream's limited consumers.
func TestCatchUpConsumersAreBounded(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2) // the hub's and one more
	core, logs := observer.New(zapcore.WarnLevel)
	log := zap.New(zapcore.NewTee(zaptest.NewLogger(t).Core(), core))
	s, reg := e.service(t, Config{HubBuffer: 4, MaxCatchUp: 1}, log)
	open(t, s, &gatewayv1.WatchRequest{}) // starts the hubs
	e.publishEvents(t, 1, 30)
	waitHub(t, s, 0, 30) // the ring holds 27-30: the watchers below must catch up
	var ws []*watcher
	for range 3 {
		ws = append(ws, open(t, s, &gatewayv1.WatchRequest{ResumeToken: EncodeToken([]uint64{1, 0})}))
	}
	var wg sync.WaitGroup
	results := make([][]got, len(ws))
	errs := make([]error, len(ws))
	for i, w := range ws {
		wg.Go(func() { results[i], errs[i] = w.changes(29) })
	}
	wg.Wait()
	for i := range ws {
		if errs[i] != nil {
			t.Fatalf("watcher %d: %v after %d changes", i, errs[i], len(results[i]))
		}
		wantSeqs(t, results[i], map[string][]uint64{"events": span(2, 30)})
	}
	// (The first watcher may have caught up too: a ring of 4 laps a reader easily.)
	if n := metric(t, reg, "guarantor_gateway_watch_catchups_total"); n < 3 {
		t.Fatalf("%v catch-ups, want at least the 3 resumed watchers'", n)
	}
	if n := logs.FilterMessage("watch catch-up consumer failed; retrying").Len(); n > 0 {
		t.Errorf("%d catch-up consumers failed (%v): more than the stream allows were opened", n, logs.All()[0].ContextMap())
	}
}

// TestCloseEndsWatches: Close stops the hubs and deletes their consumers, ends open
// watches with UNAVAILABLE, and refuses new ones.
func TestCloseEndsWatches(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	s, _ := e.service(t, Config{}, nil)
	w := open(t, s, &gatewayv1.WatchRequest{})
	batched := open(t, s, &gatewayv1.WatchRequest{MaxBatch: 10})
	for _, st := range Streams {
		e.waitConsumers(t, st.Name, 1)
	}
	s.Close()
	for name, w := range map[string]*watcher{"one by one": w, "batched": batched} {
		if _, err := w.changes(1); !apperr.Is(err, apperr.CodeUnavailable) {
			t.Fatalf("open %s watch ended with %v, want UNAVAILABLE", name, err)
		}
	}
	for _, st := range Streams {
		if n := e.consumers(t, st.Name); n != 0 {
			t.Errorf("%s holds %d consumers after Close, want 0", st.Name, n)
		}
	}
	ctx := principal.NewContext(context.Background(), viewer)
	err := s.Watch(&gatewayv1.WatchRequest{}, &serverStream{ctx: ctx, sent: make(chan *gatewayv1.WatchResponse, 1)})
	if !apperr.Is(err, apperr.CodeUnavailable) {
		t.Fatalf("watch after Close: %v, want UNAVAILABLE", err)
	}
	// A malformed token is INVALID_ARGUMENT even when the streams cannot be reached.
	err = s.Watch(&gatewayv1.WatchRequest{ResumeToken: "not-a-token"}, &serverStream{ctx: ctx, sent: make(chan *gatewayv1.WatchResponse, 1)})
	if !apperr.Is(err, apperr.CodeInvalidArgument) {
		t.Fatalf("malformed token after Close: %v, want INVALID_ARGUMENT", err)
	}
}

// TestStreamRebuilt: when a change stream is deleted and created again (JetStream lost
// it; an operator re-drives it from the change log), its sequence numbers start over, so
// the positions watchers hold mean nothing there. Every watch then ends with OUT_OF_RANGE
// saying so, instead of waiting silently past the new stream's changes; a watch opened
// afterwards follows the new stream from its end.
func TestStreamRebuilt(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	s, reg := e.service(t, Config{HubBuffer: 4, StreamCheck: 50 * time.Millisecond}, nil)
	live := open(t, s, &gatewayv1.WatchRequest{})
	batched := open(t, s, &gatewayv1.WatchRequest{MaxBatch: 3})
	e.publishEvents(t, 1, 8)
	live.mustChanges(8)
	batched.mustChanges(8)
	// A watcher behind the ring, reading from a private consumer when the stream goes.
	behind := open(t, s, &gatewayv1.WatchRequest{ResumeToken: EncodeToken([]uint64{1, 0})})
	behind.mustChanges(2)

	natstest.RecreateStream(t, e.js, jetstream.StreamConfig{Name: Streams[0].Name, Subjects: []string{"test.events"}})
	e.publishEvents(t, 1, 3)
	for name, w := range map[string]*watcher{"live": live, "batched": batched, "behind": behind} {
		var err error
		for err == nil {
			_, err = w.next()
		}
		if !apperr.Is(err, apperr.CodeOutOfRange) || !strings.Contains(err.Error(), "rebuilt") {
			t.Fatalf("%s watch ended with %v, want OUT_OF_RANGE about the rebuilt stream", name, err)
		}
	}
	if n := metric(t, reg, "guarantor_gateway_watch_stream_rebuilds_total"); n != 1 {
		t.Fatalf("rebuilds counted: %v, want 1", n)
	}
	fresh := open(t, s, &gatewayv1.WatchRequest{})
	e.publishEvents(t, 4, 5)
	if gs := fresh.mustChanges(2); gs[0].seq != 4 || gs[1].seq != 5 {
		t.Fatalf("a watch opened after the rebuild got %v, want 4 and 5", seqs(gs))
	}
}

// TestResumeAcrossRebuild: a token names the incarnation of the stream its position
// counts in. After the stream is deleted and created again, a watch resumed from a token
// of the old stream is OUT_OF_RANGE, even where the new stream has grown past its
// position (which would otherwise resume among other changes without a word); a token of
// the new stream resumes.
func TestResumeAcrossRebuild(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	s, _ := e.service(t, Config{StreamCheck: 50 * time.Millisecond}, nil)
	live := open(t, s, &gatewayv1.WatchRequest{})
	e.publishEvents(t, 1, 5)
	old := live.mustChanges(3)[2].token // after change 3, at stream position 3

	natstest.RecreateStream(t, e.js, jetstream.StreamConfig{Name: Streams[0].Name, Subjects: []string{"test.events"}})
	// Once the hub has seen the new stream (the live watch ends), which has grown past 3.
	var err error
	for err == nil {
		_, err = live.next()
	}
	// Changes 11 to 16 at positions 1 to 6 of the new stream, then 17 and 18 at 7 and 8.
	publishAt := func(change int64, at uint64) {
		data, err := proto.Marshal(&eventsv1.Change{Sequence: change, ResourceName: fmt.Sprintf("events/e%d", change),
			Kind: typev1.ChangeKind_CHANGE_KIND_CREATED, Resource: &eventsv1.Change_Event{Event: &eventsv1.Event{}}})
		if err != nil {
			t.Fatal(err)
		}
		e.publish(t, "events", data, at)
	}
	for i := range int64(6) {
		publishAt(11+i, uint64(1+i))
	}

	if err := openErr(t, s, &gatewayv1.WatchRequest{ResumeToken: old}); !apperr.Is(err, apperr.CodeOutOfRange) || !strings.Contains(err.Error(), "rebuilt") {
		t.Fatalf("resumed from a token of the old stream: %v, want OUT_OF_RANGE about the rebuilt stream", err)
	}

	fresh := open(t, s, &gatewayv1.WatchRequest{})
	publishAt(17, 7)
	publishAt(18, 8)
	tok := fresh.mustChanges(1)[0].token // at position 7 of the new stream
	resumed := open(t, s, &gatewayv1.WatchRequest{ResumeToken: tok})
	if gs := resumed.mustChanges(1); gs[0].seq != 18 {
		t.Fatalf("resumed from a token of the new stream at change %d, want 18", gs[0].seq)
	}
}

// TestRedrivenChangesNotRepeated: after a purge, a redrive re-publishes changes a watch
// has had (new stream positions, the same change sequences); the watch moves past them
// without sending them again, live on the ring or catching up from a private consumer.
func TestRedrivenChangesNotRepeated(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	s, _ := e.service(t, Config{HubBuffer: 2}, nil)
	live := open(t, s, &gatewayv1.WatchRequest{})
	e.publishEvents(t, 1, 3)
	wantSeqs(t, live.mustChanges(3), map[string][]uint64{"events": {1, 2, 3}})
	// The redrive: changes 1 to 3 again at stream sequences 4 to 6, then the new change 4.
	for i, change := range []int64{1, 2, 3, 4} {
		e.publishEventChange(t, change, uint64(4+i))
	}
	gs := live.mustChanges(1)
	if gs[0].seq != 4 || gs[0].token != tokenAt(s, []uint64{7, 0}, []int64{4, 0}) {
		t.Fatalf("live watch then got change %d with token %q, want change 4 at stream position 7", gs[0].seq, gs[0].token)
	}
	// From the start: the ring holds only 6 and 7, so this reads 1 to 5 from a consumer.
	resumed := open(t, s, &gatewayv1.WatchRequest{ResumeToken: EncodeToken([]uint64{0, 0})})
	wantSeqs(t, resumed.mustChanges(4), map[string][]uint64{"events": {1, 2, 3, 4}})
	// Resumed from a token taken before the redrive (after change 3 at position 3): the
	// copies at 4 to 6 were passed already.
	before := open(t, s, &gatewayv1.WatchRequest{ResumeToken: EncodeToken([]uint64{3, 0})})
	if gs := before.mustChanges(1); gs[0].seq != 4 {
		t.Fatalf("watch resumed at position 3 first got change %d, want 4", gs[0].seq)
	}
}

// TestResumeAcrossAPurge: a watch's token carries the highest change it has passed, so
// a watch resumed after a purge and a redrive skips the re-published copies of what it
// had, even where the stream cannot tell: its token's message was purged, or its token
// points at the copy of an older change (a bookmark taken during the redrive). Tokens
// of gateways before this, without the change, still resume.
func TestResumeAcrossAPurge(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	s, _ := e.service(t, Config{BookmarkEvery: 20 * time.Millisecond}, nil)
	live := open(t, s, &gatewayv1.WatchRequest{})
	e.publishEvents(t, 1, 3)
	gs := live.mustChanges(3)
	wantSeqs(t, gs, map[string][]uint64{"events": {1, 2, 3}})
	beforePurge := gs[2].token
	if want := tokenAt(s, []uint64{3, 0}, []int64{3, 0}); beforePurge != want {
		t.Fatalf("token after change 3 is %q, want %q", beforePurge, want)
	}

	st, err := e.js.Stream(context.Background(), Streams[0].Name)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Purge(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The redrive's first half: copies of changes 1 and 2 at stream positions 4 and 5.
	e.publishEventChange(t, 1, 4)
	e.publishEventChange(t, 2, 5)
	// The live watch passes them without a change, so its next bookmark is at 5, having
	// passed change 3.
	midway := tokenAt(s, []uint64{5, 0}, []int64{3, 0})
	deadline := time.Now().Add(waitFor)
	for {
		m, err := live.next()
		if err != nil {
			t.Fatal(err)
		}
		if m.GetType() != typev1.WatchEventType_WATCH_EVENT_TYPE_BOOKMARK {
			t.Fatalf("live watch got %v during the redrive, want only bookmarks", m)
		}
		if m.GetResumeToken() == midway {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no bookmark at position 5 having passed change 3; last %q", m.GetResumeToken())
		}
	}
	// The rest of the redrive (change 3 at 6), then a new change 4 at 7.
	e.publishEventChange(t, 3, 6)
	e.publishEventChange(t, 4, 7)

	tests := []struct {
		name, token string
		want        []uint64
	}{
		{"token whose message the purge removed", beforePurge, []uint64{4}},
		{"bookmark at a re-driven copy", midway, []uint64{4}},
		// Without the change, the position's own message says what was passed: change 2,
		// the copy at 5. The copy of 3 at 6 comes again; nothing is skipped.
		{"token of an older gateway", EncodeToken([]uint64{5, 0}), []uint64{3, 4}},
	}
	// Each case then gets the new changes published by the cases before it, and one
	// more published for it, and nothing between: a repeat would come first.
	var later []uint64
	for _, tt := range tests {
		w := open(t, s, &gatewayv1.WatchRequest{ResumeToken: tt.token})
		next := uint64(5 + len(later)) // at stream position next+3
		e.publishEventChange(t, int64(next), next+3)
		later = append(later, next)
		want := append(slices.Clone(tt.want), later...)
		if have := seqs(w.mustChanges(len(want)))["events"]; !slices.Equal(have, want) {
			t.Errorf("%s: got changes %v, want %v", tt.name, have, want)
		}
	}
}

// TestWatchEndsAtAGap: when the stream lacks changes a watch has not had (they reached
// the stream's maximum age, or a redrive of a compacted change log left them out), the
// watch ends with OUT_OF_RANGE instead of skipping them, live on the ring or catching
// up; a watch positioned after the gap goes on.
func TestWatchEndsAtAGap(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	s, reg := e.service(t, Config{HubBuffer: 2}, nil)
	live := open(t, s, &gatewayv1.WatchRequest{})
	e.publishEvents(t, 1, 3)
	wantSeqs(t, live.mustChanges(3), map[string][]uint64{"events": {1, 2, 3}})
	e.publishEventChange(t, 5, 4) // change 4 is not in the stream
	if gs, err := live.changes(1); !apperr.Is(err, apperr.CodeOutOfRange) {
		t.Fatalf("live watch after the gap: %d changes, err %v; want OUT_OF_RANGE", len(gs), err)
	}
	// The ring holds positions 3 and 4 only: this one reads 2 and 3 from a consumer.
	catching := open(t, s, &gatewayv1.WatchRequest{ResumeToken: EncodeToken([]uint64{1, 0})})
	gs, err := catching.changes(3)
	if !apperr.Is(err, apperr.CodeOutOfRange) || len(gs) != 2 {
		t.Fatalf("catching-up watch: %d changes, err %v; want 2 then OUT_OF_RANGE", len(gs), err)
	}
	if n := metric(t, reg, "guarantor_gateway_watch_gaps_total"); n != 2 {
		t.Fatalf("gaps counted: %v, want 2", n)
	}
	after := open(t, s, &gatewayv1.WatchRequest{ResumeToken: EncodeToken([]uint64{4, 0})})
	e.publishEventChange(t, 6, 5)
	if gs := after.mustChanges(1); gs[0].seq != 6 {
		t.Fatalf("watch resumed after the gap got change %d, want 6", gs[0].seq)
	}
}

// TestBatchedWatch: a watch asking for batches gets every change once and in order, a
// filtered-out change never, no message above its batch size, and each message's token
// is the position after its last change: resuming from it misses nothing.
func TestBatchedWatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	s, _ := e.service(t, Config{}, nil)
	req := &gatewayv1.WatchRequest{MaxBatch: 3, Filter: `NOT name = "events/e4"`}
	w := open(t, s, req)
	e.publishEvents(t, 1, 10)
	e.publishGuarantees(t, 1, 5)
	var all []got
	var last string
	for len(all) < 14 {
		m, err := w.next()
		if err != nil {
			t.Fatalf("after %d changes: %v", len(all), err)
		}
		if n := len(m.GetChanges()); n > 3 || m.GetChange() != nil {
			t.Fatalf("a message with %d batched changes and change %v, want at most 3 and none", n, m.GetChange())
		}
		all = append(all, gotOf(m)...)
		last = m.GetResumeToken()
	}
	want := append(span(1, 3), span(5, 10)...)
	wantSeqs(t, all, map[string][]uint64{"events": want, "guarantees": span(1, 5)})
	if pos, err := DecodeToken(last, 2); err != nil || pos[0] != 10 || pos[1] != 5 {
		t.Fatalf("last token %q is %v (%v), want [10 5]", last, pos, err)
	}
	req.ResumeToken = last
	again := open(t, s, req)
	e.publishEvents(t, 11, 11)
	if g := again.mustChanges(1); g[0].seq != 11 {
		t.Fatalf("resumed at %d, want 11", g[0].seq)
	}
}

// TestBatchBytesBound: a batch stops before its changes pass BatchBytes, so that large
// changes cannot make a message the gateway or the client refuses (and a resumed watch
// meet it again); a change larger than the bound goes alone; nothing is lost, and each
// message's token is the position after its last change.
func TestBatchBytesBound(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	const limit = 3000
	s, _ := e.service(t, Config{BatchBytes: limit, BatchLinger: 50 * time.Millisecond}, nil)
	w := open(t, s, &gatewayv1.WatchRequest{MaxBatch: 100})
	for i := uint64(1); i <= 10; i++ {
		summary := strings.Repeat("s", 1000)
		if i == 6 {
			summary = strings.Repeat("L", 2*limit) // larger than a whole batch
		}
		data, err := proto.Marshal(&eventsv1.Change{
			Sequence:     int64(i),
			ResourceName: fmt.Sprintf("events/e%d", i),
			Kind:         typev1.ChangeKind_CHANGE_KIND_CREATED,
			Resource:     &eventsv1.Change_Event{Event: &eventsv1.Event{Summary: summary}},
		})
		if err != nil {
			t.Fatal(err)
		}
		e.publish(t, "events", data, i)
	}
	var all []got
	batched := false
	for len(all) < 10 {
		m, err := w.next()
		if err != nil {
			t.Fatalf("after %d changes: %v", len(all), err)
		}
		size := 0
		for _, c := range m.GetChanges() {
			size += changeFieldLen(make([]byte, proto.Size(c)))
		}
		if n := len(m.GetChanges()); n > 1 && size > limit {
			t.Fatalf("a message carries %d changes of %d bytes, above the bound of %d", n, size, limit)
		}
		batched = batched || len(m.GetChanges()) > 1
		got := gotOf(m)
		if len(got) > 0 {
			if pos, err := DecodeToken(m.GetResumeToken(), 2); err != nil || pos[0] != got[len(got)-1].seq {
				t.Fatalf("a message ending with change %d has token %v (%v)", got[len(got)-1].seq, pos, err)
			}
		}
		all = append(all, got...)
	}
	wantSeqs(t, all, map[string][]uint64{"events": span(1, 10)})
	if !batched {
		t.Error("no message carried more than one change: the bound split every batch")
	}
}
