// Package service assembles one Guarantor data service process the same way for every
// service: its database (migrated), the change notifier (with PostgreSQL LISTEN when
// several replicas share a database), the gRPC server with the platform's interceptors
// and principal verification, the NATS connection, the service's JetStream stream and
// the outbox relay that feeds it. A service supplies only its name, its migrations and
// its gRPC registration.
package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/guarantor/guarantor/platform/apperr"
	"github.com/guarantor/guarantor/platform/changelog"
	"github.com/guarantor/guarantor/platform/config"
	"github.com/guarantor/guarantor/platform/grpcserver"
	"github.com/guarantor/guarantor/platform/natsx"
	"github.com/guarantor/guarantor/platform/notify"
	"github.com/guarantor/guarantor/platform/outbox"
	"github.com/guarantor/guarantor/platform/principal"
	"github.com/guarantor/guarantor/platform/resource"
	"github.com/guarantor/guarantor/platform/retention"
	"github.com/guarantor/guarantor/platform/sqldb"
	"github.com/guarantor/guarantor/platform/tracing"
)

// Config is what every data service is configured with.
type Config struct {
	GRPC grpcserver.Config
	// StoreDSN is sqlite://path or postgres://...
	StoreDSN string
	// AllowNewerSchema serves a database a newer release migrated (sqldb.DB.AllowNewerSchema).
	AllowNewerSchema bool
	// NATSURL is the NATS server the change stream is published to.
	NATSURL string
	// NATSAuth is how the service signs in to NATS (its nkey) and checks NATS's
	// certificate; the zero value connects in plaintext without credentials. Its Inbox
	// is set by the service.
	NATSAuth natsx.Credentials
	// Stream is the JetStream stream name.
	Stream string
	// StreamReplicas is the stream's replica count (3 in a production cluster).
	StreamReplicas int
	// StreamMaxAge, when set, bounds how long JetStream keeps a change (0: forever).
	StreamMaxAge time.Duration
	// PrincipalKeyFile holds the key the gateway signs principals with.
	PrincipalKeyFile string
	// PrincipalKey, when set, is used instead of PrincipalKeyFile (in-process stacks, tests).
	PrincipalKey []byte
	// PrincipalAcceptKeyFile, when set, holds a second key whose signatures are accepted
	// too: the key being rotated in or out, so that no call is refused while the gateway
	// and the services move to a new key (docs/operations.md, "Rotate API keys").
	PrincipalAcceptKeyFile string
	// DisableRelay leaves publishing to another process (tests that drive the relay).
	DisableRelay bool
	// Retention bounds the request-id answers and the change-log history kept (zero:
	// everything is kept).
	Retention retention.Policy
	// Tracing says where the service's spans go (no endpoint: nowhere, at no cost).
	Tracing tracing.Config
}

// natsCredentials are the NATS credentials of the service called name, with replies on
// an inbox of its own (deploy/k8s/base/nats/auth.conf lets each service read only its
// own).
func (c Config) natsCredentials(name string) natsx.Credentials {
	creds := c.NATSAuth
	creds.Inbox = "_INBOX." + name
	return creds
}

// RegisterFlags registers the flags every data service has, with its defaults. Call the
// returned function after fs.Parse for the configuration.
func RegisterFlags(fs *config.FlagSet, defaults Config) func() Config {
	c := &Config{}
	g := grpcserver.RegisterFlags(fs, defaults.GRPC)
	fs.StringVar(&c.StoreDSN, "store", defaults.StoreDSN, "database: sqlite:///path/to/file.db or postgres://user@host/db")
	fs.BoolVar(&c.AllowNewerSchema, "allow-newer-schema", defaults.AllowNewerSchema,
		"start on a database a newer release migrated (a rollback that release's notes call safe); refused otherwise")
	fs.StringVar(&c.NATSURL, "nats-url", defaults.NATSURL, "NATS server the change stream is published to")
	natsAuth := natsx.RegisterFlags(fs, "this service", defaults.NATSAuth)
	fs.StringVar(&c.Stream, "stream", defaults.Stream, "JetStream stream name")
	fs.IntVar(&c.StreamReplicas, "stream-replicas", max(defaults.StreamReplicas, 1), "JetStream stream replicas (3 in a production cluster)")
	fs.DurationVar(&c.StreamMaxAge, "stream-max-age", defaults.StreamMaxAge,
		"how long the JetStream stream keeps a change (0: forever; at least "+outbox.DuplicatesWindow.String()+"); consumers must read it within that time")
	fs.StringVar(&c.PrincipalKeyFile, "principal-key-file", defaults.PrincipalKeyFile, "file holding the key the gateway signs caller identities with (at least 32 bytes)")
	fs.StringVar(&c.PrincipalAcceptKeyFile, "principal-accept-key-file", defaults.PrincipalAcceptKeyFile,
		"file holding a second key whose signatures are accepted too, while the principal key is rotated (empty: none)")
	r := retention.RegisterFlags(fs, defaults.Retention)
	tr := tracing.RegisterFlags(fs, defaults.Tracing)
	return func() Config {
		out := *c
		out.GRPC = *g
		out.NATSAuth = *natsAuth
		out.Retention = r()
		out.Tracing = *tr
		return out
	}
}

