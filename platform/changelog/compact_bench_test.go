package changelog_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/guarantor/guarantor/platform/changelog"
	"github.com/guarantor/guarantor/platform/sqldb"
	"github.com/guarantor/guarantor/platform/sqldb/sqldbtest"
)

// BenchmarkCompact compacts a log of GUARANTOR_BENCH_COMPACT_RESOURCES resources (default
// 10,000) changed ten times each, all older than the cut, so nine entries in ten go. It
// reports the run's rate and how long each batch held the database's writer (what a
// concurrent write may wait), against the baseline measured in the same run: the same
// rows deleted by one statement in one transaction (the compaction before batches), whose
// whole duration is the writer's wait.
func BenchmarkCompact(b *testing.B) {
	resources := 10_000
	if v := os.Getenv("GUARANTOR_BENCH_COMPACT_RESOURCES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatal(err)
		}
		resources = n
	}
	const changes = 10
	for _, d := range sqldbtest.Dialects {
		b.Run(d.String(), func(b *testing.B) {
			var batchMs []float64
			var deleted int64
			var runTime, baselineTime time.Duration
			for range b.N {
				b.StopTimer()
				db := fill(b, d, resources, changes)
				cut := time.Now()
				b.StartTimer()
				last := time.Now()
				start := last
				n, err := changelog.CompactWith(context.Background(), db, cut, changelog.CompactOptions{
					Progress: func(changelog.CompactProgress) {
						now := time.Now()
						batchMs = append(batchMs, float64(now.Sub(last).Microseconds())/1000)
						last = now
					},
				})
				runTime += time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
				deleted += n

				b.StopTimer()
				db = fill(b, d, resources, changes)
				start = time.Now()
				err = db.InTx(context.Background(), func(tx *sql.Tx) error {
					_, err := tx.ExecContext(context.Background(), `DELETE FROM changes WHERE EXISTS (
						SELECT 1 FROM changes later WHERE later.resource_name = changes.resource_name AND later.seq > changes.seq)`)
					return err
				})
				baselineTime += time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			if want := int64(b.N * resources * (changes - 1)); deleted != want {
				b.Fatalf("deleted %d entries, want %d", deleted, want)
			}
			slices.Sort(batchMs)
			b.ReportMetric(float64(deleted)/runTime.Seconds(), "entries/s")
			b.ReportMetric(percentile(batchMs, 0.50), "batch-p50-ms")
			b.ReportMetric(percentile(batchMs, 0.99), "batch-p99-ms")
			b.ReportMetric(batchMs[len(batchMs)-1], "batch-max-ms")
			b.ReportMetric(float64(baselineTime.Milliseconds())/float64(b.N), "one-tx-ms")
			b.ReportMetric(float64(deleted)/baselineTime.Seconds(), "one-tx-entries/s")
		})
	}
}

// fill returns a fresh database whose log holds changes entries for each of resources
// resources, interleaved (r0, r1, ..., r0, r1, ...) as a busy service writes them.
func fill(b *testing.B, d sqldb.Dialect, resources, changes int) *sqldb.DB {
	b.Helper()
	db := sqldbtest.Open(b, d)
	ctx := context.Background()
	for round := range changes {
		err := db.InTx(ctx, func(tx *sql.Tx) error {
			for r := range resources {
				if _, err := changelog.Append(ctx, tx, db, record(fmt.Sprintf("events/r%d", r), "updated")); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatalf("fill round %d: %v", round, err)
		}
	}
	if d == sqldb.Postgres {
		// Statistics, as autovacuum would have gathered on a log this size: without
		// them the planner guesses the table is small and scans it.
		if _, err := db.ExecContext(ctx, "ANALYZE changes"); err != nil {
			b.Fatal(err)
		}
	}
	return db
}

func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}
