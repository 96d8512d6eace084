package domain

import (
	"context"
	"sync"
	"testing"

	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
	"github.com/guarantor/guarantor/platform/apperr"
	"github.com/guarantor/guarantor/services/guarantees/internal/store"
)

// TestConcurrentTransitionsOnPostgres: two transitions of an ACTIVE guarantee sent at
// the same time with the same etag, one to FULFILLED and one to EXPIRED. FULFILLED and
// EXPIRED are final, so at most one may succeed: the other must be ABORTED (stale etag)
// or FAILED_PRECONDITION (illegal move). On PostgreSQL both used to succeed: each read
// the guarantee (READ COMMITTED) and checked the etag and the move before queueing for
// the change log's head row, so the second overwrote the first.
func TestConcurrentTransitionsOnPostgres(t *testing.T) {
	ctx := context.Background()
	replicas, db := postgresReplicas(t, 2)
	svc := replicas[0]
	g := createGuarantee(t, svc, "g")
	for _, to := range []Status{Pledged, AwaitingRatification, Ratified, Active} {
		var err error
		if g, err = svc.Transition(ctx, adminCall("/Transition"), "guarantees/g", to, "step", "events/e", g.GetEtag()); err != nil {
			t.Fatalf("to %s: %v", StatusName(to), err)
		}
	}
	etag := g.GetEtag()

	release, waitBlocked := holdChangelogHead(t, db)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	results := make([]*guaranteesv1.Guarantee, 2)
	for i, to := range []Status{Fulfilled, Expired} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = replicas[i].Transition(ctx, adminCall("/Transition"), "guarantees/g", to, "end", "events/e", etag)
		}()
	}
	waitBlocked(2)
	release()
	wg.Wait()

	if errs[0] == nil && errs[1] == nil {
		cur, err := svc.Get(ctx, adminPrincipal, store.Guarantees, "guarantees/g", nil, false)
		if err != nil {
			t.Fatal(err)
		}
		t.Fatalf("both transitions with etag %s succeeded: ->%s (new etag %s) and ->%s (new etag %s); one final status replaced the other, the guarantee ends %s",
			etag, StatusName(results[0].GetStatus()), results[0].GetEtag(), StatusName(results[1].GetStatus()), results[1].GetEtag(),
			StatusName(cur.(*guaranteesv1.Guarantee).GetStatus()))
	}
	for _, err := range errs {
		if err != nil && !apperr.Is(err, apperr.CodeAborted) && !apperr.Is(err, apperr.CodeFailedPrecondition) {
			t.Errorf("unexpected error %v", err)
		}
	}
}
