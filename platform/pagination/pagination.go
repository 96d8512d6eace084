// Package pagination implements AIP-158 pagination for SQL-backed List methods: page
// sizes with a default and a cap, order_by parsing, keyset conditions, and opaque page
// tokens bound to the query that produced them.
package pagination

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Page sizes: 0 means DefaultSize, anything above MaxSize is capped.
const (
	DefaultSize = 50
	MaxSize     = 1000
)

// ErrNegativeSize is returned for a negative page_size.
var ErrNegativeSize = errors.New("must not be negative")

// Size applies the AIP-158 page size rules.
func Size(n int32) (int, error) {
	switch {
	case n < 0:
		return 0, ErrNegativeSize
	case n == 0:
		return DefaultSize, nil
	case n > MaxSize:
		return MaxSize, nil
	}
	return int(n), nil
}

// Order is one term of an order_by.
type Order struct {
	Field  string // as the client wrote it
	Column string // trusted SQL expression
	Desc   bool
}

// ParseOrderBy parses "field [desc], field [asc]" against the allowed fields (field ->
// column). An empty string parses def instead.
func ParseOrderBy(s string, allowed map[string]string, def string) ([]Order, error) {
	if strings.TrimSpace(s) == "" {
		s = def
	}
	var orders []Order
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		words := strings.Fields(part)
		if len(words) == 0 || len(words) > 2 {
			return nil, fmt.Errorf("%q is not \"field\" or \"field desc\"", strings.TrimSpace(part))
		}
		col, ok := allowed[words[0]]
		if !ok {
			return nil, fmt.Errorf("cannot order by %q; allowed: %s", words[0], keys(allowed))
		}
		if seen[words[0]] {
			return nil, fmt.Errorf("%q appears twice", words[0])
		}
		seen[words[0]] = true
		o := Order{Field: words[0], Column: col}
		if len(words) == 2 {
			switch strings.ToLower(words[1]) {
			case "desc":
				o.Desc = true
			case "asc":
			default:
				return nil, fmt.Errorf("%q is not asc or desc", words[1])
			}
		}
		orders = append(orders, o)
	}
	return orders, nil
}

func keys(m map[string]string) string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	// Deterministic for error messages.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return strings.Join(out, ", ")
}

// OrderSQL renders the ORDER BY list, with the unique tiebreak column last (ascending) so
// that keyset pagination is total.
func OrderSQL(orders []Order, tiebreak string) string {
	parts := make([]string, 0, len(orders)+1)
	for _, o := range orders {
		dir := "ASC"
		if o.Desc {
			dir = "DESC"
		}
		parts = append(parts, o.Column+" "+dir)
	}
	return strings.Join(append(parts, tiebreak+" ASC"), ", ")
}

// After renders the keyset condition "row comes after the last row of the previous page"
// for the given orders, the values of the previous page's last row (one per order, then
// the tiebreak value), with '?' placeholders.
func After(orders []Order, tiebreak string, last []any) (string, []any, error) {
	if len(last) != len(orders)+1 {
		return "", nil, fmt.Errorf("page token holds %d keys, want %d", len(last), len(orders)+1)
	}
	cols := make([]string, 0, len(orders)+1)
	ops := make([]string, 0, len(orders)+1)
	for _, o := range orders {
		cols = append(cols, o.Column)
		if o.Desc {
			ops = append(ops, "<")
		} else {
			ops = append(ops, ">")
		}
	}
	cols = append(cols, tiebreak)
	ops = append(ops, ">")
	var ors []string
	var args []any
	for i := range cols {
		var ands []string
		for j := 0; j < i; j++ {
			ands = append(ands, cols[j]+" = ?")
			args = append(args, last[j])
		}
		ands = append(ands, cols[i]+" "+ops[i]+" ?")
		args = append(args, last[i])
		ors = append(ors, "("+strings.Join(ands, " AND ")+")")
	}
	return "(" + strings.Join(ors, " OR ") + ")", args, nil
}

// QueryKey fingerprints everything that defines a query (filter, order_by, flags), so a
// token can be refused when a client changes the query between pages.
func QueryKey(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// Token is what a page token carries. Clients see only its opaque encoding.
type Token struct {
	Query string `json:"q"`
	Last  []any  `json:"l"`
}

// ErrBadToken is returned for a token that cannot be decoded.
var ErrBadToken = errors.New("is not a page token this server issued")

// ErrQueryChanged is returned for a token issued for another query.
var ErrQueryChanged = errors.New("belongs to another query: filter, order_by and the other query fields must not change between pages")

// Encode makes the opaque token for the page after the row with keys last.
func Encode(query string, last []any) string {
	b, err := json.Marshal(Token{Query: query, Last: last})
	if err != nil {
		// Only int64, string and bool keys are ever passed in.
		panic(fmt.Sprintf("pagination: encode token: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// Decode checks a token against the current query and returns the last row's keys.
// Numbers come back as int64 (all our numeric sort keys are integers).
func Decode(s, query string) ([]any, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, ErrBadToken
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	var t Token
	if err := dec.Decode(&t); err != nil || t.Query == "" {
		return nil, ErrBadToken
	}
	if t.Query != query {
		return nil, ErrQueryChanged
	}
	for i, v := range t.Last {
		switch v := v.(type) {
		case json.Number:
			n, err := v.Int64()
			if err != nil {
				return nil, ErrBadToken
			}
			t.Last[i] = n
		case string, bool:
		default:
			return nil, ErrBadToken
		}
	}
	return t.Last, nil
}
