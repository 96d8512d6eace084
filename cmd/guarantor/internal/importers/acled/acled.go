// Package acled imports ACLED CSV exports. Columns are found by name (ACLED's column
// order differs between its export tool and its API; extra columns are ignored), and
// each row becomes an event (events/acled-<event_id_cnty>) with its actors
// (actors/acled-<name>). ACLED edits events under the same event_id_cnty, so a re-import
// of a newer export replaces them (UPDATED) while unchanged rows stay UNCHANGED.
//
// Everything is tagged LICENSE_ACLED: ACLED's terms forbid giving other users direct
// access to its raw rows, so the servers show these records only to principals with the
// "acled" entitlement.
package acled

import (
	"context"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"

	"github.com/guarantor/guarantor/cmd/guarantor/internal/importers"
	"github.com/guarantor/guarantor/cmd/guarantor/internal/importers/csvrows"
)

// Required are the columns a file must have.
var Required = []string{
	"event_id_cnty", "event_date", "time_precision", "event_type", "sub_event_type",
	"actor1", "country", "location", "latitude", "longitude", "geo_precision", "source", "fatalities",
}

// dateLayouts are the forms ACLED has written event_date in: ISO in current exports,
// "06 January 2024" in older ones.
var dateLayouts = []string{"2006-01-02", "02 January 2006", "2 January 2006", "02-January-2006", "2-January-2006", "1/2/2006"}

// Parser reads an ACLED CSV export.
func Parser() importers.Parser {
	return func(r io.Reader, emit func(importers.Row) error) error {
		return csvrows.Read(r, Required, func(rec csvrows.Record) error {
			if rec.Err != nil {
				return emit(importers.Bad(rec.Line, "%v", rec.Err))
			}
			return emit(Map(rec))
		})
	}
}

