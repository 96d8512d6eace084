package grpcserver_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	"github.com/guarantor/guarantor/platform/apperr"
	"github.com/guarantor/guarantor/platform/grpcserver"
	"github.com/guarantor/guarantor/platform/testkit/grpctest"
)

const eventsService = "guarantor.events.v1.EventsService"

type principalKey struct{}

// fakeEvents answers GetEvent according to the requested name, so each test
// can trigger the behaviour it needs.
type fakeEvents struct {
	eventsv1.UnimplementedEventsServiceServer
}

func (fakeEvents) GetEvent(ctx context.Context, req *eventsv1.GetEventRequest) (*eventsv1.GetEventResponse, error) {
	switch req.GetName() {
	case "events/panic":
		panic("boom")
	case "events/missing":
		return nil, apperr.NotFound("event %s", req.GetName())
	case "events/busy":
		return nil, apperr.Unavailable(3*time.Second, "database unavailable")
	case "events/bug":
		return nil, errors.New("query failed: password=hunter2")
	case "events/status":
		return nil, status.Error(codes.FailedPrecondition, "from a downstream call")
	}
	principal, _ := ctx.Value(principalKey{}).(string)
	return &eventsv1.GetEventResponse{Event: &eventsv1.Event{Name: req.GetName(), Title: principal}}, nil
}

func (fakeEvents) CreateEvent(_ context.Context, req *eventsv1.CreateEventRequest) (*eventsv1.CreateEventResponse, error) {
	return &eventsv1.CreateEventResponse{Event: req.GetEvent()}, nil
}

func (fakeEvents) ListEvents(context.Context, *eventsv1.ListEventsRequest) (*eventsv1.ListEventsResponse, error) {
	return &eventsv1.ListEventsResponse{}, nil
}

func (fakeEvents) Watch(req *eventsv1.WatchRequest, stream grpc.ServerStreamingServer[eventsv1.WatchResponse]) error {
	switch req.GetName() {
	case "events/panic":
		panic("stream boom")
	case "events/block":
		// A watch that never ends by itself, like a real one.
		if err := stream.Send(&eventsv1.WatchResponse{ResourceVersion: 1}); err != nil {
			return err
		}
		<-stream.Context().Done()
		return stream.Context().Err()
	}
	return stream.Send(&eventsv1.WatchResponse{ResourceVersion: 7})
}

type harness struct {
	srv    *grpcserver.Server
	conn   *grpc.ClientConn
	client eventsv1.EventsServiceClient
	logs   *observer.ObservedLogs
}

// start builds a server like a service would, serves it in-process and
// returns a client. Logs go to the test log and to an observer.
func start(t testing.TB, cfg grpcserver.Config, opts ...grpcserver.Option) *harness {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(zapcore.NewTee(zaptest.NewLogger(t).Core(), core))
	srv, err := grpcserver.New(cfg, log, opts...)
	if err != nil {
		t.Fatalf("grpcserver.New: %v", err)
	}
	eventsv1.RegisterEventsServiceServer(srv, fakeEvents{})
	conn := grpctest.Start(t, srv)
	return &harness{srv: srv, conn: conn, client: eventsv1.NewEventsServiceClient(conn), logs: logs}
}

func ctxT(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestHealth(t *testing.T) {
	t.Parallel()
	h := start(t, grpcserver.Config{})
	hc := healthpb.NewHealthClient(h.conn)
	tests := []struct {
		service  string
		want     healthpb.HealthCheckResponse_ServingStatus
		wantCode codes.Code
	}{
		{service: "", want: healthpb.HealthCheckResponse_SERVING},
		{service: eventsService, want: healthpb.HealthCheckResponse_SERVING},
		{service: "no.such.Service", wantCode: codes.NotFound},
	}
	for _, tt := range tests {
		t.Run("service="+tt.service, func(t *testing.T) {
			resp, err := hc.Check(ctxT(t), &healthpb.HealthCheckRequest{Service: tt.service})
			if status.Code(err) != tt.wantCode {
				t.Fatalf("Check(%q) error = %v, want code %s", tt.service, err, tt.wantCode)
			}
			if err == nil && resp.GetStatus() != tt.want {
				t.Errorf("Check(%q) = %s, want %s", tt.service, resp.GetStatus(), tt.want)
			}
		})
	}

	h.srv.Health().SetServingStatus(eventsService, healthpb.HealthCheckResponse_NOT_SERVING)
	resp, err := hc.Check(ctxT(t), &healthpb.HealthCheckRequest{Service: eventsService})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("after SetServingStatus(NOT_SERVING): Check = %v, %v", resp.GetStatus(), err)
	}
}

