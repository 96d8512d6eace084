package grpcserver_test

import (
	"fmt"
	"strings"
	"testing"

	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/guarantor/guarantor/platform/grpcserver"
)

// TestWrappedStatusKeepsItsMessage: an error that already is a gRPC status passes
// through ToStatus, also when wrapped, with its own message: status.FromError, which it
// used, replaces the message of a wrapped status with err.Error() of the whole chain, so
// the wrapping context (addresses, DSNs, query text) reached the client.
func TestWrappedStatusKeepsItsMessage(t *testing.T) {
	inner := status.Error(codes.FailedPrecondition, "from a downstream call")
	err := fmt.Errorf("lookup via postgres://app:hunter2@db:5432/guarantor: %w", inner)
	st := status.Convert(grpcserver.ToStatus(zap.NewNop(), err))
	if st.Code() != codes.FailedPrecondition {
		t.Fatalf("code = %s, want FailedPrecondition", st.Code())
	}
	if strings.Contains(st.Message(), "hunter2") || st.Message() != "from a downstream call" {
		t.Errorf("client sees message %q, want the status's own %q", st.Message(), "from a downstream call")
	}
}
