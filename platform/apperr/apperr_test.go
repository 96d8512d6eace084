package apperr_test

import (
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/guarantor/guarantor/platform/apperr"
)

func TestConstructors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		err       *apperr.Error
		wantCode  apperr.Code
		wantText  string
		wantRetry time.Duration
	}{
		{"invalid", apperr.Invalid("event.title", "must not be empty"), apperr.CodeInvalidArgument, "invalid argument: invalid request: event.title: must not be empty", 0},
		{"invalid fields", apperr.InvalidFields(
			apperr.FieldViolation{Field: "a", Description: "x"},
			apperr.FieldViolation{Field: "b", Description: "y"},
		), apperr.CodeInvalidArgument, "invalid argument: invalid request: a: x; b: y", 0},
		{"invalidf", apperr.Invalidf("filter %q", "(("), apperr.CodeInvalidArgument, `invalid argument: filter "(("`, 0},
		{"not found", apperr.NotFound("event %s", "events/a"), apperr.CodeNotFound, "not found: event events/a", 0},
		{"already exists", apperr.AlreadyExists("event %s", "events/a"), apperr.CodeAlreadyExists, "already exists: event events/a", 0},
		{"failed precondition", apperr.FailedPrecondition("deleted"), apperr.CodeFailedPrecondition, "failed precondition: deleted", 0},
		{"aborted", apperr.Aborted("etag %q does not match", "x"), apperr.CodeAborted, `aborted: etag "x" does not match`, 0},
		{"out of range", apperr.OutOfRange("version %d compacted", 3), apperr.CodeOutOfRange, "out of range: version 3 compacted", 0},
		{"permission denied", apperr.PermissionDenied("no"), apperr.CodePermissionDenied, "permission denied: no", 0},
		{"unauthenticated", apperr.Unauthenticated("no token"), apperr.CodeUnauthenticated, "unauthenticated: no token", 0},
		{"resource exhausted", apperr.ResourceExhausted(time.Second, "slow down"), apperr.CodeResourceExhausted, "resource exhausted: slow down", time.Second},
		{"unavailable", apperr.Unavailable(0, "db down"), apperr.CodeUnavailable, "unavailable: db down", 0},
		{"internal", apperr.Internal("bug"), apperr.CodeInternal, "internal: bug", 0},
		{"aborted with retry", apperr.Aborted("busy").WithRetryAfter(2 * time.Second), apperr.CodeAborted, "aborted: busy", 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.err.Code != tt.wantCode {
				t.Errorf("Code = %v, want %v", tt.err.Code, tt.wantCode)
			}
			if got := tt.err.Error(); got != tt.wantText {
				t.Errorf("Error() = %q, want %q", got, tt.wantText)
			}
			if tt.err.RetryAfter != tt.wantRetry {
				t.Errorf("RetryAfter = %s, want %s", tt.err.RetryAfter, tt.wantRetry)
			}
		})
	}
}

func TestMatching(t *testing.T) {
	t.Parallel()
	wrapped := fmt.Errorf("load event: %w", apperr.NotFound("event %s", "events/a"))
	tests := []struct {
		name     string
		err      error
		wantCode apperr.Code
	}{
		{"direct", apperr.Aborted("x"), apperr.CodeAborted},
		{"wrapped", wrapped, apperr.CodeNotFound},
		{"joined", errors.Join(io.EOF, apperr.Invalid("f", "d")), apperr.CodeInvalidArgument},
		{"plain error", io.EOF, 0},
		{"nil", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := apperr.CodeOf(tt.err); got != tt.wantCode {
				t.Errorf("CodeOf = %v, want %v", got, tt.wantCode)
			}
			var e *apperr.Error
			if got, want := errors.As(tt.err, &e), tt.wantCode != 0; got != want {
				t.Errorf("errors.As = %t, want %t", got, want)
			}
			if tt.wantCode != 0 && !apperr.Is(tt.err, tt.wantCode) {
				t.Errorf("Is(err, %v) = false", tt.wantCode)
			}
			if apperr.Is(tt.err, apperr.CodeInternal) {
				t.Errorf("Is(err, internal) = true")
			}
		})
	}
}

func TestWithRetryAfterCopies(t *testing.T) {
	t.Parallel()
	orig := apperr.Unavailable(0, "down")
	_ = orig.WithRetryAfter(time.Minute)
	if orig.RetryAfter != 0 {
		t.Errorf("WithRetryAfter changed the receiver: RetryAfter = %s", orig.RetryAfter)
	}
}

func TestInvalidFieldsCopiesSlice(t *testing.T) {
	t.Parallel()
	vs := []apperr.FieldViolation{{Field: "a", Description: "x"}}
	e := apperr.InvalidFields(vs...)
	vs[0].Field = "changed"
	if e.Violations[0].Field != "a" {
		t.Errorf("InvalidFields kept the caller's slice")
	}
}

func TestCodeString(t *testing.T) {
	t.Parallel()
	if got := apperr.Code(0).String(); got != "code(0)" {
		t.Errorf("Code(0).String() = %q", got)
	}
	if got := apperr.CodeNotFound.String(); got != "not found" {
		t.Errorf("CodeNotFound.String() = %q", got)
	}
}
