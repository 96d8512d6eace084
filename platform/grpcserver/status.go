package grpcserver

import (
	"context"
	"errors"
	"strings"

	"go.uber.org/zap"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/guarantor/guarantor/platform/apperr"
)

// internalMessage is all a caller learns about an unexpected error; the
// detail goes to the log, once.
const internalMessage = "internal error"

// codeOf is the one table from domain codes to gRPC codes.
var codeOf = map[apperr.Code]codes.Code{
	apperr.CodeInvalidArgument:    codes.InvalidArgument,
	apperr.CodeNotFound:           codes.NotFound,
	apperr.CodeAlreadyExists:      codes.AlreadyExists,
	apperr.CodeFailedPrecondition: codes.FailedPrecondition,
	apperr.CodeAborted:            codes.Aborted,
	apperr.CodeOutOfRange:         codes.OutOfRange,
	apperr.CodePermissionDenied:   codes.PermissionDenied,
	apperr.CodeUnauthenticated:    codes.Unauthenticated,
	apperr.CodeResourceExhausted:  codes.ResourceExhausted,
	apperr.CodeUnavailable:        codes.Unavailable,
	// CodeInternal is deliberately absent: it is handled like an unknown error.
}

// ToStatus converts an error returned by domain or handler code into the gRPC
// status error the client sees:
//
//   - an *apperr.Error (anywhere in the chain) becomes its code and message,
//     with a google.rpc.BadRequest detail for field violations and a
//     google.rpc.RetryInfo detail for RetryAfter;
//   - an error that already is a gRPC status passes through;
//   - context.Canceled and context.DeadlineExceeded become CANCELLED and
//     DEADLINE_EXCEEDED;
//   - anything else, and apperr.CodeInternal, becomes INTERNAL "internal error",
//     and the detail is logged once at error level.
//
// A nil error stays nil.
func ToStatus(log *zap.Logger, err error) error {
	if err == nil {
		return nil
	}
	if log == nil {
		log = zap.NewNop()
	}
	if e, ok := apperr.As(err); ok {
		if c, ok := codeOf[e.Code]; ok {
			return appStatus(c, e)
		}
		return internal(log, err)
	}
	// A status anywhere in the chain passes through with its own message, never the
	// text wrapped around it (status.FromError would give the client err.Error() of the
	// whole chain: addresses, DSNs, query text).
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) && se.GRPCStatus() != nil {
		return se.GRPCStatus().Err()
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "request canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	}
	return internal(log, err)
}

func internal(log *zap.Logger, err error) error {
	log.Error("internal error", zap.Error(err))
	return status.Error(codes.Internal, internalMessage)
}

func appStatus(c codes.Code, e *apperr.Error) error {
	msg := e.Message
	if msg == "" {
		msg = e.Code.String()
	}
	var details []protoadapt.MessageV1
	if len(e.Violations) > 0 {
		// The violations also go into the message, for clients (grpcurl,
		// logs) that do not decode details.
		parts := make([]string, len(e.Violations))
		br := &errdetails.BadRequest{}
		for i, v := range e.Violations {
			parts[i] = v.Field + ": " + v.Description
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
				Field:       v.Field,
				Description: v.Description,
			})
		}
		msg += ": " + strings.Join(parts, "; ")
		details = append(details, br)
	}
	if e.RetryAfter > 0 {
		details = append(details, &errdetails.RetryInfo{RetryDelay: durationpb.New(e.RetryAfter)})
	}
	st := status.New(c, msg)
	if len(details) == 0 {
		return st.Err()
	}
	withDetails, err := st.WithDetails(details...)
	if err != nil {
		// Only fails for an OK status or unmarshalable details, neither of
		// which can happen here; the code and message still reach the client.
		return st.Err()
	}
	return withDetails.Err()
}

// UnaryErrorInterceptor converts the error a handler returns with ToStatus,
// so handlers may return domain errors. New installs it; it is exported for
// servers built without this package.
func UnaryErrorInterceptor(log *zap.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		if err != nil {
			return nil, ToStatus(log, err)
		}
		return resp, nil
	}
}

// StreamErrorInterceptor is UnaryErrorInterceptor for streaming RPCs.
func StreamErrorInterceptor(log *zap.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return ToStatus(log, handler(srv, ss))
	}
}
