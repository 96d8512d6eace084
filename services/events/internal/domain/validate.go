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

// ValidateEvent checks the rules the proto annotations cannot express: required fields,
// and relations between fields. prefix is the event's field path in the request.
func ValidateEvent(e *eventsv1.Event, prefix string) error {
	v := &apperr.Violations{Prefix: prefix}
	if e.GetType() == eventsv1.EventType_EVENT_TYPE_UNSPECIFIED {
		v.Add("type", "is required")
	}
	if e.GetTitle() == "" {
		v.Add("title", "is required")
	}
	if e.GetWhen().GetTime() == nil {
		v.Add("when.time", "is required")
	} else if end := e.GetWhen().GetEndTime(); end != nil && end.AsTime().Before(e.GetWhen().GetTime().AsTime()) {
		v.Add("when.end_time", "must not be before when.time")
	}
	for i, q := range e.GetQuotes() {
		if int(q.GetSourceIndex()) >= len(e.GetSources()) && (q.GetSourceIndex() != 0 || len(e.GetSources()) > 0) {
			v.Add(fmt.Sprintf("quotes[%d].source_index", i), "is %d but the event has %d sources", q.GetSourceIndex(), len(e.GetSources()))
		}
	}
	if f := e.GetFatalities(); f != nil {
		if f.Low != nil && f.GetLow() > f.GetBest() {
			v.Add("fatalities.low", "must not exceed best")
		}
		if f.High != nil && f.GetHigh() < f.GetBest() {
			v.Add("fatalities.high", "must not be below best")
		}
	}
	seen := map[string]bool{}
	for i, p := range e.GetParticipants() {
		key := p.GetActor() + "/" + p.GetRole().String()
		if seen[key] {
			v.Add(fmt.Sprintf("participants[%d]", i), "repeats %s as %s", p.GetActor(), p.GetRole())
		}
		seen[key] = true
	}
	checkExternalIDs(v, e.GetExternalIds())
	return v.Err()
}

// ValidateActor checks an actor's required fields and relations.
func ValidateActor(a *eventsv1.Actor, prefix string) error {
	v := &apperr.Violations{Prefix: prefix}
	if a.GetKind() == eventsv1.ActorKind_ACTOR_KIND_UNSPECIFIED {
		v.Add("kind", "is required")
	}
	if a.GetDisplayName() == "" {
		v.Add("display_name", "is required")
	}
	if a.GetKind() == eventsv1.ActorKind_ACTOR_KIND_STATE && a.GetCountryCode() == "" {
		v.Add("country_code", "is required for a state")
	}
	for i, o := range a.GetOffices() {
		if o.GetEndTime() != nil && o.GetStartTime() != nil && o.GetEndTime().AsTime().Before(o.GetStartTime().AsTime()) {
			v.Add(fmt.Sprintf("offices[%d].end_time", i), "must not be before start_time")
		}
	}
	checkExternalIDs(v, a.GetExternalIds())
	return v.Err()
}

func checkExternalIDs(v *apperr.Violations, ids []*typev1.ExternalId) {
	seen := map[typev1.ExternalSystem]bool{}
	for i, id := range ids {
		if seen[id.GetSystem()] {
			v.Add(fmt.Sprintf("external_ids[%d]", i), "has a second id in %s", id.GetSystem())
		}
		seen[id.GetSystem()] = true
	}
}
