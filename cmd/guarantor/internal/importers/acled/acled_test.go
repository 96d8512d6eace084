package acled_test

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
	"github.com/guarantor/guarantor/services/events/eventstest"

	"github.com/guarantor/guarantor/cmd/guarantor/internal/importers"
	"github.com/guarantor/guarantor/cmd/guarantor/internal/importers/acled"
)

const (
	fixture = "testdata/acled.csv"
	edited  = "testdata/acled-edited.csv"
)

func parseString(t *testing.T, data string) ([]importers.Row, error) {
	t.Helper()
	var rows []importers.Row
	err := acled.Parser()(strings.NewReader(data), func(r importers.Row) error {
		rows = append(rows, r)
		return nil
	})
	return rows, err
}

func parseFile(t *testing.T, path string) []importers.Row {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := parseString(t, string(data))
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestFixtureRows(t *testing.T) {
	t.Parallel()
	rows := parseFile(t, fixture)
	want := []struct {
		line   int
		id     string
		reason string
	}{
		{2, "acled-rus100001", ""}, // notes hold line breaks and a tab: lines 2-4
		{5, "acled-ukr100002", ""},
		{6, "", `time_precision "4"`},
		{7, "", "has 5 columns, the header has 32"},
		{8, "acled-ukr100005", ""},
		{9, "", "malformed CSV"}, // the file ends inside a quoted cell
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d: %+v", len(rows), len(want), rows)
	}
	for i, w := range want {
		r := rows[i]
		if r.Line != w.line || r.ID != w.id || !strings.Contains(r.Reason, w.reason) || (w.reason == "") != (r.Reason == "") {
			t.Errorf("row %d: line %d id %q reason %q; want line %d id %q reason containing %q", i, r.Line, r.ID, r.Reason, w.line, w.id, w.reason)
		}
		if r.Reason == "" {
			if err := importers.Check(r); err != nil {
				t.Errorf("line %d does not validate: %v", r.Line, err)
			}
		}
	}
}

func TestMapping(t *testing.T) {
	t.Parallel()
	rows := parseFile(t, fixture)

	strike := rows[0]
	e := strike.Event
	if e.GetType() != eventsv1.EventType_EVENT_TYPE_MILITARY || e.GetSubType() != "air_drone_strike" || e.GetTitle() != "Air/drone strike in Kostroma, Russia" {
		t.Errorf("type/sub/title = %v/%q/%q", e.GetType(), e.GetSubType(), e.GetTitle())
	}
	c := e.GetClassification()
	if c.GetEventType() != "Explosions/Remote violence" || c.GetSubEventType() != "Air/drone strike" || c.GetDisorderType() != "Political violence" {
		t.Errorf("classification = %v", c)
	}
	if e.GetLicense() != typev1.License_LICENSE_ACLED || e.GetExternalIds()[0].GetId() != "RUS100001" || e.GetExternalIds()[0].GetSystem() != typev1.ExternalSystem_EXTERNAL_SYSTEM_ACLED {
		t.Errorf("license/external id = %v/%v", e.GetLicense(), e.GetExternalIds())
	}
	if e.GetWhen().GetPrecision() != typev1.DatePrecision_DATE_PRECISION_DAY || e.GetWhen().GetTime().AsTime() != time.Date(2024, 1, 6, 0, 0, 0, 0, time.UTC) {
		t.Errorf("when = %v", e.GetWhen())
	}
	loc := e.GetLocation()
	if loc.GetPlace() != "Kostroma" || loc.GetAdmin1() != "Kostroma" || loc.GetCountryCode() != "RUS" || loc.GetPrecision() != typev1.GeoPrecision_GEO_PRECISION_NEAR || loc.GetLatitude() != 57.7665 {
		t.Errorf("location = %v", loc)
	}
	if !strings.Contains(e.GetSummary(), "struck\na military arsenal near Kostroma,\twith drones.\n\"No casualties\" were reported.") {
		t.Errorf("notes lost their line breaks or tab: %q", e.GetSummary())
	}
	if s := e.GetSources(); len(s) != 3 || s[0].GetPublisher() != "ACLED" || s[0].GetPublishTime().AsTime().Unix() != 1704931200 || s[1].GetPublisher() != "Ukrainska Pravda" || s[2].GetPublisher() != "Kyiv Independent" {
		t.Errorf("sources = %v", s)
	}
	if e.GetFatalities().GetBest() != 0 || e.GetFatalities() == nil {
		t.Errorf("fatalities = %v", e.GetFatalities())
	}
	if len(strike.Actors) != 2 || strike.Actors[0].GetName() != "actors/acled-military-forces-of-ukraine-2019" ||
		strike.Actors[0].GetKind() != eventsv1.ActorKind_ACTOR_KIND_ARMED_FORCE || strike.Actors[0].GetLicense() != typev1.License_LICENSE_ACLED {
		t.Errorf("actors = %v", strike.Actors)
	}
	if p := e.GetParticipants(); p[0].GetRole() != eventsv1.ParticipantRole_PARTICIPANT_ROLE_PERPETRATOR || p[1].GetRole() != eventsv1.ParticipantRole_PARTICIPANT_ROLE_TARGET {
		t.Errorf("participants = %v", p)
	}

	battle := rows[1].Event
	if battle.GetWhen().GetPrecision() != typev1.DatePrecision_DATE_PRECISION_MONTH || battle.GetWhen().GetTime().AsTime() != time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC) {
		t.Errorf("month precision: when = %v", battle.GetWhen())
	}
	if len(battle.GetQualityNotes()) != 1 || !strings.Contains(battle.GetQualityNotes()[0].GetText(), "2024-01-06") {
		t.Errorf("month precision keeps the stated day in a note: %v", battle.GetQualityNotes())
	}
	if battle.GetFatalities().GetBest() != 3 || battle.GetLocation().GetCountryCode() != "UKR" || battle.GetLocation().GetPrecision() != typev1.GeoPrecision_GEO_PRECISION_EXACT {
		t.Errorf("battle = %v", battle)
	}
	protest := rows[4]
	if protest.Event.GetWhen().GetPrecision() != typev1.DatePrecision_DATE_PRECISION_WEEK || protest.Event.GetType() != eventsv1.EventType_EVENT_TYPE_CIVIL ||
		protest.Actors[0].GetKind() != eventsv1.ActorKind_ACTOR_KIND_GROUP || len(protest.Event.GetParticipants()) != 1 {
		t.Errorf("protest = %v %v", protest.Event, protest.Actors)
	}
	// geo_precision 3 (ACLED: a larger region, e.g. the province's capital stands in for
	// an unnamed place) maps to REGION; the fixture covers 1 (battle), 2 (strike) and 3.
	if got := protest.Event.GetLocation().GetPrecision(); got != typev1.GeoPrecision_GEO_PRECISION_REGION {
		t.Errorf("geo_precision 3: location precision = %v, want GEO_PRECISION_REGION", got)
	}
}

func TestHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, data, wantErr string
	}{
		{"missing columns are named", "event_id_cnty,event_date,time_precision,event_type,sub_event_type,actor1,country,location,latitude,longitude,geo_precision\n", "missing required columns: source, fatalities"},
		{"empty file", "", "no header row"},
		{"duplicate column", "actor1,ACTOR1\n", `column "actor1" appears twice`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseString(t, tc.data)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
	// A byte-order mark and upper-case names are fine.
	rows, err := parseString(t, "\ufeffEVENT_ID_CNTY,Event_Date,time_precision,event_type,sub_event_type,actor1,country,location,latitude,longitude,geo_precision,source,fatalities\n"+
		"UKR1,2024-01-02,1,Battles,Armed clash,A,Ukraine,Kyiv,50,30,1,S,0\n")
	if err != nil || len(rows) != 1 || rows[0].ID != "acled-ukr1" {
		t.Errorf("rows = %+v, err = %v", rows, err)
	}
}

// cutExport is an export whose last row spans lines 3-4 and ends with fatalities 123,
// the last column: a download cut off one byte early leaves a row that parses, with 12.
const cutExport = "event_id_cnty,event_date,time_precision,event_type,sub_event_type,actor1,country,location,latitude,longitude,geo_precision,source,notes,fatalities\r\n" +
	"UKR1,2024-01-02,1,Battles,Armed clash,A,Ukraine,Kyiv,50,30,1,S,Clashes.,3\r\n" +
	"UKR2,2024-01-03,1,Battles,Armed clash,A,Ukraine,Kyiv,50,30,1,S,\"Shelling\r\nnear Kyiv.\",123"

func TestFinalNewline(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, data string
		want       string // each row: line, and its fatalities or "cut"
	}{
		{"cut off in the last cell", cutExport[:len(cutExport)-1], "[2:3 3:cut]"},
		{"no final newline after the last cell", cutExport, "[2:3 3:cut]"},
		{"final LF", cutExport + "\n", "[2:3 3:123]"},
		{"final CRLF", cutExport + "\r\n", "[2:3 3:123]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rows, err := parseString(t, tc.data)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range rows {
				switch {
				case strings.Contains(r.Reason, "the file ends inside this record (no final newline): a cut-off download?"):
					got = append(got, fmt.Sprintf("%d:cut", r.Line))
				case r.Reason != "":
					got = append(got, fmt.Sprintf("%d:%s", r.Line, r.Reason))
				default:
					got = append(got, fmt.Sprintf("%d:%d", r.Line, r.Event.GetFatalities().GetBest()))
				}
			}
			if fmt.Sprint(got) != tc.want {
				t.Errorf("got %v, want %s", got, tc.want)
			}
		})
	}
}

