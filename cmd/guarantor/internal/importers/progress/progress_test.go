package progress_test

import (
	"bytes"
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
