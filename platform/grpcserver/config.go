package grpcserver

import (
	"fmt"
	"time"

	"github.com/guarantor/guarantor/platform/config"
)

// Platform defaults, applied to zero fields by WithDefaults.
const (
	DefaultMaxRecvMsgBytes   = 4 << 20  // gRPC's own default; large imports use BatchCreate pages
	DefaultMaxSendMsgBytes   = 16 << 20 // list pages may be larger than requests
	DefaultKeepaliveMinTime  = 10 * time.Second
	DefaultMaxConnectionIdle = 15 * time.Minute
	DefaultMaxConnectionAge  = 10 * time.Minute
	DefaultKeepaliveTime     = time.Minute
	DefaultKeepaliveTimeout  = 20 * time.Second
	DefaultShutdownGrace     = 10 * time.Second
)

// Config is what every service's gRPC server is configured with. Zero values
// mean the documented default.
type Config struct {
	// Listen is the gRPC address, e.g. "127.0.0.1:9091" or ":0". Used by Run.
	Listen string
	// MetricsListen is the HTTP address serving /metrics. Empty disables it.
	MetricsListen string
	// MaxRecvMsgBytes caps one received message; bigger ones are refused with
	// RESOURCE_EXHAUSTED before they are decoded. Default 4 MiB.
	MaxRecvMsgBytes int
	// MaxSendMsgBytes caps one sent message. Default 16 MiB.
	MaxSendMsgBytes int
	// Reflection registers the gRPC reflection service (for grpcurl). Off by
	// default: it lists the whole API to anyone who can connect.
	Reflection bool
	// KeepaliveMinTime is how often a client may ping at most; faster pingers
	// are disconnected (ENHANCE_YOUR_CALM). Default 10s.
	KeepaliveMinTime time.Duration
	// MaxConnectionIdle closes connections without RPCs after this long, so
	// clients rebalance. Default 15m.
	MaxConnectionIdle time.Duration
	// MaxConnectionAge asks a client to reconnect (HTTP/2 GOAWAY) once its connection
	// is this old, give or take a tenth; calls in flight, long streams included, finish
	// on the old one. A busy client is never idle, so without this it would stay on
	// the replica it first reached: this is how the gateway's round-robin balancing
	// finds replicas added since, and how load spreads again after a rolling restart.
	// Default 10m.
	MaxConnectionAge time.Duration
	// KeepaliveTime: the server pings a client after this much inactivity.
	// Default 1m.
	KeepaliveTime time.Duration
	// KeepaliveTimeout: a connection whose ping is unanswered this long is
	// closed. Default 20s.
	KeepaliveTimeout time.Duration
	// ShutdownGrace is how long in-flight RPCs (and watch streams) may run
	// after shutdown starts before connections are closed. Default 10s.
	ShutdownGrace time.Duration
	// MaxConcurrentStreams limits concurrent RPCs per connection; 0 keeps
	// gRPC's default (no limit).
	MaxConcurrentStreams uint32
	// TLSCertFile and TLSKeyFile (PEM) turn on TLS on the gRPC listener. The pair
	// is re-read when the files change, so a renewed certificate needs no restart.
	// Both empty serve plaintext.
	TLSCertFile string
	TLSKeyFile  string
	// TLSClientCAFile (PEM) turns on mutual TLS: every client must present a
	// certificate signed by a CA in it, or the handshake fails.
	TLSClientCAFile string
	// HealthListen, when set, is a second, plaintext address serving only
	// grpc.health.v1.Health from the same status as the main listener: the
	// kubelet's gRPC probes cannot speak TLS. Empty disables it.
	HealthListen string
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.MaxRecvMsgBytes == 0 {
		c.MaxRecvMsgBytes = DefaultMaxRecvMsgBytes
	}
	if c.MaxSendMsgBytes == 0 {
		c.MaxSendMsgBytes = DefaultMaxSendMsgBytes
	}
	if c.KeepaliveMinTime == 0 {
		c.KeepaliveMinTime = DefaultKeepaliveMinTime
	}
	if c.MaxConnectionIdle == 0 {
		c.MaxConnectionIdle = DefaultMaxConnectionIdle
	}
	if c.MaxConnectionAge == 0 {
		c.MaxConnectionAge = DefaultMaxConnectionAge
	}
	if c.KeepaliveTime == 0 {
		c.KeepaliveTime = DefaultKeepaliveTime
	}
	if c.KeepaliveTimeout == 0 {
		c.KeepaliveTimeout = DefaultKeepaliveTimeout
	}
	if c.ShutdownGrace == 0 {
		c.ShutdownGrace = DefaultShutdownGrace
	}
	return c
}

