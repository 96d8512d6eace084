package service_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
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
)

// TestMainCompact runs `NAME compact` on a database whose history and request ids are two
// hours old: it applies the retention flags once and says what it did.
func TestMainCompact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := "sqlite://" + filepath.Join(t.TempDir(), "s.db")
	spec := service.MainSpec{Name: "test", Defaults: service.Config{StoreDSN: dsn}, Migrate: sqldb.MigratePlatform}
	db, err := sqldb.Open(ctx, dsn, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	if err := sqldb.MigratePlatform(ctx, db); err != nil {
		t.Fatal(err)
	}
	err = db.InTx(ctx, func(tx *sql.Tx) error {
		for i, name := range []string{"events/a", "events/a", "events/b", "events/a"} {
			_, err := changelog.Append(ctx, tx, db, changelog.Record{
				IDPrefix: "test", ResourceName: name, Collection: "events", Kind: "updated", Subject: "guarantor.test.v1.updated",
				Encode: func(int64, string, time.Time) ([]byte, error) { return []byte("x"), nil },
			})
			if err != nil {
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
		name     string
		args     []string
		wantCode int
		want     []string // lines (or parts) of stdout, or of stderr when wantCode != 0
	}{
		{"everything kept", []string{"--request-id-retention=0"}, 0, []string{"nothing to do"}},
		{"bad retention", []string{"--history-retention=-1h"}, 2, []string{"history retention -1h0m0s is negative"}},
		{"bad stream max age", []string{"--stream-max-age=1h"}, 2, []string{"stream max age 1h0m0s: want 0"}},
		{"request ids only", []string{"--request-id-retention=3h"}, 0, []string{
			"history: kept whole (--history-retention=0)",
			"request ids: deleted 0 answers older than 3h0m0s",
		}},
		{"both", []string{"--request-id-retention=1h", "--history-retention=1h"}, 0, []string{
			"history: compacted through seq 4 of 4, 2 changes deleted",
			"request ids: deleted 4 answers older than 1h0m0s",
			"history: deleted 2 changes superseded before ",
		}},
	}
	for _, tt := range tests {
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
