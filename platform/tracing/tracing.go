// Package tracing sends a process's spans to an OpenTelemetry collector over OTLP/gRPC
// when it is told where one is (--otlp-endpoint). Without an endpoint nothing is traced
// and nothing is paid: no stats handler is installed on any connection, because even
// no-op spans cost a few percent of a call's CPU per hop. The W3C trace context travels
// either way (the gateway forwards the caller's traceparent and the services record it
// with each change).
package tracing

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc/filters"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/stats"

	"github.com/guarantor/guarantor/platform/config"
	"github.com/guarantor/guarantor/platform/tlsfiles"
)

// Config says where spans go.
type Config struct {
	// Endpoint is the collector's OTLP/gRPC address (host:port); empty turns tracing off.
	Endpoint string
	// Insecure sends spans in plaintext (a collector beside the process, on loopback).
	Insecure bool
	// CAFile, when set, is the CA bundle the collector's certificate is checked against
	// (otherwise the system's).
	CAFile string
	// SampleRatio is the share of new traces recorded (0 to 1). A call that arrives
	// with a sampling decision keeps it, so one trace is recorded by every hop or none.
	SampleRatio float64
}

// Defaults record one trace in ten once an endpoint is set.
var Defaults = Config{SampleRatio: 0.1}

// RegisterFlags registers --otlp-endpoint, --otlp-insecure, --otlp-ca-file and
// --trace-sample-ratio (each also read from its GUARANTOR_* variable) and returns the
// Config fs.Parse fills in.
func RegisterFlags(fs *config.FlagSet, d Config) *Config {
	c := &Config{}
	fs.StringVar(&c.Endpoint, "otlp-endpoint", d.Endpoint, "OpenTelemetry collector (OTLP/gRPC host:port) spans are sent to; empty: no tracing")
	fs.BoolVar(&c.Insecure, "otlp-insecure", d.Insecure, "send spans to the collector in plaintext (a collector on loopback)")
	fs.StringVar(&c.CAFile, "otlp-ca-file", d.CAFile, "CA bundle (PEM) the collector's certificate is checked against (default: the system's)")
	fs.Float64Var(&c.SampleRatio, "trace-sample-ratio", d.SampleRatio, "share of new traces recorded, 0 to 1 (a caller's sampling decision is kept)")
	return c
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if c.SampleRatio < 0 || c.SampleRatio > 1 {
		return fmt.Errorf("--trace-sample-ratio %g: want a share between 0 and 1", c.SampleRatio)
	}
	if c.Insecure && c.CAFile != "" {
		return errors.New("--otlp-insecure and --otlp-ca-file: choose plaintext or TLS")
	}
	return nil
}

// Tracer is a running span pipeline. A nil *Tracer is tracing turned off: its handlers
// are nil and Shutdown does nothing.
type Tracer struct {
	provider *sdktrace.TracerProvider
}

// Start builds the pipeline for the process called service, or returns nil when cfg has
// no endpoint. Spans are exported in batches in the background; the collector being
// away loses spans, never slows a call.
func Start(cfg Config, service string, log *zap.Logger) (*Tracer, error) {
	if cfg.Endpoint == "" {
		return nil, nil
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(cfg.Endpoint)}
	switch {
	case cfg.Insecure:
		opts = append(opts, otlptracegrpc.WithInsecure())
	case cfg.CAFile != "":
		tlsCfg, err := tlsfiles.Client(tlsfiles.ClientFiles{CAFile: cfg.CAFile}, log)
		if err != nil {
			return nil, fmt.Errorf("tracing: --otlp-ca-file: %w", err)
		}
		opts = append(opts, otlptracegrpc.WithTLSCredentials(credentials.NewTLS(tlsCfg)))
	}
	// New does not connect: the exporter dials lazily and retries, so a collector that
	// starts later, or restarts, costs spans, not the process.
	exporter, err := otlptracegrpc.New(context.Background(), opts...)
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter for %s: %w", cfg.Endpoint, err)
	}
	res := resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName("guarantor-"+service))
	provider := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exporter),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))),
	)
	if log != nil {
		log.Info("tracing to an OpenTelemetry collector", zap.String("otlp.endpoint", cfg.Endpoint),
			zap.Float64("sample_ratio", cfg.SampleRatio), zap.Bool("otlp.insecure", cfg.Insecure))
		otel.SetErrorHandler(newErrorLog(log, errorEvery))
	}
	return &Tracer{provider: provider}, nil
}

// errorEvery spaces the warnings about spans that could not be exported.
const errorEvery = 30 * time.Second

// errorLog receives OpenTelemetry's errors (spans the collector did not take), which
// otherwise go to the standard logger, outside the process's JSON log. A collector that
// is away fails every batch, so it logs at most one warning per interval, saying how
// many errors it left out.
type errorLog struct {
	log   *zap.Logger
	every time.Duration
	now   func() time.Time

	mu      sync.Mutex
	last    time.Time
	dropped int
}

func newErrorLog(log *zap.Logger, every time.Duration) *errorLog {
	return &errorLog{log: log, every: every, now: time.Now}
}

// Handle implements otel.ErrorHandler.
func (e *errorLog) Handle(err error) {
	e.mu.Lock()
	now := e.now()
	if !e.last.IsZero() && now.Sub(e.last) < e.every {
		e.dropped++
		e.mu.Unlock()
		return
	}
	dropped := e.dropped
	e.last, e.dropped = now, 0
	e.mu.Unlock()
	e.log.Warn("tracing: spans not exported", zap.Error(err), zap.Int("errors_not_logged", dropped))
}

// propagators read and write the W3C trace context and baggage, as the rest of the
// platform does (natsx, service.TraceParent).
var propagators = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// ServerHandler makes a span for every call a gRPC server takes, a child of the caller's
// span when the call carries one. Nil when tracing is off.
func (t *Tracer) ServerHandler() stats.Handler {
	if t == nil {
		return nil
	}
	return otelgrpc.NewServerHandler(t.options()...)
}

// ClientHandler makes a span for every call made on a gRPC client connection and sends
// its context along. Nil when tracing is off.
func (t *Tracer) ClientHandler() stats.Handler {
	if t == nil {
		return nil
	}
	return otelgrpc.NewClientHandler(t.options()...)
}

// options leave health checks out: the kubelet's probes and the gateway's checks of its
// backends, every few seconds, would bury the calls worth tracing.
func (t *Tracer) options() []otelgrpc.Option {
	return []otelgrpc.Option{
		otelgrpc.WithTracerProvider(t.provider),
		otelgrpc.WithPropagators(propagators),
		otelgrpc.WithFilter(filters.Not(filters.HealthCheck())),
	}
}

// Tracer returns the tracer of an instrumented package (its import path); nil when
// tracing is off.
func (t *Tracer) Tracer(name string) trace.Tracer {
	if t == nil {
		return nil
	}
	return t.provider.Tracer(name)
}

// Shutdown exports the spans still queued, within 5 s, and stops the pipeline.
func (t *Tracer) Shutdown() error {
	if t == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return t.provider.Shutdown(ctx)
}
