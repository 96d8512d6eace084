// Package progress reports how far an import has come: a bar redrawn in place, with the
// rate and the time left, when a person watches a terminal; a plain line every few
// seconds otherwise, so that logs of a scripted import stay readable.
package progress

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Meter tracks bytes read out of a known total, and rows.
type Meter struct {
	w     io.Writer
	bar   bool
	label string
	total int64
	// Every is how often a plain line is written; the bar is redrawn more often.
	Every time.Duration
	// Now is the clock (tests replace it).
	Now func() time.Time

	start, last time.Time
	bytes       int64
	rows        int
}

// New returns a meter writing to w: a bar when bar is set (w is a terminal), plain lines
// otherwise. total is the number of bytes to read, 0 when unknown.
func New(w io.Writer, bar bool, label string, total int64) *Meter {
	m := &Meter{w: w, bar: bar, label: label, total: total, Every: 5 * time.Second, Now: time.Now}
	if bar {
		m.Every = 200 * time.Millisecond
	}
	return m
}

// ForOutput picks how an import shows its progress: a bar on stdout when stdout is a
// terminal that a person watches, plain lines on stderr otherwise, so that a redirected
// standard output holds the summary alone. isTerminal says whether a file descriptor is a
// terminal (term.IsTerminal); it is asked only when stdout has one.
func ForOutput(stdout, stderr io.Writer, isTerminal func(fd int) bool, label string, total int64) *Meter {
	if f, ok := stdout.(interface{ Fd() uintptr }); ok && isTerminal != nil && isTerminal(int(f.Fd())) {
		return New(stdout, true, label, total)
	}
	return New(stderr, false, label, total)
}

// Again is a new meter like m (same output, form, total and clock) whose label is
// prefix followed by m's, for another pass over the same input; nil when m is nil.
func (m *Meter) Again(prefix string) *Meter {
	if m == nil {
		return nil
	}
	n := New(m.w, m.bar, prefix+m.label, m.total)
	n.Every, n.Now = m.Every, m.Now
	return n
}

// Update records the bytes read so far and the rows seen, and reports when it is time.
func (m *Meter) Update(bytes int64, rows int) {
	if m == nil {
		return
	}
	now := m.Now()
	if m.start.IsZero() {
		m.start, m.last = now, now
	}
	m.bytes, m.rows = bytes, rows
	if now.Sub(m.last) < m.Every {
		return
	}
	m.last = now
	m.write(now, false)
}

// Done writes the final state.
func (m *Meter) Done() {
	if m == nil {
		return
	}
	now := m.Now()
	if m.start.IsZero() {
		m.start = now
	}
	m.write(now, true)
}

func (m *Meter) write(now time.Time, done bool) {
	elapsed := now.Sub(m.start)
	rate := 0.0
	if elapsed > 0 {
		rate = float64(m.rows) / elapsed.Seconds()
	}
	frac := -1.0
	if m.total > 0 {
		frac = min(float64(m.bytes)/float64(m.total), 1)
	}
	if done {
		frac = 1
	}
	eta := "?"
	if frac > 0 && frac < 1 && elapsed > 0 {
		eta = round(time.Duration(float64(elapsed) * (1 - frac) / frac)).String()
	} else if frac >= 1 {
		eta = "0s"
	}
	if m.bar {
		const width = 30
		cells := 0
		if frac > 0 {
			cells = int(frac * width)
		}
		fmt.Fprintf(m.w, "\r\033[K%s [%s%s] %s %d rows %.0f rows/s ETA %s", m.label,
			strings.Repeat("#", cells), strings.Repeat(".", width-cells), percent(frac), m.rows, rate, eta)
		if done {
			fmt.Fprintln(m.w)
		}
		return
	}
	if done {
		fmt.Fprintf(m.w, "%s: done: %d rows in %s (%.0f rows/s)\n", m.label, m.rows, round(elapsed), rate)
		return
	}
	fmt.Fprintf(m.w, "%s: %s, %d rows, %.0f rows/s, ETA %s\n", m.label, percent(frac), m.rows, rate, eta)
}

func percent(frac float64) string {
	if frac < 0 {
		return "?%"
	}
	return fmt.Sprintf("%3.0f%%", frac*100)
}

func round(d time.Duration) time.Duration {
	if d > time.Minute {
		return d.Round(time.Second)
	}
	return d.Round(100 * time.Millisecond)
}

// CountingReader counts the bytes read through it.
type CountingReader struct {
	R io.Reader
	N int64
}

func (c *CountingReader) Read(p []byte) (int, error) {
	n, err := c.R.Read(p)
	c.N += int64(n)
	return n, err
}
