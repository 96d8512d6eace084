package jsonl_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
	"github.com/guarantor/guarantor/platform/testkit/grpctest"
	"github.com/guarantor/guarantor/platform/testkit/natstest"
	"github.com/guarantor/guarantor/services/events/eventstest"
	"github.com/guarantor/guarantor/services/guarantees/guaranteestest"

	"github.com/guarantor/guarantor/cmd/guarantor/internal/jsonl"
)

type liveStack struct {
	ev   *eventstest.Harness
	gu   *guaranteestest.Harness
	conn grpctest.Router
}

func startLiveStack(t *testing.T) *liveStack {
	t.Helper()
	nats := natstest.Start(t)
	ev := eventstest.Start(t, eventstest.SQLite, eventstest.Options{NATS: nats})
	gu := guaranteestest.Start(t, guaranteestest.SQLite, guaranteestest.Options{NATS: nats, Key: ev.Key})
	return &liveStack{ev: ev, gu: gu, conn: grpctest.Router{Routes: map[string]grpc.ClientConnInterface{"/guarantor.events.": ev.Conn}, Default: gu.Conn}}
}

func (s *liveStack) call(ctx context.Context) (context.Context, context.CancelFunc) {
	c, cancel := context.WithTimeout(ctx, 60*time.Second)
	return s.ev.As(c, eventstest.Admin), cancel // one key signs for both services
}

// retrying calls fn until the guarantees service's projection knows the references.
func retrying(t *testing.T, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := fn()
		if err == nil {
			return
		}
		if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "unknown reference") || time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A guarantee that reached a final status past ACTIVE (FULFILLED, EXPIRED) is exported with
// that status; importing the export into an empty store must bring it back to it. The
// import creates it PROPOSED; it used to try the single move PROPOSED -> FULFILLED,
// which the lifecycle forbids, and left the guarantee PROPOSED. It now walks the
// lifecycle there (statusSteps).
func TestJSONLRoundTripFulfilledGuarantee(t *testing.T) {
	a := startLiveStack(t)
	ctx := context.Background()
	evc := a.ev.Client()
	guc := a.gu.Client()
	actx := func() context.Context { return a.ev.As(ctx, eventstest.Admin) }
	for _, x := range []*eventsv1.Actor{
		{Kind: eventsv1.ActorKind_ACTOR_KIND_STATE, DisplayName: "France", CountryCode: "FRA"},
		{Kind: eventsv1.ActorKind_ACTOR_KIND_STATE, DisplayName: "Ukraine", CountryCode: "UKR"},
	} {
		if _, err := evc.CreateActor(actx(), &eventsv1.CreateActorRequest{ActorId: strings.ToLower(x.GetCountryCode()), Actor: x}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := evc.CreateEvent(actx(), &eventsv1.CreateEventRequest{EventId: "e1", Event: &eventsv1.Event{
		Type: eventsv1.EventType_EVENT_TYPE_DIPLOMACY, Title: "Meeting",
		When: &typev1.When{Time: timestamppb.New(time.Date(2026, 1, 6, 0, 0, 0, 0, time.UTC)), Precision: typev1.DatePrecision_DATE_PRECISION_DAY},
	}}); err != nil {
		t.Fatal(err)
	}
	retrying(t, "create framework", func() error {
		_, err := guc.CreateFramework(actx(), &guaranteesv1.CreateFrameworkRequest{FrameworkId: "f1", Framework: &guaranteesv1.Framework{
			Title: "Declaration", Kind: guaranteesv1.FrameworkKind_FRAMEWORK_KIND_DECLARATION,
		}})
		if status.Code(err) == codes.AlreadyExists {
			return nil
		}
		return err
	})
	retrying(t, "create guarantee", func() error {
		_, err := guc.CreateGuarantee(actx(), &guaranteesv1.CreateGuaranteeRequest{GuaranteeId: "g1", Guarantee: &guaranteesv1.Guarantee{
			Framework: "frameworks/f1", Guarantor: &guaranteesv1.Party{Party: &guaranteesv1.Party_Actor{Actor: "actors/fra"}},
			Beneficiary: "actors/ukr", Title: "Air policing", Domain: guaranteesv1.Domain_DOMAIN_AIR,
			Capability: guaranteesv1.Capability_CAPABILITY_TRAINING, Role: guaranteesv1.Role_ROLE_LEAD,
			SourceEvents: []string{"events/e1"},
		}})
		if status.Code(err) == codes.AlreadyExists {
			return nil
		}
		return err
	})
	for _, st := range []guaranteesv1.GuaranteeStatus{
		guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_PLEDGED,
		guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_AWAITING_RATIFICATION,
		guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_RATIFIED,
		guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_ACTIVE,
		guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_FULFILLED,
	} {
		retrying(t, "transition to "+st.String(), func() error {
			_, err := guc.TransitionGuarantee(actx(), &guaranteesv1.TransitionGuaranteeRequest{
				Name: "guarantees/g1", TargetStatus: st, Reason: "as agreed", EvidenceEvent: "events/e1",
			})
			return err
		})
	}

	var export bytes.Buffer
	if _, err := jsonl.Export(ctx, a.conn, a.call, &export); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(export.String(), `"status":"GUARANTEE_STATUS_FULFILLED"`) {
		t.Fatalf("the export lacks the FULFILLED guarantee:\n%s", export.String())
	}

	// Into an empty store.
	b := startLiveStack(t)
	s, err := jsonl.Import(ctx, b.conn, b.call, bytes.NewReader(export.Bytes()), jsonl.Options{})
	if err != nil {
		t.Fatalf("import: %v (%v)", err, s.Problems)
	}
	if s.Rejected != 0 {
		t.Errorf("import of an export into an empty store: %v, problems %v", s, s.Problems)
	}
	got, err := b.gu.Client().GetGuarantee(b.ev.As(ctx, eventstest.Admin), &guaranteesv1.GetGuaranteeRequest{Name: "guarantees/g1"})
	if err != nil {
		t.Fatal(err)
	}
	if st := got.GetGuarantee().GetStatus(); st != guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_FULFILLED {
		t.Errorf("after the round trip the guarantee is %s, exported as FULFILLED", st)
	}
}
