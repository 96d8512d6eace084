package grpcserver_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/guarantor/guarantor/platform/apperr"
	"github.com/guarantor/guarantor/platform/grpcserver"
)

func TestToStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		err        error
		wantCode   codes.Code
		wantMsg    string
		wantFields map[string]string // BadRequest field -> description
		wantRetry  time.Duration
		wantLogged bool // detail logged at error level
	}{
		{name: "nil", err: nil, wantCode: codes.OK},
		{name: "invalid field", err: apperr.Invalid("event.title", "too long"), wantCode: codes.InvalidArgument,
			wantMsg: "invalid request: event.title: too long", wantFields: map[string]string{"event.title": "too long"}},
		{name: "invalid fields", err: apperr.InvalidFields(
			apperr.FieldViolation{Field: "a", Description: "x"}, apperr.FieldViolation{Field: "b", Description: "y"}),
			wantCode: codes.InvalidArgument, wantMsg: "invalid request: a: x; b: y", wantFields: map[string]string{"a": "x", "b": "y"}},
		{name: "invalidf", err: apperr.Invalidf("bad filter"), wantCode: codes.InvalidArgument, wantMsg: "bad filter"},
		{name: "not found", err: apperr.NotFound("event %s", "events/a"), wantCode: codes.NotFound, wantMsg: "event events/a"},
		{name: "wrapped not found", err: fmt.Errorf("get: %w", apperr.NotFound("x")), wantCode: codes.NotFound, wantMsg: "x"},
		{name: "already exists", err: apperr.AlreadyExists("x"), wantCode: codes.AlreadyExists, wantMsg: "x"},
		{name: "failed precondition", err: apperr.FailedPrecondition("x"), wantCode: codes.FailedPrecondition, wantMsg: "x"},
		{name: "aborted", err: apperr.Aborted("etag mismatch"), wantCode: codes.Aborted, wantMsg: "etag mismatch"},
		{name: "out of range", err: apperr.OutOfRange("compacted"), wantCode: codes.OutOfRange, wantMsg: "compacted"},
		{name: "permission denied", err: apperr.PermissionDenied("x"), wantCode: codes.PermissionDenied, wantMsg: "x"},
		{name: "unauthenticated", err: apperr.Unauthenticated("x"), wantCode: codes.Unauthenticated, wantMsg: "x"},
		{name: "resource exhausted", err: apperr.ResourceExhausted(2*time.Second, "slow down"), wantCode: codes.ResourceExhausted,
			wantMsg: "slow down", wantRetry: 2 * time.Second},
		{name: "unavailable", err: apperr.Unavailable(0, "db down"), wantCode: codes.Unavailable, wantMsg: "db down"},
		{name: "empty message uses code", err: &apperr.Error{Code: apperr.CodeNotFound}, wantCode: codes.NotFound, wantMsg: "not found"},
		{name: "apperr internal hidden", err: apperr.Internal("invariant broken: row 7"), wantCode: codes.Internal,
			wantMsg: "internal error", wantLogged: true},
		{name: "apperr zero code hidden", err: &apperr.Error{Message: "?"}, wantCode: codes.Internal, wantMsg: "internal error", wantLogged: true},
		{name: "canceled", err: context.Canceled, wantCode: codes.Canceled, wantMsg: "request canceled"},
		{name: "wrapped deadline", err: fmt.Errorf("query: %w", context.DeadlineExceeded), wantCode: codes.DeadlineExceeded, wantMsg: "deadline exceeded"},
		{name: "status passes through", err: status.Error(codes.Unavailable, "downstream"), wantCode: codes.Unavailable, wantMsg: "downstream"},
		{name: "unknown error", err: errors.New("pq: password authentication failed"), wantCode: codes.Internal,
			wantMsg: "internal error", wantLogged: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			core, logs := observer.New(zapcore.DebugLevel)
			log := zap.New(zapcore.NewTee(zaptest.NewLogger(t).Core(), core))

			got := grpcserver.ToStatus(log, tt.err)
			if tt.err == nil {
				if got != nil {
					t.Fatalf("ToStatus(nil) = %v", got)
				}
				return
			}
			st, ok := status.FromError(got)
			if !ok {
				t.Fatalf("ToStatus returned a non-status error %v", got)
			}
			if st.Code() != tt.wantCode || st.Message() != tt.wantMsg {
				t.Errorf("status = %s %q, want %s %q", st.Code(), st.Message(), tt.wantCode, tt.wantMsg)
			}

			fields := map[string]string{}
			var retry time.Duration
			for _, d := range st.Details() {
				switch d := d.(type) {
				case *errdetails.BadRequest:
					for _, v := range d.GetFieldViolations() {
						fields[v.GetField()] = v.GetDescription()
					}
				case *errdetails.RetryInfo:
					retry = d.GetRetryDelay().AsDuration()
				}
			}
			if len(fields) != len(tt.wantFields) {
				t.Errorf("BadRequest = %v, want %v", fields, tt.wantFields)
			}
			for k, v := range tt.wantFields {
				if fields[k] != v {
					t.Errorf("BadRequest[%s] = %q, want %q", k, fields[k], v)
				}
			}
			if retry != tt.wantRetry {
				t.Errorf("RetryInfo = %s, want %s", retry, tt.wantRetry)
			}

			errLogs := logs.FilterLevelExact(zapcore.ErrorLevel).All()
			if tt.wantLogged {
				if len(errLogs) != 1 || errLogs[0].ContextMap()["error"] != tt.err.Error() {
					t.Errorf("error logs = %v, want the detail once", errLogs)
				}
			} else if logs.Len() != 0 {
				t.Errorf("logged %v for a non-internal error", logs.All())
			}
		})
	}
}

func TestToStatusNilLogger(t *testing.T) {
	t.Parallel()
	if got := status.Code(grpcserver.ToStatus(nil, errors.New("x"))); got != codes.Internal {
		t.Errorf("ToStatus(nil logger) code = %s, want Internal", got)
	}
}
