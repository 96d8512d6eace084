package cameo_test

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/guarantor/guarantor/cmd/guarantor/internal/importers/cameo"
)

// The embedded copy must stay byte for byte GDELT's file (as kept in shared/reference).
func TestEmbeddedCopyIsThePublishedFile(t *testing.T) {
	t.Parallel()
	ref, err := os.ReadFile("../../../../../../shared/reference/CAMEO.eventcodes.txt")
	if err != nil {
		t.Skipf("shared/reference not beside the repository: %v", err)
	}
	if !bytes.Equal(ref, cameo.Published()) {
		t.Fatal("the embedded CAMEO.eventcodes.txt differs from shared/reference/CAMEO.eventcodes.txt")
	}
}

func TestDefaultTableSurvivesEveryDefect(t *testing.T) {
	t.Parallel()
	tab, err := cameo.Default()
	if err != nil {
		t.Fatal(err)
	}
	raw := cameo.Published()
	if raw[len(raw)-1] == '\n' {
		t.Fatal("test premise: the published file has no final newline")
	}
	// 310 code lines plus the 106 entry glued onto 1056.
	if got := tab.Len(); got != 311 {
		t.Errorf("Len = %d, want 311", got)
	}
	levels := map[int]int{}
	for _, c := range tab.Codes() {
		e, _ := tab.Lookup(c)
		levels[e.Level()]++
		if e.Description == "" {
			t.Errorf("%s has no description", c)
		}
		if strings.HasSuffix(e.Description, " ") {
			t.Errorf("%s keeps a trailing space: %q", c, e.Description)
		}
		if strings.ContainsAny(e.Description, "Ãâ") {
			t.Errorf("%s keeps mojibake: %q", c, e.Description)
		}
	}
	if levels[1] != 20 || levels[2] != 147 || levels[3] != 144 {
		t.Errorf("roots/bases/leaves = %d/%d/%d, want 20/147/144", levels[1], levels[2], levels[3])
	}

	tests := []struct {
		code, want string
	}{
		{"01", "MAKE PUBLIC STATEMENT"},
		{"010", "Make statement, not specified below"},
		{"033", "Express intent to provide material aid, not specified below"},
		{"044", `Meet at a "third" location`},
		{"1056", "Demand de-escalation of military engagement"},
		{"106", "Demand withdrawal"},
		{"107", "Demand ceasefire"},
		{"111", "Criticize or denounce"},
		{"1384", "Threaten conventional attack"},
		{"2042", "Detonate nuclear weapons"},
	}
	for _, tc := range tests {
		e, ok := tab.Lookup(tc.code)
		if !ok {
			t.Errorf("%s missing", tc.code)
			continue
		}
		if e.Description != tc.want {
			t.Errorf("%s = %q, want %q", tc.code, e.Description, tc.want)
		}
	}
	if e, _ := tab.Lookup("106"); e.Line != 156 || !strings.Contains(e.Raw, "106:[-5.0]") {
		t.Errorf("106 should come from the glued line 156, got line %d raw %q", e.Line, e.Raw)
	}
	if e, _ := tab.Lookup("044"); !strings.Contains(e.Raw, "Ã") {
		t.Errorf("044 raw text should keep the published bytes, got %q", e.Raw)
	}
	if _, ok := tab.Lookup("0999"); ok {
		t.Error("0999 is not a CAMEO code")
	}

	kinds := map[string]int{}
	for _, d := range tab.Defects {
		kinds[d.Kind]++
	}
	want := map[string]int{
		cameo.DefectTrailingSpace: 25,
		cameo.DefectGlued:         1,
		cameo.DefectMojibake:      1,
		cameo.DefectMisspelling:   1,
		cameo.DefectNoFinalNL:     1,
	}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("%d defects of kind %q, want %d (all: %v)", kinds[k], k, n, tab.Defects)
		}
	}
	if kinds[cameo.DefectMalformed] != 0 || kinds[cameo.DefectDuplicate] != 0 {
		t.Errorf("unexpected defects: %v", tab.Defects)
	}
}

func TestParseCases(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       string
		code     string
		want     string
		defect   string
		wantErr  bool
		wantLen  int
		skipLook bool
	}{
		{name: "crlf and header", in: "CAMEOEVENTCODE\tEVENTDESCRIPTION\r\n01\tMAKE PUBLIC STATEMENT\r\n", code: "01", want: "MAKE PUBLIC STATEMENT", wantLen: 1},
		{name: "generic mojibake repaired", in: "01\tCaf\u00c3\u00a9 talk\n", code: "01", want: "Café talk", defect: cameo.DefectMojibake, wantLen: 1},
		{name: "malformed line skipped", in: "01\tA\nxyz\n02\tB\n", code: "02", want: "B", defect: cameo.DefectMalformed, wantLen: 2},
		{name: "explicit line wins over glued copy", in: "1056\tDemand de-escalation106:[-5.0] Glued\n106\tDemand withdrawal\n", code: "106", want: "Demand withdrawal", defect: cameo.DefectGlued, wantLen: 2},
		{name: "duplicate code", in: "01\tA\n01\tB\n", code: "01", want: "B", defect: cameo.DefectDuplicate, wantLen: 1},
		{name: "empty", in: "", wantErr: true},
		{name: "header only", in: "CAMEOEVENTCODE\tEVENTDESCRIPTION", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tab, err := cameo.Parse(strings.NewReader(tc.in))
			if tc.wantErr {
				if err == nil {
					t.Fatal("want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tab.Len() != tc.wantLen {
				t.Errorf("Len = %d, want %d", tab.Len(), tc.wantLen)
			}
			e, ok := tab.Lookup(tc.code)
			if !ok || e.Description != tc.want {
				t.Errorf("%s = %q (found %v), want %q", tc.code, e.Description, ok, tc.want)
			}
			if tc.defect != "" {
				found := false
				for _, d := range tab.Defects {
					found = found || d.Kind == tc.defect
				}
				if !found {
					t.Errorf("no %q defect in %v", tc.defect, tab.Defects)
				}
			}
		})
	}
}

func FuzzCAMEOTable(f *testing.F) {
	f.Add(cameo.Published())
	f.Add([]byte("01\tA\n010\tB \n0101\tC106:[-5.0] D"))
	f.Add([]byte("044\tMeet at a Ã’hirdÃ“location\n"))
	f.Add([]byte("\n\n\t\t\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tab, err := cameo.Parse(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, c := range tab.Codes() {
			e, ok := tab.Lookup(c)
			if !ok || e.Code != c {
				t.Fatalf("Codes lists %q but Lookup gives %+v, %v", c, e, ok)
			}
			if len(c) < 2 || len(c) > 4 || strings.Trim(c, "0123456789") != "" {
				t.Fatalf("code %q is not 2-4 digits", c)
			}
			if strings.HasSuffix(e.Description, " ") {
				t.Fatalf("description of %s keeps a trailing space: %q", c, e.Description)
			}
		}
	})
}
