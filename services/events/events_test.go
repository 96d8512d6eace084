package events_test

// The contract suite of the events service: every test runs through the real gRPC server
// (real interceptors, real principal verification) against each store implementation.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
	"github.com/guarantor/guarantor/platform/changelog"
	"github.com/guarantor/guarantor/platform/principal"
	"github.com/guarantor/guarantor/platform/retention"
	"github.com/guarantor/guarantor/platform/service"
	"github.com/guarantor/guarantor/platform/testkit/servicetest"
	"github.com/guarantor/guarantor/services/events"
	"github.com/guarantor/guarantor/services/events/eventstest"
)

func forEachBackend(t *testing.T, fn func(t *testing.T, h *eventstest.Harness)) {
	servicetest.ForEachBackend(t, func(t *testing.T, b servicetest.Backend) { fn(t, eventstest.Start(t, b)) })
}

func ctxAs(t *testing.T, h *eventstest.Harness, p principal.Principal) context.Context {
	return h.Context(t, p)
}

var (
	wantCode   = servicetest.WantCode
	violations = servicetest.Violations
)

func date(s string) *timestamppb.Timestamp {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return timestamppb.New(t)
}

func state(code, name string) *eventsv1.Actor {
	return &eventsv1.Actor{Kind: eventsv1.ActorKind_ACTOR_KIND_STATE, DisplayName: name, CountryCode: code, Tags: []string{"seed"}}
}

func seedActors(t *testing.T, h *eventstest.Harness, ctx context.Context) {
	t.Helper()
	c := h.Client()
	for id, a := range map[string]*eventsv1.Actor{
		"fra": state("FRA", "France"), "gbr": state("GBR", "United Kingdom"), "ukr": state("UKR", "Ukraine"),
		"rus": state("RUS", "Russia"),
	} {
		if _, err := c.CreateActor(ctx, &eventsv1.CreateActorRequest{ActorId: id, Actor: a}); err != nil {
			t.Fatalf("create actor %s: %v", id, err)
		}
	}
}

func summit() *eventsv1.Event {
	return &eventsv1.Event{
		Type:     eventsv1.EventType_EVENT_TYPE_DIPLOMACY,
		SubType:  "summit",
		Title:    "Paris meeting on security guarantees for Ukraine",
		Summary:  "Leaders confirmed plans for multilayered guarantees and military hubs.",
		When:     &typev1.When{Time: date("2024-01-06"), Precision: typev1.DatePrecision_DATE_PRECISION_DAY},
		Location: &eventsv1.Location{Place: "Paris", CountryCode: "FRA"},
		Participants: []*eventsv1.Participant{
			{Actor: "actors/fra", Role: eventsv1.ParticipantRole_PARTICIPANT_ROLE_HOST},
			{Actor: "actors/gbr", Role: eventsv1.ParticipantRole_PARTICIPANT_ROLE_ATTENDEE},
			{Actor: "actors/ukr", Role: eventsv1.ParticipantRole_PARTICIPANT_ROLE_ATTENDEE},
		},
		Counts:    []*eventsv1.Count{{Kind: "participants", Value: 35}, {Kind: "heads_of_state_and_government", Value: 27}},
		Sources:   []*typev1.Source{{Publisher: "Press article", Url: "https://example.org/paris"}},
		Quotes:    []*eventsv1.Quote{{Speaker: "actors/gbr", Text: "excellent progress"}},
		CameoCode: "036",
		Tags:      []string{"seed", "paris"},
	}
}

// withAttendee adds actor to e's participants as an attendee.
func withAttendee(e *eventsv1.Event, actor string) *eventsv1.Event {
	e.Participants = append(e.Participants, &eventsv1.Participant{Actor: actor, Role: eventsv1.ParticipantRole_PARTICIPANT_ROLE_ATTENDEE})
	return e
}

func strike() *eventsv1.Event {
	return &eventsv1.Event{
		Type:         eventsv1.EventType_EVENT_TYPE_MILITARY,
		SubType:      "air_drone_strike",
		Title:        "SBU drone strikes on an arsenal in the Kostroma region",
		When:         &typev1.When{Time: date("2024-01-06"), Precision: typev1.DatePrecision_DATE_PRECISION_DAY},
		Location:     &eventsv1.Location{Place: "Kostroma", Admin1: "Kostroma Oblast", CountryCode: "RUS"},
		Participants: []*eventsv1.Participant{{Actor: "actors/ukr", Role: eventsv1.ParticipantRole_PARTICIPANT_ROLE_PERPETRATOR}},
		CameoCode:    "195",
		Tags:         []string{"seed", "strike"},
	}
}

func TestHealthAndAuthentication(t *testing.T) {
	t.Parallel()
	h := eventstest.Start(t, eventstest.SQLite)
	ctx := context.Background()
	resp, err := healthpb.NewHealthClient(h.Conn).Check(ctx, &healthpb.HealthCheckRequest{Service: eventsv1.EventsService_ServiceDesc.ServiceName})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, %v", resp, err)
	}
	_, err = h.Client().ListEvents(ctx, &eventsv1.ListEventsRequest{})
	wantCode(t, err, codes.Unauthenticated)

	// A principal signed with another key (a forger who reached the service directly).
	forger := &eventstest.Harness{T: t, Key: []byte(strings.Repeat("f", 32))}
	_, err = h.Client().ListEvents(forger.As(ctx, eventstest.Admin), &eventsv1.ListEventsRequest{})
	wantCode(t, err, codes.Unauthenticated)

	_, err = h.Client().CreateActor(ctxAs(t, h, eventstest.Viewer), &eventsv1.CreateActorRequest{ActorId: "fra", Actor: state("FRA", "France")})
	wantCode(t, err, codes.PermissionDenied)
}

