package natsx_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/guarantor/guarantor/platform/natsx"
	"github.com/guarantor/guarantor/platform/testkit/certtest"
	"github.com/guarantor/guarantor/platform/testkit/natstest"
)

func observed(t testing.TB) (*zap.Logger, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	return zap.New(zapcore.NewTee(zaptest.NewLogger(t).Core(), core)), logs
}

func testContext(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestConnectReconnectsAndHidesCredentials(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	log, logs := observed(t)
	// The embedded server has no auth, so it ignores these credentials; they
	// are here to prove they never reach the log.
	url := strings.Replace(srv.URL(), "nats://", "nats://alice:s3cret@", 1)

	nc, err := natsx.Connect(testContext(t, 10*time.Second), url, natsx.Credentials{}, "natsx-test", log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)

	srv.Shutdown()
	waitFor(t, "disconnect log", func() bool { return logs.FilterMessage("NATS disconnected").Len() > 0 })
	srv.Restart(t)
	waitFor(t, "reconnect", nc.IsConnected)
	waitFor(t, "reconnect log", func() bool { return logs.FilterMessage("NATS reconnected").Len() > 0 })

	if err := nc.Publish("ping", []byte("x")); err != nil {
		t.Errorf("publish after reconnect: %v", err)
	}
	nc.Close()
	waitFor(t, "closed log", func() bool { return logs.FilterMessage("NATS connection closed").Len() > 0 })

	for _, e := range logs.All() {
		for k, v := range e.ContextMap() {
			if s, ok := v.(string); ok && (strings.Contains(s, "s3cret") || strings.Contains(s, "alice")) {
				t.Errorf("log %q field %s = %q leaks credentials", e.Message, k, s)
			}
		}
	}
}

func TestConnectGivesUpWithContext(t *testing.T) {
	t.Parallel()
	// A port nothing listens on: start a server, note its URL, stop it.
	srv := natstest.Start(t)
	url := strings.Replace(srv.URL(), "nats://", "nats://bob:pw123@", 1)
	srv.Shutdown()

	log, logs := observed(t)
	start := time.Now()
	_, err := natsx.Connect(testContext(t, 1500*time.Millisecond), url, natsx.Credentials{}, "natsx-test", log)
	if err == nil {
		t.Fatal("Connect succeeded with no server")
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("Connect took %s, want it to stop with the context", time.Since(start))
	}
	if strings.Contains(err.Error(), "pw123") {
		t.Errorf("error %q leaks the password", err)
	}
	if logs.FilterMessage("NATS connect failed; retrying").Len() < 1 {
		t.Error("failed attempts were not logged")
	}
}

func TestConnectWaitsForServer(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	srv.Shutdown()
	type result struct {
		nc  *nats.Conn
		err error
	}
	done := make(chan result, 1)
	ctx := testContext(t, 15*time.Second)
	log, logs := observed(t)
	go func() {
		nc, err := natsx.Connect(ctx, srv.URL(), natsx.Credentials{}, "natsx-test", log)
		done <- result{nc, err}
	}()
	time.Sleep(300 * time.Millisecond) // let Connect fail at least once
	srv.Restart(t)
	r := <-done
	if r.err != nil {
		t.Fatalf("Connect did not wait for the server: %v", r.err)
	}
	r.nc.Close()
	// The closed callback logs asynchronously: a test that ended before it would have
	// the logger write to a finished test (a panic).
	waitFor(t, "closed log", func() bool { return logs.FilterMessage("NATS connection closed").Len() > 0 })
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"nats://127.0.0.1:4222", "nats://127.0.0.1:4222"},
		{"nats://user:pass@host:4222", "nats://host:4222"},
		{"nats://token@host:4222", "nats://host:4222"},
		{"user:pass@host:4222", "nats://host:4222"},
		{"nats://a:1@h1:4222, nats://b:2@h2:4222", "nats://h1:4222,nats://h2:4222"},
		{"tls://u:p@host", "tls://host"},
		{"nats://u:p@host:bad port", "<invalid url>"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			if got := natsx.RedactURL(tt.in); got != tt.want {
				t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestEnsureStream(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	ctx := testContext(t, 20*time.Second)
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}

	base := jetstream.StreamConfig{Name: "CHANGES", Subjects: []string{"changes.events.>"}, Storage: jetstream.FileStorage}
	tests := []struct {
		name         string
		cfg          jetstream.StreamConfig
		wantErr      string // substring; empty means success
		wantSubjects int
	}{
		{name: "create", cfg: base, wantSubjects: 1},
		{name: "same again is a no-op", cfg: base, wantSubjects: 1},
		{name: "update adds a subject", cfg: func() jetstream.StreamConfig {
			c := base
			c.Subjects = []string{"changes.events.>", "changes.actors.>"}
			return c
		}(), wantSubjects: 2},
		{name: "storage cannot change", cfg: func() jetstream.StreamConfig {
			c := base
			c.Storage = jetstream.MemoryStorage
			return c
		}(), wantErr: `"CHANGES"`},
		{name: "name required", cfg: jetstream.StreamConfig{Subjects: []string{"x"}}, wantErr: "Name is empty"},
	}
	for _, tt := range tests { // sequential: each case builds on the last
		t.Run(tt.name, func(t *testing.T) {
			s, err := natsx.EnsureStream(ctx, js, tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("EnsureStream error = %v, want one containing %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			info, err := s.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(info.Config.Subjects) != tt.wantSubjects {
				t.Errorf("subjects = %v, want %d", info.Config.Subjects, tt.wantSubjects)
			}
		})
	}
}

func TestTracePropagation(t *testing.T) {
	// Not parallel: sets the process-wide propagator, as a main would.
	otel.SetTextMapPropagator(propagation.TraceContext{})

	traceID, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	spanID, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	parent := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: traceID, SpanID: spanID, TraceFlags: trace.FlagsSampled,
	}))

	t.Run("header round trip", func(t *testing.T) {
		h := nats.Header{}
		natsx.Inject(parent, h)
		if got := h.Get("traceparent"); got != "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" {
			t.Fatalf("traceparent = %q", got)
		}
		got := trace.SpanContextFromContext(natsx.Extract(context.Background(), h))
		if got.TraceID() != traceID || got.SpanID() != spanID || !got.IsRemote() {
			t.Errorf("extracted %v, want trace %s span %s (remote)", got, traceID, spanID)
		}
	})

	t.Run("no header", func(t *testing.T) {
		if sc := trace.SpanContextFromContext(natsx.Extract(context.Background(), nil)); sc.IsValid() {
			t.Errorf("extracted %v from no header", sc)
		}
	})

	t.Run("through NATS", func(t *testing.T) {
		srv := natstest.Start(t)
		nc, err := nats.Connect(srv.URL())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		sub, err := nc.SubscribeSync("traced")
		if err != nil {
			t.Fatal(err)
		}
		msg := nats.NewMsg("traced")
		natsx.Inject(parent, msg.Header)
		if err := nc.PublishMsg(msg); err != nil {
			t.Fatal(err)
		}
		got, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if sc := trace.SpanContextFromContext(natsx.Extract(context.Background(), got.Header)); sc.TraceID() != traceID {
			t.Errorf("consumer sees trace %s, want %s", sc.TraceID(), traceID)
		}
	})
}

