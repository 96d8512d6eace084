package sqldb_test

import (
	"testing"

	"github.com/guarantor/guarantor/platform/sqldb"
)

func TestRebind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       string
		postgres string
	}{
		{"no placeholders", "SELECT 1", "SELECT 1"},
		{"one", "SELECT * FROM t WHERE a = ?", "SELECT * FROM t WHERE a = $1"},
		{"several", "INSERT INTO t (a, b, c) VALUES (?, ?, ?)", "INSERT INTO t (a, b, c) VALUES ($1, $2, $3)"},
		{"adjacent", "SELECT ??", "SELECT $1$2"},
		{"inside literal", "SELECT '?' FROM t WHERE a = ?", "SELECT '?' FROM t WHERE a = $1"},
		{"escaped quote in literal", "SELECT 'it''s ?' , ?", "SELECT 'it''s ?' , $1"},
		{"empty literal", "SELECT '' , ?", "SELECT '' , $1"},
		{"double-quoted identifier", `SELECT "a?b" FROM t WHERE c = ?`, `SELECT "a?b" FROM t WHERE c = $1`},
		{"line comment", "SELECT ? -- why?\nFROM t WHERE a = ?", "SELECT $1 -- why?\nFROM t WHERE a = $2"},
		{"line comment at end", "SELECT ? -- why?", "SELECT $1 -- why?"},
		{"block comment", "SELECT /* ? */ ?", "SELECT /* ? */ $1"},
		{"unterminated literal", "SELECT ?, 'abc?", "SELECT $1, 'abc?"},
		{"unterminated comment", "SELECT ? /* ?", "SELECT $1 /* ?"},
		{"ten or more", "?,?,?,?,?,?,?,?,?,?,?", "$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := sqldb.Postgres.Rebind(tt.in); got != tt.postgres {
				t.Errorf("Postgres.Rebind(%q) = %q, want %q", tt.in, got, tt.postgres)
			}
			if got := sqldb.SQLite.Rebind(tt.in); got != tt.in {
				t.Errorf("SQLite.Rebind(%q) = %q, want it unchanged", tt.in, got)
			}
			db := &sqldb.DB{Dialect: sqldb.Postgres}
			if got := db.Rebind(tt.in); got != tt.postgres {
				t.Errorf("(*DB).Rebind(%q) = %q, want %q", tt.in, got, tt.postgres)
			}
		})
	}
}