func TestCreateGetAndIdempotency(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *eventstest.Harness) {
		ctx := ctxAs(t, h, eventstest.Editor)
		c := h.Client()
		seedActors(t, h, ctx)
		req := &eventsv1.CreateEventRequest{EventId: "paris-summit", Event: summit(), RequestId: "req-1"}
		first, err := c.CreateEvent(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		e := first.GetEvent()
		if e.GetName() != "events/paris-summit" || e.GetEtag() == "" || e.GetRevision() == 0 || e.GetCreateTime() == nil {
			t.Fatalf("created event lacks server fields: %v", e)
		}
		if e.GetLicense() != typev1.License_LICENSE_PUBLIC || e.GetVisibility() != typev1.Visibility_VISIBILITY_PUBLIC {
			t.Errorf("licence not defaulted: %v %v", e.GetLicense(), e.GetVisibility())
		}
		again, err := c.CreateEvent(ctx, req)
		if err != nil {
			t.Fatalf("retry with the same request_id: %v", err)
		}
		if !proto.Equal(again.GetEvent(), e) {
			t.Errorf("retry answered differently:\n%v\n%v", again.GetEvent(), e)
		}
		_, err = c.CreateEvent(ctx, &eventsv1.CreateEventRequest{EventId: "paris-summit", Event: summit(), RequestId: "req-2"})
		wantCode(t, err, codes.AlreadyExists)
		_, err = c.CreateEvent(ctx, &eventsv1.CreateEventRequest{EventId: "paris-summit", Event: summit()})
		wantCode(t, err, codes.AlreadyExists)

		got, err := c.GetEvent(ctx, &eventsv1.GetEventRequest{Name: "events/paris-summit"})
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got.GetEvent(), e) {
			t.Errorf("get = %v, want %v", got.GetEvent(), e)
		}
		_, err = c.GetEvent(ctx, &eventsv1.GetEventRequest{Name: "events/nope"})
		wantCode(t, err, codes.NotFound)
	})
}

func TestInvalidRequests(t *testing.T) {
	t.Parallel()
	h := eventstest.Start(t, eventstest.SQLite)
	ctx := ctxAs(t, h, eventstest.Editor)
	c := h.Client()
	seedActors(t, h, ctx)
	noTitle := summit()
	noTitle.Title = ""
	badQuote := summit()
	badQuote.Quotes[0].SourceIndex = 5
	badCameo := summit()
	badCameo.CameoCode = "19x"
	tests := []struct {
		name  string
		req   *eventsv1.CreateEventRequest
		field string
	}{
		{"missing title", &eventsv1.CreateEventRequest{EventId: "a", Event: noTitle}, "event.title"},
		{"bad id", &eventsv1.CreateEventRequest{EventId: "Not_An_Id", Event: summit()}, "event_id"},
		{"missing id", &eventsv1.CreateEventRequest{Event: summit()}, "event_id"},
		{"missing event", &eventsv1.CreateEventRequest{EventId: "a"}, "event"},
		{"quote source out of range", &eventsv1.CreateEventRequest{EventId: "a", Event: badQuote}, "event.quotes[0].source_index"},
		{"cameo code not digits", &eventsv1.CreateEventRequest{EventId: "a", Event: badCameo}, "event.cameo_code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.CreateEvent(ctx, tt.req)
			st := wantCode(t, err, codes.InvalidArgument)
			if v := violations(st); !slices.Contains(v, tt.field) {
				t.Errorf("violations = %v, want %s", v, tt.field)
			}
		})
	}
	_, err := c.ListEvents(ctx, &eventsv1.ListEventsRequest{PageSize: -1})
	if v := violations(wantCode(t, err, codes.InvalidArgument)); !slices.Contains(v, "page_size") {
		t.Errorf("violations = %v", v)
	}
	unknown := summit()
	unknown.Participants = append(unknown.Participants, &eventsv1.Participant{Actor: "actors/atlantis", Role: eventsv1.ParticipantRole_PARTICIPANT_ROLE_HOST})
	_, err = c.CreateEvent(ctx, &eventsv1.CreateEventRequest{EventId: "a", Event: unknown})
	if st := wantCode(t, err, codes.FailedPrecondition); !strings.Contains(st.Message(), "actors/atlantis") {
		t.Errorf("message %q does not name the unknown actor", st.Message())
	}
}

func TestUpdateAndDelete(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *eventstest.Harness) {
		ctx := ctxAs(t, h, eventstest.Editor)
		c := h.Client()
		seedActors(t, h, ctx)
		created, err := c.CreateEvent(ctx, &eventsv1.CreateEventRequest{EventId: "paris", Event: summit()})
		if err != nil {
			t.Fatal(err)
		}
		old := created.GetEvent()
		upd, err := c.UpdateEvent(ctx, &eventsv1.UpdateEventRequest{
			Event:      &eventsv1.Event{Name: "events/paris", Title: "Coalition of the willing meets in Paris", Etag: old.GetEtag(), Summary: "ignored"},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		e := upd.GetEvent()
		if e.GetTitle() != "Coalition of the willing meets in Paris" || e.GetSummary() != old.GetSummary() || e.GetEtag() == old.GetEtag() {
			t.Errorf("update result %v", e)
		}
		_, err = c.UpdateEvent(ctx, &eventsv1.UpdateEventRequest{
			Event:      &eventsv1.Event{Name: "events/paris", Title: "stale", Etag: old.GetEtag()},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}},
		})
		wantCode(t, err, codes.Aborted)
		for _, path := range []string{"etag", "colour", "visibility"} {
			_, err = c.UpdateEvent(ctx, &eventsv1.UpdateEventRequest{
				Event: &eventsv1.Event{Name: "events/paris"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{path}},
			})
			if v := violations(wantCode(t, err, codes.InvalidArgument)); !slices.Contains(v, "update_mask") {
				t.Errorf("path %s: violations %v", path, v)
			}
		}
		_, err = c.UpdateEvent(ctx, &eventsv1.UpdateEventRequest{
			Event: &eventsv1.Event{Name: "events/paris"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}},
		})
		if v := violations(wantCode(t, err, codes.InvalidArgument)); !slices.Contains(v, "event.title") {
			t.Errorf("clearing a required field: violations %v", v)
		}

		_, err = c.DeleteEvent(ctx, &eventsv1.DeleteEventRequest{Name: "events/paris", Etag: old.GetEtag()})
		wantCode(t, err, codes.Aborted)
		del, err := c.DeleteEvent(ctx, &eventsv1.DeleteEventRequest{Name: "events/paris", Etag: e.GetEtag()})
		if err != nil {
			t.Fatal(err)
		}
		if del.GetEvent().GetDeleteTime() == nil {
			t.Error("tombstone has no delete_time")
		}
		_, err = c.GetEvent(ctx, &eventsv1.GetEventRequest{Name: "events/paris"})
		wantCode(t, err, codes.NotFound)
		tomb, err := c.GetEvent(ctx, &eventsv1.GetEventRequest{Name: "events/paris", ShowDeleted: true})
		if err != nil || tomb.GetEvent().GetDeleteTime() == nil {
			t.Fatalf("show_deleted get = %v, %v", tomb, err)
		}
		list, err := c.ListEvents(ctx, &eventsv1.ListEventsRequest{})
		if err != nil || len(list.GetEvents()) != 0 {
			t.Fatalf("list after delete = %v, %v", list, err)
		}
		list, err = c.ListEvents(ctx, &eventsv1.ListEventsRequest{ShowDeleted: true})
		if err != nil || len(list.GetEvents()) != 1 {
			t.Fatalf("list show_deleted = %v, %v", list, err)
		}
		_, err = c.UpdateEvent(ctx, &eventsv1.UpdateEventRequest{Event: &eventsv1.Event{Name: "events/paris", Title: "x"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}}})
		wantCode(t, err, codes.NotFound)
		_, err = c.CreateEvent(ctx, &eventsv1.CreateEventRequest{EventId: "paris", Event: summit()})
		wantCode(t, err, codes.AlreadyExists)
	})
}

