package retention_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest"

	"github.com/guarantor/guarantor/platform/changelog"
	"github.com/guarantor/guarantor/platform/idempotency"
	"github.com/guarantor/guarantor/platform/retention"
	"github.com/guarantor/guarantor/platform/sqldb"
	"github.com/guarantor/guarantor/platform/sqldb/sqldbtest"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		policy  retention.Policy
		wantErr string // "" = valid
	}{
		{"zero keeps everything", retention.Policy{}, ""},
		{"default", retention.Default, ""},
		{"history of 90 days", retention.Policy{History: 90 * 24 * time.Hour, RequestIDs: time.Hour}, ""},
		{"negative request ids", retention.Policy{RequestIDs: -time.Second}, "request-id retention -1s is negative"},
		{"negative history", retention.Policy{History: -time.Hour}, "history retention -1h0m0s is negative"},
		{"negative interval", retention.Policy{Interval: -time.Minute}, "interval -1m0s is negative"},
		{"history too short", retention.Policy{History: 30 * time.Second}, "shorter than a minute"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.policy.Validate()
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Validate() = %v, want %q", err, tt.wantErr)
			}
		})
	}
	if (retention.Policy{}).Enabled() || !retention.Default.Enabled() || !(retention.Policy{History: time.Hour}).Enabled() {
		t.Error("Enabled: want false for the zero policy, true when either retention is set")
	}
}

// seed writes answers to request ids and a history of three resources, a and b changed
// twice, c once, all dated now (Append stamps the wall clock; request ids carry created).
func seed(t *testing.T, db *sqldb.DB, created time.Time) {
	t.Helper()
	ctx := context.Background()
	err := db.InTx(ctx, func(tx *sql.Tx) error {
		for i := range 3 {
			rec := idempotency.Record{Principal: "user:a", RequestID: fmt.Sprintf("r%d", i), Method: "M", CreatedAt: created}
			if err := idempotency.Save(ctx, tx, db, rec); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"events/a", "events/b", "events/a", "events/c", "events/b"} {
		err := db.InTx(ctx, func(tx *sql.Tx) error {
			_, err := changelog.Append(ctx, tx, db, changelog.Record{
				IDPrefix: "test", ResourceName: name, Collection: "events", Kind: "updated", Subject: "guarantor.test.v1.updated",
				Encode: func(int64, string, time.Time) ([]byte, error) { return []byte("x"), nil },
			})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestPass(t *testing.T) {
	sqldbtest.ForEachDialect(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		seed(t, db, time.Now().Add(-2*time.Hour))
		now := time.Now()
		tests := []struct {
			name   string
			policy retention.Policy
			now    time.Time
			want   retention.Result
		}{
			{"nothing old enough", retention.Policy{RequestIDs: 3 * time.Hour, History: time.Hour}, now, retention.Result{}},
			{"request ids only", retention.Policy{RequestIDs: time.Hour}, now, retention.Result{RequestIDs: 3}},
			// An hour from now, the whole history is older than an hour: a and b keep their last change.
			{"history", retention.Policy{History: time.Hour}, now.Add(time.Hour + time.Second), retention.Result{Changes: 2}},
			{"again: nothing left", retention.Policy{RequestIDs: time.Hour, History: time.Hour}, now.Add(time.Hour + time.Second), retention.Result{}},
		}
		for _, tt := range tests {
			var reports int
			got, err := retention.Pass(ctx, db, tt.policy, tt.now, func(changelog.CompactProgress) { reports++ })
			if err != nil || got != tt.want {
				t.Fatalf("%s: Pass = %+v, %v; want %+v", tt.name, got, err, tt.want)
			}
			if tt.want.Changes > 0 && reports == 0 {
				t.Errorf("%s: no progress reported", tt.name)
			}
		}
		last, oldest, err := changelog.Head(ctx, db)
		if err != nil || last != 5 || oldest != 3 {
			t.Fatalf("Head = %d, %d, %v; want 5, 3 (1 and 2 deleted)", last, oldest, err)
		}
		if _, err := retention.Pass(ctx, db, retention.Policy{History: -time.Hour}, now, nil); err == nil {
			t.Error("Pass accepted a negative retention")
		}
	})
}

func TestRunner(t *testing.T) {
	t.Run("passes at once and counts what it deleted", func(t *testing.T) {
		t.Parallel()
		db := sqldbtest.Open(t, sqldb.SQLite)
		seed(t, db, time.Now().Add(-48*time.Hour))
		reg := prometheus.NewRegistry()
		metrics := retention.NewMetrics(reg)
		r := &retention.Runner{DB: db, Policy: retention.Default, Log: zaptest.NewLogger(t), Metrics: metrics}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		deadline := time.Now().Add(10 * time.Second)
		for testutil.ToFloat64(metrics.Deleted("request_ids")) != 3 {
			if time.Now().After(deadline) {
				t.Fatalf("after 10 s the runner deleted %v request ids, want 3", testutil.ToFloat64(metrics.Deleted("request_ids")))
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v, want context.Canceled", err)
		}
		n, err := testutil.GatherAndCount(reg, "guarantor_retention_last_success_timestamp_seconds", "guarantor_retention_errors_total")
		if err != nil || n != 2 {
			t.Fatalf("gathered %d series, %v", n, err)
		}
		if v := testutil.ToFloat64(metrics.Errors()); v != 0 {
			t.Errorf("errors = %v, want 0", v)
		}
	})
	t.Run("a failed pass is counted and does not stop it", func(t *testing.T) {
		t.Parallel()
		// A database without the platform's tables: every purge fails.
		db, err := sqldb.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "empty.db"), zaptest.NewLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		metrics := retention.NewMetrics(nil)
		r := &retention.Runner{DB: db, Policy: retention.Policy{RequestIDs: time.Hour, Interval: 20 * time.Millisecond}, Log: zaptest.NewLogger(t), Metrics: metrics}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		deadline := time.Now().Add(10 * time.Second)
		for testutil.ToFloat64(metrics.Errors()) < 2 {
			if time.Now().After(deadline) {
				t.Fatal("the runner stopped passing after a failure")
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v, want context.Canceled", err)
		}
	})
	t.Run("nothing to do, nothing runs", func(t *testing.T) {
		t.Parallel()
		r := &retention.Runner{Policy: retention.Policy{}} // no database: it must not be touched
		if err := r.Run(context.Background()); err != nil {
			t.Fatalf("Run = %v, want nil at once", err)
		}
		r.Policy.History = -time.Hour
		if err := r.Run(context.Background()); err == nil {
			t.Fatal("Run accepted a negative retention")
		}
	})
}
