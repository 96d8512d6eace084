// Package gdelt imports GDELT 2.0 event exports: tab-separated, no header, 61 columns
// per line (GLOBALEVENTID ... SOURCEURL, in the order of DOMAIN.md), as published every
// 15 minutes in a zip holding one such file.
//
// Each row becomes an event (events/gdelt-<GLOBALEVENTID>) and up to two actors:
//   - an actor whose code is a country (Actor1Code "GBR") is that state, actors/gbr;
//   - any other actor code (GBRGOV, IGOUNO, REB) is actors/cameo-<code>.
//
// The CAMEO event code (with its base and root) is kept as a string and checked
// against GDELT's code table: an unknown code makes the row bad. The action geography
// is the event's location (GDELT's FIPS 10-4 country codes turned into ISO alpha-3),
// SOURCEURL its source, the counts and tone its classification. Everything is tagged
// LICENSE_GDELT (open data; cite The GDELT Project).
package gdelt

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"

	"github.com/guarantor/guarantor/cmd/guarantor/internal/importers"
	"github.com/guarantor/guarantor/cmd/guarantor/internal/importers/cameo"
)

// Columns is the number of columns of a GDELT 2.0 event export.
const Columns = 61

// Column positions (0-based) in a GDELT 2.0 event export.
const (
	colGlobalEventID = 0
	colSQLDate       = 1
	colActor1Code    = 5  // then Name, CountryCode, KnownGroup, Ethnic, Religion1, Religion2, Type1, Type2, Type3
	colActor2Code    = 15 // the same ten for Actor2
	colIsRootEvent   = 25
	colEventCode     = 26
	colEventBaseCode = 27
	colEventRootCode = 28
	colQuadClass     = 29
	colGoldstein     = 30
	colNumMentions   = 31
	colNumSources    = 32
	colNumArticles   = 33
	colAvgTone       = 34
	colActionGeo     = 51 // Type, FullName, CountryCode, ADM1Code, ADM2Code, Lat, Long, FeatureID
	colDateAdded     = 59
	colSourceURL     = 60
)

// MaxLine bounds one line; GDELT lines are well under 2 KiB.
const MaxLine = 1 << 20

// Actor is one side of a GDELT event as the export codes it.
type Actor struct {
	Code, Name, CountryCode, KnownGroupCode string
	TypeCodes                               []string
}

// Geo is a GDELT geography block.
type Geo struct {
	Type                              int
	FullName, CountryCode, ADM1, ADM2 string
	Lat, Long                         *float64
	FeatureID                         string
}

// Record is one parsed export row.
type Record struct {
	GlobalEventID                 string
	Date                          time.Time
	Actor1, Actor2                Actor
	IsRootEvent                   bool
	EventCode, BaseCode, RootCode string
	QuadClass                     int32
	Goldstein                     float64
	NumMentions, NumSources       int32
	NumArticles                   int32
	AvgTone                       float64
	Action                        Geo
	DateAdded                     time.Time
	SourceURL                     string
}

