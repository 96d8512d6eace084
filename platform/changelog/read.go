package changelog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/guarantor/guarantor/platform/sqldb"
)

const entryColumns = "seq, id, resource_name, collection, kind, subject, payload, principal, request_id, trace_parent, time"

// DefaultLimit is used when a read is given a limit <= 0.
const DefaultLimit = 256

// Since returns up to limit entries with seq > after, in seq order.
func Since(ctx context.Context, db *sqldb.DB, after int64, limit int) ([]Entry, error) {
	return query(ctx, db, "SELECT "+entryColumns+" FROM changes WHERE seq > ? ORDER BY seq LIMIT ?",
		after, normLimit(limit))
}

// ForResource returns up to limit entries of one resource with seq > after, in seq order.
func ForResource(ctx context.Context, db *sqldb.DB, name string, after int64, limit int) ([]Entry, error) {
	return query(ctx, db, "SELECT "+entryColumns+" FROM changes WHERE resource_name = ? AND seq > ? ORDER BY seq LIMIT ?",
		name, after, normLimit(limit))
}

// AsOf returns the last change of resource name made at or before t (the resource as it was
// then, if the payload carries it). found is false when the resource had no change by t.
// It returns ErrCompacted when t is older than the compacted part of the log, where the answer
// may have been deleted.
func AsOf(ctx context.Context, db *sqldb.DB, name string, t time.Time) (e Entry, found bool, err error) {
	if err := checkHorizon(ctx, db, t); err != nil {
		return Entry{}, false, err
	}
	entries, err := query(ctx, db,
		"SELECT "+entryColumns+" FROM changes WHERE resource_name = ? AND time <= ? ORDER BY seq DESC LIMIT 1",
		name, t.UnixNano())
	if err != nil {
		return Entry{}, false, err
	}
	if err := checkHorizon(ctx, db, t); err != nil {
		return Entry{}, false, err
	}
	if len(entries) == 0 {
		return Entry{}, false, nil
	}
	return entries[0], true, nil
}

// checkHorizon returns ErrCompacted when t is older than the compacted history. Readers
// as of a time call it before their query, to skip it, and after it: a compaction batch
// that committed before the query read moved the horizon in the same transaction as its
// delete, so the second check sees it, and an answer it may have made wrong is refused.
// (One that committed after the query cannot have changed what the query read.)
func checkHorizon(ctx context.Context, db *sqldb.DB, t time.Time) error {
	var compacted int64
	if err := db.QueryRowCached(ctx, db, "SELECT compacted_time FROM changelog_head WHERE id = 1").Scan(&compacted); err != nil {
		return fmt.Errorf("changelog: read head: %w", err)
	}
	if t.UnixNano() < compacted {
		return ErrCompacted
	}
	return nil
}

// Head returns the last assigned seq (0 for an empty log) and oldest, the first seq from which
// the history is complete: a reader positioned at oldest-1 or later misses nothing.
func Head(ctx context.Context, db *sqldb.DB) (last, oldest int64, err error) {
	err = db.QueryRowCached(ctx, db, "SELECT last_seq, oldest_seq FROM changelog_head WHERE id = 1").Scan(&last, &oldest)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, errors.New("changelog: head row missing (platform migrations not applied?)")
	}
	if err != nil {
		return 0, 0, fmt.Errorf("changelog: read head: %w", err)
	}
	return last, oldest, nil
}

func normLimit(limit int) int {
	if limit <= 0 {
		return DefaultLimit
	}
	return limit
}

func query(ctx context.Context, db *sqldb.DB, q string, args ...any) ([]Entry, error) {
	// The relay and every Watch run these few fixed queries over and over.
	rows, err := db.QueryCached(ctx, db, q, args...)
	if err != nil {
		return nil, fmt.Errorf("changelog: query: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var (
			e    Entry
			nano int64
		)
		if err := rows.Scan(&e.Seq, &e.ID, &e.ResourceName, &e.Collection, &e.Kind, &e.Subject, &e.Payload,
			&e.Principal, &e.RequestID, &e.TraceParent, &nano); err != nil {
			return nil, fmt.Errorf("changelog: scan: %w", err)
		}
		e.Time = time.Unix(0, nano).UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("changelog: rows: %w", err)
	}
	return out, nil
}
