package filter

import (
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// FoldDiacritics removes combining marks ("Sánchez" → "Sanchez"). SQLite's FTS5
// tokenizer (unicode61) ignores diacritics on its own; PostgreSQL's 'simple' text
// search configuration does not, so its documents and queries are folded with this to
// find the same records.
func FoldDiacritics(s string) string {
	out, _, err := transform.String(transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC), s)
	if err != nil {
		return s
	}
	return out
}
