// Package devstack runs the whole Guarantor suite in one process for development: an
// embedded NATS server with JetStream, the events and guarantees services on SQLite (or
// an external NATS and PostgreSQL when asked) and the gateway, each on its own listener,
// with data kept under one directory. The first start loads the Paris seed dataset
// through the gateway and writes an admin API key for the CLI.
package devstack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/guarantor/guarantor/cmd/guarantor/internal/jsonl"
	"github.com/guarantor/guarantor/cmd/guarantor/internal/seed"
	"github.com/guarantor/guarantor/platform/atomicfile"
	"github.com/guarantor/guarantor/platform/filelock"
	"github.com/guarantor/guarantor/platform/grpcserver"
	"github.com/guarantor/guarantor/platform/natsx"
	"github.com/guarantor/guarantor/platform/principal"
	"github.com/guarantor/guarantor/platform/retention"
	"github.com/guarantor/guarantor/platform/service"
	"github.com/guarantor/guarantor/platform/sqldb"
	"github.com/guarantor/guarantor/platform/tracing"
	"github.com/guarantor/guarantor/services/events"
	"github.com/guarantor/guarantor/services/gateway"
	"github.com/guarantor/guarantor/services/guarantees"
)

// Config is the dev stack's configuration; every address is a flag of `guarantor dev`.
type Config struct {
	DataDir    string
	NATSListen string // embedded NATS client address
	NATSURL    string // external NATS instead of the embedded one
	// NATSAuth is how the stack signs in to the external NATS (NATSURL) and checks its
	// certificate; all three components use it. The embedded server takes none.
	NATSAuth    natsx.Credentials
	PostgresURL string // external PostgreSQL instead of SQLite
	// PostgresDBPrefix names the services' databases on PostgresURL's server:
	// <prefix>events and <prefix>guarantees, so that stacks can share a server.
	PostgresDBPrefix string
	// AllowNewerSchema starts on databases a newer release migrated (see
	// sqldb.DB.AllowNewerSchema); otherwise the services refuse them.
	AllowNewerSchema bool
	EventsListen     string
	GuaranteesListen string
	GatewayListen    string
	GatewayHTTP      string
	// SkipSeed leaves the databases empty on first start.
	SkipSeed bool
	// OTLPEndpoint, when set, is a collector on this machine (OTLP/gRPC, plaintext) every
	// component sends all its spans to: a local Jaeger, say.
	OTLPEndpoint string
}

// Defaults keep clear of the system NATS (4222) and PostgreSQL (5432).
var Defaults = Config{
	DataDir:          "data",
	NATSListen:       "127.0.0.1:4333",
	EventsListen:     "127.0.0.1:9091",
	GuaranteesListen: "127.0.0.1:9092",
	GatewayListen:    "127.0.0.1:9090",
	GatewayHTTP:      "127.0.0.1:8080",
	PostgresDBPrefix: "guarantor_",
}

// Validate reports settings that cannot work together, before anything starts.
func (c Config) Validate() error {
	if c.NATSURL == "" && c.NATSAuth != (natsx.Credentials{}) {
		return errors.New("NATS credentials (an nkey or a CA file) need an external server (--nats-url): the embedded one takes none")
	}
	if c.PostgresURL != "" && !validDBPrefix.MatchString(c.PostgresDBPrefix) {
		return fmt.Errorf("PostgreSQL database prefix %q: want lower-case letters, digits and underscores, starting with a letter", c.PostgresDBPrefix)
	}
	return nil
}

// validDBPrefix keeps database names plain identifiers (PostgreSQL allows 63 bytes;
// the longest name adds "guarantees").
var validDBPrefix = regexp.MustCompile(`^[a-z][a-z0-9_]{0,50}$`)

// Files under the data directory.
const (
	TokenFile   = "admin.token"   // the dev admin API key, for the CLI
	KeysFile    = "keys.json"     // the gateway's keys file (hashes only)
	PrincipalKF = "principal.key" // the key the gateway signs identities with
	SeedMarker  = "seed.loaded"   // present once the seed dataset was loaded
	// LockFile is locked by the stack using the directory, and holds its pid.
	LockFile = "guarantor-dev.lock"
)

// Stack is a running dev stack.
type Stack struct {
	cfg        Config
	log        *zap.Logger
	nats       *natsserver.Server
	natsURL    string
	key        []byte
	token      string
	Events     *events.Server
	Guarantees *guarantees.Server
	Gateway    *gateway.Gateway
	// Seeded is what loading the seed did on this start (zero when it was not loaded).
	Seeded jsonl.Summary
	// unlock releases the data directory, once everything else is closed.
	unlock func()
}

