package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
	"github.com/guarantor/guarantor/platform/principal"
	"github.com/guarantor/guarantor/services/gateway/internal/backends"
)

func wantCode(t testing.TB, err error, code codes.Code) *status.Status {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != code {
		t.Fatalf("error = %v, want code %s", err, code)
	}
	return st
}

func state(code, name string) *eventsv1.Actor {
	return &eventsv1.Actor{Kind: eventsv1.ActorKind_ACTOR_KIND_STATE, DisplayName: name, CountryCode: code}
}

func day(s string) *timestamppb.Timestamp {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return timestamppb.New(t)
}

func summit(participants ...string) *eventsv1.Event {
	e := &eventsv1.Event{
		Type:     eventsv1.EventType_EVENT_TYPE_DIPLOMACY,
		SubType:  "summit",
		Title:    "Paris meeting on security guarantees for Ukraine",
		When:     &typev1.When{Time: day("2024-01-06"), Precision: typev1.DatePrecision_DATE_PRECISION_DAY},
		Location: &eventsv1.Location{Place: "Paris", CountryCode: "FRA"},
	}
	for _, p := range participants {
		e.Participants = append(e.Participants, &eventsv1.Participant{Actor: p, Role: eventsv1.ParticipantRole_PARTICIPANT_ROLE_ATTENDEE})
	}
	return e
}

func framework() *guaranteesv1.Framework {
	return &guaranteesv1.Framework{Title: "Paris declaration", Kind: guaranteesv1.FrameworkKind_FRAMEWORK_KIND_DECLARATION}
}