// ParseRow parses one line (without its newline) of an export.
func ParseRow(line string) (Record, error) {
	f := strings.Split(line, "\t")
	if len(f) != Columns {
		return Record{}, fmt.Errorf("has %d tab-separated columns, want %d (a GDELT 2.0 event export row)", len(f), Columns)
	}
	for i := range f {
		f[i] = strings.TrimSpace(f[i])
	}
	var r Record
	var err error
	if r.GlobalEventID = f[colGlobalEventID]; !digits(r.GlobalEventID) || len(r.GlobalEventID) > 20 {
		return Record{}, fmt.Errorf("GLOBALEVENTID %q is not a number", r.GlobalEventID)
	}
	if r.Date, err = time.Parse("20060102", f[colSQLDate]); err != nil || len(f[colSQLDate]) != 8 {
		return Record{}, fmt.Errorf("SQLDATE %q is not a YYYYMMDD date", f[colSQLDate])
	}
	r.Actor1 = actorAt(f, colActor1Code)
	r.Actor2 = actorAt(f, colActor2Code)
	switch f[colIsRootEvent] {
	case "1":
		r.IsRootEvent = true
	case "0", "":
	default:
		return Record{}, fmt.Errorf("IsRootEvent %q is not 0 or 1", f[colIsRootEvent])
	}
	r.EventCode, r.BaseCode, r.RootCode = f[colEventCode], f[colEventBaseCode], f[colEventRootCode]
	for _, c := range []struct{ name, v string }{{"EventCode", r.EventCode}, {"EventBaseCode", r.BaseCode}, {"EventRootCode", r.RootCode}} {
		if !digits(c.v) || len(c.v) < 2 || len(c.v) > 4 {
			return Record{}, fmt.Errorf("%s %q is not a CAMEO event code (2 to 4 digits)", c.name, c.v)
		}
	}
	if !strings.HasPrefix(r.EventCode, r.BaseCode) || !strings.HasPrefix(r.BaseCode, r.RootCode) || len(r.RootCode) != 2 {
		return Record{}, fmt.Errorf("CAMEO codes do not nest: EventCode %q, EventBaseCode %q, EventRootCode %q", r.EventCode, r.BaseCode, r.RootCode)
	}
	q, err := intField(f, colQuadClass, "QuadClass")
	if err != nil {
		return Record{}, err
	}
	r.QuadClass = q
	if r.Goldstein, err = floatField(f, colGoldstein, "GoldsteinScale"); err != nil {
		return Record{}, err
	}
	if r.NumMentions, err = intField(f, colNumMentions, "NumMentions"); err != nil {
		return Record{}, err
	}
	if r.NumSources, err = intField(f, colNumSources, "NumSources"); err != nil {
		return Record{}, err
	}
	if r.NumArticles, err = intField(f, colNumArticles, "NumArticles"); err != nil {
		return Record{}, err
	}
	if r.AvgTone, err = floatField(f, colAvgTone, "AvgTone"); err != nil {
		return Record{}, err
	}
	if r.Action, err = geoAt(f, colActionGeo, "ActionGeo"); err != nil {
		return Record{}, err
	}
	if v := f[colDateAdded]; v != "" {
		if r.DateAdded, err = time.Parse("20060102150405", v); err != nil || len(v) != 14 {
			return Record{}, fmt.Errorf("DATEADDED %q is not a YYYYMMDDHHMMSS time", v)
		}
	}
	r.SourceURL = f[colSourceURL]
	return r, nil
}

func actorAt(f []string, at int) Actor {
	a := Actor{Code: strings.ToUpper(f[at]), Name: f[at+1], CountryCode: strings.ToUpper(f[at+2]), KnownGroupCode: strings.ToUpper(f[at+3])}
	for _, t := range f[at+7 : at+10] {
		if t != "" {
			a.TypeCodes = append(a.TypeCodes, strings.ToUpper(t))
		}
	}
	return a
}

func geoAt(f []string, at int, name string) (Geo, error) {
	g := Geo{FullName: f[at+1], CountryCode: f[at+2], ADM1: f[at+3], ADM2: f[at+4], FeatureID: f[at+7]}
	if v := f[at]; v != "" {
		t, err := strconv.Atoi(v)
		if err != nil || t < 0 || t > 5 {
			return Geo{}, fmt.Errorf("%s_Type %q is not 0 to 5", name, v)
		}
		g.Type = t
	}
	for i, p := range []**float64{&g.Lat, &g.Long} {
		v := f[at+5+i]
		if v == "" {
			continue
		}
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return Geo{}, fmt.Errorf("%s_%s %q is not a number", name, []string{"Lat", "Long"}[i], v)
		}
		*p = &x
	}
	return g, nil
}

func digits(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }

func intField(f []string, at int, name string) (int32, error) {
	v := f[at]
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s %q is not a count", name, v)
	}
	return int32(n), nil
}

func floatField(f []string, at int, name string) (float64, error) {
	v := f[at]
	if v == "" {
		return 0, nil
	}
	x, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, fmt.Errorf("%s %q is not a number", name, v)
	}
	return x, nil
}

