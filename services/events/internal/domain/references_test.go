package domain

import (
	"context"
	"slices"
	"strings"
	"testing"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	"github.com/guarantor/guarantor/platform/apperr"
	"github.com/guarantor/guarantor/services/events/internal/store"
)

// TestReferencesCheckedTogether: an event's actor references are looked up in one
// query (resource.Reader.Missing), and the answer is the same as one lookup each: a
// deleted actor (its tombstone) is as unknown as one never created, every field naming
// an unknown actor is listed once in the order of the event, a live actor is not listed,
// and the participants written are each actor once.
func TestReferencesCheckedTogether(t *testing.T) {
	ctx := context.Background()
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			svc, db := engineService(t, dialect)
			for _, id := range []string{"fra", "gbr"} {
				a := &eventsv1.Actor{Kind: eventsv1.ActorKind_ACTOR_KIND_STATE, DisplayName: id, CountryCode: strings.ToUpper(id)}
				if _, err := svc.Create(ctx, adminCall("/CreateActor"), store.Actors, id, a); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := svc.Delete(ctx, adminCall("/DeleteActor"), store.Actors, "actors/gbr", ""); err != nil {
				t.Fatal(err)
			}

			e := validEvent()
			e.Participants = []*eventsv1.Participant{
				{Actor: "actors/fra"}, {Actor: "actors/gbr"}, {Actor: "actors/atlantis"},
			}
			e.Quotes = []*eventsv1.Quote{{Speaker: "actors/atlantis", Text: "We are ready."}, {Speaker: "actors/fra", Text: "So are we."}}
			_, err := svc.Create(ctx, adminCall("/CreateEvent"), store.Events, "e", e)
			if !apperr.Is(err, apperr.CodeFailedPrecondition) {
				t.Fatalf("Create with unknown actors: %v, want FAILED_PRECONDITION", err)
			}
			want := "unknown actor: event.participants[1].actor names actors/gbr; event.participants[2].actor names actors/atlantis; event.quotes[0].speaker names actors/atlantis, which does not exist"
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q\nwant it to contain %q", err, want)
			}
			if strings.Contains(err.Error(), "actors/fra") {
				t.Errorf("error %q names a live actor", err)
			}

			e.Participants = []*eventsv1.Participant{{Actor: "actors/fra"}, {Actor: "actors/fra", Role: eventsv1.ParticipantRole(2)}}
			e.Quotes = []*eventsv1.Quote{{Speaker: "actors/fra", Text: "We are ready."}}
			if _, err := svc.Create(ctx, adminCall("/CreateEvent"), store.Events, "e", e); err != nil {
				t.Fatal(err)
			}
			rows, err := db.QueryContext(ctx, db.Rebind("SELECT value FROM event_participants WHERE name = ?"), "events/e")
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var got []string
			for rows.Next() {
				var v string
				if err := rows.Scan(&v); err != nil {
					t.Fatal(err)
				}
				got = append(got, v)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, []string{"actors/fra"}) {
				t.Errorf("participant rows %v, want actors/fra once", got)
			}
		})
	}
}
