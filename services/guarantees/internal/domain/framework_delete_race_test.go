package domain

import (
	"context"
	"sync"
	"testing"

	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
	"github.com/guarantor/guarantor/platform/apperr"
	"github.com/guarantor/guarantor/services/guarantees/internal/store"
)

// TestFrameworkDeleteRacesGuaranteeCreate: a framework that live guarantees belong
// to cannot be deleted (canDelete), and a guarantee cannot be created in a framework that
// does not exist (checkFrameworks, "checked in the same transaction that writes it, so the
// referenced resource cannot disappear before the commit"). A delete of the framework and
// a create of a guarantee in it, at the same time on PostgreSQL, must therefore not both
// succeed. Both used to: the create read the framework before queueing for the change
// log's head row, and the delete counted guarantees outside its transaction.
func TestFrameworkDeleteRacesGuaranteeCreate(t *testing.T) {
	ctx := context.Background()
	replicas, db := postgresReplicas(t, 2)
	svc := replicas[0]
	if _, err := svc.Create(ctx, adminCall("/CreateFramework"), store.Frameworks, "f", testFramework()); err != nil {
		t.Fatal(err)
	}
	g := testGuarantee()

	release, waitBlocked := holdChangelogHead(t, db)
	var wg sync.WaitGroup
	var createErr, deleteErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		_, createErr = svc.Create(ctx, adminCall("/CreateGuarantee"), store.Guarantees, "g", g)
	}()
	go func() {
		defer wg.Done()
		_, deleteErr = replicas[1].Delete(ctx, adminCall("/DeleteFramework"), store.Frameworks, "frameworks/f", "")
	}()
	waitBlocked(2)
	release()
	wg.Wait()

	if createErr == nil && deleteErr == nil {
		_, ferr := svc.Get(ctx, adminPrincipal, store.Frameworks, "frameworks/f", nil, false)
		m, gerr := svc.Get(ctx, adminPrincipal, store.Guarantees, "guarantees/g", nil, false)
		t.Fatalf("both succeeded: guarantees/g is live (%v, framework %s) while its framework is gone (Get: %v)",
			gerr, m.(*guaranteesv1.Guarantee).GetFramework(), ferr)
	}
	for _, err := range []error{createErr, deleteErr} {
		if err != nil && !apperr.Is(err, apperr.CodeFailedPrecondition) {
			t.Errorf("unexpected error %v", err)
		}
	}
}