// Start starts every component. Run serves them until ctx ends.
func Start(ctx context.Context, cfg Config, log *zap.Logger) (*Stack, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	// First, before any file in the directory is opened: two stacks on one directory
	// would run two NATS servers on one JetStream store, which corrupts it, and two
	// relays on one change log. The directory holds the keys even on an external NATS
	// and PostgreSQL, so the lock is taken whatever the servers.
	unlock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	s := &Stack{cfg: cfg, log: log, unlock: unlock}
	if err := s.start(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// start starts the components in order; Start closes what it started if it fails.
func (s *Stack) start(ctx context.Context) error {
	cfg := s.cfg
	var err error
	if s.key, err = loadOrCreateSecret(filepath.Join(cfg.DataDir, PrincipalKF)); err != nil {
		return err
	}
	keysFile, err := s.ensureAdminKey()
	if err != nil {
		return err
	}
	if cfg.PostgresURL != "" {
		for _, name := range []string{"events", "guarantees"} {
			if err := ensureDatabase(ctx, cfg.PostgresURL, cfg.PostgresDBPrefix+name); err != nil {
				return err
			}
		}
	}
	s.natsURL = cfg.NATSURL
	if s.natsURL == "" {
		if s.nats, err = startNATS(cfg.NATSListen, filepath.Join(cfg.DataDir, "nats")); err != nil {
			return err
		}
		s.natsURL = s.nats.ClientURL()
	}
	if s.Events, err = events.New(ctx, s.serviceConfig("events", cfg.EventsListen, events.Stream), s.log); err != nil {
		return fmt.Errorf("events service: %w", err)
	}
	gcfg := guarantees.Defaults
	gcfg.Config = s.serviceConfig("guarantees", cfg.GuaranteesListen, guarantees.Stream)
	if s.Guarantees, err = guarantees.New(ctx, gcfg, s.log); err != nil {
		return fmt.Errorf("guarantees service: %w", err)
	}
	gw := gateway.Defaults
	gw.GRPC = grpcserver.Config{Listen: cfg.GatewayListen, Reflection: true}
	gw.HTTPListen = cfg.GatewayHTTP
	gw.EventsAddr, gw.GuaranteesAddr = cfg.EventsListen, cfg.GuaranteesListen
	gw.NATSURL = s.natsURL
	gw.NATSAuth = cfg.NATSAuth
	gw.KeysFile = keysFile
	gw.PrincipalKey = s.key
	gw.Tracing = cfg.tracing()
	if s.Gateway, err = gateway.New(ctx, gw, s.log); err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	return nil
}

// lockDataDir takes the data directory for this process until release (or the
// process's end, however it ends: the lock is an flock(2), see package filelock), or
// says which process has it. The pid in the lock file is only for that message: a pid
// outlives its process and is reused, so the lock alone decides.
func lockDataDir(dir string) (release func(), err error) {
	path := filepath.Join(dir, LockFile)
	release, ok, err := filelock.TryLock(path)
	if err != nil {
		return nil, fmt.Errorf("data directory %s: %w", dir, err)
	}
	if !ok {
		holder := ""
		if b, err := os.ReadFile(path); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
				holder = fmt.Sprintf(" (pid %d)", pid)
			}
		}
		return nil, fmt.Errorf("data directory %s is in use by another guarantor dev%s; stop it first or pass another --data-dir", dir, holder)
	}
	// Written in place, never with atomicfile: a file renamed over the lock file would
	// be a new file, which the next start could lock while this one holds the old.
	if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		release()
		return nil, fmt.Errorf("data directory %s: %w", dir, err)
	}
	return release, nil
}

func (s *Stack) serviceConfig(name, listen, stream string) service.Config {
	dsn := "sqlite://" + filepath.Join(s.cfg.DataDir, name+".db")
	if s.cfg.PostgresURL != "" {
		dsn = databaseURL(s.cfg.PostgresURL, s.cfg.PostgresDBPrefix+name)
	}
	return service.Config{
		GRPC:             grpcserver.Config{Listen: listen, Reflection: true},
		StoreDSN:         dsn,
		AllowNewerSchema: s.cfg.AllowNewerSchema,
		NATSURL:          s.natsURL,
		NATSAuth:         s.cfg.NATSAuth,
		Stream:           stream,
		StreamReplicas:   1,
		PrincipalKey:     s.key,
		Retention:        retention.Default,
		Tracing:          s.cfg.tracing(),
	}
}

