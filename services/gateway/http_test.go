package gateway_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/guarantor/guarantor/services/gateway/internal/backends"
)

// TestHTTPJSON: every service is callable as JSON over HTTP (Connect protocol), unary and
// server-streaming, with the same contracts.
func TestHTTPJSON(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{})
	seedDossier(t, s, true)
	const (
		events     = "guarantor.events.v1.EventsService"
		guarantees = "guarantor.guarantees.v1.GuaranteesService"
		gw         = "guarantor.gateway.v1.GatewayService"
	)
	unary := []struct {
		service, method, body string
		check                 func(t *testing.T, body []byte)
	}{
		{events, "ListEvents", `{"filter":"participant = \"actors/fra\""}`, func(t *testing.T, b []byte) {
			var r struct{ Events []struct{ Name string } }
			decodeJSON(t, b, &r)
			if len(r.Events) != 2 {
				t.Fatalf("events: %s", b)
			}
		}},
		{events, "GetEvent", `{"name":"events/paris"}`, func(t *testing.T, b []byte) {
			var r struct{ Event struct{ Name, Title string } }
			decodeJSON(t, b, &r)
			if r.Event.Name != "events/paris" || r.Event.Title == "" {
				t.Fatalf("event: %s", b)
			}
		}},
		{events, "CreateActor", `{"actorId":"pol","actor":{"kind":"ACTOR_KIND_STATE","displayName":"Poland","countryCode":"POL"}}`, func(t *testing.T, b []byte) {
			var r struct{ Actor struct{ Name string } }
			decodeJSON(t, b, &r)
			if r.Actor.Name != "actors/pol" {
				t.Fatalf("actor: %s", b)
			}
		}},
		{guarantees, "ListGuarantees", `{}`, func(t *testing.T, b []byte) {
			var r struct{ Guarantees []struct{ Name string } }
			decodeJSON(t, b, &r)
			if len(r.Guarantees) != 1 || r.Guarantees[0].Name != "guarantees/fra-hub" {
				t.Fatalf("guarantees: %s", b)
			}
		}},
		{guarantees, "GetFramework", `{"name":"frameworks/paris-declaration"}`, func(t *testing.T, b []byte) {
			var r struct{ Framework struct{ Name string } }
			decodeJSON(t, b, &r)
			if r.Framework.Name != "frameworks/paris-declaration" {
				t.Fatalf("framework: %s", b)
			}
		}},
		{guarantees, "GetCoverage", `{}`, func(t *testing.T, b []byte) {
			var r struct{ Cells []json.RawMessage }
			decodeJSON(t, b, &r)
			if len(r.Cells) != 1 {
				t.Fatalf("coverage: %s", b)
			}
		}},
	}
	for _, tt := range unary {
		t.Run(tt.service+"/"+tt.method, func(t *testing.T) {
			code, body := postJSON(t, rpcURL(s.httpURL, tt.service, tt.method), s.keys[editor], tt.body)
			if code != http.StatusOK {
				t.Fatalf("HTTP %d: %s", code, body)
			}
			tt.check(t, body)
		})
	}
	// A backend's error keeps its code over HTTP.
	code, body := postJSON(t, rpcURL(s.httpURL, events, "GetEvent"), s.keys[editor], `{"name":"events/nowhere"}`)
	if code != http.StatusNotFound || errorCode(t, body) != "not_found" {
		t.Fatalf("missing event: HTTP %d %s", code, body)
	}

	streams := []struct {
		service, body string
		want          int
	}{
		{events, `{"resourceVersion":"1","collections":["events"]}`, 3},
		{guarantees, `{"resourceVersion":"1"}`, 2},
		{gw, `{"resumeToken":"` + tokenAt(t, 0, 0) + `","collections":["events","guarantees"]}`, 4}, // 3 events, 1 guarantee
		{gw, `{"resumeToken":"` + tokenAt(t, 0, 0) + `","maxBatch":10}`, 4},                         // the same, in batches
	}
	for _, tt := range streams {
		t.Run(tt.service+"/Watch", func(t *testing.T) {
			// Bookmarks come between changes whenever the watch is idle for a while: the
			// count is of changes, not of messages.
			msgs, cerr := streamJSON(t, rpcURL(s.httpURL, tt.service, "Watch"), s.keys[viewer], tt.body,
				func(msgs []json.RawMessage) bool { return countChanges(t, msgs) >= tt.want })
			if cerr != nil {
				t.Fatalf("stream ended with %+v after %d messages", cerr, len(msgs))
			}
			if changes := countChanges(t, msgs); changes < tt.want {
				t.Fatalf("%d changes in %d messages, want at least %d: %s", changes, len(msgs), tt.want, msgs)
			}
		})
	}
}

// countChanges counts the changes in Watch responses as JSON, single or batched.
func countChanges(t testing.TB, msgs []json.RawMessage) int {
	t.Helper()
	changes := 0
	for _, m := range msgs {
		var r map[string]json.RawMessage
		decodeJSON(t, m, &r)
		for _, k := range []string{"change", "eventsChange", "guaranteesChange"} {
			if _, ok := r[k]; ok {
				changes++
			}
		}
		if batch, ok := r["changes"]; ok {
			var cs []map[string]json.RawMessage
			decodeJSON(t, batch, &cs)
			for _, c := range cs {
				if c["eventsChange"] == nil && c["guaranteesChange"] == nil {
					t.Fatalf("a batched change without its change: %s", batch)
				}
			}
			changes += len(cs)
		}
	}
	return changes
}

// TestOpenAPI: the description lists every method the gateway serves over HTTP.
func TestOpenAPI(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{noGuarantees: true})
	resp, err := http.Get(s.httpURL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var doc struct {
		OpenAPI    string                    `json:"openapi"`
		Paths      map[string]map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi = %q", doc.OpenAPI)
	}
	for _, m := range backends.NewMethods().All() {
		if _, ok := doc.Paths[m.FullMethod]["post"]; !ok {
			t.Errorf("no POST %s in the description", m.FullMethod)
		}
	}
	for _, name := range []string{"guarantor.events.v1.Event", "guarantor.guarantees.v1.Guarantee", "guarantor.gateway.v1.GetActorDossierResponse"} {
		if doc.Components.Schemas[name] == nil {
			t.Errorf("no schema %s", name)
		}
	}
}
