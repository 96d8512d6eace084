package watch

import (
	"fmt"
	"strings"

	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
	"github.com/guarantor/guarantor/platform/filter"
)

// changeInfo is what a watch filters on, read from a decoded change.
type changeInfo struct {
	service    string
	collection string
	name       string
	kind       string // ChangeKind without its prefix: "CREATED"
	principal  string
}

// matcher decides which changes a watcher wants.
type matcher struct {
	collections map[string]bool
	pattern     string
	expr        filter.Node
}

// FieldError is a request field the watch cannot use.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// maxPatternLen bounds a name pattern (the proto allows 200).
const maxPatternLen = 200

// newMatcher checks and compiles a watch's filters.
func newMatcher(collections []string, pattern, expr string) (*matcher, error) {
	m := &matcher{pattern: pattern}
	if len(collections) > 0 {
		m.collections = map[string]bool{}
		for _, c := range collections {
			m.collections[c] = true
		}
	}
	if len(pattern) > maxPatternLen {
		return nil, &FieldError{"name_pattern", fmt.Sprintf("longer than %d characters", maxPatternLen)}
	}
	n, err := filter.Parse(expr)
	if err != nil {
		return nil, &FieldError{"filter", err.Error()}
	}
	if err := checkExpr(n); err != nil {
		return nil, &FieldError{"filter", err.Error()}
	}
	m.expr = n
	return m, nil
}

func (m *matcher) match(c changeInfo) bool {
	if m.collections != nil && !m.collections[c.collection] {
		return false
	}
	if m.pattern != "" && !Glob(m.pattern, c.name) {
		return false
	}
	return m.expr == nil || eval(m.expr, c)
}

var watchFields = map[string]bool{"service": true, "collection": true, "name": true, "kind": true, "principal": true}

// checkExpr refuses what eval cannot answer, so a typo fails the call instead of
// silently matching nothing.
func checkExpr(n filter.Node) error {
	switch n := n.(type) {
	case nil:
		return nil
	case filter.And:
		for _, t := range n.Terms {
			if err := checkExpr(t); err != nil {
				return err
			}
		}
	case filter.Or:
		for _, t := range n.Terms {
			if err := checkExpr(t); err != nil {
				return err
			}
		}
	case filter.Not:
		return checkExpr(n.Term)
	case filter.Comparison:
		if !watchFields[n.Field] {
			return &filter.Error{Pos: n.FieldPos, Msg: fmt.Sprintf("unknown field %q (use service, collection, name, kind or principal)", n.Field)}
		}
		if n.Op != "=" && n.Op != "!=" && n.Op != ":" {
			return &filter.Error{Pos: n.FieldPos, Msg: fmt.Sprintf("operator %q is not supported here (use = != :)", n.Op)}
		}
		if n.Field == "kind" {
			if _, ok := typev1.ChangeKind_value["CHANGE_KIND_"+kindName(n.Value.Text)]; !ok || kindName(n.Value.Text) == "UNSPECIFIED" {
				return &filter.Error{Pos: n.Value.Pos, Msg: fmt.Sprintf("unknown kind %q", n.Value.Text)}
			}
		}
	}
	return nil
}

func kindName(s string) string {
	return strings.TrimPrefix(strings.ToUpper(s), "CHANGE_KIND_")
}

func eval(n filter.Node, c changeInfo) bool {
	switch n := n.(type) {
	case filter.And:
		for _, t := range n.Terms {
			if !eval(t, c) {
				return false
			}
		}
		return true
	case filter.Or:
		for _, t := range n.Terms {
			if eval(t, c) {
				return true
			}
		}
		return false
	case filter.Not:
		return !eval(n.Term, c)
	case filter.Comparison:
		var got, want string
		switch n.Field {
		case "service":
			got = c.service
		case "collection":
			got = c.collection
		case "name":
			got = c.name
		case "kind":
			got, want = c.kind, kindName(n.Value.Text)
		case "principal":
			got = c.principal
		}
		if want == "" {
			want = n.Value.Text
		}
		switch n.Op {
		case "=":
			return got == want
		case "!=":
			return got != want
		case ":":
			// AIP-160 "has": with a trailing '*' a prefix match, otherwise equality.
			if p, ok := strings.CutSuffix(want, "*"); ok {
				return strings.HasPrefix(got, p)
			}
			return got == want
		}
	}
	return false
}

// Glob matches name against pattern, where '*' matches any run of characters
// (including '/') and '?' exactly one. Runs in O(len(pattern)*len(name)) at worst.
func Glob(pattern, name string) bool {
	p, s := []rune(pattern), []rune(name)
	pi, si := 0, 0
	starP, starS := -1, 0
	for si < len(s) {
		switch {
		// The star comes first: a '*' in the name must not be taken for the pattern's
		// wildcard matched literally.
		case pi < len(p) && p[pi] == '*':
			starP, starS = pi, si
			pi++
		case pi < len(p) && (p[pi] == '?' || p[pi] == s[si]):
			pi++
			si++
		case starP >= 0:
			// Let the last star swallow one more character and retry.
			starS++
			pi, si = starP+1, starS
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
