// Package backends forwards calls to the services behind the gateway: a transparent
// gRPC proxy that copies message bytes without decoding them, the connections to the
// backends (optionally mTLS), the signed caller identity the services verify, and the
// health of each backend.
package backends

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/guarantor/guarantor/platform/principal"
	"github.com/guarantor/guarantor/services/gateway/internal/frame"
)

// RequestIDHeader correlates one client call across the gateway and the services.
const RequestIDHeader = "x-request-id"

// passThrough is the client metadata forwarded to the services: the request id and
// the W3C trace context. Nothing else is, so a client cannot smuggle a header a
// service trusts (above all x-guarantor-principal) through the gateway.
var passThrough = []string{RequestIDHeader, "traceparent", "tracestate", "baggage"}

// DialConfig configures the connections to the backends.
type DialConfig struct {
	// TLS, when set, secures the connections (and presents a client certificate for
	// mTLS when it has one); nil means plaintext.
	TLS *tls.Config
	// MaxRecvMsgBytes and MaxSendMsgBytes bound the messages exchanged with a backend;
	// zero keeps gRPC's defaults.
	MaxRecvMsgBytes int
	MaxSendMsgBytes int
	// StatsHandler, when set, sees every call (tracing's client spans).
	StatsHandler stats.Handler
}

// roundRobin spreads calls over every address the backend's name resolves to. An
// address such as "events:9091" is resolved through DNS (grpc.NewClient's default
// scheme): a Kubernetes Service with a cluster IP resolves to that one address, a
// headless one ("dns:///events-headless:9091") to each ready replica, which then all
// take calls instead of the one a single long-lived connection reached. The services'
// --max-connection-age makes the gateway reconnect, and so resolve again, now and
// then: that is how replicas added later get their share.
const roundRobin = `{"loadBalancingConfig": [{"round_robin": {}}]}`

// Dial opens a connection to a backend; gRPC connects lazily and reconnects by itself.
func Dial(addr string, cfg DialConfig) (*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	if cfg.TLS != nil {
		creds = credentials.NewTLS(cfg.TLS)
	}
	callOpts := []grpc.CallOption{grpc.ForceCodecV2(frame.Codec{})}
	if cfg.MaxRecvMsgBytes > 0 {
		callOpts = append(callOpts, grpc.MaxCallRecvMsgSize(cfg.MaxRecvMsgBytes))
	}
	if cfg.MaxSendMsgBytes > 0 {
		callOpts = append(callOpts, grpc.MaxCallSendMsgSize(cfg.MaxSendMsgBytes))
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultServiceConfig(roundRobin),
		grpc.WithDefaultCallOptions(callOpts...),
		// Pings keep idle pooled connections alive through load balancers; the services
		// allow one every 10s at most, so 30s stays well clear of their enforcement.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: true}),
	}
	if cfg.StatsHandler != nil {
		opts = append(opts, grpc.WithStatsHandler(cfg.StatsHandler))
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("backends: dial %s: %w", addr, err)
	}
	return conn, nil
}

// Signer turns the authenticated principal into the signed metadata the services
// verify, reusing a token while it has more than half its lifetime left (signing is
// cheap, but this is the hot path).
type Signer struct {
	key []byte
	ttl time.Duration
	now func() time.Time

	mu    sync.Mutex
	cache map[string]signed
}

type signed struct {
	token  string
	expiry time.Time
}

// maxCachedTokens bounds the token cache; past it the cache starts afresh.
const maxCachedTokens = 10000

// NewSigner returns a signer with the key shared with the services.
func NewSigner(key []byte, ttl time.Duration) (*Signer, error) {
	if len(key) < principal.MinKeyBytes {
		return nil, fmt.Errorf("backends: principal key is %d bytes, need at least %d", len(key), principal.MinKeyBytes)
	}
	if ttl <= 0 {
		ttl = 5 * time.Minute
	}
	return &Signer{key: key, ttl: ttl, now: time.Now, cache: map[string]signed{}}, nil
}

// Token returns a signed token for p.
func (s *Signer) Token(p principal.Principal) (string, error) {
	now := s.now()
	ck := p.ID + "\x00" + p.Role + "\x00" + strings.Join(p.Entitlements, "\x00")
	s.mu.Lock()
	c, ok := s.cache[ck]
	s.mu.Unlock()
	if ok && c.expiry.Sub(now) > s.ttl/2 {
		return c.token, nil
	}
	tok, err := principal.Sign(p, s.key, now, s.ttl)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	if len(s.cache) >= maxCachedTokens {
		s.cache = map[string]signed{}
	}
	s.cache[ck] = signed{token: tok, expiry: now.Add(s.ttl)}
	s.mu.Unlock()
	return tok, nil
}

// Outgoing returns ctx with the metadata a backend call carries: the caller's signed
// identity (from principal.FromContext), and the request id and trace context the
// client sent. A request id is made up when the client sent none, so the services'
// logs still correlate.
func (s *Signer) Outgoing(ctx context.Context) (context.Context, error) {
	p, ok := principal.FromContext(ctx)
	if !ok {
		return ctx, status.Error(codes.Unauthenticated, "no authenticated caller")
	}
	tok, err := s.Token(p)
	if err != nil {
		return ctx, err
	}
	out := metadata.MD{principal.Header: []string{tok}}
	for _, k := range passThrough {
		if v := metadata.ValueFromIncomingContext(ctx, k); len(v) > 0 {
			out[k] = v
		}
	}
	if len(out.Get(RequestIDHeader)) == 0 {
		out.Set(RequestIDHeader, newRequestID())
	}
	return metadata.NewOutgoingContext(ctx, out), nil
}

