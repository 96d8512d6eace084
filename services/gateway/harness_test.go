package gateway_test

// The harness: a real events service and a real guarantees service on one embedded
// JetStream server, and the gateway in front of them, all in-process on loopback ports.

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/guarantor/guarantor/platform/grpcserver"
	"github.com/guarantor/guarantor/platform/service"
	"github.com/guarantor/guarantor/platform/testkit/natstest"
	"github.com/guarantor/guarantor/platform/tracing"
	"github.com/guarantor/guarantor/services/events/eventstest"
	"github.com/guarantor/guarantor/services/gateway"
	"github.com/guarantor/guarantor/services/guarantees/guaranteestest"
)

// Names of the keys every stack has.
const (
	admin   = "admin"   // admin, entitled to ACLED data
	editor  = "editor"  // editor, no entitlements
	viewer  = "viewer"  // viewer, no entitlements
	analyst = "analyst" // viewer entitled to ACLED data
)

type stackOptions struct {
	// guaranteesAddr replaces the guarantees service (e.g. an address nobody listens on).
	guaranteesAddr string
	// eventsAddr replaces the events service.
	eventsAddr string
	// noGuarantees skips starting the guarantees service.
	noGuarantees bool
	// tune adjusts the gateway's configuration.
	tune func(*gateway.Config)
	// serviceGRPC adjusts each service's gRPC server (TLS, a health listener).
	serviceGRPC func(service string, c *grpcserver.Config)
	// serviceDial are added to the harnesses' own connections to the services.
	serviceDial []grpc.DialOption
	// dial are added to the stack's connection to the gateway (TLS).
	dial []grpc.DialOption
	// natsConfig, when set, is the nats-server configuration file the stack's NATS runs
	// with (its authorization), and natsKeys the nkey seed file each component
	// ("events", "guarantees", "gateway") signs in with.
	natsConfig string
	natsKeys   map[string]string
	// otlp, when set, is the collector every component sends all its spans to.
	otlp string
}

// tracing is the components' tracing configuration for o.
func (o stackOptions) tracing() tracing.Config {
	if o.otlp == "" {
		return tracing.Config{}
	}
	return tracing.Config{Endpoint: o.otlp, Insecure: true, SampleRatio: 1}
}

// configure is a service's Configure for o's NATS credentials and tracing.
func (o stackOptions) configure(name string) func(*service.Config) {
	return func(c *service.Config) {
		c.NATSAuth.NkeyFile = o.natsKeys[name]
		c.Tracing = o.tracing()
	}
}

// grpcOf is serviceGRPC for one service, in the form the harnesses take.
func (o stackOptions) grpcOf(service string) func(*grpcserver.Config) {
	if o.serviceGRPC == nil {
		return nil
	}
	return func(c *grpcserver.Config) { o.serviceGRPC(service, c) }
}

type stack struct {
	t          testing.TB
	nats       *natstest.Server
	key        []byte
	events     *eventstest.Harness
	guarantees *guaranteestest.Harness
	gw         *gateway.Gateway
	conn       *grpc.ClientConn
	httpURL    string
	keysFile   string
	keys       map[string]string // name → API key
}

func startStack(t testing.TB, o stackOptions) *stack {
	t.Helper()
	s := &stack{t: t, keys: map[string]string{}}
	if o.natsConfig != "" {
		s.nats = natstest.StartWithConfig(t, o.natsConfig)
	} else {
		s.nats = natstest.Start(t)
	}
	s.events = eventstest.Start(t, eventstest.SQLite, eventstest.Options{NATS: s.nats, GRPC: o.grpcOf("events"), DialOptions: o.serviceDial,
		Configure: o.configure("events")})
	s.key = s.events.Key
	eventsAddr := s.events.Server.Addr()
	if o.eventsAddr != "" {
		eventsAddr = o.eventsAddr
	}
	guaranteesAddr := o.guaranteesAddr
	if guaranteesAddr == "" && !o.noGuarantees {
		s.guarantees = guaranteestest.Start(t, guaranteestest.SQLite, guaranteestest.Options{NATS: s.nats, Key: s.key,
			GRPC: o.grpcOf("guarantees"), DialOptions: o.serviceDial, Configure: o.configure("guarantees")})
		guaranteesAddr = s.guarantees.Server.Addr()
	}
	if guaranteesAddr == "" {
		guaranteesAddr = deadAddr(t)
	}
	s.keysFile = filepath.Join(t.TempDir(), "keys.json")
	entries := []gateway.KeyEntry{
		{ID: "admin-1", Role: "admin", Entitlements: []string{"acled"}},
		{ID: "editor-1", Role: "editor"},
		{ID: "viewer-1", Role: "viewer"},
		{ID: "analyst-1", Role: "viewer", Entitlements: []string{"acled"}},
	}
	for i, name := range []string{admin, editor, viewer, analyst} {
		k, h, err := gateway.NewAPIKey()
		if err != nil {
			t.Fatal(err)
		}
		s.keys[name] = k
		entries[i].SHA256 = h
	}
	writeKeys(t, s.keysFile, entries)

	cfg := gateway.Defaults
	cfg.GRPC = grpcserver.Config{Listen: "127.0.0.1:0", Reflection: true}
	cfg.HTTPListen = "127.0.0.1:0"
	cfg.EventsAddr = eventsAddr
	cfg.GuaranteesAddr = guaranteesAddr
	cfg.NATSURL = s.nats.URL()
	cfg.NATSAuth.NkeyFile = o.natsKeys["gateway"]
	cfg.KeysFile = s.keysFile
	cfg.PrincipalKey = s.key
	cfg.RatePerSecond = 10000
	cfg.RateBurst = 10000
	cfg.HealthInterval = 100 * time.Millisecond
	cfg.CredentialsPoll = time.Second
	cfg.Watch.BookmarkEvery = 200 * time.Millisecond
	cfg.Tracing = o.tracing()
	if o.tune != nil {
		o.tune(&cfg)
	}
	s.gw = runGateway(t, cfg)
	// Later options win: o.dial may replace the plaintext credentials.
	dial := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, o.dial...)
	conn, err := grpc.NewClient(s.gw.Addr(), dial...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	s.conn = conn
	s.httpURL = "http://" + s.gw.HTTPAddr()
	if cfg.GRPC.TLSCertFile != "" {
		s.httpURL = "https://" + s.gw.HTTPAddr()
	}
	return s
}

// runGateway starts a gateway and stops it in Cleanup.
func runGateway(t testing.TB, cfg gateway.Config) *gateway.Gateway {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	gw, err := gateway.New(ctx, cfg, zaptest.NewLogger(t))
	if err != nil {
		cancel()
		t.Fatalf("start gateway: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- gw.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway: %v", err)
		}
		gw.Close()
	})
	select {
	case <-gw.Ready():
	case err := <-done:
		t.Fatalf("gateway stopped: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("gateway did not start")
	}
	return gw
}

// writeKeys replaces the keys file atomically, as an operator (or a Secret) would.
func writeKeys(t testing.TB, path string, entries []gateway.KeyEntry) {
	t.Helper()
	data, err := json.MarshalIndent(gateway.KeyFile{Keys: entries}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// deadAddr is a loopback address nobody listens on.
func deadAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// ctxAs returns a context calling as the named key, with a test-sized deadline.
func (s *stack) ctxAs(name string) context.Context {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	s.t.Cleanup(cancel)
	if name == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+s.keys[name])
}