// TestConnectWithNkey: against a server that lists users by nkey, Connect signs in with
// the seed in Credentials.NkeyFile, a client without one is refused, and neither the
// seed nor its file's contents reach the log.
func TestConnectWithNkey(t *testing.T) {
	t.Parallel()
	user := natstest.NewUser(t)
	conf := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(conf, []byte("authorization { users: [ {nkey: "+user.Public+"} ] }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := natstest.StartWithConfig(t, conf)
	log, logs := observed(t)

	nc, err := natsx.Connect(testContext(t, 10*time.Second), srv.URL(), natsx.Credentials{NkeyFile: user.Seed}, "natsx-test", log)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("ping", []byte("x")); err != nil {
		t.Errorf("publish: %v", err)
	}
	nc.Close()
	waitFor(t, "closed log", func() bool { return logs.FilterMessage("NATS connection closed").Len() > 0 })

	_, err = natsx.Connect(testContext(t, 1500*time.Millisecond), srv.URL(), natsx.Credentials{}, "natsx-test", log)
	if err == nil || !strings.Contains(err.Error(), "Authorization Violation") {
		t.Fatalf("anonymous Connect: err = %v, want an authorization violation", err)
	}
	other := natstest.NewUser(t)
	_, err = natsx.Connect(testContext(t, 1500*time.Millisecond), srv.URL(), natsx.Credentials{NkeyFile: other.Seed}, "natsx-test", log)
	if err == nil || !strings.Contains(err.Error(), "Authorization Violation") {
		t.Fatalf("Connect with an unknown nkey: err = %v, want an authorization violation", err)
	}
	if _, err := natsx.Connect(testContext(t, time.Second), srv.URL(), natsx.Credentials{NkeyFile: filepath.Join(t.TempDir(), "none")}, "natsx-test", log); err == nil {
		t.Fatal("Connect with a missing seed file succeeded")
	}

	seed, err := os.ReadFile(user.Seed)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range logs.All() {
		for k, v := range e.ContextMap() {
			if s, ok := v.(string); ok && strings.Contains(s, strings.TrimSpace(string(seed))) {
				t.Errorf("log %q field %s leaks the seed", e.Message, k)
			}
		}
	}
}

// TestConnectWithTLS: with Credentials.CAFile, Connect speaks TLS to a server whose
// certificate that CA signed; without it, or with another CA, it gets nowhere.
func TestConnectWithTLS(t *testing.T) {
	t.Parallel()
	ca := certtest.NewCA(t, "nats test CA")
	srvCert := ca.Server(t, "127.0.0.1", "localhost")
	conf := filepath.Join(t.TempDir(), "nats.conf")
	body := fmt.Sprintf("tls {\n  cert_file: %q\n  key_file: %q\n}\n", srvCert.CertFile, srvCert.KeyFile)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := natstest.StartWithConfig(t, conf)
	log, _ := observed(t)

	nc, err := natsx.Connect(testContext(t, 10*time.Second), srv.URL(), natsx.Credentials{CAFile: ca.File}, "natsx-test", log)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc.TLSConnectionState(); err != nil {
		t.Errorf("not a TLS connection: %v", err)
	}
	nc.Close()

	other := certtest.NewCA(t, "another CA")
	for name, creds := range map[string]natsx.Credentials{"no CA": {}, "another CA": {CAFile: other.File}} {
		if nc, err := natsx.Connect(testContext(t, 1500*time.Millisecond), srv.URL(), creds, "natsx-test", log); err == nil {
			nc.Close()
			t.Errorf("%s: connected", name)
		}
	}
}
