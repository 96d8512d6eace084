// Package csvrows reads a CSV file with a header row the way the dataset importers
// need: columns found by name (any order, extra columns ignored, missing required ones
// named in one error), each record with the physical line it starts on (cells may hold
// line breaks), and a malformed record reported as a bad row instead of ending the read.
// A last record that no newline ends is reported too: the file was cut off inside it.
package csvrows

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrCutOff is in the Err of a last record that no newline ends. That is what an
// interrupted download looks like, and a cut in an unquoted last cell leaves a record
// that parses, with a shorter value ("12" for "123").
var ErrCutOff = errors.New("the file ends inside this record (no final newline): a cut-off download?")

// Header maps column names (lower-cased, trimmed) to positions.
type Header map[string]int

// Record is one data record.
type Record struct {
	// Line is the physical line the record starts on.
	Line int
	// Err, when set, says why the record is malformed, or that the file ends inside it
	// (ErrCutOff); Fields may then be partial.
	Err    error
	Fields []string
	header Header
}

// Get returns the value of a column by name ("" when the file has no such column).
func (r Record) Get(name string) string {
	i, ok := r.header[name]
	if !ok || i >= len(r.Fields) {
		return ""
	}
	return r.Fields[i]
}

// Has reports whether the file has the column.
func (r Record) Has(name string) bool {
	_, ok := r.header[name]
	return ok
}

// Read reads the header, checks that every required column is there, and passes each
// record to fn in order. It stops at fn's first error, and at a read error. The file is
// streamed, never held: a final record without its newline is found from the last byte
// read.
func Read(r io.Reader, required []string, fn func(Record) error) error {
	src := &tailReader{r: r}
	cr := csv.NewReader(src)
	cr.ReuseRecord = false
	head, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return errors.New("the file is empty: no header row")
	}
	if err != nil {
		return fmt.Errorf("header row: %w", err)
	}
	h := Header{}
	for i, name := range head {
		if i == 0 {
			name = strings.TrimPrefix(name, "\ufeff") // a byte-order mark from spreadsheet exports
		}
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" {
			continue
		}
		if _, dup := h[name]; dup {
			return fmt.Errorf("header row: column %q appears twice", name)
		}
		h[name] = i
	}
	var missing []string
	for _, name := range required {
		if _, ok := h[strings.ToLower(name)]; !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing required columns: %s", strings.Join(missing, ", "))
	}
	for {
		fields, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		rec := Record{Fields: fields, header: h}
		var pe *csv.ParseError
		switch {
		case err == nil:
			rec.Line, _ = cr.FieldPos(0)
		case errors.As(err, &pe):
			rec.Line = pe.StartLine
			if errors.Is(err, csv.ErrFieldCount) {
				rec.Err = fmt.Errorf("has %d columns, the header has %d", len(fields), len(head))
			} else {
				rec.Err = fmt.Errorf("malformed CSV (line %d, column %d): %w", pe.Line, pe.Column, pe.Err)
			}
		default:
			return err
		}
		if src.unterminated(cr.InputOffset()) {
			rec.Err = cutOff(rec.Err)
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
}

// cutOff is the Err of a record the file ends inside; parseErr is its own problem, if any.
func cutOff(parseErr error) error {
	if parseErr != nil {
		// A newline would not mend this record: no advice to add one.
		return fmt.Errorf("%w; %w", parseErr, ErrCutOff)
	}
	return fmt.Errorf("%w If the file is complete, add the final newline (echo >> FILE) and import it again", ErrCutOff)
}

// tailReader counts the bytes read through it and keeps the last one, so that the end
// of the last record can be checked for its newline without keeping the file.
type tailReader struct {
	r    io.Reader
	n    int64
	last byte
}

func (t *tailReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		t.n += int64(n)
		t.last = p[n-1]
	}
	return n, err
}

// unterminated reports whether the record that ends at offset end (csv.Reader's
// InputOffset, newline included) lacks a newline. encoding/csv reads ahead, so the last
// byte read is not in general the record's; but it ends a record only after a newline
// or at the end of the input. A record that more bytes were read after ended with a
// newline; one that ends where the reading stopped ends with the last byte read.
func (t *tailReader) unterminated(end int64) bool {
	return end == t.n && t.last != '\n'
}
