package refs_test

import (
	"context"
	"database/sql"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
	"github.com/guarantor/guarantor/platform/projection"
	"github.com/guarantor/guarantor/platform/sqldb"
	"github.com/guarantor/guarantor/platform/sqldb/sqldbtest"
	"github.com/guarantor/guarantor/services/guarantees/internal/refs"
	"github.com/guarantor/guarantor/services/guarantees/internal/store"
)

func change(seq int64, name string, kind typev1.ChangeKind, when time.Time) []byte {
	ch := &eventsv1.Change{Sequence: seq, ResourceName: name, Kind: kind}
	if name[:7] == "events/" {
		ch.Resource = &eventsv1.Change_Event{Event: &eventsv1.Event{Name: name, When: &typev1.When{Time: timestamppb.New(when)}}}
	} else {
		ch.Resource = &eventsv1.Change_Actor{Actor: &eventsv1.Actor{Name: name}}
	}
	b, err := proto.Marshal(ch)
	if err != nil {
		panic(err)
	}
	return b
}

// TestApplyKeepsTheNewestChange feeds changes out of order and twice, as redeliveries and
// re-publishes do: the projection ends where the newest change of each resource left it.
func TestApplyKeepsTheNewestChange(t *testing.T) {
	sqldbtest.ForEachDialect(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		if err := store.Migrate(ctx, db); err != nil {
			t.Fatal(err)
		}
		p := refs.New(db)
		day := time.Date(2026, 1, 6, 0, 0, 0, 0, time.UTC)
		created, deleted := typev1.ChangeKind_CHANGE_KIND_CREATED, typev1.ChangeKind_CHANGE_KIND_DELETED
		feed := []struct {
			data []byte
			seq  uint64
		}{
			{change(1, "actors/fra", created, day), 1},
			{change(2, "events/paris", created, day), 2},
			{change(3, "actors/gbr", created, day), 3},
			{change(4, "actors/gbr", deleted, day), 4},
			{change(3, "actors/gbr", created, day), 5}, // re-published: must not resurrect it
			{change(1, "actors/fra", created, day), 6}, // redelivered
		}
		for _, f := range feed {
			err := db.InTx(ctx, func(tx *sql.Tx) error {
				return p.Apply(ctx, tx, projection.Message{Data: f.data, StreamSeq: f.seq})
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		err := db.InTx(ctx, func(tx *sql.Tx) error {
			return p.Apply(ctx, tx, projection.Message{Data: []byte("not a change")})
		})
		if err == nil {
			t.Error("an undecodable message was applied")
		}
		missing, _, err := p.Missing(ctx, []string{"actors/fra", "actors/gbr", "events/paris", "events/nope"})
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"actors/gbr", "events/nope"}; !slices.Equal(missing, want) {
			t.Errorf("missing %v, want %v", missing, want)
		}
		at, known, err := p.EventTime(ctx, "events/paris")
		if err != nil || !known || !at.Equal(day) {
			t.Errorf("event time %v %v %v", at, known, err)
		}
		if _, known, _ := p.EventTime(ctx, "actors/fra"); known {
			t.Error("an actor has an event time")
		}
	})
}
