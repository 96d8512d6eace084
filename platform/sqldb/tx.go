package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/zap"
	"modernc.org/sqlite"
)

// maxTxAttempts bounds InTx's retries: contention that outlasts a handful of attempts is an
// overload to report, not to hide.
const maxTxAttempts = 5

// InTx runs fn in a read-write transaction and commits it; it rolls back when fn returns an
// error or panics (the panic is re-raised). When the engine aborts the transaction because of
// contention (PostgreSQL serialization failure 40001 or deadlock 40P01, SQLite BUSY/LOCKED) the
// whole transaction, fn included, is retried a bounded number of times; fn must therefore
// only have effects through tx (or effects that are safe to repeat).
//
// InTx calls are serialised inside the process (SQLite allows one writer anyway, and on
// PostgreSQL the data services' writes all lock the change log's head) and concurrent
// ones are committed together (see groupTx); do not nest InTx calls.
func (db *DB) InTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := db.inTxOnce(ctx, fn)
		if err == nil || !IsRetryable(err) || attempt == maxTxAttempts {
			return err
		}
		// Jittered, growing pause so that the transactions that collided do not collide again.
		pause := time.Duration(attempt*attempt)*5*time.Millisecond + rand.N(5*time.Millisecond)
		db.Logger().Debug("retrying transaction", zap.Int("attempt", attempt), zap.Error(err))
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause):
		}
	}
}

func (db *DB) inTxOnce(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return db.groupTx(ctx, fn)
}

// runTx runs fn in a transaction of its own.
func (db *DB) runTx(ctx context.Context, fn func(tx *sql.Tx) error) (err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqldb: begin: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
	}()
	var hooks txHooks
	stop := db.collectHooks(tx, &hooks)
	defer stop()
	err = fn(tx)
	if err == nil {
		err = runBefore(tx, hooks.before)
	}
	if err != nil {
		if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			db.Logger().Warn("rollback failed", zap.Error(rbErr))
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqldb: commit: %w", err)
	}
	db.committed()
	runAll(hooks.after)
	return nil
}

// SQLite primary result codes and extended codes used below.
const (
	sqliteBusy                 = 5
	sqliteLocked               = 6
	sqliteConstraint           = 19
	sqliteConstraintPrimaryKey = 1555
	sqliteConstraintUnique     = 2067
)

// IsRetryable reports whether err means the engine aborted a transaction because of
// contention, so that running it again may succeed.
func IsRetryable(err error) bool {
	if errors.Is(err, errGroupAborted) {
		return true // whatever aborted the shared transaction, this member did nothing wrong
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "40001" || pgErr.Code == "40P01"
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		primary := sqErr.Code() & 0xff
		return primary == sqliteBusy || primary == sqliteLocked
	}
	return false
}

// IsUniqueViolation reports whether err is a unique or primary key constraint violation.
func IsUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505"
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		code := sqErr.Code()
		return code == sqliteConstraintPrimaryKey || code == sqliteConstraintUnique
	}
	return false
}
