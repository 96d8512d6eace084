package service_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/guarantor/guarantor/platform/changelog"
	"github.com/guarantor/guarantor/platform/idempotency"
	"github.com/guarantor/guarantor/platform/retention"
	"github.com/guarantor/guarantor/platform/service"
	"github.com/guarantor/guarantor/platform/sqldb"
	"github.com/guarantor/guarantor/platform/tracing"
)

// mainStore makes a store with the platform's tables in dir, and the spec of a service
// binary whose --store is that store.
func mainStore(t *testing.T, dir string) (service.MainSpec, *sqldb.DB) {
	t.Helper()
	dsn := "sqlite://" + filepath.Join(dir, "s.db")
	db, err := sqldb.Open(context.Background(), dsn, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := sqldb.MigratePlatform(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	return service.MainSpec{Name: "test", Defaults: service.Config{StoreDSN: dsn}, Migrate: sqldb.MigratePlatform}, db
}

// appendChange appends a change of resource name to the log in tx.
func appendChange(ctx context.Context, tx *sql.Tx, db *sqldb.DB, name string) error {
	_, err := changelog.Append(ctx, tx, db, changelog.Record{
		IDPrefix: "test", ResourceName: name, Collection: "events", Kind: "updated", Subject: "guarantor.test.v1.updated",
		Encode: func(int64, string, time.Time) ([]byte, error) { return []byte("x"), nil },
	})
	return err
}

// TestMainCompact runs `NAME compact` on a database whose history and request ids are two
// hours old: it applies the retention flags once and says what it did.
func TestMainCompact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	spec, db := mainStore(t, t.TempDir())
	err := db.InTx(ctx, func(tx *sql.Tx) error {
		for i, name := range []string{"events/a", "events/a", "events/b", "events/a"} {
			if err := appendChange(ctx, tx, db, name); err != nil {
				return err
			}
			rec := idempotency.Record{Principal: "user:a", RequestID: fmt.Sprint(i), Method: "M", CreatedAt: time.Now().Add(-2 * time.Hour)}
			if err := idempotency.Save(ctx, tx, db, rec); err != nil {
				return err
			}
		}
		// Two hours ago, in the same order.
		_, err := tx.ExecContext(ctx, "UPDATE changes SET time = time - ?", int64(2*time.Hour))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name      string
		published int64 // when set, the relay's cursor is moved there first
		args      []string
		wantCode  int
		want      []string // lines (or parts) of stdout, or of stderr when wantCode != 0
	}{
		{"everything kept", 0, []string{"--request-id-retention=0"}, 0, []string{"nothing to do"}},
		{"bad retention", 0, []string{"--history-retention=-1h"}, 2, []string{"history retention -1h0m0s is negative"}},
		{"bad stream max age", 0, []string{"--stream-max-age=1h"}, 2, []string{"stream max age 1h0m0s: want 0"}},
		{"request ids only", 0, []string{"--request-id-retention=3h"}, 0, []string{
			"history: kept whole (--history-retention=0)",
			"request ids: deleted 0 answers older than 3h0m0s",
		}},
		// No relay has published anything yet: the stream still needs every change.
		{"history not yet published", 0, []string{"--history-retention=1h"}, 0, []string{
			"history: deleted 0 changes superseded before ",
		}},
		{"both", 4, []string{"--request-id-retention=1h", "--history-retention=1h"}, 0, []string{
			"history: compacted through seq 4 of 4, 2 changes deleted",
			"request ids: deleted 4 answers older than 1h0m0s",
			"history: deleted 2 changes superseded before ",
		}},
	}
	for _, tt := range tests {
		if tt.published > 0 {
			if _, err := db.ExecContext(ctx, "UPDATE outbox_cursor SET last_seq = ?", tt.published); err != nil {
				t.Fatal(err)
			}
		}
		var stdout, stderr bytes.Buffer
		code := service.Main(append([]string{"compact", "--log-level=error"}, tt.args...), &stdout, &stderr, spec)
		out := stdout.String()
		if code != 0 {
			out = stderr.String()
		}
		if code != tt.wantCode {
			t.Fatalf("%s: exit %d, want %d; stdout %q, stderr %q", tt.name, code, tt.wantCode, stdout.String(), stderr.String())
		}
		for _, w := range tt.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: output %q lacks %q", tt.name, out, w)
			}
		}
	}
	all, err := changelog.Since(ctx, db, 0, 0)
	if err != nil || len(all) != 2 || all[0].Seq != 3 || all[1].Seq != 4 {
		t.Fatalf("left in the log: %d entries (%v); want seqs 3 and 4", len(all), err)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     service.Config
		wantErr string
	}{
		{"defaults", service.Config{}, ""},
		{"a month", service.Config{StreamMaxAge: 30 * 24 * time.Hour}, ""},
		{"the duplicates window", service.Config{StreamMaxAge: 2 * time.Hour}, ""},
		{"shorter than the duplicates window", service.Config{StreamMaxAge: time.Hour}, "stream max age 1h0m0s: want 0 (keep every change) or at least 2h0m0s"},
		{"negative", service.Config{StreamMaxAge: -time.Hour}, "want 0"},
		{"bad retention", service.Config{Retention: retention.Policy{History: time.Second}}, "shorter than a minute"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: Validate() = %v, want %q", tt.name, err, tt.wantErr)
		}
	}
}

