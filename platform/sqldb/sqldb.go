// Package sqldb opens the one database/sql handle a service uses, for SQLite or PostgreSQL,
// applies migrations and runs transactions with bounded retries.
//
// Both engines sit behind the same *sql.DB so that most SQL is shared: queries are written
// with `?` placeholders and passed through (*DB).Rebind.
package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"go.uber.org/zap"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Dialect names the SQL engine behind a DB.
type Dialect int

const (
	// SQLite is modernc.org/sqlite, the single-process engine of the dev stack and tests.
	SQLite Dialect = iota + 1
	// Postgres is PostgreSQL through pgx, the engine of replicated deployments.
	Postgres
)

func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case Postgres:
		return "postgres"
	default:
		return fmt.Sprintf("Dialect(%d)", int(d))
	}
}

// DB is a database handle that knows its dialect.
type DB struct {
	*sql.DB
	Dialect Dialect
	// AllowNewerSchema lets Migrate accept a schema a newer release migrated (a rollback
	// whose release notes say it is safe); otherwise Migrate refuses it.
	AllowNewerSchema bool

	// path is the SQLite file (absolute); empty for PostgreSQL. It identifies the database
	// for process-local coordination (see Key).
	path string
	// writer runs the write transactions started through InTx inside this process
	// (group.go), so writers queue in Go (and give up with their context) instead of
	// spinning in SQLite's busy handler or queueing for PostgreSQL's row lock, and commit
	// together.
	writer     *groupWriter
	writerOnce sync.Once
	log        *zap.Logger
	// stopCheckpoints ends the SQLite background checkpointer; closed by Close.
	stopCheckpoints chan struct{}
	checkpointsDone chan struct{}
	closeOnce       sync.Once
	// stmts holds the prepared statements of ExecCached and QueryRowCached (SQLite).
	stmts stmtCache
	// onCommit, when set, runs right after each commit of InTx (see OnCommit).
	onCommit atomic.Pointer[func()]
	// hooks holds, for each transaction InTx is running, where BeforeCommit and
	// AfterCommit collect the functions to run at its commit.
	hooksMu sync.Mutex
	hooks   map[*sql.Tx]*txHooks
}

// txHooks are the functions one caller of InTx registered for its transaction.
type txHooks struct {
	before []func(tx *sql.Tx) error // BeforeCommit
	after  []func()                 // AfterCommit
}

// AfterCommit registers f to run right after tx commits: on SQLite in the writer, before
// the transaction's caller is told, and under group commit only when this caller's part
// of the shared transaction is committed; never when it rolls back. f must be quick and
// must not use the database. tx must be one InTx passed to its function.
//
// Readers woken by a commit (the outbox relay, Watch streams) are told this way, at the
// commit, not once the caller's goroutine is scheduled again.
func (db *DB) AfterCommit(tx *sql.Tx, f func()) {
	h := db.hooksOf(tx, "AfterCommit")
	h.after = append(h.after, f)
}

// BeforeCommit registers f to run in tx once the function InTx runs has returned without
// error, just before the commit; never when it fails. tx must be one InTx passed to its
// function. Under group commit f runs after every member's function, outside their
// savepoints, so its writes cannot be undone on their own: when f fails, the whole
// shared transaction is rolled back (this caller gets f's error, the others retry). f
// must not rely on the caller's context, which may end meanwhile.
//
// It exists for writes that cost much inside a savepoint: SQLite's FTS5 writes out the
// index terms it has gathered every time a savepoint opens, so full-text updates made
// by each member of a group would become as many index segments, flushed and merged
// one by one, instead of one flush at the commit.
func (db *DB) BeforeCommit(tx *sql.Tx, f func(tx *sql.Tx) error) {
	h := db.hooksOf(tx, "BeforeCommit")
	h.before = append(h.before, f)
}

func (db *DB) hooksOf(tx *sql.Tx, what string) *txHooks {
	db.hooksMu.Lock()
	defer db.hooksMu.Unlock()
	h, ok := db.hooks[tx]
	if !ok {
		panic("sqldb: " + what + " with a transaction InTx is not running")
	}
	return h
}

