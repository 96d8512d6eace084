// Package eventstest starts a real events service in-process for tests: an embedded
// JetStream server, a database (SQLite in a temporary directory, or a fresh PostgreSQL
// database), the service on 127.0.0.1:0, and clients that call it as a given principal.
package eventstest

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	"github.com/guarantor/guarantor/platform/grpcserver"
	"github.com/guarantor/guarantor/platform/principal"
	"github.com/guarantor/guarantor/platform/service"
	"github.com/guarantor/guarantor/platform/testkit/natstest"
	"github.com/guarantor/guarantor/platform/testkit/pgtest"
	"github.com/guarantor/guarantor/services/events"
)

// Backend names a store implementation.
type Backend string

// The store implementations every contract test runs against.
const (
	SQLite   Backend = "sqlite"
	Postgres Backend = "postgres"
)

// Backends lists them.
var Backends = []Backend{SQLite, Postgres}

// Harness is a running events service with its dependencies.
type Harness struct {
	T      testing.TB
	NATS   *natstest.Server
	Server *events.Server
	Key    []byte
	Conn   *grpc.ClientConn
	DSN    string
}

// Options tune Start.
type Options struct {
	// NATS reuses a server (several services on one NATS); nil starts one.
	NATS *natstest.Server
	// DSN reuses a database (two replicas); empty makes a fresh one.
	DSN string
	// Key reuses a principal signing key.
	Key []byte
}

// Start starts the service on the backend; everything stops in Cleanup.
func Start(t testing.TB, b Backend, opts ...Options) *Harness {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	h := &Harness{T: t, NATS: o.NATS, Key: o.Key, DSN: o.DSN}
	if h.NATS == nil {
		h.NATS = natstest.Start(t)
	}
	if h.Key == nil {
		h.Key = make([]byte, 32)
		if _, err := rand.Read(h.Key); err != nil {
			t.Fatal(err)
		}
	}
	if h.DSN == "" {
		switch b {
		case SQLite:
			h.DSN = "sqlite://" + filepath.Join(t.TempDir(), "events.db")
		case Postgres:
			h.DSN = pgtest.NewDatabase(t)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := events.New(ctx, service.Config{
		GRPC:           grpcserver.Config{Listen: "127.0.0.1:0"},
		StoreDSN:       h.DSN,
		NATSURL:        h.NATS.URL(),
		Stream:         events.Stream,
		StreamReplicas: 1,
		PrincipalKey:   h.Key,
	}, zaptest.NewLogger(t))
	if err != nil {
		cancel()
		t.Fatalf("start events service: %v", err)
	}
	h.Server = srv
	srv.API.BookmarkEvery = 200 * time.Millisecond
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("events service: %v", err)
		}
		srv.Close()
	})
	select {
	case <-srv.GRPC.Ready():
	case err := <-done:
		t.Fatalf("events service stopped: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("events service did not start")
	}
	conn, err := grpc.NewClient(srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	h.Conn = conn
	return h
}

// Client returns a client of the raw connection (no identity attached).
func (h *Harness) Client() eventsv1.EventsServiceClient {
	return eventsv1.NewEventsServiceClient(h.Conn)
}

// As returns ctx carrying a signed identity for p, as the gateway would send it.
func (h *Harness) As(ctx context.Context, p principal.Principal) context.Context {
	h.T.Helper()
	tok, err := principal.Sign(p, h.Key, time.Now(), 5*time.Minute)
	if err != nil {
		h.T.Fatal(err)
	}
	return metadata.AppendToOutgoingContext(ctx, principal.Header, tok)
}

// Editor, Viewer and Admin are ready-made principals.
var (
	Editor = principal.Principal{ID: "key:editor", Role: principal.RoleEditor}
	Viewer = principal.Principal{ID: "key:viewer", Role: principal.RoleViewer}
	Admin  = principal.Principal{ID: "key:admin", Role: principal.RoleAdmin, Entitlements: []string{"acled"}}
)
