package guarantees_test

// The guarantees service with the real events service, both on one embedded
// nats-server: references are checked against the projection of the events stream.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	gv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
	"github.com/guarantor/guarantor/platform/testkit/natstest"
	"github.com/guarantor/guarantor/platform/testkit/servicetest"
	"github.com/guarantor/guarantor/services/events/eventstest"
	"github.com/guarantor/guarantor/services/guarantees/guaranteestest"
)

// suite is an events service and a guarantees service sharing a NATS server and a
// principal key.
type suite struct {
	nats       *natstest.Server
	events     *eventstest.Harness
	guarantees *guaranteestest.Harness
	ectx, gctx context.Context
}

func startSuite(t testing.TB, b guaranteestest.Backend) *suite {
	t.Helper()
	s := &suite{nats: natstest.Start(t)}
	s.events = eventstest.Start(t, eventstest.Backend(b), eventstest.Options{NATS: s.nats})
	s.guarantees = guaranteestest.Start(t, b, guaranteestest.Options{NATS: s.nats, Key: s.events.Key})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	s.ectx = s.events.As(ctx, eventstest.Editor)
	s.gctx = s.guarantees.As(ctx, guaranteestest.Editor)
	return s
}

func (s *suite) createActors(t testing.TB, ids ...string) {
	t.Helper()
	for _, id := range ids {
		_, err := s.events.Client().CreateActor(s.ectx, &eventsv1.CreateActorRequest{ActorId: id, Actor: &eventsv1.Actor{
			Kind: eventsv1.ActorKind_ACTOR_KIND_STATE, DisplayName: strings.ToUpper(id), CountryCode: strings.ToUpper(id),
		}})
		if err != nil {
			t.Fatalf("create actor %s: %v", id, err)
		}
	}
}

func (s *suite) createEvent(t testing.TB, id string, when time.Time, participants ...string) {
	t.Helper()
	e := &eventsv1.Event{
		Type: eventsv1.EventType_EVENT_TYPE_DIPLOMACY, SubType: "summit", Title: "Meeting " + id,
		When: &typev1.When{Time: timestamppb.New(when), Precision: typev1.DatePrecision_DATE_PRECISION_DAY},
	}
	for _, p := range participants {
		e.Participants = append(e.Participants, &eventsv1.Participant{Actor: "actors/" + p, Role: eventsv1.ParticipantRole_PARTICIPANT_ROLE_ATTENDEE})
	}
	if _, err := s.events.Client().CreateEvent(s.ectx, &eventsv1.CreateEventRequest{EventId: id, Event: e}); err != nil {
		t.Fatalf("create event %s: %v", id, err)
	}
}

// eventually retries call while it fails with FAILED_PRECONDITION (the projection has
// not caught up yet), as the README tells clients to, for a few seconds.
func eventually[T any](t testing.TB, call func() (T, error)) T {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	wait := 10 * time.Millisecond
	for {
		out, err := call()
		if err == nil {
			return out
		}
		if status.Code(err) != codes.FailedPrecondition || time.Now().After(deadline) {
			t.Fatalf("still failing after retries: %v", err)
		}
		time.Sleep(wait)
		wait = min(2*wait, 500*time.Millisecond)
	}
}