func names(es []*eventsv1.Event) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = strings.TrimPrefix(e.GetName(), "events/")
	}
	return out
}

func TestListFilters(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *eventstest.Harness) {
		ctx := ctxAs(t, h, eventstest.Editor)
		c := h.Client()
		seedActors(t, h, ctx)
		later := strike()
		later.When.Time = date("2024-02-10")
		later.Title = "Shelling near Kharkiv"
		later.SubType = "shelling"
		later.CameoCode = "1951"
		later.Location = &eventsv1.Location{Place: "Kharkiv", CountryCode: "UKR"}
		later.Participants = []*eventsv1.Participant{{Actor: "actors/rus", Role: eventsv1.ParticipantRole_PARTICIPANT_ROLE_PERPETRATOR}}
		later.Tags = []string{"strike"}
		for _, it := range []struct {
			id string
			e  *eventsv1.Event
		}{{"paris", summit()}, {"kostroma", strike()}, {"kharkiv", later}} {
			if _, err := c.CreateEvent(ctx, &eventsv1.CreateEventRequest{EventId: it.id, Event: it.e}); err != nil {
				t.Fatal(err)
			}
		}
		tests := []struct {
			filter, orderBy string
			want            []string
		}{
			{"", "", []string{"kharkiv", "kostroma", "paris"}},
			{"type = DIPLOMACY", "", []string{"paris"}},
			{"type = MILITARY AND sub_type = \"shelling\"", "", []string{"kharkiv"}},
			{`when.time >= "2024-02-01"`, "", []string{"kharkiv"}},
			{`when.time < "2024-02-01T00:00:00Z"`, "create_time", []string{"paris", "kostroma"}},
			{`location.country_code = "RUS" OR country = "FRA"`, "", []string{"kostroma", "paris"}},
			{`participant = "actors/ukr"`, "", []string{"kostroma", "paris"}},
			{`participant:"actors/gbr"`, "", []string{"paris"}},
			{`cameo_code:"19*"`, "", []string{"kharkiv", "kostroma"}},
			{`cameo_code = "195"`, "", []string{"kostroma"}},
			{`tags:"seed" AND NOT tags:"paris"`, "", []string{"kostroma"}},
			{`tags:"pa*"`, "", []string{"paris"}},
			{`license = PUBLIC`, "", []string{"kharkiv", "kostroma", "paris"}},
			{`search:"military hubs"`, "", []string{"paris"}},
			{`search:"excellent"`, "", []string{"paris"}},
			{`search:"Kostroma"`, "", []string{"kostroma"}},
			{`type != DIPLOMACY`, "when.time", []string{"kostroma", "kharkiv"}},
		}
		for _, tt := range tests {
			t.Run(tt.filter, func(t *testing.T) {
				resp, err := c.ListEvents(ctx, &eventsv1.ListEventsRequest{Filter: tt.filter, OrderBy: tt.orderBy})
				if err != nil {
					t.Fatal(err)
				}
				if got := names(resp.GetEvents()); !slices.Equal(got, tt.want) {
					t.Errorf("got %v, want %v", got, tt.want)
				}
			})
		}
		for _, bad := range []struct{ filter, at string }{
			{`colour = "red"`, "position 1"},
			{`type = DIPLOMACY AND when.time > "soon"`, "position 34"},
			{`type = `, "position 8"},
		} {
			_, err := c.ListEvents(ctx, &eventsv1.ListEventsRequest{Filter: bad.filter})
			st := wantCode(t, err, codes.InvalidArgument)
			if !strings.Contains(st.Message(), bad.at) && !strings.Contains(fmt.Sprint(st.Details()), bad.at) {
				t.Errorf("filter %q: error %v does not point at %s", bad.filter, st, bad.at)
			}
		}
		_, err := c.ListEvents(ctx, &eventsv1.ListEventsRequest{OrderBy: "title"})
		wantCode(t, err, codes.InvalidArgument)
	})
}

func TestPagination(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *eventstest.Harness) {
		ctx := ctxAs(t, h, eventstest.Editor)
		c := h.Client()
		seedActors(t, h, ctx)
		var reqs []*eventsv1.CreateEventRequest
		for i := range 7 {
			e := strike()
			e.When.Time = timestamppb.New(date("2024-01-01").AsTime().Add(time.Duration(i%3) * 24 * time.Hour))
			reqs = append(reqs, &eventsv1.CreateEventRequest{EventId: fmt.Sprintf("e%d", i), Event: e})
		}
		if _, err := c.BatchCreateEvents(ctx, &eventsv1.BatchCreateEventsRequest{Requests: reqs}); err != nil {
			t.Fatal(err)
		}
		var all []string
		token := ""
		for page := 0; ; page++ {
			resp, err := c.ListEvents(ctx, &eventsv1.ListEventsRequest{PageSize: 3, PageToken: token, Filter: "type = MILITARY", IncludeTotal: true})
			if err != nil {
				t.Fatal(err)
			}
			if resp.TotalSize == nil || resp.GetTotalSize() != 7 {
				t.Errorf("total_size = %v, want 7", resp.TotalSize)
			}
			if resp.GetResourceVersion() == 0 {
				t.Error("no resource_version")
			}
			all = append(all, names(resp.GetEvents())...)
			token = resp.GetNextPageToken()
			if token == "" {
				break
			}
			if page > 5 {
				t.Fatal("pagination does not end")
			}
		}
		want := []string{"e2", "e5", "e1", "e4", "e0", "e3", "e6"}
		if !slices.Equal(all, want) {
			t.Errorf("pages = %v, want %v", all, want)
		}
		first, err := c.ListEvents(ctx, &eventsv1.ListEventsRequest{PageSize: 3, Filter: "type = MILITARY"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.ListEvents(ctx, &eventsv1.ListEventsRequest{PageSize: 3, Filter: "type = DIPLOMACY", PageToken: first.GetNextPageToken()})
		if v := violations(wantCode(t, err, codes.InvalidArgument)); !slices.Contains(v, "page_token") {
			t.Errorf("violations %v", v)
		}
		_, err = c.ListEvents(ctx, &eventsv1.ListEventsRequest{PageToken: "garbage"})
		wantCode(t, err, codes.InvalidArgument)
		big, err := c.ListEvents(ctx, &eventsv1.ListEventsRequest{PageSize: 100000})
		if err != nil || len(big.GetEvents()) != 7 {
			t.Errorf("page_size above the maximum = %v, %v", len(big.GetEvents()), err)
		}
	})
}

