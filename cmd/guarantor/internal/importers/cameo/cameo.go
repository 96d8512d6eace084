// Package cameo loads GDELT's CAMEO event-code table (CAMEO.eventcodes.txt: a header
// line, then `code<TAB>description` per line; 2-digit roots, 3-digit bases, 4-digit
// leaves) so the GDELT importer can check the codes it is given and describe them.
//
// The published file has known defects, and the table loads despite them, recording each
// as a Defect: the 1056 line has the 106 entry glued onto its description
// ("...engagement106:[-5.0] Demand withdrawal"), 044 carries mojibake, 033 a misspelling,
// some descriptions end in spaces, and the file has no final newline. The embedded copy
// is byte for byte GDELT's (cite The GDELT Project), so the repairs live here, in code,
// where a reader can see them.
package cameo

import (
	"bufio"
	"bytes"
	_ "embed"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"
)

//go:embed CAMEO.eventcodes.txt
var published []byte

// Published returns the embedded copy of GDELT's file, byte for byte.
func Published() []byte { return bytes.Clone(published) }

// Entry is one event code.
type Entry struct {
	// Code is the code as GDELT writes it, leading zeros kept ("036").
	Code string
	// Description is the cleaned description: trailing spaces dropped, known defects
	// repaired.
	Description string
	// Raw is the description exactly as the file has it (for a glued entry: the glued
	// text it was cut from).
	Raw string
	// Line is the file line the entry comes from (1-based).
	Line int
}

// Level is 1 for a root (2 digits), 2 for a base (3 digits), 3 for a leaf (4 digits).
func (e Entry) Level() int { return len(e.Code) - 1 }

// Short is the description without CAMEO's ", not specified below" suffix, for titles.
func (e Entry) Short() string {
	return strings.TrimSuffix(e.Description, ", not specified below")
}

// Defect kinds.
const (
	DefectTrailingSpace = "trailing space"
	DefectGlued         = "glued entry"
	DefectMojibake      = "mojibake"
	DefectMisspelling   = "misspelling"
	DefectMalformed     = "malformed line"
	DefectDuplicate     = "duplicate code"
	DefectNoFinalNL     = "no final newline"
)

// Defect is something wrong with the file that the loader worked around.
type Defect struct {
	Line   int
	Code   string
	Kind   string
	Detail string
}

func (d Defect) String() string {
	return fmt.Sprintf("line %d: %s: %s: %s", d.Line, d.Code, d.Kind, d.Detail)
}

// Table is the loaded code table.
type Table struct {
	entries map[string]Entry
	// Defects lists what the loader repaired or skipped, in file order.
	Defects []Defect
}

// Lookup returns the entry for a code ("036").
func (t *Table) Lookup(code string) (Entry, bool) {
	e, ok := t.entries[code]
	return e, ok
}

// Len is the number of codes.
func (t *Table) Len() int { return len(t.entries) }

// Codes returns every code in order.
func (t *Table) Codes() []string {
	out := make([]string, 0, len(t.entries))
	for c := range t.entries {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

var (
	codeRE = regexp.MustCompile(`^[0-9]{2,4}$`)
	// gluedRE finds a second entry run into a description, written as in GDELT's
	// Goldstein-annotated lists: "<code>:[<goldstein>] <description>".
	gluedRE = regexp.MustCompile(`^(.*?)([0-9]{2,4}):\[(-?[0-9]+(?:\.[0-9]+)?)\]\s*(.+)$`)
)

// knownRepairs are descriptions whose published text cannot be repaired mechanically.
// 044 is "Meet at a ‘third’ location" in the CAMEO codebook; the file's mojibake lost
// the "t" and the space, so undoing the encoding alone gives "Òhird Ólocation".
var knownRepairs = map[string]struct{ kind, from, to string }{
	"044": {DefectMojibake, "", `Meet at a "third" location`},
	"033": {DefectMisspelling, "matyerial", "material"},
}

// Parse reads a CAMEO event-code table. It fails only on a read error or a table with no
// codes at all; every defect it can work around is recorded in Defects.
func Parse(r io.Reader) (*Table, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("cameo: read: %w", err)
	}
	t := &Table{entries: map[string]Entry{}}
	// explicit marks codes that have their own line, which win over glued copies.
	explicit := map[string]bool{}
	var glued []Entry
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Defects = append(t.Defects, Defect{Line: bytes.Count(data, []byte("\n")) + 1, Kind: DefectNoFinalNL, Detail: "the last line has no newline"})
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSuffix(sc.Text(), "\r")
		if strings.TrimSpace(text) == "" {
			continue
		}
		code, raw, found := strings.Cut(text, "\t")
		code = strings.TrimSpace(code)
		if line == 1 && !codeRE.MatchString(code) {
			continue // the header: CAMEOEVENTCODE, EVENTDESCRIPTION
		}
		if !found || !codeRE.MatchString(code) {
			t.Defects = append(t.Defects, Defect{Line: line, Code: code, Kind: DefectMalformed, Detail: fmt.Sprintf("skipped %q", text)})
			continue
		}
		desc := raw
		if trimmed := strings.TrimRight(desc, " \t"); trimmed != desc {
			t.Defects = append(t.Defects, Defect{Line: line, Code: code, Kind: DefectTrailingSpace, Detail: fmt.Sprintf("%q", desc)})
			desc = trimmed
		}
		if m := gluedRE.FindStringSubmatch(desc); m != nil {
			t.Defects = append(t.Defects, Defect{Line: line, Code: code, Kind: DefectGlued,
				Detail: fmt.Sprintf("%q carries code %s (Goldstein %s); split into two entries", desc, m[2], m[3])})
			desc = strings.TrimSpace(m[1])
			glued = append(glued, Entry{Code: m[2], Description: strings.TrimSpace(m[4]), Raw: raw, Line: line})
		}
		desc = t.repair(line, code, desc)
		if _, dup := t.entries[code]; dup {
			t.Defects = append(t.Defects, Defect{Line: line, Code: code, Kind: DefectDuplicate, Detail: "the later line wins"})
		}
		t.entries[code] = Entry{Code: code, Description: desc, Raw: raw, Line: line}
		explicit[code] = true
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("cameo: line %d: %w", line+1, err)
	}
	for _, g := range glued {
		if explicit[g.Code] {
			continue // the file also lists the code on its own line: trust that one
		}
		g.Description = t.repair(g.Line, g.Code, g.Description)
		t.entries[g.Code] = g
	}
	if len(t.entries) == 0 {
		return nil, fmt.Errorf("cameo: no codes found")
	}
	return t, nil
}

