package jsonl

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
)

// refusingGuarantees stands in for the guarantees service: it holds guarantees/g1 (as an
// earlier import left it, PROPOSED), refuses every guarantee of a batch with a field
// violation, and records the status moves it is asked for.
type refusingGuarantees struct {
	mu          sync.Mutex
	transitions []string
	// accept makes the batch succeed (CREATED) and every ratification action fail.
	accept bool
	// unknownFirst is how many status moves fail for an unknown reference (the service's
	// view of the events lagging) before they succeed.
	unknownFirst int
}

func (f *refusingGuarantees) Invoke(_ context.Context, method string, args, reply any, _ ...grpc.CallOption) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch req := args.(type) {
	case *guaranteesv1.BatchCreateGuaranteesRequest:
		if f.accept {
			out := reply.(*guaranteesv1.BatchCreateGuaranteesResponse)
			for range req.GetRequests() {
				out.Outcomes = append(out.Outcomes, typev1.BatchOutcome_BATCH_OUTCOME_CREATED)
			}
			return nil
		}
		st, _ := status.New(codes.InvalidArgument, "invalid request").WithDetails(&errdetails.BadRequest{
			FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "requests[0].guarantee.framework", Description: "a rule the client does not know"}},
		})
		return st.Err()
	case *guaranteesv1.GetGuaranteeRequest:
		reply.(*guaranteesv1.GetGuaranteeResponse).Guarantee = &guaranteesv1.Guarantee{
			Name: req.GetName(), Status: guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_PROPOSED,
		}
		return nil
	case *guaranteesv1.RecordRatificationActionRequest:
		return status.Errorf(codes.FailedPrecondition, "%s is not a party to the guarantee", req.GetAction().GetNation())
	case *guaranteesv1.TransitionGuaranteeRequest:
		if f.unknownFirst > 0 {
			f.unknownFirst--
			return status.Errorf(codes.FailedPrecondition, "unknown reference: %s", req.GetEvidenceEvent())
		}
		f.transitions = append(f.transitions, req.GetTargetStatus().String())
		reply.(*guaranteesv1.TransitionGuaranteeResponse).Guarantee = &guaranteesv1.Guarantee{Name: req.GetName(), Status: req.GetTargetStatus()}
		return nil
	}
	return status.Errorf(codes.Unimplemented, "%s", method)
}

func (f *refusingGuarantees) NewStream(context.Context, *grpc.StreamDesc, string, ...grpc.CallOption) (grpc.ClientStream, error) {
	return nil, status.Error(codes.Unimplemented, "no streams")
}

// guarantee is a valid guarantee line's record, guarantees/g1.
func guarantee() *guaranteesv1.Guarantee {
	return &guaranteesv1.Guarantee{
		Name: "guarantees/g1", Framework: "frameworks/f1",
		Guarantor:   &guaranteesv1.Party{Party: &guaranteesv1.Party_Actor{Actor: "actors/fra"}},
		Beneficiary: "actors/ukr", Title: "Air policing", Domain: guaranteesv1.Domain_DOMAIN_AIR,
		Capability: guaranteesv1.Capability_CAPABILITY_TRAINING, Role: guaranteesv1.Role_ROLE_LEAD,
	}
}

