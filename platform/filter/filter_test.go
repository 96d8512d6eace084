package filter

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
)

func testSchema() Schema {
	return Schema{
		"license":    {Kind: KindEnum, Column: "e.license", Enum: typev1.License(0).Descriptor()},
		"when.time":  {Kind: KindTimestamp, Column: "e.when_time"},
		"sub_type":   {Kind: KindString, Column: "e.sub_type"},
		"cameo_code": {Kind: KindString, Column: "e.cameo_code", Prefix: true},
		"revision":   {Kind: KindInt, Column: "e.revision"},
		"deleted":    {Kind: KindBool, Column: "e.deleted"},
		"tags": {Kind: KindString, Prefix: true, Exists: func(prefix bool) string {
			if prefix {
				return `EXISTS (SELECT 1 FROM tags t WHERE t.name = e.name AND t.tag LIKE ? ESCAPE '\')`
			}
			return "EXISTS (SELECT 1 FROM tags t WHERE t.name = e.name AND t.tag = ?)"
		}},
		"search": {Custom: func(op string, v Value) (string, []any, error) {
			if op != ":" {
				return "", nil, errors.New(`use search:"words"`)
			}
			return "e.rowid IN (SELECT rowid FROM fts WHERE fts MATCH ?)", []any{FTS5Query(v.Text)}, nil
		}},
	}
}

