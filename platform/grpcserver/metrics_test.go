package grpcserver

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// fakeStream stands for a server stream: it accepts every message.
type fakeStream struct{ grpc.ServerStream }

func (fakeStream) Context() context.Context { return context.Background() }
func (fakeStream) SendMsg(any) error        { return nil }
func (fakeStream) RecvMsg(any) error        { return nil }

// value is the value of the series of name with the given label values.
func value(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if want, ok := labels[l.GetName()]; ok && want != l.GetValue() {
					continue metrics
				}
			}
			return metricValue(m)
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

func metricValue(m *dto.Metric) float64 {
	if h := m.GetHistogram(); h != nil {
		return float64(h.GetSampleCount())
	}
	return m.GetCounter().GetValue()
}

// TestMetricsCount: calls, messages, codes and durations land in the series of their
// method and type, for unary calls and streams, and a code gRPC does not define counts
// as Unknown.
func TestMetricsCount(t *testing.T) {
	t.Parallel()
	m := newServerMetrics(nil)
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.collectors()...)

	unary := &grpc.UnaryServerInfo{FullMethod: "/pkg.Svc/Get"}
	for _, err := range []error{nil, nil, status.Error(codes.NotFound, "no"), status.Error(codes.Code(99), "odd"), errors.New("plain")} {
		_, _ = m.unary(context.Background(), nil, unary, func(context.Context, any) (any, error) { return "ok", err })
	}
	watch := &grpc.StreamServerInfo{FullMethod: "/pkg.Svc/Watch", IsServerStream: true}
	_ = m.stream(nil, fakeStream{}, watch, func(_ any, ss grpc.ServerStream) error {
		if err := ss.RecvMsg(nil); err != nil {
			return err
		}
		for range 3 {
			if err := ss.SendMsg(nil); err != nil {
				return err
			}
		}
		return status.Error(codes.Canceled, "gone")
	})

	get := map[string]string{"grpc_type": "unary", "grpc_service": "pkg.Svc", "grpc_method": "Get"}
	w := map[string]string{"grpc_type": "server_stream", "grpc_service": "pkg.Svc", "grpc_method": "Watch"}
	with := func(l map[string]string, k, v string) map[string]string {
		out := map[string]string{k: v}
		for a, b := range l {
			out[a] = b
		}
		return out
	}
	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"grpc_server_started_total", get, 5},
		{"grpc_server_msg_received_total", get, 5},
		{"grpc_server_msg_sent_total", get, 2},
		{"grpc_server_handled_total", with(get, "grpc_code", "OK"), 2},
		{"grpc_server_handled_total", with(get, "grpc_code", "NotFound"), 1},
		{"grpc_server_handled_total", with(get, "grpc_code", "Unknown"), 2},
		{"grpc_server_handling_seconds", get, 5},
		{"grpc_server_started_total", w, 1},
		{"grpc_server_msg_received_total", w, 1},
		{"grpc_server_msg_sent_total", w, 3},
		{"grpc_server_handled_total", with(w, "grpc_code", "Canceled"), 1},
		{"grpc_server_handled_total", with(w, "grpc_code", "OK"), 0},
	}
	for _, tt := range tests {
		if got := value(t, reg, tt.name, tt.labels); got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
}

// TestForwardedMethodMetrics: a method a proxy serves through its unknown-service
// handler has its series from the start, and its calls count under its own call type,
// not the bidirectional stream gRPC hands them over as.
func TestForwardedMethodMetrics(t *testing.T) {
	t.Parallel()
	m := newServerMetrics([]Method{{FullMethod: "/pkg.Svc/Get"}, {FullMethod: "/pkg.Svc/Watch", ServerStreams: true}})
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.collectors()...)
	m.initialize(grpc.NewServer())

	get := map[string]string{"grpc_type": "unary", "grpc_service": "pkg.Svc", "grpc_method": "Get", "grpc_code": "Internal"}
	watch := map[string]string{"grpc_type": "server_stream", "grpc_service": "pkg.Svc", "grpc_method": "Watch", "grpc_code": "OK"}
	for _, labels := range []map[string]string{get, watch} {
		if got := value(t, reg, "grpc_server_handled_total", labels); got != 0 {
			t.Errorf("before any call: %v = %v, want 0", labels, got)
		}
	}

	// How gRPC hands a call to an unknown-service handler over.
	unknown := &grpc.StreamServerInfo{FullMethod: "/pkg.Svc/Get", IsClientStream: true, IsServerStream: true}
	_ = m.stream(nil, fakeStream{}, unknown, func(any, grpc.ServerStream) error { return status.Error(codes.Internal, "boom") })
	if got := value(t, reg, "grpc_server_handled_total", get); got != 1 {
		t.Errorf("after a forwarded call: %v = %v, want 1", get, got)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "grpc_type" && l.GetValue() == "bidi_stream" {
					t.Errorf("%s has a bidi_stream series: %v", f.GetName(), s.GetLabel())
				}
			}
		}
	}
}
