package gdelt_test

import (
	"context"
	"strings"
	"testing"

	"github.com/guarantor/guarantor/cmd/guarantor/internal/importers"
	"github.com/guarantor/guarantor/cmd/guarantor/internal/importers/gdelt"
)

// A plain export cut off by an interrupted download, inside the last column (SOURCEURL):
// the partial last line still has 61 columns, so it parsed, and the import reported the
// file as read in full, with a wrong (cut) source URL for that event. GDELT ends every
// line with a newline: a last line without one is what a cut file looks like, and it is
// rejected.
func TestTruncatedInLastColumnIsReported(t *testing.T) {
	t.Parallel()
	full := row("1180000101", "POL", "POL", "52.2") + "\n" + row("1180000102", "POL", "POL", "52.2") + "\n"
	cut := full[:len(full)-len("02\n")] // "https://example.com/11800001" : the file ends mid-URL
	s, err := gdelt.Import(context.Background(), nil, nil, []importers.Input{importers.StringInput("cut.export.CSV", cut)},
		gdelt.Options{Options: importers.Options{DryRun: true}})
	if err == nil && s.Rejected == 0 {
		t.Errorf("a file cut off mid-line imports as complete: %v (err %v)", s, err)
	}
	if !strings.HasSuffix(cut, "https://example.com/11800001") {
		t.Fatalf("test setup: %q", cut[len(cut)-40:])
	}
}