// createGuarantee creates a guarantee, retrying while the guarantees service's
// projection of the events stream has not yet seen the actors it names.
func createGuarantee(t testing.TB, ctx context.Context, c guaranteesv1.GuaranteesServiceClient, id, framework, guarantor, beneficiary string) *guaranteesv1.Guarantee {
	t.Helper()
	req := &guaranteesv1.CreateGuaranteeRequest{GuaranteeId: id, Guarantee: &guaranteesv1.Guarantee{
		Framework:   framework,
		Guarantor:   &guaranteesv1.Party{Party: &guaranteesv1.Party_Actor{Actor: guarantor}},
		Beneficiary: beneficiary,
		Title:       "Military hub",
		Domain:      guaranteesv1.Domain_DOMAIN_LAND,
		Capability:  guaranteesv1.Capability_CAPABILITY_TRAINING,
		Role:        guaranteesv1.Role_ROLE_LEAD,
	}}
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err := c.CreateGuarantee(ctx, req)
		if err == nil {
			return r.GetGuarantee()
		}
		if status.Code(err) != codes.FailedPrecondition || time.Now().After(deadline) {
			t.Fatalf("create guarantee %s: %v", id, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestProxyRoundTrip drives both services through the gateway with typed clients.
func TestProxyRoundTrip(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{})
	ctx := s.ctxAs(editor)
	ev := eventsv1.NewEventsServiceClient(s.conn)
	gu := guaranteesv1.NewGuaranteesServiceClient(s.conn)

	for id, a := range map[string]*eventsv1.Actor{"fra": state("FRA", "France"), "ukr": state("UKR", "Ukraine")} {
		if _, err := ev.CreateActor(ctx, &eventsv1.CreateActorRequest{ActorId: id, Actor: a}); err != nil {
			t.Fatalf("CreateActor %s: %v", id, err)
		}
	}
	created, err := ev.CreateEvent(ctx, &eventsv1.CreateEventRequest{EventId: "paris", Event: summit("actors/fra", "actors/ukr")})
	if err != nil {
		t.Fatalf("CreateEvent: %v", err)
	}
	got, err := ev.GetEvent(ctx, &eventsv1.GetEventRequest{Name: "events/paris"})
	if err != nil || !proto.Equal(got.GetEvent(), created.GetEvent()) {
		t.Fatalf("GetEvent = %v, %v; want %v", got, err, created)
	}
	list, err := ev.ListEvents(ctx, &eventsv1.ListEventsRequest{Filter: `participant = "actors/fra"`})
	if err != nil || len(list.GetEvents()) != 1 {
		t.Fatalf("ListEvents = %v, %v", list, err)
	}
	upd, err := ev.UpdateEvent(ctx, &eventsv1.UpdateEventRequest{
		Event:      &eventsv1.Event{Name: "events/paris", Title: "Paris summit", Etag: created.GetEvent().GetEtag()},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}},
	})
	if err != nil || upd.GetEvent().GetTitle() != "Paris summit" {
		t.Fatalf("UpdateEvent = %v, %v", upd, err)
	}
	// A stale etag: the backend's ABORTED reaches the client unchanged.
	_, err = ev.UpdateEvent(ctx, &eventsv1.UpdateEventRequest{
		Event:      &eventsv1.Event{Name: "events/paris", Title: "x", Etag: created.GetEvent().GetEtag()},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}},
	})
	wantCode(t, err, codes.Aborted)
	revs, err := ev.ListRevisions(ctx, &eventsv1.ListRevisionsRequest{Name: "events/paris"})
	if err != nil || len(revs.GetChanges()) != 2 {
		t.Fatalf("ListRevisions = %v, %v", revs, err)
	}
	for _, c := range revs.GetChanges() {
		// The services record the principal the gateway authenticated.
		if c.GetPrincipal() != "key:editor-1" {
			t.Errorf("change principal = %q, want key:editor-1", c.GetPrincipal())
		}
	}

	if _, err := gu.CreateFramework(ctx, &guaranteesv1.CreateFrameworkRequest{FrameworkId: "paris-declaration", Framework: framework()}); err != nil {
		t.Fatalf("CreateFramework: %v", err)
	}
	if _, err := gu.GetFramework(ctx, &guaranteesv1.GetFrameworkRequest{Name: "frameworks/paris-declaration"}); err != nil {
		t.Fatalf("GetFramework: %v", err)
	}
	createGuarantee(t, ctx, gu, "fra-hub", "frameworks/paris-declaration", "actors/fra", "actors/ukr")
	lg, err := gu.ListGuarantees(ctx, &guaranteesv1.ListGuaranteesRequest{})
	if err != nil || len(lg.GetGuarantees()) != 1 {
		t.Fatalf("ListGuarantees = %v, %v", lg, err)
	}
	com, err := gu.ListActorCommitments(ctx, &guaranteesv1.ListActorCommitmentsRequest{Actor: "actors/fra"})
	if err != nil || len(com.GetGuarantees()) != 1 {
		t.Fatalf("ListActorCommitments = %v, %v", com, err)
	}

	// Server streaming through the proxy: a replay of the events service's changes.
	w, err := ev.Watch(ctx, &eventsv1.WatchRequest{ResourceVersion: 1, Collections: []string{"events"}})
	if err != nil {
		t.Fatal(err)
	}
	first, err := w.Recv()
	if err != nil || first.GetChange().GetResourceName() != "events/paris" {
		t.Fatalf("events Watch first = %v, %v", first, err)
	}
	gw, err := gu.Watch(ctx, &guaranteesv1.WatchRequest{ResourceVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := gw.Recv(); err != nil || m.GetChange() == nil {
		t.Fatalf("guarantees Watch first = %v, %v", m, err)
	}

	if _, err := ev.DeleteEvent(ctx, &eventsv1.DeleteEventRequest{Name: "events/paris"}); err != nil {
		t.Fatalf("DeleteEvent: %v", err)
	}
	_, err = ev.GetEvent(ctx, &eventsv1.GetEventRequest{Name: "events/paris"})
	wantCode(t, err, codes.NotFound)
}

// TestEveryForwardedMethodIsTransparent calls every method of both proxied services
// with an empty request, once through the gateway and once straight at the service
// with the same identity, and expects the same answer: the gateway adds nothing and
// hides nothing (codes, messages and error details).
func TestEveryForwardedMethodIsTransparent(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{})
	direct := map[string]*grpc.ClientConn{backends.Events: s.events.Conn, backends.Guarantees: s.guarantees.Conn}
	methods := backends.NewMethods()
	n := 0
	for _, m := range methods.All() {
		if m.Backend == "" {
			continue
		}
		n++
		t.Run(strings.TrimPrefix(m.FullMethod, "/"), func(t *testing.T) {
			viaGateway := invoke(t, s.ctxAs(admin), s.conn, m)
			ctx := s.events.As(context.Background(), principal.Principal{ID: "key:admin-1", Role: principal.RoleAdmin, Entitlements: []string{"acled"}})
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			straight := invoke(t, ctx, direct[m.Backend], m)
			if viaGateway.Code() == codes.Unimplemented || viaGateway.Code() == codes.Unauthenticated {
				t.Fatalf("through the gateway: %v", viaGateway.Err())
			}
			if !proto.Equal(viaGateway.Proto(), straight.Proto()) {
				t.Fatalf("through the gateway: %v\nstraight to the service: %v", viaGateway.Proto(), straight.Proto())
			}
		})
	}
	if n < 30 {
		t.Fatalf("only %d forwarded methods found", n)
	}
}

