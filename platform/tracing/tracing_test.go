package tracing_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"

	"go.opentelemetry.io/otel/trace"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/guarantor/guarantor/platform/testkit/certtest"
	"github.com/guarantor/guarantor/platform/testkit/otlptest"
	"github.com/guarantor/guarantor/platform/tracing"
)

// echoMethod is what the test servers answer: any unknown method, echoing an empty
// message.
const echoMethod = "/guarantor.test.v1.Echo/Call"

// client calls echoMethod, or health checks.
type client struct {
	conn   *grpc.ClientConn
	health healthpb.HealthClient
	srv    *grpc.Server
}

// stopServer returns once the server has ended every call it served. The client has a
// call's answer before the server's stats handler ends the call's span, so a test that
// shuts the tracer down first can lose that span.
func (c client) stopServer() { c.srv.GracefulStop() }

func (c client) call(ctx context.Context) error {
	return c.conn.Invoke(ctx, echoMethod, &emptypb.Empty{}, &emptypb.Empty{})
}

// serve runs a gRPC server with the tracer's server handler and returns a client of it
// with the tracer's client handler.
func serve(t *testing.T, tr *tracing.Tracer) client {
	t.Helper()
	sopts := []grpc.ServerOption{grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
		var m emptypb.Empty
		if err := stream.RecvMsg(&m); err != nil {
			return err
		}
		return stream.SendMsg(&m)
	})}
	if h := tr.ServerHandler(); h != nil {
		sopts = append(sopts, grpc.StatsHandler(h))
	}
	srv := grpc.NewServer(sopts...)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	lis, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	copts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if h := tr.ClientHandler(); h != nil {
		copts = append(copts, grpc.WithStatsHandler(h))
	}
	conn, err := grpc.NewClient(lis.Addr().String(), copts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return client{conn: conn, health: healthpb.NewHealthClient(conn), srv: srv}
}

// withParent is a context carrying a remote caller's span, sampled or not.
func withParent(t *testing.T, traceHex string, sampled bool) context.Context {
	t.Helper()
	tid, err := trace.TraceIDFromHex(traceHex)
	if err != nil {
		t.Fatal(err)
	}
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	flags := trace.TraceFlags(0)
	if sampled {
		flags = trace.FlagsSampled
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: flags, Remote: true})
	return trace.ContextWithRemoteSpanContext(context.Background(), sc)
}

// TestSpansReachTheCollector: a call through a traced client and server is one trace in
// the collector: the client's span a child of the caller's, the server's a child of the
// client's, both named after the method and the process.
func TestSpansReachTheCollector(t *testing.T) {
	col := otlptest.Start(t)
	tr, err := tracing.Start(tracing.Config{Endpoint: col.Addr(), Insecure: true, SampleRatio: 1}, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	c := serve(t, tr)
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	if err := c.call(withParent(t, traceID, true)); err != nil {
		t.Fatal(err)
	}
	// Health checks are left out, even in a sampled trace.
	if _, err := c.health.Check(withParent(t, traceID, true), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	c.stopServer()
	if err := tr.Shutdown(); err != nil {
		t.Fatal(err)
	}
	spans := col.Trace(t, traceID, 2)
	var clientSpan, serverSpan *otlptest.Span
	for i, s := range spans {
		if s.Name != echoMethod[1:] || s.Service != "guarantor-test" {
			t.Errorf("span %+v: want the method's name and service guarantor-test", s)
		}
		switch s.Kind {
		case tracepb.Span_SPAN_KIND_CLIENT:
			clientSpan = &spans[i]
		case tracepb.Span_SPAN_KIND_SERVER:
			serverSpan = &spans[i]
		}
	}
	if len(spans) != 2 || clientSpan == nil || serverSpan == nil {
		t.Fatalf("want a client and a server span of trace %s, got %+v", traceID, spans)
	}
	if clientSpan.ParentID != "00f067aa0ba902b7" || serverSpan.ParentID != clientSpan.SpanID {
		t.Errorf("client span's parent %s (want the caller's 00f067aa0ba902b7), server span's parent %s (want the client span %s)",
			clientSpan.ParentID, serverSpan.ParentID, clientSpan.SpanID)
	}
}

// TestSamplingKeepsTheCallersDecision: with a ratio of 0 no new trace is recorded, but a
// call the caller sampled is, by every hop.
func TestSamplingKeepsTheCallersDecision(t *testing.T) {
	col := otlptest.Start(t)
	tr, err := tracing.Start(tracing.Config{Endpoint: col.Addr(), Insecure: true, SampleRatio: 0}, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	c := serve(t, tr)
	const sampled, unsampled = "11111111111111111111111111111111", "22222222222222222222222222222222"
	for _, ctx := range []context.Context{context.Background(), withParent(t, unsampled, false), withParent(t, sampled, true)} {
		if err := c.call(ctx); err != nil {
			t.Fatal(err)
		}
	}
	c.stopServer()
	if err := tr.Shutdown(); err != nil {
		t.Fatal(err)
	}
	spans := col.Spans()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want the client and server spans of the sampled call only: %+v", len(spans), spans)
	}
	for _, s := range spans {
		if s.TraceID != sampled {
			t.Errorf("span of trace %s recorded", s.TraceID)
		}
	}
}

// TestOff: without an endpoint there is no tracer, no handler, nothing to shut down.
func TestOff(t *testing.T) {
	tr, err := tracing.Start(tracing.Config{SampleRatio: 1}, "test", nil)
	if err != nil || tr != nil {
		t.Fatalf("Start without an endpoint = %v, %v; want nil, nil", tr, err)
	}
	if tr.ServerHandler() != nil || tr.ClientHandler() != nil || tr.Shutdown() != nil {
		t.Error("a nil Tracer has handlers or fails to shut down")
	}
	if err := serve(t, tr).call(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  tracing.Config
		ok   bool
	}{
		{"defaults", tracing.Defaults, true},
		{"every trace", tracing.Config{Endpoint: "otel:4317", SampleRatio: 1}, true},
		{"ratio above 1", tracing.Config{Endpoint: "otel:4317", SampleRatio: 1.5}, false},
		{"negative ratio", tracing.Config{Endpoint: "otel:4317", SampleRatio: -0.1}, false},
		{"plaintext and a CA", tracing.Config{Endpoint: "otel:4317", Insecure: true, CAFile: "ca.crt", SampleRatio: 0.1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok %v", err, tc.ok)
			}
			tr, err := tracing.Start(tc.cfg, "test", nil)
			if (err == nil) != tc.ok {
				t.Errorf("Start: %v, want ok %v", err, tc.ok)
			}
			_ = tr.Shutdown()
		})
	}
}

// TestCAFile: a collector's CA bundle that cannot be read, or holds no certificate,
// stops the process at start instead of failing every export later.
func TestCAFile(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.pem")
	if err := os.WriteFile(empty, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, file string
		ok         bool
	}{
		{"a CA", certtest.NewCA(t, "collector CA").File, true},
		{"a missing file", filepath.Join(dir, "missing.pem"), false},
		{"no PEM certificate", empty, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := tracing.Start(tracing.Config{Endpoint: "otel:4317", CAFile: tc.file, SampleRatio: 0.1}, "test", nil)
			if (err == nil) != tc.ok {
				t.Errorf("Start: %v, want ok %v", err, tc.ok)
			}
			_ = tr.Shutdown()
		})
	}
}