// Map turns one record into Guarantor records.
func Map(rec csvrows.Record) importers.Row {
	line := rec.Line
	get := func(name string) string { return strings.TrimSpace(rec.Get(name)) }
	bad := func(format string, args ...any) importers.Row { return importers.Bad(line, format, args...) }

	extID := get("event_id_cnty")
	if extID == "" {
		return bad("event_id_cnty is empty")
	}
	id := "acled-" + strings.ToLower(extID)
	if !importers.ValidID(id) || len(extID) > 128 {
		return bad("event_id_cnty %q cannot be part of a resource id (letters and digits expected)", extID)
	}
	date, ok := parseDate(get("event_date"))
	if !ok {
		return bad("event_date %q is not a date (YYYY-MM-DD)", get("event_date"))
	}
	when := &typev1.When{Time: timestamppb.New(date)}
	var notes []*typev1.QualityNote
	switch get("time_precision") {
	case "1":
		when.Precision = typev1.DatePrecision_DATE_PRECISION_DAY
	case "2":
		when.Precision = typev1.DatePrecision_DATE_PRECISION_WEEK
	case "3":
		// Guarantor stores a month-precise date at the first of the month.
		when.Precision = typev1.DatePrecision_DATE_PRECISION_MONTH
		when.Time = timestamppb.New(time.Date(date.Year(), date.Month(), 1, 0, 0, 0, 0, time.UTC))
		if date.Day() != 1 {
			notes = append(notes, &typev1.QualityNote{Issue: typev1.QualityIssue_QUALITY_ISSUE_ESTIMATED, Field: "when.time",
				Text: fmt.Sprintf("ACLED dates the event %s but knows only the month (time_precision 3)", date.Format("2006-01-02"))})
		}
	default:
		return bad("time_precision %q is not 1 (day), 2 (week) or 3 (month)", get("time_precision"))
	}

	loc := &eventsv1.Location{}
	loc.Place, _ = importers.Truncate(importers.CleanText(get("location")), 200)
	loc.Admin1, _ = importers.Truncate(importers.CleanText(get("admin1")), 200)
	loc.Admin2, _ = importers.Truncate(importers.CleanText(get("admin2")), 200)
	if iso, ok := importers.ISO3FromNumeric(get("iso")); ok {
		loc.CountryCode = iso
	}
	switch get("geo_precision") {
	case "1":
		loc.Precision = typev1.GeoPrecision_GEO_PRECISION_EXACT
	case "2":
		loc.Precision = typev1.GeoPrecision_GEO_PRECISION_NEAR
	case "3":
		loc.Precision = typev1.GeoPrecision_GEO_PRECISION_REGION
	default:
		return bad("geo_precision %q is not 1, 2 or 3", get("geo_precision"))
	}
	for _, c := range []struct {
		col string
		dst **float64
	}{{"latitude", &loc.Latitude}, {"longitude", &loc.Longitude}} {
		v := get(c.col)
		if v == "" {
			continue
		}
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return bad("%s %q is not a number", c.col, v)
		}
		*c.dst = &x
	}

	fatalities := 0
	if v := get("fatalities"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1<<30 {
			return bad("fatalities %q is not a count", v)
		}
		fatalities = n
	}

	eventType, subEventType := get("event_type"), get("sub_event_type")
	if eventType == "" {
		return bad("event_type is empty")
	}
	row := importers.Row{Line: line, ID: id}
	role1, role2 := roles(eventType)
	var participants []*eventsv1.Participant
	for i, col := range []struct{ actor, inter string }{{"actor1", "inter1"}, {"actor2", "inter2"}} {
		name := importers.CleanText(get(col.actor))
		if name == "" {
			continue
		}
		a := actorOf(name, get(col.inter))
		role := role1
		if i == 1 {
			role = role2
		}
		dup := false
		for _, p := range participants {
			dup = dup || (p.GetActor() == a.GetName() && p.GetRole() == role)
		}
		if !dup {
			participants = append(participants, &eventsv1.Participant{Actor: a.GetName(), Role: role})
		}
		if len(row.Actors) == 0 || row.Actors[0].GetName() != a.GetName() {
			row.Actors = append(row.Actors, a)
		}
	}

	title := subEventType
	if title == "" {
		title = eventType
	}
	if place := strings.Trim(loc.GetPlace()+", "+get("country"), ", "); place != "" {
		title += " in " + place
	}
	title, _ = importers.Truncate(importers.CleanText(title), 300)
	classification := &eventsv1.DatasetClassification{}
	classification.EventType, _ = importers.Truncate(importers.CleanText(eventType), 100)
	classification.SubEventType, _ = importers.Truncate(importers.CleanText(subEventType), 100)
	classification.DisorderType, _ = importers.Truncate(importers.CleanText(get("disorder_type")), 100)

	srcs, err := sources(get("source"), get("timestamp"))
	if err != nil {
		return bad("%v", err)
	}
	row.Event = &eventsv1.Event{
		Type:           typeOf(eventType, subEventType),
		SubType:        subType(subEventType),
		Title:          title,
		Summary:        summary(rec),
		When:           when,
		Location:       loc,
		Participants:   participants,
		Fatalities:     &eventsv1.Fatalities{Best: int32(fatalities)},
		Sources:        srcs,
		ExternalIds:    []*typev1.ExternalId{{System: typev1.ExternalSystem_EXTERNAL_SYSTEM_ACLED, Id: extID}},
		Classification: classification,
		License:        typev1.License_LICENSE_ACLED,
		Tags:           []string{"acled"},
		QualityNotes:   notes,
	}
	return row
}

