// Package gateway is the gateway's entry point: the one authenticated door to Guarantor.
// Clients call guarantor.events.v1.EventsService and guarantor.guarantees.v1.
// GuaranteesService at the gateway with the same contracts (gRPC, or JSON over HTTP),
// plus the gateway's own guarantor.gateway.v1.GatewayService (a merged Watch over NATS
// and actor dossiers). The gateway authenticates every call (API keys, JWTs), decides
// what the caller's role allows, limits each caller, and forwards the call with the
// caller's identity signed under the key it shares with the services.
//
// New assembles it; the dev stack and the tests start it in-process, cmd/gateway as a
// binary.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	gatewayv1 "github.com/guarantor/guarantor/gen/go/guarantor/gateway/v1"
	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
	"github.com/guarantor/guarantor/platform/apperr"
	"github.com/guarantor/guarantor/platform/config"
	"github.com/guarantor/guarantor/platform/grpcserver"
	"github.com/guarantor/guarantor/platform/natsx"
	"github.com/guarantor/guarantor/platform/principal"
	"github.com/guarantor/guarantor/platform/tracing"
	"github.com/guarantor/guarantor/services/gateway/internal/auth"
	"github.com/guarantor/guarantor/services/gateway/internal/backends"
	"github.com/guarantor/guarantor/services/gateway/internal/dossier"
	"github.com/guarantor/guarantor/services/gateway/internal/frame"
	"github.com/guarantor/guarantor/services/gateway/internal/httpapi"
	"github.com/guarantor/guarantor/services/gateway/internal/limits"
	"github.com/guarantor/guarantor/services/gateway/internal/watch"
)

// Config is the gateway's configuration; every field is a flag (see RegisterFlags).
type Config struct {
	// GRPC is the gRPC server: listen address, metrics, message sizes, keepalive,
	// reflection, the health listener, and TLS (--tls-cert-file, --tls-key-file,
	// --tls-client-ca-file), which the HTTP listener serves too.
	GRPC grpcserver.Config
	// HTTPListen is the JSON-over-HTTP address.
	HTTPListen string
	// EventsAddr and GuaranteesAddr are the services' gRPC addresses: host:port, or a
	// gRPC target such as dns:///events-headless:9091; calls are spread over every
	// address the name resolves to.
	EventsAddr     string
	GuaranteesAddr string
	// NATSURL is the NATS server the services publish their changes to (Watch).
	NATSURL string
	// NATSAuth is how the gateway signs in to NATS (its nkey) and checks NATS's
	// certificate; the zero value connects in plaintext without credentials.
	NATSAuth natsx.Credentials

	// KeysFile holds the API keys (hashed); JWKSFile the JWT issuer's public keys. At
	// least one is required. Both are reloaded when they change.
	KeysFile    string
	JWKSFile    string
	JWTIssuer   string
	JWTAudience string
	// CredentialsPoll is how often the keys and JWKS files are re-read besides file
	// notifications.
	CredentialsPoll time.Duration
	// StreamRecheck is how often an open stream's credentials are checked again: a
	// stream whose key was revoked, whose JWT expired or whose principal's role or
	// entitlements changed ends with UNAUTHENTICATED within this time; 0 never checks.
	StreamRecheck time.Duration

	// PrincipalKeyFile holds the key caller identities are signed with, shared with the
	// services; PrincipalKey, when set, is used instead (in-process stacks, tests).
	PrincipalKeyFile string
	PrincipalKey     []byte
	// PrincipalTTL is how long a signed identity is valid.
	PrincipalTTL time.Duration

	// DefaultTimeout bounds unary calls whose client set no deadline.
	DefaultTimeout time.Duration
	// RatePerSecond and RateBurst limit each principal's calls; 0 disables.
	RatePerSecond int
	RateBurst     int
	// MaxStreamsPerPrincipal bounds each principal's open streams (watches); 0 disables.
	MaxStreamsPerPrincipal int

	// BackendTLS (implied by the other Backend* fields) secures the connections to the
	// services; BackendCertFile/KeyFile present a client certificate (mTLS).
	BackendTLS        bool
	BackendCAFile     string
	BackendCertFile   string
	BackendKeyFile    string
	BackendServerName string

	// Watch tunes the merged watch.
	Watch watch.Config
	// HealthInterval is how often each backend's health is checked.
	HealthInterval time.Duration
	// Tracing says where the gateway's spans go (no endpoint: nowhere, at no cost).
	Tracing tracing.Config
}