func TestBatchCreate(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *eventstest.Harness) {
		ctx := ctxAs(t, h, eventstest.Editor)
		c := h.Client()
		seedActors(t, h, ctx)
		batch := func(policy typev1.ExistingPolicy, events ...*eventsv1.Event) (*eventsv1.BatchCreateEventsResponse, error) {
			req := &eventsv1.BatchCreateEventsRequest{ExistingPolicy: policy}
			for i, e := range events {
				req.Requests = append(req.Requests, &eventsv1.CreateEventRequest{EventId: fmt.Sprintf("b%d", i), Event: e})
			}
			return c.BatchCreateEvents(ctx, req)
		}
		resp, err := batch(typev1.ExistingPolicy_EXISTING_POLICY_FAIL, strike(), summit())
		if err != nil {
			t.Fatal(err)
		}
		created := typev1.BatchOutcome_BATCH_OUTCOME_CREATED
		if !slices.Equal(resp.GetOutcomes(), []typev1.BatchOutcome{created, created}) {
			t.Errorf("outcomes %v", resp.GetOutcomes())
		}
		_, err = batch(typev1.ExistingPolicy_EXISTING_POLICY_FAIL, strike())
		wantCode(t, err, codes.AlreadyExists)
		changedSummit := summit()
		changedSummit.Title = "Updated title"
		resp, err = batch(typev1.ExistingPolicy_EXISTING_POLICY_REPLACE, strike(), changedSummit, summit())
		if err != nil {
			t.Fatal(err)
		}
		want := []typev1.BatchOutcome{typev1.BatchOutcome_BATCH_OUTCOME_UNCHANGED, typev1.BatchOutcome_BATCH_OUTCOME_UPDATED, created}
		if !slices.Equal(resp.GetOutcomes(), want) {
			t.Errorf("replace outcomes %v, want %v", resp.GetOutcomes(), want)
		}
		resp, err = batch(typev1.ExistingPolicy_EXISTING_POLICY_SKIP, summit(), summit(), summit())
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetEvents()[1].GetTitle() != "Updated title" {
			t.Error("SKIP replaced an existing event")
		}
		// All or nothing: one bad item leaves nothing written.
		bad := summit()
		bad.Title = ""
		before, _ := c.ListEvents(ctx, &eventsv1.ListEventsRequest{})
		req := &eventsv1.BatchCreateEventsRequest{Requests: []*eventsv1.CreateEventRequest{
			{EventId: "ok-1", Event: strike()}, {EventId: "bad", Event: bad},
		}}
		_, err = c.BatchCreateEvents(ctx, req)
		if v := violations(wantCode(t, err, codes.InvalidArgument)); !slices.Contains(v, "requests[1].event.title") {
			t.Errorf("violations %v", v)
		}
		after, _ := c.ListEvents(ctx, &eventsv1.ListEventsRequest{})
		if len(after.GetEvents()) != len(before.GetEvents()) {
			t.Errorf("a failed batch wrote %d events", len(after.GetEvents())-len(before.GetEvents()))
		}
	})
}

// TestBatchReferences: references are checked inside the batch's transaction, so an
// actor may name a parent created earlier in the same batch, and an unknown reference
// names the request and the field that holds it.
func TestBatchReferences(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *eventstest.Harness) {
		ctx := ctxAs(t, h, eventstest.Editor)
		c := h.Client()
		seedActors(t, h, ctx)
		ministry := state("FRA", "French Ministry of Armed Forces")
		ministry.Kind = eventsv1.ActorKind_ACTOR_KIND_AGENCY
		ministry.Parent = "actors/fra-gov"
		_, err := c.BatchCreateActors(ctx, &eventsv1.BatchCreateActorsRequest{Requests: []*eventsv1.CreateActorRequest{
			{ActorId: "fra-gov", Actor: state("FRA", "Government of France")},
			{ActorId: "fra-mod", Actor: ministry},
		}})
		if err != nil {
			t.Fatalf("a parent created earlier in the same batch: %v", err)
		}

		quoted := summit()
		quoted.Quotes = []*eventsv1.Quote{{Speaker: "actors/nobody", Text: "We are ready."}}
		unknown := summit()
		unknown.Participants[1].Actor = "actors/atlantis"
		_, err = c.BatchCreateEvents(ctx, &eventsv1.BatchCreateEventsRequest{Requests: []*eventsv1.CreateEventRequest{
			{EventId: "fine", Event: strike()}, {EventId: "quoted", Event: quoted}, {EventId: "unknown", Event: unknown},
		}})
		st := wantCode(t, err, codes.FailedPrecondition)
		for _, want := range []string{"requests[1]", "event.quotes[0].speaker names actors/nobody"} {
			if !strings.Contains(st.Message(), want) {
				t.Errorf("message %q does not contain %q", st.Message(), want)
			}
		}
		_, err = c.CreateEvent(ctx, &eventsv1.CreateEventRequest{EventId: "unknown", Event: unknown})
		if st := wantCode(t, err, codes.FailedPrecondition); !strings.Contains(st.Message(), "event.participants[1].actor names actors/atlantis") {
			t.Errorf("message %q does not name the field holding the unknown actor", st.Message())
		}
		if _, err := c.GetEvent(ctx, &eventsv1.GetEventRequest{Name: "events/fine"}); status.Code(err) != codes.NotFound {
			t.Errorf("the failed batch wrote its first item: GetEvent = %v", err)
		}
	})
}

