package devstack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/guarantor/guarantor/platform/natsx"
	"github.com/guarantor/guarantor/platform/sqldb"
	"github.com/guarantor/guarantor/platform/testkit/certtest"
	"github.com/guarantor/guarantor/platform/testkit/freeport"
	"github.com/guarantor/guarantor/platform/testkit/natstest"
	"github.com/guarantor/guarantor/platform/testkit/otlptest"
	"github.com/guarantor/guarantor/platform/testkit/pgtest"
	"github.com/guarantor/guarantor/services/events"
	"github.com/guarantor/guarantor/services/guarantees"
)

// secureNATS starts a NATS server that takes TLS connections only and signs in the
// one user it returns, as a shared team server would.
func secureNATS(t *testing.T) (*natstest.Server, natsx.Credentials) {
	t.Helper()
	ca := certtest.NewCA(t, "dev stack test CA")
	cert := ca.Server(t, "127.0.0.1")
	user := natstest.NewUser(t)
	conf := filepath.Join(t.TempDir(), "nats.conf")
	body := fmt.Sprintf("tls {\n  cert_file: %q\n  key_file: %q\n}\nauthorization {\n  users = [ { nkey: %q } ]\n}\n",
		cert.CertFile, cert.KeyFile, user.Public)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return natstest.StartWithConfig(t, conf), natsx.Credentials{NkeyFile: user.Seed, CAFile: ca.File}
}

// runStack starts the stack and runs it until ctx ends, returning once it is ready;
// done gives Run's result.
func runStack(ctx context.Context, t *testing.T, cfg Config, log *zap.Logger) (stack *Stack, done <-chan error) {
	t.Helper()
	// Start keeps retrying a NATS server that refuses it; a test must not wait forever.
	startCtx, stop := context.WithTimeout(ctx, time.Minute)
	defer stop()
	stack, err := Start(startCtx, cfg, log)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	ready, result := make(chan struct{}), make(chan error, 1)
	go func() { result <- stack.Run(ctx, func() { close(ready) }) }()
	select {
	case <-ready:
	case err := <-result:
		t.Fatalf("the stack stopped before it was ready: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("the stack was not ready after 2 minutes")
	}
	return stack, result
}

// localConfig is the defaults on the embedded NATS, with every listener on a free port
// and the data in a fresh directory.
func localConfig(t *testing.T) Config {
	t.Helper()
	cfg := Defaults
	cfg.DataDir = t.TempDir()
	cfg.NATSListen = freeport.Addr(t)
	cfg.EventsListen, cfg.GuaranteesListen = freeport.Addr(t), freeport.Addr(t)
	cfg.GatewayListen, cfg.GatewayHTTP = freeport.Addr(t), freeport.Addr(t)
	return cfg
}

func externalConfig(t *testing.T, natsURL string, creds natsx.Credentials) Config {
	t.Helper()
	cfg := Defaults
	cfg.DataDir = t.TempDir()
	cfg.NATSURL, cfg.NATSAuth = natsURL, creds
	cfg.EventsListen, cfg.GuaranteesListen = freeport.Addr(t), freeport.Addr(t)
	cfg.GatewayListen, cfg.GatewayHTTP = freeport.Addr(t), freeport.Addr(t)
	return cfg
}

// TestStartOnExternalServers runs the dev stack as `guarantor dev --nats-url ...
// --nats-nkey-file ... --nats-ca-file ... --postgres-url ...` does: the seed must land in
// the PostgreSQL databases named by the prefix and reach the external NATS's streams
// over TLS, signed in with the nkey, and no embedded NATS may start.
func TestStartOnExternalServers(t *testing.T) {
	adminURL := pgtest.AdminURL(t)
	prefix := pgtest.Name(t) + "_"
	pgtest.DropOnCleanup(t, adminURL, prefix+"events", prefix+"guarantees")
	ns, creds := secureNATS(t)

	cfg := externalConfig(t, ns.URL(), creds)
	cfg.PostgresURL, cfg.PostgresDBPrefix = adminURL, prefix
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stack, done := runStack(ctx, t, cfg, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	if stack.Seeded.Created == 0 {
		t.Fatalf("the seed created nothing: %+v", stack.Seeded)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "nats")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an embedded NATS store was made under the data directory (stat: %v)", err)
	}

	_, js := natstest.Connect(t, ns.URL(), creds)
	for _, svc := range []struct{ db, stream string }{{"events", events.Stream}, {"guarantees", guarantees.Stream}} {
		changes := countChanges(t, databaseURL(adminURL, prefix+svc.db))
		if changes == 0 {
			t.Errorf("%s%s holds no change: the seed did not go to PostgreSQL", prefix, svc.db)
			continue
		}
		// The relay publishes after the commit: wait for it to catch up.
		var msgs uint64
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			stream, err := js.Stream(ctx, svc.stream)
			if err != nil {
				continue
			}
			info, err := stream.Info(ctx)
			if err != nil {
				continue
			}
			if msgs = info.State.Msgs; msgs == uint64(changes) {
				break
			}
		}
		if msgs != uint64(changes) {
			t.Errorf("stream %s holds %d messages, the change log of %s%s %d", svc.stream, msgs, prefix, svc.db, changes)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("the stack did not stop within 30s of its context ending")
	}
}

func countChanges(t *testing.T, dsn string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to %s: %v", dsn, err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM changes").Scan(&n); err != nil {
		t.Fatalf("count changes in %s: %v", dsn, err)
	}
	return n
}