// A guarantee line the server refuses is reported rejected, and nothing of it may be
// written. The import used to "settle" every guarantee line it read, refused or not: the
// guarantee existed already (an earlier import), so settle moved it to the refused
// line's status.
func TestRejectedGuaranteeLineIsStillSettled(t *testing.T) {
	t.Parallel()
	g := guarantee()
	g.Status, g.StatusEvidence, g.StatusReason = guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_ACTIVE, "events/e1", "as agreed"
	g.SourceEvents = []string{"events/e1"}
	srv := &refusingGuarantees{}
	s, err := Import(context.Background(), srv, noDeadline, strings.NewReader(line(t, g)+"\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Rejected != 1 || s.Created+s.Updated+s.Unchanged != 0 {
		t.Fatalf("summary %v %v, want the line rejected", s, s.Problems)
	}
	if len(srv.transitions) > 0 || s.Transitions > 0 {
		t.Errorf("the refused line's guarantee was moved through %v (%d transitions counted): a rejected line wrote its status", srv.transitions, s.Transitions)
	}
}

// One line is one record: it is counted once, created or rejected. A guarantee line the
// server writes (CREATED) whose ratification actions it then refuses used to be counted
// created and rejected once per action: read 1, created 1, rejected 2. It is rejected
// once, with every reason.
func TestOneLineRejectedOncePerRatificationAction(t *testing.T) {
	t.Parallel()
	g := guarantee()
	g.RatificationActions = []*guaranteesv1.RatificationAction{
		{Nation: "actors/fra", Type: guaranteesv1.RatificationActionType_RATIFICATION_ACTION_TYPE_SIGNATURE, ActionTime: timestamppb.New(time.Date(2026, 1, 6, 0, 0, 0, 0, time.UTC))},
		{Nation: "actors/fra", Type: guaranteesv1.RatificationActionType_RATIFICATION_ACTION_TYPE_ENTRY_INTO_FORCE, ActionTime: timestamppb.New(time.Date(2026, 2, 6, 0, 0, 0, 0, time.UTC))},
	}
	srv := &refusingGuarantees{accept: true}
	s, err := Import(context.Background(), srv, noDeadline, strings.NewReader(line(t, g)+"\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Read != 1 || s.Rejected != 1 || s.Created+s.Updated+s.Unchanged+s.Rejected != s.Read {
		t.Errorf("summary %q for one line (problems %v): want it rejected, once", s.String(), s.Problems)
	}
	if len(s.Problems) != 1 || strings.Count(s.Problems[0].Reason, "ratification:") != 2 {
		t.Errorf("problems %v, want one for the line naming both refused actions", s.Problems)
	}
}

func TestStatusSteps(t *testing.T) {
	t.Parallel()
	const (
		proposed  = guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_PROPOSED
		pledged   = guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_PLEDGED
		awaiting  = guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_AWAITING_RATIFICATION
		ratified  = guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_RATIFIED
		active    = guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_ACTIVE
		fulfilled = guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_FULFILLED
		expired   = guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_EXPIRED
		withdrawn = guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_WITHDRAWN
		suspended = guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_SUSPENDED
		none      = guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_UNSPECIFIED
	)
	tests := []struct {
		from, target, suspendedFrom guaranteesv1.GuaranteeStatus
		want                        []guaranteesv1.GuaranteeStatus
	}{
		{proposed, ratified, none, []guaranteesv1.GuaranteeStatus{pledged, awaiting, ratified}},
		{proposed, fulfilled, none, []guaranteesv1.GuaranteeStatus{pledged, awaiting, ratified, active, fulfilled}},
		{pledged, expired, none, []guaranteesv1.GuaranteeStatus{awaiting, ratified, active, expired}},
		{active, fulfilled, none, []guaranteesv1.GuaranteeStatus{fulfilled}},
		{proposed, suspended, pledged, []guaranteesv1.GuaranteeStatus{pledged, suspended}},
		{proposed, suspended, none, []guaranteesv1.GuaranteeStatus{pledged, awaiting, ratified, active, suspended}},
		{proposed, withdrawn, none, []guaranteesv1.GuaranteeStatus{withdrawn}},
		{active, pledged, none, []guaranteesv1.GuaranteeStatus{pledged}}, // backwards: one move, which the server refuses
	}
	for _, tt := range tests {
		if got := statusSteps(tt.from, tt.target, tt.suspendedFrom); !slices.Equal(got, tt.want) {
			t.Errorf("statusSteps(%s, %s, %s) = %v, want %v", tt.from, tt.target, tt.suspendedFrom, got, tt.want)
		}
	}
}

// TestSettleWaitsForTheProjection: a status move whose evidence event the guarantees
// service does not know yet (it learns of events from the events service's stream, a
// moment after they are written) is tried again, as the batches are, rather than
// reported rejected.
func TestSettleWaitsForTheProjection(t *testing.T) {
	t.Parallel()
	g := guarantee()
	g.Status, g.StatusEvidence = guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_PLEDGED, "events/e1"
	srv := &refusingGuarantees{accept: true, unknownFirst: 2}
	s, err := Import(context.Background(), srv, noDeadline, strings.NewReader(line(t, g)+"\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Rejected != 0 || s.Created != 1 || s.Transitions != 1 || !slices.Equal(srv.transitions, []string{"GUARANTEE_STATUS_PLEDGED"}) {
		t.Fatalf("summary %q (problems %v), moves %v; want the guarantee created and pledged", s.String(), s.Problems, srv.transitions)
	}
}