func TestPanicBecomesInternal(t *testing.T) {
	t.Parallel()
	h := start(t, grpcserver.Config{})
	ctx := ctxT(t)

	_, err := h.client.GetEvent(ctx, &eventsv1.GetEventRequest{Name: "events/panic"})
	if status.Code(err) != codes.Internal || status.Convert(err).Message() != "internal error" {
		t.Fatalf("unary panic: got %v, want INTERNAL \"internal error\"", err)
	}
	// The process and the server survive: the next call works.
	if _, err := h.client.GetEvent(ctx, &eventsv1.GetEventRequest{Name: "events/ok"}); err != nil {
		t.Fatalf("call after panic: %v", err)
	}

	stream, err := h.client.Watch(ctx, &eventsv1.WatchRequest{Name: "events/panic"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); status.Code(err) != codes.Internal {
		t.Fatalf("stream panic: got %v, want INTERNAL", err)
	}

	panics := h.logs.FilterMessage("panic in gRPC handler").All()
	if len(panics) != 2 {
		t.Fatalf("logged %d panics, want 2 (once per panic)", len(panics))
	}
	for _, e := range panics {
		if e.Level != zapcore.ErrorLevel || !strings.Contains(string(e.ContextMap()["stack"].(string)), "fakeEvents") {
			t.Errorf("panic log = %v %v, want error level with the handler's stack", e.Level, e.ContextMap())
		}
	}
}

// badRequest returns the field violations of a status as "field: description".
func badRequest(t testing.TB, err error) map[string]string {
	t.Helper()
	got := map[string]string{}
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				got[v.GetField()] = v.GetDescription()
			}
		}
	}
	return got
}

func TestValidation(t *testing.T) {
	t.Parallel()
	h := start(t, grpcserver.Config{})
	tests := []struct {
		name      string
		call      func(ctx context.Context) error
		wantCode  codes.Code
		wantField string // a field expected among the BadRequest violations
	}{
		{
			name: "get: name pattern",
			call: func(ctx context.Context) error {
				_, err := h.client.GetEvent(ctx, &eventsv1.GetEventRequest{Name: "bad"})
				return err
			},
			wantCode: codes.InvalidArgument, wantField: "name",
		},
		{
			name: "list: negative page size",
			call: func(ctx context.Context) error {
				_, err := h.client.ListEvents(ctx, &eventsv1.ListEventsRequest{PageSize: -1})
				return err
			},
			wantCode: codes.InvalidArgument, wantField: "page_size",
		},
		{
			name: "create: event required",
			call: func(ctx context.Context) error {
				_, err := h.client.CreateEvent(ctx, &eventsv1.CreateEventRequest{EventId: "a"})
				return err
			},
			wantCode: codes.InvalidArgument, wantField: "event",
		},
		{
			name: "create: nested field path",
			call: func(ctx context.Context) error {
				_, err := h.client.CreateEvent(ctx, &eventsv1.CreateEventRequest{
					EventId: "a", Event: &eventsv1.Event{Title: strings.Repeat("x", 301)},
				})
				return err
			},
			wantCode: codes.InvalidArgument, wantField: "event.title",
		},
		{
			name: "stream: received message validated",
			call: func(ctx context.Context) error {
				s, err := h.client.Watch(ctx, &eventsv1.WatchRequest{Name: "nope"})
				if err != nil {
					return err
				}
				_, err = s.Recv()
				return err
			},
			wantCode: codes.InvalidArgument, wantField: "name",
		},
		{
			name: "valid request passes",
			call: func(ctx context.Context) error {
				_, err := h.client.ListEvents(ctx, &eventsv1.ListEventsRequest{PageSize: 10})
				return err
			},
			wantCode: codes.OK,
		},
		{
			name: "valid stream passes",
			call: func(ctx context.Context) error {
				s, err := h.client.Watch(ctx, &eventsv1.WatchRequest{Name: "events/a"})
				if err != nil {
					return err
				}
				resp, err := s.Recv()
				if err == nil && resp.GetResourceVersion() != 7 {
					return errors.New("unexpected watch response")
				}
				return err
			},
			wantCode: codes.OK,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(ctxT(t))
			if status.Code(err) != tt.wantCode {
				t.Fatalf("got %v, want code %s", err, tt.wantCode)
			}
			if tt.wantField == "" {
				return
			}
			vs := badRequest(t, err)
			if vs[tt.wantField] == "" {
				t.Errorf("BadRequest violations = %v, want one for %q", vs, tt.wantField)
			}
			if !strings.Contains(status.Convert(err).Message(), tt.wantField) {
				t.Errorf("message %q does not name the field %q", status.Convert(err).Message(), tt.wantField)
			}
		})
	}
}

