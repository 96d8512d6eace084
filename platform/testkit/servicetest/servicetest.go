// Package servicetest runs a Guarantor data service in-process for tests, the same way for
// every service: an embedded JetStream server, a database per backend (SQLite in a
// temporary directory, or a fresh PostgreSQL database), the service on 127.0.0.1:0 with
// the platform's real interceptors, a client connection, and callers signed like the
// gateway signs them. Each service's own test package (eventstest, guaranteestest) adds
// only how to build that service (a Service).
package servicetest

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/guarantor/guarantor/platform/grpcserver"
	"github.com/guarantor/guarantor/platform/principal"
	"github.com/guarantor/guarantor/platform/retention"
	"github.com/guarantor/guarantor/platform/service"
	"github.com/guarantor/guarantor/platform/testkit/natstest"
	"github.com/guarantor/guarantor/platform/testkit/pgtest"
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

// Ready-made principals.
var (
	Editor = principal.Principal{ID: "key:editor", Role: principal.RoleEditor}
	Viewer = principal.Principal{ID: "key:viewer", Role: principal.RoleViewer}
	Admin  = principal.Principal{ID: "key:admin", Role: principal.RoleAdmin, Entitlements: []string{"acled"}}
)

// DSN returns a fresh, empty database on the backend, removed when the test ends: a
// SQLite file named name.db in a temporary directory, or a new PostgreSQL database.
func DSN(t testing.TB, b Backend, name string) string {
	t.Helper()
	if b == Postgres {
		return pgtest.NewDatabase(t)
	}
	return "sqlite://" + filepath.Join(t.TempDir(), name+".db")
}

// NewKey returns a random principal signing key.
func NewKey(t testing.TB) []byte {
	t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return key
}

// Config is the configuration a service runs with in a test: a loopback listener on a
// free port, no metrics listener, one stream replica, the default retention.
func Config(dsn, natsURL, stream string, key []byte) service.Config {
	return service.Config{
		GRPC:           grpcserver.Config{Listen: "127.0.0.1:0"},
		StoreDSN:       dsn,
		NATSURL:        natsURL,
		Stream:         stream,
		StreamReplicas: 1,
		PrincipalKey:   key,
		Retention:      retention.Default,
	}
}

