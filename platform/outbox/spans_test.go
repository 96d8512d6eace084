package outbox_test

import (
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/guarantor/guarantor/platform/notify"
	"github.com/guarantor/guarantor/platform/sqldb"
	"github.com/guarantor/guarantor/platform/sqldb/sqldbtest"
)

// TestRelayTracesPublishes: with a tracer, the publish of each change that carries a
// sampled trace context is a producer span, child of the request's span, ended at
// JetStream's acknowledgement with the stream sequence; a change without a trace context
// makes no span.
func TestRelayTracesPublishes(t *testing.T) {
	sqldbtest.ForEachDialect(t, func(t *testing.T, db *sqldb.DB) {
		ns := startNATS(t)
		n := notify.New()
		rec := tracetest.NewSpanRecorder()
		// Only what a caller sampled is recorded, as in production's parent-based sampler.
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())))
		r := fastRelay(t, db, ns, n)
		r.Tracer = tp.Tracer("outbox-test")
		ensureStream(t, r.JetStream)
		runRelay(t, r)

		appendN(t, db, []*notify.Notifier{n}, 3) // traceparent 00-0af7...-b7ad...-01
		appendSized(t, db, 10)                   // none
		n.Notify(4)
		waitFor(t, "the cursor to reach 4", func() bool { return cursor(t, db) == 4 })

		spans := rec.Ended()
		if len(spans) != 3 {
			t.Fatalf("%d spans, want one per traced change (3)", len(spans))
		}
		for i, s := range spans {
			sc, parent := s.SpanContext(), s.Parent()
			if s.Name() != "publish "+testStream || s.SpanKind() != trace.SpanKindProducer ||
				sc.TraceID().String() != "0af7651916cd43dd8448eb211c80319c" || parent.SpanID().String() != "b7ad6b7169203331" {
				t.Errorf("span %d: %q kind %v trace %s parent %s", i, s.Name(), s.SpanKind(), sc.TraceID(), parent.SpanID())
			}
			if s.Status().Code == codes.Error {
				t.Errorf("span %d failed: %s", i, s.Status().Description)
			}
			if !hasAttr(s.Attributes(), "messaging.nats.stream.sequence", int64(i+1)) {
				t.Errorf("span %d attributes %v: want stream sequence %d", i, s.Attributes(), i+1)
			}
		}
	})
}

func hasAttr(attrs []attribute.KeyValue, key string, v int64) bool {
	for _, a := range attrs {
		if string(a.Key) == key && a.Value.AsInt64() == v {
			return true
		}
	}
	return false
}