// Filter keeps some rows only. Empty lists keep everything.
type Filter struct {
	// ActorCountries keeps rows where Actor1CountryCode or Actor2CountryCode is one of
	// these (CAMEO country codes, e.g. "UKR").
	ActorCountries []string
	// CameoRoots keeps rows whose EventRootCode is one of these ("19").
	CameoRoots []string
}

// NormalizeFilter upper-cases country codes and pads roots to two digits ("3" -> "03"),
// or says which value is not a country code or a CAMEO root.
func NormalizeFilter(f Filter) (Filter, error) {
	var out Filter
	for _, c := range f.ActorCountries {
		c = strings.ToUpper(strings.TrimSpace(c))
		if len(c) != 3 || strings.Trim(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
			return Filter{}, fmt.Errorf("--actor-country %q is not a 3-letter CAMEO country code such as UKR", c)
		}
		out.ActorCountries = append(out.ActorCountries, c)
	}
	for _, r := range f.CameoRoots {
		r = strings.TrimSpace(r)
		if len(r) == 1 {
			r = "0" + r
		}
		n, err := strconv.Atoi(r)
		if err != nil || len(r) != 2 || n < 1 || n > 20 {
			return Filter{}, fmt.Errorf("--cameo-root %q is not a CAMEO root code (01 to 20)", r)
		}
		out.CameoRoots = append(out.CameoRoots, r)
	}
	return out, nil
}

func (f Filter) keep(r Record) bool {
	if len(f.ActorCountries) > 0 && !contains(f.ActorCountries, r.Actor1.CountryCode) && !contains(f.ActorCountries, r.Actor2.CountryCode) {
		return false
	}
	if len(f.CameoRoots) > 0 && !contains(f.CameoRoots, r.RootCode) {
		return false
	}
	return true
}

