package gdelt_test

import (
	"archive/zip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"

	"github.com/guarantor/guarantor/cmd/guarantor/internal/importers"
	"github.com/guarantor/guarantor/cmd/guarantor/internal/importers/cameo"
	"github.com/guarantor/guarantor/cmd/guarantor/internal/importers/gdelt"
)

const fixture = "testdata/20240110120000.export.CSV"

func table(t testing.TB) *cameo.Table {
	t.Helper()
	tab, err := cameo.Default()
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

// parse runs the parser over a file and returns its rows.
func parse(t *testing.T, path string, f gdelt.Filter) []importers.Row {
	t.Helper()
	file, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	var rows []importers.Row
	if err := gdelt.Parser(table(t), f)(file, func(r importers.Row) error {
		rows = append(rows, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestFixtureRows(t *testing.T) {
	t.Parallel()
	rows := parse(t, fixture, gdelt.Filter{})
	want := []struct {
		line   int
		id     string
		reason string
	}{
		{1, "gdelt-1180000001", ""},
		{2, "gdelt-1180000002", ""},
		{3, "gdelt-1180000003", ""},
		{4, "", `unknown CAMEO event code "0999" (EventCode)`},
		{5, "", "has 60 tab-separated columns, want 61"},
		{6, "", "has 62 tab-separated columns, want 61"}, // a quoted name with a tab: TSV has no quoting
		{7, "gdelt-1180000007", ""},
		{8, "", `GLOBALEVENTID "abc" is not a number`},
		{9, "gdelt-1180000009", ""},
		{10, "", "has 20 tab-separated columns, want 61"}, // the file is cut off mid-row
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
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
	rows := parse(t, fixture, gdelt.Filter{})
	byLine := map[int]importers.Row{}
	for _, r := range rows {
		byLine[r.Line] = r
	}

	t.Run("meeting between two states", func(t *testing.T) {
		r := byLine[1]
		e := r.Event
		if e.GetCameoCode() != "036" || e.GetType() != eventsv1.EventType_EVENT_TYPE_DIPLOMACY || e.GetSubType() != "express_intent_to_meet_or_negotiate" {
			t.Errorf("code/type/sub_type = %q/%v/%q", e.GetCameoCode(), e.GetType(), e.GetSubType())
		}
		if e.GetTitle() != "Express intent to meet or negotiate: United Kingdom / Ukraine" {
			t.Errorf("title = %q", e.GetTitle())
		}
		if got := e.GetWhen().GetTime().AsTime().Format("2006-01-02T15:04:05Z"); got != "2024-01-06T00:00:00Z" || e.GetWhen().GetPrecision() != typev1.DatePrecision_DATE_PRECISION_DAY {
			t.Errorf("when = %s %v", got, e.GetWhen().GetPrecision())
		}
		if e.GetLicense() != typev1.License_LICENSE_GDELT {
			t.Errorf("license = %v", e.GetLicense())
		}
		if ids := e.GetExternalIds(); len(ids) != 1 || ids[0].GetSystem() != typev1.ExternalSystem_EXTERNAL_SYSTEM_GDELT || ids[0].GetId() != "1180000001" {
			t.Errorf("external ids = %v", ids)
		}
		c := e.GetClassification()
		if c.GetQuadClass() != 1 || c.GetGoldsteinScale() != 4 || c.GetNumMentions() != 10 || c.GetNumSources() != 2 || c.GetNumArticles() != 10 || c.GetAvgTone() != 1.5 || !c.GetRootEvent() {
			t.Errorf("classification = %v", c)
		}
		loc := e.GetLocation()
		if loc.GetPlace() != "Paris, Ile-de-France, France" || loc.GetCountryCode() != "FRA" || loc.GetAdmin1() != "FR11" || loc.GetLatitude() != 48.8667 || loc.GetLongitude() != 2.3333 || loc.GetPrecision() != typev1.GeoPrecision_GEO_PRECISION_EXACT {
			t.Errorf("location = %v", loc)
		}
		if s := e.GetSources(); len(s) != 1 || s[0].GetUrl() != "https://www.example.com/news/paris-summit" || s[0].GetPublisher() != "example.com" || s[0].GetRetrieveTime().AsTime().Format("150405") != "120000" {
			t.Errorf("sources = %v", s)
		}
		if strings.Join(e.GetTags(), ",") != "gdelt,cameo_root:03,cameo_base:036" {
			t.Errorf("tags = %v", e.GetTags())
		}
		if len(r.Actors) != 2 || r.Actors[0].GetName() != "actors/gbr" || r.Actors[0].GetKind() != eventsv1.ActorKind_ACTOR_KIND_STATE ||
			r.Actors[0].GetDisplayName() != "United Kingdom" || r.Actors[0].GetCountryCode() != "GBR" || r.Actors[1].GetName() != "actors/ukr" {
			t.Errorf("actors = %v", r.Actors)
		}
		if p := e.GetParticipants(); len(p) != 2 || p[0].GetActor() != "actors/gbr" || p[1].GetActor() != "actors/ukr" {
			t.Errorf("participants = %v", p)
		}
	})

	t.Run("strike by an armed force", func(t *testing.T) {
		r := byLine[2]
		a := r.Actors[0]
		if a.GetName() != "actors/cameo-rusmil" || a.GetKind() != eventsv1.ActorKind_ACTOR_KIND_ARMED_FORCE || a.GetCountryCode() != "RUS" || a.GetDisplayName() != "Russia (RUSMIL)" {
			t.Errorf("actor = %v", a)
		}
		p := r.Event.GetParticipants()
		if p[0].GetRole() != eventsv1.ParticipantRole_PARTICIPANT_ROLE_PERPETRATOR || p[1].GetRole() != eventsv1.ParticipantRole_PARTICIPANT_ROLE_TARGET {
			t.Errorf("roles = %v", p)
		}
		if r.Event.GetType() != eventsv1.EventType_EVENT_TYPE_MILITARY || r.Event.GetLocation().GetCountryCode() != "RUS" || r.Event.GetClassification().GetGoldsteinScale() != -10 {
			t.Errorf("event = %v", r.Event)
		}
	})

	t.Run("cease-fire with one actor and an offline source", func(t *testing.T) {
		r := byLine[3]
		e := r.Event
		if e.GetCameoCode() != "0871" || e.GetType() != eventsv1.EventType_EVENT_TYPE_CEASEFIRE || len(e.GetParticipants()) != 1 || len(r.Actors) != 1 {
			t.Errorf("event = %v", e)
		}
		if r.Actors[0].GetKind() != eventsv1.ActorKind_ACTOR_KIND_AGENCY {
			t.Errorf("UKRGOV kind = %v", r.Actors[0].GetKind())
		}
		if s := e.GetSources()[0]; s.GetPublisher() != "BBC Monitoring" || s.GetUrl() != "" {
			t.Errorf("source = %v", s)
		}
		if loc := e.GetLocation(); loc.GetCountryCode() != "UKR" || loc.GetPrecision() != typev1.GeoPrecision_GEO_PRECISION_COUNTRY {
			t.Errorf("location = %v", loc)
		}
	})

	t.Run("regional code and an organisation, no geography", func(t *testing.T) {
		r := byLine[7]
		if r.Actors[0].GetName() != "actors/cameo-eur" || r.Actors[0].GetKind() != eventsv1.ActorKind_ACTOR_KIND_GROUP || r.Actors[0].GetCountryCode() != "" {
			t.Errorf("EUR = %v", r.Actors[0])
		}
		if r.Actors[1].GetName() != "actors/cameo-igouno" || r.Actors[1].GetKind() != eventsv1.ActorKind_ACTOR_KIND_ORGANIZATION {
			t.Errorf("IGOUNO = %v", r.Actors[1])
		}
		if r.Event.GetLocation() != nil {
			t.Errorf("location = %v, want none", r.Event.GetLocation())
		}
		if p := r.Event.GetParticipants(); p[0].GetRole() != eventsv1.ParticipantRole_PARTICIPANT_ROLE_HOST {
			t.Errorf("roles = %v", p)
		}
	})

	t.Run("the code glued onto 1056 in the table", func(t *testing.T) {
		if e := byLine[9].Event; e.GetCameoCode() != "106" || !strings.HasPrefix(e.GetTitle(), "Demand withdrawal:") {
			t.Errorf("event = %v", e)
		}
	})
}

func TestFilters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		filter gdelt.Filter
		keep   []int
	}{
		{"actor country", gdelt.Filter{ActorCountries: []string{"rus"}}, []int{2, 9}},
		{"cameo root", gdelt.Filter{CameoRoots: []string{"19", "8"}}, []int{2, 3}},
		{"both", gdelt.Filter{ActorCountries: []string{"GBR"}, CameoRoots: []string{"10"}}, []int{9}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, err := gdelt.NormalizeFilter(tc.filter)
			if err != nil {
				t.Fatal(err)
			}
			var kept []int
			for _, r := range parse(t, fixture, f) {
				if r.Reason == "" && !r.Filtered {
					kept = append(kept, r.Line)
				}
			}
			if fmt.Sprint(kept) != fmt.Sprint(tc.keep) {
				t.Errorf("kept lines %v, want %v", kept, tc.keep)
			}
		})
	}
	for _, bad := range []gdelt.Filter{{ActorCountries: []string{"UK"}}, {CameoRoots: []string{"21"}}, {CameoRoots: []string{"x"}}} {
		if _, err := gdelt.NormalizeFilter(bad); err == nil {
			t.Errorf("NormalizeFilter(%v) accepted", bad)
		}
	}
}

// A zip as GDELT publishes it reads like the plain file; a truncated download is an
// error that names the file.
func TestZip(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "20240110120000.export.CSV.zip")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(out)
	w, err := zw.Create("20240110120000.export.CSV")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	inputs, err := importers.Inputs(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) != 1 || inputs[0].Name != path+":20240110120000.export.CSV" || inputs[0].Size != int64(len(data)) {
		t.Fatalf("inputs = %+v", inputs)
	}
	s, err := gdelt.Import(context.Background(), nil, nil, inputs, gdelt.Options{Options: importers.Options{DryRun: true}})
	if err != nil {
		t.Fatal(err)
	}
	if s.Read != 10 || s.Rejected != 5 || s.Created != 0 || !s.DryRun {
		t.Errorf("summary = %v", s)
	}
	var lines []int
	for _, p := range s.Problems {
		lines = append(lines, p.Line)
		if p.File != inputs[0].Name {
			t.Errorf("problem names file %q", p.File)
		}
	}
	if fmt.Sprint(lines) != "[4 5 6 8 10]" {
		t.Errorf("problem lines %v", lines)
	}

	zipped, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.zip")
	if err := os.WriteFile(cut, zipped[:len(zipped)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := importers.Inputs(cut); err == nil || !strings.Contains(err.Error(), "cut.zip") {
		t.Errorf("truncated zip: err = %v", err)
	}
}

func FuzzGDELTRow(f *testing.F) {
	data, err := os.ReadFile(fixture)
	if err != nil {
		f.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f.Add(line)
	}
	f.Add(strings.Repeat("\t", 60))
	tab := table(f)
	f.Fuzz(func(t *testing.T, line string) {
		rec, err := gdelt.ParseRow(line)
		if err != nil {
			return
		}
		row := gdelt.Map(rec, tab, gdelt.Filter{}, 1)
		if row.Reason != "" {
			return
		}
		if !importers.ValidID(row.ID) || row.ID != "gdelt-"+rec.GlobalEventID {
			t.Fatalf("id %q from GLOBALEVENTID %q", row.ID, rec.GlobalEventID)
		}
		if row.Event.GetCameoCode() != rec.EventCode {
			t.Fatalf("cameo code %q, row has %q", row.Event.GetCameoCode(), rec.EventCode)
		}
		if _, ok := tab.Lookup(row.Event.GetCameoCode()); !ok {
			t.Fatalf("unknown code %q accepted", row.Event.GetCameoCode())
		}
		for _, a := range row.Actors {
			if !importers.ValidID(strings.TrimPrefix(a.GetName(), "actors/")) {
				t.Fatalf("actor name %q", a.GetName())
			}
		}
		// A row that does not validate is reported by the import; it must not panic.
		_ = importers.Check(row)
	})
}
