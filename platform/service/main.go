package service

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/guarantor/guarantor/platform/changelog"
	"github.com/guarantor/guarantor/platform/config"
	"github.com/guarantor/guarantor/platform/grpcserver"
	"github.com/guarantor/guarantor/platform/logging"
	"github.com/guarantor/guarantor/platform/natsx"
	"github.com/guarantor/guarantor/platform/outbox"
	"github.com/guarantor/guarantor/platform/retention"
	"github.com/guarantor/guarantor/platform/sqldb"
)

// Runner is a service assembled by a MainSpec.New.
type Runner interface {
	Run(ctx context.Context) error
	Close()
}

// MainSpec is what a service's main contributes.
type MainSpec struct {
	Name     string
	Defaults Config
	Subjects []string
	Migrate  func(ctx context.Context, db *sqldb.DB) error
	New      func(ctx context.Context, cfg Config, log *zap.Logger) (Runner, error)
	// Flags, when set, registers the flags only this service has, besides the common
	// ones, and returns the New to use once they are parsed (it closes over their
	// values); it then replaces New.
	Flags func(fs *config.FlagSet) func(ctx context.Context, cfg Config, log *zap.Logger) (Runner, error)
}

// Flags builds the service's flag set (also used by tests that check deployment
// manifests against the flags the binaries accept).
func Flags(spec MainSpec) (*config.FlagSet, func() Config, *logging.Config) {
	fs, cfg, logCfg, _ := flags(spec)
	return fs, cfg, logCfg
}

// flags is Flags plus the New that the service's own flags (if any) feed.
func flags(spec MainSpec) (*config.FlagSet, func() Config, *logging.Config, func(context.Context, Config, *zap.Logger) (Runner, error)) {
	fs := config.NewFlagSet(spec.Name, "GUARANTOR_")
	cfg := RegisterFlags(fs, spec.Defaults)
	newFn := spec.New
	if spec.Flags != nil {
		newFn = spec.Flags(fs)
	}
	logCfg := logging.RegisterFlags(fs, logging.Config{})
	return fs, cfg, logCfg, newFn
}

// commands are Main's subcommands; the first serves.
var commands = []string{"serve", "migrate", "redrive", "compact", "backup"}

// usage is the first line of --help.
const usage = "usage: %[1]s [serve|migrate|redrive|compact] [flags]\n       %[1]s backup [flags] FILE\n"

// Main runs a service binary: `NAME [flags]` serves until SIGINT/SIGTERM; `NAME redrive
// [flags]` re-publishes the change log to the stream after JetStream lost data; `NAME
// compact [flags]` applies the retention flags once; `NAME backup [flags] FILE` copies a
// SQLite store while it is in use. It returns the process exit code.
func Main(args []string, stdout, stderr io.Writer, spec MainSpec) int {
	cmd := "serve"
	if len(args) > 0 && slices.Contains(commands, args[0]) {
		cmd, args = args[0], args[1:]
	}
	fs, cfgFn, logCfg, newFn := flags(spec)
	spec.New = newFn
	// The usage is printed here, once: to stdout for --help, a short hint for mistakes.
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, usage+"\nflags (each also read from the environment variable shown):\n", spec.Name)
			fs.PrintUsage(stdout)
			return 0
		}
		fmt.Fprintf(stderr, "%s: %v (see %s --help)\n", spec.Name, err, spec.Name)
		return 2
	}
	wantArgs := 0
	if cmd == "backup" {
		wantArgs = 1
	}
	if rest := fs.Args(); len(rest) != wantArgs {
		msg := "backup needs the file to write: " + spec.Name + " backup [flags] FILE"
		if len(rest) > wantArgs {
			msg = fmt.Sprintf("unexpected argument %q", rest[wantArgs])
		}
		fmt.Fprintf(stderr, "%s: %s (see %s --help)\n", spec.Name, msg, spec.Name)
		return 2
	}
	log, err := logging.New(*logCfg)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", spec.Name, err)
		return 2
	}
	defer func() { _ = log.Sync() }()
	ctx, stop := grpcserver.SignalContext()
	defer stop()
	cfg := cfgFn()
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "%s: %v (see %s --help)\n", spec.Name, err, spec.Name)
		return 2
	}
	switch cmd {
	case "migrate":
		err = migrateOnly(ctx, cfg, spec, log)
	case "redrive":
		var n int
		n, err = redrive(ctx, cfg, spec, log)
		if err == nil {
			fmt.Fprintf(stdout, "re-published %d changes to stream %s\n", n, cfg.Stream)
		}
	case "compact":
		err = compact(ctx, cfg, spec, stdout, log)
	case "backup":
		err = backup(ctx, cfg, fs.Args()[0], stdout, log)
	default:
		err = serve(ctx, cfg, spec, log)
	}
	if err != nil {
		log.Error("exiting", zap.Error(err))
		fmt.Fprintf(stderr, "%s: %v\n", spec.Name, err)
		return 1
	}
	return 0
}

