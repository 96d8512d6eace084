// Package httpapi serves the gateway's APIs as JSON over HTTP: the Connect protocol (and
// gRPC-Web) transcoded by connectrpc.com/vanguard into gRPC calls to the gateway's own
// gRPC server, in-process. Every HTTP call therefore takes exactly the path a gRPC call
// takes (authentication, limits, proxying, logging, metrics). Besides the APIs it
// serves /openapi.json, generated from the descriptors, and /healthz.
package httpapi

import (
	"compress/gzip"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/vanguard"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Config configures the HTTP server.
type Config struct {
	// Services are served, each by GRPC (the gateway's gRPC server as an http.Handler).
	Services []protoreflect.ServiceDescriptor
	GRPC     http.Handler
	// MaxBodyBytes bounds a request body, inflated (gzip) or not.
	MaxBodyBytes int64
	// MaxMessageBytes bounds the transcoder's buffer for one message, answers included
	// (at least MaxBodyBytes).
	MaxMessageBytes int64
	// TLS, when set, serves HTTPS.
	TLS *tls.Config
	// Health reports the gateway's and each backend's status for /healthz.
	Health func() (ok bool, detail map[string]string)
	// Version is the API version shown in the OpenAPI description.
	Version string
	// Registry receives the HTTP metrics; nil means none.
	Registry prometheus.Registerer
}

// Server is the HTTP server.
type Server struct {
	cfg     Config
	log     *zap.Logger
	handler http.Handler
	srv     *http.Server
	openapi []byte
	metrics *prometheus.HistogramVec
}

// New builds the server; Serve starts it.
func New(cfg Config, log *zap.Logger) (*Server, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 8 << 20
	}
	cfg.MaxMessageBytes = max(cfg.MaxMessageBytes, cfg.MaxBodyBytes)
	vs := make([]*vanguard.Service, 0, len(cfg.Services))
	for _, sd := range cfg.Services {
		vs = append(vs, vanguard.NewServiceWithSchema(sd, cfg.GRPC,
			vanguard.WithTargetProtocols(vanguard.ProtocolGRPC),
			vanguard.WithTargetCodecs(vanguard.CodecProto),
			vanguard.WithMaxMessageBufferBytes(uint32(min(cfg.MaxMessageBytes, 1<<30))),
			// In process, compression only costs: and the gzip decompressor below is
			// bounded for requests, so answers must never need it.
			vanguard.WithNoTargetCompression(),
		))
	}
	transcoder, err := vanguard.NewTranscoder(vs,
		// Gzip bodies inflate within the body limit: the default decompressor reads a
		// body whole, so 64 KiB on the wire could become gigabytes in memory, before
		// the call is authenticated.
		vanguard.WithCompression(vanguard.CompressionGzip,
			func() connect.Compressor { return gzip.NewWriter(io.Discard) },
			func() connect.Decompressor { return &boundedGzip{limit: cfg.MaxBodyBytes} }),
		// A body that is not JSON of the request is the client's mistake (400), not an
		// unknown error (500).
		vanguard.WithCodec(func(r vanguard.TypeResolver) vanguard.Codec { return clientJSON{vanguard.NewJSONCodec(r)} }),
	)
	if err != nil {
		return nil, fmt.Errorf("httpapi: %w", err)
	}
	doc, err := OpenAPI(cfg.Services, cfg.Version)
	if err != nil {
		return nil, fmt.Errorf("httpapi: openapi: %w", err)
	}
	s := &Server{cfg: cfg, log: log, openapi: doc}
	s.metrics = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "guarantor_gateway_http_request_duration_seconds",
		Help: "HTTP requests served by the gateway, by route kind and status class.",
	}, []string{"route", "code"})
	if cfg.Registry != nil {
		cfg.Registry.MustRegister(s.metrics)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /openapi.json", s.serveOpenAPI)
	mux.HandleFunc("GET /healthz", s.serveHealth)
	mux.Handle("/", limitBody(connectByDefault(transcoder), cfg.MaxBodyBytes))
	s.handler = s.accessLog(mux)
	return s, nil
}

// Handler is the server's handler (for tests with httptest).
func (s *Server) Handler() http.Handler { return s.handler }

// Serve serves on lis until ctx ends, then shuts down gracefully within grace.
func (s *Server) Serve(ctx context.Context, lis net.Listener, grace time.Duration) error {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(true)
	// Cleartext HTTP/2 too, for gRPC-Web and Connect clients that use it.
	protocols.SetUnencryptedHTTP2(true)
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		Protocols:         &protocols,
		ErrorLog:          zap.NewStdLog(s.log.Named("http")),
	}
	if s.cfg.TLS != nil {
		lis = tls.NewListener(lis, s.cfg.TLS)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(lis) }()
	s.log.Info("HTTP server listening", zap.Stringer("addr", lis.Addr()), zap.Bool("tls", s.cfg.TLS != nil))
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		// Streams outlive any grace; close what is left.
		_ = s.srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// connectByDefault marks a plain JSON POST as a Connect unary call. Without the
