package csvrows_test

import (
	"fmt"
	"strings"
	"testing"

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
