package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
)

// ExecCached runs a fixed query (written with ? placeholders) through q, which is db itself or
// a transaction begun on it. On SQLite the statement is prepared once and reused: the
// driver otherwise parses every query text it is given, which was about a tenth of the
// CPU of a write. PostgreSQL's driver already caches prepared statements per connection,
// so there the query only gets its placeholders rebound.
//
// Use it for the small, fixed set of queries on hot paths; a query built from user input
// (a List filter) would grow the cache without bound, so it goes through q directly.
func (db *DB) ExecCached(ctx context.Context, q Queryer, query string, args ...any) (sql.Result, error) {
	st, err := db.prepared(ctx, q, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return q.ExecContext(ctx, db.Rebind(query), args...)
	}
	return st.ExecContext(ctx, args...)
}

// QueryRowCached is ExecCached for a query returning at most one row. A preparation failure surfaces
// from the returned row's Scan, as any other query error does.
func (db *DB) QueryRowCached(ctx context.Context, q Queryer, query string, args ...any) *Row {
	st, err := db.prepared(ctx, q, query)
	switch {
	case err != nil:
		return &Row{err: err}
	case st == nil:
		return &Row{row: q.QueryRowContext(ctx, db.Rebind(query), args...)}
	}
	return &Row{row: st.QueryRowContext(ctx, args...)}
}

// QueryCached is ExecCached for a query returning rows.
func (db *DB) QueryCached(ctx context.Context, q Queryer, query string, args ...any) (*sql.Rows, error) {
	st, err := db.prepared(ctx, q, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return q.QueryContext(ctx, db.Rebind(query), args...)
	}
	return st.QueryContext(ctx, args...)
}

// Row is a *sql.Row that may instead carry the error of preparing its statement.
type Row struct {
	row *sql.Row
	err error
}

// Scan copies the row's columns into dest, or returns the query's error (sql.ErrNoRows
// when there was no row).
func (r *Row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	return r.row.Scan(dest...)
}

// stmtCache maps query texts to statements prepared on the pool; database/sql keeps one
// driver statement per connection under each and re-prepares on new connections itself.
type stmtCache struct {
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

// prepared returns the statement to run query through q, or nil when q should run the
// text itself (PostgreSQL, or a Queryer that is neither the pool nor a transaction).
// A transaction gets a transaction-bound view of the cached statement, which database/sql
// closes when the transaction ends.
func (db *DB) prepared(ctx context.Context, q Queryer, query string) (*sql.Stmt, error) {
	if db.Dialect != SQLite {
		return nil, nil
	}
	var tx *sql.Tx
	switch v := q.(type) {
	case *DB:
		if v != db {
			return nil, nil
		}
	case *sql.DB:
		if v != db.DB {
			return nil, nil
		}
	case *sql.Tx:
		tx = v
	default:
		return nil, nil
	}
	st, err := db.stmts.get(ctx, db.DB, query)
	if err != nil {
		return nil, err
	}
	if tx != nil {
		return tx.StmtContext(ctx, st), nil
	}
	return st, nil
}

func (c *stmtCache) get(ctx context.Context, pool *sql.DB, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	st, ok := c.stmts[query]
	c.mu.Unlock()
	if ok {
		return st, nil
	}
	// Prepared outside the lock: preparing waits for a free connection, and other queries
	// must not queue behind that.
	st, err := pool.PrepareContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("sqldb: prepare: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.stmts[query]; ok {
		_ = st.Close()
		return prev, nil
	}
	if c.stmts == nil {
		c.stmts = map[string]*sql.Stmt{}
	}
	c.stmts[query] = st
	return st, nil
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.stmts {
		_ = st.Close()
	}
	c.stmts = nil
}
