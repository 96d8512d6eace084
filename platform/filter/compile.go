package filter

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// Kind is the type of a filterable field.
type Kind int

// Field kinds.
const (
	KindString    Kind = iota + 1 // text column; ':' with a trailing '*' is a prefix match
	KindEnum                      // integer column holding a protobuf enum number
	KindTimestamp                 // integer column holding Unix nanoseconds
	KindInt                       // integer column
	KindBool                      // boolean column
)

// Field describes one filterable field. Column is a trusted SQL expression from the
// service's schema; never built from user input.
type Field struct {
	Kind   Kind
	Column string
	// Enum names the accepted values of a KindEnum field: both the short name ("LAND")
	// and the full name ("DOMAIN_LAND") are accepted.
	Enum protoreflect.EnumDescriptor
	// Exists, when set, makes the field repeated: it returns a SQL condition with one
	// placeholder, true when some element equals (or, for a prefix, starts with) the value,
	// e.g. "EXISTS (SELECT 1 FROM event_tags t WHERE t.event = e.name AND t.tag = ?)".
	Exists func(prefix bool) string
	// Custom, when set, compiles the comparison itself (full-text search). It returns a
	// condition with placeholders and its arguments.
	Custom func(op string, v Value) (string, []any, error)
	// Prefix allows `field:"abc*"` prefix matches on a string or repeated field.
	Prefix bool
}

// Schema maps field paths, as clients write them, to fields.
type Schema map[string]Field

// Compiled is a SQL condition with '?' placeholders and its arguments.
type Compiled struct {
	SQL  string
	Args []any
}

// Compile parses and compiles a filter against a schema. An empty filter compiles to
// "1=1" so callers can always AND it in.
func Compile(s string, schema Schema) (Compiled, error) {
	n, err := Parse(s)
	if err != nil {
		return Compiled{}, err
	}
	if n == nil {
		return Compiled{SQL: "1=1"}, nil
	}
	c := &compiler{schema: schema}
	sql, err := c.node(n)
	if err != nil {
		return Compiled{}, err
	}
	return Compiled{SQL: sql, Args: c.args}, nil
}

type compiler struct {
	schema Schema
	args   []any
}

func (c *compiler) node(n Node) (string, error) {
	switch n := n.(type) {
	case And:
		return c.join(n.Terms, " AND ")
	case Or:
		return c.join(n.Terms, " OR ")
	case Not:
		inner, err := c.node(n.Term)
		if err != nil {
			return "", err
		}
		return "NOT (" + inner + ")", nil
	case Comparison:
		return c.comparison(n)
	}
	return "", fmt.Errorf("filter: unknown node %T", n)
}

func (c *compiler) join(terms []Node, sep string) (string, error) {
	parts := make([]string, 0, len(terms))
	for _, t := range terms {
		s, err := c.node(t)
		if err != nil {
			return "", err
		}
		parts = append(parts, "("+s+")")
	}
	return strings.Join(parts, sep), nil
}

var sqlOps = map[string]string{"=": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}

func (c *compiler) comparison(cmp Comparison) (string, error) {
	f, ok := c.schema[cmp.Field]
	if !ok {
		return "", &Error{Pos: cmp.FieldPos, Msg: fmt.Sprintf("unknown field %q; filterable fields: %s", cmp.Field, c.fieldList())}
	}
	if f.Custom != nil {
		sql, args, err := f.Custom(cmp.Op, cmp.Value)
		if err != nil {
			return "", &Error{Pos: cmp.Value.Pos, Msg: err.Error()}
		}
		c.args = append(c.args, args...)
		return sql, nil
	}
	if f.Exists != nil {
		return c.repeated(cmp, f)
	}
	if cmp.Op == ":" {
		if f.Kind == KindString && f.Prefix && strings.HasSuffix(cmp.Value.Text, "*") {
			prefix := strings.TrimSuffix(cmp.Value.Text, "*")
			if strings.ContainsAny(prefix, "*") {
				return "", &Error{Pos: cmp.Value.Pos, Msg: "only a trailing '*' is allowed"}
			}
			c.args = append(c.args, escapeLike(prefix)+"%")
			return f.Column + ` LIKE ? ESCAPE '\'`, nil
		}
		cmp.Op = "="
	}
	op, ok := sqlOps[cmp.Op]
	if !ok {
		return "", &Error{Pos: cmp.Value.Pos, Msg: fmt.Sprintf("operator %q is not supported on %q", cmp.Op, cmp.Field)}
	}
	v, err := convert(cmp, f)
	if err != nil {
		return "", err
	}
	if (f.Kind == KindEnum || f.Kind == KindBool) && op != "=" && op != "<>" {
		return "", &Error{Pos: cmp.FieldPos, Msg: fmt.Sprintf("field %q only supports = and !=", cmp.Field)}
	}
	c.args = append(c.args, v)
	return f.Column + " " + op + " ?", nil
}

