package gateway_test

import (
	"net/http"
	"testing"
)

// TestHTTPMalformedJSONIsClientError: a request body that is not valid JSON for the
// method's request message is the client's mistake: 400 invalid_argument. It used to
// come back as HTTP 500 "unknown" (and the access log warned, as for a server fault).
func TestHTTPMalformedJSONIsClientError(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{noGuarantees: true})
	for _, body := range []string{
		`{"name":`,               // truncated
		`{"name":1}`,             // wrong type
		`{"actor":"actors/fra",`, // truncated, gateway's own method
	} {
		url := rpcURL(s.httpURL, "guarantor.events.v1.EventsService", "GetEvent")
		if body[2] == 'a' {
			url = rpcURL(s.httpURL, "guarantor.gateway.v1.GatewayService", "GetActorDossier")
		}
		code, resp := postJSON(t, url, s.keys[viewer], body)
		if code != http.StatusBadRequest || errorCode(t, resp) != "invalid_argument" {
			t.Errorf("body %s: HTTP %d %s, want 400 invalid_argument", body, code, resp)
		}
	}
}
