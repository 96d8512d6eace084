package domain

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/guarantor/guarantor/platform/principal"
	"github.com/guarantor/guarantor/platform/resource"
	"github.com/guarantor/guarantor/platform/sqldb"
	"github.com/guarantor/guarantor/platform/standard"
	"github.com/guarantor/guarantor/platform/testkit/pgtest"
	"github.com/guarantor/guarantor/services/events/internal/store"
)

// engineService opens the events service's store on SQLite ("sqlite") or on a fresh
// PostgreSQL database ("postgres").
func engineService(t *testing.T, dialect string) (*Service, *sqldb.DB) {
	t.Helper()
	dsn := "sqlite://" + filepath.Join(t.TempDir(), "events.db")
	if dialect == "postgres" {
		dsn = pgtest.NewDatabase(t)
	}
	return openService(t, dsn)
}

// postgresReplicas returns n services on one new PostgreSQL database, each with its own
// connection pool, as n replicas of the service are: within one process, writes already
// queue for one writer (sqldb's group commit), so only replicas race in the database.
func postgresReplicas(t *testing.T, n int) ([]*Service, *sqldb.DB) {
	t.Helper()
	dsn := pgtest.NewDatabase(t)
	var svcs []*Service
	var db *sqldb.DB
	for range n {
		var svc *Service
		svc, db = openService(t, dsn)
		svcs = append(svcs, svc)
	}
	return svcs, db
}

func openService(t *testing.T, dsn string) (*Service, *sqldb.DB) {
	t.Helper()
	db, err := store.Open(context.Background(), dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	cfg := resource.Config{Service: "events", SubjectPrefix: "guarantor.events.v1", Encode: Codec.Encode, Decode: Codec.Decode}
	rs, err := resource.New(db, cfg, store.Events, store.Actors)
	if err != nil {
		t.Fatal(err)
	}
	return NewService(rs), db
}

var adminPrincipal = principal.Principal{ID: "key:admin-1", Role: principal.RoleAdmin, Entitlements: []string{"acled"}}

func adminCall(method string) standard.Call {
	return standard.Call{Principal: adminPrincipal, Method: method}
}
