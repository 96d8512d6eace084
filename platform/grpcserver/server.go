// Package grpcserver is the gRPC server every Guarantor service runs: the same
// interceptors, limits, keepalive, health, metrics, tracing and shutdown, so
// services only register their handlers.
//
// Interceptor chain, outermost first:
//
//	panic recovery → Prometheus metrics → request logging → error conversion
//	(ToStatus) → auth hook → protovalidate → extra interceptors → panic
//	recovery → handler
//
// Recovery is outermost so no panic in any interceptor can kill the process;
// it is repeated next to the handler so a handler panic is still counted and
// logged as INTERNAL by the metrics and logging interceptors. Error conversion
// sits inside logging and metrics so both see the final status code.
package grpcserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"buf.build/go/protovalidate"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	"github.com/guarantor/guarantor/platform/tlsfiles"
)

// Option customises New.
type Option func(*options)

type options struct {
	auth          AuthFunc
	unary         []grpc.UnaryServerInterceptor
	stream        []grpc.StreamServerInterceptor
	serverOptions []grpc.ServerOption
	known         func(fullMethod string) bool
	forwarded     []Method
}

// Method describes a gRPC method: its full name ("/package.Service/Method") and
// whether its client and its server send streams.
type Method struct {
	FullMethod    string
	ClientStreams bool
	ServerStreams bool
}

// WithAuth installs an authentication hook for every method except health
// checks and reflection.
func WithAuth(f AuthFunc) Option { return func(o *options) { o.auth = f } }

// WithUnaryInterceptors appends interceptors that run after validation, just
// before the handler.
func WithUnaryInterceptors(is ...grpc.UnaryServerInterceptor) Option {
	return func(o *options) { o.unary = append(o.unary, is...) }
}

// WithStreamInterceptors appends stream interceptors that run after
// validation, just before the handler.
func WithStreamInterceptors(is ...grpc.StreamServerInterceptor) Option {
	return func(o *options) { o.stream = append(o.stream, is...) }
}

// WithKnownMethods refuses, with UNIMPLEMENTED and before any other interceptor, a
// stream call to a method for which known returns false. Only a server with a
// grpc.UnknownServiceHandler needs it (gRPC refuses unregistered methods of the
// others itself): without it, every name a caller makes up becomes metric series that
// live as long as the process.
func WithKnownMethods(known func(fullMethod string) bool) Option {
	return func(o *options) { o.known = known }
}

// WithForwardedMethods names the methods a proxy serves through its
// grpc.UnknownServiceHandler, so that their metric series exist from the start (rates
// and alerts see the first call, as for registered services) and carry their real call
// type (gRPC hands every such call over as a bidirectional stream).
func WithForwardedMethods(methods []Method) Option {
	return func(o *options) { o.forwarded = append(o.forwarded, methods...) }
}

// WithServerOptions appends raw grpc.ServerOptions (applied after the
// platform's, so they win where gRPC lets the last one win).
func WithServerOptions(opts ...grpc.ServerOption) Option {
	return func(o *options) { o.serverOptions = append(o.serverOptions, opts...) }
}

// Server is a configured gRPC server. Create it with New, register services,
// then call Run or Serve once.
type Server struct {
	cfg    Config
	log    *zap.Logger
	grpc   *grpc.Server
	health *health.Server
	// healthGRPC serves only health, in plaintext, on cfg.HealthListen; nil without.
	healthGRPC *grpc.Server
	tls        *tls.Config
	registry   *prometheus.Registry
	metrics    *serverMetrics
	ready      chan struct{}

	mu          sync.Mutex
	served      bool
	addr        net.Addr
	metricsAddr net.Addr
	healthAddr  net.Addr
}

