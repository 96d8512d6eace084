package service

import (
	"context"
	"regexp"
	"testing"

	"google.golang.org/grpc/metadata"
)

func TestTraceParent(t *testing.T) {
	const valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	tests := []struct {
		name string
		md   metadata.MD
		want string
	}{
		{"none", nil, ""},
		{"valid", metadata.Pairs("traceparent", valid), valid},
		{"upper-case hex is not W3C", metadata.Pairs("traceparent", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01"), ""},
		{"zero trace id", metadata.Pairs("traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"), ""},
		{"garbage", metadata.Pairs("traceparent", "00-not-a-trace-01"), ""},
		{"injection attempt", metadata.Pairs("traceparent", valid+"\nx-guarantor-principal: forged"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.md != nil {
				ctx = metadata.NewIncomingContext(ctx, tt.md)
			}
			if got := TraceParent(ctx); got != tt.want {
				t.Fatalf("TraceParent = %q, want %q", got, tt.want)
			}
		})
	}
}

var w3cTraceParent = regexp.MustCompile(`^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$`)

// FuzzTraceParent: whatever a caller sends as traceparent, what would be stored in the
// change log is empty or a well-formed W3C traceparent.
func FuzzTraceParent(f *testing.F) {
	f.Add("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	f.Add("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	f.Add("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra")
	f.Add("")
	f.Fuzz(func(t *testing.T, header string) {
		ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("traceparent", header))
		if got := TraceParent(ctx); got != "" && !w3cTraceParent.MatchString(got) {
			t.Fatalf("TraceParent(%q) = %q, not a W3C traceparent", header, got)
		}
	})
}
