// Package sqldbtest gives tests a fresh, migrated database of each dialect so one test body
// (a contract suite) runs against SQLite and PostgreSQL alike.
//
// PostgreSQL comes from GUARANTOR_TEST_POSTGRES_URL (default
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable): every test gets its own
// database, created with a random name and dropped in Cleanup. When the server is unreachable
// the PostgreSQL half fails under CI=true and is skipped, loudly, elsewhere.
package sqldbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" driver for the admin connection
	"go.uber.org/zap/zaptest"

	"github.com/guarantor/guarantor/platform/sqldb"
)

// DefaultPostgresURL is used when GUARANTOR_TEST_POSTGRES_URL is unset.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// Dialects lists the dialects a contract test runs against.
var Dialects = []sqldb.Dialect{sqldb.SQLite, sqldb.Postgres}

// ForEachDialect runs body as a parallel subtest per dialect, each with a fresh database that
// already holds the platform schema. (Parallel: the dialects share nothing, and the PostgreSQL
// half spends most of its time waiting on the server.)
func ForEachDialect(t *testing.T, body func(t *testing.T, db *sqldb.DB)) {
	t.Helper()
	for _, d := range Dialects {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			body(t, Open(t, d))
		})
	}
}

// Open returns a fresh database of dialect d with the platform migrations applied.
func Open(tb testing.TB, d sqldb.Dialect) *sqldb.DB {
	tb.Helper()
	db, _ := OpenDSN(tb, d)
	if err := sqldb.MigratePlatform(context.Background(), db); err != nil {
		tb.Fatalf("migrate platform schema: %v", err)
	}
	return db
}

// OpenDSN returns a fresh, empty database of dialect d (no migrations) and its DSN, so a test
// can open more handles on the same database (another replica, a LISTEN connection).
func OpenDSN(tb testing.TB, d sqldb.Dialect) (*sqldb.DB, string) {
	tb.Helper()
	var dsn string
	switch d {
	case sqldb.SQLite:
		dsn = "sqlite://" + filepath.Join(tb.TempDir(), "test.db")
	case sqldb.Postgres:
		dsn = NewPostgresDatabase(tb)
	default:
		tb.Fatalf("unknown dialect %v", d)
	}
	db, err := sqldb.Open(context.Background(), dsn, zaptest.NewLogger(tb))
	if err != nil {
		tb.Fatalf("open %s: %v", d, err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db, dsn
}

// NewPostgresDatabase creates an empty PostgreSQL database for this test, drops it in
// Cleanup, and returns its DSN.
func NewPostgresDatabase(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv("GUARANTOR_TEST_POSTGRES_URL")
	if base == "" {
		base = DefaultPostgresURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, err := sql.Open("pgx", base)
	if err == nil {
		err = admin.PingContext(ctx)
	}
	if err != nil {
		if admin != nil {
			_ = admin.Close()
		}
		msg := fmt.Sprintf("PostgreSQL unreachable at %s (set GUARANTOR_TEST_POSTGRES_URL): %v", redacted(base), err)
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg)
		}
		tb.Skip("SKIPPING POSTGRESQL TEST: " + msg)
	}
	name := "guarantor_test_" + randomHex(8)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		_ = admin.Close()
		tb.Fatalf("create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		defer func() { _ = admin.Close() }()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("parse %s: %v", redacted(base), err)
	}
	u.Path = "/" + name
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func redacted(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "<unparseable>"
	}
	return u.Redacted()
}
