package domain

import (
	"context"
	"fmt"
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

// actorsExist is used for reference checks: an event's participants, speakers and an
// actor's parent must name live actors.
func (s *Service) actorsExist(ctx context.Context, field string, names []string) error {
	var v apperr.Violations
	seen := map[string]bool{}
	for i, n := range names {
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		if _, err := s.Store.Get(ctx, store.Actors, n, false); err != nil {
			if apperr.Is(err, apperr.CodeNotFound) {
				v.Add(fmt.Sprintf("%s[%d]", field, i), "names %s, which does not exist: create the actor first", n)
				continue
			}
			return err
		}
	}
	if len(v.List) > 0 {
		msgs := make([]string, len(v.List))
		for i, fv := range v.List {
			msgs[i] = fv.Field + " " + fv.Description
		}
		return apperr.FailedPrecondition("unknown actor: %s", strings.Join(msgs, "; "))
	}
	return nil
}

func eventActorRefs(e *eventsv1.Event) []string {
	var refs []string
	for _, p := range e.GetParticipants() {
		refs = append(refs, p.GetActor())
	}
	for _, q := range e.GetQuotes() {
		refs = append(refs, q.GetSpeaker())
	}
	return refs
}

// checkEvent is the write hook for events: validate, derive, check references.
func (s *Service) checkEvent(ctx context.Context, prefix string) resource.Check {
	return func(_, m proto.Message) error {
		e := m.(*eventsv1.Event)
		if err := ValidateEvent(e, prefix); err != nil {
			return err
		}
		license.Stamp(e)
		return s.actorsExist(ctx, "participants", eventActorRefs(e))
	}
}

func (s *Service) checkActor(ctx context.Context, prefix string) resource.Check {
	return func(_, m proto.Message) error {
		a := m.(*eventsv1.Actor)
		if err := ValidateActor(a, prefix); err != nil {
			return err
		}
		if a.GetParent() != "" && a.GetParent() == a.GetName() {
			return apperr.Invalid(prefix+"parent", "an actor cannot be its own parent")
		}
		license.Stamp(a)
		return s.actorsExist(ctx, "parent", []string{a.GetParent()})
	}
}

func (s *Service) check(ctx context.Context, c *resource.Collection, prefix string) resource.Check {
	if c == store.Actors {
		return s.checkActor(ctx, prefix)
	}
	return s.checkEvent(ctx, prefix)
}

// Changes returns a page of the changes of one resource the caller may read, oldest
// first.
func (s *Service) Changes(ctx context.Context, p principal.Principal, name string, pageSize int32, pageToken string) ([]*eventsv1.Change, string, error) {
	page, err := s.History(ctx, p, name, pageSize, pageToken)
	if err != nil {
		return nil, "", err
	}
	out := make([]*eventsv1.Change, len(page.Payloads))
	for i, b := range page.Payloads {
		if out[i], err = Codec.DecodeChange(b); err != nil {
			return nil, "", err
		}
	}
	return out, page.NextPageToken, nil
}

// ChangeVisible reports whether p may see a change (for Watch).
func ChangeVisible(p principal.Principal, ch *eventsv1.Change) bool {
	l := ch.GetActor().GetLicense()
	if e := ch.GetEvent(); e != nil {
		l = e.GetLicense()
	}
	return license.Visible(p, l)
}
