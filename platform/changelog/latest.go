package changelog

import (
	"context"
	"fmt"
	"time"

	"github.com/guarantor/guarantor/platform/sqldb"
)

// LatestAt returns, for every resource of a collection that had a change at or before t,
// its last such change (the resource as it was at t, tombstones included), ordered by
// resource name, and the log's version at t (the last seq committed by then). It is the
// collection-wide form of AsOf, for views that rebuild a whole collection as of a time,
// and returns ErrCompacted under the same condition.
func LatestAt(ctx context.Context, db *sqldb.DB, collection string, t time.Time) ([]Entry, int64, error) {
	var compacted int64
	if err := db.QueryRowContext(ctx, "SELECT compacted_time FROM changelog_head WHERE id = 1").Scan(&compacted); err != nil {
		return nil, 0, fmt.Errorf("changelog: read head: %w", err)
	}
	if t.UnixNano() < compacted {
		return nil, 0, ErrCompacted
	}
	var version int64
	if err := db.QueryRowContext(ctx, db.Rebind("SELECT COALESCE(MAX(seq), 0) FROM changes WHERE time <= ?"), t.UnixNano()).Scan(&version); err != nil {
		return nil, 0, fmt.Errorf("changelog: version at %s: %w", t, err)
	}
	entries, err := query(ctx, db, "SELECT "+entryColumns+" FROM changes WHERE seq IN ("+
		"SELECT MAX(seq) FROM changes WHERE collection = ? AND time <= ? GROUP BY resource_name"+
		") ORDER BY resource_name", collection, t.UnixNano())
	if err != nil {
		return nil, 0, err
	}
	return entries, version, nil
}
