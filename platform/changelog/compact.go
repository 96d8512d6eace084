package changelog

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/guarantor/guarantor/platform/sqldb"
)

// DefaultCompactBatch is how many entries of the log one compaction transaction works
// through when CompactOptions.Batch is zero.
const DefaultCompactBatch = 1000

// CompactOptions tunes Compact.
type CompactOptions struct {
	// Batch is how many entries of the log each transaction works through (default
	// DefaultCompactBatch). Writers queue behind one batch at most, never behind the whole
	// run: on a log of millions of entries a single transaction would hold the database's
	// write lock for minutes.
	Batch int
	// Progress, when set, is called after each batch.
	Progress func(CompactProgress)
}

// CompactProgress is where a compaction run stands.
type CompactProgress struct {
	// Done is the last seq whose resource's older entries are gone; the run ends at Cut.
	Done, Cut int64
	// Deleted counts the entries this run deleted so far.
	Deleted int64
}

// Compact bounds the history deliberately: it picks a cut, the last entry older than
// keepAfter, and deletes every entry at or before the cut that a later entry of the same
// resource (also at or before the cut) supersedes. What remains below the cut is a snapshot:
// the latest entry of each resource as of the cut, so AsOf stays exact for any time from the
// cut on and a rebuilt stream still carries every resource's state.
//
// The cut never passes an outbox cursor (outbox_cursor.last_seq): entries the relay has not
// published yet are never deleted. (An abandoned cursor therefore holds compaction back; delete
// its row when a stream is retired.)
//
// oldest_seq moves past the last deleted entry, in the transaction that deletes it, so
// watchers positioned before it get ErrCompacted instead of a silently incomplete history.
// It returns the number of deleted entries. Compact is CompactWith with default options.
func Compact(ctx context.Context, db *sqldb.DB, keepAfter time.Time) (deleted int64, err error) {
	return CompactWith(ctx, db, keepAfter, CompactOptions{})
}

// CompactWith is Compact in batches of opts.Batch entries, each in its own transaction.
// Where the last committed batch ended is kept in the log's head (compacted_seq), so a run
// that is interrupted (its context ends, the process dies) loses nothing and the next run
// carries on from there; runs on several replicas at once take turns batch by batch.
func CompactWith(ctx context.Context, db *sqldb.DB, keepAfter time.Time, opts CompactOptions) (deleted int64, err error) {
	batch := int64(opts.Batch)
	if batch <= 0 {
		batch = DefaultCompactBatch
	}
	cut, cutTime, err := compactionCut(ctx, db, keepAfter)
	if err != nil || cut == 0 {
		return 0, err
	}
	for {
		var n, done int64
		err := db.InTx(ctx, func(tx *sql.Tx) error {
			var err error
			n, done, err = compactBatch(ctx, db, tx, cut, cutTime, batch)
			return err
		})
		if err != nil {
			return deleted, err
		}
		deleted += n
		if opts.Progress != nil {
			opts.Progress(CompactProgress{Done: min(done, cut), Cut: cut, Deleted: deleted})
		}
		if done >= cut {
			return deleted, nil
		}
	}
}

// compactionCut picks the run's cut: the last entry older than keepAfter, held back to
// the slowest outbox cursor, and the time up to which AsOf stays exact once entries at
// or before it are gone (the cut's time). A zero cut means there is nothing to do.
//
// It reads outside any write transaction: entries at or before a committed seq never
// change except by compaction, and a cursor only moves forward, so a cut chosen from a
// cursor read after it stays safe.
func compactionCut(ctx context.Context, db *sqldb.DB, keepAfter time.Time) (cut, cutTime int64, err error) {
	cut, err = versionAt(ctx, db, db, keepAfter.UnixNano()-1)
	if err != nil {
		return 0, 0, fmt.Errorf("changelog: compact: find cut: %w", err)
	}
	if cut == 0 {
		return 0, 0, nil // nothing older than keepAfter
	}
	var minCursor sql.NullInt64
	if err := db.QueryRowContext(ctx, "SELECT MIN(last_seq) FROM outbox_cursor").Scan(&minCursor); err != nil {
		return 0, 0, fmt.Errorf("changelog: compact: read outbox cursors: %w", err)
	}
	if minCursor.Valid && minCursor.Int64 < cut {
		cut = minCursor.Int64 // entries the relay has not published yet stay
		if cut <= 0 {
			return 0, 0, nil
		}
	}
	// The cut's entry may itself be gone (compacted earlier); the latest time at or
	// before it is the horizon either way.
	var t sql.NullInt64
	if err := db.QueryRowContext(ctx, db.Rebind("SELECT MAX(time) FROM changes WHERE seq <= ?"), cut).Scan(&t); err != nil {
		return 0, 0, fmt.Errorf("changelog: compact: cut time: %w", err)
	}
	if !t.Valid {
		return 0, 0, nil
	}
	return cut, t.Int64, nil
}

