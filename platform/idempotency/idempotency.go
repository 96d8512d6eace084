// Package idempotency stores the first answer to each (principal, request_id) so that a
// repeated request returns it instead of acting twice.
//
// The flow a service follows:
//
//	rec, found, err := idempotency.Lookup(ctx, db, principal, requestID)
//	if found { return the stored response (or an error when rec.Method/Fingerprint differ) }
//	err = db.InTx(ctx, func(tx *sql.Tx) error {
//		... mutate, changelog.Append ...
//		return idempotency.Save(ctx, tx, db, idempotency.Record{...response...})
//	})
//	if errors.Is(err, idempotency.ErrExists) { a concurrent twin won: Lookup again and return its answer }
//
// Save runs in the mutation's transaction, so the answer and the change commit together: a
// retry after a crash either finds the answer or finds nothing done.
package idempotency

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/guarantor/guarantor/platform/sqldb"
)

// ErrExists means a record for this (principal, request_id) was saved first by another
// transaction; the caller's transaction must be rolled back (InTx does so when the error is
// returned) and the stored answer returned instead.
var ErrExists = errors.New("idempotency: request already recorded")

// Record is one remembered answer.
type Record struct {
	Principal string
	RequestID string
	// Method is the full gRPC method: the same request_id reused for another method is a
	// client error, not a repeat.
	Method   string
	Response []byte // the serialized response message
	// Fingerprint is a hash of the request, to tell a true repeat from a different request
	// reusing a request_id.
	Fingerprint string
	CreatedAt   time.Time
}

// Lookup returns the stored record for (principal, requestID), if any.
func Lookup(ctx context.Context, db *sqldb.DB, principal, requestID string) (Record, bool, error) {
	r := Record{Principal: principal, RequestID: requestID}
	var created int64
	err := db.QueryRowCached(ctx, db,
		"SELECT method, response, fingerprint, created_at FROM requests WHERE principal = ? AND request_id = ?",
		principal, requestID).Scan(&r.Method, &r.Response, &r.Fingerprint, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Record{}, false, nil
	}
	if err != nil {
		return Record{}, false, fmt.Errorf("idempotency: lookup: %w", err)
	}
	r.CreatedAt = time.Unix(0, created).UTC()
	return r, true, nil
}

// Save records rec inside the caller's transaction tx (begun on db). CreatedAt defaults to
// now. It returns ErrExists when the key is already taken.
func Save(ctx context.Context, tx *sql.Tx, db *sqldb.DB, rec Record) error {
	if rec.RequestID == "" || rec.Method == "" {
		return errors.New("idempotency: record needs RequestID and Method")
	}
	if rec.CreatedAt.IsZero() {
		rec.CreatedAt = time.Now()
	}
	if rec.Response == nil {
		rec.Response = []byte{}
	}
	_, err := db.ExecCached(ctx, tx,
		"INSERT INTO requests (principal, request_id, method, response, fingerprint, created_at) VALUES (?, ?, ?, ?, ?, ?)",
		rec.Principal, rec.RequestID, rec.Method, rec.Response, rec.Fingerprint, rec.CreatedAt.UnixNano())
	if sqldb.IsUniqueViolation(err) {
		return ErrExists
	}
	if err != nil {
		return fmt.Errorf("idempotency: save: %w", err)
	}
	return nil
}

// PurgeBatch is how many records one Purge transaction deletes.
const PurgeBatch = 1000

// Purge deletes records created before t: a client retrying a request older than the
// retention is treated as new. It deletes in transactions of PurgeBatch records, so
// writers queue behind one batch at most, and returns the number of deleted records
// (those of finished batches when ctx ends).
func Purge(ctx context.Context, db *sqldb.DB, before time.Time) (int64, error) {
	// The oldest first, through the created_at index; row values work on both engines.
	query := db.Rebind(`DELETE FROM requests WHERE (principal, request_id) IN (
		SELECT principal, request_id FROM requests WHERE created_at < ? ORDER BY created_at LIMIT ?)`)
	var total int64
	for {
		var n int64
		err := db.InTx(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, query, before.UnixNano(), PurgeBatch)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, fmt.Errorf("idempotency: purge: %w", err)
		}
		total += n
		if n < PurgeBatch {
			return total, nil
		}
	}
}
