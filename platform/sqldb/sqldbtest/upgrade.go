package sqldbtest

import (
	"context"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/guarantor/guarantor/platform/sqldb"
)

// UpTo returns the goose migrations of fsys (one directory per dialect, as
// sqldb.MigrateService takes) whose version is at most version: the schema as an older
// release left it, for upgrade tests.
func UpTo(tb testing.TB, fsys fs.FS, version int64) fs.FS {
	tb.Helper()
	out := fstest.MapFS{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".sql") {
			return err
		}
		prefix, _, _ := strings.Cut(path.Base(p), "_")
		v, err := strconv.ParseInt(prefix, 10, 64)
		if err != nil {
			return nil // not a migration
		}
		if v <= version {
			data, err := fs.ReadFile(fsys, p)
			if err != nil {
				return err
			}
			out[p] = &fstest.MapFile{Data: data}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// SideTable names a (name, value) side table and the rows an upgrade test puts in it.
type SideTable struct {
	Table string
	Rows  [][2]string
}

// RequireUpgradeKeepsRows migrates a fresh SQLite database to version from (migrations as
// sqldb.MigrateService takes them, versioned in table), fills the tables, applies every
// later migration, and checks every row is still there, each table is WITHOUT ROWID
// and still has its reverse (value, name) index when it had one.
func RequireUpgradeKeepsRows(t *testing.T, migrations fs.FS, table string, from int64, tables []SideTable, reverseIndexed map[string]bool) {
	t.Helper()
	ctx := context.Background()
	db, _ := OpenDSN(t, sqldb.SQLite)
	if err := sqldb.MigrateService(ctx, db, UpTo(t, migrations, from), table); err != nil {
		t.Fatalf("migrate to %d: %v", from, err)
	}
	for _, st := range tables {
		for _, r := range st.Rows {
			if _, err := db.ExecContext(ctx, "INSERT INTO "+st.Table+" VALUES (?, ?)", r[0], r[1]); err != nil {
				t.Fatalf("fill %s: %v", st.Table, err)
			}
		}
	}
	if err := sqldb.MigrateService(ctx, db, migrations, table); err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	for _, st := range tables {
		rows, err := db.QueryContext(ctx, "SELECT * FROM "+st.Table+" ORDER BY 1, 2")
		if err != nil {
			t.Fatal(err)
		}
		var got [][2]string
		for rows.Next() {
			var a string
			var b any
			if err := rows.Scan(&a, &b); err != nil {
				t.Fatal(err)
			}
			got = append(got, [2]string{a, toString(b)})
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(st.Rows) {
			t.Fatalf("%s holds %v after the upgrade, want %v", st.Table, got, st.Rows)
		}
		for i := range got {
			if got[i] != st.Rows[i] {
				t.Fatalf("%s holds %v after the upgrade, want %v", st.Table, got, st.Rows)
			}
		}
		if _, err := db.ExecContext(ctx, "SELECT rowid FROM "+st.Table); err == nil {
			t.Errorf("%s still has a rowid: not a WITHOUT ROWID table", st.Table)
		}
		var n int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM pragma_index_list(?) WHERE name = ?", st.Table, st.Table+"_value").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if want := reverseIndexed[st.Table]; (n == 1) != want {
			t.Errorf("%s: reverse index present = %v, want %v", st.Table, n == 1, want)
		}
	}
}

func toString(v any) string {
	switch v := v.(type) {
	case []byte:
		return string(v)
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	default:
		return ""
	}
}
