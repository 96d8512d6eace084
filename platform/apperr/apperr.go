// Package apperr is the error vocabulary of domain code: a small set of codes
// that say what went wrong in terms a caller can act on (bad input, missing,
// conflict, retry later), with field violations and a retry hint.
//
// It deliberately imports nothing from gRPC, so domain packages can return
// these errors without depending on a transport. The one mapping to gRPC
// status lives in platform/grpcserver (ToStatus).
package apperr

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Code classifies an error. The zero value is not a valid code; the transport
// treats it like an unknown error (internal).
type Code int

// The codes mirror the gRPC codes a service may deliberately return.
const (
	_ Code = iota
	// CodeInvalidArgument: the request is malformed whatever the state of the system.
	CodeInvalidArgument
	// CodeNotFound: the named resource does not exist.
	CodeNotFound
	// CodeAlreadyExists: a resource with this name exists.
	CodeAlreadyExists
	// CodeFailedPrecondition: the system is not in a state the operation needs;
	// retrying will not help until the state changes.
	CodeFailedPrecondition
	// CodeAborted: a concurrency conflict (e.g. etag mismatch); retry the
	// read-modify-write sequence.
	CodeAborted
	// CodeOutOfRange: e.g. a watch from a version older than the log keeps.
	CodeOutOfRange
	// CodePermissionDenied: the caller is known but may not do this.
	CodePermissionDenied
	// CodeUnauthenticated: the caller did not prove who they are.
	CodeUnauthenticated
	// CodeResourceExhausted: a quota or rate limit; see RetryAfter.
	CodeResourceExhausted
	// CodeUnavailable: a dependency is down; retrying later may work.
	CodeUnavailable
	// CodeInternal: a bug or broken invariant. The message is logged, never
	// shown to the caller.
	CodeInternal
)

var codeNames = map[Code]string{
	CodeInvalidArgument:    "invalid argument",
	CodeNotFound:           "not found",
	CodeAlreadyExists:      "already exists",
	CodeFailedPrecondition: "failed precondition",
	CodeAborted:            "aborted",
	CodeOutOfRange:         "out of range",
	CodePermissionDenied:   "permission denied",
	CodeUnauthenticated:    "unauthenticated",
	CodeResourceExhausted:  "resource exhausted",
	CodeUnavailable:        "unavailable",
	CodeInternal:           "internal",
}

// String returns the code in lower-case words, e.g. "not found".
func (c Code) String() string {
	if s, ok := codeNames[c]; ok {
		return s
	}
	return fmt.Sprintf("code(%d)", int(c))
}

// FieldViolation says which request field is wrong and why. Field is a dotted
// path as in the API, e.g. "event.title" or "requests[2].event_id".
type FieldViolation struct {
	Field       string
	Description string
}

// Error is a domain error. Use the constructors; match with errors.As or Is.
type Error struct {
	Code    Code
	Message string
	// Violations lists bad fields (usually with CodeInvalidArgument).
	Violations []FieldViolation
	// RetryAfter, when positive, tells the client how long to wait before
	// retrying (usually with CodeResourceExhausted, CodeUnavailable, CodeAborted).
	RetryAfter time.Duration
}

// Error renders "code: message" followed by the violations, for logs.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Code.String())
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	for i, v := range e.Violations {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(v.Field)
		b.WriteString(": ")
		b.WriteString(v.Description)
	}
	return b.String()
}

// WithRetryAfter returns a copy of e carrying a retry hint.
func (e *Error) WithRetryAfter(d time.Duration) *Error {
	c := *e
	c.RetryAfter = d
	return &c
}

// New returns an error with the code and a formatted message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid reports one bad request field.
func Invalid(field, description string) *Error {
	return InvalidFields(FieldViolation{Field: field, Description: description})
}

// InvalidFields reports several bad request fields at once, so a client can
// fix them all in one round trip.
func InvalidFields(violations ...FieldViolation) *Error {
	return &Error{
		Code:       CodeInvalidArgument,
		Message:    "invalid request",
		Violations: append([]FieldViolation(nil), violations...),
	}
}

// Invalidf reports a malformed request that is not about one field.
func Invalidf(format string, args ...any) *Error {
	return New(CodeInvalidArgument, format, args...)
}

// NotFound reports that the named resource does not exist.
func NotFound(format string, args ...any) *Error { return New(CodeNotFound, format, args...) }

// AlreadyExists reports a name collision.
func AlreadyExists(format string, args ...any) *Error {
	return New(CodeAlreadyExists, format, args...)
}

// FailedPrecondition reports that the system state forbids the operation.
func FailedPrecondition(format string, args ...any) *Error {
	return New(CodeFailedPrecondition, format, args...)
}

// Aborted reports a concurrency conflict such as an etag mismatch.
func Aborted(format string, args ...any) *Error { return New(CodeAborted, format, args...) }

// OutOfRange reports a position outside what is kept or valid.
func OutOfRange(format string, args ...any) *Error { return New(CodeOutOfRange, format, args...) }

// PermissionDenied reports that the caller may not do this.
func PermissionDenied(format string, args ...any) *Error {
	return New(CodePermissionDenied, format, args...)
}

// Unauthenticated reports missing or bad credentials.
func Unauthenticated(format string, args ...any) *Error {
	return New(CodeUnauthenticated, format, args...)
}

// ResourceExhausted reports a quota or rate limit; retryAfter may be zero.
func ResourceExhausted(retryAfter time.Duration, format string, args ...any) *Error {
	return New(CodeResourceExhausted, format, args...).WithRetryAfter(retryAfter)
}

// Unavailable reports that a dependency is down; retryAfter may be zero.
func Unavailable(retryAfter time.Duration, format string, args ...any) *Error {
	return New(CodeUnavailable, format, args...).WithRetryAfter(retryAfter)
}

// Internal reports a bug or broken invariant. The message reaches the log,
// not the caller.
func Internal(format string, args ...any) *Error { return New(CodeInternal, format, args...) }

// As returns the *Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// CodeOf returns the code of the *Error in err's chain, or 0 if there is none.
func CodeOf(err error) Code {
	if e, ok := As(err); ok {
		return e.Code
	}
	return 0
}

// Is reports whether err's chain holds an *Error with this code.
func Is(err error, code Code) bool {
	return err != nil && CodeOf(err) == code
}
