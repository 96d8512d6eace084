package domain

import (
	"context"
	"fmt"
	"testing"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	"github.com/guarantor/guarantor/platform/apperr"
	"github.com/guarantor/guarantor/platform/resource"
	"github.com/guarantor/guarantor/services/events/internal/store"
)

// TestSearchSameOnBothEngines: the `search` filter field must select the same actors
// (or fail the same way) on SQLite and on PostgreSQL: accents ignored (FTS5 folds them;
// PostgreSQL's documents and queries are folded), a search without a word refused.
func TestSearchSameOnBothEngines(t *testing.T) {
	ctx := context.Background()
	filters := []string{`search:"Sanchez"`, `search:"sánchez"`, `search:"!!"`}
	want := []string{"[actors/sanchez]", "[actors/sanchez]", "error code invalid argument"}
	results := map[string][]string{}
	for _, dialect := range []string{"sqlite", "postgres"} {
		svc, _ := engineService(t, dialect)
		a := &eventsv1.Actor{Kind: eventsv1.ActorKind_ACTOR_KIND_PERSON, DisplayName: "Pedro Sánchez"}
		if _, err := svc.Create(ctx, adminCall("/CreateActor"), store.Actors, "sanchez", a); err != nil {
			t.Fatalf("%s: %v", dialect, err)
		}
		for _, f := range filters {
			res, err := svc.List(ctx, adminPrincipal, store.Actors, resource.ListRequest{Filter: f})
			out := fmt.Sprintf("error code %v", apperr.CodeOf(err))
			if err == nil {
				var names []string
				for _, m := range res.Items {
					names = append(names, resource.Name(m))
				}
				out = fmt.Sprint(names)
			}
			results[dialect] = append(results[dialect], out)
		}
	}
	for i, f := range filters {
		if results["sqlite"][i] != want[i] || results["postgres"][i] != want[i] {
			t.Errorf("%s: SQLite %s, PostgreSQL %s; want %s on both", f, results["sqlite"][i], results["postgres"][i], want[i])
		}
	}
}
