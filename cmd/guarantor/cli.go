package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/guarantor/guarantor/cmd/guarantor/internal/devstack"
	"github.com/guarantor/guarantor/platform/grpcserver"
	"github.com/guarantor/guarantor/platform/logging"
)

// Exit codes, so scripts can tell failures apart.
const (
	exitOK           = 0
	exitError        = 1 // anything else
	exitUsage        = 2 // bad command line or invalid argument
	exitNotFound     = 3
	exitDenied       = 4 // unauthenticated or permission denied
	exitConflict     = 5 // already exists, aborted (etag), failed precondition
	exitUnavailable  = 6 // server unreachable, deadline exceeded, rate limited
	defaultServer    = "127.0.0.1:9090"
	defaultTimeout   = 30 * time.Second
	envServer        = "GUARANTOR_SERVER"
	envToken         = "GUARANTOR_TOKEN"
	devTokenFileName = "admin.token"
)

// app holds the global flags and the connection they describe.
type app struct {
	server   string
	token    string
	output   string
	asOf     string
	timeout  time.Duration
	tls      bool
	caFile   string
	devData  string
	stdout   io.Writer
	stderr   io.Writer
	conn     *grpc.ClientConn
	tokenSrc string
	// tokenResolved is set once resolveToken has looked for the token.
	tokenResolved bool
}

// run executes the command line and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr}
	root := a.newRoot()
	root.SetArgs(args)
	err := root.Execute()
	if a.conn != nil {
		_ = a.conn.Close()
	}
	if err == nil {
		return exitOK
	}
	return a.report(err)
}

// report prints an error the way a person wants to read it and picks the exit code.
func (a *app) report(err error) int {
	var usage usageError
	if errors.As(err, &usage) || isArgsError(err) {
		fmt.Fprintln(a.stderr, "guarantor:", err)
		return exitUsage
	}
	st, ok := status.FromError(err)
	if !ok {
		fmt.Fprintln(a.stderr, "guarantor:", err)
		return exitError
	}
	fmt.Fprintf(a.stderr, "guarantor: %s: %s\n", codeWords(st.Code()), st.Message())
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				fmt.Fprintf(a.stderr, "  %s: %s\n", v.GetField(), v.GetDescription())
			}
		case *errdetails.RetryInfo:
			fmt.Fprintf(a.stderr, "  retry after %s\n", d.GetRetryDelay().AsDuration())
		}
	}
	switch st.Code() {
	case codes.InvalidArgument, codes.OutOfRange:
		return exitUsage
	case codes.NotFound:
		return exitNotFound
	case codes.Unauthenticated, codes.PermissionDenied:
		if a.token == "" {
			fmt.Fprintf(a.stderr, "  no token given: use --token, %s, or run against `guarantor dev` (token in %s)\n", envToken, filepath.Join(a.devData, devTokenFileName))
		}
		return exitDenied
	case codes.AlreadyExists, codes.Aborted, codes.FailedPrecondition:
		return exitConflict
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted:
		return exitUnavailable
	}
	return exitError
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

func (a *app) newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "guarantor",
		Short: "Track multilateral security guarantees and the events around them",
		Long: `guarantor talks to a Guarantor gateway (default 127.0.0.1:9090), or runs the whole
suite locally with 'guarantor dev'.

Exit codes: 0 ok, 1 error, 2 invalid arguments, 3 not found, 4 not allowed,
5 conflict (exists, changed meanwhile, precondition), 6 unavailable or rate limited.`,
		Example: `  guarantor dev                                  # the whole suite, seeded, on embedded NATS and SQLite
  guarantor coverage                             # who leads and contributes, per domain and capability
  guarantor events get events/paris-meeting
  guarantor guarantees history guarantees/us-ceasefire-monitoring
  guarantor watch`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err.Error()} })
	f := root.PersistentFlags()
	f.StringVar(&a.server, "server", envOr(envServer, defaultServer), "gateway address (also "+envServer+")")
	f.StringVar(&a.token, "token", "", "API key (also "+envToken+"; against the dev stack, its admin token is used)")
	f.StringVarP(&a.output, "output", "o", "table", "output format: table, json or yaml")
	f.StringVar(&a.asOf, "as-of", "", "read the state as of this time (RFC 3339 or YYYY-MM-DD), where a command supports it")
	f.DurationVar(&a.timeout, "timeout", defaultTimeout, "deadline of each call")
	f.BoolVar(&a.tls, "tls", false, "use TLS to reach the gateway")
	f.StringVar(&a.caFile, "ca-file", "", "CA certificate to verify the gateway with (implies --tls)")
	f.StringVar(&a.devData, "dev-data-dir", devstack.Defaults.DataDir, "data directory of a local 'guarantor dev', for its admin token")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		switch a.output {
		case "table", "json", "yaml":
		default:
			return usagef("--output must be table, json or yaml, not %q", a.output)
		}
		if a.asOf != "" && cmd.Annotations[readsThePast] == "" {
			return usagef("--as-of: %s shows the present only (get and coverage read the past)", cmd.CommandPath())
		}
		return nil
	}
	root.AddCommand(a.newDev(), a.newEvents(), a.newActors(), a.newFrameworks(), a.newGuarantees(),
		a.newCoverage(), a.newDossier(), a.newWatch(), a.newExport(), a.newImport(), a.newBackup())
	return root
}

