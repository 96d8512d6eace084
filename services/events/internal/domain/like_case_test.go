package domain

import (
	"context"
	"slices"
	"testing"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	"github.com/guarantor/guarantor/platform/resource"
	"github.com/guarantor/guarantor/services/events/internal/store"
)

// TestPrefixFilterSameOnBothEngines: the same filter must select the same actors on
// SQLite and PostgreSQL. A prefix match (display_name:"fra*") compiles to LIKE, which
// SQLite evaluates case-insensitively (ASCII) unless told otherwise, and PostgreSQL
// case-sensitively.
func TestPrefixFilterSameOnBothEngines(t *testing.T) {
	ctx := context.Background()
	results := map[string][]string{}
	for _, dialect := range []string{"sqlite", "postgres"} {
		svc, _ := engineService(t, dialect)
		for id, name := range map[string]string{"fra": "France", "frb": "fraternity"} {
			a := &eventsv1.Actor{Kind: eventsv1.ActorKind_ACTOR_KIND_ORGANIZATION, DisplayName: name}
			if _, err := svc.Create(ctx, adminCall("/CreateActor"), store.Actors, id, a); err != nil {
				t.Fatalf("%s: create %s: %v", dialect, id, err)
			}
		}
		res, err := svc.List(ctx, adminPrincipal, store.Actors, resource.ListRequest{Filter: `display_name:"fra*"`})
		if err != nil {
			t.Fatalf("%s: list: %v", dialect, err)
		}
		var names []string
		for _, m := range res.Items {
			names = append(names, resource.Name(m))
		}
		results[dialect] = names
	}
	if !slices.Equal(results["sqlite"], results["postgres"]) {
		t.Errorf(`display_name:"fra*" selects %v on SQLite but %v on PostgreSQL`, results["sqlite"], results["postgres"])
	}
	// Case counts, as it does for '='.
	if want := []string{"actors/frb"}; !slices.Equal(results["sqlite"], want) {
		t.Errorf(`display_name:"fra*" selects %v, want %v`, results["sqlite"], want)
	}
}
