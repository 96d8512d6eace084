package importers

import (
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"

	"github.com/guarantor/guarantor/cmd/guarantor/internal/jsonl"
)

// validate checks a request message against the protovalidate rules declared in the
// proto files: the same check the servers' interceptor makes.
func validate(m proto.Message) error { return jsonl.Validate(m) }

// check validates a row before anything of it is written: its actors and its main
// record, with the proto rules and the services' domain rules that the annotations cannot
// express (mirrored from services/*/internal/domain, which the CLI cannot import).
func (im *Importer) check(r Row) error {
	for _, a := range r.Actors {
		if im.validActors[a.GetName()] {
			continue
		}
		if !strings.HasPrefix(a.GetName(), "actors/") {
			return fmt.Errorf("actor %q: name must be actors/{id}", a.GetName())
		}
		if err := validate(&eventsv1.CreateActorRequest{ActorId: actorID(a), Actor: a}); err != nil {
			return fmt.Errorf("%s: %w", a.GetName(), err)
		}
		if err := checkActor(a); err != nil {
			return fmt.Errorf("%s: %w", a.GetName(), err)
		}
		im.validActors[a.GetName()] = true
	}
	switch {
	case r.Event != nil:
		if err := validate(&eventsv1.CreateEventRequest{EventId: r.ID, Event: r.Event}); err != nil {
			return err
		}
		return checkEvent(r.Event)
	case r.Framework != nil:
		if err := validate(&guaranteesv1.CreateFrameworkRequest{FrameworkId: r.ID, Framework: r.Framework}); err != nil {
			return err
		}
		return checkFramework(r.Framework)
	}
	return errors.New("the row maps to no record")
}

type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return errors.New(strings.Join(p, "; "))
}

func checkEvent(e *eventsv1.Event) error {
	var p problems
	if e.GetType() == eventsv1.EventType_EVENT_TYPE_UNSPECIFIED {
		p.add("event.type: is required")
	}
	if e.GetTitle() == "" {
		p.add("event.title: is required")
	}
	if e.GetWhen().GetTime() == nil {
		p.add("event.when.time: is required")
	}
	if f := e.GetFatalities(); f != nil {
		if f.Low != nil && f.GetLow() > f.GetBest() {
			p.add("event.fatalities.low: must not exceed best")
		}
		if f.High != nil && f.GetHigh() < f.GetBest() {
			p.add("event.fatalities.high: must not be below best")
		}
	}
	seen := map[string]bool{}
	for i, pa := range e.GetParticipants() {
		key := pa.GetActor() + "/" + pa.GetRole().String()
		if seen[key] {
			p.add("event.participants[%d]: repeats %s as %s", i, pa.GetActor(), pa.GetRole())
		}
		seen[key] = true
	}
	checkExternalIDs(&p, "event", e.GetExternalIds())
	return p.err()
}

func checkActor(a *eventsv1.Actor) error {
	var p problems
	if a.GetKind() == eventsv1.ActorKind_ACTOR_KIND_UNSPECIFIED {
		p.add("actor.kind: is required")
	}
	if a.GetDisplayName() == "" {
		p.add("actor.display_name: is required")
	}
	if a.GetKind() == eventsv1.ActorKind_ACTOR_KIND_STATE && a.GetCountryCode() == "" {
		p.add("actor.country_code: is required for a state")
	}
	checkExternalIDs(&p, "actor", a.GetExternalIds())
	return p.err()
}

func checkFramework(f *guaranteesv1.Framework) error {
	var p problems
	if f.GetTitle() == "" {
		p.add("framework.title: is required")
	}
	if f.GetKind() == guaranteesv1.FrameworkKind_FRAMEWORK_KIND_UNSPECIFIED {
		p.add("framework.kind: is required")
	}
	return p.err()
}

func checkExternalIDs(p *problems, prefix string, ids []*typev1.ExternalId) {
	seen := map[typev1.ExternalSystem]bool{}
	for i, id := range ids {
		if seen[id.GetSystem()] {
			p.add("%s.external_ids[%d]: has a second id in %s", prefix, i, id.GetSystem())
		}
		seen[id.GetSystem()] = true
	}
}

// Check validates a row as an import does before writing anything of it. For tests and
// fuzzing: an import checks every row itself.
func Check(r Row) error {
	if r.Reason != "" {
		return errors.New(r.Reason)
	}
	im := &Importer{validActors: map[string]bool{}}
	return im.check(r)
}
