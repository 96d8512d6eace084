package csvrows_test

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/guarantor/guarantor/cmd/guarantor/internal/importers/csvrows"
)

func TestLinesAndErrors(t *testing.T) {
	t.Parallel()
	data := "B,a\r\n" + // header: any order, any case
		"1,\"two\r\nlines\"\r\n" + // line 2, spans 2-3
		"2,x\"y\r\n" + // line 4: a bare quote
		"3\r\n" + // line 5: too few columns
		"4,\"tab\there\"\r\n" + // line 6
		"5,\"never closed\r\n" // line 7: the file ends inside a quote
	var got []string
	err := csvrows.Read(strings.NewReader(data), []string{"a", "b"}, func(r csvrows.Record) error {
		if r.Err != nil {
			got = append(got, fmt.Sprintf("%d:err", r.Line))
			return nil
		}
		got = append(got, fmt.Sprintf("%d:%s=%q", r.Line, r.Get("b"), r.Get("a")))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `[2:1="two\nlines" 4:err 5:err 6:4="tab\there" 7:err]`
	if fmt.Sprint(got) != want {
		t.Errorf("got  %v\nwant %s", got, want)
	}
}

func TestMissingColumns(t *testing.T) {
	t.Parallel()
	err := csvrows.Read(strings.NewReader("a,c\n1,2\n"), []string{"a", "b", "d"}, func(csvrows.Record) error { return nil })
	if err == nil || err.Error() != "missing required columns: b, d" {
		t.Errorf("err = %v", err)
	}
}

// readAll reads data through csvrows.Read and describes each record: line:value of
// column n, or line:cut (the file ends inside it, and a newline would mend it),
// line:bad+cut (it is malformed too) or line:bad.
func readAll(r io.Reader) (string, error) {
	var got []string
	err := csvrows.Read(r, []string{"id", "n"}, func(rec csvrows.Record) error {
		got = append(got, describe(rec))
		return nil
	})
	return fmt.Sprint(got), err
}

func describe(rec csvrows.Record) string {
	cut := errors.Is(rec.Err, csvrows.ErrCutOff)
	switch {
	case rec.Err == nil:
		return fmt.Sprintf("%d:%q", rec.Line, rec.Get("n"))
	case cut && strings.Contains(rec.Err.Error(), "echo >> FILE"):
		return fmt.Sprintf("%d:cut", rec.Line)
	case cut:
		return fmt.Sprintf("%d:bad+cut", rec.Line)
	}
	return fmt.Sprintf("%d:bad", rec.Line)
}

// A file cut off in its last record's last, unquoted cell still has every column: that
// record would import with a shorter value ("12" for "123"). Every line ends with a
// newline in a complete file, so a last record without one is reported, with its line,
// and the records before it come out.
func TestFinalNewline(t *testing.T) {
	t.Parallel()
	const head = "id,n\n"
	tests := []struct {
		name, data, want, wantErr string
	}{
		{"cut in the last cell", head + "1,10\n2,12", `[2:"10" 3:cut]`, ""},
		{"final LF", head + "1,10\n2,123\n", `[2:"10" 3:"123"]`, ""},
		{"final CRLF", "id,n\r\n1,10\r\n2,123\r\n", `[2:"10" 3:"123"]`, ""},
		{"cut between CR and LF", "id,n\r\n1,10\r\n2,123\r", `[2:"10" 3:cut]`, ""},
		{"cut after a quoted cell", head + "1,10\n2,\"123\"", `[2:"10" 3:cut]`, ""},
		{"quoted line break, then no final newline", head + "1,10\n2,\"12\n3\"", `[2:"10" 3:cut]`, ""},
		{"quoted line break, then a final newline", head + "1,10\n2,\"12\n3\"\n", `[2:"10" 3:"12\n3"]`, ""},
		{"cut inside a quoted cell", head + "1,10\n2,\"12\n3", `[2:"10" 3:bad+cut]`, ""},
		{"cut inside a quoted cell, after a line break", head + "1,10\n2,\"12\n", `[2:"10" 3:bad]`, ""},
		{"cut before the last cell", head + "1,10\n2", `[2:"10" 3:bad+cut]`, ""},
		{"blank lines at the end", head + "1,10\n\n\n", `[2:"10"]`, ""},
		{"a lone CR after the final newline", head + "1,10\n\r", `[2:"10"]`, ""},
		{"header only", head, `[]`, ""},
		{"header only, CRLF", "id,n\r\n", `[]`, ""},
		{"header only, no final newline", "id,n", `[]`, ""},
		{"empty", "", `[]`, "the file is empty: no header row"},
	}
	// encoding/csv reads ahead in chunks: the answer must not depend on how the input
	// arrives.
	readers := []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"whole", func(r io.Reader) io.Reader { return r }},
		{"one byte at a time", iotest.OneByteReader},
		{"EOF with the last bytes", iotest.DataErrReader},
	}
	for _, tc := range tests {
		for _, rd := range readers {
			t.Run(tc.name+"/"+rd.name, func(t *testing.T) {
				t.Parallel()
				got, err := readAll(rd.wrap(strings.NewReader(tc.data)))
				if (err == nil) != (tc.wantErr == "") || (err != nil && err.Error() != tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if got != tc.want {
					t.Errorf("got  %s\nwant %s", got, tc.want)
				}
			})
		}
	}
}

// What the user reads for a cut-off record, and for one cut inside a quoted cell.
func TestCutOffReason(t *testing.T) {
	t.Parallel()
	var reasons []string
	err := csvrows.Read(strings.NewReader("id,n\n1,10\n2,12\n3,\"ab"), []string{"id"}, func(rec csvrows.Record) error {
		if rec.Err != nil {
			reasons = append(reasons, fmt.Sprintf("%d: %v", rec.Line, rec.Err))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `[4: malformed CSV (line 4, column 6): extraneous or missing " in quoted-field; ` +
		`the file ends inside this record (no final newline): a cut-off download?]`
	if fmt.Sprint(reasons) != want {
		t.Errorf("got  %v\nwant %s", reasons, want)
	}
	reasons = nil
	err = csvrows.Read(strings.NewReader("id,n\n1,10\n2,12"), []string{"id"}, func(rec csvrows.Record) error {
		if rec.Err != nil {
			reasons = append(reasons, fmt.Sprintf("%d: %v", rec.Line, rec.Err))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want = `[3: the file ends inside this record (no final newline): a cut-off download? ` +
		`If the file is complete, add the final newline (echo >> FILE) and import it again]`
	if fmt.Sprint(reasons) != want {
		t.Errorf("got  %v\nwant %s", reasons, want)
	}
}

// encoding/csv fills a 4096-byte buffer: the last record's end falls on either side of
// a refill, with and without its newline.
func TestFinalNewlineAtBufferBoundaries(t *testing.T) {
	t.Parallel()
	for size := 4080; size <= 4110; size++ {
		for _, end := range []string{"", "\n", "\r\n"} {
			last := "2,123" + end
			pad := size - len("id,n\n1,\n") - len(last)
			data := "id,n\n1," + strings.Repeat("x", pad) + "\n" + last
			want := `[2:"` + strings.Repeat("x", pad) + `" 3:"123"]`
			if end == "" {
				want = `[2:"` + strings.Repeat("x", pad) + `" 3:cut]`
			}
			got, err := readAll(strings.NewReader(data))
			if err != nil || got != want || len(data) != size {
				t.Errorf("%d bytes, ending %q: got %s (err %v)", len(data), end, got[len(got)-12:], err)
			}
		}
	}
}

// Whatever the file, only its last record can be cut off, never one of a file that
// ends with a newline, and how the bytes arrive changes nothing.
func FuzzRead(f *testing.F) {
	f.Add("1,10\n2,12")
	f.Add("1,10\r\n2,\"1\n2\"\r\n")
	f.Add("1,\"ab\n")
	f.Add("1\n\r")
	f.Add("")
	f.Fuzz(func(t *testing.T, body string) {
		data := "id,n\n" + body
		var recs []csvrows.Record
		err := csvrows.Read(strings.NewReader(data), []string{"id"}, func(rec csvrows.Record) error {
			recs = append(recs, rec)
			return nil
		})
		if err != nil {
			t.Fatalf("a record must never end the read: %v", err)
		}
		for i, rec := range recs {
			if rec.Line < 2 || (i > 0 && rec.Line <= recs[i-1].Line) {
				t.Fatalf("record %d on line %d", i, rec.Line)
			}
			if errors.Is(rec.Err, csvrows.ErrCutOff) && (i < len(recs)-1 || strings.HasSuffix(data, "\n")) {
				t.Fatalf("record %d of %d (line %d) reported cut off in %q", i, len(recs), rec.Line, data)
			}
		}
		whole, _ := readAll(strings.NewReader(data))
		bytewise, _ := readAll(iotest.OneByteReader(strings.NewReader(data)))
		if whole != bytewise {
			t.Fatalf("read whole: %s\nbyte by byte: %s", whole, bytewise)
		}
	})
}
