// Package natstest runs an embedded NATS server with JetStream for a test: a
// random port, a file store in t.TempDir(), shut down in Cleanup. Restart
// brings it back on the same port with the same store, for tests of what
// happens while NATS is away.
package natstest

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/guarantor/guarantor/platform/natsx"
)

// readyTimeout bounds how long a server may take to accept connections.
const readyTimeout = 10 * time.Second

// Server is an embedded nats-server. Its URL stays the same across Restart.
type Server struct {
	storeDir string
	// configFile, when set, is a nats-server configuration file whose settings (its
	// authorization, above all) the server runs with; address, store and logging
	// stay the test's.
	configFile string

	mu   sync.Mutex
	srv  *server.Server
	port int
}

// Start runs a JetStream-enabled server on 127.0.0.1 and a random port, with
// its file store in t.TempDir(). Cleanup shuts down whichever server is
// running at the end of the test.
func Start(t testing.TB) *Server {
	t.Helper()
	return start(t, &Server{storeDir: t.TempDir()})
}

// StartWithConfig is Start with the settings of a nats-server configuration file, for
// tests of what a deployment's configuration (its users and their permissions) allows.
// The file's listen address, store directory, cluster and monitoring settings are
// replaced by the test's.
func StartWithConfig(t testing.TB, configFile string) *Server {
	t.Helper()
	return start(t, &Server{storeDir: t.TempDir(), configFile: configFile})
}

func start(t testing.TB, s *Server) *Server {
	t.Helper()
	srv, err := s.run(server.RANDOM_PORT)
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	s.srv = srv
	addr, ok := srv.Addr().(*net.TCPAddr)
	if !ok {
		srv.Shutdown()
		t.Fatalf("natstest: unexpected listener address %v", srv.Addr())
	}
	s.port = addr.Port
	t.Cleanup(s.Shutdown)
	return s
}

func (s *Server) run(port int) (*server.Server, error) {
	opts := &server.Options{}
	if s.configFile != "" {
		var err error
		if opts, err = server.ProcessConfigFile(s.configFile); err != nil {
			return nil, fmt.Errorf("config %s: %w", s.configFile, err)
		}
	}
	opts.ServerName = "natstest"
	opts.Host = "127.0.0.1"
	opts.Port = port
	opts.JetStream = true
	opts.StoreDir = s.storeDir
	opts.NoLog = true
	opts.NoSigs = true // the test process's signals are not the server's business
	// No HTTP monitoring, cluster or leafnode listeners: nothing else needs a port.
	opts.HTTPHost, opts.HTTPPort, opts.HTTPSPort = "", 0, 0
	opts.Cluster = server.ClusterOpts{}
	opts.Routes = nil
	opts.RoutesStr = ""
	opts.LeafNode = server.LeafNodeOpts{}
	opts.PidFile = ""
	opts.LameDuckDuration, opts.LameDuckGracePeriod = 0, 0
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("create server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(readyTimeout) {
		srv.Shutdown()
		return nil, fmt.Errorf("server on port %d not ready after %s", port, readyTimeout)
	}
	return srv, nil
}

// URL is the client URL, e.g. "nats://127.0.0.1:41234".
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("nats://127.0.0.1:%d", s.port)
}

// StoreDir is the JetStream store directory, kept across Restart.
func (s *Server) StoreDir() string { return s.storeDir }

// Server returns the running nats-server (nil after Shutdown), for tests that
// need its API (e.g. JetStreamEnabled, NumClients).
func (s *Server) Server() *server.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv
}

// Shutdown stops the server and waits until it is down. Clients see a
// disconnect and start reconnecting. Safe to call more than once.
func (s *Server) Shutdown() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv == nil {
		return
	}
	srv.Shutdown()
	srv.WaitForShutdown()
}

// Restart shuts the server down if it is running, then starts a new one on
// the same port with the same store directory, so clients reconnect to the
// same URL and find the streams and messages persisted before.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Shutdown()
	s.mu.Lock()
	port := s.port
	s.mu.Unlock()

	// nats-server waits its whole ready timeout when the port is taken, so
	// first make sure the old listener has really let go of it.
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(5 * time.Second)
	for {
		l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", addr)
		if err == nil {
			_ = l.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("natstest: restart: port %d still in use: %v", port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	srv, err := s.run(port)
	if err != nil {
		t.Fatalf("natstest: restart on port %d: %v", port, err)
	}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
}

// JetStream connects a client to the server for the rest of the test (closed in
// Cleanup), for tests that look at or change streams directly.
func (s *Server) JetStream(t testing.TB) jetstream.JetStream {
	t.Helper()
	_, js := Connect(t, s.URL(), natsx.Credentials{})
	return js
}

// Connect connects to the NATS server(s) at url with creds, as the services do
// (natsx.Connect), for the rest of the test (closed in Cleanup), and returns the
// connection and the JetStream API on it. A server that has not taken the connection
// within 30 s fails the test.
func Connect(t testing.TB, url string, creds natsx.Credentials) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nc, err := natsx.Connect(ctx, url, creds, "natstest", nil)
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// RecreateStream deletes the stream cfg names and creates it again from cfg, empty: what
// a test does to simulate JetStream losing a stream's storage. Right after a delete the
// server can still be tearing the old store down (it renames the directory and removes it
// in the background, and attached consumers stop on their own time), and a create then
// fails now and then with "error creating store for stream"; the services' relays retry
// that with backoff, and so does this, for up to 10 s.
func RecreateStream(t testing.TB, js jetstream.JetStream, cfg jetstream.StreamConfig) jetstream.Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := js.DeleteStream(ctx, cfg.Name); err != nil {
		t.Fatalf("natstest: delete stream %s: %v", cfg.Name, err)
	}
	for {
		st, err := js.CreateStream(ctx, cfg)
		if err == nil {
			return st
		}
		if ctx.Err() != nil {
			t.Fatalf("natstest: create stream %s again: %v", cfg.Name, err)
		}
		t.Logf("natstest: create stream %s again: %v; retrying", cfg.Name, err)
		time.Sleep(50 * time.Millisecond)
	}
}

// User is a NATS user nkey made for a test: Seed is a file holding its seed (what a
// client connects with, natsx.Credentials.NkeyFile), Public the public key a server's
// authorization lists.
type User struct {
	Seed   string
	Public string
}

// NewUser makes a user nkey, its seed in a file in t.TempDir().
func NewUser(t testing.TB) User {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, err := kp.Seed()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.CreateTemp(t.TempDir(), "nkey-*.seed")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	if _, err := f.Write(seed); err != nil {
		t.Fatal(err)
	}
	return User{Seed: f.Name(), Public: pub}
}