// Defaults are the documented defaults of the gateway's flags.
var Defaults = Config{
	GRPC:                   grpcserver.Config{Listen: "127.0.0.1:9090", MetricsListen: "127.0.0.1:9190"},
	HTTPListen:             "127.0.0.1:8080",
	EventsAddr:             "127.0.0.1:9091",
	GuaranteesAddr:         "127.0.0.1:9092",
	NATSURL:                "nats://127.0.0.1:4333",
	CredentialsPoll:        30 * time.Second,
	StreamRecheck:          10 * time.Second,
	PrincipalTTL:           5 * time.Minute,
	DefaultTimeout:         30 * time.Second,
	RatePerSecond:          100,
	RateBurst:              200,
	MaxStreamsPerPrincipal: 16,
	Watch:                  watch.Config{Buffer: 1024, BufferBytes: 1 << 20, OverflowGrace: time.Second, BookmarkEvery: 30 * time.Second, HubBuffer: 16384, HubBufferBytes: 64 << 20, MaxCatchUp: 100, BatchLinger: 5 * time.Millisecond, BatchBytes: 1 << 20},
	HealthInterval:         5 * time.Second,
	Tracing:                tracing.Defaults,
}

// RegisterFlags registers the gateway's flags with Defaults; call the result after
// parsing for the configuration.
func RegisterFlags(fs *config.FlagSet) func() Config {
	d := Defaults
	c := &Config{}
	g := grpcserver.RegisterFlags(fs, d.GRPC)
	fs.StringVar(&c.HTTPListen, "http-listen", d.HTTPListen, "JSON-over-HTTP listen address (host:port)")
	fs.StringVar(&c.EventsAddr, "events-addr", d.EventsAddr, "events service gRPC address: host:port or a gRPC target (dns:///events-headless:9091); calls are balanced over every address it resolves to")
	fs.StringVar(&c.GuaranteesAddr, "guarantees-addr", d.GuaranteesAddr, "guarantees service gRPC address: host:port or a gRPC target (dns:///guarantees-headless:9092); calls are balanced over every address it resolves to")
	fs.StringVar(&c.NATSURL, "nats-url", d.NATSURL, "NATS server the services publish their change streams to")
	natsAuth := natsx.RegisterFlags(fs, "the gateway", d.NATSAuth)
	fs.StringVar(&c.KeysFile, "keys-file", d.KeysFile, "API keys file (JSON or YAML, hashed keys; see `gateway hash-key`), reloaded on change")
	fs.StringVar(&c.JWKSFile, "jwks-file", d.JWKSFile, "JWKS file of the trusted JWT issuer, reloaded on change; empty disables JWTs")
	fs.StringVar(&c.JWTIssuer, "jwt-issuer", d.JWTIssuer, "required JWT iss claim; empty accepts any")
	fs.StringVar(&c.JWTAudience, "jwt-audience", d.JWTAudience, "required JWT aud claim (required with --jwks-file)")
	fs.DurationVar(&c.CredentialsPoll, "credentials-poll", d.CredentialsPoll, "how often the keys and JWKS files are re-read besides file notifications")
	fs.DurationVar(&c.StreamRecheck, "stream-credentials-recheck", d.StreamRecheck, "how often an open stream's credentials are checked again (a revoked key or expired JWT ends it); 0 never")
	fs.StringVar(&c.PrincipalKeyFile, "principal-key-file", d.PrincipalKeyFile, "file holding the key caller identities are signed with, shared with the services (at least 32 bytes)")
	fs.DurationVar(&c.PrincipalTTL, "principal-ttl", d.PrincipalTTL, "validity of a signed caller identity")
	fs.DurationVar(&c.DefaultTimeout, "default-timeout", d.DefaultTimeout, "deadline of unary calls whose client set none (streams are exempt)")
	fs.IntVar(&c.RatePerSecond, "rate-limit", d.RatePerSecond, "calls per second per principal; 0 disables")
	fs.IntVar(&c.RateBurst, "rate-burst", d.RateBurst, "burst of calls per principal above the rate")
	fs.IntVar(&c.MaxStreamsPerPrincipal, "max-streams-per-principal", d.MaxStreamsPerPrincipal, "concurrent streams (watches) per principal; 0 disables")
	fs.BoolVar(&c.BackendTLS, "backend-tls", d.BackendTLS, "use TLS to the services (implied by the other --backend-* TLS flags)")
	fs.StringVar(&c.BackendCAFile, "backend-ca-file", d.BackendCAFile, "CA bundle (PEM) the services' certificates are checked against; empty uses the system roots")
	fs.StringVar(&c.BackendCertFile, "backend-cert-file", d.BackendCertFile, "client certificate (PEM) presented to the services (mTLS)")
	fs.StringVar(&c.BackendKeyFile, "backend-key-file", d.BackendKeyFile, "client private key (PEM) for mTLS to the services")
	fs.StringVar(&c.BackendServerName, "backend-server-name", d.BackendServerName, "server name expected in the services' certificates; empty uses the address's host")
	fs.IntVar(&c.Watch.Buffer, "watch-buffer", d.Watch.Buffer, "messages a watcher may have waiting before its stream ends with a resumable error")
	fs.IntVar(&c.Watch.BufferBytes, "watch-buffer-bytes", d.Watch.BufferBytes, "bound on the encoded size of the changes a watcher may have waiting (what a slow watcher holds in memory); a larger single change still passes an empty buffer")
	fs.DurationVar(&c.Watch.OverflowGrace, "watch-overflow-grace", d.Watch.OverflowGrace, "how long a watcher's buffer may stay full")
	fs.DurationVar(&c.Watch.BookmarkEvery, "watch-bookmark-every", d.Watch.BookmarkEvery, "how often an idle watch sends a bookmark")
	fs.IntVar(&c.Watch.HubBuffer, "watch-hub-buffer", d.Watch.HubBuffer, "recent changes per stream kept in memory for watchers; a watcher further behind reads from its own consumer")
	fs.IntVar(&c.Watch.HubBufferBytes, "watch-hub-buffer-bytes", d.Watch.HubBufferBytes, "bound on the encoded size of the changes --watch-hub-buffer keeps per stream; the oldest go first")
	fs.DurationVar(&c.Watch.BatchLinger, "watch-batch-linger", d.Watch.BatchLinger, "how long a change may wait for others to share its message, in watches that ask for batches (max_batch); negative for not at all")
	fs.IntVar(&c.Watch.BatchBytes, "watch-batch-bytes", d.Watch.BatchBytes, "bound on the encoded changes of one batched watch message (gRPC clients refuse messages above 4 MiB by default); a larger single change goes alone")
	fs.IntVar(&c.Watch.MaxCatchUp, "watch-max-catchup", d.Watch.MaxCatchUp, "watchers per stream that may read from their own consumer at once (each is a JetStream consumer)")
	fs.DurationVar(&c.HealthInterval, "health-interval", d.HealthInterval, "how often each backend's health is checked")
	tr := tracing.RegisterFlags(fs, d.Tracing)
	return func() Config {
		out := *c
		out.GRPC = *g
		out.NATSAuth = *natsAuth
		out.Tracing = *tr
		return out
	}
}

