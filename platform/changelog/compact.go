package changelog

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/guarantor/guarantor/platform/sqldb"
)

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
// oldest_seq moves past the last deleted entry, so watchers positioned before it get
// ErrCompacted instead of a silently incomplete history. It returns the number of deleted
// entries.
func Compact(ctx context.Context, db *sqldb.DB, keepAfter time.Time) (deleted int64, err error) {
	err = db.InTx(ctx, func(tx *sql.Tx) error {
		deleted = 0
		// Lock the head like Append does, so no entry commits while the cut is chosen.
		headQuery := "SELECT last_seq FROM changelog_head WHERE id = 1"
		if db.Dialect == sqldb.Postgres {
			headQuery += " FOR UPDATE"
		}
		var last int64
		if err := tx.QueryRowContext(ctx, headQuery).Scan(&last); err != nil {
			return fmt.Errorf("changelog: compact: read head: %w", err)
		}
		var cut, cutTime sql.NullInt64
		seq, err := versionAt(ctx, db, tx, keepAfter.UnixNano()-1)
		if err != nil {
			return fmt.Errorf("changelog: compact: find cut: %w", err)
		}
		if seq == 0 {
			return nil // nothing older than keepAfter
		}
		cut.Int64, cut.Valid = seq, true
		if err := tx.QueryRowContext(ctx, db.Rebind("SELECT time FROM changes WHERE seq = ?"), seq).Scan(&cutTime); err != nil {
			return fmt.Errorf("changelog: compact: cut time: %w", err)
		}
		var minCursor sql.NullInt64
		if err := tx.QueryRowContext(ctx, "SELECT MIN(last_seq) FROM outbox_cursor").Scan(&minCursor); err != nil {
			return fmt.Errorf("changelog: compact: read outbox cursors: %w", err)
		}
		if minCursor.Valid && minCursor.Int64 < cut.Int64 {
			// Re-pick the cut at the cursor, with that entry's time as the AsOf horizon.
			cut.Int64 = minCursor.Int64
			if cut.Int64 <= 0 {
				return nil
			}
			err := tx.QueryRowContext(ctx, db.Rebind("SELECT MAX(time) FROM changes WHERE seq <= ?"), cut.Int64).Scan(&cutTime)
			if err != nil {
				return fmt.Errorf("changelog: compact: cut time: %w", err)
			}
			if !cutTime.Valid {
				return nil
			}
		}
		const superseded = `FROM changes WHERE seq <= ? AND EXISTS (
			SELECT 1 FROM changes later
			WHERE later.resource_name = changes.resource_name AND later.seq > changes.seq AND later.seq <= ?)`
		var maxDeleted sql.NullInt64
		if err := tx.QueryRowContext(ctx, db.Rebind("SELECT MAX(seq) "+superseded), cut.Int64, cut.Int64).Scan(&maxDeleted); err != nil {
			return fmt.Errorf("changelog: compact: measure: %w", err)
		}
		if !maxDeleted.Valid {
			return nil // every entry up to the cut is still its resource's latest
		}
		res, err := tx.ExecContext(ctx, db.Rebind("DELETE "+superseded), cut.Int64, cut.Int64)
		if err != nil {
			return fmt.Errorf("changelog: compact: delete: %w", err)
		}
		if deleted, err = res.RowsAffected(); err != nil {
			return fmt.Errorf("changelog: compact: %w", err)
		}
		_, err = tx.ExecContext(ctx, db.Rebind(`UPDATE changelog_head SET
			oldest_seq = CASE WHEN oldest_seq > ? THEN oldest_seq ELSE ? END,
			compacted_time = CASE WHEN compacted_time > ? THEN compacted_time ELSE ? END
			WHERE id = 1`),
			maxDeleted.Int64+1, maxDeleted.Int64+1, cutTime.Int64, cutTime.Int64)
		if err != nil {
			return fmt.Errorf("changelog: compact: update head: %w", err)
		}
		return nil
	})
	return deleted, err
}