func newRequestID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "gw-" + hex.EncodeToString(b)
}

// Proxy forwards every call of a proxied service to its backend. Install Handle as the
// server's grpc.UnknownServiceHandler: the gateway registers no implementation of the
// proxied services, so their calls arrive there with the messages still encoded.
type Proxy struct {
	Methods *Methods
	// Conns holds one connection per backend name.
	Conns  map[string]*grpc.ClientConn
	Signer *Signer
	// DefaultTimeout bounds unary calls whose client set no deadline; streams are
	// exempt (a watch runs for hours). Zero means no default.
	DefaultTimeout time.Duration
}

// proxyDesc lets the proxy treat every call alike: it sends the client's messages and
// relays the backend's until the backend ends the call.
var proxyDesc = &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}

// Handle is a grpc.StreamHandler forwarding one call.
func (p *Proxy) Handle(_ any, ss grpc.ServerStream) error {
	fullMethod, _ := grpc.MethodFromServerStream(ss)
	m, ok := p.Methods.Lookup(fullMethod)
	if !ok || m.Backend == "" {
		return status.Errorf(codes.Unimplemented, "unknown method %s", fullMethod)
	}
	conn := p.Conns[m.Backend]
	if conn == nil {
		return status.Errorf(codes.Unavailable, "backend %s is not configured", m.Backend)
	}
	ctx := ss.Context()
	var cancel context.CancelFunc
	if _, has := ctx.Deadline(); !has && !m.ServerStreaming && p.DefaultTimeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, p.DefaultTimeout)
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
	// Cancelling ends the backend call whichever way this function returns.
	defer cancel()
	ctx, err := p.Signer.Outgoing(ctx)
	if err != nil {
		return err
	}
	if !m.ServerStreaming {
		return Public(forwardUnary(ctx, ss, conn, fullMethod), m.Backend)
	}
	cs, err := conn.NewStream(ctx, proxyDesc, fullMethod)
	if err != nil {
		return Public(err, m.Backend)
	}
	if err := forwardRequests(ss, cs); err != nil {
		return Public(err, m.Backend)
	}
	return Public(forwardResponses(ss, cs), m.Backend)
}

// transportFailures begin the messages grpc-go gives a call its connection failed: they
// name the backend's address and the dial error, which are the gateway's business, not
// its callers'.
var transportFailures = []string{"connection error:", "last connection error:", "name resolver error:", "last resolver error:"}

// Public is err as a caller may see it: a failure of the gateway's own connection to a
// backend becomes UNAVAILABLE naming only the service (the gateway's health check of the
// backend reports it down);
// anything else, the backend's own statuses included, passes unchanged. The two are told
// apart by the message, as grpc-go gives both the same code.
func Public(err error, backend string) error {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.Unavailable {
		return err
	}
	for _, p := range transportFailures {
		if strings.HasPrefix(st.Message(), p) {
			return status.Errorf(codes.Unavailable, "the %s service is unavailable: try again later", backend)
		}
	}
	return err
}

// forwardUnary forwards a unary call with one Invoke: cheaper than driving a client
// stream (no separate half-close, header wait or end-of-stream read), and unary is
// almost all of the gateway's traffic. Headers, trailers and the status reach the client
// unchanged, as in forwardResponses.
func forwardUnary(ctx context.Context, ss grpc.ServerStream, conn *grpc.ClientConn, method string) error {
	req := &frame.Frame{}
	if err := ss.RecvMsg(req); err != nil {
		if errors.Is(err, io.EOF) {
			return status.Error(codes.InvalidArgument, "the call ended without its request message")
		}
		return err
	}
	var header, trailer metadata.MD
	resp := &frame.Frame{}
	err := conn.Invoke(ctx, method, req, resp, grpc.Header(&header), grpc.Trailer(&trailer))
	if len(header) > 0 {
		if herr := ss.SetHeader(header); herr != nil {
			return herr
		}
	}
	ss.SetTrailer(trailer)
	if err != nil {
		return err
	}
	return ss.SendMsg(resp)
}

// forwardRequests copies the client's messages to the backend, then half-closes. The
// contracts have no client streaming, so this ends as soon as the client's one message
// has arrived.
func forwardRequests(ss grpc.ServerStream, cs grpc.ClientStream) error {
	for {
		f := &frame.Frame{}
		err := ss.RecvMsg(f)
		if errors.Is(err, io.EOF) {
			return cs.CloseSend()
		}
		if err != nil {
			return err
		}
		// io.EOF from SendMsg means the backend already ended the call; its status
		// comes from RecvMsg below.
		if err := cs.SendMsg(f); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// forwardResponses relays the backend's headers, messages, trailers and final status
// unchanged: codes, messages and details (BadRequest, RetryInfo...) reach the client
// exactly as the service sent them.
func forwardResponses(ss grpc.ServerStream, cs grpc.ClientStream) error {
	md, err := cs.Header()
	if err == nil && len(md) > 0 {
		if err := ss.SendHeader(md); err != nil {
			return err
		}
	}
	for {
		f := &frame.Frame{}
		err := cs.RecvMsg(f)
		if err != nil {
			ss.SetTrailer(cs.Trailer())
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if err := ss.SendMsg(f); err != nil {
			return err
		}
	}
}
