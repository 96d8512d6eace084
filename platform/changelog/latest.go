package changelog

import (
	"context"
	"database/sql"
	"errors"
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
	if err := checkHorizon(ctx, db, t); err != nil {
		return nil, 0, err
	}
	version, err := versionAt(ctx, db, db, t.UnixNano())
	if err != nil {
		return nil, 0, err
	}
	// A collection's resources are named "<collection>/<id>" (Append checks it), so its
	// changes are a range of the (resource_name, seq) index: the inner query reads that
	// index alone, not the rows and their payloads. seq <= version is time <= t, since
	// times increase along the sequence.
	entries, err := query(ctx, db, "SELECT "+entryColumns+" FROM changes WHERE seq IN ("+
		"SELECT MAX(seq) FROM changes WHERE resource_name >= ? AND resource_name < ? AND seq <= ? GROUP BY resource_name"+
		") ORDER BY resource_name", collection+"/", collection+"0", version) // '0' follows '/'
	if err != nil {
		return nil, 0, err
	}
	if err := checkHorizon(ctx, db, t); err != nil {
		return nil, 0, err
	}
	return entries, version, nil
}

// VersionAt is the last seq committed at or before t (0 if none).
func VersionAt(ctx context.Context, db *sqldb.DB, t time.Time) (int64, error) {
	return versionAt(ctx, db, db, t.UnixNano())
}

// versionAt is the last seq committed at or before t (0 if none), read through q (db, or
// a transaction on it): a binary search over
// the sequence, whose times strictly increase (Append), probing the first entry at or
// after a seq because compaction leaves gaps. A scan for MAX(seq) WHERE time <= t would
// read every row, payloads and all: the log has no index on time.
func versionAt(ctx context.Context, db *sqldb.DB, q sqldb.Queryer, t int64) (int64, error) {
	var last int64
	if err := db.QueryRowCached(ctx, q, "SELECT last_seq FROM changelog_head WHERE id = 1").Scan(&last); err != nil {
		return 0, fmt.Errorf("changelog: read head: %w", err)
	}
	lo, hi := int64(1), last
	var found int64
	for lo <= hi {
		mid := lo + (hi-lo)/2
		var seq, at int64
		err := db.QueryRowCached(ctx, q, "SELECT seq, time FROM changes WHERE seq >= ? ORDER BY seq LIMIT 1", mid).Scan(&seq, &at)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && seq > hi) {
			hi = mid - 1
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("changelog: version at %d: %w", t, err)
		}
		if at <= t {
			found, lo = seq, seq+1
		} else {
			hi = mid - 1
		}
	}
	return found, nil
}
