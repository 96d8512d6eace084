package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"
)

// Group commit.
//
// SQLite has one writer at a time, and most of a small write transaction's cost is its
// COMMIT: appending every touched page to the WAL. On PostgreSQL every write of a data
// service first locks the change log's head row (changelog.LockHead), so a database's
// writes also run one at a time, across all replicas; each queued connection then waits
// on the lock, and is handed it, in turn. Either way, when writers queue up, committing
// each alone pays a commit (and on PostgreSQL a lock hand-off) once per writer, and the
// queue (and so latency) grows under load. Instead one goroutine per database handle runs
// the write transactions: it takes every transaction that queued while the previous
// commit ran, runs each inside a SAVEPOINT of one shared transaction, and commits once.
// (PostgreSQL, 64 clients creating events: a third more Creates a second and half the
// p99; docs/benchmarks.md.)
//
// Isolation is unchanged: the transactions run one after another, each seeing the ones
// before it, exactly as if they had been serialised. A transaction whose function fails
// is rolled back to its savepoint and leaves no trace; the others commit. Results are
// delivered only after the commit, so a caller that failed because another member wrote
// first (a unique key) finds that write committed when it looks again. If the shared
// transaction itself fails (COMMIT, or a savepoint that SQLite dropped because a
// statement was interrupted), every member that had succeeded gets errGroupAborted,
// which IsRetryable reports, so InTx runs it again.

// maxGroup bounds how many transactions share one commit, so that one commit's latency
// stays bounded however long the queue is.
const maxGroup = 64

// groupSavepoint names the savepoint around each member; no other code uses savepoints.
const groupSavepoint = "sqldb_group_member"

// errGroupAborted is returned to members of a group whose shared transaction failed
// through no fault of theirs.
var errGroupAborted = errors.New("sqldb: the shared write transaction was aborted")

// Request states: a waiting caller may abandon its request only while it is queued.
const (
	reqQueued int32 = iota
	reqRunning
	reqAbandoned
)

type txRequest struct {
	ctx   context.Context
	fn    func(tx *sql.Tx) error
	state atomic.Int32
	// Set by the writer before done is closed.
	err      error
	panicked bool
	panicVal any
	done     chan struct{}
}

func (r *txRequest) finish(err error) {
	r.err = err
	close(r.done)
}

// groupWriter is the goroutine that runs a database handle's write transactions.
type groupWriter struct {
	// groups and members count shared commits and the transactions in them (tests).
	groups, members atomic.Int64

	mu     sync.Mutex
	queue  []*txRequest
	closed bool
	wake   chan struct{} // capacity 1: "the queue is not empty"
	stop   chan struct{}
	done   chan struct{}
}

var errClosed = errors.New("sqldb: database closed")

// groupTx queues fn for the writer and waits for its outcome. A caller whose context
// ends while fn is still queued leaves at once and fn never runs; once fn runs, the
// caller waits for the commit (fn's statements see the ended context and fail).
func (db *DB) groupTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w := db.groupWriter()
	if w == nil { // Close ran before any write transaction
		return errClosed
	}
	r := &txRequest{ctx: ctx, fn: fn, done: make(chan struct{})}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return errClosed
	}
	w.queue = append(w.queue, r)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	select {
	case <-r.done:
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqQueued, reqAbandoned) {
			return ctx.Err()
		}
		<-r.done
	}
	if r.panicked {
		panic(r.panicVal)
	}
	return r.err
}