func TestMessageSizeLimit(t *testing.T) {
	t.Parallel()
	h := start(t, grpcserver.Config{MaxRecvMsgBytes: 1024})
	ctx := ctxT(t)
	_, err := h.client.CreateEvent(ctx, &eventsv1.CreateEventRequest{
		EventId: "big", Event: &eventsv1.Event{Summary: strings.Repeat("x", 4096)},
	})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("oversized request: got %v, want RESOURCE_EXHAUSTED", err)
	}
	_, err = h.client.CreateEvent(ctx, &eventsv1.CreateEventRequest{
		EventId: "small", Event: &eventsv1.Event{Summary: strings.Repeat("x", 100)},
	})
	if err != nil {
		t.Fatalf("request under the limit: %v", err)
	}
}

func TestAuth(t *testing.T) {
	t.Parallel()
	auth := func(ctx context.Context, fullMethod string) (context.Context, error) {
		switch strings.Join(metadata.ValueFromIncomingContext(ctx, "authorization"), "") {
		case "Bearer good":
			return context.WithValue(ctx, principalKey{}, "alice"), nil
		case "":
			return nil, apperr.Unauthenticated("missing token")
		default:
			return nil, apperr.PermissionDenied("token may not call %s", fullMethod)
		}
	}
	h := start(t, grpcserver.Config{Reflection: true}, grpcserver.WithAuth(auth))
	withToken := func(ctx context.Context, tok string) context.Context {
		if tok == "" {
			return ctx
		}
		return metadata.AppendToOutgoingContext(ctx, "authorization", tok)
	}

	tests := []struct {
		name     string
		token    string
		wantCode codes.Code
	}{
		{name: "no token", wantCode: codes.Unauthenticated},
		{name: "wrong token", token: "Bearer bad", wantCode: codes.PermissionDenied},
		{name: "good token", token: "Bearer good", wantCode: codes.OK},
	}
	for _, tt := range tests {
		t.Run("unary/"+tt.name, func(t *testing.T) {
			resp, err := h.client.GetEvent(withToken(ctxT(t), tt.token), &eventsv1.GetEventRequest{Name: "events/a"})
			if status.Code(err) != tt.wantCode {
				t.Fatalf("got %v, want %s", err, tt.wantCode)
			}
			if err == nil && resp.GetEvent().GetTitle() != "alice" {
				t.Errorf("handler saw principal %q, want the one auth put in the context", resp.GetEvent().GetTitle())
			}
		})
		t.Run("stream/"+tt.name, func(t *testing.T) {
			s, err := h.client.Watch(withToken(ctxT(t), tt.token), &eventsv1.WatchRequest{})
			if err == nil {
				_, err = s.Recv()
			}
			if status.Code(err) != tt.wantCode {
				t.Fatalf("got %v, want %s", err, tt.wantCode)
			}
		})
	}

	t.Run("health skips auth", func(t *testing.T) {
		resp, err := healthpb.NewHealthClient(h.conn).Check(ctxT(t), &healthpb.HealthCheckRequest{})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("Check without token = %v, %v; want SERVING", resp.GetStatus(), err)
		}
	})
	t.Run("reflection skips auth", func(t *testing.T) {
		if _, err := listServices(t, h.conn); err != nil {
			t.Fatalf("reflection without token: %v", err)
		}
	})
}

