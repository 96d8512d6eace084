package gateway_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// connectError is the error object of the Connect protocol.
type connectError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// postJSON makes a Connect unary call: POST /<service>/<method> with a JSON body.
func postJSON(t testing.TB, url, key, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	client := &http.Client{Timeout: 20 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, data
}

// streamJSON makes a Connect server-streaming call and reads messages until enough
// says it has enough of them (or to the end of the stream). It returns the messages and
// the end-of-stream error, if any.
func streamJSON(t testing.TB, url, key, body string, enough func([]json.RawMessage) bool) ([]json.RawMessage, *connectError) {
	t.Helper()
	var env bytes.Buffer
	env.WriteByte(0)
	_ = binary.Write(&env, binary.BigEndian, uint32(len(body)))
	env.WriteString(body)
	req, err := http.NewRequest(http.MethodPost, url, &env)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/connect+json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	client := &http.Client{Timeout: 20 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(resp.Body)
		t.Fatalf("stream %s: HTTP %d: %s", url, resp.StatusCode, data)
	}
	var msgs []json.RawMessage
	for !enough(msgs) {
		var hdr [5]byte
		if _, err := io.ReadFull(resp.Body, hdr[:]); err != nil {
			t.Fatalf("stream %s: read envelope: %v", url, err)
		}
		data := make([]byte, binary.BigEndian.Uint32(hdr[1:]))
		if _, err := io.ReadFull(resp.Body, data); err != nil {
			t.Fatalf("stream %s: read message: %v", url, err)
		}
		if hdr[0]&0x02 != 0 {
			var end struct {
				Error *connectError `json:"error"`
			}
			if err := json.Unmarshal(data, &end); err != nil {
				t.Fatalf("stream %s: end of stream %s: %v", url, data, err)
			}
			return msgs, end.Error
		}
		msgs = append(msgs, json.RawMessage(data))
	}
	return msgs, nil
}

// messages is streamJSON's enough for n messages of any kind.
func messages(n int) func([]json.RawMessage) bool {
	return func(msgs []json.RawMessage) bool { return len(msgs) >= n }
}

func decodeJSON(t testing.TB, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
}

func errorCode(t testing.TB, data []byte) string {
	t.Helper()
	var e connectError
	decodeJSON(t, data, &e)
	return e.Code
}

func rpcURL(base, service, method string) string {
	return fmt.Sprintf("%s/%s/%s", base, service, method)
}
