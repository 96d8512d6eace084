package gateway_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
)

// TestInfrastructurePrefixesLeaveNoTrace: method names that only begin like health or
// reflection methods are unknown methods, and leave no metric series behind. known()
// used to accept any name under those prefixes, so an unauthenticated caller inventing
// names there got a fresh set of series per name (kept for the life of the process),
// which WithKnownMethods exists to prevent.
func TestInfrastructurePrefixesLeaveNoTrace(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{noGuarantees: true})
	made := []string{
		"/grpc.health.v1.Health/MadeUp1",
		"/grpc.reflection.v1.ServerReflection/MadeUp2",
		"/grpc.reflection.madeup/MadeUp3",
	}
	for _, m := range made {
		// No credentials at all.
		err := s.conn.Invoke(context.Background(), m, &eventsv1.GetEventRequest{}, &eventsv1.Event{})
		if c := status.Code(err); c != codes.Unimplemented && c != codes.Unauthenticated {
			t.Fatalf("%s: %v", m, err)
		}
	}
	families, err := s.gw.GRPC.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range families {
		for _, metric := range f.GetMetric() {
			for _, l := range metric.GetLabel() {
				if v := l.GetValue(); strings.HasPrefix(v, "MadeUp") && !seen[f.GetName()+v] {
					seen[f.GetName()+v] = true
					t.Errorf("%s has series for the made-up method %q (unauthenticated caller)", f.GetName(), v)
				}
			}
		}
	}
}