func listServices(t testing.TB, conn *grpc.ClientConn) ([]string, error) {
	t.Helper()
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctxT(t))
	if err != nil {
		return nil, err
	}
	// io.EOF means the server already ended the stream (UNIMPLEMENTED when
	// reflection is off); Recv returns its status.
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
	}); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	resp, err := stream.Recv()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	return names, nil
}

func TestReflection(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		reflection bool
		wantCode   codes.Code
	}{
		{name: "off by default", reflection: false, wantCode: codes.Unimplemented},
		{name: "on when configured", reflection: true, wantCode: codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := start(t, grpcserver.Config{Reflection: tt.reflection})
			names, err := listServices(t, h.conn)
			if status.Code(err) != tt.wantCode {
				t.Fatalf("ListServices: %v, want %s", err, tt.wantCode)
			}
			if err == nil && !strings.Contains(strings.Join(names, ","), eventsService) {
				t.Errorf("ListServices = %v, want %s among them", names, eventsService)
			}
		})
	}
}

func TestErrorsAndLogging(t *testing.T) {
	t.Parallel()
	h := start(t, grpcserver.Config{})
	tests := []struct {
		name      string
		get       string
		wantCode  codes.Code
		wantMsg   string
		wantLevel zapcore.Level
	}{
		{name: "ok", get: "events/a", wantCode: codes.OK, wantLevel: zapcore.InfoLevel},
		{name: "domain not found", get: "events/missing", wantCode: codes.NotFound, wantMsg: "event events/missing", wantLevel: zapcore.InfoLevel},
		{name: "domain unavailable", get: "events/busy", wantCode: codes.Unavailable, wantMsg: "database unavailable", wantLevel: zapcore.WarnLevel},
		{name: "status passes through", get: "events/status", wantCode: codes.FailedPrecondition, wantMsg: "from a downstream call", wantLevel: zapcore.InfoLevel},
		{name: "unknown error hidden", get: "events/bug", wantCode: codes.Internal, wantMsg: "internal error", wantLevel: zapcore.ErrorLevel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reqID := "req-" + strings.ReplaceAll(tt.name, " ", "-")
			ctx := metadata.AppendToOutgoingContext(ctxT(t), "x-request-id", reqID, "authorization", "Bearer secret-token")
			_, err := h.client.GetEvent(ctx, &eventsv1.GetEventRequest{Name: tt.get})
			if status.Code(err) != tt.wantCode {
				t.Fatalf("got %v, want %s", err, tt.wantCode)
			}
			if err != nil && status.Convert(err).Message() != tt.wantMsg {
				t.Errorf("message = %q, want %q", status.Convert(err).Message(), tt.wantMsg)
			}
			var line *observer.LoggedEntry
			for _, e := range h.logs.FilterMessage("gRPC call finished").All() {
				if e.ContextMap()["request_id"] == reqID {
					line = &e
				}
			}
			if line == nil {
				t.Fatalf("no call log with request_id %q", reqID)
			}
			if line.Level != tt.wantLevel {
				t.Errorf("call logged at %s, want %s", line.Level, tt.wantLevel)
			}
			fields := line.ContextMap()
			if fields["grpc.code"] != tt.wantCode.String() || fields["grpc.method"] != "/"+eventsService+"/GetEvent" || fields["peer"] == nil {
				t.Errorf("call log fields = %v", fields)
			}
		})
	}

	t.Run("details", func(t *testing.T) {
		_, err := h.client.GetEvent(ctxT(t), &eventsv1.GetEventRequest{Name: "events/busy"})
		var retry *errdetails.RetryInfo
		for _, d := range status.Convert(err).Details() {
			if r, ok := d.(*errdetails.RetryInfo); ok {
				retry = r
			}
		}
		if retry == nil || retry.GetRetryDelay().AsDuration() != 3*time.Second {
			t.Errorf("RetryInfo = %v, want 3s", retry)
		}
	})

	// After all subtests: the internal error's detail was logged exactly
	// once, and no metadata secret reached the log.
	internal := h.logs.FilterMessage("internal error").All()
	if len(internal) != 1 || !strings.Contains(internal[0].ContextMap()["error"].(string), "hunter2") {
		t.Errorf("internal error detail logged %d times (%v), want once", len(internal), internal)
	}
	for _, e := range h.logs.All() {
		for k, v := range e.ContextMap() {
			if s, ok := v.(string); ok && strings.Contains(s, "secret-token") {
				t.Errorf("log %q field %s contains the authorization token", e.Message, k)
			}
		}
	}
}