func TestReferencesThroughTheEventsService(t *testing.T) {
	t.Parallel()
	for _, b := range guaranteestest.Backends {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			s := startSuite(t, b)
			c := s.guarantees.Client()
			s.createActors(t, "fra", "gbr", "ukr")
			s.createEvent(t, "paris-summit", summitDay, "fra", "gbr", "ukr")

			f := parisDeclaration()
			eventually(t, func() (*gv1.CreateFrameworkResponse, error) {
				return c.CreateFramework(s.gctx, &gv1.CreateFrameworkRequest{FrameworkId: "paris", Framework: f, RequestId: "f-1"})
			})
			g := guarantee(actor("actors/gbr"), land, hubs, lead, "UK military hubs")
			created := eventually(t, func() (*gv1.CreateGuaranteeResponse, error) {
				return c.CreateGuarantee(s.gctx, &gv1.CreateGuaranteeRequest{GuaranteeId: "uk-hubs", Guarantee: g, RequestId: "g-1"})
			})
			if created.GetGuarantee().GetSourceEvents()[0] != "events/paris-summit" {
				t.Errorf("created %v", created.GetGuarantee())
			}

			// An event that does not exist (anywhere) is refused, naming it.
			ghost := guarantee(actor("actors/fra"), land, hubs, lead, "French hubs")
			ghost.SourceEvents = []string{"events/paris-summit", "events/never-happened"}
			_, err := c.CreateGuarantee(s.gctx, &gv1.CreateGuaranteeRequest{GuaranteeId: "fr-hubs", Guarantee: ghost})
			st := servicetest.WantCode(t, err, codes.FailedPrecondition)
			for _, want := range []string{"guarantee.source_events[1] names events/never-happened", "may lag", "retry with backoff"} {
				if !strings.Contains(st.Message(), want) {
					t.Errorf("message %q does not say %q", st.Message(), want)
				}
			}
			if strings.Contains(st.Message(), "paris-summit") {
				t.Errorf("message %q names a reference that exists", st.Message())
			}

			// A deleted event is no longer a valid reference.
			if _, err := s.events.Client().DeleteEvent(s.ectx, &eventsv1.DeleteEventRequest{Name: "events/paris-summit"}); err != nil {
				t.Fatal(err)
			}
			// Until the deletion reaches the projection, a new guarantee may still cite it.
			deadline := time.Now().Add(10 * time.Second)
			for i := 0; ; i++ {
				probe := guarantee(actor("actors/gbr"), air, arms, supp, "probe")
				_, err := c.CreateGuarantee(s.gctx, &gv1.CreateGuaranteeRequest{GuaranteeId: fmt.Sprintf("probe-%d", i), Guarantee: probe})
				if status.Code(err) == codes.FailedPrecondition {
					if !strings.Contains(status.Convert(err).Message(), "guarantee.source_events[0] names events/paris-summit") {
						t.Errorf("message %q", status.Convert(err).Message())
					}
					break
				}
				if err != nil || time.Now().After(deadline) {
					t.Fatalf("citing a deleted event: %v", err)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// TestProjectionResumesAfterRestart stops the guarantees service, creates actors and
// events meanwhile, and starts it again on the same database: the durable consumer
// resumes and the projection sees what happened while it was down.
func TestProjectionResumesAfterRestart(t *testing.T) {
	t.Parallel()
	s := startSuite(t, guaranteestest.SQLite)
	c := s.guarantees.Client()
	s.createActors(t, "fra", "gbr", "ukr")
	s.createEvent(t, "paris-summit", summitDay, "fra")
	eventually(t, func() (*gv1.CreateFrameworkResponse, error) {
		return c.CreateFramework(s.gctx, &gv1.CreateFrameworkRequest{FrameworkId: "paris", Framework: parisDeclaration(), RequestId: "f-1"})
	})
	before, err := s.guarantees.Server.Refs.JetStream.Consumer(s.gctx, "GUARANTOR_EVENTS", "guarantees-refs")
	if err != nil {
		t.Fatal(err)
	}
	delivered := before.CachedInfo().Delivered.Stream

	dsn, key := s.guarantees.DSN, s.guarantees.Key
	s.guarantees.Stop()
	s.createActors(t, "usa")
	s.createEvent(t, "ceasefire", summitDay.Add(24*time.Hour), "usa")

	s.guarantees = guaranteestest.Start(t, guaranteestest.SQLite, guaranteestest.Options{NATS: s.nats, DSN: dsn, Key: key})
	c = s.guarantees.Client()
	g := guarantee(actor("actors/usa"), multi, watch, lead, "US-led monitoring")
	g.SourceEvents = []string{"events/paris-summit", "events/ceasefire"}
	eventually(t, func() (*gv1.CreateGuaranteeResponse, error) {
		return c.CreateGuarantee(s.gctx, &gv1.CreateGuaranteeRequest{GuaranteeId: "us-monitoring", Guarantee: g, RequestId: "g-1"})
	})
	// The framework created before the restart is still there: same database.
	if _, err := c.GetFramework(s.gctx, &gv1.GetFrameworkRequest{Name: "frameworks/paris"}); err != nil {
		t.Fatal(err)
	}
	// It resumed where it stopped rather than replaying the stream: the consumer went on
	// from what it had delivered.
	after, err := s.guarantees.Server.Refs.JetStream.Consumer(s.gctx, "GUARANTOR_EVENTS", "guarantees-refs")
	if err != nil {
		t.Fatal(err)
	}
	info, err := after.Info(s.gctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Created != before.CachedInfo().Created {
		t.Errorf("the durable consumer was recreated (created %v, was %v)", info.Created, before.CachedInfo().Created)
	}
	if info.Delivered.Stream <= delivered || info.NumRedelivered > 0 {
		t.Errorf("delivered up to %d (was %d), %d redelivered", info.Delivered.Stream, delivered, info.NumRedelivered)
	}
	// Caught up, the lag metric says so.
	families, err := s.guarantees.Server.GRPC.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	lag := -1.0
	for _, f := range families {
		if f.GetName() == "guarantor_projection_lag" {
			lag = f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	if lag != 0 {
		t.Errorf("guarantor_projection_lag = %v, want 0", lag)
	}
}
