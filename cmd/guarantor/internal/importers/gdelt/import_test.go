package gdelt_test

// End to end through the real events service (SQLite, JetStream): the importer's client
// talks to the service directly, with the signed identity the gateway would attach.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	"github.com/guarantor/guarantor/services/events/eventstest"

	"github.com/guarantor/guarantor/cmd/guarantor/internal/importers"
	"github.com/guarantor/guarantor/cmd/guarantor/internal/importers/gdelt"
)

func callAs(h *eventstest.Harness) importers.CallContext {
	return func(ctx context.Context) (context.Context, context.CancelFunc) {
		c, cancel := context.WithTimeout(ctx, 60*time.Second)
		return h.As(c, eventstest.Admin), cancel
	}
}

func importFiles(t *testing.T, h *eventstest.Harness, opt gdelt.Options, paths ...string) (importers.Summary, error) {
	t.Helper()
	inputs, err := importers.InputsOf(paths)
	if err != nil {
		t.Fatal(err)
	}
	return gdelt.Import(context.Background(), h.Conn, callAs(h), inputs, opt)
}

func importString(t *testing.T, h *eventstest.Harness, opt gdelt.Options, data string) (importers.Summary, error) {
	t.Helper()
	return gdelt.Import(context.Background(), h.Conn, callAs(h), []importers.Input{importers.StringInput("mem.CSV", data)}, opt)
}

func exists(t *testing.T, h *eventstest.Harness, name string) bool {
	t.Helper()
	ctx := h.As(context.Background(), eventstest.Admin)
	var err error
	if strings.HasPrefix(name, "actors/") {
		_, err = h.Client().GetActor(ctx, &eventsv1.GetActorRequest{Name: name})
	} else {
		_, err = h.Client().GetEvent(ctx, &eventsv1.GetEventRequest{Name: name})
	}
	if status.Code(err) == codes.NotFound {
		return false
	}
	if err != nil {
		t.Fatalf("get %s: %v", name, err)
	}
	return true
}

// row builds a 61-column export line.
func row(id, actor1, country1 string, lat string) string {
	f := make([]string, gdelt.Columns)
	f[0], f[1] = id, "20240111"
	f[5], f[6], f[7] = actor1, actor1, country1
	f[26], f[27], f[28], f[29], f[30] = "042", "042", "04", "1", "1.9"
	f[51], f[52], f[53], f[56], f[57] = "4", "Warsaw, Poland", "PL", lat, "21.0"
	f[60] = "https://example.com/" + id
	return strings.Join(f, "\t")
}

func TestImportThroughTheEventsService(t *testing.T) {
	h := eventstest.Start(t, eventstest.SQLite)

	// First import: good rows land, bad rows are reported with their line numbers.
	s, err := importFiles(t, h, gdelt.Options{}, fixture)
	if err != nil {
		t.Fatal(err)
	}
	if s.Read != 10 || s.Created != 5 || s.Updated != 0 || s.Unchanged != 0 || s.Rejected != 5 || s.ActorsCreated != 7 {
		t.Fatalf("first import: %v", s)
	}
	var lines []int
	for _, p := range s.Problems {
		lines = append(lines, p.Line)
	}
	if fmt.Sprint(lines) != "[4 5 6 8 10]" || !strings.Contains(s.Problems[0].Reason, `"0999"`) {
		t.Errorf("problems: %v", s.Problems)
	}
	got, err := h.Client().GetEvent(h.As(context.Background(), eventstest.Admin), &eventsv1.GetEventRequest{Name: "events/gdelt-1180000002"})
	if err != nil {
		t.Fatal(err)
	}
	if e := got.GetEvent(); e.GetCameoCode() != "190" || len(e.GetParticipants()) != 2 || e.GetParticipants()[0].GetActor() != "actors/cameo-rusmil" {
		t.Errorf("stored event: %v", e)
	}
	// The bad rows left nothing: not the event of the unknown code, not its actor.
	for _, name := range []string{"events/gdelt-1180000004", "actors/fra"} {
		if exists(t, h, name) {
			t.Errorf("%s exists after its row was rejected", name)
		}
	}

	// Second import of the same file: nothing new, and it says so.
	s, err = importFiles(t, h, gdelt.Options{}, fixture)
	if err != nil {
		t.Fatal(err)
	}
	if s.Created != 0 || s.Updated != 0 || s.Unchanged != 5 || s.ActorsCreated != 0 || s.ActorsExisting != 7 || s.Rejected != 5 {
		t.Errorf("second import: %v", s)
	}

	// A row whose event fails validation creates none of its actors.
	s, err = importString(t, h, gdelt.Options{}, row("1180000200", "POL", "POL", "123.0")+"\n")
	if err != nil {
		t.Fatal(err)
	}
	if s.Rejected != 1 || !strings.Contains(s.Problems[0].Reason, "latitude") {
		t.Errorf("invalid latitude: %v", s)
	}
	if exists(t, h, "actors/pol") || exists(t, h, "events/gdelt-1180000200") {
		t.Error("a rejected row left its actor or event behind")
	}

	// --strict: the bad row stops the import before anything is written, even the good
	// row before it.
	s, err = importString(t, h, gdelt.Options{Options: importers.Options{Strict: true}},
		row("1180000300", "POL", "POL", "52.2")+"\n"+row("1180000301", "POL", "POL", "x")+"\n"+row("1180000302", "POL", "POL", "52.2")+"\n")
	if !errors.Is(err, importers.ErrStrict) {
		t.Fatalf("strict: err = %v", err)
	}
	if s.Rejected != 1 || s.Problems[0].Line != 2 || s.Read != 2 {
		t.Errorf("strict summary: %v %v", s, s.Problems)
	}
	if exists(t, h, "events/gdelt-1180000300") || exists(t, h, "actors/pol") {
		t.Error("--strict wrote rows of a file with a bad row")
	}

	// --dry-run: parses and validates, writes nothing.
	s, err = importString(t, h, gdelt.Options{Options: importers.Options{DryRun: true}}, row("1180000400", "POL", "POL", "52.2")+"\n")
	if err != nil {
		t.Fatal(err)
	}
	if s.Read != 1 || s.Rejected != 0 || s.Created != 0 || !s.DryRun {
		t.Errorf("dry run: %v", s)
	}
	if exists(t, h, "events/gdelt-1180000400") || exists(t, h, "actors/pol") {
		t.Error("--dry-run wrote")
	}

	// Filters: only Polish rows of a file with others.
	s, err = importString(t, h, gdelt.Options{Filter: gdelt.Filter{ActorCountries: []string{"POL"}}},
		row("1180000500", "POL", "POL", "52.2")+"\n"+row("1180000501", "DEU", "DEU", "52.2")+"\n")
	if err != nil {
		t.Fatal(err)
	}
	if s.Created != 1 || s.Filtered != 1 || !exists(t, h, "events/gdelt-1180000500") || exists(t, h, "events/gdelt-1180000501") {
		t.Errorf("filter: %v", s)
	}
}
