package progress_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/guarantor/guarantor/cmd/guarantor/internal/importers/progress"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestPlainLines(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	c := &clock{t: time.Unix(0, 0)}
	m := progress.New(&buf, false, "gdelt", 1000)
	m.Now = c.now
	m.Update(0, 0)
	c.t = c.t.Add(time.Second)
	m.Update(100, 10) // too soon for a line
	if buf.Len() != 0 {
		t.Fatalf("wrote %q before Every elapsed", buf.String())
	}
	c.t = c.t.Add(5 * time.Second)
	m.Update(250, 60)
	c.t = c.t.Add(2 * time.Second)
	m.Update(500, 80)
	m.Done()
	got := buf.String()
	want := "gdelt:  25%, 60 rows, 10 rows/s, ETA 18s\ngdelt: done: 80 rows in 8s (10 rows/s)\n"
	if got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
	if strings.Contains(got, "\r") {
		t.Error("plain output must not redraw in place")
	}
}

func TestBar(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	c := &clock{t: time.Unix(0, 0)}
	m := progress.New(&buf, true, "acled", 200)
	m.Now = c.now
	m.Update(0, 0)
	c.t = c.t.Add(time.Second)
	m.Update(100, 50)
	m.Done()
	got := buf.String()
	if !strings.Contains(got, "\r\033[Kacled [###############...............]  50% 50 rows 50 rows/s ETA 1s") {
		t.Errorf("bar missing or wrong: %q", got)
	}
	if !strings.HasSuffix(got, "100% 50 rows 50 rows/s ETA 0s\n") {
		t.Errorf("final bar wrong: %q", got)
	}
}

func TestNilMeterIsANoOp(t *testing.T) {
	t.Parallel()
	var m *progress.Meter
	m.Update(1, 1)
	m.Done()
}

func TestCountingReader(t *testing.T) {
	t.Parallel()
	c := &progress.CountingReader{R: strings.NewReader("hello")}
	var out bytes.Buffer
	if _, err := out.ReadFrom(c); err != nil {
		t.Fatal(err)
	}
	if c.N != 5 {
		t.Errorf("N = %d", c.N)
	}
}

// ForOutput: a bar on stdout when it is a terminal, plain lines on stderr otherwise (a
// terminal that is not stdout's, or a stdout that is no file at all).
func TestForOutput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		file     bool // stdout is a file (with a descriptor)
		terminal bool // what isTerminal answers
		wantBar  bool
		asked    bool // isTerminal must be asked
	}{
		{name: "terminal: bar on stdout", file: true, terminal: true, wantBar: true, asked: true},
		{name: "redirected to a file: lines on stderr", file: true, terminal: false, asked: true},
		{name: "not a file: lines on stderr", file: false, terminal: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stdout io.Writer
			var read func() string
			if tc.file {
				path := filepath.Join(t.TempDir(), "stdout")
				f, err := os.Create(path)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = f.Close() })
				stdout = f
				read = func() string {
					b, err := os.ReadFile(path)
					if err != nil {
						t.Fatal(err)
					}
					return string(b)
				}
			} else {
				var buf bytes.Buffer
				stdout = &buf
				read = buf.String
			}
			var stderr bytes.Buffer
			asked := false
			m := progress.ForOutput(stdout, &stderr, func(fd int) bool {
				asked = true
				if f, ok := stdout.(*os.File); !ok || uintptr(fd) != f.Fd() {
					t.Errorf("isTerminal asked about fd %d, not stdout's", fd)
				}
				return tc.terminal
			}, "x.csv", 10)
			m.Update(10, 3)
			m.Done()
			if asked != tc.asked {
				t.Errorf("isTerminal asked = %v, want %v", asked, tc.asked)
			}
			out := read()
			if tc.wantBar {
				if !strings.Contains(out, "\r\033[Kx.csv [") || stderr.Len() != 0 {
					t.Errorf("want a bar on stdout only; stdout %q, stderr %q", out, stderr.String())
				}
				return
			}
			if out != "" || !strings.HasPrefix(stderr.String(), "x.csv: done: 3 rows in ") || strings.Contains(stderr.String(), "\r") {
				t.Errorf("want plain lines on stderr only; stdout %q, stderr %q", out, stderr.String())
			}
		})
	}
}

// Again is a second pass over the same input: same output and total, its own clock start
// and count, the label prefixed.
func TestAgain(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	c := &clock{t: time.Unix(0, 0)}
	m := progress.New(&buf, false, "gdelt", 1000)
	m.Now = c.now
	m.Update(0, 0)
	c.t = c.t.Add(10 * time.Second)
	m.Update(1000, 100)
	m.Done()
	again := m.Again("checking ")
	again.Update(0, 0)
	c.t = c.t.Add(2 * time.Second)
	again.Update(1000, 40)
	again.Done()
	want := "gdelt: 100%, 100 rows, 10 rows/s, ETA 0s\ngdelt: done: 100 rows in 10s (10 rows/s)\n" +
		"checking gdelt: done: 40 rows in 2s (20 rows/s)\n"
	if got := buf.String(); got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
	var none *progress.Meter
	if none.Again("checking ") != nil {
		t.Error("Again of a nil meter is not nil")
	}
}
