package gateway_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/guarantor/guarantor/services/gateway"
)

// TestHTTPOversizedChunkedBody: a body over the HTTP limits is refused with
// resource_exhausted, with a Content-Length (over the request limit, before it is read)
// or without one (chunked, as streaming clients and proxies send it; over the
// transcoder's buffer), as gRPC refuses an oversized message. The chunked one used to
// get 503 "unavailable", which clients retry, with the net/http error text.
func TestHTTPOversizedChunkedBody(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{noGuarantees: true, tune: func(c *gateway.Config) {
		// HTTP request limit and transcoder buffer 256 KiB.
		c.GRPC.MaxRecvMsgBytes, c.GRPC.MaxSendMsgBytes = 64<<10, 64<<10
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
