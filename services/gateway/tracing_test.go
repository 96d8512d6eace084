package gateway_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc/metadata"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	"github.com/guarantor/guarantor/platform/testkit/otlptest"
)

// TestOneTraceAcrossTheStack: with --otlp-endpoint set everywhere, a call through the
// gateway, over gRPC or HTTP/JSON, is one trace in the collector, from the caller's span
// down: the gateway's server span, its call to the events service, the events service's
// server span, and for a write the relay's publish of its change and the guarantees
// projection's processing of it under that (the change published on NATS carries the
// events service's span).
func TestOneTraceAcrossTheStack(t *testing.T) {
	col := otlptest.Start(t)
	s := startStack(t, stackOptions{otlp: col.Addr()})
	const traceID, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	ctx := metadata.AppendToOutgoingContext(s.ctxAs(editor), "traceparent", "00-"+traceID+"-"+callerSpan+"-01")
	created, err := eventsv1.NewEventsServiceClient(s.conn).CreateEvent(ctx, &eventsv1.CreateEventRequest{EventId: "traced", Event: summit()})
	if err != nil {
		t.Fatal(err)
	}

	// The same over HTTP/JSON, whose calls the gateway serves through its gRPC server.
	const httpTrace = "5bf92f3577b34da6a3ce929d0e0e4736"
	req, err := http.NewRequestWithContext(s.ctxAs(""), http.MethodPost, s.httpURL+"/guarantor.events.v1.EventsService/ListEvents", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.keys[viewer])
	req.Header.Set("traceparent", "00-"+httpTrace+"-"+callerSpan+"-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP ListEvents: %s", resp.Status)
	}

	writeTrace := col.Trace(t, traceID, 5)
	evServer := tracedThrough(t, writeTrace, "guarantor.events.v1.EventsService/CreateEvent", callerSpan)
	tracedThrough(t, col.Trace(t, httpTrace, 3), "guarantor.events.v1.EventsService/ListEvents", callerSpan)
	if evServer == nil {
		return
	}
	// The relay's publish of the change, under the events service's span.
	published := false
	for _, sp := range writeTrace {
		if sp.Service == "guarantor-events" && sp.Kind == tracepb.Span_SPAN_KIND_PRODUCER && sp.Name == "publish GUARANTOR_EVENTS" && sp.ParentID == evServer.SpanID {
			published = true
		}
	}
	if !published {
		t.Errorf("no publish span under the events service's span: %+v", writeTrace)
	}
	// The guarantees service's projection applying the change, under the same span (the
	// message's traceparent).
	projected := false
	for _, sp := range writeTrace {
		if sp.Service == "guarantor-guarantees" && sp.Kind == tracepb.Span_SPAN_KIND_CONSUMER && sp.ParentID == evServer.SpanID {
			projected = true
		}
	}
	if !projected {
		t.Errorf("no consumer span of the guarantees projection under the events service's span: %+v", writeTrace)
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

// tracedThrough checks that spans (one trace, exported in batches: col.Trace waits) hold
// the gateway's server span of method under the caller's span, its client span under
// that, and the events service's server span under the client span; it returns the
// last.
func tracedThrough(t *testing.T, spans []otlptest.Span, method, callerSpan string) *otlptest.Span {
	t.Helper()
	find := func(service string, kind tracepb.Span_SpanKind) *otlptest.Span {
		for i, sp := range spans {
			if sp.Service == service && sp.Kind == kind && sp.Name == method {
				return &spans[i]
			}
		}
		return nil
	}
	gwServer := find("guarantor-gateway", tracepb.Span_SPAN_KIND_SERVER)
	gwClient := find("guarantor-gateway", tracepb.Span_SPAN_KIND_CLIENT)
	evServer := find("guarantor-events", tracepb.Span_SPAN_KIND_SERVER)
	if gwServer == nil || gwClient == nil || evServer == nil {
		t.Errorf("%s: want the gateway's server and client spans and the events service's server span; got %+v", method, spans)
		return nil
	}
	if gwServer.ParentID != callerSpan || gwClient.ParentID != gwServer.SpanID || evServer.ParentID != gwClient.SpanID {
		t.Errorf("%s: parents: gateway server %s (want the caller's %s), gateway client %s (want %s), events server %s (want %s)",
			method, gwServer.ParentID, callerSpan, gwClient.ParentID, gwServer.SpanID, evServer.ParentID, gwClient.SpanID)
	}
	return evServer
}