func (c Config) validate() error {
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"MaxRecvMsgBytes", int64(c.MaxRecvMsgBytes)},
		{"MaxSendMsgBytes", int64(c.MaxSendMsgBytes)},
		{"KeepaliveMinTime", int64(c.KeepaliveMinTime)},
		{"MaxConnectionIdle", int64(c.MaxConnectionIdle)},
		{"MaxConnectionAge", int64(c.MaxConnectionAge)},
		{"KeepaliveTime", int64(c.KeepaliveTime)},
		{"KeepaliveTimeout", int64(c.KeepaliveTimeout)},
		{"ShutdownGrace", int64(c.ShutdownGrace)},
	} {
		if f.v < 0 {
			return fmt.Errorf("grpcserver: Config.%s must not be negative, got %d", f.name, f.v)
		}
	}
	return nil
}

// RegisterFlags registers the server flags every binary shares, with the
// binary's defaults (zero fields get the platform defaults), and returns the
// Config that fs.Parse fills in:
//
//	--listen, --metrics-listen, --max-recv-msg-bytes, --max-send-msg-bytes,
//	--reflection, --keepalive-min-time, --max-connection-idle,
//	--max-connection-age, --keepalive-time, --keepalive-timeout, --shutdown-grace,
//	--max-concurrent-streams, --tls-cert-file, --tls-key-file,
//	--tls-client-ca-file, --health-listen
//
// each also read from GUARANTOR_<NAME> (see package config).
func RegisterFlags(fs *config.FlagSet, defaults Config) *Config {
	d := defaults.WithDefaults()
	c := &Config{}
	fs.StringVar(&c.Listen, "listen", d.Listen, "gRPC listen address (host:port)")
	fs.StringVar(&c.MetricsListen, "metrics-listen", d.MetricsListen, "HTTP address serving Prometheus /metrics; empty disables")
	fs.IntVar(&c.MaxRecvMsgBytes, "max-recv-msg-bytes", d.MaxRecvMsgBytes, "largest gRPC message accepted, in bytes")
	fs.IntVar(&c.MaxSendMsgBytes, "max-send-msg-bytes", d.MaxSendMsgBytes, "largest gRPC message sent, in bytes")
	fs.BoolVar(&c.Reflection, "reflection", d.Reflection, "serve gRPC reflection (for grpcurl)")
	fs.DurationVar(&c.KeepaliveMinTime, "keepalive-min-time", d.KeepaliveMinTime, "minimum interval between client keepalive pings")
	fs.DurationVar(&c.MaxConnectionIdle, "max-connection-idle", d.MaxConnectionIdle, "close connections idle for this long")
	fs.DurationVar(&c.MaxConnectionAge, "max-connection-age", d.MaxConnectionAge, "ask clients to reconnect once a connection is this old (calls in flight finish), so load spreads over replicas added since")
	fs.DurationVar(&c.KeepaliveTime, "keepalive-time", d.KeepaliveTime, "ping clients after this much inactivity")
	fs.DurationVar(&c.KeepaliveTimeout, "keepalive-timeout", d.KeepaliveTimeout, "close connections whose keepalive ping is unanswered this long")
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", d.ShutdownGrace, "how long in-flight RPCs may finish on shutdown")
	fs.Uint32Var(&c.MaxConcurrentStreams, "max-concurrent-streams", d.MaxConcurrentStreams, "concurrent RPCs per connection; 0 means no limit")
	fs.StringVar(&c.TLSCertFile, "tls-cert-file", d.TLSCertFile, "TLS certificate (PEM) of the gRPC listener (and of the gateway's HTTP listener; never of the metrics or health listeners), re-read when it changes; empty serves plaintext")
	fs.StringVar(&c.TLSKeyFile, "tls-key-file", d.TLSKeyFile, "TLS private key (PEM) of --tls-cert-file")
	fs.StringVar(&c.TLSClientCAFile, "tls-client-ca-file", d.TLSClientCAFile, "CA bundle (PEM); when set, clients must present a certificate it signed (mutual TLS)")
	fs.StringVar(&c.HealthListen, "health-listen", d.HealthListen, "plaintext address serving only gRPC health checks, for probes that cannot speak TLS; empty disables")
	return c
}
