package gateway_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	gatewayv1 "github.com/guarantor/guarantor/gen/go/guarantor/gateway/v1"
	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
	"github.com/guarantor/guarantor/services/gateway"
)

// openWatch starts a gateway watch and returns it after its first message (the
// bookmark), with that bookmark's resume token.
func openWatch(t testing.TB, ctx context.Context, conn *grpc.ClientConn, req *gatewayv1.WatchRequest) (grpc.ServerStreamingClient[gatewayv1.WatchResponse], string) {
	t.Helper()
	w, err := gatewayv1.NewGatewayServiceClient(conn).Watch(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	first, err := w.Recv()
	if err != nil {
		t.Fatalf("first watch message: %v", err)
	}
	if first.GetType() != typev1.WatchEventType_WATCH_EVENT_TYPE_BOOKMARK || first.GetResumeToken() == "" {
		t.Fatalf("first watch message = %v, want a bookmark with a token", first)
	}
	return w, first.GetResumeToken()
}

// change is what the tests compare of a watched change.
type change struct {
	service string
	seq     int64
	name    string
	token   string
}

func changeOf(m *gatewayv1.WatchResponse) (change, bool) {
	switch {
	case m.GetEventsChange() != nil:
		return change{"events", m.GetEventsChange().GetSequence(), m.GetEventsChange().GetResourceName(), m.GetResumeToken()}, true
	case m.GetGuaranteesChange() != nil:
		return change{"guarantees", m.GetGuaranteesChange().GetSequence(), m.GetGuaranteesChange().GetResourceName(), m.GetResumeToken()}, true
	}
	return change{}, false
}

// collect reads changes (skipping bookmarks) until n arrived or the stream ends.
func collect(t testing.TB, w grpc.ServerStreamingClient[gatewayv1.WatchResponse], n int) ([]change, error) {
	t.Helper()
	var out []change
	for len(out) < n {
		m, err := w.Recv()
		if err != nil {
			return out, err
		}
		if c, ok := changeOf(m); ok {
			out = append(out, c)
		}
	}
	return out, nil
}

// wantInOrder checks that each service's changes arrive with contiguous sequences.
func wantInOrder(t testing.TB, got []change, want map[string][]int64) {
	t.Helper()
	seqs := map[string][]int64{}
	for _, c := range got {
		seqs[c.service] = append(seqs[c.service], c.seq)
	}
	for svc, w := range want {
		if !slices.Equal(seqs[svc], w) {
			t.Fatalf("%s changes arrived as %v, want %v", svc, seqs[svc], w)
		}
	}
	if len(got) != len(want["events"])+len(want["guarantees"]) {
		t.Fatalf("got %d changes, want %d: %v", len(got), len(want["events"])+len(want["guarantees"]), got)
	}
}

func seqRange(from, to int64) []int64 {
	var out []int64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// writeBoth makes nActors actor creations on the events service and nFrameworks
// framework creations on the guarantees service, interleaved and concurrently.
func writeBoth(t testing.TB, s *stack, prefix string, nActors, nFrameworks int) {
	t.Helper()
	ctx := s.ctxAs(editor)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Go(func() {
		for i := range nActors {
			id := fmt.Sprintf("%s-a%d", prefix, i)
			if _, err := eventsv1.NewEventsServiceClient(s.conn).CreateActor(ctx, &eventsv1.CreateActorRequest{ActorId: id, Actor: state("FRA", id)}); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Go(func() {
		for i := range nFrameworks {
			id := fmt.Sprintf("%s-f%d", prefix, i)
			if _, err := guaranteesv1.NewGuaranteesServiceClient(s.conn).CreateFramework(ctx, &guaranteesv1.CreateFrameworkRequest{FrameworkId: id, Framework: framework()}); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestWatchMergesBothServices: changes of both services reach one watcher, each
// service's in its order; filters, licence visibility and bad requests.
func TestWatchMergesBothServices(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{})
	w, start := openWatch(t, s.ctxAs(admin), s.conn, &gatewayv1.WatchRequest{})
	writeBoth(t, s, "m", 12, 6)
	got, err := collect(t, w, 18)
	if err != nil {
		t.Fatal(err)
	}
	wantInOrder(t, got, map[string][]int64{"events": seqRange(1, 12), "guarantees": seqRange(1, 6)})

	// Everything below replays from the first bookmark: the same 18 changes, filtered.
	tests := []struct {
		name string
		req  *gatewayv1.WatchRequest
		want map[string][]int64
	}{
		{"no filter", &gatewayv1.WatchRequest{}, map[string][]int64{"events": seqRange(1, 12), "guarantees": seqRange(1, 6)}},
		{"collections", &gatewayv1.WatchRequest{Collections: []string{"frameworks"}}, map[string][]int64{"guarantees": seqRange(1, 6)}},
		{"name pattern", &gatewayv1.WatchRequest{NamePattern: "actors/m-a1*"}, map[string][]int64{"events": {2, 11, 12}}},
		{"filter service", &gatewayv1.WatchRequest{Filter: `service = "events" AND kind = CREATED`}, map[string][]int64{"events": seqRange(1, 12)}},
		{"filter name prefix", &gatewayv1.WatchRequest{Filter: `name:"frameworks/m-f1*" OR name = "actors/m-a0"`}, map[string][]int64{"events": {1}, "guarantees": {2}}},
		{"filter not", &gatewayv1.WatchRequest{Filter: `NOT collection = "actors"`}, map[string][]int64{"guarantees": seqRange(1, 6)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.ResumeToken = start
			w, _ := openWatch(t, s.ctxAs(admin), s.conn, tt.req)
			n := len(tt.want["events"]) + len(tt.want["guarantees"])
			got, err := collect(t, w, n)
			if err != nil {
				t.Fatal(err)
			}
			wantInOrder(t, got, tt.want)
			// Nothing more matches: the next message is a bookmark.
			if m, err := w.Recv(); err != nil || m.GetType() != typev1.WatchEventType_WATCH_EVENT_TYPE_BOOKMARK {
				t.Fatalf("after the matches: %v, %v; want a bookmark", m, err)
			}
		})
	}

	bad := []struct {
		name string
		req  *gatewayv1.WatchRequest
		want codes.Code
	}{
		{"unknown filter field", &gatewayv1.WatchRequest{Filter: `colour = "red"`}, codes.InvalidArgument},
		{"unknown kind", &gatewayv1.WatchRequest{Filter: `kind = EXPLODED`}, codes.InvalidArgument},
		{"unsupported operator", &gatewayv1.WatchRequest{Filter: `name > "a"`}, codes.InvalidArgument},
		{"unknown collection", &gatewayv1.WatchRequest{Collections: []string{"widgets"}}, codes.InvalidArgument},
		{"garbage token", &gatewayv1.WatchRequest{ResumeToken: "not-a-token"}, codes.InvalidArgument},
		{"token beyond the stream", &gatewayv1.WatchRequest{ResumeToken: tokenAt(t, 1000, 0)}, codes.OutOfRange},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			w, err := gatewayv1.NewGatewayServiceClient(s.conn).Watch(s.ctxAs(admin), tt.req)
			if err == nil {
				_, err = w.Recv()
			}
			wantCode(t, err, tt.want)
		})
	}
}

// tokenAt makes a resume token through the gateway's own encoding (exported for tests
// via the watch package would be internal; this mirrors its documented format).
func tokenAt(t testing.TB, events, guarantees uint64) string {
	t.Helper()
	return gateway.ResumeToken(events, guarantees)
}

// TestWatchLicence: the gateway reads NATS itself, so it must hide ACLED-licensed
// records from watchers not entitled to them.
func TestWatchLicence(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{noGuarantees: true})
	_, start := openWatch(t, s.ctxAs(viewer), s.conn, &gatewayv1.WatchRequest{})
	ev := eventsv1.NewEventsServiceClient(s.conn)
	restricted := summit()
	restricted.License = typev1.License_LICENSE_ACLED
	if _, err := ev.CreateEvent(s.ctxAs(admin), &eventsv1.CreateEventRequest{EventId: "acled-row", Event: restricted}); err != nil {
		t.Fatal(err)
	}
	if _, err := ev.CreateEvent(s.ctxAs(admin), &eventsv1.CreateEventRequest{EventId: "public-row", Event: summit()}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		key  string
		want []string
	}{
		{viewer, []string{"events/public-row"}},
		{editor, []string{"events/public-row"}},
		{analyst, []string{"events/acled-row", "events/public-row"}},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			w, _ := openWatch(t, s.ctxAs(tt.key), s.conn, &gatewayv1.WatchRequest{ResumeToken: start})
			got, err := collect(t, w, len(tt.want))
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, c := range got {
				names = append(names, c.name)
			}
			if !slices.Equal(names, tt.want) {
				t.Fatalf("watched %v, want %v", names, tt.want)
			}
		})
	}
}

// TestWatchResume: a client that disconnects and resumes from the token of the last
// change it received misses nothing and sees nothing twice.
func TestWatchResume(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{})
	ctx, cancel := context.WithCancel(s.ctxAs(admin))
	w, _ := openWatch(t, ctx, s.conn, &gatewayv1.WatchRequest{})
	writeBoth(t, s, "r1", 5, 3)
	first, err := collect(t, w, 4)
	if err != nil {
		t.Fatal(err)
	}
	cancel() // the client goes away mid-stream
	writeBoth(t, s, "r2", 5, 3)
	w2, _ := openWatch(t, s.ctxAs(admin), s.conn, &gatewayv1.WatchRequest{ResumeToken: first[len(first)-1].token})
	rest, err := collect(t, w2, 16-len(first))
	if err != nil {
		t.Fatal(err)
	}
	wantInOrder(t, append(first, rest...), map[string][]int64{"events": seqRange(1, 10), "guarantees": seqRange(1, 6)})
}

// TestWatchSlowClientDoesNotDelayFastOne: a client that reads slowly has its stream
// ended with a resumable RESOURCE_EXHAUSTED while a fast client on the same gateway gets
// every change at once; the slow client resumes from the error's token without a gap.
func TestWatchSlowClientDoesNotDelayFastOne(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{noGuarantees: true, tune: func(c *gateway.Config) {
		c.Watch.Buffer = 8
		c.Watch.OverflowGrace = 300 * time.Millisecond
	}})
	// The slow client gets its own connection with a fixed flow-control window, so the
	// gateway's sends to it block once it stops reading.
	slowConn, err := grpc.NewClient(s.gw.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = slowConn.Close() })
	slow, start := openWatch(t, s.ctxAs(viewer), slowConn, &gatewayv1.WatchRequest{})
	fast, _ := openWatch(t, s.ctxAs(viewer), s.conn, &gatewayv1.WatchRequest{})

	const n = 300
	long := strings.Repeat("A long summary that makes every change a few kilobytes. ", 70)
	reqs := make([]*eventsv1.CreateEventRequest, n)
	for i := range reqs {
		e := summit()
		e.Summary = long
		reqs[i] = &eventsv1.CreateEventRequest{EventId: fmt.Sprintf("e%03d", i), Event: e}
	}
	if _, err := eventsv1.NewEventsServiceClient(s.conn).BatchCreateEvents(s.ctxAs(editor), &eventsv1.BatchCreateEventsRequest{Requests: reqs}); err != nil {
		t.Fatal(err)
	}

	var slowGot []change
	var slowErr error
	slowDone := make(chan struct{})
	go func() {
		defer close(slowDone)
		for {
			m, err := slow.Recv()
			if err != nil {
				slowErr = err
				return
			}
			if c, ok := changeOf(m); ok {
				slowGot = append(slowGot, c)
			}
			// Slower per message than the overflow grace: once its window and buffer are
			// full, each push waits longer than the grace and the watch must end.
			time.Sleep(500 * time.Millisecond)
		}
	}()

	fastGot, fastOverflows := collectResuming(t, s, fast, n)
	wantInOrder(t, fastGot, map[string][]int64{"events": seqRange(1, n)})
	select {
	case <-slowDone:
		t.Fatalf("the slow watcher's stream ended before the fast one had every change")
	default:
	}
	t.Logf("fast watcher: all %d changes (%d overflows on a loaded machine)", n, fastOverflows)
	select {
	case <-slowDone:
	case <-time.After(60 * time.Second):
		t.Fatal("the slow watcher's stream never ended")
	}
	if len(slowGot) >= n {
		t.Fatalf("the slow watcher received all %d changes: it was not slow enough to test anything", n)
	}
	t.Logf("slow watcher: %d of %d changes before %v", len(slowGot), n, slowErr)
	st := wantCode(t, slowErr, codes.ResourceExhausted)
	token := overflowToken(slowErr)
	if token == "" {
		t.Fatalf("overflow error without a resume token: %v", st.Proto())
	}
	if len(slowGot) > 0 && slowGot[len(slowGot)-1].token != token {
		t.Fatalf("overflow token %q is not the token of the last change received (%q)", token, slowGot[len(slowGot)-1].token)
	}
	if len(slowGot) == 0 && token != start {
		// Nothing delivered: the token is still the starting position.
		t.Logf("no change delivered before the overflow; token %q, start %q", token, start)
	}
	resumed, _ := openWatch(t, s.ctxAs(viewer), s.conn, &gatewayv1.WatchRequest{ResumeToken: token})
	rest, _ := collectResuming(t, s, resumed, n-len(slowGot))
	wantInOrder(t, append(slowGot, rest...), map[string][]int64{"events": seqRange(1, n)})
}

// collectResuming reads n changes as a well-behaved client does: when the gateway ends
// the stream for a full buffer, it watches again from the error's resume token.
func collectResuming(t testing.TB, s *stack, w grpc.ServerStreamingClient[gatewayv1.WatchResponse], n int) ([]change, int) {
	t.Helper()
	var out []change
	overflows := 0
	for {
		got, err := collect(t, w, n-len(out))
		out = append(out, got...)
		if err == nil {
			return out, overflows
		}
		token := overflowToken(err)
		if token == "" {
			t.Fatalf("watch: %v after %d changes", err, len(out))
		}
		overflows++
		w, _ = openWatch(t, s.ctxAs(viewer), s.conn, &gatewayv1.WatchRequest{ResumeToken: token})
	}
}

// overflowToken is the resume token of a WATCH_BUFFER_OVERFLOW error, or "".
func overflowToken(err error) string {
	st, _ := status.FromError(err)
	if st.Code() != codes.ResourceExhausted {
		return ""
	}
	for _, d := range st.Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok && ei.GetReason() == "WATCH_BUFFER_OVERFLOW" {
			return ei.GetMetadata()["resume_token"]
		}
	}
	return ""
}
