package pax_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
	"github.com/guarantor/guarantor/platform/testkit/grpctest"
	"github.com/guarantor/guarantor/platform/testkit/natstest"
	"github.com/guarantor/guarantor/services/events/eventstest"
	"github.com/guarantor/guarantor/services/guarantees/guaranteestest"

	"github.com/guarantor/guarantor/cmd/guarantor/internal/importers"
	"github.com/guarantor/guarantor/cmd/guarantor/internal/importers/pax"
)

const fixture = "testdata/pax.csv"

func actors() []*eventsv1.Actor {
	return []*eventsv1.Actor{
		{Name: "actors/ukr", Kind: eventsv1.ActorKind_ACTOR_KIND_STATE, DisplayName: "Ukraine", CountryCode: "UKR"},
		{Name: "actors/rus", Kind: eventsv1.ActorKind_ACTOR_KIND_STATE, DisplayName: "Russia", CountryCode: "RUS", Aliases: []string{"Russian Federation"}},
		{Name: "actors/osce", Kind: eventsv1.ActorKind_ACTOR_KIND_ORGANIZATION, DisplayName: "OSCE", Aliases: []string{"Organization for Security and Co-operation in Europe"}},
		{Name: "actors/fra", Kind: eventsv1.ActorKind_ACTOR_KIND_STATE, DisplayName: "France", CountryCode: "FRA"},
		{Name: "actors/deu", Kind: eventsv1.ActorKind_ACTOR_KIND_STATE, DisplayName: "Germany", CountryCode: "DEU"},
	}
}

