package domain

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	"github.com/guarantor/guarantor/platform/apperr"
	"github.com/guarantor/guarantor/platform/changelog"
	"github.com/guarantor/guarantor/services/events/internal/store"
)

// TestGetAsOfCompactedIsOutOfRange: a read as of a time older than the compacted
// history is OUT_OF_RANGE (docs/operations.md, --history-retention; ListAt does so), not
// an unclassified error that the transport turns into INTERNAL.
func TestGetAsOfCompactedIsOutOfRange(t *testing.T) {
	ctx := context.Background()
	svc, db := engineService(t, "sqlite")
	a := &eventsv1.Actor{Kind: eventsv1.ActorKind_ACTOR_KIND_ORGANIZATION, DisplayName: "NATO"}
	created, err := svc.Create(ctx, adminCall("/CreateActor"), store.Actors, "nato", a)
	if err != nil {
		t.Fatal(err)
	}
	early := created.(*eventsv1.Actor).GetCreateTime()
	upd := &eventsv1.Actor{Name: "actors/nato", DisplayName: "North Atlantic Treaty Organization"}
	if _, err := svc.Update(ctx, adminCall("/UpdateActor"), store.Actors, upd, []string{"display_name"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond)
	if _, err := changelog.Compact(ctx, db, time.Now()); err != nil {
		t.Fatal(err)
	}
	_, err = svc.Get(ctx, adminPrincipal, store.Actors, "actors/nato", timestamppb.New(early.AsTime()), false)
	if !apperr.Is(err, apperr.CodeOutOfRange) {
		t.Fatalf("Get as of %s, before the compacted horizon: err %v (code %v), want OUT_OF_RANGE",
			early.AsTime().Format(time.RFC3339Nano), err, apperr.CodeOf(err))
	}
}