// TestBatchWithActors: a batch of events carries the actors they need, written in the
// same transaction: existing actors are left as they are whatever the events' policy, and
// a refused batch leaves none of its new actors behind.
func TestBatchWithActors(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *eventstest.Harness) {
		ctx := ctxAs(t, h, eventstest.Editor)
		c := h.Client()
		seedActors(t, h, ctx)
		created, unchanged := typev1.BatchOutcome_BATCH_OUTCOME_CREATED, typev1.BatchOutcome_BATCH_OUTCOME_UNCHANGED
		withPOL := withAttendee(summit(), "actors/pol")
		req := &eventsv1.BatchCreateEventsRequest{
			ExistingPolicy: typev1.ExistingPolicy_EXISTING_POLICY_REPLACE,
			RequestId:      "with-actors-1",
			Actors: []*eventsv1.CreateActorRequest{
				{ActorId: "pol", Actor: state("POL", "Poland")},
				{ActorId: "fra", Actor: state("FRA", "A terser France")},
			},
			Requests: []*eventsv1.CreateEventRequest{{EventId: "with-pol", Event: withPOL}},
		}
		resp, err := c.BatchCreateEvents(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.GetActorOutcomes(); !slices.Equal(got, []typev1.BatchOutcome{created, unchanged}) {
			t.Errorf("actor outcomes %v, want [CREATED UNCHANGED]", got)
		}
		if got := resp.GetOutcomes(); !slices.Equal(got, []typev1.BatchOutcome{created}) {
			t.Errorf("event outcomes %v, want [CREATED]", got)
		}
		if len(resp.GetActors()) != 2 || resp.GetActors()[0].GetName() != "actors/pol" || resp.GetActors()[1].GetDisplayName() != "France" {
			t.Errorf("actors answered %v, want actors/pol and France as it was", resp.GetActors())
		}
		fra, err := c.GetActor(ctx, &eventsv1.GetActorRequest{Name: "actors/fra"})
		if err != nil || fra.GetActor().GetDisplayName() != "France" {
			t.Errorf("the existing actor was overwritten: %v, %v", fra.GetActor().GetDisplayName(), err)
		}
		// The same request id gives the first answer, actors included.
		again, err := c.BatchCreateEvents(ctx, req)
		if err != nil || !proto.Equal(again, resp) {
			t.Errorf("the retried batch answered %v, %v; want the first answer", again, err)
		}

		// A refused event leaves none of the batch's actors behind.
		withDEU := withAttendee(strike(), "actors/deu")
		unknown := withAttendee(strike(), "actors/atlantis")
		_, err = c.BatchCreateEvents(ctx, &eventsv1.BatchCreateEventsRequest{
			Actors:   []*eventsv1.CreateActorRequest{{ActorId: "deu", Actor: state("DEU", "Germany")}},
			Requests: []*eventsv1.CreateEventRequest{{EventId: "with-deu", Event: withDEU}, {EventId: "unknown", Event: unknown}},
		})
		if st := wantCode(t, err, codes.FailedPrecondition); !strings.Contains(st.Message(), "requests[1]") {
			t.Errorf("message %q does not name requests[1]", st.Message())
		}
		for _, name := range []string{"actors/deu"} {
			if _, err := c.GetActor(ctx, &eventsv1.GetActorRequest{Name: name}); status.Code(err) != codes.NotFound {
				t.Errorf("the refused batch left %s behind: GetActor = %v", name, err)
			}
		}
		if _, err := c.GetEvent(ctx, &eventsv1.GetEventRequest{Name: "events/with-deu"}); status.Code(err) != codes.NotFound {
			t.Errorf("the refused batch wrote its first event: GetEvent = %v", err)
		}

		// Errors about the actors name them.
		nameless := state("DEU", "")
		_, err = c.BatchCreateEvents(ctx, &eventsv1.BatchCreateEventsRequest{
			Actors:   []*eventsv1.CreateActorRequest{{ActorId: "deu", Actor: state("DEU", "Germany")}, {ActorId: "dnk", Actor: nameless}},
			Requests: []*eventsv1.CreateEventRequest{{EventId: "with-deu", Event: withDEU}},
		})
		if v := violations(wantCode(t, err, codes.InvalidArgument)); !slices.Contains(v, "actors[1].actor.display_name") {
			t.Errorf("violations %v, want actors[1].actor.display_name", v)
		}
		_, err = c.BatchCreateEvents(ctx, &eventsv1.BatchCreateEventsRequest{
			Actors:   []*eventsv1.CreateActorRequest{{ActorId: "deu", Actor: state("DEU", "Germany")}, {ActorId: "deu", Actor: state("DEU", "Germany")}},
			Requests: []*eventsv1.CreateEventRequest{{EventId: "with-deu", Event: withDEU}},
		})
		if v := violations(wantCode(t, err, codes.InvalidArgument)); !slices.Contains(v, "actors[1]") {
			t.Errorf("violations %v, want actors[1] (a repeated id)", v)
		}
		if _, err := c.GetActor(ctx, &eventsv1.GetActorRequest{Name: "actors/deu"}); status.Code(err) != codes.NotFound {
			t.Errorf("a refused batch left actors/deu behind: GetActor = %v", err)
		}
	})
}

// TestBatchValidateOnly: validate_only answers what the batch would do, refuses what a
// write would refuse, and keeps nothing: no resource, no change, no request id.
func TestBatchValidateOnly(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *eventstest.Harness) {
		ctx := ctxAs(t, h, eventstest.Editor)
		c := h.Client()
		seedActors(t, h, ctx)
		created, unchanged := typev1.BatchOutcome_BATCH_OUTCOME_CREATED, typev1.BatchOutcome_BATCH_OUTCOME_UNCHANGED
		version := func() int64 {
			t.Helper()
			resp, err := c.ListEvents(ctx, &eventsv1.ListEventsRequest{})
			if err != nil {
				t.Fatal(err)
			}
			return resp.GetResourceVersion()
		}
		withPOL := withAttendee(summit(), "actors/pol")
		req := &eventsv1.BatchCreateEventsRequest{
			ExistingPolicy: typev1.ExistingPolicy_EXISTING_POLICY_REPLACE,
			RequestId:      "checked-first",
			Actors:         []*eventsv1.CreateActorRequest{{ActorId: "pol", Actor: state("POL", "Poland")}},
			Requests:       []*eventsv1.CreateEventRequest{{EventId: "with-pol", Event: withPOL}},
			ValidateOnly:   true,
		}
		before := version()
		resp, err := c.BatchCreateEvents(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(resp.GetOutcomes(), []typev1.BatchOutcome{created}) || !slices.Equal(resp.GetActorOutcomes(), []typev1.BatchOutcome{created}) {
			t.Errorf("outcomes %v, actor outcomes %v; want CREATED for both", resp.GetOutcomes(), resp.GetActorOutcomes())
		}
		if got := resp.GetEvents()[0].GetName(); got != "events/with-pol" {
			t.Errorf("the preview names %q, want events/with-pol", got)
		}
		if _, err := c.GetEvent(ctx, &eventsv1.GetEventRequest{Name: "events/with-pol"}); status.Code(err) != codes.NotFound {
			t.Errorf("validate_only wrote the event: GetEvent = %v", err)
		}
		if _, err := c.GetActor(ctx, &eventsv1.GetActorRequest{Name: "actors/pol"}); status.Code(err) != codes.NotFound {
			t.Errorf("validate_only wrote the actor: GetActor = %v", err)
		}
		if after := version(); after != before {
			t.Errorf("validate_only recorded changes: version %d, then %d", before, after)
		}

		// What a write refuses, a check refuses the same way.
		unknown := withAttendee(strike(), "actors/atlantis")
		_, err = c.BatchCreateEvents(ctx, &eventsv1.BatchCreateEventsRequest{
			Requests:     []*eventsv1.CreateEventRequest{{EventId: "fine", Event: strike()}, {EventId: "unknown", Event: unknown}},
			ValidateOnly: true,
		})
		if st := wantCode(t, err, codes.FailedPrecondition); !strings.Contains(st.Message(), "requests[1]") {
			t.Errorf("message %q does not name requests[1]", st.Message())
		}
		// A viewer may not check a write either.
		viewerReq := proto.Clone(req).(*eventsv1.BatchCreateEventsRequest)
		viewerReq.RequestId = ""
		_, err = c.BatchCreateEvents(ctxAs(t, h, eventstest.Viewer), viewerReq)
		wantCode(t, err, codes.PermissionDenied)

		// The check kept no request id: the write with the same id writes, and a check
		// after it sees the batch as written (not the stored answer of a write).
		req.ValidateOnly = false
		if _, err := c.BatchCreateEvents(ctx, req); err != nil {
			t.Fatal(err)
		}
		if _, err := c.GetEvent(ctx, &eventsv1.GetEventRequest{Name: "events/with-pol"}); err != nil {
			t.Errorf("the write after the check: GetEvent = %v", err)
		}
		req.ValidateOnly = true
		again, err := c.BatchCreateEvents(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(again.GetOutcomes(), []typev1.BatchOutcome{unchanged}) || !slices.Equal(again.GetActorOutcomes(), []typev1.BatchOutcome{unchanged}) {
			t.Errorf("a check of a written batch: outcomes %v, actor outcomes %v; want UNCHANGED for both", again.GetOutcomes(), again.GetActorOutcomes())
		}
	})
}

