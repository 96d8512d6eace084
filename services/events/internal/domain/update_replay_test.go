package domain

import (
	"context"
	"testing"

	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	"github.com/guarantor/guarantor/services/events/internal/store"
)

// TestUpdateRetryReturnsFirstAnswer: "a request carrying a request_id already seen
// returns the first answer". A retried UpdateActor whose first attempt succeeded (its
// answer lost on the way back) must get that answer even if the actor was deleted since.
// (standard.Update used to read the live resource to check its licence before the store
// looked the request_id up, so the retry was NOT_FOUND.)
func TestUpdateRetryReturnsFirstAnswer(t *testing.T) {
	ctx := context.Background()
	svc, _ := engineService(t, "sqlite")
	a := &eventsv1.Actor{Kind: eventsv1.ActorKind_ACTOR_KIND_ORGANIZATION, DisplayName: "NATO"}
	if _, err := svc.Create(ctx, adminCall("/CreateActor"), store.Actors, "nato", a); err != nil {
		t.Fatal(err)
	}
	call := adminCall("/UpdateActor")
	call.RequestID = "req-1"
	upd := &eventsv1.Actor{Name: "actors/nato", DisplayName: "North Atlantic Treaty Organization"}
	first, err := svc.Update(ctx, call, store.Actors, upd, []string{"display_name"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Delete(ctx, adminCall("/DeleteActor"), store.Actors, "actors/nato", ""); err != nil {
		t.Fatal(err)
	}
	again, err := svc.Update(ctx, call, store.Actors, upd, []string{"display_name"})
	if err != nil {
		t.Fatalf("retry of UpdateActor with request_id %q: %v, want the first answer", call.RequestID, err)
	}
	if !proto.Equal(again, first) {
		t.Errorf("retry answered %v, want the first answer %v", again, first)
	}
}