// Spec is what a service contributes.
type Spec struct {
	// Name is the service name ("events"): health service, change-id prefix, logs.
	Name string
	// HealthService is the gRPC service name reported SERVING once up.
	HealthService string
	// Subjects are the stream's subjects, e.g. "guarantor.events.v1.>".
	Subjects []string
	// Migrate applies the service's schema.
	Migrate func(ctx context.Context, db *sqldb.DB) error
	// Register registers the service's gRPC implementation on a ready process.
	Register func(p *Process) error
	// Background, when set, runs beside the server for as long as Run does (e.g. a
	// consumer of another service's stream). Returning an error other than the context's
	// stops the process; it should therefore retry what can fail at runtime itself.
	Background func(ctx context.Context, p *Process) error
}

// Process is a running data service.
type Process struct {
	Log      *zap.Logger
	DB       *sqldb.DB
	Notifier *notify.Notifier
	GRPC     *grpcserver.Server
	NATS     *nats.Conn
	JS       jetstream.JetStream

	cfg    Config
	spec   Spec
	keys   [][]byte // whose signatures of the caller identity are accepted
	tracer *tracing.Tracer
}

// New opens everything a service needs. Close it when Run has returned (or if Run is
// never called).
func New(ctx context.Context, cfg Config, spec Spec, log *zap.Logger) (*Process, error) {
	if log == nil {
		log = zap.NewNop()
	}
	log = log.With(zap.String("service", spec.Name))
	p := &Process{Log: log, cfg: cfg, spec: spec, Notifier: notify.New()}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", spec.Name, err)
	}
	var err error
	if p.keys, err = loadKeys(cfg); err != nil {
		return nil, err
	}
	if p.DB, err = openDB(ctx, cfg, log, sqldb.Open); err != nil {
		return nil, err
	}
	if err := spec.Migrate(ctx, p.DB); err != nil {
		p.Close()
		return nil, fmt.Errorf("%s: migrate: %w", spec.Name, err)
	}
	if p.NATS, err = natsx.Connect(ctx, cfg.NATSURL, cfg.natsCredentials(spec.Name), "guarantor-"+spec.Name, log); err != nil {
		p.Close()
		return nil, err
	}
	if p.JS, err = jetstream.New(p.NATS); err != nil {
		p.Close()
		return nil, fmt.Errorf("%s: jetstream: %w", spec.Name, err)
	}
	streamCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := outbox.EnsureStream(streamCtx, p.JS, p.streamConfig()); err != nil {
		p.Close()
		return nil, err
	}
	if p.tracer, err = tracing.Start(cfg.Tracing, spec.Name, log); err != nil {
		p.Close()
		return nil, err
	}
	opts := []grpcserver.Option{grpcserver.WithAuth(Authenticator(p.keys...))}
	if h := p.tracer.ServerHandler(); h != nil {
		opts = append(opts, grpcserver.WithServerOptions(grpc.StatsHandler(h)))
	}
	p.GRPC, err = grpcserver.New(cfg.GRPC, log, opts...)
	if err != nil {
		p.Close()
		return nil, err
	}
	if err := spec.Register(p); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// streamConfig is the configuration of the service's change stream.
func (p *Process) streamConfig() jetstream.StreamConfig {
	return streamConfig(p.cfg, p.spec.Subjects)
}

// streamConfig is the configuration of the change stream of a service configured with
// cfg, publishing on subjects: the service and its redrive command set the same one
// (setting a stream's configuration replaces all of it).
func streamConfig(cfg Config, subjects []string) jetstream.StreamConfig {
	sc := outbox.StreamConfig(cfg.Stream, subjects, max(cfg.StreamReplicas, 1))
	sc.MaxAge = cfg.StreamMaxAge
	return sc
}

// Validate reports a configuration the service cannot run with.
func (c Config) Validate() error {
	if err := c.Tracing.Validate(); err != nil {
		return err
	}
	if c.StreamMaxAge < 0 || (c.StreamMaxAge > 0 && c.StreamMaxAge < outbox.DuplicatesWindow) {
		// JetStream refuses a duplicates window longer than the maximum age, and the
		// relay's exactly-once publishing needs that window.
		return fmt.Errorf("stream max age %s: want 0 (keep every change) or at least %s", c.StreamMaxAge, outbox.DuplicatesWindow)
	}
	return c.Retention.Validate()
}

// loadKeys returns the keys whose signatures the service accepts: the principal key, and
// the second one of a rotation if there is one.
func loadKeys(cfg Config) ([][]byte, error) {
	var key []byte
	switch {
	case len(cfg.PrincipalKey) > 0:
		if len(cfg.PrincipalKey) < principal.MinKeyBytes {
			return nil, fmt.Errorf("principal key is %d bytes, need at least %d", len(cfg.PrincipalKey), principal.MinKeyBytes)
		}
		key = cfg.PrincipalKey
	case cfg.PrincipalKeyFile == "":
		return nil, errors.New("no principal key: set --principal-key-file (the key the gateway signs caller identities with); services refuse unauthenticated calls")
	default:
		var err error
		if key, err = principal.LoadKey(cfg.PrincipalKeyFile); err != nil {
			return nil, err
		}
	}
	if cfg.PrincipalAcceptKeyFile == "" {
		return [][]byte{key}, nil
	}
	accept, err := principal.LoadKey(cfg.PrincipalAcceptKeyFile)
	if err != nil {
		return nil, fmt.Errorf("--principal-accept-key-file: %w", err)
	}
	return [][]byte{key, accept}, nil
}