// collectHooks makes BeforeCommit(tx, ...) and AfterCommit(tx, ...) add to h until the
// returned function is called.
func (db *DB) collectHooks(tx *sql.Tx, h *txHooks) (stop func()) {
	db.hooksMu.Lock()
	if db.hooks == nil {
		db.hooks = map[*sql.Tx]*txHooks{}
	}
	db.hooks[tx] = h
	db.hooksMu.Unlock()
	return func() {
		db.hooksMu.Lock()
		delete(db.hooks, tx)
		db.hooksMu.Unlock()
	}
}

// runBefore runs the BeforeCommit functions fs in tx, in order, and returns the first
// error.
func runBefore(tx *sql.Tx, fs []func(*sql.Tx) error) error {
	for _, f := range fs {
		if err := f(tx); err != nil {
			return err
		}
	}
	return nil
}

func runAll(fs []func()) {
	for _, f := range fs {
		f()
	}
}

// OnCommit registers f to run right after each commit of a transaction started through
// InTx, before its callers are told (on SQLite, in the writer goroutine); nil removes it.
// It is instrumentation for benchmarks that need the moment of the commit itself: f
// delays every later write, so keep it short.
func (db *DB) OnCommit(f func()) {
	if f == nil {
		db.onCommit.Store(nil)
		return
	}
	db.onCommit.Store(&f)
}

func (db *DB) committed() {
	if f := db.onCommit.Load(); f != nil {
		(*f)()
	}
}

// Queryer is what *sql.DB, *sql.Tx and *sql.Conn have in common.
type Queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// sqliteParams are the connection settings every SQLite connection gets:
//   - WAL lets readers (watchers, the relay) proceed while one writer commits;
//   - busy_timeout makes a second writer wait instead of failing at once;
//   - foreign_keys is off by default in SQLite;
//   - synchronous=NORMAL is durable across application crashes in WAL mode (a power loss may
//     lose the last transactions, never corrupt the file);
//   - wal_autocheckpoint(10000): checkpoints normally run in a background goroutine
//     (see checkpointLoop), because SQLite's automatic checkpoint runs inside a writer's
//     COMMIT and makes every queued writer wait for its copy and fsync; the high threshold
//     is only a backstop should the background fall far behind;
//   - temp_store=MEMORY keeps savepoint journals in memory: group commit runs each write in
//     a savepoint, and SQLite copies every page a savepoint first touches into a
//     sub-journal, which past 64 KiB (a Create touches some thirty 4 KiB pages) spilled to
//     a temporary file, a pwrite per page: a sixth of the writer's time at 64 clients.
//     Temporary b-trees of queries live in memory too; List queries are paged (at most
//     one page of rows sorted) and use the time indexes, so those stay small;
//   - _txlock=immediate makes every read-write transaction take the write lock at BEGIN, so two
//     transactions never both read and then deadlock trying to upgrade to a writer (which
//     SQLite reports as SQLITE_BUSY without waiting). Read-only transactions
//     (sql.TxOptions{ReadOnly: true}) still begin deferred;
//   - case_sensitive_like makes LIKE (filters' prefix matches, `display_name:"Fra*"`)
//     tell case apart as PostgreSQL's does, and as `=` does on both.
const sqliteParams = "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)" +
	"&_pragma=synchronous(NORMAL)&_pragma=wal_autocheckpoint(10000)&_pragma=temp_store(MEMORY)" +
	"&_pragma=case_sensitive_like(1)&_txlock=immediate"

// Open opens dsn and checks that the database answers.
//
// Accepted forms: "sqlite:///abs/path.db", "sqlite://relative/path.db" (relative to the working
// directory; extra query parameters are passed to the driver), "postgres://..." and
// "postgresql://...". The parent directory of a SQLite file is created.
func Open(ctx context.Context, dsn string, log *zap.Logger) (*DB, error) {
	if log == nil {
		log = zap.NewNop()
	}
	var (
		db  *DB
		err error
	)
	switch {
	case strings.HasPrefix(dsn, "sqlite://"):
		db, err = openSQLite(strings.TrimPrefix(dsn, "sqlite://"))
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		db, err = openPostgres(dsn)
	default:
		return nil, fmt.Errorf("sqldb: unsupported DSN scheme in %q (want sqlite:// or postgres://)", redact(dsn))
	}
	if err != nil {
		return nil, err
	}
	db.log = log
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("sqldb: ping %s: %w", db.Dialect, err)
	}
	log.Info("database opened", zap.Stringer("dialect", db.Dialect), zap.String("dsn", redact(dsn)))
	return db, nil
}

