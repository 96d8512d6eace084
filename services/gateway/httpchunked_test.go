package gateway_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/guarantor/guarantor/services/gateway"
)

// TestHTTPOversizedChunkedBody: a body over the HTTP limit sent without a
// Content-Length (chunked, as streaming clients and proxies send it) is refused with
// resource_exhausted, as the same body with a Content-Length is (and as gRPC refuses an
// oversized message). It used to get 503 "unavailable", which clients retry, with the
// net/http error text.
func TestHTTPOversizedChunkedBody(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{noGuarantees: true, tune: func(c *gateway.Config) {
		c.GRPC.MaxRecvMsgBytes, c.GRPC.MaxSendMsgBytes = 64<<10, 64<<10 // HTTP body limit 256 KiB
	}})
	body := `{"name":"events/paris"` + strings.Repeat(" ", 1<<20) + `}`
	for _, chunked := range []bool{false, true} {
		var r io.Reader = strings.NewReader(body)
		if chunked {
			r = io.MultiReader(r) // hides the length: sent chunked
		}
		req, err := http.NewRequest(http.MethodPost, rpcURL(s.httpURL, "guarantor.events.v1.EventsService", "GetEvent"), r)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+s.keys[viewer])
		resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusOK || errorCode(t, data) != "resource_exhausted" {
			t.Errorf("chunked=%v: HTTP %d %s, want resource_exhausted", chunked, resp.StatusCode, data)
		}
	}
}
