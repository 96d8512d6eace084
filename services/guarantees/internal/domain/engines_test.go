package domain

import (
	"context"
	"database/sql"
	"testing"
	"time"

	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
	"github.com/guarantor/guarantor/platform/principal"
	"github.com/guarantor/guarantor/platform/resource"
	"github.com/guarantor/guarantor/platform/sqldb"
	"github.com/guarantor/guarantor/platform/standard"
	"github.com/guarantor/guarantor/platform/testkit/pgtest"
	"github.com/guarantor/guarantor/services/guarantees/internal/store"
)

// knownRefs knows every actor and event.
type knownRefs struct{}

func (knownRefs) Missing(context.Context, []string) ([]string, int64, error) { return nil, 0, nil }
func (knownRefs) EventTime(context.Context, string) (time.Time, bool, error) {
	return time.Time{}, false, nil
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
	ctx := context.Background()
	db, err := sqldb.Open(ctx, dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := store.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	cfg := resource.Config{Service: "guarantees", SubjectPrefix: "guarantor.guarantees.v1", Encode: Codec.Encode, Decode: Codec.Decode}
	rs, err := resource.New(db, cfg, store.Frameworks, store.Guarantees)
	if err != nil {
		t.Fatal(err)
	}
	return NewService(rs, knownRefs{}), db
}

var adminPrincipal = principal.Principal{ID: "key:admin-1", Role: principal.RoleAdmin, Entitlements: []string{"acled"}}

func adminCall(method string) standard.Call {
	return standard.Call{Principal: adminPrincipal, Method: method}
}

// testFramework is a valid framework.
func testFramework() *guaranteesv1.Framework {
	return &guaranteesv1.Framework{Title: "Coalition", Kind: guaranteesv1.FrameworkKind_FRAMEWORK_KIND_DECLARATION}
}

// testGuarantee is a valid guarantee in frameworks/f.
func testGuarantee() *guaranteesv1.Guarantee {
	return &guaranteesv1.Guarantee{
		Framework: "frameworks/f", Guarantor: &guaranteesv1.Party{Party: &guaranteesv1.Party_Actor{Actor: "actors/gbr"}},
		Beneficiary: "actors/ukr", Title: "Air policing", Domain: guaranteesv1.Domain_DOMAIN_AIR,
		Capability: guaranteesv1.Capability_CAPABILITY_TROOPS, Role: guaranteesv1.Role_ROLE_LEAD,
	}
}

// createGuarantee creates frameworks/f and guarantees/{id} (PROPOSED).
func createGuarantee(t *testing.T, svc *Service, id string) *guaranteesv1.Guarantee {
	t.Helper()
	ctx := context.Background()
	if _, err := svc.Create(ctx, adminCall("/CreateFramework"), store.Frameworks, "f", testFramework()); err != nil {
		t.Fatal(err)
	}
	m, err := svc.Create(ctx, adminCall("/CreateGuarantee"), store.Guarantees, id, testGuarantee())
	if err != nil {
		t.Fatal(err)
	}
	return m.(*guaranteesv1.Guarantee)
}

// holdChangelogHead takes the change log's head row lock on PostgreSQL (what every
// write's changelog.Append takes) and returns a release func plus a func that waits until
// n other sessions are blocked on a lock.
func holdChangelogHead(t *testing.T, db *sqldb.DB) (release func(), waitBlocked func(n int)) {
	t.Helper()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var seq int64
	if err := tx.QueryRowContext(ctx, "SELECT last_seq FROM changelog_head WHERE id = 1 FOR UPDATE").Scan(&seq); err != nil {
		t.Fatal(err)
	}
	release = func() { _ = tx.Rollback() }
	t.Cleanup(release)
	waitBlocked = func(n int) {
		deadline := time.Now().Add(10 * time.Second)
		for {
			var blocked int
			err := db.QueryRowContext(ctx, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'").Scan(&blocked)
			if err != nil && err != sql.ErrNoRows {
				t.Fatal(err)
			}
			if blocked >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("only %d sessions blocked on the head row, want %d", blocked, n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return release, waitBlocked
}
