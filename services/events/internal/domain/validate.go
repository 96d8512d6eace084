// Package domain holds the events service's rules: what makes an event or an actor valid,
// who may see and change what, and how changes are recorded. It knows nothing of gRPC:
// errors are platform/apperr values, mapped to status codes once at the transport.
package domain

import (
	"fmt"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
	"github.com/guarantor/guarantor/platform/apperr"
)

// EntitlementACLED unlocks records under ACLED's licence, whose terms forbid giving other
// users direct access to raw rows.
const EntitlementACLED = "acled"

// violations collects field violations; prefix points them into the request
// ("event.title").
type violations struct {
	prefix string
	list   []apperr.FieldViolation
}

func (v *violations) add(field, format string, args ...any) {
	v.list = append(v.list, apperr.FieldViolation{Field: v.prefix + field, Description: fmt.Sprintf(format, args...)})
}

func (v *violations) err() error {
	if len(v.list) == 0 {
		return nil
	}
	return apperr.InvalidFields(v.list...)
}

// ValidateEvent checks the rules the proto annotations cannot express: required fields,
// and relations between fields. prefix is the event's field path in the request.
func ValidateEvent(e *eventsv1.Event, prefix string) error {
	v := &violations{prefix: prefix}
	if e.GetType() == eventsv1.EventType_EVENT_TYPE_UNSPECIFIED {
		v.add("type", "is required")
	}
	if e.GetTitle() == "" {
		v.add("title", "is required")
	}
	if e.GetWhen().GetTime() == nil {
		v.add("when.time", "is required")
	} else if end := e.GetWhen().GetEndTime(); end != nil && end.AsTime().Before(e.GetWhen().GetTime().AsTime()) {
		v.add("when.end_time", "must not be before when.time")
	}
	for i, q := range e.GetQuotes() {
		if int(q.GetSourceIndex()) >= len(e.GetSources()) && (q.GetSourceIndex() != 0 || len(e.GetSources()) > 0) {
			v.add(fmt.Sprintf("quotes[%d].source_index", i), "is %d but the event has %d sources", q.GetSourceIndex(), len(e.GetSources()))
		}
	}
	if f := e.GetFatalities(); f != nil {
		if f.Low != nil && f.GetLow() > f.GetBest() {
			v.add("fatalities.low", "must not exceed best")
		}
		if f.High != nil && f.GetHigh() < f.GetBest() {
			v.add("fatalities.high", "must not be below best")
		}
	}
	seen := map[string]bool{}
	for i, p := range e.GetParticipants() {
		key := p.GetActor() + "/" + p.GetRole().String()
		if seen[key] {
			v.add(fmt.Sprintf("participants[%d]", i), "repeats %s as %s", p.GetActor(), p.GetRole())
		}
		seen[key] = true
	}
	checkExternalIDs(v, e.GetExternalIds())
	return v.err()
}

// ValidateActor checks an actor's required fields and relations.
func ValidateActor(a *eventsv1.Actor, prefix string) error {
	v := &violations{prefix: prefix}
	if a.GetKind() == eventsv1.ActorKind_ACTOR_KIND_UNSPECIFIED {
		v.add("kind", "is required")
	}
	if a.GetDisplayName() == "" {
		v.add("display_name", "is required")
	}
	if a.GetKind() == eventsv1.ActorKind_ACTOR_KIND_STATE && a.GetCountryCode() == "" {
		v.add("country_code", "is required for a state")
	}
	for i, o := range a.GetOffices() {
		if o.GetEndTime() != nil && o.GetStartTime() != nil && o.GetEndTime().AsTime().Before(o.GetStartTime().AsTime()) {
			v.add(fmt.Sprintf("offices[%d].end_time", i), "must not be before start_time")
		}
	}
	checkExternalIDs(v, a.GetExternalIds())
	return v.err()
}

func checkExternalIDs(v *violations, ids []*typev1.ExternalId) {
	seen := map[typev1.ExternalSystem]bool{}
	for i, id := range ids {
		if seen[id.GetSystem()] {
			v.add(fmt.Sprintf("external_ids[%d]", i), "has a second id in %s", id.GetSystem())
		}
		seen[id.GetSystem()] = true
	}
}

// visibilityOf derives who may read a record from its licence.
func visibilityOf(l typev1.License) (typev1.Visibility, string) {
	if l == typev1.License_LICENSE_ACLED {
		return typev1.Visibility_VISIBILITY_RESTRICTED, EntitlementACLED
	}
	return typev1.Visibility_VISIBILITY_PUBLIC, ""
}

func normalizeLicense(l typev1.License) typev1.License {
	if l == typev1.License_LICENSE_UNSPECIFIED {
		return typev1.License_LICENSE_PUBLIC
	}
	return l
}
