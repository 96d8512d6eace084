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
