// Package filter parses the AIP-160 subset every Guarantor List method accepts and
// compiles it into a parameterised SQL condition. User text only ever becomes a bind
// argument: the SQL text is built from the schema's own column expressions.
//
// Grammar (AIP-160; note that OR binds tighter than AND, as the AIP specifies):
//
//	expression = sequence { "AND" sequence }
//	sequence   = factor { factor }            (juxtaposition means AND)
//	factor     = term { "OR" term }
//	term       = [ "NOT" | "-" ] simple
//	simple     = "(" expression ")" | field op value
//	field      = name { "." name }
//	op         = "=" | "!=" | "<" | "<=" | ">" | ">=" | ":"
//	value      = quoted string | number | bare word (enum names, true, false)
package filter

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits that keep a hostile filter from costing more than a reasonable one.
const (
	MaxLength = 2048
	maxDepth  = 16
	maxTerms  = 64
)

// Error is a filter the parser or compiler rejects. Pos is the 1-based character
// position the problem starts at, so the client can point at it.
type Error struct {
	Pos int
	Msg string
}

func (e *Error) Error() string { return fmt.Sprintf("at position %d: %s", e.Pos, e.Msg) }

// Node is a node of the parsed filter.
type Node interface{ node() }

// And holds terms that must all match.
type And struct{ Terms []Node }

// Or holds terms of which one must match.
type Or struct{ Terms []Node }

// Not negates its term.
type Not struct{ Term Node }

// Comparison is `field op value`.
type Comparison struct {
	Field    string
	FieldPos int
	Op       string
	Value    Value
}

// ValueKind says how a value was written.
type ValueKind int

// Value kinds.
const (
	String ValueKind = iota + 1 // "quoted"
	Number                      // 12, -3.5
	Word                        // DIPLOMACY, true
)

// Value is the right-hand side of a comparison.
type Value struct {
	Kind ValueKind
	Text string
	Pos  int
}

func (And) node()        {}
func (Or) node()         {}
func (Not) node()        {}
func (Comparison) node() {}

// Parse parses a filter. An empty or blank filter returns (nil, nil): match everything.
func Parse(s string) (Node, error) {
	if len(s) > MaxLength {
		return nil, &Error{Pos: MaxLength + 1, Msg: fmt.Sprintf("filter is longer than %d bytes", MaxLength)}
	}
	if !utf8.ValidString(s) {
		return nil, &Error{Pos: 1, Msg: "filter is not valid UTF-8"}
	}
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	if p.peek().kind == tEOF {
		return nil, nil
	}
	n, err := p.expression(0)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, &Error{Pos: t.pos, Msg: fmt.Sprintf("unexpected %s", t.describe())}
	}
	return n, nil
}

type tokKind int

const (
	tEOF tokKind = iota
	tLParen
	tRParen
	tOp     // = != < <= > >= :
	tString // "..." (text unescaped)
	tWord   // bare word, number, AND/OR/NOT
	tMinus  // leading '-' negation
)

type token struct {
	kind tokKind
	text string
	pos  int // 1-based rune position
}

func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "end of filter"
	case tString:
		return fmt.Sprintf("string %q", t.text)
	default:
		return fmt.Sprintf("%q", t.text)
	}
}

func lex(s string) ([]token, error) {
	var toks []token
	rs := []rune(s)
	for i := 0; i < len(rs); {
		r := rs[i]
		pos := i + 1
		switch {
		case unicode.IsSpace(r):
			i++
		case r == '(':
			toks = append(toks, token{tLParen, "(", pos})
			i++
		case r == ')':
			toks = append(toks, token{tRParen, ")", pos})
			i++
		case r == '"' || r == '\'':
			quote := r
			var b strings.Builder
			j := i + 1
			closed := false
			for j < len(rs) {
				c := rs[j]
				if c == '\\' && j+1 < len(rs) {
					b.WriteRune(rs[j+1])
					j += 2
					continue
				}
				if c == quote {
					closed = true
					j++
					break
				}
				b.WriteRune(c)
				j++
			}
			if !closed {
				return nil, &Error{Pos: pos, Msg: "unterminated string"}
			}
			toks = append(toks, token{tString, b.String(), pos})
			i = j
		case r == '=' || r == ':':
			toks = append(toks, token{tOp, string(r), pos})
			i++
		case r == '!' || r == '<' || r == '>':
			if i+1 < len(rs) && rs[i+1] == '=' {
				toks = append(toks, token{tOp, string(r) + "=", pos})
				i += 2
				continue
			}
			if r == '!' {
				return nil, &Error{Pos: pos, Msg: `"!" must be followed by "="`}
			}
			toks = append(toks, token{tOp, string(r), pos})
			i++
		case r == '-' && (i+1 < len(rs) && !unicode.IsDigit(rs[i+1])):
			toks = append(toks, token{tMinus, "-", pos})
			i++
		case isWordRune(r):
			j := i
			for j < len(rs) && isWordRune(rs[j]) {
				j++
			}
			toks = append(toks, token{tWord, string(rs[i:j]), pos})
			i = j
		default:
			return nil, &Error{Pos: pos, Msg: fmt.Sprintf("unexpected character %q", r)}
		}
	}
	toks = append(toks, token{kind: tEOF, pos: len(rs) + 1})
	return toks, nil
}

