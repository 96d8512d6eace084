package pgtest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/guarantor/guarantor/platform/testkit/pgtest"
)

func TestNewDatabase(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDatabase(t)
	if !strings.Contains(dsn, "guarantor_test_") {
		t.Fatalf("dsn %q does not name a test database", dsn)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	// Left open on purpose: Cleanup must drop the database anyway (FORCE).
	t.Cleanup(func() { _ = conn.Close(context.Background()) })

	var db string
	if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&db); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(db, "guarantor_test_") {
		t.Fatalf("connected to %q, want a guarantor_test_ database", db)
	}

	if _, err := conn.Exec(ctx, `CREATE TABLE items (id bigint PRIMARY KEY, title text NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	rows := []struct {
		id    int64
		title string
	}{{1, "one"}, {2, "two"}}
	for _, r := range rows {
		if _, err := conn.Exec(ctx, `INSERT INTO items (id, title) VALUES ($1, $2)`, r.id, r.title); err != nil {
			t.Fatal(err)
		}
	}
	got, err := pgx.CollectRows[string](mustQuery(ctx, t, conn, `SELECT title FROM items ORDER BY id`), pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "one,two" {
		t.Errorf("titles = %v, want [one two]", got)
	}
}

func mustQuery(ctx context.Context, t testing.TB, conn *pgx.Conn, sql string) pgx.Rows {
	t.Helper()
	rows, err := conn.Query(ctx, sql)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestDatabasesAreIsolatedAndDropped(t *testing.T) {
	t.Parallel()
	var first string
	t.Run("first", func(t *testing.T) {
		first = pgtest.NewDatabase(t)
		conn, err := pgx.Connect(context.Background(), first)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), `CREATE TABLE only_here (x int)`); err != nil {
			t.Fatal(err)
		}
	})
	if first == "" {
		t.Skip("no database")
	}
	second := pgtest.NewDatabase(t)
	if second == first {
		t.Fatal("two calls returned the same database")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename = 'only_here'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Error("second database sees the first one's table")
	}
	// The first subtest has ended, so its database is gone.
	if c, err := pgx.Connect(ctx, first); err == nil {
		_ = c.Close(ctx)
		t.Error("first database still exists after its test's Cleanup")
	}
}
