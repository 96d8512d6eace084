// Package natsx connects services to NATS the same way everywhere: reconnect
// forever with every state change logged (never the URL's credentials),
// JetStream streams declared idempotently at startup, and OpenTelemetry trace
// context carried in message headers.
package natsx

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/guarantor/guarantor/platform/config"
)

// connectRetryWait is the pause between failed initial connection attempts.
const connectRetryWait = time.Second

// Credentials are how a client proves who it is to NATS. The zero value connects
// without any (the dev stack's embedded server on loopback).
type Credentials struct {
	// NkeyFile holds the client's user nkey seed ("SU...", made by `nk -gen user`);
	// the server knows only the public key. The seed is read from the file at each
	// (re)connection to sign the server's challenge, never kept or logged.
	NkeyFile string
	// CAFile, when set, is the CA bundle the server's certificate must be signed by:
	// the connection then uses TLS and checks it. Empty connects in plaintext unless the
	// URL says tls://, then checking against the system's CAs.
	CAFile string
	// Inbox is the subject prefix of the replies this client asks for (JetStream API
	// answers, pulled messages), e.g. "_INBOX.events": a server can then let each
	// client subscribe to its own replies only. Empty keeps nats.go's "_INBOX".
	Inbox string
}

// RegisterFlags registers the credential flags every NATS client binary has,
// --nats-nkey-file and --nats-ca-file (each also read from its GUARANTOR_* variable),
// and returns the Credentials fs.Parse fills in. who names the binary in the help. The
// inbox is not a flag: each caller picks its own.
func RegisterFlags(fs *config.FlagSet, who string, defaults Credentials) *Credentials {
	c := &Credentials{}
	fs.StringVar(&c.CAFile, "nats-ca-file", defaults.CAFile, "CA bundle (PEM) NATS's certificate is checked against; set, the connection uses TLS")
	fs.StringVar(&c.NkeyFile, "nats-nkey-file", defaults.NkeyFile, "file holding "+who+"'s NATS user nkey seed (nk -gen user); empty connects without credentials")
	return c
}

// Connect connects to the NATS server(s) at rawURL (comma-separated URLs
// allowed) as client name, with creds. It retries until the first connection
// succeeds or ctx ends (a server refusing the credentials included: a key may be
// mounted late); once connected, the connection reconnects forever, so publishers
// see errors (and the outbox retries) rather than a dead connection. log may
// be nil. The caller closes the connection (Drain or Close).
func Connect(ctx context.Context, rawURL string, creds Credentials, name string, log *zap.Logger) (*nats.Conn, error) {
	if log == nil {
		log = zap.NewNop()
	}
	safeURL := RedactURL(rawURL)
	log = log.With(zap.String("nats.url", safeURL), zap.String("nats.name", name))

	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1), // forever: NATS restarts must not need a service restart
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("NATS disconnected", zap.Error(err))
				return
			}
			log.Info("NATS disconnected")
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("NATS reconnected", zap.String("nats.server", RedactURL(nc.ConnectedUrl())))
		}),
		nats.ClosedHandler(func(*nats.Conn) {
			log.Info("NATS connection closed")
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			fields := []zap.Field{zap.Error(err)}
			if sub != nil {
				fields = append(fields, zap.String("nats.subject", sub.Subject))
			}
			log.Warn("NATS asynchronous error", fields...)
		}),
	}

	if creds.CAFile != "" {
		opts = append(opts, nats.RootCAs(creds.CAFile))
		log = log.With(zap.String("nats.ca_file", creds.CAFile))
	}
	if creds.Inbox != "" {
		opts = append(opts, nats.CustomInboxPrefix(creds.Inbox))
	}
	if creds.NkeyFile != "" {
		opt, err := nats.NkeyOptionFromSeed(creds.NkeyFile)
		if err != nil {
			return nil, fmt.Errorf("natsx: nkey seed in %s: %w", creds.NkeyFile, err)
		}
		opts = append(opts, opt)
		log = log.With(zap.String("nats.nkey_file", creds.NkeyFile))
	}

	for attempt := 1; ; attempt++ {
		nc, err := nats.Connect(rawURL, opts...)
		if err == nil {
			log.Info("NATS connected", zap.String("nats.server", RedactURL(nc.ConnectedUrl())))
			return nc, nil
		}
		// A malformed URL is permanent, and url.Error quotes the URL with
		// its credentials, so it is neither retried nor passed on.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			return nil, fmt.Errorf("natsx: invalid NATS URL %s", safeURL)
		}
		log.Warn("NATS connect failed; retrying", zap.Int("attempt", attempt), zap.Error(err))
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("natsx: connect to %s: %w (last error: %w)", safeURL, ctx.Err(), err)
		case <-time.After(connectRetryWait):
		}
	}
}

// RedactURL returns the NATS URL(s) without user information, which may hold
// a password or a token ("nats://token@host"). Unparsable parts become
// "<invalid url>" rather than being echoed.
func RedactURL(rawURL string) string {
	parts := strings.Split(rawURL, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		// nats.go accepts "host:port" and "user:pass@host"; without a scheme,
		// url.Parse would read "user" as the scheme and keep the password.
		if !strings.Contains(p, "://") {
			p = "nats://" + p
		}
		// Drop the user information as text first: a token holding '/', '?' or '#'
		// (base64 does) would otherwise be parsed as the host and path, and echoed.
		if at := strings.LastIndex(p, "@"); at >= 0 {
			p = p[:strings.Index(p, "://")+3] + p[at+1:]
		}
		u, err := url.Parse(p)
		if err != nil {
			parts[i] = "<invalid url>"
			continue
		}
		u.User = nil
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}

// EnsureStream creates the JetStream stream described by cfg, or updates it
// to cfg if it exists, so a deploy converges the stream to what the code
// declares. Changes NATS refuses to apply (e.g. a different storage type) are
// returned as errors naming the stream.
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	if cfg.Name == "" {
		return nil, errors.New("natsx: ensure stream: StreamConfig.Name is empty")
	}
	s, err := js.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		hint := ""
		switch {
		case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
			hint = " (start nats-server with JetStream enabled: -js)"
		case errors.Is(err, jetstream.ErrStreamNameAlreadyInUse):
			hint = " (stream exists with an incompatible configuration)"
		}
		return nil, fmt.Errorf("natsx: ensure stream %q on subjects %v: %w%s", cfg.Name, cfg.Subjects, err, hint)
	}
	return s, nil
}

// Incarnation identifies one incarnation of a JetStream stream created at created (its
// StreamInfo.Created): its creation time in Unix nanoseconds, 0 when unknown. A stream
// deleted and created again under the same name numbers its messages from 1 again, so a
// position saved in one incarnation means nothing in the next; readers that keep
// positions keep the incarnation with them.
func Incarnation(created time.Time) int64 {
	if created.IsZero() {
		return 0
	}
	return created.UnixNano()
}