func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '.' || r == '-' || r == '*' || r == '/' || r == '+'
}

type parser struct {
	toks  []token
	i     int
	terms int
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token { t := p.toks[p.i]; p.i++; return t }

func (p *parser) isKeyword(word string) bool {
	t := p.peek()
	return t.kind == tWord && t.text == word
}

// startsTerm reports whether the next token can begin a term (for implicit AND).
func (p *parser) startsTerm() bool {
	t := p.peek()
	switch t.kind {
	case tLParen, tMinus:
		return true
	case tWord:
		return t.text != "AND" && t.text != "OR"
	}
	return false
}

func (p *parser) expression(depth int) (Node, error) {
	if depth > maxDepth {
		return nil, &Error{Pos: p.peek().pos, Msg: fmt.Sprintf("filter nests deeper than %d levels", maxDepth)}
	}
	first, err := p.sequence(depth)
	if err != nil {
		return nil, err
	}
	terms := []Node{first}
	for p.isKeyword("AND") {
		p.next()
		n, err := p.sequence(depth)
		if err != nil {
			return nil, err
		}
		terms = append(terms, n)
	}
	return joinAnd(terms), nil
}

func (p *parser) sequence(depth int) (Node, error) {
	first, err := p.factor(depth)
	if err != nil {
		return nil, err
	}
	terms := []Node{first}
	for p.startsTerm() {
		n, err := p.factor(depth)
		if err != nil {
			return nil, err
		}
		terms = append(terms, n)
	}
	return joinAnd(terms), nil
}

func joinAnd(terms []Node) Node {
	if len(terms) == 1 {
		return terms[0]
	}
	return And{Terms: terms}
}

func (p *parser) factor(depth int) (Node, error) {
	first, err := p.term(depth)
	if err != nil {
		return nil, err
	}
	terms := []Node{first}
	for p.isKeyword("OR") {
		p.next()
		n, err := p.term(depth)
		if err != nil {
			return nil, err
		}
		terms = append(terms, n)
	}
	if len(terms) == 1 {
		return first, nil
	}
	return Or{Terms: terms}, nil
}

func (p *parser) term(depth int) (Node, error) {
	if p.isKeyword("NOT") || p.peek().kind == tMinus {
		p.next()
		n, err := p.simple(depth)
		if err != nil {
			return nil, err
		}
		return Not{Term: n}, nil
	}
	return p.simple(depth)
}

func (p *parser) simple(depth int) (Node, error) {
	t := p.next()
	switch t.kind {
	case tLParen:
		n, err := p.expression(depth + 1)
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tRParen {
			return nil, &Error{Pos: c.pos, Msg: fmt.Sprintf("expected \")\" to close the \"(\" at position %d, found %s", t.pos, c.describe())}
		}
		return n, nil
	case tWord:
		if t.text == "AND" || t.text == "OR" || t.text == "NOT" {
			return nil, &Error{Pos: t.pos, Msg: fmt.Sprintf("expected a comparison, found %q", t.text)}
		}
		p.terms++
		if p.terms > maxTerms {
			return nil, &Error{Pos: t.pos, Msg: fmt.Sprintf("filter has more than %d comparisons", maxTerms)}
		}
		op := p.next()
		if op.kind != tOp {
			return nil, &Error{Pos: op.pos, Msg: fmt.Sprintf("expected an operator (= != < <= > >= :) after %q, found %s", t.text, op.describe())}
		}
		v := p.next()
		var val Value
		switch v.kind {
		case tString:
			val = Value{Kind: String, Text: v.text, Pos: v.pos}
		case tWord:
			kind := Word
			if looksNumeric(v.text) {
				kind = Number
			}
			val = Value{Kind: kind, Text: v.text, Pos: v.pos}
		default:
			return nil, &Error{Pos: v.pos, Msg: fmt.Sprintf("expected a value after %q, found %s", op.text, v.describe())}
		}
		return Comparison{Field: t.text, FieldPos: t.pos, Op: op.text, Value: val}, nil
	default:
		return nil, &Error{Pos: t.pos, Msg: fmt.Sprintf("expected a comparison or \"(\", found %s", t.describe())}
	}
}

func looksNumeric(s string) bool {
	if s == "" {
		return false
	}
	digits := 0
	for i, r := range s {
		switch {
		case unicode.IsDigit(r):
			digits++
		case (r == '-' || r == '+') && i == 0:
		case r == '.':
		default:
			return false
		}
	}
	return digits > 0
}