func parse(t *testing.T, dir *pax.Directory) []importers.Row {
	t.Helper()
	f, err := os.Open(fixture)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []importers.Row
	if err := pax.Parser(dir)(f, func(r importers.Row) error {
		rows = append(rows, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestFixtureRows(t *testing.T) {
	t.Parallel()
	rows := parse(t, pax.NewDirectory(actors()))
	want := []struct {
		line   int
		id     string
		reason string
	}{
		{2, "pax-1374", ""}, // parties on three physical lines
		{5, "pax-1505", ""},
		{7, "", `AgtId "x12"`},
		{8, "", `Ce "7" is not a provision code`},
		{9, "pax-1601", ""},
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

	minsk := rows[0].Framework
	if minsk.GetKind() != guaranteesv1.FrameworkKind_FRAMEWORK_KIND_PEACE_AGREEMENT || minsk.GetStage() != guaranteesv1.FrameworkStage_FRAMEWORK_STAGE_CEASEFIRE ||
		minsk.GetSubStage() != "Ceasefire" || minsk.GetStatus() != guaranteesv1.FrameworkStatus_FRAMEWORK_STATUS_SIGNED || minsk.GetSourceStatus() != "Multiparty signed/agreed" {
		t.Errorf("kind/stage/status = %v", minsk)
	}
	if !strings.HasPrefix(minsk.GetTitle(), "Protocol on the results of consultations") || minsk.GetAdopted().GetTime().AsTime() != time.Date(2014, 9, 5, 0, 0, 0, 0, time.UTC) {
		t.Errorf("title/date = %q %v", minsk.GetTitle(), minsk.GetAdopted())
	}
	if fmt.Sprint(minsk.GetParties()) != "[actors/ukr actors/rus]" || fmt.Sprint(minsk.GetThirdParties()) != "[actors/osce]" {
		t.Errorf("parties = %v, third = %v", minsk.GetParties(), minsk.GetThirdParties())
	}
	if minsk.GetPartiesText() != "Parties: Ukraine;\nRussia;\nO. Zakharchenko; I. Plotnitskiy\nThird parties: OSCE" {
		t.Errorf("parties text = %q", minsk.GetPartiesText())
	}
	// Each provision column lands in its own field: the fixture gives ImPK and ImUN
	// distinct non-zero values (2 and 3) in the second agreement, so a swapped or missed
	// column shows.
	provisions := func(p *guaranteesv1.PaxProvisions) [7]int32 {
		return [7]int32{p.GetSsrGua(), p.GetCe(), p.GetCeProv(), p.GetImPk(), p.GetImE(), p.GetImUn(), p.GetImOth()}
	}
	//                          SsrGua Ce CeProv ImPK ImE ImUN ImOth
	if got, want := provisions(minsk.GetPaxProvisions()), [7]int32{0, 1, 1, 0, 0, 0, 1}; got != want {
		t.Errorf("Minsk provisions (SsrGua Ce CeProv ImPK ImE ImUN ImOth) = %v, want %v", got, want)
	}
	if minsk.GetLicense() != typev1.License_LICENSE_PAX || minsk.GetExternalIds()[0].GetId() != "1374" || minsk.GetSources()[0].GetUrl() != "https://www.peaceagreements.org/view/1374" {
		t.Errorf("license/ids/sources = %v", minsk)
	}

	package2 := rows[1].Framework
	if fmt.Sprint(package2.GetParties()) != "[actors/ukr actors/rus]" || fmt.Sprint(package2.GetThirdParties()) != "[actors/osce actors/fra actors/deu]" {
		t.Errorf("parties = %v, third = %v", package2.GetParties(), package2.GetThirdParties())
	}
	if got, want := provisions(package2.GetPaxProvisions()), [7]int32{1, 2, 1, 2, 1, 3, 1}; got != want {
		t.Errorf("package provisions (SsrGua Ce CeProv ImPK ImE ImUN ImOth) = %v, want %v", got, want)
	}
	if package2.GetStage() != guaranteesv1.FrameworkStage_FRAMEWORK_STAGE_IMPLEMENTATION {
		t.Errorf("stage = %v", package2.GetStage())
	}
	if !strings.Contains(package2.GetSummary(), "Other agreements referred to: Minsk Protocol") {
		t.Errorf("summary = %q", package2.GetSummary())
	}

	statement := rows[4].Framework
	if statement.GetAdopted().GetTime().AsTime() != time.Date(2015, 3, 13, 0, 0, 0, 0, time.UTC) || statement.GetStatus() != guaranteesv1.FrameworkStatus_FRAMEWORK_STATUS_ADOPTED ||
		statement.GetStage() != guaranteesv1.FrameworkStage_FRAMEWORK_STAGE_PRE_NEGOTIATION {
		t.Errorf("statement = %v", statement)
	}
}

func TestDirectoryMatch(t *testing.T) {
	t.Parallel()
	dir := pax.NewDirectory([]*eventsv1.Actor{
		{Name: "actors/ner", DisplayName: "Niger"},
		{Name: "actors/nga", DisplayName: "Nigeria"},
		{Name: "actors/un", DisplayName: "United Nations", Aliases: []string{"UN"}},
		{Name: "actors/a", DisplayName: "Twin"},
		{Name: "actors/b", DisplayName: "twin"},
		{Name: "actors/cod", DisplayName: "Democratic Republic of the Congo"},
		{Name: "actors/cog", DisplayName: "Congo"},
	})
	tests := []struct{ text, want string }{
		{"Nigeria", "[actors/nga]"},
		{"Government of Niger; Federal Republic of Nigeria", "[actors/ner actors/nga]"},
		{"UN", "[actors/un]"},                                // a short name matches a whole entry
		{"UNITA; Union of the South", "[]"},                  // but never inside words
		{"Twin", "[]"},                                       // two actors share the name: no guess
		{"Democratic Republic of the Congo", "[actors/cod]"}, // longest name wins
		{"Government of the Democratic Republic of the Congo and Congo", "[actors/cod actors/cog]"},
		{"", "[]"},
	}
	for _, tc := range tests {
		if got := fmt.Sprint(dir.Match(tc.text)); got != tc.want {
			t.Errorf("Match(%q) = %s, want %s", tc.text, got, tc.want)
		}
	}
	var none *pax.Directory
	if none.Match("Ukraine") != nil {
		t.Error("a nil directory matches nothing")
	}
}

// cutAgreements ends with PPName, a text column: a download cut off inside it leaves a
// row that parses, with a shorter name.
var cutAgreements = strings.Join(pax.Required, ",") + ",PPName\n" +
	"1374,Minsk Protocol,2014-09-05,Multiparty signed/agreed,Cea,Ceasefire,\"Ukraine;\nRussia\",OSCE,0,1,1,0,0,0,1,Ukraine peace process\n" +
	"1505,Package of Measures,2015-02-12,Multiparty signed/agreed,Imp,Implementation,Ukraine,OSCE,1,2,1,2,1,3,1,Ukraine peace process"

func TestFinalNewline(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, data string
		want       string // each row: line, and its summary or "cut"
	}{
		{"cut off in the last cell", cutAgreements[:len(cutAgreements)-len("ocess")], "[2:Peace process: Ukraine peace process 4:cut]"},
		{"no final newline after the last cell", cutAgreements, "[2:Peace process: Ukraine peace process 4:cut]"},
		{"final LF", cutAgreements + "\n", "[2:Peace process: Ukraine peace process 4:Peace process: Ukraine peace process]"},
		{"final CRLF", cutAgreements + "\r\n", "[2:Peace process: Ukraine peace process 4:Peace process: Ukraine peace process]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			err := pax.Parser(nil)(strings.NewReader(tc.data), func(r importers.Row) error {
				switch {
				case strings.Contains(r.Reason, "the file ends inside this record (no final newline): a cut-off download?"):
					got = append(got, fmt.Sprintf("%d:cut", r.Line))
				case r.Reason != "":
					got = append(got, fmt.Sprintf("%d:%s", r.Line, r.Reason))
				default:
					got = append(got, fmt.Sprintf("%d:%s", r.Line, r.Framework.GetSummary()))
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != tc.want {
				t.Errorf("got %v\nwant %s", got, tc.want)
			}
		})
	}
}

// Imported (a dry run, which calls no server and links no parties), the cut file has
// its first agreement go in and the cut one reported with its file and line; with
// --strict the import stops there.
func TestCutOffImport(t *testing.T) {
	t.Parallel()
	inputs := []importers.Input{importers.StringInput("pax.csv", cutAgreements[:len(cutAgreements)-1])}
	s, err := pax.Import(context.Background(), nil, nil, inputs, importers.Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if s.Read != 2 || s.Rejected != 1 || len(s.Problems) != 1 ||
		!strings.HasPrefix(s.Problems[0].String(), "pax.csv:4: the file ends inside this record (no final newline)") {
		t.Fatalf("summary %v, problems %v", s, s.Problems)
	}
	s, err = pax.Import(context.Background(), nil, nil, inputs, importers.Options{DryRun: true, Strict: true})
	if !errors.Is(err, importers.ErrStrict) || s.Read != 2 || s.Rejected != 1 {
		t.Errorf("--strict: %v, err %v", s, err)
	}
}

func FuzzPAXRecord(f *testing.F) {
	header := strings.Join(pax.Required, ",") + ",Con,PPName\n"
	f.Add("1374,Minsk Protocol,2014-09-05,Multiparty signed/agreed,Cea,Ceasefire,\"Ukraine;\nRussia\",OSCE,0,1,1,0,0,0,1,Ukraine,Ukraine peace process\n")
	f.Add("1,A,13/03/2015,Unilateral document,Pre,Proc,Ukraine,,0,0,0,0,0,0,0,,\n")
	f.Add("x,,not a date,,,,,,9,9,9,9,9,9,9\n")
	f.Add("\"")
	dir := pax.NewDirectory(actors())
	f.Fuzz(func(t *testing.T, record string) {
		err := pax.Parser(dir)(strings.NewReader(header+record), func(r importers.Row) error {
			if r.Line < 2 {
				t.Fatalf("line %d for a record after the header", r.Line)
			}
			if r.Reason != "" {
				return nil
			}
			if !importers.ValidID(r.ID) || !strings.HasPrefix(r.ID, "pax-") || r.Framework.GetLicense() != typev1.License_LICENSE_PAX {
				t.Fatalf("id %q license %v", r.ID, r.Framework.GetLicense())
			}
			if err := importers.Check(r); err != nil && strings.Contains(err.Error(), "pax_provisions") {
				t.Fatalf("provisions out of range passed the parser: %v", err)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("a record must never end the read: %v", err)
		}
	})
}

// End to end: the events service holds the actors, the guarantees service (on the same
// NATS, checking parties against its projection of the events stream) the frameworks.
func TestImportThroughTheServices(t *testing.T) {
	nats := natstest.Start(t)
	ev := eventstest.Start(t, eventstest.SQLite, eventstest.Options{NATS: nats})
	gu := guaranteestest.Start(t, guaranteestest.SQLite, guaranteestest.Options{NATS: nats, Key: ev.Key})
	ctx := ev.As(context.Background(), eventstest.Admin)
	for _, a := range actors() {
		if _, err := ev.Client().CreateActor(ctx, &eventsv1.CreateActorRequest{ActorId: strings.TrimPrefix(a.GetName(), "actors/"), Actor: a}); err != nil {
			t.Fatal(err)
		}
	}
	conn := grpctest.Router{Routes: map[string]grpc.ClientConnInterface{"/guarantor.events.": ev.Conn}, Default: gu.Conn}
	call := func(ctx context.Context) (context.Context, context.CancelFunc) {
		c, cancel := context.WithTimeout(ctx, 60*time.Second)
		return ev.As(c, eventstest.Admin), cancel // one key signs for both services
	}
	run := func(opt importers.Options) importers.Summary {
		t.Helper()
		inputs, err := importers.Inputs(fixture)
		if err != nil {
			t.Fatal(err)
		}
		s, err := pax.Import(context.Background(), conn, call, inputs, opt)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	s := run(importers.Options{DryRun: true})
	if s.Read != 5 || s.Rejected != 2 || s.Created != 0 {
		t.Errorf("dry run: %v", s)
	}
	if _, err := gu.Client().GetFramework(gu.As(context.Background(), guaranteestest.Admin), &guaranteesv1.GetFrameworkRequest{Name: "frameworks/pax-1374"}); err == nil {
		t.Error("--dry-run wrote a framework")
	}

	s = run(importers.Options{})
	if s.Read != 5 || s.Created != 3 || s.Rejected != 2 {
		t.Fatalf("first import: %v %v", s, s.Problems)
	}
	var lines []int
	for _, p := range s.Problems {
		lines = append(lines, p.Line)
	}
	if fmt.Sprint(lines) != "[7 8]" {
		t.Errorf("problem lines %v", lines)
	}
	got, err := gu.Client().GetFramework(gu.As(context.Background(), guaranteestest.Admin), &guaranteesv1.GetFrameworkRequest{Name: "frameworks/pax-1505"})
	if err != nil {
		t.Fatal(err)
	}
	f := got.GetFramework()
	if fmt.Sprint(f.GetThirdParties()) != "[actors/osce actors/fra actors/deu]" || f.GetPaxProvisions().GetSsrGua() != 1 ||
		f.GetPaxProvisions().GetImPk() != 2 || f.GetPaxProvisions().GetImUn() != 3 || f.GetLicense() != typev1.License_LICENSE_PAX {
		t.Errorf("stored framework: %v", f)
	}

	s = run(importers.Options{})
	if s.Created != 0 || s.Updated != 0 || s.Unchanged != 3 {
		t.Errorf("re-import: %v", s)
	}
}
