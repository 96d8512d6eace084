// Package csvrows reads a CSV file with a header row the way the dataset importers
// need: columns found by name (any order, extra columns ignored, missing required ones
// named in one error), each record with the physical line it starts on (cells may hold
// line breaks), and a malformed record reported as a bad row instead of ending the read.
package csvrows

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Header maps column names (lower-cased, trimmed) to positions.
type Header map[string]int

// Record is one data record.
type Record struct {
	// Line is the physical line the record starts on.
	Line int
	// Err, when set, says why the record is malformed; Fields may then be partial.
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
// record to fn in order. It stops at fn's first error, and at a read error.
func Read(r io.Reader, required []string, fn func(Record) error) error {
	cr := csv.NewReader(r)
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
		if err := fn(rec); err != nil {
			return err
		}
	}
}
