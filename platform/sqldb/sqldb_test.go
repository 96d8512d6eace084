package sqldb_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/zap/zaptest"

	"github.com/guarantor/guarantor/platform/sqldb"
	"github.com/guarantor/guarantor/platform/sqldb/sqldbtest"
)

func TestOpenRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, dsn, wantErr string
	}{
		{"unknown scheme", "mysql://x", "unsupported DSN scheme"},
		{"empty", "", "unsupported DSN scheme"},
		{"sqlite without path", "sqlite://", "needs a file path"},
		{"sqlite in memory", "sqlite://:memory:", "needs a file path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db, err := sqldb.Open(context.Background(), tt.dsn, zaptest.NewLogger(t))
			if err == nil {
				_ = db.Close()
				t.Fatalf("Open(%q) succeeded, want error containing %q", tt.dsn, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Open(%q) error = %v, want it to contain %q", tt.dsn, err, tt.wantErr)
			}
		})
	}
}

func TestOpenSQLite(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir) // for the relative form
	tests := []struct {
		name, dsn, file string
	}{
		{"absolute path, parent created", "sqlite://" + filepath.Join(dir, "a", "b", "x.db"), filepath.Join(dir, "a", "b", "x.db")},
		{"relative path, parent created", "sqlite://rel/y.db", filepath.Join(dir, "rel", "y.db")},
		{"extra driver parameters", "sqlite://" + filepath.Join(dir, "z.db") + "?_pragma=cache_size(-4000)", filepath.Join(dir, "z.db")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := sqldb.Open(context.Background(), tt.dsn, zaptest.NewLogger(t))
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer db.Close()
			if db.Dialect != sqldb.SQLite {
				t.Fatalf("dialect = %v, want sqlite", db.Dialect)
			}
			if _, err := os.Stat(tt.file); err != nil {
				t.Fatalf("database file: %v", err)
			}
			pragmas := []struct{ name, want string }{
				{"journal_mode", "wal"}, {"busy_timeout", "5000"}, {"foreign_keys", "1"}, {"synchronous", "1"}, {"temp_store", "2"},
			}
			for _, p := range pragmas {
				var got string
				if err := db.QueryRow("PRAGMA " + p.name).Scan(&got); err != nil {
					t.Fatalf("PRAGMA %s: %v", p.name, err)
				}
				if got != p.want {
					t.Errorf("PRAGMA %s = %q, want %q", p.name, got, p.want)
				}
			}
		})
	}
}