func (db *DB) groupWriter() *groupWriter {
	db.writerOnce.Do(func() {
		db.writer = &groupWriter{wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
		go db.runWriter(db.writer)
	})
	return db.writer
}

// stopWriter refuses new transactions, lets the queued ones run, and ends the writer.
func (db *DB) stopWriter() {
	db.writerOnce.Do(func() {}) // no writer may start after Close
	w := db.writer
	if w == nil {
		return
	}
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	close(w.stop)
	<-w.done
}

func (db *DB) runWriter(w *groupWriter) {
	defer close(w.done)
	stopping := false
	for {
		select {
		case <-w.wake:
		case <-w.stop:
			// Close refuses new transactions; the ones already accepted still run.
			stopping = true
		}
		for {
			w.mu.Lock()
			n := min(len(w.queue), maxGroup)
			batch := w.queue[:n:n]
			w.queue = w.queue[n:]
			if len(w.queue) == 0 {
				w.queue = nil // let the backing array go
			}
			w.mu.Unlock()
			if n == 0 {
				break
			}
			db.runGroup(batch)
		}
		if stopping {
			return
		}
	}
}

// runGroup runs the live requests of batch, together when there are several.
func (db *DB) runGroup(batch []*txRequest) {
	live := make([]*txRequest, 0, len(batch))
	for _, r := range batch {
		if r.state.CompareAndSwap(reqQueued, reqRunning) {
			live = append(live, r)
		}
	}
	switch len(live) {
	case 0:
		return
	case 1:
		// Alone: a transaction of its own, without savepoints, bound to the caller's context.
		r := live[0]
		r.finish(db.protect(r, func() error { return db.runTx(r.ctx, r.fn) }))
		return
	}
	db.writer.groups.Add(1)
	db.writer.members.Add(int64(len(live)))
	db.runShared(live)
}

// protect runs f, turning a panic into r's panic (re-raised in the caller's goroutine).
func (db *DB) protect(r *txRequest, f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			r.panicked, r.panicVal = true, p
			err = fmt.Errorf("sqldb: transaction function panicked: %v", p)
		}
	}()
	return f()
}

func (db *DB) runShared(live []*txRequest) {
	// The shared transaction belongs to no single caller: one leaving must not roll back
	// the others' work. Nor has it a deadline of its own: a group of large batches may
	// rightly take long, and a deadline on the transaction would roll back all of them,
	// to be retried into the same deadline. (The members' statements run under their
	// callers' contexts.)
	ctx := context.Background()
	results := make([]error, len(live))
	deliver := func() {
		for i, r := range live {
			r.finish(results[i])
		}
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		for i := range results {
			results[i] = fmt.Errorf("sqldb: begin: %w", err)
		}
		deliver()
		return
	}
	// abort rolls everything back: member i gets its own error, the ones that had
	// succeeded and the ones not run yet are told to retry.
	abort := func(i int, own error, cause error) {
		if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			db.Logger().Warn("rollback failed", zap.Error(rbErr))
		}
		for j := range results {
			if j == i {
				results[j] = own
			} else if results[j] == nil {
				results[j] = fmt.Errorf("%w: %w", errGroupAborted, cause)
			}
		}
		deliver()
	}
	var ok []int
	var before []func(*sql.Tx) error // of the members that succeeded, in order
	var beforeOf []int               // the member each of before belongs to
	var after []func()               // likewise
	for i, r := range live {
		if err := r.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		if _, err := tx.ExecContext(ctx, "SAVEPOINT "+groupSavepoint); err != nil {
			abort(-1, nil, err)
			return
		}
		var hooks txHooks
		stop := db.collectHooks(tx, &hooks)
		fnErr := db.protect(r, func() error { return r.fn(tx) })
		stop()
		if fnErr != nil {
			// SQLite drops the whole transaction (and its savepoints) when some errors
			// occur, e.g. an interrupted statement, and a PostgreSQL connection whose
			// statement outlived its context is closed: then ROLLBACK TO fails and nothing
			// of this transaction may be committed. (Any other failed statement leaves a
			// PostgreSQL transaction aborted until ROLLBACK TO, which mends it.)
			if _, err := tx.ExecContext(ctx, "ROLLBACK TO "+groupSavepoint); err != nil {
				abort(i, fnErr, err)
				return
			}
		}
		if _, err := tx.ExecContext(ctx, "RELEASE "+groupSavepoint); err != nil {
			own := fnErr
			if own == nil {
				own = fmt.Errorf("%w: %w", errGroupAborted, err)
			}
			abort(i, own, err)
			return
		}
		if fnErr != nil {
			results[i] = fnErr
			continue
		}
		ok = append(ok, i)
		before = append(before, hooks.before...)
		for range hooks.before {
			beforeOf = append(beforeOf, i)
		}
		after = append(after, hooks.after...)
	}
	if len(ok) == 0 {
		_ = tx.Rollback()
		deliver()
		return
	}
	// Outside the savepoints (see BeforeCommit); a failure here cannot be undone for one
	// member alone.
	for k, f := range before {
		i := beforeOf[k]
		if err := db.protect(live[i], func() error { return f(tx) }); err != nil {
			abort(i, err, err)
			return
		}
	}
	if err := tx.Commit(); err != nil {
		for _, i := range ok {
			results[i] = fmt.Errorf("sqldb: commit: %w", err)
		}
	} else {
		db.committed()
		runAll(after)
	}
	deliver()
}
