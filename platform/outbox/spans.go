package outbox

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/guarantor/guarantor/platform/changelog"
)

// publishSpans are the producer spans of one window, in entry order; nil for an entry
// without a trace context (or all of them, without a tracer).
type publishSpans struct {
	spans []trace.Span
	next  int // the next span an acknowledgement ends
}

// startSpans starts a span for each entry that carries a traceparent, as its child. The
// sampler decides as it did for the request: an unsampled request gets a non-recording
// span, which costs next to nothing.
func (c *Relay) startSpans(entries []changelog.Entry) *publishSpans {
	p := &publishSpans{}
	if c.Tracer == nil {
		return p
	}
	p.spans = make([]trace.Span, len(entries))
	for i, e := range entries {
		if e.TraceParent == "" {
			continue
		}
		parent := propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{"traceparent": e.TraceParent})
		if !trace.SpanContextFromContext(parent).IsValid() {
			continue
		}
		_, p.spans[i] = c.Tracer.Start(parent, "publish "+c.Stream, trace.WithSpanKind(trace.SpanKindProducer),
			trace.WithAttributes(
				attribute.String("messaging.system", "nats"),
				attribute.String("messaging.destination.name", e.Subject),
				attribute.String("messaging.message.id", e.ID),
				attribute.Int64("guarantor.change.seq", e.Seq),
			))
	}
	return p
}

// acked ends the next entry's span with the stream sequence JetStream stored it at.
func (p *publishSpans) acked(ack *jetstream.PubAck) {
	if p.next < len(p.spans) {
		if s := p.spans[p.next]; s != nil {
			s.SetAttributes(attribute.Int64("messaging.nats.stream.sequence", int64(ack.Sequence)), attribute.Bool("messaging.nats.duplicate", ack.Duplicate))
			s.End()
		}
	}
	p.next++
}

// failed ends the spans of the entries not acknowledged (from acked on) with err; the
// relay publishes them again in a later pass, under spans of their own.
func (p *publishSpans) failed(acked int, err error) {
	for i := max(acked, p.next); i < len(p.spans); i++ {
		if s := p.spans[i]; s != nil {
			if err != nil {
				s.SetStatus(codes.Error, err.Error())
			}
			s.End()
		}
	}
}
