package refs_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
	"github.com/guarantor/guarantor/platform/projection"
	"github.com/guarantor/guarantor/platform/sqldb"
	"github.com/guarantor/guarantor/platform/sqldb/sqldbtest"
	"github.com/guarantor/guarantor/services/guarantees/internal/refs"
	"github.com/guarantor/guarantor/services/guarantees/internal/store"
)

// TestEventTimeOutsideUnixNanoRange: the events service accepts events of any
// date (platform/filter.TimeKey exists because 1648 sorted after 2026), but the
// projection stores when.time as UnixNano, which wraps around outside
// 1677-09-21..2262-04-11: the event time SatisfyCondition stamped on a condition
// (satisfy_time unset) was a date centuries away from the event's. Such a time is now
// unknown.
func TestEventTimeOutsideUnixNanoRange(t *testing.T) {
	sqldbtest.ForEachDialect(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		if err := store.Migrate(ctx, db); err != nil {
			t.Fatal(err)
		}
		p := refs.New(db)
		westphalia := time.Date(1648, 10, 24, 0, 0, 0, 0, time.UTC)
		err := db.InTx(ctx, func(tx *sql.Tx) error {
			return p.Apply(ctx, tx, projection.Message{
				Data: change(1, "events/westphalia", typev1.ChangeKind_CHANGE_KIND_CREATED, westphalia), StreamSeq: 1,
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		at, known, err := p.EventTime(ctx, "events/westphalia")
		if err != nil {
			t.Fatal(err)
		}
		if known && !at.Equal(westphalia) {
			t.Errorf("EventTime(events/westphalia) = %v (known), want %v or unknown", at, westphalia)
		}
	})
}