func TestCompile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		filter string
		sql    string
		args   []any
	}{
		{"empty", "", "1=1", nil},
		{"blank", "   ", "1=1", nil},
		{"string equality", `sub_type = "summit"`, "e.sub_type = ?", []any{"summit"}},
		{"single quotes", `sub_type = 'summit'`, "e.sub_type = ?", []any{"summit"}},
		{"not equal", `sub_type != "summit"`, "e.sub_type <> ?", []any{"summit"}},
		{"enum short name", `license = ACLED`, "e.license = ?", []any{int64(4)}},
		{"enum full name", `license = LICENSE_GDELT`, "e.license = ?", []any{int64(3)}},
		{"timestamp range", `when.time >= "2026-01-01T00:00:00Z" AND when.time < "2026-02-01"`,
			"(e.when_time >= ?) AND (e.when_time < ?)", []any{int64(1767225600000000000), int64(1769904000000000000)}},
		{"prefix", `cameo_code:"19*"`, `e.cameo_code LIKE ? ESCAPE '\'`, []any{"19%"}},
		{"has without star is equality", `cameo_code:"190"`, "e.cameo_code = ?", []any{"190"}},
		{"repeated has", `tags:"seed"`, "EXISTS (SELECT 1 FROM tags t WHERE t.name = e.name AND t.tag = ?)", []any{"seed"}},
		{"repeated not", `tags != "seed"`, "NOT EXISTS (SELECT 1 FROM tags t WHERE t.name = e.name AND t.tag = ?)", []any{"seed"}},
		{"repeated prefix escapes like", `tags:"a_b%*"`, `EXISTS (SELECT 1 FROM tags t WHERE t.name = e.name AND t.tag LIKE ? ESCAPE '\')`, []any{`a\_b\%%`}},
		{"or binds tighter than and", `sub_type = "a" AND sub_type = "b" OR sub_type = "c"`,
			"(e.sub_type = ?) AND ((e.sub_type = ?) OR (e.sub_type = ?))", []any{"a", "b", "c"}},
		{"implicit and", `sub_type = "a" revision > 3`, "(e.sub_type = ?) AND (e.revision > ?)", []any{"a", int64(3)}},
		{"not and parens", `NOT (sub_type = "a" OR deleted = true)`, "NOT ((e.sub_type = ?) OR (e.deleted = ?))", []any{"a", true}},
		{"minus negation", `-sub_type = "a"`, "NOT (e.sub_type = ?)", []any{"a"}},
		{"negative number", `revision > -5`, "e.revision > ?", []any{int64(-5)}},
		{"full text is a bind argument", `search:"military hubs\" OR x"`, "e.rowid IN (SELECT rowid FROM fts WHERE fts MATCH ?)", []any{`"military" "hubs" "OR" "x"`}},
		{"injection stays an argument", `sub_type = "x'; DROP TABLE events; --"`, "e.sub_type = ?", []any{"x'; DROP TABLE events; --"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Compile(tt.filter, testSchema())
			if err != nil {
				t.Fatalf("Compile(%q): %v", tt.filter, err)
			}
			if got.SQL != tt.sql {
				t.Errorf("SQL = %q, want %q", got.SQL, tt.sql)
			}
			if !reflect.DeepEqual(got.Args, tt.args) {
				t.Errorf("args = %#v, want %#v", got.Args, tt.args)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		filter  string
		pos     int
		message string
	}{
		{"unknown field", `colour = "red"`, 1, `unknown field "colour"`},
		{"unknown field later", `sub_type = "a" AND colour = "red"`, 20, `unknown field "colour"`},
		{"missing operator", `sub_type "a"`, 10, "expected an operator"},
		{"missing value", `sub_type =`, 11, "expected a value"},
		{"unterminated string", `sub_type = "abc`, 12, "unterminated string"},
		{"unbalanced paren", `(sub_type = "a"`, 16, `expected ")"`},
		{"stray paren", `sub_type = "a")`, 15, `unexpected ")"`},
		{"bad enum", `license = NOPE`, 11, `"NOPE" is not a value of license`},
		{"unspecified enum rejected", `license = UNSPECIFIED`, 11, "is not a value"},
		{"bad timestamp", `when.time > "yesterday"`, 13, "is not a timestamp"},
		{"unquoted timestamp", `when.time > 2026-01-01T00:00:00Z`, 26, "unexpected"},
		{"order on enum", `license > ACLED`, 1, "only supports = and !="},
		{"bad int", `revision = abc`, 12, "is not an integer"},
		{"bad bool", `deleted = yes`, 11, "is not true or false"},
		{"dangling and", `sub_type = "a" AND`, 19, "expected a comparison"},
		{"bang alone", `sub_type ! "a"`, 10, `"!" must be followed by "="`},
		{"bad character", `sub_type = "a" & x`, 16, "unexpected character"},
		{"ordering on repeated", `tags > "a"`, 1, "is repeated"},
		{"custom error", `search = "a"`, 10, "use search"},
		{"star inside prefix", `cameo_code:"1*9*"`, 12, "only a trailing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Compile(tt.filter, testSchema())
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("Compile(%q) error = %v, want *filter.Error", tt.filter, err)
			}
			if fe.Pos != tt.pos || !strings.Contains(fe.Msg, tt.message) {
				t.Errorf("error = %v (pos %d), want pos %d containing %q", fe, fe.Pos, tt.pos, tt.message)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat("(", 40) + `sub_type = "a"` + strings.Repeat(")", 40)
	if _, err := Compile(deep, testSchema()); err == nil || !strings.Contains(err.Error(), "nests deeper") {
		t.Errorf("deep nesting: err = %v", err)
	}
	many := strings.Repeat(`sub_type = "a" OR `, 70) + `sub_type = "a"`
	if _, err := Compile(many, testSchema()); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("many terms: err = %v", err)
	}
	long := `sub_type = "` + strings.Repeat("a", MaxLength) + `"`
	if _, err := Compile(long, testSchema()); err == nil {
		t.Error("overlong filter accepted")
	}
}

// FuzzCompile: whatever the input, Compile returns a result or a *filter.Error, never
// panics, and every placeholder has exactly one argument (user text never reaches SQL).
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		`sub_type = "summit" AND when.time >= "2026-01-01"`,
		`NOT (tags:"a*" OR license = ACLED) revision > 3`,
		`search:"military hubs"`, `((((`, `"`, `a = `, `-x = -1`, `cameo_code:"19*"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Compile(s, testSchema())
		if err != nil {
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *filter.Error", err)
			}
			return
		}
		if n := strings.Count(got.SQL, "?"); n != len(got.Args) {
			t.Fatalf("SQL %q has %d placeholders but %d args", got.SQL, n, len(got.Args))
		}
		// The only literal our own SQL carries is the LIKE escape character: any other
		// quote would mean user text was spliced into the query.
		if rest := strings.ReplaceAll(got.SQL, `ESCAPE '\'`, ""); strings.ContainsAny(rest, `'"`) {
			t.Fatalf("SQL %q carries a literal", got.SQL)
		}
	})
}
