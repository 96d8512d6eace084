package sqldb

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
	"github.com/pressly/goose/v3/lock"
	"go.uber.org/zap"
)

// PlatformMigrationsTable is the goose version table of the platform's own schema, kept apart
// from each service's version table so both sequences of migrations evolve independently.
const PlatformMigrationsTable = "platform_migrations"

//go:embed migrations
var platformMigrations embed.FS

// PlatformMigrations returns the platform's migrations for d (a directory of goose .sql files).
func PlatformMigrations(d Dialect) (fs.FS, error) {
	return fs.Sub(platformMigrations, "migrations/"+d.String())
}

// MigratePlatform applies the platform's own schema (change log, idempotency records, outbox
// cursor) with its own version table.
func MigratePlatform(ctx context.Context, db *DB) error {
	fsys, err := PlatformMigrations(db.Dialect)
	if err != nil {
		return err
	}
	return Migrate(ctx, db, fsys, PlatformMigrationsTable)
}

// Migrate applies every pending goose migration found in fsys (the directory for db's
// dialect, e.g. fs.Sub(embedded, "migrations/postgres")), recording versions in table.
//
// On PostgreSQL a session advisory lock keyed by table makes replicas that start together
// apply the migrations once, one after the other.
func Migrate(ctx context.Context, db *DB, fsys fs.FS, table string) error {
	if table == "" {
		return errors.New("sqldb: migrate: empty version table name")
	}
	var (
		storeDialect database.Dialect
		opts         []goose.ProviderOption
	)
	switch db.Dialect {
	case SQLite:
		storeDialect = database.DialectSQLite3
	case Postgres:
		storeDialect = database.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker(
			lock.WithLockID(advisoryKey("goose:"+table)),
			lock.WithLockTimeout(1, 300), // poll every second, give up after 5 minutes
		)
		if err != nil {
			return fmt.Errorf("sqldb: migrate: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	default:
		return fmt.Errorf("sqldb: migrate: unsupported dialect %s", db.Dialect)
	}
	store, err := database.NewStore(storeDialect, table)
	if err != nil {
		return fmt.Errorf("sqldb: migrate: %w", err)
	}
	opts = append(opts,
		goose.WithStore(store),
		goose.WithDisableGlobalRegistry(true), // only the SQL files in fsys, no Go migrations
		goose.WithLogger(gooseLogger{db.Logger()}),
	)
	provider, err := goose.NewProvider(goose.DialectCustom, db.DB, fsys, opts...)
	if err != nil {
		return fmt.Errorf("sqldb: migrate %s: %w", table, err)
	}
	if err := checkNotNewer(ctx, db, provider, table); err != nil {
		return err
	}
	results, err := provider.Up(ctx)
	if err != nil {
		return fmt.Errorf("sqldb: migrate %s: %w", table, err)
	}
	for _, r := range results {
		db.Logger().Info("migration applied", zap.String("table", table),
			zap.Int64("version", r.Source.Version), zap.Duration("took", r.Duration))
	}
	return nil
}

// SchemaTooNewError is Migrate's refusal of a database a newer release migrated: this
// binary does not know what that release's migrations changed, so serving could
// misread or corrupt what that release wrote (an unchecked rollback).
type SchemaTooNewError struct {
	Table    string
	Database int64 // the version the database is at
	Known    int64 // the newest version this binary has
}

func (e *SchemaTooNewError) Error() string {
	return fmt.Sprintf("sqldb: %s: the database's schema is at version %d, newer than this binary's %d: "+
		"a newer release migrated it. Run that release (or a newer one), or restore the backup taken before the upgrade; "+
		"if that release's notes say its schema works with this one, start with --allow-newer-schema",
		e.Table, e.Database, e.Known)
}

// checkNotNewer refuses a database whose schema is ahead of every migration in provider,
// unless db.AllowNewerSchema.
func checkNotNewer(ctx context.Context, db *DB, provider *goose.Provider, table string) error {
	sources := provider.ListSources()
	if len(sources) == 0 {
		return nil
	}
	known := sources[len(sources)-1].Version
	current, err := provider.GetDBVersion(ctx)
	if err != nil {
		return fmt.Errorf("sqldb: migrate %s: %w", table, err)
	}
	if current <= known {
		return nil
	}
	if !db.AllowNewerSchema {
		return &SchemaTooNewError{Table: table, Database: current, Known: known}
	}
	db.Logger().Warn("the database's schema is newer than this binary's; going on as --allow-newer-schema asks",
		zap.String("table", table), zap.Int64("database_version", current), zap.Int64("binary_version", known))
	return nil
}

// AdvisoryKey derives a PostgreSQL advisory lock key from a name, so that unrelated users of
// advisory locks (migrations per version table, one relay per stream) never collide.
func AdvisoryKey(name string) int64 { return advisoryKey(name) }

func advisoryKey(name string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("guarantor:" + name))
	return int64(h.Sum64()) //nolint:gosec // any 64-bit value is a valid key; wrap-around is intended
}

// gooseLogger routes goose's printf-style output to zap at debug level: the per-migration
// summary is logged by Migrate itself.
type gooseLogger struct{ log *zap.Logger }

func (l gooseLogger) Printf(format string, v ...any) {
	l.log.Debug("goose", zap.String("detail", fmt.Sprintf(format, v...)))
}

func (l gooseLogger) Fatalf(format string, v ...any) {
	l.log.Error("goose", zap.String("detail", fmt.Sprintf(format, v...)))
}