// The same cut export inside a zip archive, imported (a dry run, which calls no server):
// the first row goes in, the cut one is reported with its file and line; with --strict
// the import stops there.
func TestCutOffExportInAZip(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "acled.zip")
	writeZip(t, path, "acled.csv", cutExport[:len(cutExport)-1])
	inputs, err := importers.Inputs(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := acled.Import(context.Background(), nil, nil, inputs, importers.Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if s.Read != 2 || s.Rejected != 1 || len(s.Problems) != 1 {
		t.Fatalf("summary %v, problems %v", s, s.Problems)
	}
	if p := s.Problems[0].String(); !strings.HasPrefix(p, path+":acled.csv:3: the file ends inside this record (no final newline)") {
		t.Errorf("problem %q", p)
	}

	s, err = acled.Import(context.Background(), nil, nil, inputs, importers.Options{DryRun: true, Strict: true})
	if !errors.Is(err, importers.ErrStrict) || s.Read != 2 || s.Rejected != 1 {
		t.Errorf("--strict: %v, err %v", s, err)
	}
}

func writeZip(t *testing.T, path, entry, data string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	w, err := zw.Create(entry)
	if err == nil {
		_, err = io.WriteString(w, data)
	}
	if err == nil {
		err = zw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
}

func FuzzACLEDRecord(f *testing.F) {
	header := "event_id_cnty,event_date,time_precision,event_type,sub_event_type,actor1,inter1,actor2,inter2,iso,country,admin1,location,latitude,longitude,geo_precision,source,notes,fatalities,timestamp\n"
	f.Add("UKR1,2024-01-02,1,Battles,Armed clash,Military Forces of Russia (2000-),1,Civilians (Ukraine),7,804,Ukraine,Kyiv,Kyiv,50.4,30.5,1,A; B,\"x\ny\",2,1704931200\n")
	f.Add("UKR2,06 January 2024,3,Protests,Peaceful protest,Protesters (Ukraine),6,,,804,Ukraine,,Lviv,49.8,24.0,2,S,,0,\n")
	f.Add("UKR3,2024-13-01,1,,,,,,,,,,,,,9,,,-1,x\n")
	f.Add("\"unterminated")
	f.Fuzz(func(t *testing.T, record string) {
		err := acled.Parser()(strings.NewReader(header+record), func(r importers.Row) error {
			if r.Line < 2 {
				t.Fatalf("line %d for a record after the header", r.Line)
			}
			if r.Reason != "" {
				return nil
			}
			if !importers.ValidID(r.ID) || !strings.HasPrefix(r.ID, "acled-") {
				t.Fatalf("id %q", r.ID)
			}
			if r.Event.GetLicense() != typev1.License_LICENSE_ACLED {
				t.Fatalf("license %v", r.Event.GetLicense())
			}
			for _, a := range r.Actors {
				if !importers.ValidID(strings.TrimPrefix(a.GetName(), "actors/")) {
					t.Fatalf("actor name %q", a.GetName())
				}
			}
			_ = importers.Check(r)
			return nil
		})
		if err != nil {
			t.Fatalf("a record must never end the read: %v", err)
		}
	})
}

// End to end through the real events service.

func callAs(h *eventstest.Harness) importers.CallContext {
	return func(ctx context.Context) (context.Context, context.CancelFunc) {
		c, cancel := context.WithTimeout(ctx, 60*time.Second)
		return h.As(c, eventstest.Admin), cancel
	}
}

func importFile(t *testing.T, h *eventstest.Harness, path string) importers.Summary {
	t.Helper()
	return importWith(t, h, path, importers.Options{})
}

func importWith(t *testing.T, h *eventstest.Harness, path string, opt importers.Options) importers.Summary {
	t.Helper()
	inputs, err := importers.Inputs(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := acled.Import(context.Background(), h.Conn, callAs(h), inputs, opt)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestImportThroughTheEventsService(t *testing.T) {
	h := eventstest.Start(t, eventstest.SQLite)

	s := importFile(t, h, fixture)
	if s.Read != 6 || s.Created != 3 || s.Rejected != 3 || s.ActorsCreated != 3 {
		t.Fatalf("first import: %v %v", s, s.Problems)
	}
	var lines []int
	for _, p := range s.Problems {
		lines = append(lines, p.Line)
	}
	if fmt.Sprint(lines) != "[6 7 9]" {
		t.Errorf("problem lines %v: %v", lines, s.Problems)
	}

	s = importFile(t, h, fixture)
	if s.Created != 0 || s.Updated != 0 || s.Unchanged != 3 || s.ActorsCreated != 0 {
		t.Errorf("re-import: %v", s)
	}

	// A dry run on the server says what importing the newer export would do, and does
	// none of it.
	s = importWith(t, h, edited, importers.Options{ValidateOnly: true})
	if s.Read != 3 || s.Created != 0 || s.Updated != 1 || s.Unchanged != 2 || s.Rejected != 0 || !s.Checked {
		t.Errorf("dry run on the server of the edited export: %v %v", s, s.Problems)
	}
	before, err := h.Client().GetEvent(h.As(context.Background(), eventstest.Admin), &eventsv1.GetEventRequest{Name: "events/acled-rus100001"})
	if err != nil {
		t.Fatal(err)
	}
	if before.GetEvent().GetFatalities().GetBest() == 2 {
		t.Errorf("the dry run wrote the edit: %v", before.GetEvent())
	}

	// ACLED edited RUS100001 since: a newer export updates it, and only it.
	s = importFile(t, h, edited)
	if s.Read != 3 || s.Created != 0 || s.Updated != 1 || s.Unchanged != 2 || s.Rejected != 0 {
		t.Errorf("edited export: %v %v", s, s.Problems)
	}
	got, err := h.Client().GetEvent(h.As(context.Background(), eventstest.Admin), &eventsv1.GetEventRequest{Name: "events/acled-rus100001"})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetEvent().GetFatalities().GetBest() != 2 || !strings.Contains(got.GetEvent().GetSummary(), "Two guards") {
		t.Errorf("the edit did not land: %v", got.GetEvent())
	}

	// The licence tag does its work: a principal without the "acled" entitlement cannot
	// read the raw row.
	_, err = h.Client().GetEvent(h.As(context.Background(), eventstest.Viewer), &eventsv1.GetEventRequest{Name: "events/acled-rus100001"})
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("viewer without entitlement: %v", err)
	}
}
