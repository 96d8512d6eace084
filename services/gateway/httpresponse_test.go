package gateway_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	"github.com/guarantor/guarantor/services/gateway"
)

// TestHTTPResponseNotBoundByRequestLimit: the HTTP transcoder's message buffer bounds
// what the gateway answers as well as what it is sent. Set from --max-recv-msg-bytes,
// it refused over HTTP an answer the gateway sends over gRPC (up to
// --max-send-msg-bytes); it is now set from the latter, and requests have their own
// limit.
func TestHTTPResponseNotBoundByRequestLimit(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{noGuarantees: true, tune: func(c *gateway.Config) {
		c.GRPC.MaxRecvMsgBytes = 16 << 10 // requests up to 16 KiB; responses still up to 16 MiB
	}})
	ev := eventsv1.NewEventsServiceClient(s.conn)
	ctx := s.ctxAs(editor)
	for i := range 12 {
		e := summit()
		e.Summary = strings.Repeat("x", 8000)
		if _, err := ev.CreateEvent(ctx, &eventsv1.CreateEventRequest{EventId: fmt.Sprintf("e%d", i), Event: e}); err != nil {
			t.Fatal(err)
		}
	}
	list, err := ev.ListEvents(s.ctxAs(viewer), &eventsv1.ListEventsRequest{})
	if err != nil || len(list.GetEvents()) != 12 {
		t.Fatalf("over gRPC: %d events, %v", len(list.GetEvents()), err)
	}
	code, body := postJSON(t, rpcURL(s.httpURL, "guarantor.events.v1.EventsService", "ListEvents"), s.keys[viewer], `{}`)
	if code != http.StatusOK {
		t.Fatalf("over HTTP: HTTP %d %.300s; the same call over gRPC returned its 12 events", code, body)
	}
}