// TestStartRefusedByExternalNATS: a key the server does not know keeps the stack from
// starting, and the error says why.
func TestStartRefusedByExternalNATS(t *testing.T) {
	ns, creds := secureNATS(t)
	creds.NkeyFile = natstest.NewUser(t).Seed
	cfg := externalConfig(t, ns.URL(), creds)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	stack, err := Start(ctx, cfg, zap.NewNop())
	if err == nil {
		stack.Close()
		t.Fatal("started with an nkey the server does not know")
	}
	if !strings.Contains(strings.ToLower(err.Error()), "authorization violation") {
		t.Errorf("the error does not say the server refused the key: %v", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		ok   bool
	}{
		{"defaults", func(*Config) {}, true},
		{"credentials for an external NATS", func(c *Config) {
			c.NATSURL, c.NATSAuth = "tls://nats:4222", natsx.Credentials{NkeyFile: "a.nk", CAFile: "ca.crt"}
		}, true},
		{"an nkey for the embedded NATS", func(c *Config) { c.NATSAuth.NkeyFile = "a.nk" }, false},
		{"a CA for the embedded NATS", func(c *Config) { c.NATSAuth.CAFile = "ca.crt" }, false},
		{"a prefix of our own", func(c *Config) { c.PostgresURL, c.PostgresDBPrefix = "postgres://db/postgres", "team_a_" }, true},
		{"an empty prefix", func(c *Config) { c.PostgresURL, c.PostgresDBPrefix = "postgres://db/postgres", "" }, false},
		{"a prefix that needs quoting", func(c *Config) { c.PostgresURL, c.PostgresDBPrefix = "postgres://db/postgres", "Team-A" }, false},
		{"a prefix too long for PostgreSQL", func(c *Config) { c.PostgresURL, c.PostgresDBPrefix = "postgres://db/postgres", strings.Repeat("a", 60) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Defaults
			tt.edit(&cfg)
			if err := cfg.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// TestPrintWelcomeHidesPasswords: the welcome names where the data is without the
// passwords the server URLs may carry.
func TestPrintWelcomeHidesPasswords(t *testing.T) {
	s := &Stack{natsURL: "nats://dev:nats-secret@nats.example.org:4222"}
	s.cfg = Defaults
	s.cfg.PostgresURL, s.cfg.PostgresDBPrefix = "postgres://dev:pg-secret@db.example.org/postgres", "team_a_"
	var b strings.Builder
	s.PrintWelcome(&b)
	out := b.String()
	for _, secret := range []string{"nats-secret", "pg-secret"} {
		if strings.Contains(out, secret) {
			t.Errorf("the welcome shows %q:\n%s", secret, out)
		}
	}
	for _, want := range []string{"team_a_events", "team_a_guarantees", "db.example.org", "nats.example.org:4222"} {
		if !strings.Contains(out, want) {
			t.Errorf("the welcome does not name %q:\n%s", want, out)
		}
	}
}

// TestTracesToALocalCollector: `guarantor dev --otlp-endpoint` sends the spans of every
// component to the collector: loading the seed through the gateway is traced from the
// gateway's server span down to the services'.
func TestTracesToALocalCollector(t *testing.T) {
	col := otlptest.Start(t)
	cfg := localConfig(t)
	cfg.OTLPEndpoint = col.Addr()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, done := runStack(ctx, t, cfg, zap.NewNop())
	cancel() // Run closes every component, which sends the spans still queued
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	parents := map[string]otlptest.Span{}
	for _, s := range col.Spans() {
		parents[s.SpanID] = s
	}
	chains := map[string]bool{}
	for _, s := range col.Spans() {
		if s.Service == "guarantor-gateway" {
			continue
		}
		// A service's server span, its parent the gateway's client span, and that one's
		// the gateway's server span.
		if c, ok := parents[s.ParentID]; ok && c.Service == "guarantor-gateway" {
			if g, ok := parents[c.ParentID]; ok && g.Service == "guarantor-gateway" && g.Name == s.Name {
				chains[s.Service] = true
			}
		}
	}
	if !chains["guarantor-events"] || !chains["guarantor-guarantees"] {
		t.Errorf("traced through the gateway into: %v; want both services (%d spans)", chains, len(col.Spans()))
	}
}

// TestNewerDataDirectory: a data directory a newer guarantor migrated is refused, with
// what to do, unless AllowNewerSchema (--allow-newer-schema) says to go on.
func TestNewerDataDirectory(t *testing.T) {
	cfg := localConfig(t)
	cfg.SkipSeed = true
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// What a newer release with a third platform migration leaves in events.db.
	db, err := sqldb.Open(ctx, "sqlite://"+filepath.Join(cfg.DataDir, "events.db"), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if err := sqldb.MigratePlatform(ctx, db); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO "+sqldb.PlatformMigrationsTable+" (version_id, is_applied) VALUES (99, 1)"); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	stack, err := Start(ctx, cfg, zaptest.NewLogger(t))
	if err == nil {
		stack.Close()
		t.Fatal("the stack started on a newer schema")
	}
	if !strings.Contains(err.Error(), "newer than this binary's") || !strings.Contains(err.Error(), "--allow-newer-schema") {
		t.Fatalf("err = %v, want the refusal and what to do", err)
	}

	cfg.AllowNewerSchema = true
	_, done := runStack(ctx, t, cfg, zaptest.NewLogger(t))
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