// gatewayNATSAuth is the gateway's NATS credentials, with replies on an inbox of its own
// (deploy/k8s/base/nats/auth.conf lets it read only that one).
func gatewayNATSAuth(cfg Config) natsx.Credentials {
	creds := cfg.NATSAuth
	creds.Inbox = "_INBOX.gateway"
	return creds
}

// Gateway is an assembled gateway.
type Gateway struct {
	cfg     Config
	log     *zap.Logger
	methods *backends.Methods
	authn   *auth.Authenticator
	keys    *auth.KeyStore
	jwt     *auth.JWTVerifier
	signer  *backends.Signer
	rate    *limits.RateLimiter
	streams *limits.StreamLimiter
	conns   map[string]*grpc.ClientConn
	nats    *nats.Conn
	watch   *watch.Service
	health  *backends.Health
	refused *prometheus.CounterVec
	tracer  *tracing.Tracer

	// GRPC is the gRPC server (its Registry holds the metrics).
	GRPC *grpcserver.Server
	// HTTP is the JSON-over-HTTP server.
	HTTP *httpapi.Server

	httpReady chan struct{}
	mu        sync.Mutex
	httpAddr  net.Addr
}

// New assembles the gateway: credentials, backend connections, NATS, gRPC and HTTP
// servers. Nothing listens until Run. Close it when Run has returned.
func New(ctx context.Context, cfg Config, log *zap.Logger) (*Gateway, error) {
	if log == nil {
		log = zap.NewNop()
	}
	log = log.With(zap.String("service", "gateway"))
	g := &Gateway{cfg: cfg, log: log, methods: backends.NewMethods(), conns: map[string]*grpc.ClientConn{}, httpReady: make(chan struct{})}
	if err := g.init(ctx); err != nil {
		g.Close()
		return nil, err
	}
	return g, nil
}