func TestHistoryAndAsOf(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *eventstest.Harness) {
		ctx := ctxAs(t, h, eventstest.Editor)
		c := h.Client()
		seedActors(t, h, ctx)
		created, err := c.CreateEvent(ctx, &eventsv1.CreateEventRequest{EventId: "paris", Event: summit(), RequestId: "r1"})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		between := time.Now()
		time.Sleep(20 * time.Millisecond)
		for _, title := range []string{"second title", "third title"} {
			if _, err := c.UpdateEvent(ctx, &eventsv1.UpdateEventRequest{
				Event: &eventsv1.Event{Name: "events/paris", Title: title}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}},
			}); err != nil {
				t.Fatal(err)
			}
		}
		hist, err := c.ListRevisions(ctx, &eventsv1.ListRevisionsRequest{Name: "events/paris", PageSize: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(hist.GetChanges()) != 2 || hist.GetNextPageToken() == "" {
			t.Fatalf("first history page: %d changes, token %q", len(hist.GetChanges()), hist.GetNextPageToken())
		}
		first := hist.GetChanges()[0]
		if first.GetKind() != typev1.ChangeKind_CHANGE_KIND_CREATED || first.GetPrincipal() != "key:editor" || first.GetRequestId() != "r1" || first.GetEvent().GetTitle() != summit().GetTitle() {
			t.Errorf("first change %v", first)
		}
		if got := hist.GetChanges()[1].GetChangedFields().GetPaths(); !slices.Equal(got, []string{"title"}) {
			t.Errorf("changed fields %v", got)
		}
		rest, err := c.ListRevisions(ctx, &eventsv1.ListRevisionsRequest{Name: "events/paris", PageToken: hist.GetNextPageToken()})
		if err != nil || len(rest.GetChanges()) != 1 || rest.GetChanges()[0].GetEvent().GetTitle() != "third title" {
			t.Fatalf("second history page %v, %v", rest, err)
		}
		then, err := c.GetEvent(ctx, &eventsv1.GetEventRequest{Name: "events/paris", ReadTime: timestamppb.New(between)})
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(then.GetEvent(), created.GetEvent()) {
			t.Errorf("as of %v: %v, want %v", between, then.GetEvent(), created.GetEvent())
		}
		_, err = c.GetEvent(ctx, &eventsv1.GetEventRequest{Name: "events/paris", ReadTime: timestamppb.New(time.Unix(0, 0))})
		wantCode(t, err, codes.NotFound)
	})
}

func TestLicenceVisibility(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *eventstest.Harness) {
		admin := ctxAs(t, h, eventstest.Admin)
		c := h.Client()
		seedActors(t, h, admin)
		acled := strike()
		acled.License = typev1.License_LICENSE_ACLED
		resp, err := c.CreateEvent(admin, &eventsv1.CreateEventRequest{EventId: "acled-1", Event: acled})
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetEvent().GetVisibility() != typev1.Visibility_VISIBILITY_RESTRICTED || resp.GetEvent().GetRequiredEntitlement() != "acled" {
			t.Errorf("visibility not derived: %v", resp.GetEvent())
		}
		if _, err := c.CreateEvent(admin, &eventsv1.CreateEventRequest{EventId: "open-1", Event: strike()}); err != nil {
			t.Fatal(err)
		}
		viewer := ctxAs(t, h, eventstest.Viewer)
		list, err := c.ListEvents(viewer, &eventsv1.ListEventsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if got := names(list.GetEvents()); !slices.Equal(got, []string{"open-1"}) {
			t.Errorf("unentitled list = %v", got)
		}
		_, err = c.GetEvent(viewer, &eventsv1.GetEventRequest{Name: "events/acled-1"})
		wantCode(t, err, codes.PermissionDenied)
		_, err = c.ListRevisions(viewer, &eventsv1.ListRevisionsRequest{Name: "events/acled-1"})
		wantCode(t, err, codes.PermissionDenied)
		list, err = c.ListEvents(admin, &eventsv1.ListEventsRequest{})
		if err != nil || len(list.GetEvents()) != 2 {
			t.Fatalf("entitled list = %v, %v", list, err)
		}

		// A batch under an id the writer may not read neither hands the record back nor
		// replaces it, whatever the policy; as Update, it is PERMISSION_DENIED.
		editor := ctxAs(t, h, eventstest.Editor)
		for _, policy := range []typev1.ExistingPolicy{typev1.ExistingPolicy_EXISTING_POLICY_SKIP, typev1.ExistingPolicy_EXISTING_POLICY_REPLACE} {
			other := summit()
			resp, err := c.BatchCreateEvents(editor, &eventsv1.BatchCreateEventsRequest{
				ExistingPolicy: policy,
				Requests:       []*eventsv1.CreateEventRequest{{EventId: "acled-1", Event: other}},
			})
			if st := wantCode(t, err, codes.PermissionDenied); !strings.Contains(st.Message(), "requests[0]") {
				t.Errorf("%v: message %q does not name requests[0]", policy, st.Message())
			}
			if len(resp.GetEvents()) > 0 {
				t.Errorf("%v: an unentitled batch got the restricted event back: %v", policy, resp.GetEvents())
			}
		}
		_, err = c.UpdateEvent(editor, &eventsv1.UpdateEventRequest{
			Event: &eventsv1.Event{Name: "events/acled-1", Title: "overwritten"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}},
		})
		wantCode(t, err, codes.PermissionDenied)
		got, err := c.GetEvent(admin, &eventsv1.GetEventRequest{Name: "events/acled-1"})
		if err != nil || got.GetEvent().GetTitle() != acled.GetTitle() {
			t.Errorf("the restricted event after the refused writes: %v, %v", got.GetEvent().GetTitle(), err)
		}
	})
}