func parseDate(s string) (time.Time, bool) {
	for _, layout := range dateLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// typeOf maps ACLED's event types to Guarantor's first level.
func typeOf(eventType, subEventType string) eventsv1.EventType {
	switch strings.ToLower(eventType) {
	case "battles", "explosions/remote violence", "violence against civilians":
		return eventsv1.EventType_EVENT_TYPE_MILITARY
	case "protests", "riots":
		return eventsv1.EventType_EVENT_TYPE_CIVIL
	case "strategic developments":
		if strings.EqualFold(subEventType, "Agreement") {
			return eventsv1.EventType_EVENT_TYPE_DIPLOMACY
		}
	}
	return eventsv1.EventType_EVENT_TYPE_OTHER
}

// subType is ACLED's sub_event_type in Guarantor's lower_snake_case, using Guarantor's
// own terms where they exist.
func subType(s string) string {
	switch strings.ToLower(s) {
	case "shelling/artillery/missile attack":
		return "shelling"
	}
	return importers.SnakeCase(s)
}

func roles(eventType string) (eventsv1.ParticipantRole, eventsv1.ParticipantRole) {
	switch strings.ToLower(eventType) {
	case "battles", "explosions/remote violence", "violence against civilians", "riots":
		return eventsv1.ParticipantRole_PARTICIPANT_ROLE_PERPETRATOR, eventsv1.ParticipantRole_PARTICIPANT_ROLE_TARGET
	}
	return eventsv1.ParticipantRole_PARTICIPANT_ROLE_ATTENDEE, eventsv1.ParticipantRole_PARTICIPANT_ROLE_ATTENDEE
}

// actorOf makes the actor record for an ACLED actor name. inter is ACLED's actor type, as
// a code (1-8, older exports) or a label ("State forces").
func actorOf(name, inter string) *eventsv1.Actor {
	display, _ := importers.Truncate(name, 200)
	return &eventsv1.Actor{
		Name:        "actors/" + importers.Slug("acled", name),
		Kind:        kindOf(inter),
		DisplayName: display,
		License:     typev1.License_LICENSE_ACLED,
		Tags:        []string{"acled"},
	}
}

func kindOf(inter string) eventsv1.ActorKind {
	s := strings.ToLower(strings.TrimSpace(inter))
	switch {
	case s == "1" || strings.HasPrefix(s, "state forces"):
		return eventsv1.ActorKind_ACTOR_KIND_ARMED_FORCE
	case s == "2" || s == "3" || s == "4" || strings.HasPrefix(s, "rebel") || strings.HasPrefix(s, "political militia") || strings.HasPrefix(s, "identity militia"):
		return eventsv1.ActorKind_ACTOR_KIND_NON_STATE_ARMED_GROUP
	case s == "8" || strings.HasPrefix(s, "external"):
		return eventsv1.ActorKind_ACTOR_KIND_ORGANIZATION
	}
	return eventsv1.ActorKind_ACTOR_KIND_GROUP // rioters, protesters, civilians, unknown
}

// sources lists ACLED itself (with the row's last-modified timestamp) and the sources
// ACLED cites, separated by semicolons.
func sources(cited, timestamp string) ([]*typev1.Source, error) {
	acled := &typev1.Source{Publisher: "ACLED"}
	if timestamp != "" {
		secs, err := strconv.ParseInt(timestamp, 10, 64)
		if err != nil || secs < 0 || secs > 1<<40 {
			return nil, fmt.Errorf("timestamp %q is not a Unix time", timestamp)
		}
		acled.PublishTime = timestamppb.New(time.Unix(secs, 0).UTC())
	}
	out := []*typev1.Source{acled}
	seen := map[string]bool{}
	for _, p := range strings.Split(cited, ";") {
		p = importers.CleanText(p)
		if p == "" || seen[p] || len(out) == 50 {
			continue
		}
		seen[p] = true
		p, _ = importers.Truncate(p, 200)
		out = append(out, &typev1.Source{Publisher: p})
	}
	return out, nil
}

func summary(rec csvrows.Record) string {
	var b strings.Builder
	b.WriteString(importers.CleanBlock(rec.Get("notes")))
	for _, c := range []struct{ col, label string }{{"assoc_actor_1", "Associated with actor 1"}, {"assoc_actor_2", "Associated with actor 2"}, {"civilian_targeting", "Civilian targeting"}, {"tags", "ACLED tags"}} {
		if v := importers.CleanText(rec.Get(c.col)); v != "" {
			if b.Len() > 0 {
				b.WriteString("\n")
			}
			fmt.Fprintf(&b, "%s: %s", c.label, v)
		}
	}
	s, _ := importers.Truncate(b.String(), 10000)
	return s
}

// Import imports one or more ACLED exports through conn.
func Import(ctx context.Context, conn grpc.ClientConnInterface, call importers.CallContext, inputs []importers.Input, opt importers.Options) (importers.Summary, error) {
	return importers.Import(ctx, conn, call, inputs, Parser(), opt)
}