func (g *Gateway) init(ctx context.Context) error {
	cfg := g.cfg
	key, err := loadPrincipalKey(cfg)
	if err != nil {
		return err
	}
	if g.signer, err = backends.NewSigner(key, cfg.PrincipalTTL); err != nil {
		return err
	}
	if cfg.KeysFile == "" && cfg.JWKSFile == "" {
		return errors.New("gateway: no credentials configured: set --keys-file and/or --jwks-file")
	}
	if cfg.KeysFile != "" {
		if g.keys, err = auth.NewKeyStore(cfg.KeysFile, g.log); err != nil {
			return err
		}
	}
	if cfg.JWKSFile != "" {
		if g.jwt, err = auth.NewJWTVerifier(auth.JWTConfig{JWKSFile: cfg.JWKSFile, Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience}, g.log); err != nil {
			return err
		}
	}
	g.authn = &auth.Authenticator{Keys: g.keys, JWT: g.jwt, Log: g.log}
	g.rate = limits.NewRateLimiter(float64(cfg.RatePerSecond), cfg.RateBurst)
	g.streams = limits.NewStreamLimiter(cfg.MaxStreamsPerPrincipal)

	grpcCfg := cfg.GRPC.WithDefaults()
	btls, err := backendTLS(cfg, g.log)
	if err != nil {
		return err
	}
	if g.tracer, err = tracing.Start(cfg.Tracing, "gateway", g.log); err != nil {
		return err
	}
	dial := backends.DialConfig{TLS: btls, MaxRecvMsgBytes: grpcCfg.MaxSendMsgBytes, MaxSendMsgBytes: grpcCfg.MaxRecvMsgBytes,
		StatsHandler: g.tracer.ClientHandler()}
	for name, addr := range map[string]string{backends.Events: cfg.EventsAddr, backends.Guarantees: cfg.GuaranteesAddr} {
		if g.conns[name], err = backends.Dial(addr, dial); err != nil {
			return err
		}
	}
	if g.nats, err = natsx.Connect(ctx, cfg.NATSURL, gatewayNATSAuth(cfg), "guarantor-gateway", g.log); err != nil {
		return err
	}
	js, err := jetstream.New(g.nats)
	if err != nil {
		return fmt.Errorf("gateway: jetstream: %w", err)
	}

	proxy := &backends.Proxy{Methods: g.methods, Conns: g.conns, Signer: g.signer, DefaultTimeout: cfg.DefaultTimeout}
	serverOpts := []grpc.ServerOption{
		grpc.UnknownServiceHandler(proxy.Handle),
		grpc.ForceServerCodecV2(frame.Codec{}),
	}
	if h := g.tracer.ServerHandler(); h != nil {
		serverOpts = append(serverOpts, grpc.StatsHandler(h))
	}
	// The gateway registers reflection itself (below) so that it also describes the
	// proxied services and requires credentials like every other method.
	grpcCfg.Reflection = false
	g.GRPC, err = grpcserver.New(grpcCfg, g.log,
		grpcserver.WithAuth(g.authenticate),
		grpcserver.WithKnownMethods(g.known),
		grpcserver.WithForwardedMethods(g.forwarded()),
		grpcserver.WithServerOptions(serverOpts...),
		grpcserver.WithStreamInterceptors(g.streamInterceptor),
		grpcserver.WithUnaryInterceptors(g.unaryInterceptor),
	)
	if err != nil {
		return err
	}
	reg := g.GRPC.Registry()
	g.refused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "guarantor_gateway_refused_total",
		Help: "Calls refused by the gateway before reaching a handler, by reason.",
	}, []string{"reason"})
	reg.MustRegister(g.refused)
	if g.keys != nil {
		reloads := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "guarantor_gateway_keys_reloads_total", Help: "Keys file reloads, by result."}, []string{"result"})
		reg.MustRegister(reloads)
		// Both series exist from the start, so an alert on the errors' increase sees the
		// first one.
		reloads.WithLabelValues("ok")
		reloads.WithLabelValues("error")
		g.keys.OnReload = func(err error) {
			if err != nil {
				reloads.WithLabelValues("error").Inc()
				return
			}
			reloads.WithLabelValues("ok").Inc()
		}
	}

	cfg.Watch.MaxSendBytes = grpcCfg.MaxSendMsgBytes
	g.watch = watch.New(js, cfg.Watch, reg, g.log)
	gatewayv1.RegisterGatewayServiceServer(g.GRPC, &api{
		watch: g.watch,
		dossier: &dossier.Service{
			Events:     eventsv1.NewEventsServiceClient(g.conns[backends.Events]),
			Guarantees: guaranteesv1.NewGuaranteesServiceClient(g.conns[backends.Guarantees]),
			Outgoing:   g.signer.Outgoing,
		},
	})
	if cfg.GRPC.Reflection {
		g.registerReflection()
	}
	var targets []backends.HealthTarget
	for _, p := range backends.Proxied {
		targets = append(targets, backends.HealthTarget{Backend: p.Backend, Service: string(p.Desc.FullName()), Conn: g.conns[p.Backend]})
	}
	g.health = backends.NewHealth(g.GRPC.Health(), targets, cfg.HealthInterval, g.log)

	services := make([]protoreflect.ServiceDescriptor, 0, len(backends.Proxied)+1)
	for _, p := range backends.Proxied {
		services = append(services, p.Desc)
	}
	services = append(services, backends.GatewayService)
	g.HTTP, err = httpapi.New(httpapi.Config{
		Services: services,
		GRPC:     g.GRPC.GRPC(),
		// JSON is larger than protobuf. The transcoder must hold the largest answer
		// (--max-send-msg-bytes), or a page that gRPC sends would fail over HTTP.
		MaxBodyBytes:    int64(grpcCfg.MaxRecvMsgBytes) * 4,
		MaxMessageBytes: int64(grpcCfg.MaxSendMsgBytes) * 4,
		TLS:             httpTLS(g.GRPC.TLSConfig()),
		Health:          g.httpHealth,
		Version:         "v1",
		Registry:        reg,
	}, g.log)
	return err
}