// Connect-Protocol-Version header vanguard would read it as a REST call, and the
// contracts declare no REST routes, so `curl -d '{}' .../Service/Method` with just a
// JSON content type would be a 404.
func connectByDefault(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.Header.Get("Connect-Protocol-Version") == "" {
			if ct := r.Header.Get("Content-Type"); ct == "application/json" || strings.HasPrefix(ct, "application/json;") {
				r.Header.Set("Connect-Protocol-Version", "1")
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(s.openapi)
}

func (s *Server) serveHealth(w http.ResponseWriter, _ *http.Request) {
	ok, detail := true, map[string]string{}
	if s.cfg.Health != nil {
		ok, detail = s.cfg.Health()
	}
	w.Header().Set("Content-Type", "application/json")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	status := "SERVING"
	if !ok {
		status = "NOT_SERVING"
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"status": status, "backends": detail})
}

// accessLog writes one line per request: method, path, status, size, duration, peer
// and request id. Never headers: Authorization carries keys.
func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		d := time.Since(start)
		route := "api"
		if r.URL.Path == "/healthz" || r.URL.Path == "/openapi.json" {
			route = r.URL.Path
		}
		s.metrics.WithLabelValues(route, fmt.Sprintf("%dxx", rec.status/100)).Observe(d.Seconds())
		level := zapcore.InfoLevel
		switch {
		case route == "/healthz":
			level = zapcore.DebugLevel
		case rec.status >= 500:
			level = zapcore.WarnLevel
		}
		if ce := s.log.Check(level, "HTTP request"); ce != nil {
			path := r.URL.Path
			if len(path) > 256 {
				path = path[:256]
			}
			reqID := r.Header.Get("X-Request-Id")
			if len(reqID) > 128 {
				reqID = reqID[:128]
			}
			ce.Write(
				zap.String("http.method", r.Method),
				zap.String("http.path", path),
				zap.Int("http.status", rec.status),
				zap.Int64("http.response_bytes", rec.bytes),
				zap.Duration("http.duration", d),
				zap.String("peer", r.RemoteAddr),
				zap.String("request_id", reqID),
			)
		}
	})
}

// recorder captures the status and size of a response, and lets streaming responses
// flush through it.
type recorder struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wroteHeader = true
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Flush lets server streams reach the client message by message.
func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the underlying writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// boundedGzip is a gzip decompressor that refuses to inflate past limit bytes.
type boundedGzip struct {
	gzip.Reader
	limit, n int64
}

func (d *boundedGzip) Reset(r io.Reader) error {
	d.n = 0
	return d.Reader.Reset(r)
}

func (d *boundedGzip) Read(p []byte) (int, error) {
	n, err := d.Reader.Read(p)
	d.n += int64(n)
	if d.n > d.limit {
		return 0, connect.NewError(connect.CodeResourceExhausted, fmt.Errorf("the request body inflates past %d bytes", d.limit))
	}
	return n, err
}

// clientJSON is vanguard's JSON codec, with a request it cannot decode reported as the
// client's mistake.
type clientJSON struct{ *vanguard.JSONCodec }

func (c clientJSON) Unmarshal(b []byte, m proto.Message) error {
	if err := c.JSONCodec.Unmarshal(b, m); err != nil {
		return connect.NewError(connect.CodeInvalidArgument, err)
	}
	return nil
}

// limitBody refuses a Connect unary call whose body is announced larger than limit, with
// RESOURCE_EXHAUSTED, before the transcoder reads any of it (it buffers a message
// whole, up to the larger bound answers need). A body without a length (chunked), or of
// another protocol, is bounded by the transcoder's buffer and then by the gRPC
// server's own limit on the request it makes of it.
func limitBody(next http.Handler, limit int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit && r.Method == http.MethodPost && connectUnary(r.Header.Get("Content-Type")) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests) // Connect's status for resource_exhausted
			_ = json.NewEncoder(w).Encode(map[string]string{
				"code":    "resource_exhausted",
				"message": fmt.Sprintf("the request body is %d bytes, over the %d the gateway accepts", r.ContentLength, limit),
			})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// connectUnary reports the content types of Connect's unary protocol.
func connectUnary(contentType string) bool {
	base, _, _ := strings.Cut(contentType, ";")
	switch strings.TrimSpace(strings.ToLower(base)) {
	case "application/json", "application/proto":
		return true
	}
	return false
}
