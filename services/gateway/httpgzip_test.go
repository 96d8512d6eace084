package gateway_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/guarantor/guarantor/services/gateway"
)

// gzipJSON is a gzip-compressed JSON body: prefix, n spaces (valid JSON whitespace),
// then suffix. It compresses about 1000:1.
func gzipJSON(t testing.TB, prefix string, n int, suffix string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write([]byte(prefix))
	chunk := bytes.Repeat([]byte(" "), 1<<20)
	for n > 0 {
		k := min(n, len(chunk))
		_, _ = zw.Write(chunk[:k])
		n -= k
	}
	_, _ = zw.Write([]byte(suffix))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func postRaw(t testing.TB, url, key string, body []byte, header map[string]string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

// TestHTTPCompressedBodyStaysWithinSizeLimit: the HTTP request limit (MaxBodyBytes, 4 x
// --max-recv-msg-bytes) bounds a gzip body as it inflates, before the caller is
// authenticated. It used to bound only the
// compressed bytes: 64 KiB on the wire became 64 MiB in the gateway's memory. An
// uncompressed body over the limit is refused with RESOURCE_EXHAUSTED too.
func TestHTTPCompressedBodyStaysWithinSizeLimit(t *testing.T) {
	s := startStack(t, stackOptions{noGuarantees: true, tune: func(c *gateway.Config) {
		c.GRPC.MaxRecvMsgBytes = 64 << 10 // HTTP body limit 256 KiB
	}})
	url := rpcURL(s.httpURL, "guarantor.events.v1.EventsService", "GetEvent")

	// The limit works for a plain body.
	plain := []byte(`{"name":"events/paris"` + strings.Repeat(" ", 1<<20) + `}`)
	code, body := postRaw(t, url, s.keys[viewer], plain, nil)
	if code == http.StatusOK || errorCode(t, body) != "resource_exhausted" {
		t.Fatalf("1 MiB plain body: HTTP %d %s, want resource_exhausted", code, body)
	}

	const inflated = 64 << 20
	bomb := gzipJSON(t, `{"name":"events/paris"`, inflated, `}`)
	t.Logf("compressed body: %d bytes, inflated: %d bytes", len(bomb), inflated)

	// Unauthenticated: the gateway still inflates everything (gRPC reads a unary
	// request's message before the interceptors, authentication among them, run).
	dossierBomb := gzipJSON(t, `{"actor":"actors/fra"`, inflated, `}`)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	code, body = postRaw(t, rpcURL(s.httpURL, "guarantor.gateway.v1.GatewayService", "GetActorDossier"), "", dossierBomb, map[string]string{"Content-Encoding": "gzip"})
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("unauthenticated GetActorDossier: HTTP %d %s; the process allocated %d MiB meanwhile", code, body, allocated>>20)
	if allocated > 16<<20 {
		t.Errorf("an unauthenticated request of %d KiB made the gateway allocate %d MiB (body limit 256 KiB)", len(bomb)>>10, allocated>>20)
	}

	// Authenticated: the inflated 64 MiB body is accepted as if it were within the limit.
	code, body = postRaw(t, url, s.keys[viewer], bomb, map[string]string{"Content-Encoding": "gzip"})
	if code == http.StatusNotFound && errorCode(t, body) == "not_found" {
		t.Errorf("a body inflating to 64 MiB (limit 256 KiB) was accepted and served: HTTP %d %s", code, body)
	}
}