// readsThePast annotates the commands that honour --as-of; the others refuse it rather
// than answer with the present as if it were the past.
const readsThePast = "guarantor/as-of"

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// resolveToken picks the API key: the flag, then the environment, then the dev stack's
// admin token when talking to the dev stack's default address.
func (a *app) resolveToken() {
	if a.tokenResolved {
		return
	}
	a.tokenResolved = true
	if a.token != "" {
		a.tokenSrc = "--token"
		return
	}
	if v := os.Getenv(envToken); v != "" {
		a.token, a.tokenSrc = v, envToken
		return
	}
	if a.server == defaultServer {
		if b, err := os.ReadFile(filepath.Join(a.devData, devTokenFileName)); err == nil {
			a.token, a.tokenSrc = strings.TrimSpace(string(b)), "dev token file"
		}
	}
}

// dial connects to the gateway once per command.
func (a *app) dial() (*grpc.ClientConn, error) {
	if a.conn != nil {
		return a.conn, nil
	}
	a.resolveToken()
	creds := insecure.NewCredentials()
	if a.tls || a.caFile != "" {
		var err error
		if a.caFile != "" {
			creds, err = credentials.NewClientTLSFromFile(a.caFile, "")
			if err != nil {
				return nil, usagef("--ca-file: %v", err)
			}
		} else {
			creds = credentials.NewClientTLSFromCert(nil, "")
		}
	}
	conn, err := grpc.NewClient(a.server, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, usagef("--server %q: %v", a.server, err)
	}
	a.conn = conn
	return conn, nil
}

// ctx returns a call context with the deadline and the bearer token.
func (a *app) ctx(parent context.Context, stream bool) (context.Context, context.CancelFunc) {
	// The token may come from the environment or the dev token file: resolved here too,
	// so a call context made before the connection still carries it.
	a.resolveToken()
	ctx, cancel := parent, context.CancelFunc(func() {})
	if !stream {
		ctx, cancel = context.WithTimeout(parent, a.timeout)
	}
	if a.token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+a.token)
	}
	return ctx, cancel
}

// readTime parses --as-of.
func (a *app) readTime() (*timestamppb.Timestamp, error) {
	if a.asOf == "" {
		return nil, nil
	}
	t, err := parseTime(a.asOf)
	if err != nil {
		return nil, usagef("--as-of: %v", err)
	}
	return timestamppb.New(t), nil
}

func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time: use RFC 3339 (2026-01-06T12:00:00Z) or a date (2026-01-06)", s)
}