// invoke calls m with an empty request; for streams it reads the first message.
func invoke(t testing.TB, ctx context.Context, conn *grpc.ClientConn, m backends.Method) *status.Status {
	t.Helper()
	in, err := protoregistry.GlobalTypes.FindMessageByName(m.Desc.Input().FullName())
	if err != nil {
		t.Fatal(err)
	}
	out, err := protoregistry.GlobalTypes.FindMessageByName(m.Desc.Output().FullName())
	if err != nil {
		t.Fatal(err)
	}
	req, resp := in.New().Interface(), out.New().Interface()
	if !m.ServerStreaming {
		return status.Convert(conn.Invoke(ctx, m.FullMethod, req, resp))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cs, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, m.FullMethod)
	if err != nil {
		return status.Convert(err)
	}
	if err := cs.SendMsg(req); err != nil && !errors.Is(err, io.EOF) {
		return status.Convert(err)
	}
	_ = cs.CloseSend()
	if err := cs.RecvMsg(resp); err != nil {
		return status.Convert(err)
	}
	// The first message of a watch from now is a bookmark: compare its type only (its
	// version differs between the two calls).
	return status.New(codes.OK, fmt.Sprint(resp.ProtoReflect().Descriptor().FullName()))
}

// TestErrorDetailsReachClient checks a backend's BadRequest field violations arrive
// intact through the gateway.
func TestErrorDetailsReachClient(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{noGuarantees: true})
	_, err := eventsv1.NewEventsServiceClient(s.conn).CreateEvent(s.ctxAs(editor), &eventsv1.CreateEventRequest{EventId: "Bad Id!", Event: &eventsv1.Event{}})
	st := wantCode(t, err, codes.InvalidArgument)
	var fields []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
		}
	}
	if len(fields) == 0 || !strings.Contains(strings.Join(fields, ","), "event_id") {
		t.Fatalf("field violations = %v, want event_id among them (status %v)", fields, st.Proto())
	}
}

// TestForgedPrincipalRefused: a caller who reaches a service directly cannot make up
// an identity, and one who goes through the gateway cannot smuggle one past it.
func TestForgedPrincipalRefused(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{noGuarantees: true})
	forged := principal.Principal{ID: "key:admin-1", Role: principal.RoleAdmin, Entitlements: []string{"acled"}}
	tok, err := principal.Sign(forged, []byte(strings.Repeat("f", 32)), time.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		conn *grpc.ClientConn
		ctx  context.Context
		want codes.Code
	}{
		{"forged straight to the service", s.events.Conn, metadata.AppendToOutgoingContext(s.ctxAs(""), principal.Header, tok), codes.Unauthenticated},
		{"unsigned straight to the service", s.events.Conn, metadata.AppendToOutgoingContext(s.ctxAs(""), principal.Header, "key:admin-1"), codes.Unauthenticated},
		// The gateway decides from the viewer's key, not from the forged header.
		{"forged through the gateway", s.conn, metadata.AppendToOutgoingContext(s.ctxAs(viewer), principal.Header, tok), codes.PermissionDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := eventsv1.NewEventsServiceClient(tt.conn).CreateActor(tt.ctx, &eventsv1.CreateActorRequest{ActorId: "fra", Actor: state("FRA", "France")})
			wantCode(t, err, tt.want)
		})
	}
	// An editor forging an admin identity through the gateway is recorded as itself.
	ctx := metadata.AppendToOutgoingContext(s.ctxAs(editor), principal.Header, tok)
	ev := eventsv1.NewEventsServiceClient(s.conn)
	if _, err := ev.CreateActor(ctx, &eventsv1.CreateActorRequest{ActorId: "gbr", Actor: state("GBR", "United Kingdom")}); err != nil {
		t.Fatal(err)
	}
	revs, err := ev.ListRevisions(s.ctxAs(editor), &eventsv1.ListRevisionsRequest{Name: "actors/gbr"})
	if err != nil || len(revs.GetChanges()) != 1 || revs.GetChanges()[0].GetPrincipal() != "key:editor-1" {
		t.Fatalf("revisions = %v, %v; want one change by key:editor-1", revs, err)
	}
}