func TestWatchResumes(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *eventstest.Harness) {
		ctx := ctxAs(t, h, eventstest.Admin)
		c := h.Client()
		seedActors(t, h, ctx)
		list, err := c.ListEvents(ctx, &eventsv1.ListEventsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		from := list.GetResourceVersion()
		if _, err := c.CreateEvent(ctx, &eventsv1.CreateEventRequest{EventId: "e1", Event: strike()}); err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithCancel(ctx)
		stream, err := c.Watch(wctx, &eventsv1.WatchRequest{ResourceVersion: from, Collections: []string{"events"}})
		if err != nil {
			t.Fatal(err)
		}
		recvChange := func(s eventsv1.EventsService_WatchClient) *eventsv1.WatchResponse {
			t.Helper()
			for {
				m, err := s.Recv()
				if err != nil {
					t.Fatalf("watch: %v", err)
				}
				if m.GetType() != typev1.WatchEventType_WATCH_EVENT_TYPE_BOOKMARK {
					return m
				}
			}
		}
		m := recvChange(stream) // replayed
		if m.GetType() != typev1.WatchEventType_WATCH_EVENT_TYPE_ADDED || m.GetChange().GetResourceName() != "events/e1" {
			t.Fatalf("first watch message %v", m)
		}
		if _, err := c.DeleteEvent(ctx, &eventsv1.DeleteEventRequest{Name: "events/e1"}); err != nil {
			t.Fatal(err)
		}
		m = recvChange(stream) // live
		if m.GetType() != typev1.WatchEventType_WATCH_EVENT_TYPE_DELETED || m.GetChange().GetEvent().GetDeleteTime() == nil {
			t.Fatalf("live watch message %v", m)
		}
		resumeFrom := m.GetResourceVersion()
		cancel()
		// Changes made while disconnected are delivered after resuming.
		for i := range 3 {
			if _, err := c.CreateEvent(ctx, &eventsv1.CreateEventRequest{EventId: fmt.Sprintf("r%d", i), Event: strike()}); err != nil {
				t.Fatal(err)
			}
		}
		stream, err = c.Watch(ctx, &eventsv1.WatchRequest{ResourceVersion: resumeFrom})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if m := recvChange(stream); m.GetChange().GetResourceName() != fmt.Sprintf("events/r%d", i) {
				t.Fatalf("resumed message %d: %v", i, m)
			}
		}
		// Bookmarks arrive while idle.
		for {
			m, err := stream.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if m.GetType() == typev1.WatchEventType_WATCH_EVENT_TYPE_BOOKMARK {
				if m.GetResourceVersion() < resumeFrom+3 {
					t.Errorf("bookmark at %d, behind %d", m.GetResourceVersion(), resumeFrom+3)
				}
				break
			}
		}
	})
}

func TestWatchOutOfRange(t *testing.T) {
	t.Parallel()
	h := eventstest.Start(t, eventstest.SQLite)
	ctx := ctxAs(t, h, eventstest.Admin)
	c := h.Client()
	seedActors(t, h, ctx)
	for i := range 3 {
		if _, err := c.UpdateActor(ctx, &eventsv1.UpdateActorRequest{
			Actor: &eventsv1.Actor{Name: "actors/fra", DisplayName: fmt.Sprintf("France %d", i)}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}},
		}); err != nil {
			t.Fatal(err)
		}
	}
	// Compaction never passes the outbox relay's cursor: retry until the relay has
	// published the superseded changes and they can go, far enough that version 1 is
	// no longer a complete starting point (the history from 2 on is gone).
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := changelog.Compact(ctx, h.Server.DB, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		_, oldest, err := changelog.Head(ctx, h.Server.DB)
		if err != nil {
			t.Fatal(err)
		}
		if oldest > 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("nothing was compacted")
		}
		time.Sleep(20 * time.Millisecond)
	}
	stream, err := c.Watch(ctx, &eventsv1.WatchRequest{ResourceVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = stream.Recv()
	if errors.Is(err, io.EOF) {
		t.Fatal("stream ended without OUT_OF_RANGE")
	}
	wantCode(t, err, codes.OutOfRange)
}

// TestRetention: a service with retention set forgets request-id answers and compacts
// its history on its own schedule. Its data is aged two hours by hand (the test cannot
// wait an hour), then the retention runner, passing every 50 ms, must act on it.
func TestRetention(t *testing.T) {
	t.Parallel()
	servicetest.ForEachBackend(t, func(t *testing.T, b servicetest.Backend) {
		h := eventstest.Start(t, b, eventstest.Options{
			Retention: retention.Policy{RequestIDs: time.Hour, History: time.Hour, Interval: 50 * time.Millisecond},
		})
		ctx := ctxAs(t, h, eventstest.Admin)
		c := h.Client()
		seedActors(t, h, ctx)
		req := &eventsv1.CreateEventRequest{EventId: "paris-summit", Event: summit(), RequestId: "req-old"}
		if _, err := c.CreateEvent(ctx, req); err != nil {
			t.Fatal(err)
		}
		if _, err := c.CreateEvent(ctx, req); err != nil {
			t.Fatalf("a retry within the retention: %v", err)
		}
		for i := range 3 {
			if _, err := c.UpdateActor(ctx, &eventsv1.UpdateActorRequest{
				Actor: &eventsv1.Actor{Name: "actors/fra", DisplayName: fmt.Sprintf("France %d", i)}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}},
			}); err != nil {
				t.Fatal(err)
			}
		}
		db := h.Server.DB
		age := int64(2 * time.Hour)
		if _, err := db.ExecContext(ctx, db.Rebind("UPDATE requests SET created_at = created_at - ?"), age); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, db.Rebind("UPDATE changes SET time = time - ?"), age); err != nil {
			t.Fatal(err)
		}

		deadline := time.Now().Add(20 * time.Second)
		for {
			// The answer is forgotten: the retry runs as a new request and meets the event.
			_, err := c.CreateEvent(ctx, req)
			_, oldest, headErr := changelog.Head(ctx, db)
			if headErr != nil {
				t.Fatal(headErr)
			}
			if status.Code(err) == codes.AlreadyExists && oldest > 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after 20 s: retry = %v, oldest retained version %d; want ALREADY_EXISTS and history compacted", err, oldest)
			}
			time.Sleep(50 * time.Millisecond)
		}
		revs, err := c.ListRevisions(ctx, &eventsv1.ListRevisionsRequest{Name: "actors/fra"})
		if err != nil {
			t.Fatal(err)
		}
		if got := revs.GetChanges(); len(got) != 1 || got[0].GetActor().GetDisplayName() != "France 2" {
			t.Errorf("revisions of actors/fra after compaction = %v, want its last state only", got)
		}
		stream, err := c.Watch(ctx, &eventsv1.WatchRequest{ResourceVersion: 1})
		if err != nil {
			t.Fatal(err)
		}
		_, err = stream.Recv()
		wantCode(t, err, codes.OutOfRange)
	})
}