// tracing is every component's tracing: everything, to the local collector, if any.
func (c Config) tracing() tracing.Config {
	if c.OTLPEndpoint == "" {
		return tracing.Config{}
	}
	return tracing.Config{Endpoint: c.OTLPEndpoint, Insecure: true, SampleRatio: 1}
}

// databaseURL points a PostgreSQL URL at another database on the same server: each
// service owns its database. The database must exist (see docs/operations.md).
func databaseURL(base, db string) string {
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	u.Path = "/" + db
	return u.String()
}

// ensureDatabase creates a service's database on the PostgreSQL server if it is missing.
func ensureDatabase(ctx context.Context, base, db string) error {
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return fmt.Errorf("postgres %s: %w", sqldb.RedactDSN(base), err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", db).Scan(&exists); err != nil {
		return fmt.Errorf("postgres: look for database %s: %w", db, err)
	}
	if exists {
		return nil
	}
	// Identifiers cannot be parameters; db is one of our own constant names.
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()); err != nil {
		return fmt.Errorf("postgres: create database %s: %w", db, err)
	}
	return nil
}

// ensureAdminKey makes the dev admin API key on first start: the key itself goes to
// admin.token (0600) for the CLI, its hash to the gateway's keys file.
func (s *Stack) ensureAdminKey() (string, error) {
	tokenPath := filepath.Join(s.cfg.DataDir, TokenFile)
	keysPath := filepath.Join(s.cfg.DataDir, KeysFile)
	if b, err := os.ReadFile(tokenPath); err == nil {
		s.token = strings.TrimSpace(string(b))
		if s.token != "" && holdsKey(keysPath, s.token) {
			return keysPath, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	if s.token == "" {
		key, _, err := gateway.NewAPIKey()
		if err != nil {
			return "", err
		}
		s.token = key
		if err := atomicfile.Write(tokenPath, []byte(key+"\n"), 0o600); err != nil {
			return "", err
		}
	}
	// Written again whenever it does not hold the token's hash (a first start, or one
	// that stopped between the two files): the gateway would refuse the stack's own key.
	file := gateway.KeyFile{Keys: []gateway.KeyEntry{{
		ID: "dev-admin", SHA256: gateway.HashAPIKey(s.token), Role: "admin", Entitlements: []string{"acled"},
	}}}
	b, err := json.MarshalIndent(file, "", "  ")
	if err != nil {
		return "", err
	}
	return keysPath, atomicfile.Write(keysPath, append(b, '\n'), 0o600)
}

// holdsKey reports whether the keys file at path parses and holds key's hash, enabled.
func holdsKey(path, key string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	var file gateway.KeyFile
	if err := json.Unmarshal(b, &file); err != nil {
		return false
	}
	hash := gateway.HashAPIKey(key)
	for _, k := range file.Keys {
		if k.SHA256 == hash && !k.Disabled {
			return true
		}
	}
	return false
}

// Run serves until ctx ends, loading the seed dataset once everything is up on the
// first start, then shuts everything down.
func (s *Stack) Run(ctx context.Context, ready func()) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.Events.Run(ctx) })
	g.Go(func() error { return s.Guarantees.Run(ctx) })
	g.Go(func() error {
		// The gateway starts once the services listen, so its first health checks and
		// calls find them up.
		if !waitAll(ctx, s.Events.GRPC.Ready(), s.Guarantees.GRPC.Ready()) {
			return nil
		}
		return s.Gateway.Run(ctx)
	})
	g.Go(func() error {
		if !waitAll(ctx, s.Events.GRPC.Ready(), s.Guarantees.GRPC.Ready(), s.Gateway.Ready()) {
			return nil
		}
		if err := s.waitBackends(ctx); err != nil {
			return err
		}
		if err := s.seedOnce(ctx); err != nil {
			return fmt.Errorf("seed dataset: %w", err)
		}
		if ready != nil {
			ready()
		}
		return nil
	})
	err := g.Wait()
	s.Close()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func waitAll(ctx context.Context, chans ...<-chan struct{}) bool {
	for _, c := range chans {
		select {
		case <-c:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// waitBackends waits until the gateway sees both services healthy.
func (s *Stack) waitBackends(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		if s.Gateway.BackendStatus("events") == healthpb.HealthCheckResponse_SERVING &&
			s.Gateway.BackendStatus("guarantees") == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("the gateway does not see the services as healthy after 30s")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// seedOnce loads the seed dataset through the gateway, the way a user would, unless an
// earlier start did (the import is idempotent anyway: the marker only saves time).
func (s *Stack) seedOnce(ctx context.Context) error {
	marker := filepath.Join(s.cfg.DataDir, SeedMarker)
	if _, err := os.Stat(marker); err == nil {
		return nil
	}
	if s.cfg.SkipSeed {
		// The first start was without the seed: later ones are not first starts either.
		return atomicfile.Write(marker, []byte("not loaded (--no-seed)\n"), 0o600)
	}
	conn, err := grpc.NewClient(s.Gateway.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	call := func(c context.Context) (context.Context, context.CancelFunc) {
		c, cancel := context.WithTimeout(c, time.Minute)
		return metadata.AppendToOutgoingContext(c, "authorization", "Bearer "+s.token), cancel
	}
	sum, err := seed.Load(ctx, conn, call)
	if err != nil {
		for _, p := range sum.Problems {
			s.log.Error("seed record rejected", zap.Int("line", p.Line), zap.String("name", p.Name), zap.String("reason", p.Reason))
		}
		return err
	}
	s.Seeded = sum
	s.log.Info("seed dataset loaded", zap.Int("created", sum.Created), zap.Int("unchanged", sum.Unchanged), zap.Int("transitions", sum.Transitions))
	return atomicfile.Write(marker, []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o600)
}

// Close releases what Start opened.
func (s *Stack) Close() {
	if s.Gateway != nil {
		s.Gateway.Close()
	}
	if s.Guarantees != nil {
		s.Guarantees.Close()
	}
	if s.Events != nil {
		s.Events.Close()
	}
	if s.nats != nil {
		s.nats.Shutdown()
		s.nats.WaitForShutdown()
	}
	if s.unlock != nil {
		s.unlock()
	}
}

// PrintWelcome tells the user where everything is and how to start.
func (s *Stack) PrintWelcome(w io.Writer) {
	where := "Data in " + s.cfg.DataDir
	if s.cfg.PostgresURL != "" {
		where = fmt.Sprintf("Databases %sevents and %sguarantees on %s; keys in %s",
			s.cfg.PostgresDBPrefix, s.cfg.PostgresDBPrefix, sqldb.RedactDSN(s.cfg.PostgresURL), s.cfg.DataDir)
	}
	fmt.Fprintf(w, `
Guarantor dev stack is up. %s.
  gateway gRPC        %s   (reflection on)
  gateway HTTP/JSON   http://%s   (OpenAPI at /openapi.json)
  events service      %s
  guarantees service  %s
  NATS JetStream      %s

Admin API key: %s (the guarantor CLI reads it from there)
Try:
  guarantor coverage
  guarantor events get events/paris-meeting
  guarantor guarantees history guarantees/us-ceasefire-monitoring
  guarantor watch
  curl -H "Authorization: Bearer $(cat %s)" -H 'Content-Type: application/json' -d '{}' \
    http://%s/guarantor.events.v1.EventsService/ListEvents
Press Ctrl-C to stop.
`, where, s.cfg.GatewayListen, s.cfg.GatewayHTTP, s.cfg.EventsListen, s.cfg.GuaranteesListen, natsx.RedactURL(s.natsURL),
		filepath.Join(s.cfg.DataDir, TokenFile), filepath.Join(s.cfg.DataDir, TokenFile), s.cfg.GatewayHTTP)
}

func startNATS(listen, storeDir string) (*natsserver.Server, error) {
	host, portStr, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("nats listen address %q: %w", listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("nats port %q: %w", portStr, err)
	}
	ns, err := natsserver.NewServer(&natsserver.Options{
		ServerName: "guarantor-dev",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   storeDir,
		NoSigs:     true,
		NoLog:      true,
	})
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("embedded NATS did not start on %s (is the port taken?)", listen)
	}
	return ns, nil
}

// loadOrCreateSecret keeps a random secret across restarts.
func loadOrCreateSecret(path string) ([]byte, error) {
	if b, err := os.ReadFile(path); err == nil {
		// An empty or cut-short key (a start that stopped while writing it) is made
		// anew: it is shared only by this process's gateway and services.
		if key := strings.TrimSpace(string(b)); len(key) >= principal.MinKeyBytes {
			return []byte(key), nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	key := hex.EncodeToString(raw)
	if err := atomicfile.Write(path, []byte(key+"\n"), 0o600); err != nil {
		return nil, err
	}
	return []byte(key), nil
}