// OpenExisting is Open for commands that work on a database a service already made (a
// backup, a redrive, a compaction): a SQLite file that does not exist is an error, not
// a new empty database.
func OpenExisting(ctx context.Context, dsn string, log *zap.Logger) (*DB, error) {
	if rest, ok := strings.CutPrefix(dsn, "sqlite://"); ok {
		if path, _, _ := strings.Cut(rest, "?"); path != "" && path != ":memory:" {
			if _, err := os.Stat(path); err != nil {
				return nil, fmt.Errorf("sqldb: no database at %s: %w", path, err)
			}
		}
	}
	return Open(ctx, dsn, log)
}

func openSQLite(rest string) (*DB, error) {
	path, query, _ := strings.Cut(rest, "?")
	if path == "" || path == ":memory:" {
		// An in-memory database exists per connection; with a pool every connection would
		// see a different, empty database.
		return nil, errors.New("sqldb: sqlite DSN needs a file path (in-memory databases are not supported)")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqldb: sqlite path %q: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o750); err != nil {
		return nil, fmt.Errorf("sqldb: create directory for %q: %w", abs, err)
	}
	params := sqliteParams
	if query != "" {
		params += "&" + query
	}
	sqlDB, err := sql.Open("sqlite", abs+"?"+params)
	if err != nil {
		return nil, fmt.Errorf("sqldb: open sqlite %q: %w", abs, err)
	}
	// One writer at a time is SQLite's rule anyway; the pool exists for concurrent WAL readers
	// (every Watch stream and the relay read on their own). Connections are kept open because
	// each new one re-runs the pragmas and re-reads the schema.
	sqlDB.SetMaxOpenConns(8)
	sqlDB.SetMaxIdleConns(8)
	sqlDB.SetConnMaxLifetime(0)
	db := &DB{DB: sqlDB, Dialect: SQLite, path: abs, stopCheckpoints: make(chan struct{}), checkpointsDone: make(chan struct{})}
	go db.checkpointLoop(checkpointEvery)
	return db, nil
}

// checkpointEvery is how often the background checkpointer copies the WAL into the
// database file.
const checkpointEvery = 250 * time.Millisecond

// checkpointLoop runs PASSIVE checkpoints off the write path: they copy what they can
// without waiting for (or blocking) readers and writers.
func (db *DB) checkpointLoop(every time.Duration) {
	defer close(db.checkpointsDone)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-db.stopCheckpoints:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if _, err := db.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
				db.Logger().Debug("background checkpoint failed", zap.Error(err))
			}
			cancel()
		}
	}
}

// Close stops the background checkpointer (SQLite) and closes the pool.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		db.stopWriter()
		if db.stopCheckpoints != nil {
			close(db.stopCheckpoints)
			<-db.checkpointsDone
		}
		db.stmts.close()
	})
	return db.DB.Close()
}

func openPostgres(dsn string) (*DB, error) {
	sqlDB, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqldb: open postgres: %w", err)
	}
	// Sized for a 2-core service replica: enough for a handful of concurrent requests, the
	// relay's leadership session and the watch streams, well under PostgreSQL's default
	// max_connections (100) even with several replicas and services.
	sqlDB.SetMaxOpenConns(20)
	sqlDB.SetMaxIdleConns(10)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	sqlDB.SetConnMaxLifetime(30 * time.Minute)
	return &DB{DB: sqlDB, Dialect: Postgres}, nil
}

// Key identifies the underlying database for process-local coordination: the absolute file
// path for SQLite; empty for PostgreSQL, where coordination goes through the server.
func (db *DB) Key() string { return db.path }

// Logger returns the logger passed to Open (never nil).
func (db *DB) Logger() *zap.Logger {
	if db.log == nil {
		return zap.NewNop()
	}
	return db.log
}

// redact is RedactDSN.
func redact(dsn string) string { return RedactDSN(dsn) }

// keywordPassword matches the password of a keyword/value connection string
// ("host=db password='s e c' user=app"), quoted or not.
var keywordPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)

// RedactDSN is a database DSN or URL with its password hidden, for logs and error
// messages: in the user information (postgres://app:secret@db), in the query
// (?password=secret, which pgx and libpq accept too) or as a keyword (password=secret).
func RedactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "<unparseable dsn>"
	}
	if u.Scheme == "" {
		return keywordPassword.ReplaceAllString(dsn, "${1}xxxxx")
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}