// TestStreamMaxAge: --stream-max-age reaches the stream's configuration, and a service
// started without it sets the stream back to keeping every change.
func TestStreamMaxAge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const maxAge = 30 * 24 * time.Hour
	h := eventstest.Start(t, eventstest.SQLite, eventstest.Options{Configure: func(c *service.Config) { c.StreamMaxAge = maxAge }})
	js := h.NATS.JetStream(t)
	maxAgeOf := func() time.Duration {
		t.Helper()
		st, err := js.Stream(ctx, events.Stream)
		if err != nil {
			t.Fatal(err)
		}
		return st.CachedInfo().Config.MaxAge
	}
	if got := maxAgeOf(); got != maxAge {
		t.Fatalf("stream max age = %s, want %s", got, maxAge)
	}
	h.Stop()
	eventstest.Start(t, eventstest.SQLite, eventstest.Options{NATS: h.NATS, DSN: h.DSN, Key: h.Key})
	if got := maxAgeOf(); got != 0 {
		t.Fatalf("stream max age = %s after a start without it, want 0", got)
	}
}

// TestSearchFollowsUpdates: the full-text index holds the current text only.
// TestSearchUnderConcurrentWrites: writes committed together (SQLite's group commit,
// where the full-text index is written at the commit) leave the index holding exactly
// the current text of each event.
func TestSearchUnderConcurrentWrites(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *eventstest.Harness) {
		ctx := ctxAs(t, h, eventstest.Editor)
		c := h.Client()
		seedActors(t, h, ctx)
		const n = 24
		errs := make(chan error, n)
		for i := range n {
			go func() {
				e := strike()
				e.Title = "Shelling near Alchevsk"
				name := fmt.Sprintf("c%d", i)
				if _, err := c.CreateEvent(ctx, &eventsv1.CreateEventRequest{EventId: name, Event: e}); err != nil {
					errs <- err
					return
				}
				if i%3 == 0 {
					_, err := c.UpdateEvent(ctx, &eventsv1.UpdateEventRequest{
						Event: &eventsv1.Event{Name: "events/" + name, Title: "Drone attack on Oryol"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}},
					})
					errs <- err
					return
				}
				errs <- nil
			}()
		}
		for range n {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		for word, want := range map[string]int{"Alchevsk": n - n/3, "Oryol": n / 3} {
			resp, err := c.ListEvents(ctx, &eventsv1.ListEventsRequest{Filter: `search:"` + word + `"`, PageSize: 100})
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.GetEvents()) != want {
				t.Errorf("search %s: %d events, want %d", word, len(resp.GetEvents()), want)
			}
		}
	})
}

func TestSearchFollowsUpdates(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *eventstest.Harness) {
		ctx := ctxAs(t, h, eventstest.Editor)
		c := h.Client()
		seedActors(t, h, ctx)
		if _, err := c.CreateEvent(ctx, &eventsv1.CreateEventRequest{EventId: "s1", Event: strike()}); err != nil {
			t.Fatal(err)
		}
		for _, title := range []string{"Shelling near Kharkiv", "Drone attack on Bryansk"} {
			if _, err := c.UpdateEvent(ctx, &eventsv1.UpdateEventRequest{
				Event: &eventsv1.Event{Name: "events/s1", Title: title}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}},
			}); err != nil {
				t.Fatal(err)
			}
		}
		for word, want := range map[string]int{"Kostroma": 0, "Kharkiv": 0, "Bryansk": 1} {
			resp, err := c.ListEvents(ctx, &eventsv1.ListEventsRequest{Filter: `search:"` + word + `"`})
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.GetEvents()) != want {
				t.Errorf("search %s: %d events, want %d", word, len(resp.GetEvents()), want)
			}
		}
	})
}

// TestTraceContextReachesTheStream: the W3C traceparent a caller sends is recorded with the
// change and published with it, so a consumer can join the request's trace; a malformed
// one is dropped rather than stored.
func TestTraceContextReachesTheStream(t *testing.T) {
	t.Parallel()
	h := eventstest.Start(t, eventstest.SQLite)
	nc, err := nats.Connect(h.NATS.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, tt := range []struct{ name, sent, want string }{
		{"valid", traceparent, traceparent},
		{"malformed", "00-not-a-trace-01", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := metadata.AppendToOutgoingContext(ctxAs(t, h, eventstest.Editor), "traceparent", tt.sent)
			a, err := h.Client().CreateActor(ctx, &eventsv1.CreateActorRequest{ActorId: "trace-" + tt.name, Actor: state("FRA", "France")})
			if err != nil {
				t.Fatal(err)
			}
			msg := waitForLastMsg(t, js, a.GetActor().GetName())
			if got := msg.Header.Get("traceparent"); got != tt.want {
				t.Fatalf("traceparent on the stream = %q, want %q", got, tt.want)
			}
		})
	}
}

// waitForLastMsg returns the last message the stream holds about resource name, waiting
// for the relay to publish it.
func waitForLastMsg(t *testing.T, js jetstream.JetStream, name string) *jetstream.RawStreamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, events.Stream)
	if err != nil {
		t.Fatal(err)
	}
	for {
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for seq := info.State.LastSeq; seq >= info.State.FirstSeq && seq > 0; seq-- {
			m, err := s.GetMsg(ctx, seq)
			if err != nil {
				t.Fatal(err)
			}
			if m.Header.Get("Guarantor-Resource") == name {
				return m
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no change for %s reached the stream", name)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