// Authenticator is the auth hook of every data service: it accepts only calls carrying
// a principal signed (by the gateway) with one of keys.
func Authenticator(keys ...[]byte) grpcserver.AuthFunc {
	v := principal.NewVerifier(keys...)
	return func(ctx context.Context, _ string) (context.Context, error) {
		// One key, without copying the whole metadata as FromIncomingContext does.
		vals := metadata.ValueFromIncomingContext(ctx, principal.Header)
		if len(vals) != 1 {
			return ctx, apperr.Unauthenticated("missing caller identity: call Guarantor through the gateway")
		}
		pr, err := v.Verify(vals[0], time.Now())
		if err != nil {
			return ctx, apperr.Unauthenticated("caller identity refused: %v", err)
		}
		return principal.NewContext(ctx, pr), nil
	}
}

// Run serves until ctx ends: gRPC, the outbox relay, the retention runner, and on
// PostgreSQL the listener that hears other replicas' commits.
func (p *Process) Run(ctx context.Context) error {
	if p.cfg.Retention.Enabled() {
		// Before the first compaction, which the relay's first term may not precede:
		// changes the relay has not published yet stay.
		if err := outbox.EnsureCursor(ctx, p.DB, p.cfg.Stream); err != nil {
			return err
		}
	}
	g, ctx := errgroup.WithContext(ctx)
	if p.DB.Dialect == sqldb.Postgres {
		g.Go(func() error {
			return ignoreCanceled(notify.ListenPostgres(ctx, p.cfg.StoreDSN, changelog.NotifyChannel, p.Notifier, p.Log))
		})
	}
	if !p.cfg.DisableRelay {
		streamCfg := p.streamConfig()
		relay := &outbox.Relay{
			DB: p.DB, JetStream: p.JS, Stream: p.cfg.Stream, Notifier: p.Notifier, Log: p.Log,
			Metrics: outbox.NewMetrics(p.GRPC.Registry()),
			// JetStream losing the stream is repaired without a restart.
			StreamConfig: &streamCfg,
			// Nil when tracing is off.
			Tracer: p.tracer.Tracer("github.com/guarantor/guarantor/platform/outbox"),
		}
		g.Go(func() error { return ignoreCanceled(relay.Run(ctx)) })
	}
	if p.spec.Background != nil {
		g.Go(func() error { return ignoreCanceled(p.spec.Background(ctx, p)) })
	}
	if p.cfg.Retention.Enabled() {
		r := &retention.Runner{DB: p.DB, Policy: p.cfg.Retention, Log: p.Log, Metrics: retention.NewMetrics(p.GRPC.Registry())}
		g.Go(func() error { return ignoreCanceled(r.Run(ctx)) })
	}
	g.Go(func() error {
		go func() {
			select {
			case <-p.GRPC.Ready():
				p.GRPC.Health().SetServingStatus(p.spec.HealthService, healthpb.HealthCheckResponse_SERVING)
			case <-ctx.Done():
			}
		}()
		return p.GRPC.Run(ctx)
	})
	return g.Wait()
}

func ignoreCanceled(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// Tracer returns the tracer of an instrumented package (its import path) for the
// service's background work, such as a projection's consumer; nil when tracing is off.
func (p *Process) Tracer(name string) trace.Tracer { return p.tracer.Tracer(name) }

// Addr is the bound gRPC address (after Run started).
func (p *Process) Addr() string {
	if a := p.GRPC.Addr(); a != nil {
		return a.String()
	}
	return ""
}

// Close releases the database and the NATS connection, and sends the spans still queued.
func (p *Process) Close() {
	if err := p.tracer.Shutdown(); err != nil {
		p.Log.Warn("spans not sent at shutdown", zap.Error(err))
	}
	if p.NATS != nil {
		p.NATS.Close()
	}
	if p.DB != nil {
		_ = p.DB.Close()
	}
}

// Name is the service's name ("events").
func (p *Process) Name() string { return p.spec.Name }

// StoreConfig is the resource store configuration of the data service name: change ids
// prefixed with the name, its subject prefix and change encoding, and, for a running
// process (p may be nil in tools and tests), the process's notifier and logger.
func StoreConfig(p *Process, name, subjectPrefix string, enc resource.Encoder, dec resource.Decoder) resource.Config {
	cfg := resource.Config{Service: name, SubjectPrefix: subjectPrefix, Encode: enc, Decode: dec}
	if p != nil {
		cfg.Notifier = p.Notifier
		cfg.Log = p.Log
	}
	return cfg
}
