package grpcserver

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// serverMetrics counts calls and messages under the metric names and labels of
// go-grpc-middleware's Prometheus provider, so dashboards and alerts written for it keep
// working. It resolves each method's series once, where the provider looked its label
// values up on every message: a quarter of what sending a watched change cost the
// gateway.
type serverMetrics struct {
	started  *prometheus.CounterVec
	handled  *prometheus.CounterVec
	received *prometheus.CounterVec
	sent     *prometheus.CounterVec
	seconds  *prometheus.HistogramVec

	// methods maps a full method name to its *methodSeries. Only methods the server
	// serves get here: gRPC refuses unregistered ones before the interceptors, and a
	// server with an unknown-service handler gates names with WithKnownMethods.
	methods sync.Map
	// forwarded maps the methods a proxy serves through its unknown-service handler
	// (WithForwardedMethods) to their call type: gRPC reports every such call as a
	// bidirectional stream, whatever the method is.
	forwarded map[string]string
}

// methodSeries are one method's series.
type methodSeries struct {
	started, received, sent prometheus.Counter
	seconds                 prometheus.Observer
	handled                 [numCodes]prometheus.Counter
}

// numCodes is the number of gRPC status codes (OK to Unauthenticated).
const numCodes = int(codes.Unauthenticated) + 1

// newServerMetrics makes the series of a server whose unknown-service handler serves
// the forwarded methods (none for a server without one).
func newServerMetrics(forwarded []Method) *serverMetrics {
	labels := []string{"grpc_type", "grpc_service", "grpc_method"}
	types := make(map[string]string, len(forwarded))
	for _, m := range forwarded {
		types[m.FullMethod] = callType(m.ClientStreams, m.ServerStreams)
	}
	return &serverMetrics{
		forwarded: types,
		started: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_started_total", Help: "Total number of RPCs started on the server.",
		}, labels),
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_handled_total", Help: "Total number of RPCs completed on the server, regardless of success or failure.",
		}, append(labels[:3:3], "grpc_code")),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_msg_received_total", Help: "Total number of RPC stream messages received on the server.",
		}, labels),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_msg_sent_total", Help: "Total number of gRPC stream messages sent by the server.",
		}, labels),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "grpc_server_handling_seconds",
			Help:    "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.",
			Buckets: prometheus.DefBuckets,
		}, labels),
	}
}

func (m *serverMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.started, m.handled, m.received, m.sent, m.seconds}
}

// series returns a method's series, creating them (with every code at zero) the first
// time.
func (m *serverMetrics) series(fullMethod, typ string) *methodSeries {
	if s, ok := m.methods.Load(fullMethod); ok {
		return s.(*methodSeries)
	}
	service, method, _ := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	s := &methodSeries{
		started:  m.started.WithLabelValues(typ, service, method),
		received: m.received.WithLabelValues(typ, service, method),
		sent:     m.sent.WithLabelValues(typ, service, method),
		seconds:  m.seconds.WithLabelValues(typ, service, method),
	}
	for c := range numCodes {
		s.handled[c] = m.handled.WithLabelValues(typ, service, method, codes.Code(c).String())
	}
	actual, _ := m.methods.LoadOrStore(fullMethod, s)
	return actual.(*methodSeries)
}

// initialize creates the series of every method registered on srv, so that rates can
// be computed from the first call on.
func (m *serverMetrics) initialize(srv *grpc.Server) {
	for service, info := range srv.GetServiceInfo() {
		for _, mi := range info.Methods {
			m.series("/"+service+"/"+mi.Name, callType(mi.IsClientStream, mi.IsServerStream))
		}
	}
	for fullMethod, typ := range m.forwarded {
		m.series(fullMethod, typ)
	}
}

// done records the end of a call.
func (s *methodSeries) done(err error, start time.Time) {
	c := status.Code(err)
	if int(c) >= numCodes {
		c = codes.Unknown
	}
	s.handled[c].Inc()
	s.seconds.Observe(time.Since(start).Seconds())
}

func (m *serverMetrics) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	s := m.series(info.FullMethod, "unary")
	start := time.Now()
	s.started.Inc()
	s.received.Inc()
	resp, err := handler(ctx, req)
	if err == nil {
		s.sent.Inc()
	}
	s.done(err, start)
	return resp, err
}

func (m *serverMetrics) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	typ, ok := m.forwarded[info.FullMethod]
	if !ok {
		typ = callType(info.IsClientStream, info.IsServerStream)
	}
	s := m.series(info.FullMethod, typ)
	start := time.Now()
	s.started.Inc()
	err := handler(srv, &countingStream{ServerStream: ss, s: s})
	s.done(err, start)
	return err
}

// countingStream counts the messages a stream handler sends and receives.
type countingStream struct {
	grpc.ServerStream
	s *methodSeries
}

func (c *countingStream) SendMsg(m any) error {
	err := c.ServerStream.SendMsg(m)
	if err == nil {
		c.s.sent.Inc()
	}
	return err
}

func (c *countingStream) RecvMsg(m any) error {
	err := c.ServerStream.RecvMsg(m)
	if err == nil {
		c.s.received.Inc()
	}
	return err
}

func callType(clientStream, serverStream bool) string {
	switch {
	case clientStream && serverStream:
		return "bidi_stream"
	case clientStream:
		return "client_stream"
	case serverStream:
		return "server_stream"
	}
	return "unary"
}