// compactBatch works through the entries after compacted_seq, up to batch of them and
// never past cut: for every resource changed among them, it deletes the resource's
// entries older than its last change in the range. It returns how many it deleted and
// where the batch ended (at or past cut: the run is over).
//
// Why this covers everything: an entry at or before the cut is superseded when a later
// entry of its resource, also at or before the cut, exists; that later entry lies in some
// batch's range, and that batch deletes it. Ranges already done are never read again.
func compactBatch(ctx context.Context, db *sqldb.DB, tx *sql.Tx, cut, cutTime, batch int64) (deleted, done int64, err error) {
	// Lock the head like Append does: replicas compacting at once take turns per batch.
	headQuery := "SELECT compacted_seq FROM changelog_head WHERE id = 1"
	if db.Dialect == sqldb.Postgres {
		headQuery += " FOR UPDATE"
	}
	var from int64
	if err := tx.QueryRowContext(ctx, headQuery).Scan(&from); err != nil {
		return 0, 0, fmt.Errorf("changelog: compact: read head: %w", err)
	}
	if from >= cut {
		return 0, from, nil // another run got here first
	}
	to := min(from+batch, cut)
	// For each resource changed in (from, to], its entries before its last change there:
	// at most about one per resource, since earlier batches deleted the rest. Each is
	// found through the (resource_name, seq) index. SQLite plans every join as such a
	// nested loop. PostgreSQL, misled by statistics that count a resource's whole history
	// (its first compaction), would hash-join against a scan of the entire log in every
	// batch, so there the lookup is a LATERAL subquery that OFFSET 0 keeps from being
	// flattened back into a join; and JIT, which that overestimate would switch on, costs
	// more than such a batch.
	superseded := ` FROM (SELECT resource_name, MAX(seq) AS top FROM changes
			WHERE seq > ? AND seq <= ? GROUP BY resource_name) AS touched
		JOIN changes old ON old.resource_name = touched.resource_name AND old.seq < touched.top`
	if db.Dialect == sqldb.Postgres {
		superseded = ` FROM (SELECT resource_name, MAX(seq) AS top FROM changes
			WHERE seq > ? AND seq <= ? GROUP BY resource_name) AS touched
		CROSS JOIN LATERAL (SELECT seq FROM changes o
			WHERE o.resource_name = touched.resource_name AND o.seq < touched.top OFFSET 0) AS old`
		if _, err := tx.ExecContext(ctx, "SET LOCAL jit = off"); err != nil {
			return 0, 0, fmt.Errorf("changelog: compact: %w", err)
		}
	}
	// One statement deletes and reports what it deleted (RETURNING, on both engines).
	rows, err := tx.QueryContext(ctx, db.Rebind("DELETE FROM changes WHERE seq IN (SELECT old.seq"+superseded+") RETURNING seq"), from, to)
	if err != nil {
		return 0, 0, fmt.Errorf("changelog: compact: delete: %w", err)
	}
	var maxDeleted int64
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&seq); err != nil {
			_ = rows.Close()
			return 0, 0, fmt.Errorf("changelog: compact: delete: %w", err)
		}
		deleted++
		maxDeleted = max(maxDeleted, seq)
	}
	if err := rows.Close(); err != nil {
		return 0, 0, fmt.Errorf("changelog: compact: delete: %w", err)
	}
	if err := rows.Err(); err != nil {
		return 0, 0, fmt.Errorf("changelog: compact: delete: %w", err)
	}
	if deleted > 0 {
		// In the same transaction as the delete: no reader ever sees the hole without the
		// head that explains it.
		_, err = tx.ExecContext(ctx, db.Rebind(`UPDATE changelog_head SET
			oldest_seq = CASE WHEN oldest_seq > ? THEN oldest_seq ELSE ? END,
			compacted_time = CASE WHEN compacted_time > ? THEN compacted_time ELSE ? END
			WHERE id = 1`),
			maxDeleted+1, maxDeleted+1, cutTime, cutTime)
		if err != nil {
			return 0, 0, fmt.Errorf("changelog: compact: update head: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, db.Rebind("UPDATE changelog_head SET compacted_seq = ? WHERE id = 1"), to); err != nil {
		return 0, 0, fmt.Errorf("changelog: compact: save progress: %w", err)
	}
	return deleted, to, nil
}
