package changelog_test

import (
	"context"
	"sort"
	"strings"
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

// TestLatestAtAgainstAScan: LatestAt's version (a binary search over the sequence) and
// entries (a range of the resource-name index) agree with a plain scan of the log at
// every moment, before and after compaction leaves gaps in the sequence; a collection
// whose name prefixes another's ("event" and "events") stays apart.
func TestLatestAtAgainstAScan(t *testing.T) {
	sqldbtest.ForEachDialect(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		names := []string{"events/a", "events/b", "actors/x", "event/z", "events/c", "eventsx/q"}
		var all []changelog.Entry
		for i := range 40 {
			all = append(all, appendOne(t, db, record(names[(i*7)%len(names)], "updated")))
		}
		// scan is what LatestAt must answer at t, from the entries still in the log.
		scan := func(kept []changelog.Entry, at time.Time) (want []int64, version int64) {
			last := map[string]int64{}
			for _, e := range kept {
				if e.Time.After(at) {
					continue
				}
				version = max(version, e.Seq)
				if strings.HasPrefix(e.ResourceName, "events/") {
					last[e.ResourceName] = e.Seq
				}
			}
			keys := make([]string, 0, len(last))
			for k := range last {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				want = append(want, last[k])
			}
			return want, version
		}
		check := func(kept []changelog.Entry, from time.Time) {
			t.Helper()
			for _, e := range all {
				for _, at := range []time.Time{e.Time.Add(-time.Nanosecond), e.Time, e.Time.Add(time.Nanosecond)} {
					if at.Before(from) {
						continue
					}
					want, version := scan(kept, at)
					got, gotVersion, err := changelog.LatestAt(ctx, db, "events", at)
					if err != nil {
						t.Fatal(err)
					}
					if !equalSeqs(seqs(got), want) || gotVersion != version {
						t.Fatalf("at entry %d %+dns: LatestAt = %v at version %d, want %v at %d", e.Seq, at.Sub(e.Time), seqs(got), gotVersion, want, version)
					}
				}
			}
		}
		check(all, time.Time{})

		// Compaction up to the 35th entry deletes what later entries of the same
		// resource supersede: gaps below the cut, wide enough that the search probes
		// them. Times from the cut on stay exact.
		cut := all[34].Time.Add(time.Nanosecond)
		if _, err := changelog.Compact(ctx, db, cut); err != nil {
			t.Fatal(err)
		}
		kept := keptEntries(t, db, all)
		if len(kept) == len(all) {
			t.Fatal("compaction deleted nothing: the test does not test gaps")
		}
		check(kept, cut)
	})
}

// keptEntries is the entries of all still in the log.
func keptEntries(t *testing.T, db *sqldb.DB, all []changelog.Entry) []changelog.Entry {
	t.Helper()
	var kept []changelog.Entry
	for _, e := range all {
		var n int
		if err := db.QueryRowContext(context.Background(), db.Rebind("SELECT COUNT(*) FROM changes WHERE seq = ?"), e.Seq).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			kept = append(kept, e)
		}
	}
	return kept
}