func TestMetricsEndpoint(t *testing.T) {
	t.Parallel()
	h := start(t, grpcserver.Config{MetricsListen: "127.0.0.1:0"})
	ctx := ctxT(t)
	_, _ = h.client.GetEvent(ctx, &eventsv1.GetEventRequest{Name: "events/missing"})
	_, _ = h.client.GetEvent(ctx, &eventsv1.GetEventRequest{Name: "events/panic"})

	resp, err := http.Get("http://" + h.srv.MetricsAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`grpc_server_handled_total{grpc_code="NotFound",grpc_method="GetEvent",grpc_service="guarantor.events.v1.EventsService",grpc_type="unary"} 1`,
		// A handler panic is still counted, as INTERNAL.
		`grpc_server_handled_total{grpc_code="Internal",grpc_method="GetEvent",grpc_service="guarantor.events.v1.EventsService",grpc_type="unary"} 1`,
		`grpc_server_handling_seconds_bucket{grpc_method="GetEvent"`,
		// Pre-registered at Serve, before any call.
		`grpc_server_started_total{grpc_method="ListEvents",grpc_service="guarantor.events.v1.EventsService",grpc_type="unary"} 0`,
		"go_goroutines",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestOptionalListenersDisabled(t *testing.T) {
	t.Parallel()
	h := start(t, grpcserver.Config{})
	if addr := h.srv.MetricsAddr(); addr != nil {
		t.Errorf("MetricsAddr = %v with metrics disabled, want nil", addr)
	}
	if addr := h.srv.HealthAddr(); addr != nil {
		t.Errorf("HealthAddr = %v without a health listener, want nil", addr)
	}
	if h.srv.TLSConfig() != nil {
		t.Error("TLSConfig is set without TLS files")
	}
}

// runServer builds a server from cfg with the fake events service, runs it with Run
// until cancel is called (or the test ends) and waits until it is ready; done receives
// what Run returned.
func runServer(t *testing.T, cfg grpcserver.Config, opts ...grpcserver.Option) (srv *grpcserver.Server, cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	srv, err := grpcserver.New(cfg, zaptest.NewLogger(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	eventsv1.RegisterEventsServiceServer(srv, fakeEvents{})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	errc := make(chan error, 1)
	go func() { errc <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-errc:
		t.Fatalf("Run: %v", err)
	}
	return srv, cancel, errc
}

func TestRunAndShutdown(t *testing.T) {
	t.Parallel()
	srv, cancel, done := runServer(t, grpcserver.Config{Listen: "127.0.0.1:0", ShutdownGrace: 200 * time.Millisecond})
	addr := srv.Addr()
	if addr == nil || strings.HasSuffix(addr.String(), ":0") {
		t.Fatalf("Addr = %v, want the bound port", addr)
	}

	conn, err := grpc.NewClient(addr.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A watch that never ends must not hold up shutdown beyond the grace.
	stream, err := eventsv1.NewEventsServiceClient(conn).Watch(ctxT(t), &eventsv1.WatchRequest{Name: "events/block"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run returned %v after cancel, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s of cancel (grace 200ms)")
	}
	if _, err := stream.Recv(); err == nil {
		t.Error("watch stream still open after shutdown")
	}
	if err := srv.Serve(context.Background(), nil); err == nil {
		t.Error("second Serve succeeded, want an error")
	}
}

// slowEnd is a stats handler that takes its time to end a call, as an exporter's span
// processor may.
type slowEnd struct{ ended atomic.Int32 }

func (*slowEnd) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context   { return ctx }
func (*slowEnd) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (*slowEnd) HandleConn(context.Context, stats.ConnStats)                       {}

func (h *slowEnd) HandleRPC(_ context.Context, s stats.RPCStats) {
	if _, ok := s.(*stats.End); ok {
		time.Sleep(300 * time.Millisecond)
		h.ended.Add(1)
	}
}

// TestShutdownWaitsForCallsToEnd: Run returns only after the stats handler has ended
// every call, though the client had its answer before that. A tracer's server spans end
// there, and a service flushes its spans once Run returns (service.Process.Close): if
// Run returned earlier, the last calls' spans would be lost at every shutdown.
func TestShutdownWaitsForCallsToEnd(t *testing.T) {
	t.Parallel()
	h := &slowEnd{}
	srv, cancel, done := runServer(t, grpcserver.Config{Listen: "127.0.0.1:0", ShutdownGrace: 5 * time.Second},
		grpcserver.WithServerOptions(grpc.StatsHandler(h)))
	conn, err := grpc.NewClient(srv.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := eventsv1.NewEventsServiceClient(conn).ListEvents(ctxT(t), &eventsv1.ListEventsRequest{}); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := h.ended.Load(); n != 1 {
		t.Errorf("Run returned with %d calls ended by the stats handler, want 1", n)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  grpcserver.Config
	}{
		{"negative recv limit", grpcserver.Config{MaxRecvMsgBytes: -1}},
		{"negative grace", grpcserver.Config{ShutdownGrace: -time.Second}},
		{"negative keepalive", grpcserver.Config{KeepaliveTime: -time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := grpcserver.New(tt.cfg, zaptest.NewLogger(t)); err == nil {
				t.Errorf("New(%+v) succeeded, want an error", tt.cfg)
			}
		})
	}
}

func TestRunWithoutListen(t *testing.T) {
	t.Parallel()
	srv, err := grpcserver.New(grpcserver.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Run(context.Background()); err == nil {
		t.Error("Run with empty Listen succeeded")
	}
}

// TestMaxConnectionAge: a server asks its clients to reconnect once a connection is
// MaxConnectionAge old, and calls go on without an error across the change (this is
// what lets a client's round-robin balancer find replicas added since it connected).
func TestMaxConnectionAge(t *testing.T) {
	t.Parallel()
	srv, err := grpcserver.New(grpcserver.Config{MaxConnectionAge: 200 * time.Millisecond}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	var dials atomic.Int32
	conn := grpctest.Start(t, srv, grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
		dials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	}))
	hc := healthpb.NewHealthClient(conn)
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, err := hc.Check(ctxT(t), &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatalf("Check across connection ages: %v", err)
		}
	}
	if n := dials.Load(); n < 3 {
		t.Fatalf("the client connected %d times in 1s with connections aged out at 200ms; want at least 3", n)
	}
}
