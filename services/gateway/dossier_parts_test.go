package gateway_test

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	gatewayv1 "github.com/guarantor/guarantor/gen/go/guarantor/gateway/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
	"github.com/guarantor/guarantor/services/gateway/internal/frame"
)

// startHangingBackend is a service that accepts every call and never answers it (a
// stuck replica, a network black hole behind a live connection).
func startHangingBackend(t testing.TB) string {
	t.Helper()
	srv := grpc.NewServer(grpc.UnknownServiceHandler(func(_ any, ss grpc.ServerStream) error {
		<-ss.Context().Done()
		return status.FromContextError(ss.Context().Err()).Err()
	}), grpc.ForceServerCodecV2(frame.Codec{}))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// TestDossierSlowBackendCostsItsPart: GetActorDossier promises that a part that cannot
// be fetched is reported in its status (e.g. DEADLINE_EXCEEDED) while the other parts
// are still returned. When the guarantees service hangs, the parts used to share the
// call's deadline, so the whole dossier failed with DEADLINE_EXCEEDED and the actor and
// events, fetched long before, were thrown away.
func TestDossierSlowBackendCostsItsPart(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{guaranteesAddr: startHangingBackend(t)})
	seedDossier(t, s, false)
	ctx, cancel := context.WithTimeout(s.ctxAs(viewer), 3*time.Second)
	defer cancel()
	d, err := gatewayv1.NewGatewayServiceClient(s.conn).GetActorDossier(ctx, &gatewayv1.GetActorDossierRequest{Actor: "actors/fra"})
	if err != nil {
		t.Fatalf("dossier failed as a whole (%v); want the actor and its 2 events, with commitments_status DEADLINE_EXCEEDED", err)
	}
	if d.GetActor().GetName() != "actors/fra" || len(d.GetEvents()) != 2 || d.GetCommitmentsStatus().GetCode() == "OK" {
		t.Fatalf("dossier = %v", d)
	}
}

// TestDossierRestrictedActor: an actor the caller may not see has no dossier. The
// events service answers PERMISSION_DENIED for an ACLED-licensed actor, which the
// dossier used to take as a failed part: an unentitled caller got the restricted
// actor's commitments and events, with only actor_status saying PERMISSION_DENIED.
func TestDossierRestrictedActor(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{})
	ev := eventsv1.NewEventsServiceClient(s.conn)
	a := state("RUS", "Russia")
	a.License = typev1.License_LICENSE_ACLED
	if _, err := ev.CreateActor(s.ctxAs(admin), &eventsv1.CreateActorRequest{ActorId: "acled-actor", Actor: a}); err != nil {
		t.Fatal(err)
	}
	if _, err := ev.CreateEvent(s.ctxAs(admin), &eventsv1.CreateEventRequest{EventId: "meeting", Event: summit("actors/acled-actor")}); err != nil {
		t.Fatal(err)
	}
	gw := gatewayv1.NewGatewayServiceClient(s.conn)
	// The analyst, entitled, sees it.
	if _, err := gw.GetActorDossier(s.ctxAs(analyst), &gatewayv1.GetActorDossierRequest{Actor: "actors/acled-actor"}); err != nil {
		t.Fatalf("analyst: %v", err)
	}
	// The viewer may not read the actor.
	_, err := ev.GetActor(s.ctxAs(viewer), &eventsv1.GetActorRequest{Name: "actors/acled-actor"})
	t.Logf("viewer GetActor: %v", err)
	d, err := gw.GetActorDossier(s.ctxAs(viewer), &gatewayv1.GetActorDossierRequest{Actor: "actors/acled-actor"})
	if err == nil {
		t.Fatalf("an unentitled viewer got the dossier of an ACLED actor: actor_status %v, %d events, commitments %v",
			d.GetActorStatus(), len(d.GetEvents()), d.GetCommitmentsStatus())
	}
	if c := status.Code(err); c != codes.NotFound && c != codes.PermissionDenied {
		t.Fatalf("viewer dossier: %v", err)
	}
}
