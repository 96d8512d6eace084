// Package dossier serves guarantor.gateway.v1.GatewayService.GetActorDossier: an actor,
// the guarantees it gives or receives, and the events it took part in, fetched from
// the events and guarantees services in parallel. A part that fails is reported in
// the response rather than failing the whole dossier: an analyst still gets the
// events while the guarantees service is down, and sees that it is.
package dossier

import (
	"context"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	gatewayv1 "github.com/guarantor/guarantor/gen/go/guarantor/gateway/v1"
	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
	"github.com/guarantor/guarantor/services/gateway/internal/backends"
)

// Limits on each part, as documented in the proto.
const (
	defaultMax = 100
	maxMax     = 1000
)

// Service builds dossiers.
type Service struct {
	Events     eventsv1.EventsServiceClient
	Guarantees guaranteesv1.GuaranteesServiceClient
	// Outgoing adds the signed caller identity (and request id) to a backend call's
	// context, so the services apply the caller's licence visibility.
	Outgoing func(ctx context.Context) (context.Context, error)
}

func limit(n int32) int {
	switch {
	case n <= 0:
		return defaultMax
	case n > maxMax:
		return maxMax
	}
	return int(n)
}

func partStatus(err error) *gatewayv1.PartStatus {
	if err == nil {
		return &gatewayv1.PartStatus{Code: codes.OK.String()}
	}
	st := status.Convert(err)
	return &gatewayv1.PartStatus{Code: codeName(st.Code()), Message: st.Message()}
}

// codeName is the canonical upper-case name of a code ("UNAVAILABLE"), as in the
// google.rpc.Code enum; codes.Code.String gives "Unavailable".
func codeName(c codes.Code) string {
	names := map[codes.Code]string{
		codes.OK: "OK", codes.Canceled: "CANCELLED", codes.Unknown: "UNKNOWN", codes.InvalidArgument: "INVALID_ARGUMENT",
		codes.DeadlineExceeded: "DEADLINE_EXCEEDED", codes.NotFound: "NOT_FOUND", codes.AlreadyExists: "ALREADY_EXISTS",
		codes.PermissionDenied: "PERMISSION_DENIED", codes.ResourceExhausted: "RESOURCE_EXHAUSTED",
		codes.FailedPrecondition: "FAILED_PRECONDITION", codes.Aborted: "ABORTED", codes.OutOfRange: "OUT_OF_RANGE",
		codes.Unimplemented: "UNIMPLEMENTED", codes.Internal: "INTERNAL", codes.Unavailable: "UNAVAILABLE",
		codes.DataLoss: "DATA_LOSS", codes.Unauthenticated: "UNAUTHENTICATED",
	}
	if n, ok := names[c]; ok {
		return n
	}
	return "CODE_" + strconv.Itoa(int(c))
}

// Get implements GatewayService.GetActorDossier.
func (s *Service) Get(ctx context.Context, req *gatewayv1.GetActorDossierRequest) (*gatewayv1.GetActorDossierResponse, error) {
	ctx, err := s.Outgoing(ctx)
	if err != nil {
		return nil, err
	}
	// The parts end a tenth of the remaining time before the call does, so that one slow
	// backend costs its part (DEADLINE_EXCEEDED in its status) and not the whole answer.
	parts := ctx
	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		parts, cancel = context.WithDeadline(ctx, deadline.Add(-time.Until(deadline)/10))
		defer cancel()
	}
	out := &gatewayv1.GetActorDossierResponse{}
	var actorErr, commitErr, eventsErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		var r *eventsv1.GetActorResponse
		r, actorErr = s.Events.GetActor(parts, &eventsv1.GetActorRequest{Name: req.GetActor()})
		out.Actor = r.GetActor()
	})
	wg.Go(func() {
		out.Commitments, out.CommitmentsTruncated, commitErr = s.commitments(parts, req.GetActor(), limit(req.GetMaxCommitments()))
	})
	wg.Go(func() {
		out.Events, out.EventsTruncated, eventsErr = s.events(parts, req.GetActor(), limit(req.GetMaxEvents()))
	})
	wg.Wait()
	if c := status.Code(actorErr); c == codes.NotFound || c == codes.PermissionDenied {
		// No such actor, or one the caller may not see: the dossier does not exist.
		return nil, actorErr
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	out.ActorStatus = partStatus(backends.Public(actorErr, backends.Events))
	out.CommitmentsStatus = partStatus(backends.Public(commitErr, backends.Guarantees))
	out.EventsStatus = partStatus(backends.Public(eventsErr, backends.Events))
	return out, nil
}

func (s *Service) commitments(ctx context.Context, actor string, n int) ([]*guaranteesv1.Guarantee, bool, error) {
	var out []*guaranteesv1.Guarantee
	token := ""
	for {
		r, err := s.Guarantees.ListActorCommitments(ctx, &guaranteesv1.ListActorCommitmentsRequest{
			Actor: actor, PageSize: int32(min(n-len(out)+1, maxMax)), PageToken: token,
		})
		if err != nil {
			return nil, false, err
		}
		out = append(out, r.GetGuarantees()...)
		token = r.GetNextPageToken()
		if len(out) > n {
			return out[:n], true, nil
		}
		if token == "" {
			return out, false, nil
		}
	}
}

func (s *Service) events(ctx context.Context, actor string, n int) ([]*eventsv1.Event, bool, error) {
	var out []*eventsv1.Event
	token := ""
	filter := "participant = " + strconv.Quote(actor)
	for {
		r, err := s.Events.ListEvents(ctx, &eventsv1.ListEventsRequest{
			Filter: filter, OrderBy: "when.time desc", PageSize: int32(min(n-len(out)+1, maxMax)), PageToken: token,
		})
		if err != nil {
			return nil, false, err
		}
		out = append(out, r.GetEvents()...)
		token = r.GetNextPageToken()
		if len(out) > n {
			return out[:n], true, nil
		}
		if token == "" {
			return out, false, nil
		}
	}
}