// TestMainBackup runs `NAME backup FILE` against a store: it writes a checked copy and
// says what it holds, and refuses what would lose or invent data.
func TestMainBackup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	spec, db := mainStore(t, dir)
	err := db.InTx(ctx, func(tx *sql.Tx) error {
		for _, name := range []string{"events/a", "events/b", "events/a"} {
			if err := appendChange(ctx, tx, db, name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	to := filepath.Join(dir, "backup.db")
	missing := "sqlite://" + filepath.Join(dir, "nothing.db")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string // part of stdout, or of stderr when wantCode != 0
	}{
		{"backup", []string{"backup", to}, 0, "backed up to " + to + ": "},
		{"says how far the log goes", []string{"backup", filepath.Join(dir, "b2.db")}, 0, "change log through seq 3 ("},
		{"never over a file", []string{"backup", to}, 1, "already exists"},
		{"no file named", []string{"backup"}, 2, "backup needs the file to write: test backup [flags] FILE"},
		{"two files", []string{"backup", to, "x"}, 2, `unexpected argument "x"`},
		{"no store", []string{"backup", "--store=" + missing, filepath.Join(dir, "b3.db")}, 1, "no database at " + filepath.Join(dir, "nothing.db")},
		{"other commands take no argument", []string{"compact", "extra"}, 2, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		args := append([]string{tt.args[0], "--log-level=error"}, tt.args[1:]...)
		code := service.Main(args, &stdout, &stderr, spec)
		out := stdout.String()
		if code != 0 {
			out = stderr.String()
		}
		if code != tt.wantCode || !strings.Contains(out, tt.want) {
			t.Errorf("%s: exit %d, want %d; output %q, want it to contain %q", tt.name, code, tt.wantCode, out, tt.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "nothing.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a backup of a missing store created it: %v", err)
	}
	// The copy is a database the service can run on, with the same log.
	cp, err := sqldb.Open(ctx, "sqlite://"+to, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cp.Close() }()
	all, err := changelog.Since(ctx, cp, 0, 0)
	if err != nil || len(all) != 3 || all[2].ResourceName != "events/a" {
		t.Fatalf("the copy's log: %d entries (%v), want 3", len(all), err)
	}
}

// TestFlagsReachTheConfig: the NATS credential flags (and their variables) end up in
// the configuration the service is built from.
func TestFlagsReachTheConfig(t *testing.T) {
	t.Parallel()
	fs, cfgFn, _ := service.Flags(service.MainSpec{Name: "test", Defaults: service.Config{Tracing: tracing.Defaults}})
	// GUARANTOR_PRINCIPAL_ACCEPT_KEY_FILE as docs/operations.md ("Rotate API keys") sets it.
	env := map[string]string{"GUARANTOR_NATS_CA_FILE": "/tls/ca.crt", "GUARANTOR_PRINCIPAL_ACCEPT_KEY_FILE": "/principal/accept.key"}
	err := fs.ParseWithEnv([]string{"--nats-nkey-file=/nats/nkey.seed", "--max-connection-age=3m", "--otlp-endpoint=otel:4317"},
		func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	cfg := cfgFn()
	if cfg.NATSAuth.NkeyFile != "/nats/nkey.seed" || cfg.NATSAuth.CAFile != "/tls/ca.crt" || cfg.GRPC.MaxConnectionAge != 3*time.Minute {
		t.Errorf("NATS credentials %+v, max connection age %s", cfg.NATSAuth, cfg.GRPC.MaxConnectionAge)
	}
	if cfg.PrincipalAcceptKeyFile != "/principal/accept.key" {
		t.Errorf("principal accept key file %q", cfg.PrincipalAcceptKeyFile)
	}
	// The spec's defaults reach the flags; the command line the rest.
	if cfg.Tracing.Endpoint != "otel:4317" || cfg.Tracing.SampleRatio != tracing.Defaults.SampleRatio {
		t.Errorf("tracing %+v", cfg.Tracing)
	}
}

// TestMainRefusesANewerSchema: after a newer release migrated the database, the older
// binary's commands refuse it (exit 1, saying why and what to do) unless
// --allow-newer-schema says the operator checked that the rollback is safe.
func TestMainRefusesANewerSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	spec, db := mainStore(t, t.TempDir())
	// What a release with a third platform migration leaves behind.
	if _, err := db.ExecContext(ctx, "INSERT INTO "+sqldb.PlatformMigrationsTable+" (version_id, is_applied) VALUES (99, 1)"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args     []string
		wantCode int
		want     string
	}{
		{[]string{"migrate"}, 1, "the database's schema is at version 99, newer than this binary's"},
		{[]string{"compact", "--request-id-retention=1h"}, 1, "--allow-newer-schema"},
		{[]string{"migrate", "--allow-newer-schema"}, 0, ""},
		{[]string{"compact", "--request-id-retention=1h", "--allow-newer-schema"}, 0, "request ids: deleted 0"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		code := service.Main(append(tt.args, "--log-level=error"), &stdout, &stderr, spec)
		out := stdout.String() + stderr.String()
		if code != tt.wantCode || !strings.Contains(out, tt.want) {
			t.Errorf("%v: exit %d, want %d with %q; output:\n%s", tt.args, code, tt.wantCode, tt.want, out)
		}
	}
}