func loadPrincipalKey(cfg Config) ([]byte, error) {
	if len(cfg.PrincipalKey) > 0 {
		return cfg.PrincipalKey, nil
	}
	if cfg.PrincipalKeyFile == "" {
		return nil, errors.New("gateway: no principal key: set --principal-key-file (the key shared with the services)")
	}
	return principal.LoadKey(cfg.PrincipalKeyFile)
}

// registerReflection serves gRPC reflection listing the gateway's own services and the
// proxied ones, resolved from the descriptors compiled into the binary.
func (g *Gateway) registerReflection() {
	opts := reflection.ServerOptions{
		Services:           reflectionServices{g},
		DescriptorResolver: protoregistry.GlobalFiles,
		ExtensionResolver:  protoregistry.GlobalTypes,
	}
	g.GRPC.GRPC().RegisterService(&reflectionV1Desc, reflection.NewServerV1(opts))
	g.GRPC.GRPC().RegisterService(&reflectionV1AlphaDesc, reflection.NewServer(opts))
}

type reflectionServices struct{ g *Gateway }

func (r reflectionServices) GetServiceInfo() map[string]grpc.ServiceInfo {
	out := r.g.GRPC.GRPC().GetServiceInfo()
	for _, p := range backends.Proxied {
		out[string(p.Desc.FullName())] = grpc.ServiceInfo{}
	}
	return out
}

