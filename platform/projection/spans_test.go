package projection_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/nats-io/nats.go"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/guarantor/guarantor/platform/outbox"
	"github.com/guarantor/guarantor/platform/projection"
	"github.com/guarantor/guarantor/platform/sqldb"
	"github.com/guarantor/guarantor/platform/sqldb/sqldbtest"
	"github.com/guarantor/guarantor/platform/testkit/natstest"
)

// TestConsumerTracesMessages: with a tracer, applying a message that carries a sampled
// trace context is a consumer span, child of the span that made the change, ended once
// its batch committed; a message without one makes no span.
func TestConsumerTracesMessages(t *testing.T) {
	t.Parallel()
	sqldbtest.ForEachDialect(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db, natstest.Start(t))
		f.ensureStream()
		const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
		var last uint64
		for i, tp := range []string{traceparent, "", traceparent} {
			msg := nats.NewMsg("src.item" + strconv.Itoa(i))
			msg.Data = []byte("item" + strconv.Itoa(i))
			msg.Header.Set(outbox.HeaderSeq, strconv.Itoa(i+1))
			if tp != "" {
				msg.Header.Set("traceparent", tp)
			}
			ack, err := f.js.PublishMsg(context.Background(), msg)
			if err != nil {
				t.Fatal(err)
			}
			last = ack.Sequence
		}
		rec := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())))
		_, stop := f.run(func(c *projection.Consumer) { c.Tracer = tp.Tracer("projection-test") })
		f.waitPosition(last)
		stop()

		spans := rec.Ended()
		if len(spans) != 2 {
			t.Fatalf("%d spans, want one per traced message (2)", len(spans))
		}
		for i, s := range spans {
			if s.Name() != "process "+stream || s.SpanKind() != trace.SpanKindConsumer ||
				s.SpanContext().TraceID().String() != "0af7651916cd43dd8448eb211c80319c" || s.Parent().SpanID().String() != "b7ad6b7169203331" {
				t.Errorf("span %d: %q kind %v trace %s parent %s", i, s.Name(), s.SpanKind(), s.SpanContext().TraceID(), s.Parent().SpanID())
			}
		}
	})
}
