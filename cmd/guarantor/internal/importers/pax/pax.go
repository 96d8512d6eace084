// Package pax imports PA-X peace agreement CSVs (one row per agreement, a header row,
// cells that hold line breaks) as frameworks (frameworks/pax-<AgtId>, kind
// PEACE_AGREEMENT): name, date, status, stage and sub-stage, parties and third parties,
// and the provisions that matter to guarantees (SsrGua, Ce, CeProv, ImPK, ImE, ImUN,
// ImOth). Parties are linked to existing actors where a name matches an actor's display
// name or alias; the text as PA-X gives it is always kept in parties_text. Everything is
// tagged LICENSE_PAX (CC BY-NC-SA 4.0).
package pax

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"

	"github.com/guarantor/guarantor/cmd/guarantor/internal/importers"
	"github.com/guarantor/guarantor/cmd/guarantor/internal/importers/csvrows"
)

// Required are the columns a file must have.
var Required = []string{"AgtId", "Agt", "Dat", "Status", "Stage", "StageSub", "Part", "ThrdPart",
	"SsrGua", "Ce", "CeProv", "ImPK", "ImE", "ImUN", "ImOth"}

// dateLayouts: PA-X writes ISO dates; spreadsheet round-trips give day/month/year.
var dateLayouts = []string{"2006-01-02", "02/01/2006", "2/1/2006"}

// Parser reads a PA-X CSV; dir links parties to actors (nil: no linking, as in a dry
// run, which calls no server).
func Parser(dir *Directory) importers.Parser {
	return func(r io.Reader, emit func(importers.Row) error) error {
		return csvrows.Read(r, Required, func(rec csvrows.Record) error {
			if rec.Err != nil {
				return emit(importers.Bad(rec.Line, "%v", rec.Err))
			}
			return emit(Map(rec, dir))
		})
	}
}

// Map turns one agreement into a framework.
func Map(rec csvrows.Record, dir *Directory) importers.Row {
	line := rec.Line
	get := func(name string) string { return strings.TrimSpace(rec.Get(strings.ToLower(name))) }
	bad := func(format string, args ...any) importers.Row { return importers.Bad(line, format, args...) }

	agtID := get("AgtId")
	if agtID == "" || len(agtID) > 18 || strings.Trim(agtID, "0123456789") != "" {
		return bad("AgtId %q is not an agreement number", agtID)
	}
	name := importers.CleanText(get("Agt"))
	if name == "" {
		return bad("Agt (the agreement's name) is empty")
	}
	var adopted *typev1.When
	if d := get("Dat"); d != "" {
		t, ok := parseDate(d)
		if !ok {
			return bad("Dat %q is not a date (YYYY-MM-DD)", d)
		}
		adopted = &typev1.When{Time: timestamppb.New(t), Precision: typev1.DatePrecision_DATE_PRECISION_DAY}
	}
	prov := &guaranteesv1.PaxProvisions{}
	for _, c := range []struct {
		col string
		dst *int32
	}{{"SsrGua", &prov.SsrGua}, {"Ce", &prov.Ce}, {"CeProv", &prov.CeProv}, {"ImPK", &prov.ImPk}, {"ImE", &prov.ImE}, {"ImUN", &prov.ImUn}, {"ImOth", &prov.ImOth}} {
		v := get(c.col)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 3 {
			return bad("%s %q is not a provision code (0 to 3)", c.col, v)
		}
		*c.dst = int32(n)
	}

	title, cut := importers.Truncate(name, 300)
	var summary []string
	if cut {
		summary = append(summary, "Full name: "+name)
	}
	for _, c := range []struct{ col, label string }{{"Con", "Country/entity"}, {"PPName", "Peace process"}, {"Reg", "Region"}, {"Agtp", "Agreement type"}, {"OthAgr", "Other agreements referred to"}} {
		if v := importers.CleanBlock(get(c.col)); v != "" {
			summary = append(summary, c.label+": "+v)
		}
	}
	sum, _ := importers.Truncate(strings.Join(summary, "\n"), 10000)

	partText, thirdText := importers.CleanBlock(get("Part")), importers.CleanBlock(get("ThrdPart"))
	var texts []string
	if partText != "" {
		texts = append(texts, "Parties: "+partText)
	}
	if thirdText != "" {
		texts = append(texts, "Third parties: "+thirdText)
	}
	partiesText, _ := importers.Truncate(strings.Join(texts, "\n"), 2000)

	stage, stageSub := get("Stage"), get("StageSub")
	subStage := stageSub
	if subStage == "" {
		subStage = stage
	}
	subStage, _ = importers.Truncate(importers.CleanText(subStage), 200)
	sourceStatus, _ := importers.Truncate(importers.CleanText(get("Status")), 200)
	f := &guaranteesv1.Framework{
		Title:         title,
		Summary:       sum,
		Kind:          guaranteesv1.FrameworkKind_FRAMEWORK_KIND_PEACE_AGREEMENT,
		Stage:         stageOf(stage),
		SubStage:      subStage,
		Status:        statusOf(get("Status")),
		SourceStatus:  sourceStatus,
		Parties:       dir.Match(partText),
		ThirdParties:  dir.Match(thirdText),
		PartiesText:   partiesText,
		Adopted:       adopted,
		PaxProvisions: prov,
		ExternalIds:   []*typev1.ExternalId{{System: typev1.ExternalSystem_EXTERNAL_SYSTEM_PAX, Id: agtID}},
		Sources: []*typev1.Source{{
			Publisher: "PA-X Peace Agreements Database",
			Title:     title,
			Url:       "https://www.peaceagreements.org/view/" + agtID,
		}},
		License: typev1.License_LICENSE_PAX,
		Tags:    []string{"pax"},
	}
	return importers.Row{Line: line, ID: "pax-" + agtID, Framework: f}
}