func (a *app) newDev() *cobra.Command {
	cfg := devstack.Defaults
	var logLevel string
	var startTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the whole suite locally on embedded NATS and SQLite, seeded with the Paris case",
		Long: `Starts an embedded NATS server with JetStream, the events and guarantees services and
the gateway in one process, each on its own listener, with data under --data-dir. The
first start loads the Paris seed dataset and writes an admin API key to
<data-dir>/admin.token, which the other guarantor commands pick up. Ctrl-C stops it.`,
		Example: `  guarantor dev
  guarantor dev --data-dir /tmp/guarantor --nats-listen 127.0.0.1:14333
  guarantor dev --nats-url nats://127.0.0.1:4222 --postgres-url postgres://postgres@127.0.0.1:5432/postgres
  guarantor dev --nats-url tls://nats.example.org:4222 --nats-nkey-file dev.nk --nats-ca-file ca.crt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cfg.Validate(); err != nil {
				return usagef("%v", err)
			}
			if startTimeout <= 0 {
				return usagef("--start-timeout must be positive, not %s", startTimeout)
			}
			log, err := logging.New(logging.Config{Level: logLevel, Format: "console"})
			if err != nil {
				return usagef("%v", err)
			}
			defer func() { _ = log.Sync() }()
			ctx, stop := grpcserver.SignalContext()
			defer stop()
			// The components retry a server that does not answer or refuses them (in a
			// cluster a key may be mounted late); at a terminal, say why and stop.
			startCtx, started := context.WithTimeout(ctx, startTimeout)
			stack, err := devstack.Start(startCtx, cfg, log)
			timedOut := errors.Is(startCtx.Err(), context.DeadlineExceeded)
			started()
			if err != nil {
				if timedOut {
					return fmt.Errorf("the dev stack did not start within --start-timeout %s: %w", startTimeout, err)
				}
				return fmt.Errorf("the dev stack did not start: %w", err)
			}
			if err := stack.Run(ctx, func() { stack.PrintWelcome(a.stdout) }); err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory for databases, NATS storage and the dev keys")
	f.StringVar(&cfg.NATSListen, "nats-listen", cfg.NATSListen, "embedded NATS client address")
	f.StringVar(&cfg.NATSURL, "nats-url", "", "use this NATS server instead of the embedded one")
	f.StringVar(&cfg.NATSAuth.NkeyFile, "nats-nkey-file", "", "with --nats-url: file holding the NATS user nkey seed every component signs in with")
	f.StringVar(&cfg.NATSAuth.CAFile, "nats-ca-file", "", "with --nats-url: CA bundle (PEM) the NATS server's certificate is checked against; set, the connections use TLS")
	f.StringVar(&cfg.PostgresURL, "postgres-url", "", "use this PostgreSQL server (one database per service) instead of SQLite")
	f.StringVar(&cfg.PostgresDBPrefix, "postgres-db-prefix", cfg.PostgresDBPrefix, "with --postgres-url: the services' databases are <prefix>events and <prefix>guarantees (created when missing)")
	f.StringVar(&cfg.EventsListen, "events-listen", cfg.EventsListen, "events service gRPC address")
	f.StringVar(&cfg.GuaranteesListen, "guarantees-listen", cfg.GuaranteesListen, "guarantees service gRPC address")
	f.StringVar(&cfg.GatewayListen, "gateway-listen", cfg.GatewayListen, "gateway gRPC address")
	f.StringVar(&cfg.GatewayHTTP, "gateway-http-listen", cfg.GatewayHTTP, "gateway HTTP/JSON address")
	f.StringVar(&logLevel, "log-level", "warn", "log level: debug, info, warn or error")
	f.BoolVar(&cfg.SkipSeed, "no-seed", false, "do not load the Paris seed dataset on first start (later starts of the data directory do not load it either)")
	f.BoolVar(&cfg.AllowNewerSchema, "allow-newer-schema", false, "start on a data directory a newer guarantor migrated (refused otherwise: back it up first)")
	f.DurationVar(&startTimeout, "start-timeout", time.Minute, "give up when the components cannot reach NATS or PostgreSQL within this time")
	f.StringVar(&cfg.OTLPEndpoint, "otlp-endpoint", "", "send every span of every component to this OpenTelemetry collector (OTLP/gRPC host:port, plaintext), e.g. a local Jaeger's 127.0.0.1:4317")
	return cmd
}

// codeWords spells a status code for people: FailedPrecondition -> "failed precondition".
func codeWords(c codes.Code) string {
	var b strings.Builder
	for i, r := range c.String() {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return strings.ToLower(b.String())
}

// isArgsError recognises cobra's own command-line errors (wrong argument count, unknown
// command), which it returns as plain errors.
func isArgsError(err error) bool {
	msg := err.Error()
	for _, prefix := range []string{"accepts ", "requires ", "unknown command", "unknown flag", "unknown shorthand"} {
		if strings.HasPrefix(msg, prefix) {
			return true
		}
	}
	return false
}
