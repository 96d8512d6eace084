package gateway_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	"github.com/guarantor/guarantor/platform/principal"
	"github.com/guarantor/guarantor/services/gateway"
	"github.com/guarantor/guarantor/services/gateway/internal/frame"
)

// recordingBackend stands in for the events service: it records what each call carried
// and fails it with a status full of details, so the test sees both directions of the
// hop.
type recordingBackend struct {
	mu       sync.Mutex
	md       metadata.MD
	deadline time.Duration // remaining at arrival; 0 when none
	reply    *status.Status
	answer   proto.Message // when set, the call succeeds with it instead of failing with reply
}

func (b *recordingBackend) handle(_ any, ss grpc.ServerStream) error {
	if m, _ := grpc.MethodFromServerStream(ss); m != "/guarantor.events.v1.EventsService/GetEvent" {
		// The gateway's health checks, among others: not what the test looks at.
		return status.Error(codes.Unimplemented, "not recorded")
	}
	f := &frame.Frame{}
	if err := ss.RecvMsg(f); err != nil {
		return err
	}
	md, _ := metadata.FromIncomingContext(ss.Context())
	b.mu.Lock()
	defer b.mu.Unlock()
	b.md = md
	b.deadline = 0
	if d, ok := ss.Context().Deadline(); ok {
		b.deadline = time.Until(d)
	}
	ss.SetTrailer(metadata.Pairs("x-backend-trailer", "kept"))
	if b.answer != nil {
		if err := ss.SendHeader(metadata.Pairs("x-backend-header", "kept")); err != nil {
			return err
		}
		return ss.SendMsg(b.answer)
	}
	return b.reply.Err()
}

func startRecordingBackend(t testing.TB) (*recordingBackend, string) {
	t.Helper()
	st, err := status.New(codes.FailedPrecondition, "guarantee is PLEDGED; allowed moves: AWAITING_RATIFICATION, WITHDRAWN").WithDetails(
		&errdetails.PreconditionFailure{Violations: []*errdetails.PreconditionFailure_Violation{{Type: "STATUS", Subject: "guarantees/x", Description: "illegal transition"}}},
		&errdetails.RetryInfo{},
	)
	if err != nil {
		t.Fatal(err)
	}
	b := &recordingBackend{reply: st}
	srv := grpc.NewServer(grpc.UnknownServiceHandler(b.handle), grpc.ForceServerCodecV2(frame.Codec{}))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return b, lis.Addr().String()
}

// TestPassThrough: deadlines propagate (with a default when the client sets none),
// request id and trace context reach the service, credentials and forged identities do
// not, the identity is the gateway's signed one, and the service's status (code,
// message, details, trailers) reaches the client unchanged.
func TestPassThrough(t *testing.T) {
	t.Parallel()
	b, addr := startRecordingBackend(t)
	s := startStack(t, stackOptions{eventsAddr: addr, noGuarantees: true, tune: func(c *gateway.Config) { c.DefaultTimeout = 7 * time.Second }})
	const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	tests := []struct {
		name         string
		timeout      time.Duration
		wantDeadline time.Duration
	}{
		{"client deadline", 3 * time.Second, 3 * time.Second},
		{"default deadline", 0, 7 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := metadata.AppendToOutgoingContext(context.Background(),
				"authorization", "Bearer "+s.keys[editor],
				"x-request-id", "req-123",
				"traceparent", traceparent,
				principal.Header, "forged",
				"x-custom", "not forwarded")
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			var trailer metadata.MD
			req := &eventsv1.GetEventRequest{Name: "events/paris", ShowDeleted: true}
			_, err := eventsv1.NewEventsServiceClient(s.conn).GetEvent(ctx, req, grpc.Trailer(&trailer))
			got := status.Convert(err)
			if !proto.Equal(got.Proto(), b.reply.Proto()) {
				t.Fatalf("status = %v, want the service's %v", got.Proto(), b.reply.Proto())
			}
			if v := trailer.Get("x-backend-trailer"); len(v) != 1 || v[0] != "kept" {
				t.Fatalf("trailer = %v", trailer)
			}
			b.mu.Lock()
			defer b.mu.Unlock()
			if b.deadline <= tt.wantDeadline-time.Second || b.deadline > tt.wantDeadline {
				t.Fatalf("deadline at the service = %v, want about %v", b.deadline, tt.wantDeadline)
			}
			for k, want := range map[string]string{"x-request-id": "req-123", "traceparent": traceparent} {
				if v := b.md.Get(k); len(v) != 1 || v[0] != want {
					t.Errorf("%s at the service = %v, want %q", k, v, want)
				}
			}
			for _, k := range []string{"authorization", "x-custom"} {
				if v := b.md.Get(k); len(v) != 0 {
					t.Errorf("%s reached the service: %v", k, v)
				}
			}
			ids := b.md.Get(principal.Header)
			if len(ids) != 1 {
				t.Fatalf("identities at the service: %v", ids)
			}
			p, err := principal.Verify(ids[0], s.key, time.Now())
			if err != nil || p.ID != "key:editor-1" || p.Role != principal.RoleEditor {
				t.Fatalf("identity at the service = %+v, %v", p, err)
			}
		})
	}
}

// TestPassThroughAnswer: a successful unary answer reaches the client byte for byte, with
// the service's headers and trailers.
func TestPassThroughAnswer(t *testing.T) {
	t.Parallel()
	b, addr := startRecordingBackend(t)
	want := &eventsv1.GetEventResponse{Event: &eventsv1.Event{Name: "events/paris", Title: "Coalition of the willing meets in Paris"}}
	b.mu.Lock()
	b.answer = want
	b.mu.Unlock()
	s := startStack(t, stackOptions{eventsAddr: addr, noGuarantees: true})
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+s.keys[editor])
	var header, trailer metadata.MD
	got, err := eventsv1.NewEventsServiceClient(s.conn).GetEvent(ctx, &eventsv1.GetEventRequest{Name: "events/paris"}, grpc.Header(&header), grpc.Trailer(&trailer))
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, want) {
		t.Errorf("answer = %v, want %v", got, want)
	}
	if v := header.Get("x-backend-header"); len(v) != 1 || v[0] != "kept" {
		t.Errorf("header = %v", header)
	}
	if v := trailer.Get("x-backend-trailer"); len(v) != 1 || v[0] != "kept" {
		t.Errorf("trailer = %v", trailer)
	}
}