// New builds a server from cfg (zero fields get defaults). log may be nil.
// Nothing listens until Run or Serve.
func New(cfg Config, log *zap.Logger, opts ...Option) (*Server, error) {
	if log == nil {
		log = zap.NewNop()
	}
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	validator, err := protovalidate.New()
	if err != nil {
		return nil, fmt.Errorf("grpcserver: create validator: %w", err)
	}
	// Read now, so a missing or mismatched file stops the process at start-up
	// rather than failing every handshake later.
	tlsCfg, err := tlsfiles.Server(tlsfiles.ServerFiles{CertFile: cfg.TLSCertFile, KeyFile: cfg.TLSKeyFile, ClientCAFile: cfg.TLSClientCAFile}, log)
	if err != nil {
		return nil, fmt.Errorf("grpcserver: --tls-cert-file, --tls-key-file, --tls-client-ca-file: %w", err)
	}

	// A registry per server, not prometheus.DefaultRegisterer: several
	// servers run in one process in tests and in the dev stack.
	registry := prometheus.NewRegistry()
	metrics := newServerMetrics(o.forwarded)
	registry.MustRegister(metrics.collectors()...)
	registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)

	unary := []grpc.UnaryServerInterceptor{
		recoveryUnary(log),
		metrics.unary,
		loggingUnary(log),
		UnaryErrorInterceptor(log),
	}
	var stream []grpc.StreamServerInterceptor
	if o.known != nil {
		stream = append(stream, knownStream(o.known))
	}
	stream = append(stream,
		recoveryStream(log),
		metrics.stream,
		loggingStream(log),
		StreamErrorInterceptor(log),
	)
	if o.auth != nil {
		unary = append(unary, authUnary(o.auth))
		stream = append(stream, authStream(o.auth))
	}
	unary = append(unary, validateUnary(log, validator))
	stream = append(stream, validateStream(log, validator))
	unary = append(unary, o.unary...)
	stream = append(stream, o.stream...)
	unary = append(unary, recoveryUnary(log))
	stream = append(stream, recoveryStream(log))

	serverOpts := []grpc.ServerOption{
		// No tracing stats handler by default: otelgrpc's spans cost a few percent of a
		// call's CPU per hop, so a process adds one (WithServerOptions) only when spans go
		// somewhere (platform/tracing, --otlp-endpoint). The W3C trace context travels
		// either way: the gateway forwards the client's traceparent and the services
		// record it with each change (service.TraceParent) and publish it on the stream.
		grpc.MaxRecvMsgSize(cfg.MaxRecvMsgBytes),
		grpc.MaxSendMsgSize(cfg.MaxSendMsgBytes),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime: cfg.KeepaliveMinTime,
			// Idle pooled client connections (the gateway's) may ping too.
			PermitWithoutStream: true,
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle: cfg.MaxConnectionIdle,
			MaxConnectionAge:  cfg.MaxConnectionAge,
			Time:              cfg.KeepaliveTime,
			Timeout:           cfg.KeepaliveTimeout,
		}),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
		// Reused handler goroutines keep the stacks they grew: a fresh goroutine per call
		// grows its stack again on every request that reaches SQLite (whose translated C
		// code runs deep), which was a tenth of a Get's CPU. When every worker is busy
		// gRPC starts a goroutine as before, so this never queues a call.
		grpc.NumStreamWorkers(streamWorkers),
	}
	if cfg.MaxConcurrentStreams > 0 {
		serverOpts = append(serverOpts, grpc.MaxConcurrentStreams(cfg.MaxConcurrentStreams))
	}
	if tlsCfg != nil {
		serverOpts = append(serverOpts, grpc.Creds(credentials.NewTLS(tlsCfg)))
	}
	serverOpts = append(serverOpts, o.serverOptions...)

	s := &Server{
		cfg:      cfg,
		log:      log,
		grpc:     grpc.NewServer(serverOpts...),
		health:   health.NewServer(), // overall status "" starts SERVING
		tls:      tlsCfg,
		registry: registry,
		metrics:  metrics,
		ready:    make(chan struct{}),
	}
	healthpb.RegisterHealthServer(s.grpc, s.health)
	if cfg.HealthListen != "" {
		// Health only, and the same health server: what a probe sees here is
		// what a client of the main listener sees. No interceptors: health needs
		// no credentials, and probes every few seconds are not worth a log line.
		s.healthGRPC = grpc.NewServer()
		healthpb.RegisterHealthServer(s.healthGRPC, s.health)
	}
	if cfg.Reflection {
		reflection.Register(s.grpc)
	}
	return s, nil
}

// RegisterService registers a service implementation and marks it SERVING in
// the health server. It makes *Server a grpc.ServiceRegistrar, so generated
// code works directly: eventsv1.RegisterEventsServiceServer(srv, impl).
func (s *Server) RegisterService(desc *grpc.ServiceDesc, impl any) {
	s.grpc.RegisterService(desc, impl)
	s.health.SetServingStatus(desc.ServiceName, healthpb.HealthCheckResponse_SERVING)
}

// GRPC returns the underlying server, e.g. for GetServiceInfo.
func (s *Server) GRPC() *grpc.Server { return s.grpc }

// Health returns the health server, so a service can report NOT_SERVING while
// a dependency is down (SetServingStatus with its service name, or "" for the
// whole server).
func (s *Server) Health() *health.Server { return s.health }

// TLSConfig is the gRPC listener's TLS configuration (its certificate re-read when the
// files change), or nil for plaintext; the gateway serves its HTTP listener with it.
func (s *Server) TLSConfig() *tls.Config { return s.tls }

// Registry returns the server's Prometheus registry, served on /metrics;
// services register their own collectors here.
func (s *Server) Registry() *prometheus.Registry { return s.registry }

// Ready is closed once Serve has its listeners; Addr and MetricsAddr are set
// from then on.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr is the gRPC listener's address (the real port when listening on :0),
// or nil before Serve.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// MetricsAddr is the metrics listener's address, or nil if metrics are
// disabled or Serve has not started.
func (s *Server) MetricsAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.metricsAddr
}

// HealthAddr is the health listener's address, or nil if it is disabled or
// Serve has not started.
func (s *Server) HealthAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.healthAddr
}

