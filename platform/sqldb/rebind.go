package sqldb

import (
	"strconv"
	"strings"
)

// Rebind rewrites `?` placeholders into the dialect's form: `$1..$n` for PostgreSQL, unchanged
// for SQLite. A `?` inside a single-quoted string literal, a double-quoted identifier or a
// comment is left alone. Dollar-quoted and E-prefixed escape strings are not understood: the shared
// SQL does not use them.
func (db *DB) Rebind(query string) string { return db.Dialect.Rebind(query) }

// Rebind is (*DB).Rebind for code that only holds a Dialect.
func (d Dialect) Rebind(query string) string {
	if d != Postgres || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'' || c == '"':
			// Copy through the closing quote; a doubled quote ('' or "") is an escaped quote
			// inside the literal and simply reopens it on the next iteration.
			end := strings.IndexByte(query[i+1:], c)
			if end < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+end+2])
			i += end + 1
		case c == '-' && i+1 < len(query) && query[i+1] == '-':
			end := strings.IndexByte(query[i:], '\n')
			if end < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+end+1])
			i += end
		case c == '/' && i+1 < len(query) && query[i+1] == '*':
			end := strings.Index(query[i+2:], "*/")
			if end < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+end+4])
			i += end + 3
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