func (c *compiler) repeated(cmp Comparison, f Field) (string, error) {
	if cmp.Op != ":" && cmp.Op != "=" && cmp.Op != "!=" {
		return "", &Error{Pos: cmp.FieldPos, Msg: fmt.Sprintf("field %q is repeated: use ':' (has), '=' or '!='", cmp.Field)}
	}
	text := cmp.Value.Text
	prefix := false
	if f.Prefix && strings.HasSuffix(text, "*") {
		prefix = true
		text = escapeLike(strings.TrimSuffix(text, "*")) + "%"
	}
	v, err := convert(Comparison{Field: cmp.Field, FieldPos: cmp.FieldPos, Op: "=", Value: Value{Kind: cmp.Value.Kind, Text: text, Pos: cmp.Value.Pos}}, f)
	if err != nil {
		return "", err
	}
	c.args = append(c.args, v)
	cond := f.Exists(prefix)
	if cmp.Op == "!=" {
		return "NOT " + cond, nil
	}
	return cond, nil
}

func (c *compiler) fieldList() string {
	names := make([]string, 0, len(c.schema))
	for k := range c.schema {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func convert(cmp Comparison, f Field) (any, error) {
	v := cmp.Value
	bad := func(format string, args ...any) error {
		return &Error{Pos: v.Pos, Msg: fmt.Sprintf(format, args...)}
	}
	switch f.Kind {
	case KindString:
		return v.Text, nil
	case KindEnum:
		if f.Enum == nil {
			return nil, bad("field %q has no enum values", cmp.Field)
		}
		if n, ok := EnumValue(f.Enum, v.Text); ok {
			return int64(n), nil
		}
		return nil, bad("%q is not a value of %s; accepted: %s", v.Text, cmp.Field, enumList(f.Enum))
	case KindTimestamp:
		t, err := ParseTime(v.Text)
		if err != nil {
			return nil, bad("%q is not a timestamp: write it quoted, as RFC 3339 (\"2026-01-06T00:00:00Z\") or a date (\"2026-01-06\")", v.Text)
		}
		return TimeKey(t), nil
	case KindInt:
		n, err := strconv.ParseInt(v.Text, 10, 64)
		if err != nil {
			return nil, bad("%q is not an integer", v.Text)
		}
		return n, nil
	case KindBool:
		switch v.Text {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, bad("%q is not true or false", v.Text)
	}
	return nil, bad("field %q has an unknown kind", cmp.Field)
}

// EnumValue resolves an enum value by its short name ("LAND"), its full name
// ("DOMAIN_LAND") or, for convenience, lower case. The zero (UNSPECIFIED) value is not
// accepted.
func EnumValue(ed protoreflect.EnumDescriptor, s string) (protoreflect.EnumNumber, bool) {
	want := strings.ToUpper(s)
	prefix := enumPrefix(ed)
	vals := ed.Values()
	for i := 0; i < vals.Len(); i++ {
		ev := vals.Get(i)
		if ev.Number() == 0 {
			continue
		}
		full := string(ev.Name())
		if full == want || strings.TrimPrefix(full, prefix) == want {
			return ev.Number(), true
		}
	}
	return 0, false
}

// EnumName is the short name of an enum value ("LAND" for DOMAIN_LAND).
func EnumName(ed protoreflect.EnumDescriptor, n protoreflect.EnumNumber) string {
	ev := ed.Values().ByNumber(n)
	if ev == nil {
		return strconv.Itoa(int(n))
	}
	return strings.TrimPrefix(string(ev.Name()), enumPrefix(ed))
}

func enumPrefix(ed protoreflect.EnumDescriptor) string {
	if ed.Values().Len() == 0 {
		return ""
	}
	zero := string(ed.Values().Get(0).Name())
	return strings.TrimSuffix(zero, "UNSPECIFIED")
}

func enumList(ed protoreflect.EnumDescriptor) string {
	var names []string
	vals := ed.Values()
	for i := 0; i < vals.Len(); i++ {
		if vals.Get(i).Number() != 0 {
			names = append(names, EnumName(ed, vals.Get(i).Number()))
		}
	}
	return strings.Join(names, ", ")
}

// TimeKey is how a KindTimestamp column stores a time: Unix nanoseconds, clamped to
// what an int64 holds (1677-09-21 to 2262-04-11). UnixNano wraps around outside that
// range, which sorted 1648 after 2026; clamped, older and later times keep their order
// against every time in range (among themselves they tie).
func TimeKey(t time.Time) int64 {
	switch {
	case t.Before(minTimeKey):
		return math.MinInt64
	case t.After(maxTimeKey):
		return math.MaxInt64
	}
	return t.UnixNano()
}

var (
	minTimeKey = time.Unix(0, math.MinInt64)
	maxTimeKey = time.Unix(0, math.MaxInt64)
)

// ParseTime accepts RFC 3339 timestamps and plain dates (UTC midnight).
func ParseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Parse("2006-01-02", s)
}

func escapeLike(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

// FTS5Query turns user text into an SQLite FTS5 query that matches documents holding
// every word: each word becomes a quoted string, so FTS5 operators and column filters in
// the user's text are taken literally rather than interpreted.
func FTS5Query(text string) string {
	words := strings.FieldsFunc(text, func(r rune) bool {
		return r != '_' && r != '-' && r != '\'' && (r < '0' || r > '9') && (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && r <= 127
	})
	for i, w := range words {
		words[i] = `"` + strings.ReplaceAll(w, `"`, `""`) + `"`
	}
	return strings.Join(words, " ")
}