func parseDate(s string) (time.Time, bool) {
	for _, layout := range dateLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// stageOf reads PA-X's Stage, as its short codes (Pre, SubPar, SubComp, Imp, Cea, Ren,
// Oth) or its labels.
func stageOf(s string) guaranteesv1.FrameworkStage {
	l := strings.ToLower(strings.TrimSpace(s))
	switch {
	case l == "":
		return guaranteesv1.FrameworkStage_FRAMEWORK_STAGE_UNSPECIFIED
	case strings.HasPrefix(l, "pre"):
		return guaranteesv1.FrameworkStage_FRAMEWORK_STAGE_PRE_NEGOTIATION
	case strings.HasPrefix(l, "sub") || strings.HasPrefix(l, "framework"):
		return guaranteesv1.FrameworkStage_FRAMEWORK_STAGE_FRAMEWORK
	case strings.HasPrefix(l, "imp"):
		return guaranteesv1.FrameworkStage_FRAMEWORK_STAGE_IMPLEMENTATION
	case strings.HasPrefix(l, "cea"):
		return guaranteesv1.FrameworkStage_FRAMEWORK_STAGE_CEASEFIRE
	case strings.HasPrefix(l, "ren"):
		return guaranteesv1.FrameworkStage_FRAMEWORK_STAGE_RENEWAL
	}
	return guaranteesv1.FrameworkStage_FRAMEWORK_STAGE_OTHER
}

// statusOf reads PA-X's Status ("Multiparty signed/agreed", "Unilateral document",
// "Status unclear", ...); what it cannot place stays unspecified, with the source's own
// term kept in source_status.
func statusOf(s string) guaranteesv1.FrameworkStatus {
	l := strings.ToLower(s)
	switch {
	case strings.Contains(l, "signed"):
		return guaranteesv1.FrameworkStatus_FRAMEWORK_STATUS_SIGNED
	case strings.Contains(l, "unilateral"):
		return guaranteesv1.FrameworkStatus_FRAMEWORK_STATUS_ADOPTED
	}
	return guaranteesv1.FrameworkStatus_FRAMEWORK_STATUS_UNSPECIFIED
}

// Directory links names to actors: display names and aliases, compared without case.
type Directory struct {
	byName map[string]string
	// names are the unambiguous names, longest first, for matching inside a longer text.
	names []string
}

// NewDirectory indexes actors. A name two actors share is left out: it cannot say which.
func NewDirectory(actors []*eventsv1.Actor) *Directory {
	d := &Directory{byName: map[string]string{}}
	ambiguous := map[string]bool{}
	for _, a := range actors {
		for _, n := range append([]string{a.GetDisplayName()}, a.GetAliases()...) {
			key := strings.ToLower(importers.CleanText(n))
			if key == "" {
				continue
			}
			if prev, ok := d.byName[key]; ok && prev != a.GetName() {
				ambiguous[key] = true
			}
			d.byName[key] = a.GetName()
		}
	}
	for key := range ambiguous {
		delete(d.byName, key)
	}
	for key := range d.byName {
		// Short names ("UN", "EU") would match inside unrelated words and initials; they
		// still match a whole party entry exactly.
		if len([]rune(key)) >= 4 {
			d.names = append(d.names, key)
		}
	}
	sort.Slice(d.names, func(i, j int) bool {
		if len(d.names[i]) != len(d.names[j]) {
			return len(d.names[i]) > len(d.names[j])
		}
		return d.names[i] < d.names[j]
	})
	return d
}

// Match returns the actors a PA-X party text names. The text lists parties separated by
// semicolons or line breaks; an entry that is exactly an actor's name matches it, and
// otherwise the longest actor names found in it as whole words do ("Government of
// Ukraine" finds "Ukraine").
func (d *Directory) Match(text string) []string {
	if d == nil || text == "" {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	add := func(name string) {
		if !seen[name] && len(out) < 200 {
			seen[name] = true
			out = append(out, name)
		}
	}
	for _, entry := range strings.FieldsFunc(text, func(r rune) bool { return r == ';' || r == '\n' }) {
		key := strings.ToLower(strings.Trim(importers.CleanText(entry), " .,"))
		if key == "" {
			continue
		}
		if name, ok := d.byName[key]; ok {
			add(name)
			continue
		}
		used := make([]bool, len(key))
		for _, n := range d.names {
			for from := 0; from < len(key); {
				i := strings.Index(key[from:], n)
				if i < 0 {
					break
				}
				i += from
				end := i + len(n)
				from = i + 1
				if !wordBoundary(key, i, end) || anyUsed(used, i, end) {
					continue
				}
				for k := i; k < end; k++ {
					used[k] = true
				}
				add(d.byName[n])
			}
		}
	}
	return out
}

func wordBoundary(s string, start, end int) bool {
	isWord := func(b byte) bool {
		return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b >= 0x80
	}
	return (start == 0 || !isWord(s[start-1])) && (end == len(s) || !isWord(s[end]))
}

func anyUsed(used []bool, start, end int) bool {
	for k := start; k < end; k++ {
		if used[k] {
			return true
		}
	}
	return false
}

// LoadDirectory lists every actor the caller may read.
func LoadDirectory(ctx context.Context, conn grpc.ClientConnInterface, call importers.CallContext) (*Directory, error) {
	client := eventsv1.NewEventsServiceClient(conn)
	var actors []*eventsv1.Actor
	token := ""
	for {
		c, cancel := call(ctx)
		resp, err := client.ListActors(c, &eventsv1.ListActorsRequest{PageSize: 1000, PageToken: token})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("list actors to match parties: %w", err)
		}
		actors = append(actors, resp.GetActors()...)
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	return NewDirectory(actors), nil
}

// Import imports PA-X agreement CSVs through conn (a gateway: actors are read from the
// events service, frameworks written to the guarantees service). A dry run calls no
// server and so links no parties.
func Import(ctx context.Context, conn grpc.ClientConnInterface, call importers.CallContext, inputs []importers.Input, opt importers.Options) (importers.Summary, error) {
	var dir *Directory
	if !opt.DryRun {
		var err error
		if dir, err = LoadDirectory(ctx, conn, call); err != nil {
			return importers.Summary{}, err
		}
	}
	return importers.Import(ctx, conn, call, inputs, Parser(dir), opt)
}
