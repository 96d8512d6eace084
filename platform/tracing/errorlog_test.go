package tracing

import (
	"errors"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestErrorLogThrottles: a collector that is away fails every export; the log gets one
// warning per interval, with the count of the errors it left out.
func TestErrorLogThrottles(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	e := newErrorLog(zap.New(core), time.Minute)
	now := time.Unix(1_800_000_000, 0)
	e.now = func() time.Time { return now }
	for range 5 {
		e.Handle(errors.New("connection refused"))
	}
	now = now.Add(time.Minute)
	e.Handle(errors.New("connection refused"))

	entries := logs.All()
	if len(entries) != 2 {
		t.Fatalf("%d warnings, want 2 (one per minute)", len(entries))
	}
	if got := entries[1].ContextMap()["errors_not_logged"]; got != int64(4) {
		t.Errorf("second warning: errors_not_logged %v, want 4", got)
	}
	if entries[0].ContextMap()["error"] != "connection refused" {
		t.Errorf("first warning %v", entries[0].ContextMap())
	}
}
