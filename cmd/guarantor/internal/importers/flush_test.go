package importers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
)

// fakeEvents stands in for the events service behind a grpc.ClientConnInterface: it
// counts the calls by method and keeps what they wrote, and, like the service, a batch of
// events and the actors it carries is all or nothing: it refuses the whole batch when it
// holds an event in refuse or an actor in refuseActors, naming the item.
type fakeEvents struct {
	mu           sync.Mutex
	refuse       map[string]string // event id -> the server's reason
	refuseActors map[string]string // actor id -> the server's reason
	calls        map[string]int    // method -> calls
	sizes        map[string][]int  // method -> events per call
	actorSizes   []int             // actors per BatchCreateEvents call
	actors       map[string]bool
	events       map[string]bool
}

func newFakeEvents(refuse map[string]string) *fakeEvents {
	return &fakeEvents{refuse: refuse, calls: map[string]int{}, sizes: map[string][]int{}, actors: map[string]bool{}, events: map[string]bool{}}
}

func (f *fakeEvents) Invoke(_ context.Context, method string, args, reply any, _ ...grpc.CallOption) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[method]++
	req, ok := args.(*eventsv1.BatchCreateEventsRequest)
	if !ok {
		return status.Errorf(codes.Unimplemented, "%s", method)
	}
	f.sizes[method] = append(f.sizes[method], len(req.GetRequests()))
	f.actorSizes = append(f.actorSizes, len(req.GetActors()))
	refused := func(field string, reason string) error {
		st, _ := status.New(codes.InvalidArgument, "invalid request").WithDetails(&errdetails.BadRequest{
			FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: field, Description: reason}},
		})
		return st.Err()
	}
	sent := map[string]bool{}
	for j, a := range req.GetActors() {
		if reason, ok := f.refuseActors[a.GetActorId()]; ok {
			return refused(fmt.Sprintf("actors[%d].actor.display_name", j), reason)
		}
		sent[a.GetActorId()] = true
	}
	for i, r := range req.GetRequests() {
		if reason, ok := f.refuse[r.GetEventId()]; ok {
			return refused(fmt.Sprintf("requests[%d].event.summary", i), reason)
		}
		for _, p := range r.GetEvent().GetParticipants() {
			if id := strings.TrimPrefix(p.GetActor(), "actors/"); !f.actors[id] && !sent[id] {
				return status.Errorf(codes.FailedPrecondition, "requests[%d]: unknown actor: %s", i, p.GetActor())
			}
		}
	}
	out := reply.(*eventsv1.BatchCreateEventsResponse)
	for _, a := range req.GetActors() {
		outcome := typev1.BatchOutcome_BATCH_OUTCOME_UNCHANGED
		if !f.actors[a.GetActorId()] {
			outcome = typev1.BatchOutcome_BATCH_OUTCOME_CREATED
		}
		out.ActorOutcomes = append(out.ActorOutcomes, outcome)
	}
	for range req.GetRequests() {
		out.Outcomes = append(out.Outcomes, typev1.BatchOutcome_BATCH_OUTCOME_CREATED)
	}
	if req.GetValidateOnly() {
		return nil // the answer of a write, nothing kept
	}
	for _, a := range req.GetActors() {
		f.actors[a.GetActorId()] = true
	}
	for _, r := range req.GetRequests() {
		f.events[r.GetEventId()] = true
	}
	return nil
}

func (f *fakeEvents) NewStream(context.Context, *grpc.StreamDesc, string, ...grpc.CallOption) (grpc.ClientStream, error) {
	return nil, status.Error(codes.Unimplemented, "no streams")
}

func (f *fakeEvents) stored() (actors, events []string) {
	for a := range f.actors {
		actors = append(actors, a)
	}
	for e := range f.events {
		events = append(events, e)
	}
	sort.Strings(actors)
	sort.Strings(events)
	return actors, events
}

// wantNothingStored fails the test if anything was written; what names the import.
func (f *fakeEvents) wantNothingStored(t *testing.T, what string) {
	t.Helper()
	if actors, events := f.stored(); len(actors)+len(events) > 0 {
		t.Errorf("%s wrote events %v and actors %v", what, events, actors)
	}
}