func serve(ctx context.Context, cfg Config, spec MainSpec, log *zap.Logger) error {
	r, err := spec.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer r.Close()
	log.Info("serving", zap.String("listen", cfg.GRPC.Listen), zap.String("metrics", cfg.GRPC.MetricsListen))
	return r.Run(ctx)
}

// openDB opens the configured store with open (sqldb.Open or sqldb.OpenExisting) and
// the schema policy of the flags.
func openDB(ctx context.Context, cfg Config, log *zap.Logger, open func(context.Context, string, *zap.Logger) (*sqldb.DB, error)) (*sqldb.DB, error) {
	db, err := open(ctx, cfg.StoreDSN, log)
	if err != nil {
		return nil, err
	}
	db.AllowNewerSchema = cfg.AllowNewerSchema
	return db, nil
}

func migrateOnly(ctx context.Context, cfg Config, spec MainSpec, log *zap.Logger) error {
	db, err := openDB(ctx, cfg, log, sqldb.Open)
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()
	return spec.Migrate(ctx, db)
}

func redrive(ctx context.Context, cfg Config, spec MainSpec, log *zap.Logger) (int, error) {
	db, err := openDB(ctx, cfg, log, sqldb.OpenExisting)
	if err != nil {
		return 0, err
	}
	defer func() { _ = db.Close() }()
	nc, err := natsx.Connect(ctx, cfg.NATSURL, cfg.natsCredentials(spec.Name), "guarantor-"+spec.Name+"-redrive", log)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, err
	}
	// Only once no relay runs: a refused redrive must not migrate the schema under a
	// running (older) service, nor replace its stream's configuration with this
	// command's flags.
	return outbox.RedriveAfter(ctx, db, js, cfg.Stream, log, func(ctx context.Context) error {
		if err := spec.Migrate(ctx, db); err != nil {
			return err
		}
		_, err := outbox.EnsureStream(ctx, js, streamConfig(cfg, spec.Subjects))
		return err
	})
}

// compact applies the retention policy once, reporting progress on stdout: what the
// running services do every --retention-interval, for an operator who wants it now (the
// first compaction of a long history, say) or runs the services without it.
func compact(ctx context.Context, cfg Config, spec MainSpec, stdout io.Writer, log *zap.Logger) error {
	p := cfg.Retention
	if !p.Enabled() {
		fmt.Fprintln(stdout, "nothing to do: --request-id-retention and --history-retention are both 0 (keep everything)")
		return nil
	}
	db, err := openDB(ctx, cfg, log, sqldb.OpenExisting)
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()
	if err := spec.Migrate(ctx, db); err != nil {
		return err
	}
	// Changes the relay has not published yet stay, even when it never ran.
	if err := outbox.EnsureCursor(ctx, db, cfg.Stream); err != nil {
		return err
	}
	if p.History == 0 {
		fmt.Fprintln(stdout, "history: kept whole (--history-retention=0)")
	}
	var last time.Time
	progress := func(pr changelog.CompactProgress) {
		// A line a second at most: a first compaction can run through millions of entries.
		if now := time.Now(); now.Sub(last) >= time.Second || pr.Done >= pr.Cut {
			last = now
			fmt.Fprintf(stdout, "history: compacted through seq %d of %d, %d changes deleted\n", pr.Done, pr.Cut, pr.Deleted)
		}
	}
	now := time.Now()
	res, err := retention.Pass(ctx, db, p, now, progress)
	if p.RequestIDs > 0 {
		fmt.Fprintf(stdout, "request ids: deleted %d answers older than %s\n", res.RequestIDs, p.RequestIDs)
	}
	if err != nil {
		return err
	}
	if p.History > 0 {
		fmt.Fprintf(stdout, "history: deleted %d changes superseded before %s\n", res.Changes, now.Add(-p.History).UTC().Format(time.RFC3339))
	}
	return nil
}

// backup writes a copy of a SQLite store to path while the service goes on (see
// sqldb.Backup), reporting progress on stdout.
func backup(ctx context.Context, cfg Config, path string, stdout io.Writer, log *zap.Logger) error {
	db, err := openDB(ctx, cfg, log, sqldb.OpenExisting)
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()
	info, err := db.Backup(ctx, path, func(p sqldb.BackupProgress) { fmt.Fprintln(stdout, p) })
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, info)
	return nil
}

// Exit runs Main with the process's arguments and exits with its code.
func Exit(spec MainSpec) {
	os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr, spec))
}
