package importers

import (
	"context"
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
// counts the calls by method and keeps what they wrote, and, like the service, a batch
// is all or nothing: it refuses the whole batch when it holds an event in refuse, naming
// the item, after its actors were written by the call before.
type fakeEvents struct {
	mu     sync.Mutex
	refuse map[string]string // event id -> the server's reason
	calls  map[string]int    // method -> calls
	sizes  map[string][]int  // method -> items per call
	actors map[string]bool
	events map[string]bool
}

func newFakeEvents(refuse map[string]string) *fakeEvents {
	return &fakeEvents{refuse: refuse, calls: map[string]int{}, sizes: map[string][]int{}, actors: map[string]bool{}, events: map[string]bool{}}
}

func (f *fakeEvents) Invoke(_ context.Context, method string, args, reply any, _ ...grpc.CallOption) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[method]++
	switch req := args.(type) {
	case *eventsv1.BatchCreateActorsRequest:
		f.sizes[method] = append(f.sizes[method], len(req.GetRequests()))
		out := reply.(*eventsv1.BatchCreateActorsResponse)
		for _, r := range req.GetRequests() {
			outcome := typev1.BatchOutcome_BATCH_OUTCOME_UNCHANGED
			if !f.actors[r.GetActorId()] {
				outcome = typev1.BatchOutcome_BATCH_OUTCOME_CREATED
			}
			f.actors[r.GetActorId()] = true
			out.Outcomes = append(out.Outcomes, outcome)
		}
	case *eventsv1.BatchCreateEventsRequest:
		f.sizes[method] = append(f.sizes[method], len(req.GetRequests()))
		for i, r := range req.GetRequests() {
			if reason, ok := f.refuse[r.GetEventId()]; ok {
				st, _ := status.New(codes.InvalidArgument, "invalid request").WithDetails(&errdetails.BadRequest{
					FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: fmt.Sprintf("requests[%d].event.summary", i), Description: reason}},
				})
				return st.Err()
			}
			for _, p := range r.GetEvent().GetParticipants() {
				if !f.actors[strings.TrimPrefix(p.GetActor(), "actors/")] {
					return status.Errorf(codes.FailedPrecondition, "requests[%d]: unknown actor: %s", i, p.GetActor())
				}
			}
		}
		out := reply.(*eventsv1.BatchCreateEventsResponse)
		for _, r := range req.GetRequests() {
			f.events[r.GetEventId()] = true
			out.Outcomes = append(out.Outcomes, typev1.BatchOutcome_BATCH_OUTCOME_CREATED)
		}
	default:
		return status.Errorf(codes.Unimplemented, "%s", method)
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

const (
	batchCreateEvents = "/guarantor.events.v1.EventsService/BatchCreateEvents"
	batchCreateActors = "/guarantor.events.v1.EventsService/BatchCreateActors"
)

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

// A row whose event the server refuses (a rule the client does not know) after the
// importer created its actors: the event is not written, the other rows are, the actors
// created for the refused row alone remain (the API gives no way to take them back;
// see the package doc), and its problem names them.
func TestServerRefusesAnEventAfterItsActors(t *testing.T) {
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
	if s.Read != 3 || s.Created != 2 || s.Rejected != 1 || s.ActorsCreated != 5 {
		t.Errorf("summary %v", s)
	}
	actors, events := srv.stored()
	if got := fmt.Sprint(events); got != "[ev-1 ev-3]" {
		t.Errorf("events %s: the refused row's event must not be written", got)
	}
	// What remains of the refused row: its own actors (shared is needed by ev-1).
	if got := fmt.Sprint(actors); got != "[only-1 only-2 only-2b only-3 shared]" {
		t.Errorf("actors %s", got)
	}
	if len(s.Problems) != 1 {
		t.Fatalf("problems %v", s.Problems)
	}
	want := "f.csv:3: events/ev-2: event.summary: a rule the client does not know (the actors created for this row remain: actors/only-2, actors/only-2b)"
	if got := s.Problems[0].String(); got != want {
		t.Errorf("problem\n%s\nwant\n%s", got, want)
	}

	// The same file again, the server now accepting the row: it goes in, with its actors
	// found where the first import left them.
	srv.refuse = nil
	s, err = Import(context.Background(), srv, testCall, []Input{StringInput("f.csv", "")}, rows, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Created != 3 || s.Rejected != 0 || s.ActorsCreated != 0 || s.ActorsExisting != 5 {
		t.Errorf("second import: %v %v", s, s.Problems)
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
			// Each batch's new actors go in one call before its events.
			if got := srv.calls[batchCreateActors]; got != tc.wantCalls {
				t.Errorf("%d BatchCreateActors calls, want %d", got, tc.wantCalls)
			}
		})
	}
}