// forwarded lists the methods the proxy forwards to a backend, for their metrics.
func (g *Gateway) forwarded() []grpcserver.Method {
	var out []grpcserver.Method
	for _, m := range g.methods.All() {
		if m.Backend != "" {
			out = append(out, grpcserver.Method{FullMethod: m.FullMethod, ClientStreams: m.Desc.IsStreamingClient(), ServerStreams: m.ServerStreaming})
		}
	}
	return out
}

// known reports whether the gateway serves a method: the proxied services, its own,
// health and reflection. Other names reach the proxy as unknown services and are
// refused before the interceptors see them (grpcserver.WithKnownMethods).
func (g *Gateway) known(fullMethod string) bool {
	if _, ok := g.methods.Lookup(fullMethod); ok {
		return true
	}
	return infrastructure[fullMethod]
}

// infrastructure are the health and reflection methods, by exact name: a name that only
// begins like one reaches the proxy as an unknown method, and must leave no metric
// series behind (a caller without credentials could otherwise make one per name).
var infrastructure = func() map[string]bool {
	out := map[string]bool{}
	for _, sd := range []grpc.ServiceDesc{healthpb.Health_ServiceDesc, reflectionv1.ServerReflection_ServiceDesc, reflectionv1alpha.ServerReflection_ServiceDesc} {
		for _, m := range sd.Methods {
			out["/"+sd.ServiceName+"/"+m.MethodName] = true
		}
		for _, st := range sd.Streams {
			out["/"+sd.ServiceName+"/"+st.StreamName] = true
		}
	}
	return out
}()

// isReflection reports the reflection methods, which grpcserver's auth hook skips but
// the gateway authenticates (the issue: every method except health needs credentials).
func isReflection(fullMethod string) bool {
	return strings.HasPrefix(fullMethod, "/grpc.reflection.")
}

const authorizationHeader = "authorization"

// authenticate is the auth hook of every call but health checks: who is calling, may
// their role call this method, and are they within their rate.
func (g *Gateway) authenticate(ctx context.Context, fullMethod string) (context.Context, error) {
	vals := metadata.ValueFromIncomingContext(ctx, authorizationHeader)
	if len(vals) == 0 {
		g.refused.WithLabelValues("no_credentials").Inc()
		return ctx, apperr.Unauthenticated("%s", auth.ErrNoCredentials.Error())
	}
	if len(vals) > 1 {
		g.refused.WithLabelValues("bad_credentials").Inc()
		return ctx, apperr.Unauthenticated("%s", auth.ErrBadCredentials.Error())
	}
	p, err := g.authn.Authenticate(vals[0])
	if err != nil {
		g.refused.WithLabelValues("bad_credentials").Inc()
		return ctx, apperr.Unauthenticated("%s", err.Error())
	}
	if !isReflection(fullMethod) {
		m, ok := g.methods.Lookup(fullMethod)
		if !ok {
			g.refused.WithLabelValues("unknown_method").Inc()
			return ctx, statusUnimplemented(fullMethod)
		}
		if m.Write && !p.CanWrite() {
			g.refused.WithLabelValues("permission_denied").Inc()
			return ctx, apperr.PermissionDenied("role %s may not call %s: it changes data (editor or admin needed)", p.Role, m.Desc.Name())
		}
	}
	if ok, retry := g.rate.Allow(p.ID); !ok {
		g.refused.WithLabelValues("rate_limited").Inc()
		return ctx, apperr.ResourceExhausted(retry, "rate limit exceeded: at most %d calls per second (bursts of %d); retry after %s",
			g.cfg.RatePerSecond, g.cfg.RateBurst, retry.Round(time.Millisecond))
	}
	return principal.NewContext(ctx, p), nil
}

