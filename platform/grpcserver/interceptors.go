package grpcserver

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"buf.build/go/protovalidate"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/guarantor/guarantor/platform/apperr"
)

// AuthFunc authenticates a call. It returns the context the handler runs with
// (e.g. carrying the caller's identity) or an error, preferably
// apperr.Unauthenticated / apperr.PermissionDenied or a gRPC status; any other
// error becomes INTERNAL. Health checks and reflection skip it.
type AuthFunc func(ctx context.Context, fullMethod string) (context.Context, error)

// requestIDKey is the metadata key clients and the gateway use to correlate
// logs across services.
const requestIDKey = "x-request-id"

// maxRequestIDLen bounds a client-chosen value before it reaches the log.
const maxRequestIDLen = 128

// RequestID returns the x-request-id metadata of an incoming call, if any.
func RequestID(ctx context.Context) string {
	vs := metadata.ValueFromIncomingContext(ctx, requestIDKey)
	if len(vs) == 0 {
		return ""
	}
	id := vs[0]
	if len(id) > maxRequestIDLen {
		id = id[:maxRequestIDLen]
	}
	return id
}

// isInfrastructure reports the methods that must work without credentials and
// are too frequent to log at info: health checks (Kubernetes probes) and
// reflection.
func isInfrastructure(fullMethod string) bool {
	return strings.HasPrefix(fullMethod, "/grpc.health.v1.Health/") ||
		strings.HasPrefix(fullMethod, "/grpc.reflection.v1.ServerReflection/") ||
		strings.HasPrefix(fullMethod, "/grpc.reflection.v1alpha.ServerReflection/")
}

// --- panic recovery ---

// panicToStatus logs the panic with its stack once and hides it from the caller.
func panicToStatus(log *zap.Logger, fullMethod string, p any) error {
	log.Error("panic in gRPC handler",
		zap.String("grpc.method", fullMethod),
		zap.String("panic", fmt.Sprint(p)),
		zap.ByteString("stack", debug.Stack()),
	)
	return status.Error(codes.Internal, internalMessage)
}

func recoveryUnary(log *zap.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if p := recover(); p != nil {
				resp, err = nil, panicToStatus(log, info.FullMethod, p)
			}
		}()
		return handler(ctx, req)
	}
}

func recoveryStream(log *zap.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = panicToStatus(log, info.FullMethod, p)
			}
		}()
		return handler(srv, ss)
	}
}

// --- request logging ---

// levelFor decides how loud a finished call is. Client mistakes are not
// server errors, so they stay at info; only what an operator must look at is
// an error.
func levelFor(fullMethod string, c codes.Code) zapcore.Level {
	switch c {
	case codes.OK, codes.Canceled, codes.InvalidArgument, codes.NotFound, codes.AlreadyExists,
		codes.FailedPrecondition, codes.Aborted, codes.OutOfRange, codes.Unauthenticated,
		codes.PermissionDenied, codes.Unimplemented:
		if isInfrastructure(fullMethod) {
			return zapcore.DebugLevel
		}
		return zapcore.InfoLevel
	case codes.DeadlineExceeded, codes.ResourceExhausted, codes.Unavailable:
		return zapcore.WarnLevel
	default: // Internal, Unknown, DataLoss
		return zapcore.ErrorLevel
	}
}

// logCall writes one line per finished call. Metadata values are never logged
// (they carry authorization tokens), except the request id.
func logCall(ctx context.Context, log *zap.Logger, fullMethod string, start time.Time, err error) {
	st := status.Convert(err)
	ce := log.Check(levelFor(fullMethod, st.Code()), "gRPC call finished")
	if ce == nil {
		return
	}
	fields := []zap.Field{
		zap.String("grpc.method", fullMethod),
		zap.String("grpc.code", st.Code().String()),
		zap.Duration("grpc.duration", time.Since(start)),
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		fields = append(fields, zap.String("peer", p.Addr.String()))
	}
	if id := RequestID(ctx); id != "" {
		fields = append(fields, zap.String("request_id", id))
	}
	if err != nil {
		fields = append(fields, zap.String("grpc.message", st.Message()))
	}
	ce.Write(fields...)
}

func loggingUnary(log *zap.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := handler(ctx, req)
		logCall(ctx, log, info.FullMethod, start, err)
		return resp, err
	}
}

func loggingStream(log *zap.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		start := time.Now()
		err := handler(srv, ss)
		logCall(ss.Context(), log, info.FullMethod, start, err)
		return err
	}
}

// --- authentication ---

func authUnary(auth AuthFunc) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if isInfrastructure(info.FullMethod) {
			return handler(ctx, req)
		}
		ctx, err := auth(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

func authStream(auth AuthFunc) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if isInfrastructure(info.FullMethod) {
			return handler(srv, ss)
		}
		ctx, err := auth(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		return handler(srv, &contextStream{ServerStream: ss, ctx: ctx})
	}
}

// contextStream replaces a stream's context (with the one auth returned).
type contextStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *contextStream) Context() context.Context { return s.ctx }

// --- request validation ---

// validate checks a request against the protovalidate rules declared in the
// proto files. A violation is INVALID_ARGUMENT with a BadRequest detail whose
// field paths are as in the API ("event.title").
func validate(log *zap.Logger, v protovalidate.Validator, m any) error {
	msg, ok := m.(proto.Message)
	if !ok {
		return nil // not a protobuf request; nothing declared to check
	}
	err := v.Validate(msg)
	if err == nil {
		return nil
	}
	var verr *protovalidate.ValidationError
	if !errors.As(err, &verr) {
		// A rule that does not compile or fails at runtime is our bug, not
		// the client's.
		return ToStatus(log, fmt.Errorf("validate %s: %w", msg.ProtoReflect().Descriptor().FullName(), err))
	}
	vs := make([]apperr.FieldViolation, 0, len(verr.Violations))
	for _, viol := range verr.Violations {
		desc := viol.Proto.GetMessage()
		if desc == "" {
			desc = viol.Proto.GetRuleId()
		}
		vs = append(vs, apperr.FieldViolation{
			Field:       protovalidate.FieldPathString(viol.Proto.GetField()),
			Description: desc,
		})
	}
	return ToStatus(log, apperr.InvalidFields(vs...))
}

// knownStream refuses calls to methods known does not know (see WithKnownMethods).
func knownStream(known func(string) bool) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if !known(info.FullMethod) {
			return status.Errorf(codes.Unimplemented, "unknown method %s", info.FullMethod)
		}
		return handler(srv, ss)
	}
}

func validateUnary(log *zap.Logger, v protovalidate.Validator) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := validate(log, v, req); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

func validateStream(log *zap.Logger, v protovalidate.Validator) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return handler(srv, &validatingStream{ServerStream: ss, log: log, v: v})
	}
}

// validatingStream validates every message the handler receives.
type validatingStream struct {
	grpc.ServerStream
	log *zap.Logger
	v   protovalidate.Validator
}

func (s *validatingStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return validate(s.log, s.v, m)
}
