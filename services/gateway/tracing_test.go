package gateway_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc/metadata"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	"github.com/guarantor/guarantor/platform/testkit/otlptest"
)

// TestOneTraceAcrossTheStack: with --otlp-endpoint set everywhere, a write through the
// gateway is one trace in the collector, from the caller's span down: the gateway's
// server span, its call to the events service, the events service's server span. The
// change published on NATS carries the events service's span, so a consumer joins the
// same trace.
func TestOneTraceAcrossTheStack(t *testing.T) {
	col := otlptest.Start(t)
	s := startStack(t, stackOptions{otlp: col.Addr()})
	const traceID, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	ctx := metadata.AppendToOutgoingContext(s.ctxAs(editor), "traceparent", "00-"+traceID+"-"+callerSpan+"-01")
	created, err := eventsv1.NewEventsServiceClient(s.conn).CreateEvent(ctx, &eventsv1.CreateEventRequest{EventId: "traced", Event: summit()})
	if err != nil {
		t.Fatal(err)
	}

	const method = "guarantor.events.v1.EventsService/CreateEvent"
	find := func(spans []otlptest.Span, service string, kind tracepb.Span_SpanKind) *otlptest.Span {
		for i, sp := range spans {
			if sp.Service == service && sp.Kind == kind && sp.Name == method {
				return &spans[i]
			}
		}
		return nil
	}
	spans := col.Trace(t, traceID, 3) // exported in batches: up to a few seconds
	gwServer := find(spans, "guarantor-gateway", tracepb.Span_SPAN_KIND_SERVER)
	gwClient := find(spans, "guarantor-gateway", tracepb.Span_SPAN_KIND_CLIENT)
	evServer := find(spans, "guarantor-events", tracepb.Span_SPAN_KIND_SERVER)
	if gwServer == nil || gwClient == nil || evServer == nil {
		t.Fatalf("want the gateway's server and client spans and the events service's server span of %s in trace %s; got %+v", method, traceID, spans)
	}
	if gwServer.ParentID != callerSpan || gwClient.ParentID != gwServer.SpanID || evServer.ParentID != gwClient.SpanID {
		t.Errorf("parents: gateway server %s (want the caller's %s), gateway client %s (want %s), events server %s (want %s)",
			gwServer.ParentID, callerSpan, gwClient.ParentID, gwServer.SpanID, evServer.ParentID, gwClient.SpanID)
	}

	js := s.nats.JetStream(t)
	stream, err := js.Stream(ctx, "GUARANTOR_EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	var msg *jetstream.RawStreamMsg
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		msg, err = stream.GetLastMsgForSubject(cctx, ">")
		cancel()
		if err == nil && msg.Header.Get("Guarantor-Resource") == created.GetEvent().GetName() {
			break
		}
	}
	if msg == nil || msg.Header.Get("Guarantor-Resource") != created.GetEvent().GetName() {
		t.Fatalf("the change of %s did not reach the stream", created.GetEvent().GetName())
	}
	if tp := msg.Header.Get("traceparent"); !strings.Contains(tp, traceID+"-"+evServer.SpanID) {
		t.Errorf("the change's traceparent %q, want trace %s and the events service's span %s", tp, traceID, evServer.SpanID)
	}
}
