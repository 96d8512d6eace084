package service

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/guarantor/guarantor/platform/apperr"
	"github.com/guarantor/guarantor/platform/principal"
	"github.com/guarantor/guarantor/platform/standard"
)

// Caller returns the principal the process's auth hook verified for this call.
func Caller(ctx context.Context) (principal.Principal, error) {
	p, ok := principal.FromContext(ctx)
	if !ok {
		return principal.Principal{}, apperr.Unauthenticated("no authenticated principal")
	}
	return p, nil
}

// Call describes a write call for the change log: the caller, the request_id, the gRPC
// method (idempotency records are per method) and the W3C traceparent, so a change can be
// traced back to the request that made it.
func Call(ctx context.Context, requestID string) (standard.Call, error) {
	p, err := Caller(ctx)
	if err != nil {
		return standard.Call{}, err
	}
	method, _ := grpc.Method(ctx)
	return standard.Call{Principal: p, RequestID: requestID, Method: method, Trace: TraceParent(ctx)}, nil
}

// TraceParent returns the W3C traceparent of the call: the span in ctx when the process
// traces, otherwise the one the caller sent in its metadata (the gateway forwards the
// client's). The header is parsed and re-encoded by the W3C propagator, so what reaches
// the change log is well-formed; a malformed one is dropped, never stored.
func TraceParent(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		sc = trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), incomingCarrier{ctx}))
	}
	if !sc.IsValid() {
		return ""
	}
	out := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(trace.ContextWithRemoteSpanContext(context.Background(), sc), out)
	return out["traceparent"]
}

// incomingCarrier reads a call's incoming gRPC metadata for the propagator.
type incomingCarrier struct{ ctx context.Context }

func (c incomingCarrier) Get(key string) string {
	if v := metadata.ValueFromIncomingContext(c.ctx, key); len(v) > 0 {
		return v[0]
	}
	return ""
}

func (incomingCarrier) Set(string, string) {}
func (incomingCarrier) Keys() []string     { return nil }