// streamInterceptor authenticates reflection, bounds each principal's open streams and
// gives the gateway's own unary calls their default deadline... for streams, only the
// limit applies.
func (g *Gateway) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if isReflection(info.FullMethod) {
		ctx, err := g.authenticate(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		return handler(srv, &ctxStream{ServerStream: ss, ctx: ctx})
	}
	if m, ok := g.methods.Lookup(info.FullMethod); ok && m.ServerStreaming {
		p, _ := principal.FromContext(ss.Context())
		release, ok := g.streams.Acquire(p.ID)
		if !ok {
			g.refused.WithLabelValues("too_many_streams").Inc()
			return apperr.ResourceExhausted(5*time.Second, "at most %d concurrent streams per caller: close one first", g.streams.Max())
		}
		defer release()
		if g.cfg.StreamRecheck > 0 {
			return g.rechecked(srv, ss, p, handler)
		}
	}
	return handler(srv, ss)
}

// errCredentialsChanged ends a stream whose credentials no longer hold as they did when
// it opened.
var errCredentialsChanged = errors.New("credentials changed")

// rechecked runs a stream's handler while checking its credentials again every
// StreamRecheck. A stream is authenticated when it opens, and a watch can stay open for
// days: without this, a revoked key (or an expired JWT, or an entitlement taken away)
// would keep receiving changes. The caller reconnects with valid credentials and
// resumes from its last token.
func (g *Gateway) rechecked(srv any, ss grpc.ServerStream, p principal.Principal, handler grpc.StreamHandler) error {
	ctx, cancel := context.WithCancelCause(ss.Context())
	defer cancel(nil)
	header := metadata.ValueFromIncomingContext(ctx, authorizationHeader)
	go func() {
		t := time.NewTicker(g.cfg.StreamRecheck)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if len(header) != 1 {
				cancel(errCredentialsChanged)
				return
			}
			now, err := g.authn.Authenticate(header[0])
			if err != nil || !samePrincipal(now, p) {
				g.refused.WithLabelValues("credentials_changed").Inc()
				cancel(errCredentialsChanged)
				return
			}
		}
	}()
	err := handler(srv, &ctxStream{ServerStream: ss, ctx: ctx})
	if errors.Is(context.Cause(ctx), errCredentialsChanged) && ss.Context().Err() == nil {
		return apperr.Unauthenticated("the stream's credentials were revoked, expired or changed: call again with valid credentials (resume from the last token)")
	}
	return err
}

// samePrincipal reports whether a and b have the same identity and rights (the order
// entitlements are listed in is not a right).
func samePrincipal(a, b principal.Principal) bool {
	return a.ID == b.ID && a.Role == b.Role && slices.Equal(slices.Sorted(slices.Values(a.Entitlements)), slices.Sorted(slices.Values(b.Entitlements)))
}

// unaryInterceptor gives the gateway's own unary methods (GetActorDossier) the default
// deadline; proxied calls get theirs in the proxy.
func (g *Gateway) unaryInterceptor(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if _, has := ctx.Deadline(); !has && g.cfg.DefaultTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.cfg.DefaultTimeout)
		defer cancel()
	}
	return handler(ctx, req)
}

type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *ctxStream) Context() context.Context { return s.ctx }

func (g *Gateway) httpHealth() (bool, map[string]string) {
	detail := map[string]string{}
	for _, p := range backends.Proxied {
		detail[p.Backend] = g.health.Status(p.Backend).String()
	}
	if g.nats != nil {
		detail["nats"] = g.nats.Status().String()
	}
	return true, detail
}