// repair fixes known misspellings and mojibake in one description.
func (t *Table) repair(line int, code, desc string) string {
	if fix, ok := knownRepairs[code]; ok {
		switch {
		case fix.from == "" && looksMojibake(desc):
			t.Defects = append(t.Defects, Defect{Line: line, Code: code, Kind: fix.kind, Detail: fmt.Sprintf("%q read as %q", desc, fix.to)})
			return fix.to
		case fix.from != "" && strings.Contains(desc, fix.from):
			fixed := strings.ReplaceAll(desc, fix.from, fix.to)
			t.Defects = append(t.Defects, Defect{Line: line, Code: code, Kind: fix.kind, Detail: fmt.Sprintf("%q read as %q", desc, fixed)})
			return fixed
		}
	}
	if looksMojibake(desc) {
		if fixed, ok := undoDoubleEncoding(desc); ok {
			t.Defects = append(t.Defects, Defect{Line: line, Code: code, Kind: DefectMojibake, Detail: fmt.Sprintf("%q read as %q", desc, fixed)})
			return fixed
		}
		t.Defects = append(t.Defects, Defect{Line: line, Code: code, Kind: DefectMojibake, Detail: fmt.Sprintf("%q kept as is: no repair found", desc)})
	}
	return desc
}

// looksMojibake spots UTF-8 text that was decoded as Windows-1252 and encoded again: "Ã"
// and "â€" are how the lead bytes of 2- and 3-byte sequences come out.
func looksMojibake(s string) bool {
	return strings.Contains(s, "Ã") || strings.Contains(s, "â€") || strings.Contains(s, "Â")
}

// cp1252 maps the Windows-1252 characters of 0x80-0x9F back to their byte.
var cp1252 = map[rune]byte{
	'€': 0x80, '‚': 0x82, 'ƒ': 0x83, '„': 0x84, '…': 0x85, '†': 0x86, '‡': 0x87, 'ˆ': 0x88,
	'‰': 0x89, 'Š': 0x8A, '‹': 0x8B, 'Œ': 0x8C, 'Ž': 0x8E, '‘': 0x91, '’': 0x92, '“': 0x93,
	'”': 0x94, '•': 0x95, '–': 0x96, '—': 0x97, '˜': 0x98, '™': 0x99, 'š': 0x9A, '›': 0x9B,
	'œ': 0x9C, 'ž': 0x9E, 'Ÿ': 0x9F,
}

// undoDoubleEncoding turns "Ã©" back into "é": each character back to its Windows-1252
// byte, and the bytes read as UTF-8. It reports false when that does not give clean text.
func undoDoubleEncoding(s string) (string, bool) {
	var b []byte
	for _, r := range s {
		switch {
		case r < 0x80:
			b = append(b, byte(r))
		case r >= 0xA0 && r <= 0xFF:
			b = append(b, byte(r))
		default:
			c, ok := cp1252[r]
			if !ok {
				return "", false
			}
			b = append(b, c)
		}
	}
	if !utf8.Valid(b) {
		return "", false
	}
	out := string(b)
	if looksMojibake(out) || strings.ContainsRune(out, utf8.RuneError) {
		return "", false
	}
	return out, true
}

var (
	defaultOnce  sync.Once
	defaultTable *Table
	defaultErr   error
)

// Default returns the table parsed from the embedded copy of GDELT's file.
func Default() (*Table, error) {
	defaultOnce.Do(func() {
		defaultTable, defaultErr = Parse(bytes.NewReader(published))
	})
	return defaultTable, defaultErr
}