func contains(list []string, s string) bool {
	if s == "" {
		return false
	}
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Map turns a parsed row into Guarantor records. line is where it was read, for reports.
func Map(r Record, tab *cameo.Table, f Filter, line int) importers.Row {
	if !f.keep(r) {
		return importers.Row{Line: line, Filtered: true, ID: "gdelt-" + r.GlobalEventID}
	}
	entry, ok := tab.Lookup(r.EventCode)
	if !ok {
		return importers.Bad(line, "unknown CAMEO event code %q (EventCode)", r.EventCode)
	}
	for _, c := range []struct{ name, v string }{{"EventBaseCode", r.BaseCode}, {"EventRootCode", r.RootCode}} {
		if _, ok := tab.Lookup(c.v); !ok {
			return importers.Bad(line, "unknown CAMEO event code %q (%s)", c.v, c.name)
		}
	}
	id := "gdelt-" + r.GlobalEventID
	row := importers.Row{Line: line, ID: id}

	role1, role2 := roles(r)
	var names []string
	var participants []*eventsv1.Participant
	for i, a := range []Actor{r.Actor1, r.Actor2} {
		if a.Code == "" {
			continue
		}
		actor, err := actorOf(a)
		if err != nil {
			return importers.Bad(line, "Actor%d: %v", i+1, err)
		}
		role := role1
		if i == 1 {
			role = role2
		}
		p := &eventsv1.Participant{Actor: actor.GetName(), Role: role}
		dup := false
		for _, q := range participants {
			dup = dup || (q.GetActor() == p.GetActor() && q.GetRole() == p.GetRole())
		}
		if !dup {
			participants = append(participants, p)
		}
		if len(row.Actors) == 0 || row.Actors[0].GetName() != actor.GetName() {
			row.Actors = append(row.Actors, actor)
		}
		names = append(names, nameOf(a))
	}

	title := entry.Short()
	if len(names) > 0 {
		title += ": " + strings.Join(names, " / ")
	}
	title, _ = importers.Truncate(importers.CleanText(title), 300)
	e := &eventsv1.Event{
		Type:         eventType(r.RootCode, r.EventCode),
		SubType:      importers.SnakeCase(entry.Short()),
		Title:        title,
		Summary:      summary(r, entry),
		When:         &typev1.When{Time: timestamppb.New(r.Date), Precision: typev1.DatePrecision_DATE_PRECISION_DAY},
		Location:     location(r.Action),
		Participants: participants,
		Sources:      sources(r),
		ExternalIds:  []*typev1.ExternalId{{System: typev1.ExternalSystem_EXTERNAL_SYSTEM_GDELT, Id: r.GlobalEventID}},
		CameoCode:    r.EventCode,
		Classification: &eventsv1.DatasetClassification{
			QuadClass:      r.QuadClass,
			GoldsteinScale: r.Goldstein,
			NumMentions:    r.NumMentions,
			NumSources:     r.NumSources,
			NumArticles:    r.NumArticles,
			AvgTone:        r.AvgTone,
			RootEvent:      r.IsRootEvent,
		},
		License: typev1.License_LICENSE_GDELT,
		Tags:    []string{"gdelt", "cameo_root:" + r.RootCode, "cameo_base:" + r.BaseCode},
	}
	row.Event = e
	return row
}

func nameOf(a Actor) string {
	if a.Name != "" {
		return importers.TitleCase(a.Name)
	}
	return a.Code
}

// actorOf maps an actor code to the actor record it names.
func actorOf(a Actor) (*eventsv1.Actor, error) {
	if len(a.Code) < 3 || len(a.Code) > 15 || strings.Trim(a.Code, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
		return nil, fmt.Errorf("code %q is not a CAMEO actor code", a.Code)
	}
	country, isCountry := importers.ISO3(a.CountryCode)
	if iso, ok := importers.ISO3(a.Code); ok && (a.CountryCode == "" || a.CountryCode == a.Code) {
		name := importers.CountryName(iso)
		if name == "" {
			name = nameOf(a)
		}
		return &eventsv1.Actor{
			Name:            "actors/" + strings.ToLower(iso),
			Kind:            eventsv1.ActorKind_ACTOR_KIND_STATE,
			DisplayName:     name,
			CountryCode:     iso,
			CameoActorCodes: []string{a.Code},
			License:         typev1.License_LICENSE_GDELT,
			Tags:            []string{"gdelt"},
		}, nil
	}
	display := a.Code
	if a.Name != "" {
		display = importers.TitleCase(importers.CleanText(a.Name)) + " (" + a.Code + ")"
	}
	display, _ = importers.Truncate(display, 200)
	actor := &eventsv1.Actor{
		Name:            "actors/cameo-" + strings.ToLower(a.Code),
		Kind:            actorKind(a),
		DisplayName:     display,
		CameoActorCodes: []string{a.Code},
		License:         typev1.License_LICENSE_GDELT,
		Tags:            []string{"gdelt"},
	}
	if isCountry {
		actor.CountryCode = country
	}
	return actor, nil
}

// actorKind reads CAMEO's three-letter blocks (in the code and the type codes).
func actorKind(a Actor) eventsv1.ActorKind {
	blocks := map[string]bool{}
	for i := 0; i+3 <= len(a.Code); i += 3 {
		blocks[a.Code[i:i+3]] = true
	}
	for _, t := range a.TypeCodes {
		blocks[t] = true
	}
	has := func(codes ...string) bool {
		for _, c := range codes {
			if blocks[c] {
				return true
			}
		}
		return false
	}
	switch {
	case has("REB", "INS", "SEP", "UAF"):
		return eventsv1.ActorKind_ACTOR_KIND_NON_STATE_ARMED_GROUP
	case has("MIL"):
		return eventsv1.ActorKind_ACTOR_KIND_ARMED_FORCE
	case has("IGO", "NGO", "NGM"):
		return eventsv1.ActorKind_ACTOR_KIND_ORGANIZATION
	case has("GOV", "LEG", "JUD", "COP", "SPY"):
		return eventsv1.ActorKind_ACTOR_KIND_AGENCY
	}
	return eventsv1.ActorKind_ACTOR_KIND_GROUP
}

// eventType maps CAMEO roots to Guarantor's first-level taxonomy.
func eventType(root, code string) eventsv1.EventType {
	if code == "0871" { // Declare ceasefire
		return eventsv1.EventType_EVENT_TYPE_CEASEFIRE
	}
	switch root {
	case "01", "02", "10", "11", "12", "13":
		return eventsv1.EventType_EVENT_TYPE_STATEMENT
	case "03", "04", "05", "08", "16":
		return eventsv1.EventType_EVENT_TYPE_DIPLOMACY
	case "14":
		return eventsv1.EventType_EVENT_TYPE_CIVIL
	case "15", "18", "19", "20":
		return eventsv1.EventType_EVENT_TYPE_MILITARY
	}
	return eventsv1.EventType_EVENT_TYPE_OTHER
}

// roles gives the parts Actor1 (the source of the action) and Actor2 (its target) played.
func roles(r Record) (eventsv1.ParticipantRole, eventsv1.ParticipantRole) {
	switch {
	case r.RootCode == "17" || r.RootCode == "18" || r.RootCode == "19" || r.RootCode == "20":
		return eventsv1.ParticipantRole_PARTICIPANT_ROLE_PERPETRATOR, eventsv1.ParticipantRole_PARTICIPANT_ROLE_TARGET
	case r.BaseCode == "043": // Host a visit
		return eventsv1.ParticipantRole_PARTICIPANT_ROLE_HOST, eventsv1.ParticipantRole_PARTICIPANT_ROLE_ATTENDEE
	case r.BaseCode == "045": // Mediate
		return eventsv1.ParticipantRole_PARTICIPANT_ROLE_MEDIATOR, eventsv1.ParticipantRole_PARTICIPANT_ROLE_ATTENDEE
	case eventType(r.RootCode, r.EventCode) == eventsv1.EventType_EVENT_TYPE_STATEMENT:
		return eventsv1.ParticipantRole_PARTICIPANT_ROLE_SPEAKER, eventsv1.ParticipantRole_PARTICIPANT_ROLE_ATTENDEE
	}
	return eventsv1.ParticipantRole_PARTICIPANT_ROLE_ATTENDEE, eventsv1.ParticipantRole_PARTICIPANT_ROLE_ATTENDEE
}

func summary(r Record, entry cameo.Entry) string {
	var b strings.Builder
	fmt.Fprintf(&b, "GDELT 2.0 event %s, CAMEO %s (%s).", r.GlobalEventID, r.EventCode, entry.Description)
	for i, a := range []Actor{r.Actor1, r.Actor2} {
		if a.Code == "" && a.Name == "" {
			continue
		}
		fmt.Fprintf(&b, " Actor%d: %s (code %s", i+1, importers.CleanText(a.Name), a.Code)
		if a.CountryCode != "" {
			fmt.Fprintf(&b, ", country %s", a.CountryCode)
		}
		if a.KnownGroupCode != "" {
			fmt.Fprintf(&b, ", group %s", a.KnownGroupCode)
		}
		b.WriteString(").")
	}
	if r.Action.FullName != "" {
		fmt.Fprintf(&b, " Action at %s.", importers.CleanText(r.Action.FullName))
	}
	s, _ := importers.Truncate(b.String(), 10000)
	return s
}

func location(g Geo) *eventsv1.Location {
	if g.Type == 0 && g.FullName == "" && g.CountryCode == "" && g.Lat == nil && g.Long == nil {
		return nil
	}
	place, _ := importers.Truncate(importers.CleanText(g.FullName), 200)
	admin1, _ := importers.Truncate(importers.CleanText(g.ADM1), 200)
	admin2, _ := importers.Truncate(importers.CleanText(g.ADM2), 200)
	loc := &eventsv1.Location{Place: place, Admin1: admin1, Admin2: admin2, Latitude: g.Lat, Longitude: g.Long}
	if iso, ok := importers.ISO3FromFIPS(g.CountryCode); ok {
		loc.CountryCode = iso
	}
	switch g.Type {
	case 1:
		loc.Precision = typev1.GeoPrecision_GEO_PRECISION_COUNTRY
	case 2, 5:
		loc.Precision = typev1.GeoPrecision_GEO_PRECISION_REGION
	case 3, 4:
		loc.Precision = typev1.GeoPrecision_GEO_PRECISION_EXACT
	}
	return loc
}

// sources makes SOURCEURL the event's source: a web address names its site as the
// publisher; anything else (GDELT also ingests offline sources, named as text) is the
// publisher itself.
func sources(r Record) []*typev1.Source {
	s := &typev1.Source{Publisher: "The GDELT Project"}
	if !r.DateAdded.IsZero() {
		s.RetrieveTime = timestamppb.New(r.DateAdded)
	}
	raw := strings.TrimSpace(r.SourceURL)
	u, err := url.Parse(raw)
	switch {
	case raw == "":
	case err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && len(raw) <= 2048 && !strings.ContainsAny(raw, " \t\r\n"):
		s.Url = raw
		s.Publisher = strings.TrimPrefix(strings.ToLower(u.Hostname()), "www.")
	default:
		s.Publisher, _ = importers.Truncate(importers.CleanText(raw), 200)
	}
	if s.Publisher == "" {
		s.Publisher = "The GDELT Project"
	}
	return []*typev1.Source{s}
}

// Parser reads an export line by line.
func Parser(tab *cameo.Table, f Filter) importers.Parser {
	return func(r io.Reader, emit func(importers.Row) error) error {
		br := bufio.NewReaderSize(r, 64<<10)
		line := 0
		for {
			text, tooLong, err := readLine(br)
			if errors.Is(err, io.EOF) && text == "" && !tooLong {
				return nil
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("line %d: %w", line+1, err)
			}
			line++
			var row importers.Row
			switch {
			case tooLong:
				row = importers.Bad(line, "line longer than %d bytes", MaxLine)
			case strings.TrimSpace(text) == "":
				if errors.Is(err, io.EOF) {
					return nil
				}
				continue
			case errors.Is(err, io.EOF):
				// GDELT ends every line with a newline: a last line without one was cut
				// off (an interrupted download), even when its columns are all there
				// (the cut can fall inside SOURCEURL, the last).
				const cut = "the file ends inside this line (no final newline): a cut-off download?"
				if _, perr := ParseRow(text); perr != nil {
					row = importers.Bad(line, "%v; %s", perr, cut)
				} else {
					row = importers.Bad(line, "%s", cut)
				}
			default:
				rec, perr := ParseRow(text)
				if perr != nil {
					row = importers.Bad(line, "%v", perr)
				} else {
					row = Map(rec, tab, f, line)
				}
			}
			if eerr := emit(row); eerr != nil {
				return eerr
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
		}
	}
}

// readLine reads one line without its line ending. A line longer than MaxLine is
// consumed and reported as tooLong.
func readLine(br *bufio.Reader) (string, bool, error) {
	var buf []byte
	tooLong := false
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			buf = append(buf, chunk...)
			if len(buf) > MaxLine {
				tooLong, buf = true, nil
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		s := strings.TrimSuffix(strings.TrimSuffix(string(buf), "\n"), "\r")
		return s, tooLong, err
	}
}

// Options tune a GDELT import.
type Options struct {
	importers.Options
	Filter Filter
}

// Import imports GDELT exports (plain or zipped) through conn.
func Import(ctx context.Context, conn grpc.ClientConnInterface, call importers.CallContext, inputs []importers.Input, opt Options) (importers.Summary, error) {
	tab, err := cameo.Default()
	if err != nil {
		return importers.Summary{}, err
	}
	f, err := NormalizeFilter(opt.Filter)
	if err != nil {
		return importers.Summary{}, err
	}
	return importers.Import(ctx, conn, call, inputs, Parser(tab, f), opt.Options)
}
