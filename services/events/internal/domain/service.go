package domain

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	"github.com/guarantor/guarantor/platform/apitype"
	"github.com/guarantor/guarantor/platform/apperr"
	"github.com/guarantor/guarantor/platform/license"
	"github.com/guarantor/guarantor/platform/principal"
	"github.com/guarantor/guarantor/platform/resource"
	"github.com/guarantor/guarantor/platform/standard"
	"github.com/guarantor/guarantor/services/events/internal/store"
)

// Service is the events service's logic: the platform's standard methods over the shared
// resource store, with the events service's write checks.
type Service struct {
	standard.Methods
}

// NewService returns the service over a store opened with NewStore.
func NewService(st *resource.Store) *Service {
	s := &Service{}
	s.Methods = standard.Methods{Store: st, Check: s.check}
	return s
}

// Codec converts between the change log and the service's Change message (its Encode
// and Decode are the store's; DecodeChange reads a stored change for the API).
var Codec apitype.Codec[*eventsv1.Change]

// actorRef is a reference to an actor and the request field that holds it.
type actorRef struct{ field, name string }

// actorsExist is used for reference checks: an event's participants, speakers and an
// actor's parent must name live actors. rd reads inside the write transaction, so a
// reference cannot vanish before the write commits and an actor created earlier in the
// same batch counts.
func actorsExist(ctx context.Context, rd resource.Reader, refs []actorRef) error {
	names := make([]string, len(refs))
	for i, r := range refs {
		names[i] = r.name
	}
	gone, err := rd.Missing(ctx, store.Actors, names)
	if err != nil || len(gone) == 0 {
		return err
	}
	var missing []string
	for _, r := range refs {
		if slices.Contains(gone, r.name) {
			missing = append(missing, r.field+" names "+r.name)
		}
	}
	if len(missing) > 0 {
		return apperr.FailedPrecondition("unknown actor: %s, which does not exist: create the actor first", strings.Join(missing, "; "))
	}
	return nil
}

func eventActorRefs(e *eventsv1.Event, prefix string) []actorRef {
	var refs []actorRef
	for i, p := range e.GetParticipants() {
		refs = append(refs, actorRef{fmt.Sprintf("%sparticipants[%d].actor", prefix, i), p.GetActor()})
	}
	for i, q := range e.GetQuotes() {
		refs = append(refs, actorRef{fmt.Sprintf("%squotes[%d].speaker", prefix, i), q.GetSpeaker()})
	}
	return refs
}

// checkEvent is the write hook for events: validate, derive, check references.
func (s *Service) checkEvent(ctx context.Context, prefix string) resource.Check {
	return func(rd resource.Reader, _, m proto.Message) error {
		e := m.(*eventsv1.Event)
		if err := ValidateEvent(e, prefix); err != nil {
			return err
		}
		license.Stamp(e)
		return actorsExist(ctx, rd, eventActorRefs(e, prefix))
	}
}

func (s *Service) checkActor(ctx context.Context, prefix string) resource.Check {
	return func(rd resource.Reader, _, m proto.Message) error {
		a := m.(*eventsv1.Actor)
		if err := ValidateActor(a, prefix); err != nil {
			return err
		}
		if a.GetParent() != "" && a.GetParent() == a.GetName() {
			return apperr.Invalid(prefix+"parent", "an actor cannot be its own parent")
		}
		license.Stamp(a)
		return actorsExist(ctx, rd, []actorRef{{prefix + "parent", a.GetParent()}})
	}
}

func (s *Service) check(ctx context.Context, c *resource.Collection, prefix string) resource.Check {
	if c == store.Actors {
		return s.checkActor(ctx, prefix)
	}
	return s.checkEvent(ctx, prefix)
}

// ChangeVisible reports whether p may see a change (for Watch).
func ChangeVisible(p principal.Principal, ch *eventsv1.Change) bool {
	l := ch.GetActor().GetLicense()
	if e := ch.GetEvent(); e != nil {
		l = e.GetLicense()
	}
	return license.Visible(p, l)
}