func TestInTx(t *testing.T) {
	sqldbtest.ForEachDialect(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		if _, err := db.ExecContext(ctx, "CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL)"); err != nil {
			t.Fatal(err)
		}
		count := func(t *testing.T, k string) int {
			t.Helper()
			var n int
			if err := db.QueryRowContext(ctx, db.Rebind("SELECT COUNT(*) FROM kv WHERE k = ?"), k).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		insert := func(k string) func(tx *sql.Tx) error {
			return func(tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, db.Rebind("INSERT INTO kv (k, v) VALUES (?, 1)"), k)
				return err
			}
		}
		boom := errors.New("boom")

		t.Run("commit", func(t *testing.T) {
			if err := db.InTx(ctx, insert("commit")); err != nil {
				t.Fatal(err)
			}
			if n := count(t, "commit"); n != 1 {
				t.Fatalf("rows = %d, want 1", n)
			}
		})
		t.Run("error rolls back", func(t *testing.T) {
			err := db.InTx(ctx, func(tx *sql.Tx) error {
				if err := insert("error")(tx); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("err = %v, want boom", err)
			}
			if n := count(t, "error"); n != 0 {
				t.Fatalf("rows = %d, want 0", n)
			}
		})
		t.Run("panic rolls back and propagates", func(t *testing.T) {
			func() {
				defer func() {
					if p := recover(); p != "kaboom" {
						t.Fatalf("recovered %v, want kaboom", p)
					}
				}()
				_ = db.InTx(ctx, func(tx *sql.Tx) error {
					_ = insert("panic")(tx)
					panic("kaboom")
				})
			}()
			if n := count(t, "panic"); n != 0 {
				t.Fatalf("rows = %d, want 0", n)
			}
			// The pool must still work (the connection was released).
			if err := db.InTx(ctx, insert("after-panic")); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("retries serialization failures", func(t *testing.T) {
			attempts := 0
			err := db.InTx(ctx, func(tx *sql.Tx) error {
				attempts++
				if err := insert("retry")(tx); err != nil {
					return err
				}
				if attempts < 3 {
					return &pgconn.PgError{Code: "40001"}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if attempts != 3 {
				t.Fatalf("attempts = %d, want 3", attempts)
			}
			if n := count(t, "retry"); n != 1 {
				t.Fatalf("rows = %d, want 1 (failed attempts rolled back)", n)
			}
		})
		t.Run("gives up after bounded retries", func(t *testing.T) {
			attempts := 0
			err := db.InTx(ctx, func(tx *sql.Tx) error {
				attempts++
				return &pgconn.PgError{Code: "40P01"}
			})
			if !sqldb.IsRetryable(err) {
				t.Fatalf("err = %v, want the deadlock error", err)
			}
			if attempts != 5 {
				t.Fatalf("attempts = %d, want 5", attempts)
			}
		})
		t.Run("does not retry other errors", func(t *testing.T) {
			attempts := 0
			_ = db.InTx(ctx, func(tx *sql.Tx) error {
				attempts++
				return boom
			})
			if attempts != 1 {
				t.Fatalf("attempts = %d, want 1", attempts)
			}
		})
		t.Run("unique violation is recognised", func(t *testing.T) {
			err := db.InTx(ctx, insert("commit"))
			if !sqldb.IsUniqueViolation(err) {
				t.Fatalf("err = %v, want a unique violation", err)
			}
			if sqldb.IsRetryable(err) {
				t.Fatal("a unique violation must not be retried")
			}
		})
		t.Run("concurrent writers all commit", func(t *testing.T) {
			if _, err := db.ExecContext(ctx, "INSERT INTO kv (k, v) VALUES ('counter', 0)"); err != nil {
				t.Fatal(err)
			}
			const writers, each = 8, 10
			var wg sync.WaitGroup
			errs := make(chan error, writers*each)
			for range writers {
				wg.Go(func() {
					for range each {
						errs <- db.InTx(ctx, func(tx *sql.Tx) error {
							var v int
							q := "SELECT v FROM kv WHERE k = 'counter'"
							if db.Dialect == sqldb.Postgres {
								q += " FOR UPDATE"
							}
							if err := tx.QueryRowContext(ctx, q).Scan(&v); err != nil {
								return err
							}
							_, err := tx.ExecContext(ctx, db.Rebind("UPDATE kv SET v = ? WHERE k = 'counter'"), v+1)
							return err
						})
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			var v int
			if err := db.QueryRowContext(ctx, "SELECT v FROM kv WHERE k = 'counter'").Scan(&v); err != nil {
				t.Fatal(err)
			}
			if v != writers*each {
				t.Fatalf("counter = %d, want %d (a lost update)", v, writers*each)
			}
		})
	})
}

func TestMigrate(t *testing.T) {
	serviceMigrations := fstest.MapFS{
		"00001_things.sql": {Data: []byte("-- +goose Up\nCREATE TABLE things (id TEXT PRIMARY KEY);\n-- +goose Down\nDROP TABLE things;\n")},
		"00002_more.sql":   {Data: []byte("-- +goose Up\nALTER TABLE things ADD COLUMN n INTEGER;\n-- +goose Down\nSELECT 1;\n")},
	}
	sqldbtest.ForEachDialect(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		// ForEachDialect applied the platform schema once already; again is a no-op.
		if err := sqldb.MigratePlatform(ctx, db); err != nil {
			t.Fatalf("second MigratePlatform: %v", err)
		}
		if err := sqldb.Migrate(ctx, db, serviceMigrations, "svc_migrations"); err != nil {
			t.Fatalf("service migrations: %v", err)
		}
		if err := sqldb.Migrate(ctx, db, serviceMigrations, "svc_migrations"); err != nil {
			t.Fatalf("service migrations again: %v", err)
		}
		tests := []struct {
			table string
			want  int64
		}{
			{sqldb.PlatformMigrationsTable, 3},
			{"svc_migrations", 2},
		}
		for _, tt := range tests {
			t.Run(tt.table, func(t *testing.T) {
				var v int64
				if err := db.QueryRowContext(ctx, "SELECT MAX(version_id) FROM "+tt.table).Scan(&v); err != nil {
					t.Fatal(err)
				}
				if v != tt.want {
					t.Fatalf("version = %d, want %d", v, tt.want)
				}
			})
		}
		if _, err := db.ExecContext(ctx, "INSERT INTO things (id, n) VALUES ('a', 1)"); err != nil {
			t.Fatalf("migrated table unusable: %v", err)
		}
		if err := sqldb.Migrate(ctx, db, serviceMigrations, ""); err == nil {
			t.Fatal("empty table name accepted")
		}
	})
}

// TestMigrateRefusesANewerSchema: a binary whose newest migration is older than the
// database's (a rollback after an upgrade migrated it) refuses to go on, saying what to
// do, unless it is told the newer schema is safe for it; the database is left as it is.
func TestMigrateRefusesANewerSchema(t *testing.T) {
	newer := fstest.MapFS{
		"00001_things.sql": {Data: []byte("-- +goose Up\nCREATE TABLE things (id TEXT PRIMARY KEY);\n")},
		"00002_more.sql":   {Data: []byte("-- +goose Up\nALTER TABLE things ADD COLUMN n INTEGER;\n")},
	}
	older := fstest.MapFS{"00001_things.sql": newer["00001_things.sql"]}
	sqldbtest.ForEachDialect(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		if err := sqldb.Migrate(ctx, db, newer, "svc_migrations"); err != nil {
			t.Fatal(err)
		}
		err := sqldb.Migrate(ctx, db, older, "svc_migrations")
		var tooNew *sqldb.SchemaTooNewError
		if !errors.As(err, &tooNew) || tooNew.Database != 2 || tooNew.Known != 1 || tooNew.Table != "svc_migrations" {
			t.Fatalf("older binary: err = %v, want a SchemaTooNewError at 2 against 1", err)
		}
		if !strings.Contains(err.Error(), "--allow-newer-schema") {
			t.Errorf("the error does not say how to go on: %v", err)
		}
		db.AllowNewerSchema = true
		if err := sqldb.Migrate(ctx, db, older, "svc_migrations"); err != nil {
			t.Fatalf("older binary allowed: %v", err)
		}
		var v int64
		if err := db.QueryRowContext(ctx, "SELECT MAX(version_id) FROM svc_migrations").Scan(&v); err != nil || v != 2 {
			t.Fatalf("version after the refused and the allowed runs = %d (%v), want 2", v, err)
		}
	})
}

// Replicas starting together must apply migrations once, one after the other.
func TestMigrateConcurrentPostgres(t *testing.T) {
	_, dsn := sqldbtest.OpenDSN(t, sqldb.Postgres)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		db, err := sqldb.Open(ctx, dsn, zaptest.NewLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		wg.Go(func() { errs[i] = sqldb.MigratePlatform(ctx, db) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
}

// TestConcurrentInTx: many transactions at once on one handle, as a service's requests
// come. On both dialects they queue for the handle's writer and commit in groups, each in
// a savepoint of one shared transaction: a member that fails leaves no trace, a member
// that loses a duplicate key to another gets the unique violation (on PostgreSQL its
// failed statement aborted the shared transaction until its savepoint was rolled back)
// and finds the winner's row committed, and every other member commits.
func TestConcurrentInTx(t *testing.T) {
	sqldbtest.ForEachDialect(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		if _, err := db.ExecContext(ctx, "CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL)"); err != nil {
			t.Fatal(err)
		}
		const n = 64
		errFail := errors.New("member fails")
		errs := make([]error, n)
		dupSeen := make([]bool, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				key := fmt.Sprintf("k%d", i)
				if i%10 == 9 {
					key = "dup" // members 9, 19, ... 59 all write it: one wins
				}
				errs[i] = db.InTx(ctx, func(tx *sql.Tx) error {
					if _, err := tx.ExecContext(ctx, db.Rebind("INSERT INTO kv (k, v) VALUES (?, ?)"), key, i); err != nil {
						return err
					}
					// Written after the insert: the savepoint must undo it.
					if i%7 == 3 {
						return errFail
					}
					return nil
				})
				if sqldb.IsUniqueViolation(errs[i]) {
					var v int
					dupSeen[i] = db.QueryRowContext(ctx, db.Rebind("SELECT v FROM kv WHERE k = ?"), key).Scan(&v) == nil
				}
			})
		}
		close(start)
		wg.Wait()

		rows, err := db.QueryContext(ctx, "SELECT k, v FROM kv")
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for rows.Next() {
			var k string
			var v int
			if err := rows.Scan(&k, &v); err != nil {
				t.Fatal(err)
			}
			got[k] = v
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		_ = rows.Close()
		winners := 0
		for i, err := range errs {
			dup := i%10 == 9
			switch {
			case i%7 == 3 && !dup:
				if !errors.Is(err, errFail) {
					t.Errorf("member %d: err %v, want its own failure", i, err)
				}
				if _, ok := got[fmt.Sprintf("k%d", i)]; ok {
					t.Errorf("member %d failed but its row was committed", i)
				}
			case !dup:
				if err != nil {
					t.Errorf("member %d: %v", i, err)
				}
				if v, ok := got[fmt.Sprintf("k%d", i)]; !ok || v != i {
					t.Errorf("member %d succeeded but its row is %d, %v", i, v, ok)
				}
			case err == nil:
				winners++
				if got["dup"] != i {
					t.Errorf("member %d won the duplicate key, but the row holds %d", i, got["dup"])
				}
			case sqldb.IsUniqueViolation(err):
				if !dupSeen[i] {
					t.Errorf("member %d lost the duplicate key, but saw no winner's row when told", i)
				}
			case !errors.Is(err, errFail):
				t.Errorf("member %d (duplicate key): %v", i, err)
			}
		}
		if winners != 1 {
			t.Errorf("%d members won the duplicate key, want 1", winners)
		}
	})
}
