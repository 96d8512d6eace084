package domain

import (
	"context"
	"sync"
	"testing"
	"time"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	"github.com/guarantor/guarantor/platform/apperr"
	"github.com/guarantor/guarantor/services/events/internal/store"
)

// TestConcurrentUpdatesOnPostgres: two updates of one actor sent at the same time to two
// replicas, both with the etag the clients read, each changing a different field. With
// an etag at most one may succeed (the other is ABORTED); whatever succeeded must be kept. On
// PostgreSQL, at READ COMMITTED, both used to succeed: each read the row before queueing
// for the change log's head row, so the second wrote back a stale row over the first.
// Writes now take that lock before they read (changelog.LockHead).
func TestConcurrentUpdatesOnPostgres(t *testing.T) {
	ctx := context.Background()
	replicas, db := postgresReplicas(t, 2)
	svc := replicas[0]
	a := &eventsv1.Actor{Kind: eventsv1.ActorKind_ACTOR_KIND_ORGANIZATION, DisplayName: "NATO"}
	m, err := svc.Create(ctx, adminCall("/CreateActor"), store.Actors, "nato", a)
	if err != nil {
		t.Fatal(err)
	}
	etag := m.(*eventsv1.Actor).GetEtag()

	// Hold the change log's head row, which every write locks in changelog.Append.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback() })
	if _, err := tx.ExecContext(ctx, "SELECT last_seq FROM changelog_head WHERE id = 1 FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	updates := []struct {
		actor *eventsv1.Actor
		path  string
	}{
		{&eventsv1.Actor{Name: "actors/nato", Etag: etag, DisplayName: "North Atlantic Treaty Organization"}, "display_name"},
		{&eventsv1.Actor{Name: "actors/nato", Etag: etag, Aliases: []string{"OTAN"}}, "aliases"},
	}
	errs := make([]error, len(updates))
	var wg sync.WaitGroup
	for i, u := range updates {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = replicas[i].Update(ctx, adminCall("/UpdateActor"), store.Actors, u.actor, []string{u.path})
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var blocked int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'").Scan(&blocked); err != nil {
			t.Fatal(err)
		}
		if blocked >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d updates blocked on the head row, want 2", blocked)
		}
		time.Sleep(5 * time.Millisecond)
	}
	_ = tx.Rollback()
	wg.Wait()

	cur, err := svc.Get(ctx, adminPrincipal, store.Actors, "actors/nato", nil, false)
	if err != nil {
		t.Fatal(err)
	}
	got := cur.(*eventsv1.Actor)
	if errs[0] == nil && errs[1] == nil {
		t.Errorf("both updates with etag %s succeeded; the second should be ABORTED", etag)
	}
	for _, err := range errs {
		if err != nil && !apperr.Is(err, apperr.CodeAborted) {
			t.Errorf("unexpected error %v", err)
		}
	}
	if errs[0] == nil && got.GetDisplayName() != "North Atlantic Treaty Organization" {
		t.Errorf("the display_name update succeeded but was lost: display_name %q", got.GetDisplayName())
	}
	if errs[1] == nil && len(got.GetAliases()) == 0 {
		t.Errorf("the aliases update succeeded but was lost: aliases %v", got.GetAliases())
	}
}
