package gateway_test

import (
	"net/http"
	"testing"

	"google.golang.org/grpc/codes"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	gatewayv1 "github.com/guarantor/guarantor/gen/go/guarantor/gateway/v1"
	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
)

// seedDossier creates France and Ukraine, two events France took part in, and (when
// the guarantees service runs) a framework with one guarantee France gives Ukraine.
func seedDossier(t testing.TB, s *stack, withGuarantees bool) {
	t.Helper()
	ctx := s.ctxAs(editor)
	ev := eventsv1.NewEventsServiceClient(s.conn)
	for id, a := range map[string]*eventsv1.Actor{"fra": state("FRA", "France"), "ukr": state("UKR", "Ukraine"), "gbr": state("GBR", "United Kingdom")} {
		if _, err := ev.CreateActor(ctx, &eventsv1.CreateActorRequest{ActorId: id, Actor: a}); err != nil {
			t.Fatal(err)
		}
	}
	for id, parts := range map[string][]string{"paris": {"actors/fra", "actors/ukr"}, "kyiv": {"actors/fra"}, "london": {"actors/gbr"}} {
		if _, err := ev.CreateEvent(ctx, &eventsv1.CreateEventRequest{EventId: id, Event: summit(parts...)}); err != nil {
			t.Fatal(err)
		}
	}
	if !withGuarantees {
		return
	}
	gu := guaranteesv1.NewGuaranteesServiceClient(s.conn)
	if _, err := gu.CreateFramework(ctx, &guaranteesv1.CreateFrameworkRequest{FrameworkId: "paris-declaration", Framework: framework()}); err != nil {
		t.Fatal(err)
	}
	createGuarantee(t, ctx, gu, "fra-hub", "frameworks/paris-declaration", "actors/fra", "actors/ukr")
}

func TestActorDossier(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{})
	seedDossier(t, s, true)
	gw := gatewayv1.NewGatewayServiceClient(s.conn)
	d, err := gw.GetActorDossier(s.ctxAs(viewer), &gatewayv1.GetActorDossierRequest{Actor: "actors/fra"})
	if err != nil {
		t.Fatal(err)
	}
	if d.GetActor().GetName() != "actors/fra" || d.GetActorStatus().GetCode() != "OK" {
		t.Fatalf("actor = %v, status %v", d.GetActor(), d.GetActorStatus())
	}
	if len(d.GetCommitments()) != 1 || d.GetCommitments()[0].GetName() != "guarantees/fra-hub" || d.GetCommitmentsStatus().GetCode() != "OK" {
		t.Fatalf("commitments = %v, status %v", d.GetCommitments(), d.GetCommitmentsStatus())
	}
	var names []string
	for _, e := range d.GetEvents() {
		names = append(names, e.GetName())
	}
	if len(names) != 2 || d.GetEventsStatus().GetCode() != "OK" || d.GetEventsTruncated() {
		t.Fatalf("events = %v (truncated %v), status %v; want kyiv and paris", names, d.GetEventsTruncated(), d.GetEventsStatus())
	}
	// Truncation is reported.
	d, err = gw.GetActorDossier(s.ctxAs(viewer), &gatewayv1.GetActorDossierRequest{Actor: "actors/fra", MaxEvents: 1})
	if err != nil || len(d.GetEvents()) != 1 || !d.GetEventsTruncated() {
		t.Fatalf("max_events 1: %v events, truncated %v, %v", len(d.GetEvents()), d.GetEventsTruncated(), err)
	}
	_, err = gw.GetActorDossier(s.ctxAs(viewer), &gatewayv1.GetActorDossierRequest{Actor: "actors/nobody"})
	wantCode(t, err, codes.NotFound)
	_, err = gw.GetActorDossier(s.ctxAs(viewer), &gatewayv1.GetActorDossierRequest{Actor: "not-an-actor"})
	wantCode(t, err, codes.InvalidArgument)

	// Over HTTP.
	code, body := postJSON(t, rpcURL(s.httpURL, "guarantor.gateway.v1.GatewayService", "GetActorDossier"), s.keys[viewer], `{"actor":"actors/fra"}`)
	var resp struct {
		Actor       struct{ Name string }
		Commitments []struct{ Name string }
		Events      []struct{ Name string }
	}
	decodeJSON(t, body, &resp)
	if code != http.StatusOK || resp.Actor.Name != "actors/fra" || len(resp.Commitments) != 1 || len(resp.Events) != 2 {
		t.Fatalf("HTTP dossier: %d %s", code, body)
	}
}

// TestActorDossierWithBackendDown: the guarantees service is unreachable; the dossier
// still has the actor and its events, and says the commitments could not be fetched.
func TestActorDossierWithBackendDown(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{noGuarantees: true})
	seedDossier(t, s, false)
	d, err := gatewayv1.NewGatewayServiceClient(s.conn).GetActorDossier(s.ctxAs(viewer), &gatewayv1.GetActorDossierRequest{Actor: "actors/fra"})
	if err != nil {
		t.Fatal(err)
	}
	if d.GetActor().GetName() != "actors/fra" || d.GetActorStatus().GetCode() != "OK" {
		t.Fatalf("actor = %v, status %v", d.GetActor(), d.GetActorStatus())
	}
	if len(d.GetEvents()) != 2 || d.GetEventsStatus().GetCode() != "OK" {
		t.Fatalf("events = %v, status %v", d.GetEvents(), d.GetEventsStatus())
	}
	if d.GetCommitmentsStatus().GetCode() != "UNAVAILABLE" || d.GetCommitmentsStatus().GetMessage() == "" || len(d.GetCommitments()) != 0 {
		t.Fatalf("commitments = %v, status %v; want UNAVAILABLE with a message", d.GetCommitments(), d.GetCommitmentsStatus())
	}
}