// Run serves gRPC, HTTP, backend health checks and credential reloads until ctx ends.
func (g *Gateway) Run(ctx context.Context) error {
	lis, err := (&net.ListenConfig{}).Listen(ctx, "tcp", g.cfg.HTTPListen)
	if err != nil {
		return fmt.Errorf("gateway: listen for HTTP on %s: %w", g.cfg.HTTPListen, err)
	}
	g.mu.Lock()
	g.httpAddr = lis.Addr()
	g.mu.Unlock()
	close(g.httpReady)
	eg, ctx := errgroup.WithContext(ctx)
	eg.Go(func() error { return g.GRPC.Run(ctx) })
	eg.Go(func() error { return g.HTTP.Serve(ctx, lis, g.cfg.GRPC.WithDefaults().ShutdownGrace) })
	eg.Go(func() error {
		// Health mirrors the backends only once the server is up (and grpcserver's
		// shutdown turns everything NOT_SERVING for good).
		select {
		case <-g.GRPC.Ready():
		case <-ctx.Done():
			return nil
		}
		g.health.Run(ctx)
		return nil
	})
	if g.keys != nil {
		eg.Go(func() error { g.keys.Watch(ctx, g.cfg.CredentialsPoll); return nil })
	}
	if g.jwt != nil {
		eg.Go(func() error { g.jwt.Watch(ctx, g.cfg.CredentialsPoll); return nil })
	}
	err = eg.Wait()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// Ready is closed once both listeners are bound.
func (g *Gateway) Ready() <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		<-g.GRPC.Ready()
		<-g.httpReady
		close(ch)
	}()
	return ch
}

// Addr is the gRPC address (after Ready).
func (g *Gateway) Addr() string {
	if a := g.GRPC.Addr(); a != nil {
		return a.String()
	}
	return ""
}

// HTTPAddr is the HTTP address (after Ready).
func (g *Gateway) HTTPAddr() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.httpAddr == nil {
		return ""
	}
	return g.httpAddr.String()
}

// BackendStatus is the last health status seen for a backend ("events").
func (g *Gateway) BackendStatus(backend string) healthpb.HealthCheckResponse_ServingStatus {
	return g.health.Status(backend)
}

// Close releases the backend connections, the watch's NATS consumers and the NATS
// connection.
func (g *Gateway) Close() {
	for _, c := range g.conns {
		_ = c.Close()
	}
	if g.watch != nil {
		g.watch.Close() // before the connection its consumers use
	}
	if g.nats != nil {
		g.nats.Close()
	}
	if err := g.tracer.Shutdown(); err != nil {
		g.log.Warn("spans not sent at shutdown", zap.Error(err))
	}
}

// api implements GatewayService over the watch and dossier packages.
type api struct {
	gatewayv1.UnimplementedGatewayServiceServer
	watch   *watch.Service
	dossier *dossier.Service
}

func (a *api) Watch(req *gatewayv1.WatchRequest, stream grpc.ServerStreamingServer[gatewayv1.WatchResponse]) error {
	return a.watch.Watch(req, stream)
}

func (a *api) GetActorDossier(ctx context.Context, req *gatewayv1.GetActorDossierRequest) (*gatewayv1.GetActorDossierResponse, error) {
	return a.dossier.Get(ctx, req)
}

// KeyEntry is one API key of the keys file (for tools that write it, e.g. the dev
// stack creating its admin key).
type KeyEntry = auth.KeyEntry

// KeyFile is the keys file's content.
type KeyFile = auth.KeyFile

// NewAPIKey returns a new random API key and the hex SHA-256 to store in the keys
// file. Show the key once; store only the hash.
func NewAPIKey() (key, sha256Hex string, err error) { return auth.NewKey() }

// HashAPIKey is the hex SHA-256 of a key, as the keys file stores it.
func HashAPIKey(key string) string { return auth.HashKey(key) }

// ResumeToken returns the Watch resume token positioned after the given JetStream
// sequences of the events and guarantees streams (tools and tests; clients pass tokens
// back as they got them). It names no stream incarnation, so a watch resumed from it is
// not checked against a stream rebuilt since (see the watch package's token format).
func ResumeToken(eventsSeq, guaranteesSeq uint64) string {
	return watch.EncodeToken([]uint64{eventsSeq, guaranteesSeq})
}
