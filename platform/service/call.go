package service

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/grpc"

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
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	return standard.Call{Principal: p, RequestID: requestID, Method: method, Trace: carrier["traceparent"]}, nil
}