const batchCreateEvents = "/guarantor.events.v1.EventsService/BatchCreateEvents"

// testRow is a valid row: the event id, with its actors as participants.
func testRow(line int, id string, actors ...string) Row {
	r := Row{Line: line, ID: id, Event: &eventsv1.Event{
		Type: eventsv1.EventType_EVENT_TYPE_OTHER, Title: "Event " + id,
		When: &typev1.When{Time: timestamppb.New(time.Date(2024, 1, 6, 0, 0, 0, 0, time.UTC)), Precision: typev1.DatePrecision_DATE_PRECISION_DAY},
	}}
	for _, a := range actors {
		r.Actors = append(r.Actors, &eventsv1.Actor{Name: "actors/" + a, Kind: eventsv1.ActorKind_ACTOR_KIND_GROUP, DisplayName: a})
		r.Event.Participants = append(r.Event.Participants, &eventsv1.Participant{Actor: "actors/" + a, Role: eventsv1.ParticipantRole_PARTICIPANT_ROLE_ATTENDEE})
	}
	return r
}

// emitting is a parser that ignores its input and emits rows.
func emitting(rows ...Row) Parser {
	return func(_ io.Reader, emit func(Row) error) error {
		for _, r := range rows {
			if err := emit(r); err != nil {
				return err
			}
		}
		return nil
	}
}

func testCall(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, 10*time.Second)
}