// Run runs p until the test ends or stop is called (stop may be called more than once),
// waits until it serves, and returns a client connection to it: plaintext unless
// dialOpts replace the transport credentials (for a service serving TLS). Stopping
// closes the connection, the process and everything it opened, and fails the test if
// Run failed.
func Run(t testing.TB, p *service.Process, dialOpts ...grpc.DialOption) (conn *grpc.ClientConn, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			if conn != nil {
				_ = conn.Close()
			}
			cancel()
			if err := <-done; err != nil {
				t.Errorf("%s service: %v", p.Name(), err)
			}
			p.Close()
		})
	}
	t.Cleanup(stop)
	select {
	case <-p.GRPC.Ready():
	case err := <-done:
		done <- err // let stop report it
		t.Fatalf("%s service stopped: %v", p.Name(), err)
	case <-time.After(20 * time.Second):
		t.Fatalf("%s service did not start", p.Name())
	}
	// Later options win, so dialOpts may replace the plaintext credentials.
	opts := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, dialOpts...)
	c, err := grpc.NewClient(p.Addr(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	conn = c
	return conn, stop
}

// As returns ctx carrying p's identity signed with key, as the gateway sends it.
func As(t testing.TB, ctx context.Context, key []byte, p principal.Principal) context.Context {
	t.Helper()
	tok, err := principal.Sign(p, key, time.Now(), 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return metadata.AppendToOutgoingContext(ctx, principal.Header, tok)
}

// Service is how a test package builds its service.
type Service[S, C any] struct {
	// Name names the SQLite file ("events").
	Name string
	// Stream is the service's JetStream stream.
	Stream string
	// NewClient is the generated client constructor, e.g. eventsv1.NewEventsServiceClient.
	NewClient func(grpc.ClientConnInterface) C
	// New builds the service from cfg and returns it with its process.
	New func(t testing.TB, cfg service.Config) (S, *service.Process, error)
}

// Options tune Start.
type Options struct {
	// NATS reuses a server (several services on one NATS); nil starts one.
	NATS *natstest.Server
	// DSN reuses a database (two replicas, a restart); empty makes a fresh one.
	DSN string
	// Key reuses a principal signing key (one key for every service of a test).
	Key []byte
	// GRPC, when set, adjusts the service's gRPC server configuration (TLS, a health
	// listener) before the service is built.
	GRPC func(*grpcserver.Config)
	// DialOptions are added to the harness's client connection, e.g. the TLS
	// credentials a server configured through GRPC requires.
	DialOptions []grpc.DialOption
	// Retention, when not zero, replaces the default retention policy.
	Retention retention.Policy
	// Configure, when set, adjusts the rest of the configuration last.
	Configure func(*service.Config)
}

// Harness is a running service S with its dependencies, called through clients C.
type Harness[S, C any] struct {
	T      testing.TB
	NATS   *natstest.Server
	Server S
	Key    []byte
	Conn   *grpc.ClientConn
	DSN    string

	newClient func(grpc.ClientConnInterface) C
	stop      func()
}

// Start starts svc on the backend; everything stops in Cleanup or at Stop.
func Start[S, C any](t testing.TB, b Backend, svc Service[S, C], opts ...Options) *Harness[S, C] {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	h := &Harness[S, C]{T: t, NATS: o.NATS, Key: o.Key, DSN: o.DSN, newClient: svc.NewClient}
	if h.NATS == nil {
		h.NATS = natstest.Start(t)
	}
	if h.Key == nil {
		h.Key = NewKey(t)
	}
	if h.DSN == "" {
		h.DSN = DSN(t, b, svc.Name)
	}
	cfg := Config(h.DSN, h.NATS.URL(), svc.Stream, h.Key)
	if o.GRPC != nil {
		o.GRPC(&cfg.GRPC)
	}
	if o.Retention != (retention.Policy{}) {
		cfg.Retention = o.Retention
	}
	if o.Configure != nil {
		o.Configure(&cfg)
	}
	srv, p, err := svc.New(t, cfg)
	if err != nil {
		t.Fatalf("start %s service: %v", svc.Name, err)
	}
	h.Server = srv
	h.Conn, h.stop = Run(t, p, o.DialOptions...)
	return h
}

// Stop stops the service before the test ends (to restart it on the same DSN).
func (h *Harness[S, C]) Stop() { h.stop() }

// Client returns a client of the raw connection (no identity attached).
func (h *Harness[S, C]) Client() C { return h.newClient(h.Conn) }

// As returns ctx carrying a signed identity for p, as the gateway would send it.
func (h *Harness[S, C]) As(ctx context.Context, p principal.Principal) context.Context {
	h.T.Helper()
	return As(h.T, ctx, h.Key, p)
}

// Context returns a context for t's calls as p, with a deadline, cancelled at the end of t.
func (h *Harness[S, C]) Context(t testing.TB, p principal.Principal) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return h.As(ctx, p)
}

// ForEachBackend runs fn as a parallel subtest per backend.
func ForEachBackend(t *testing.T, fn func(t *testing.T, b Backend)) {
	for _, b := range Backends {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			fn(t, b)
		})
	}
}

// WantCode fails the test unless err has the status code, and returns the status.
func WantCode(t testing.TB, err error, code codes.Code) *status.Status {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != code {
		t.Fatalf("error = %v, want code %s", err, code)
	}
	return st
}

// Violations lists the fields of a status's BadRequest violations.
func Violations(st *status.Status) []string {
	var out []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				out = append(out, v.GetField())
			}
		}
	}
	return out
}
