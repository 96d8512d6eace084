package jsonl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"

	"github.com/guarantor/guarantor/cmd/guarantor/internal/importers/progress"
)

// fakeConn answers the batch-create calls of the events service, creating everything,
// and keeps what was written.
type fakeConn struct {
	mu      sync.Mutex
	calls   int
	written []string
}

func (f *fakeConn) Invoke(_ context.Context, method string, args, reply any, _ ...grpc.CallOption) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	switch req := args.(type) {
	case *eventsv1.BatchCreateActorsRequest:
		out := reply.(*eventsv1.BatchCreateActorsResponse)
		for _, r := range req.GetRequests() {
			f.written = append(f.written, "actors/"+r.GetActorId())
			out.Outcomes = append(out.Outcomes, typev1.BatchOutcome_BATCH_OUTCOME_CREATED)
		}
	case *eventsv1.BatchCreateEventsRequest:
		out := reply.(*eventsv1.BatchCreateEventsResponse)
		for _, r := range req.GetRequests() {
			f.written = append(f.written, "events/"+r.GetEventId())
			out.Outcomes = append(out.Outcomes, typev1.BatchOutcome_BATCH_OUTCOME_CREATED)
		}
	default:
		return status.Errorf(codes.Unimplemented, "%s", method)
	}
	return nil
}

func (f *fakeConn) NewStream(context.Context, *grpc.StreamDesc, string, ...grpc.CallOption) (grpc.ClientStream, error) {
	return nil, status.Error(codes.Unimplemented, "no streams")
}

func noDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, 10*time.Second)
}

func line(t *testing.T, m proto.Message) string {
	t.Helper()
	b, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func event(id string) *eventsv1.Event {
	return &eventsv1.Event{
		Name: "events/" + id, Type: eventsv1.EventType_EVENT_TYPE_DIPLOMACY, Title: "Meeting " + id,
		When:         &typev1.When{Time: timestamppb.New(time.Date(2026, 1, 6, 0, 0, 0, 0, time.UTC)), Precision: typev1.DatePrecision_DATE_PRECISION_DAY},
		Participants: []*eventsv1.Participant{{Actor: "actors/fra", Role: eventsv1.ParticipantRole_PARTICIPANT_ROLE_HOST}},
	}
}

// oneBadLine is a file of four records whose third line is not JSON, with a blank line
// and a comment (which are not records).
func oneBadLine(t *testing.T) string {
	return strings.Join([]string{
		line(t, &eventsv1.Actor{Name: "actors/fra", Kind: eventsv1.ActorKind_ACTOR_KIND_STATE, DisplayName: "France", CountryCode: "FRA"}),
		line(t, event("e1")),
		`{"@type":"type.googleapis.com/guarantor.events.v1.Event","name":"events/e2",`,
		"",
		"# a comment",
		line(t, event("e3")),
	}, "\n") + "\n"
}

func TestImportGoesOnPastABadLine(t *testing.T) {
	t.Parallel()
	conn := &fakeConn{}
	var out bytes.Buffer
	s, err := Import(context.Background(), conn, noDeadline, strings.NewReader(oneBadLine(t)), Options{Progress: progress.New(&out, false, "x.jsonl", 0)})
	if err != nil {
		t.Fatal(err)
	}
	if s.Read != 4 || s.Created != 3 || s.Rejected != 1 || len(s.Problems) != 1 {
		t.Fatalf("summary %v %+v", s, s.Problems)
	}
	if p := s.Problems[0]; p.Line != 3 || !strings.Contains(p.Reason, "unexpected EOF") {
		t.Errorf("problem %+v, want line 3 with the JSON error", p)
	}
	if got := fmt.Sprint(conn.written); got != "[actors/fra events/e1 events/e3]" {
		t.Errorf("written %s", got)
	}
	if !strings.HasPrefix(out.String(), "x.jsonl: done: 4 rows in ") {
		t.Errorf("progress %q", out.String())
	}
}

func TestImportStrictStopsBeforeWriting(t *testing.T) {
	t.Parallel()
	conn := &fakeConn{}
	s, err := Import(context.Background(), conn, noDeadline, strings.NewReader(oneBadLine(t)), Options{Strict: true})
	if !errors.Is(err, ErrStrict) {
		t.Fatalf("err = %v", err)
	}
	if s.Rejected != 1 || s.Problems[0].Line != 3 || s.Created != 0 || conn.calls != 0 {
		t.Errorf("strict: %v %+v, %d calls", s, s.Problems, conn.calls)
	}
}

func TestImportDryRun(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	// No connection at all: a dry run calls no server.
	s, err := Import(context.Background(), nil, noDeadline, strings.NewReader(oneBadLine(t)), Options{DryRun: true, Progress: progress.New(&out, false, "x.jsonl", 0)})
	if err != nil {
		t.Fatal(err)
	}
	if s.Read != 4 || s.Rejected != 1 || s.Created != 0 || s.Problems[0].Line != 3 {
		t.Errorf("dry run: %v %+v", s, s.Problems)
	}
	if !strings.HasPrefix(out.String(), "x.jsonl: done: 4 rows in ") {
		t.Errorf("progress %q", out.String())
	}
}

// Every kind of bad line is reported with its number and reason, and the next line is read.
func TestBadLines(t *testing.T) {
	t.Parallel()
	good := line(t, event("after"))
	tests := []struct{ name, line, reason string }{
		{"not JSON", "not json", "invalid value"},
		{"unknown type", `{"@type":"type.googleapis.com/google.protobuf.Empty"}`, "google.protobuf.Empty cannot be imported"},
		{"not our type", line(t, &typev1.Source{Publisher: "x"}), "guarantor.type.v1.Source cannot be imported"},
		{"no name", line(t, &eventsv1.Actor{DisplayName: "X"}), "has no name (actors/{id})"},
		{"wrong collection", line(t, &eventsv1.Actor{Name: "events/x", DisplayName: "X"}), "must be actors/{id}"},
		{"breaks a proto rule", line(t, &eventsv1.Actor{Name: "actors/Not_An_Id", DisplayName: "X"}), "actor_id: "},
		{"too long", `{"x":"` + strings.Repeat("a", MaxLine) + `"}`, "longer than 4 MiB"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			file := good + "\n" + tc.line + "\r\n" + good + "\n"
			s, err := Import(context.Background(), nil, noDeadline, strings.NewReader(file), Options{DryRun: true})
			if err != nil {
				t.Fatal(err)
			}
			if s.Read != 3 || s.Rejected != 1 || s.Problems[0].Line != 2 || !strings.Contains(s.Problems[0].Reason, tc.reason) {
				t.Errorf("%v %+v, want line 2 rejected with %q", s, s.Problems, tc.reason)
			}
		})
	}
}
