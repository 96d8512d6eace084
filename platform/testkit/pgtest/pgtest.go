// Package pgtest gives each test its own empty PostgreSQL database on a real
// server, dropped when the test ends, so tests can run in parallel without
// seeing each other's rows.
//
// The server is named by GUARANTOR_TEST_POSTGRES_URL (default
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable); the role needs
// CREATEDB. If the server does not answer, tests are skipped with a loud
// message, except under CI=true, where a missing database is a failure.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/guarantor/guarantor/platform/sqldb"
)

// EnvURL names the environment variable with the admin connection URL.
const EnvURL = "GUARANTOR_TEST_POSTGRES_URL"

// DefaultURL is used when EnvURL is unset: the local development server.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// connectTimeout bounds waiting for an unreachable server, so a missing
// database costs seconds, not minutes.
const connectTimeout = 5 * time.Second

// NewDatabase creates a fresh database named guarantor_test_<random> and
// returns its connection string. Cleanup drops it, ending any connections the
// test left open.
func NewDatabase(t testing.TB) string {
	t.Helper()
	adminURL, admin := connectAdmin(t)
	defer func() { _ = admin.Close(context.Background()) }()

	name := Name(t)
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	DropOnCleanup(t, adminURL, name)

	dsn, err := withDatabase(adminURL, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return dsn
}

// AdminURL returns the server's admin connection string once the server
// answers, for tests of code that creates its own databases (drop them with
// DropOnCleanup). An unreachable server skips the test, or fails it under
// CI=true.
func AdminURL(t testing.TB) string {
	t.Helper()
	adminURL, admin := connectAdmin(t)
	_ = admin.Close(context.Background())
	return adminURL
}

// connectAdmin connects to the server as EnvURL (or DefaultURL) says; an unreachable
// server skips the test, or fails it under CI=true.
func connectAdmin(t testing.TB) (string, *pgx.Conn) {
	t.Helper()
	adminURL := os.Getenv(EnvURL)
	if adminURL == "" {
		adminURL = DefaultURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		msg := fmt.Sprintf("pgtest: PostgreSQL not reachable at %s; set %s (%v)", sqldb.RedactDSN(adminURL), EnvURL, err)
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatal(msg)
		}
		t.Skip("SKIPPED: " + msg)
	}
	return adminURL, admin
}

// Name returns a database name no other test uses: guarantor_test_<random>.
func Name(t testing.TB) string {
	t.Helper()
	return "guarantor_test_" + randomSuffix(t)
}

// DropOnCleanup drops the named databases, if they exist, when the test ends,
// ending any connections still open to them.
func DropOnCleanup(t testing.TB, adminURL string, names ...string) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, adminURL)
		if err != nil {
			t.Errorf("pgtest: drop databases %v: connect: %v", names, err)
			return
		}
		defer func() { _ = conn.Close(context.Background()) }()
		for _, name := range names {
			// FORCE (PostgreSQL 13+) terminates connections a pool still holds.
			if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
				t.Errorf("pgtest: drop database %s: %v", name, err)
			}
		}
	})
}

func randomSuffix(t testing.TB) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("pgtest: random name: %v", err)
	}
	return hex.EncodeToString(b)
}

// withDatabase returns the admin connection string pointed at database name.
// Both URL and keyword/value ("host=... dbname=...") forms are accepted.
func withDatabase(adminURL, name string) (string, error) {
	if strings.HasPrefix(adminURL, "postgres://") || strings.HasPrefix(adminURL, "postgresql://") {
		u, err := url.Parse(adminURL)
		if err != nil {
			return "", fmt.Errorf("parse %s: invalid URL", EnvURL)
		}
		u.Path = "/" + name
		u.RawPath = ""
		return u.String(), nil
	}
	// In keyword/value form a later key wins.
	return adminURL + " dbname=" + name, nil
}