// Run listens on cfg.Listen and serves until ctx is cancelled; see Serve.
func (s *Server) Run(ctx context.Context) error {
	if s.cfg.Listen == "" {
		return errors.New("grpcserver: Config.Listen is empty")
	}
	lis, err := (&net.ListenConfig{}).Listen(ctx, "tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("grpcserver: listen on %s: %w", s.cfg.Listen, err)
	}
	return s.Serve(ctx, lis)
}

// Serve serves gRPC on lis and, if set, /metrics over HTTP on cfg.MetricsListen
// and health checks on cfg.HealthListen, until ctx is cancelled or a listener
// fails. On the way out it reports NOT_SERVING to health checks (on both gRPC
// listeners), lets in-flight RPCs finish for up to cfg.ShutdownGrace, then
// closes what is left. It returns nil after a clean shutdown. A Server serves
// once.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	s.mu.Lock()
	if s.served {
		s.mu.Unlock()
		return errors.New("grpcserver: Serve called twice")
	}
	s.served = true
	s.addr = lis.Addr()
	s.mu.Unlock()

	metricsLis, err := listenOptional(ctx, "metrics", s.cfg.MetricsListen)
	if err != nil {
		_ = lis.Close()
		return err
	}
	var healthLis net.Listener
	if s.healthGRPC != nil {
		if healthLis, err = listenOptional(ctx, "health checks", s.cfg.HealthListen); err != nil {
			_ = lis.Close()
			if metricsLis != nil {
				_ = metricsLis.Close()
			}
			return err
		}
	}
	s.mu.Lock()
	if metricsLis != nil {
		s.metricsAddr = metricsLis.Addr()
	}
	if healthLis != nil {
		s.healthAddr = healthLis.Addr()
	}
	s.mu.Unlock()

	// Every registered method now exists, so its counters can start at zero
	// rather than appear on first use.
	s.metrics.initialize(s.grpc)

	errc := make(chan error, 3)
	running := 1
	go func() { errc <- serveGRPC(s.grpc, lis, "gRPC") }()
	if healthLis != nil {
		running++
		go func() { errc <- serveGRPC(s.healthGRPC, healthLis, "health checks") }()
	}

	var httpSrv *http.Server
	if metricsLis != nil {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{Registry: s.registry}))
		httpSrv = &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 5 * time.Second,
			ErrorLog:          zap.NewStdLog(s.log.Named("metrics-http")),
		}
		running++
		go func() {
			if err := httpSrv.Serve(metricsLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("grpcserver: serve metrics: %w", err)
				return
			}
			errc <- nil
		}()
	}

	s.log.Info("gRPC server listening", zap.Stringer("addr", lis.Addr()), zap.Bool("tls", s.tls != nil),
		zap.Bool("client_certificates", s.tls != nil && s.tls.ClientCAs != nil),
		zap.Stringer("metrics_addr", addrOrNone{metricsLis}), zap.Stringer("health_addr", addrOrNone{healthLis}))
	close(s.ready)

	var first error
	select {
	case <-ctx.Done():
	case first = <-errc:
		running--
	}
	s.shutdown(httpSrv)
	for ; running > 0; running-- {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// listenOptional listens on addr, or returns nil if addr is empty.
func listenOptional(ctx context.Context, what, addr string) (net.Listener, error) {
	if addr == "" {
		return nil, nil
	}
	l, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("grpcserver: listen for %s on %s: %w", what, addr, err)
	}
	return l, nil
}

// serveGRPC serves until the server is stopped.
func serveGRPC(srv *grpc.Server, lis net.Listener, what string) error {
	// ErrServerStopped: ctx was cancelled before Serve got going.
	if err := srv.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("grpcserver: serve %s: %w", what, err)
	}
	return nil
}

func (s *Server) shutdown(httpSrv *http.Server) {
	s.log.Info("gRPC server shutting down", zap.Duration("grace", s.cfg.ShutdownGrace))
	// NOT_SERVING first, so load balancers and probes stop sending new calls.
	s.health.Shutdown()

	done := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(done)
	}()
	timer := time.NewTimer(s.cfg.ShutdownGrace)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		// Long-lived streams (watches) never end by themselves.
		s.log.Warn("shutdown grace expired; closing remaining connections")
		s.grpc.Stop()
		<-done
	}

	// The health listener outlives the drain, so probes see NOT_SERVING during
	// it rather than a refused connection. Probes hold no long calls: Stop.
	if s.healthGRPC != nil {
		s.healthGRPC.Stop()
	}
	// Metrics last, so the drain itself can still be scraped.
	if httpSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := httpSrv.Shutdown(ctx); err != nil {
			s.log.Warn("metrics server shutdown", zap.Error(err))
		}
	}
	s.log.Info("gRPC server stopped")
}

// addrOrNone prints a listener's address, or "none".
type addrOrNone struct{ l net.Listener }

func (a addrOrNone) String() string {
	if a.l == nil {
		return "none"
	}
	return a.l.Addr().String()
}

// SignalContext returns a context cancelled on SIGINT or SIGTERM (Kubernetes
// sends SIGTERM before killing a pod), for mains to pass to Run.
func SignalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// streamWorkers is how many goroutines each server keeps for handling calls; an idle
// one costs its stack.
const streamWorkers = 64
