// Command gateway runs the Guarantor gateway, the one authenticated door to the
// services.
//
//	gateway [serve] [flags]                 serve until SIGINT or SIGTERM
//	gateway hash-key [--id ID] [--role R] [--entitlements a,b]
//	                                        make a new API key and print its keys-file entry
//
// Every flag can also be set through the environment: --keys-file as
// GUARANTOR_KEYS_FILE. `gateway --help` lists them with their defaults.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"go.uber.org/zap"

	"github.com/guarantor/guarantor/platform/config"
	"github.com/guarantor/guarantor/platform/grpcserver"
	"github.com/guarantor/guarantor/platform/logging"
	"github.com/guarantor/guarantor/services/gateway"
	"github.com/guarantor/guarantor/services/gateway/internal/auth"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "hash-key" {
		return hashKey(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "serve" {
		args = args[1:]
	}
	fs := config.NewFlagSet("gateway", config.DefaultEnvPrefix)
	fs.SetOutput(stderr)
	cfgFn := gateway.RegisterFlags(fs)
	logCfg := logging.RegisterFlags(fs, logging.Config{})
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, "usage: gateway [serve|hash-key] [flags]\n\nflags (each also read from the environment variable shown):")
			fs.PrintUsage(stdout)
			return 0
		}
		fmt.Fprintf(stderr, "gateway: %v\n", err)
		return 2
	}
	log, err := logging.New(*logCfg)
	if err != nil {
		fmt.Fprintf(stderr, "gateway: %v\n", err)
		return 2
	}
	defer func() { _ = log.Sync() }()
	ctx, stop := grpcserver.SignalContext()
	defer stop()
	cfg := cfgFn()
	g, err := gateway.New(ctx, cfg, log)
	if err == nil {
		log.Info("serving", zap.String("listen", cfg.GRPC.Listen), zap.String("http_listen", cfg.HTTPListen), zap.String("metrics", cfg.GRPC.MetricsListen))
		err = g.Run(ctx)
		g.Close()
	}
	if err != nil {
		log.Error("exiting", zap.Error(err))
		fmt.Fprintf(stderr, "gateway: %v\n", err)
		return 1
	}
	return 0
}

// hashKey makes a new API key and prints it once, with the entry to add to the keys
// file (which holds only the hash).
func hashKey(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gateway hash-key", flag.ContinueOnError)
	fs.SetOutput(stderr)
	id := fs.String("id", "new-key", "the key holder's id (the principal is key:<id>)")
	role := fs.String("role", "viewer", "viewer, editor or admin")
	ents := fs.String("entitlements", "", "comma-separated entitlements, e.g. acled")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if !auth.ValidRole(*role) {
		fmt.Fprintf(stderr, "gateway hash-key: role %q must be viewer, editor or admin\n", *role)
		return 2
	}
	key, hash, err := auth.NewKey()
	if err != nil {
		fmt.Fprintf(stderr, "gateway hash-key: %v\n", err)
		return 1
	}
	entry := auth.KeyEntry{ID: *id, SHA256: hash, Role: *role}
	for _, e := range strings.Split(*ents, ",") {
		if e = strings.TrimSpace(e); e != "" {
			entry.Entitlements = append(entry.Entitlements, e)
		}
	}
	line, err := json.Marshal(entry)
	if err != nil {
		fmt.Fprintf(stderr, "gateway hash-key: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "key:    %s\nsha256: %s\nentry:  %s\n", key, hash, line)
	fmt.Fprintln(stderr, "Give the key to its holder now: only its hash goes into the keys file.")
	return 0
}
