package changelog_test

import (
	"context"
	"testing"
	"time"

	"github.com/guarantor/guarantor/platform/changelog"
	"github.com/guarantor/guarantor/platform/sqldb"
	"github.com/guarantor/guarantor/platform/sqldb/sqldbtest"
)

func TestLatestAt(t *testing.T) {
	sqldbtest.ForEachDialect(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		before := time.Now().Add(-time.Hour)
		appendOne(t, db, record("events/b", "created"))       // 1
		e2 := appendOne(t, db, record("events/a", "created")) // 2
		appendOne(t, db, record("actors/x", "created"))       // 3: another collection
		e4 := appendOne(t, db, record("events/b", "updated")) // 4
		appendOne(t, db, record("events/c", "created"))       // 5
		tests := []struct {
			name    string
			at      time.Time
			want    []int64 // seqs, by resource name
			version int64
		}{
			{"before any change", before, nil, 0},
			{"after the second", e2.Time, []int64{2, 1}, 2},
			{"at the update", e4.Time, []int64{2, 4}, 4},
			{"long after", e4.Time.Add(time.Hour), []int64{2, 4, 5}, 5},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				entries, version, err := changelog.LatestAt(ctx, db, "events", tt.at)
				if err != nil {
					t.Fatal(err)
				}
				if !equalSeqs(seqs(entries), tt.want) || version != tt.version {
					t.Fatalf("LatestAt = %v at version %d, want %v at %d", seqs(entries), version, tt.want, tt.version)
				}
			})
		}
	})
}
