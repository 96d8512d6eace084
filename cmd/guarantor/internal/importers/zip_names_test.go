package importers

import (
	"archive/zip"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// A zip archive may hold two entries under the same name (zip.Writer writes them, and
// tools that append to an archive do). Inputs lists both; each input used to reopen
// its entry by name, so both read the first: the second entry's rows were never
// imported, and the first's were imported twice.
func TestZipEntriesWithTheSameName(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "two.zip")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for _, data := range []string{"first entry\n", "second entry\n"} {
		w, err := zw.Create("20240110120000.export.CSV")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	inputs, err := Inputs(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) != 2 {
		t.Fatalf("%d inputs, want 2", len(inputs))
	}
	var got []string
	for _, in := range inputs {
		rc, err := in.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		_ = rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(b))
	}
	if got[0] != "first entry\n" || got[1] != "second entry\n" {
		t.Errorf("the inputs read %q, want each entry once", got)
	}
}
