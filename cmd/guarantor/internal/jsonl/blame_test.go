package jsonl

import (
	"errors"
	"fmt"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestBlameItems: which items of a refused batch call an error names, for the field
// asked about, and only when the error is about items.
func TestBlameItems(t *testing.T) {
	violations := func(code codes.Code, fields ...string) error {
		br := &errdetails.BadRequest{}
		for _, f := range fields {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: f, Description: "bad"})
		}
		st, _ := status.New(code, "invalid request").WithDetails(br)
		return st.Err()
	}
	tests := []struct {
		name  string
		err   error
		field string
		want  map[int]string
	}{
		{"violations joined per item", violations(codes.InvalidArgument, "requests[1].event.title", "requests[1].event.when", "requests[0]"), "requests",
			map[int]string{0: ": bad", 1: "event.title: bad; event.when: bad"}},
		{"another field's items", violations(codes.InvalidArgument, "actors[0].actor.display_name", "requests[1].event.title"), "actors",
			map[int]string{0: "actor.display_name: bad"}},
		{"index out of range", violations(codes.InvalidArgument, "requests[5].event.title"), "requests", map[int]string{}},
		{"a message naming an item", status.Error(codes.FailedPrecondition, "requests[2]: event.participants[0].actor names actors/x, which does not exist"), "requests",
			map[int]string{2: "requests[2]: event.participants[0].actor names actors/x, which does not exist"}},
		{"an id taken", status.Error(codes.AlreadyExists, "requests[0]: events/a already exists"), "requests", map[int]string{0: "requests[0]: events/a already exists"}},
		{"not about items: the caller may not read", status.Error(codes.PermissionDenied, "requests[0]: events/a is licensed under ACLED terms"), "requests", nil},
		{"not about items: the server is down", status.Error(codes.Unavailable, "requests[0]"), "requests", nil},
		{"not a status", errors.New("requests[0]: boom"), "requests", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := BlameItems(tc.err, tc.field, 3)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) || (got == nil) != (tc.want == nil) {
				t.Errorf("BlameItems = %v, want %v", got, tc.want)
			}
		})
	}
}