// A row whose event the server refuses (a rule the client does not know): the event is
// not written, nor the actors it alone needed (they went in the same all-or-nothing call,
// which is sent again without the row); the other rows are written with theirs.
func TestServerRefusesAnEvent(t *testing.T) {
	t.Parallel()
	srv := newFakeEvents(map[string]string{"ev-2": "a rule the client does not know"})
	rows := emitting(
		testRow(2, "ev-1", "shared", "only-1"),
		testRow(3, "ev-2", "shared", "only-2", "only-2b"),
		testRow(4, "ev-3", "only-3"),
	)
	s, err := Import(context.Background(), srv, testCall, []Input{StringInput("f.csv", "")}, rows, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Read != 3 || s.Created != 2 || s.Rejected != 1 || s.ActorsCreated != 3 || s.ActorsExisting != 0 {
		t.Errorf("summary %v", s)
	}
	actors, events := srv.stored()
	if got := fmt.Sprint(events); got != "[ev-1 ev-3]" {
		t.Errorf("events %s: the refused row's event must not be written", got)
	}
	if got := fmt.Sprint(actors); got != "[only-1 only-3 shared]" {
		t.Errorf("actors %s: the refused row's own actors must not be written", got)
	}
	if len(s.Problems) != 1 {
		t.Fatalf("problems %v", s.Problems)
	}
	want := "f.csv:3: events/ev-2: event.summary: a rule the client does not know"
	if got := s.Problems[0].String(); got != want {
		t.Errorf("problem\n%s\nwant\n%s", got, want)
	}

	// The same file again, the server now accepting the row: it goes in with its actors,
	// and the others' actors are found as the first import left them.
	srv.refuse = nil
	s, err = Import(context.Background(), srv, testCall, []Input{StringInput("f.csv", "")}, rows, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Created != 3 || s.Rejected != 0 || s.ActorsCreated != 2 || s.ActorsExisting != 3 {
		t.Errorf("second import: %v %v", s, s.Problems)
	}
}

// An actor the server refuses takes the rows that need it with it, each reported with
// the actor's name and the reason; nothing of those rows is written, and the rows that do
// not need it are.
func TestServerRefusesAnActor(t *testing.T) {
	t.Parallel()
	srv := newFakeEvents(nil)
	srv.refuseActors = map[string]string{"bad": "a rule the client does not know"}
	rows := emitting(
		testRow(2, "ev-1", "shared", "bad"),
		testRow(3, "ev-2", "shared", "fine"),
		testRow(4, "ev-3", "bad", "only-3"),
	)
	s, err := Import(context.Background(), srv, testCall, []Input{StringInput("f.csv", "")}, rows, Options{})
	if err != nil {
		t.Fatal(err)
	}
	actors, events := srv.stored()
	if fmt.Sprint(events) != "[ev-2]" || fmt.Sprint(actors) != "[fine shared]" {
		t.Errorf("wrote events %v and actors %v, want [ev-2] and [fine shared]", events, actors)
	}
	var got []string
	for _, p := range s.Problems {
		got = append(got, p.String())
	}
	want := []string{
		"f.csv:2: events/ev-1: actors/bad: actor.display_name: a rule the client does not know",
		"f.csv:4: events/ev-3: actors/bad: actor.display_name: a rule the client does not know",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("problems\n%v\nwant\n%v", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if s.Created != 1 || s.Rejected != 2 || s.ActorsCreated != 2 {
		t.Errorf("summary %v", s)
	}
}

// A batch carries at most maxBatchItems new actors: the rows are cut into more batches
// when their actors would exceed it, and actors already written are not sent again.
func TestBatchActorsBounded(t *testing.T) {
	t.Parallel()
	var rows []Row
	for i := range 600 {
		rows = append(rows, testRow(i+1, fmt.Sprintf("ev-%d", i), fmt.Sprintf("a-%d", i), fmt.Sprintf("b-%d", i), "everyone"))
	}
	srv := newFakeEvents(nil)
	s, err := Import(context.Background(), srv, testCall, []Input{StringInput("f.csv", "")}, emitting(rows...), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Created != 600 || s.ActorsCreated != 1201 {
		t.Fatalf("summary %v %v", s, s.Problems)
	}
	total := 0
	for _, n := range srv.actorSizes {
		if n > maxBatchItems {
			t.Errorf("a call carried %d actors, more than %d", n, maxBatchItems)
		}
		total += n
	}
	if total != 1201 || len(srv.actorSizes) < 2 {
		t.Errorf("%d actors sent in %d calls, want each of 1201 once, in more than one call", total, len(srv.actorSizes))
	}
}

// A row rejected on the client creates nothing, not even the actors it shares with no
// other row.
func TestClientRejectedRowCreatesNoActor(t *testing.T) {
	t.Parallel()
	srv := newFakeEvents(nil)
	bad := testRow(3, "ev-2", "only-bad")
	bad.Event.Title = ""
	s, err := Import(context.Background(), srv, testCall, []Input{StringInput("f.csv", "")}, emitting(testRow(2, "ev-1", "a"), bad), Options{})
	if err != nil {
		t.Fatal(err)
	}
	actors, events := srv.stored()
	if s.Rejected != 1 || fmt.Sprint(actors) != "[a]" || fmt.Sprint(events) != "[ev-1]" {
		t.Errorf("summary %v %v; actors %v, events %v", s, s.Problems, actors, events)
	}
}

// N rows with a batch size of k make ceil(N/k) BatchCreateEvents calls of at most k rows.
func TestBatchCalls(t *testing.T) {
	t.Parallel()
	tests := []struct{ rows, batchSize, wantCalls int }{
		{7, 3, 3},
		{6, 3, 2},
		{5, 1, 5},
		{1, 3, 1},
		{12, 0, 1}, // 0: DefaultBatchSize
		{DefaultBatchSize + 1, 0, 2},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d rows by %d", tc.rows, tc.batchSize), func(t *testing.T) {
			t.Parallel()
			var rows []Row
			for i := range tc.rows {
				rows = append(rows, testRow(i+1, fmt.Sprintf("ev-%d", i), fmt.Sprintf("actor-%d", i)))
			}
			srv := newFakeEvents(nil)
			s, err := Import(context.Background(), srv, testCall, []Input{StringInput("f.csv", "")}, emitting(rows...), Options{BatchSize: tc.batchSize})
			if err != nil {
				t.Fatal(err)
			}
			if s.Created != tc.rows {
				t.Fatalf("summary %v %v", s, s.Problems)
			}
			k := tc.batchSize
			if k == 0 {
				k = DefaultBatchSize
			}
			if got := srv.calls[batchCreateEvents]; got != tc.wantCalls || got != (tc.rows+k-1)/k {
				t.Errorf("%d BatchCreateEvents calls, want %d", got, tc.wantCalls)
			}
			for _, n := range srv.sizes[batchCreateEvents] {
				if n > k {
					t.Errorf("a call of %d events, more than the batch size %d", n, k)
				}
			}
			// Each batch's new actors go in the call with its events.
			for i, n := range srv.actorSizes {
				if n != srv.sizes[batchCreateEvents][i] {
					t.Errorf("call %d carried %d actors for %d events, each with one new actor", i, n, srv.sizes[batchCreateEvents][i])
				}
			}
		})
	}
}

// --strict has the server check every batch (validate_only) before anything is written:
// a row the server refuses in a later batch leaves nothing behind, not even the earlier
// batches; without a refusal, everything is written once, actors counted once.
func TestStrictChecksWithTheServer(t *testing.T) {
	t.Parallel()
	srv := newFakeEvents(map[string]string{"ev-4": "a rule the client does not know"})
	rows := emitting(
		testRow(2, "ev-1", "shared", "only-1"),
		testRow(3, "ev-2", "shared"),
		testRow(4, "ev-3", "only-3"),
		testRow(5, "ev-4", "shared"),
	)
	opt := Options{Strict: true, BatchSize: 2}
	s, err := Import(context.Background(), srv, testCall, []Input{StringInput("f.csv", "")}, rows, opt)
	if !errors.Is(err, ErrStrict) {
		t.Fatalf("strict import of a file the server refuses a row of: %v, want ErrStrict", err)
	}
	srv.wantNothingStored(t, "the refused strict import")
	if s.Created != 0 || s.Rejected != 1 || s.ActorsCreated != 0 || len(s.Problems) != 1 || s.Problems[0].Line != 5 {
		t.Errorf("summary %v, problems %v; want nothing created and line 5 rejected", s, s.Problems)
	}
	if srv.calls[batchCreateEvents] < 2 {
		t.Errorf("%d calls: the server did not check the batches", srv.calls[batchCreateEvents])
	}

	srv.refuse = nil
	s, err = Import(context.Background(), srv, testCall, []Input{StringInput("f.csv", "")}, rows, opt)
	if err != nil {
		t.Fatal(err)
	}
	actors, events := srv.stored()
	if fmt.Sprint(events) != "[ev-1 ev-2 ev-3 ev-4]" || fmt.Sprint(actors) != "[only-1 only-3 shared]" {
		t.Errorf("wrote events %v and actors %v", events, actors)
	}
	if s.Created != 4 || s.Rejected != 0 || s.ActorsCreated != 3 || s.ActorsExisting != 0 {
		t.Errorf("summary %v: the check pass must not count", s)
	}
}

// A dry run on the server (ValidateOnly) writes nothing and counts what the import would
// do: each actor once, however many batches carry it, and a row repeating an id of an
// earlier batch as an update of what that batch would have written.
func TestServerDryRun(t *testing.T) {
	t.Parallel()
	srv := newFakeEvents(map[string]string{"ev-3": "a rule the client does not know"})
	rows := emitting(
		testRow(2, "ev-1", "shared", "only-1"),
		testRow(3, "ev-2", "shared"),
		testRow(4, "ev-3", "shared"),
		testRow(5, "ev-1", "shared", "only-1"),
	)
	s, err := Import(context.Background(), srv, testCall, []Input{StringInput("f.csv", "")}, rows, Options{ValidateOnly: true, BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	srv.wantNothingStored(t, "a dry run")
	if s.Created != 2 || s.Updated != 1 || s.Rejected != 1 || s.ActorsCreated != 2 || s.ActorsExisting != 0 || !s.Checked {
		t.Errorf("summary %v, problems %v", s, s.Problems)
	}
	want := "read 4, created 2, updated 1, unchanged 0, rejected 1; actors: created 2, existing 0 (dry run on the server: what the import would do; nothing written)"
	if got := s.String(); got != want {
		t.Errorf("summary\n%s\nwant\n%s", got, want)
	}
	// With --strict too, the dry run is the check: it stops at the refused row.
	_, err = Import(context.Background(), srv, testCall, []Input{StringInput("f.csv", "")}, rows, Options{ValidateOnly: true, Strict: true, BatchSize: 2})
	if !errors.Is(err, ErrStrict) {
		t.Errorf("strict dry run: %v, want ErrStrict", err)
	}
	srv.wantNothingStored(t, "a strict dry run")
}
