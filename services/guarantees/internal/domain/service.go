package domain

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
	"github.com/guarantor/guarantor/platform/apitype"
	"github.com/guarantor/guarantor/platform/apperr"
	"github.com/guarantor/guarantor/platform/license"
	"github.com/guarantor/guarantor/platform/principal"
	"github.com/guarantor/guarantor/platform/resource"
	"github.com/guarantor/guarantor/platform/standard"
	"github.com/guarantor/guarantor/services/guarantees/internal/store"
)

// The change kinds of the guarantees service besides created, updated and deleted; each
// names a guarantor.type.v1.ChangeKind and the last part of the NATS subject.
const (
	KindTransitioned         = "transitioned"
	KindRatificationRecorded = "ratification_recorded"
	KindConditionSatisfied   = "condition_satisfied"
)

// Refs answers which actors and events exist, from the service's projection of the
// events service's stream (internal/refs).
type Refs interface {
	// Missing returns those of names (actors/..., events/...) that the projection does not
	// hold as live resources, and the projection's position: the last events stream
	// sequence it has applied.
	Missing(ctx context.Context, names []string) (missing []string, position int64, err error)
	// EventTime returns when an event happened, if the projection knows it.
	EventTime(ctx context.Context, name string) (time.Time, bool, error)
}

// Service is the guarantees service's logic: the platform's standard methods over the
// shared resource store, with the guarantees service's write checks, and its own
// methods (lifecycle, ratification, conditions, derived views).
type Service struct {
	standard.Methods
	refs Refs
	now  func() time.Time
}

// NewService returns the service over a store and the reference projection.
func NewService(st *resource.Store, refs Refs) *Service {
	s := &Service{refs: refs, now: time.Now}
	s.Methods = standard.Methods{Store: st, Check: s.check, CanDelete: s.canDelete}
	return s
}

// Codec converts between the change log and the service's Change message (its Encode
// and Decode are the store's; DecodeChange reads a stored change for the API).
var Codec apitype.Codec[*guaranteesv1.Change]

// ChangeVisible reports whether p may see a change (for Watch).
func ChangeVisible(p principal.Principal, ch *guaranteesv1.Change) bool {
	l := ch.GetGuarantee().GetLicense()
	if f := ch.GetFramework(); f != nil {
		l = f.GetLicense()
	}
	return license.Visible(p, l)
}

// ref is one reference a write makes to another resource.
type ref struct {
	field string // where the request makes it, e.g. "guarantee.beneficiary"
	name  string // e.g. actors/{actor}, events/{event}, frameworks/{framework}
}

// checkRefs returns FAILED_PRECONDITION naming every reference the projection does not
// hold. The projection follows the events service's stream, so a resource created a
// moment ago may not be there yet: the message says how far the projection has come and
// that a retry with backoff will see it once it catches up.
func (s *Service) checkRefs(ctx context.Context, refs []ref) error {
	var names []string
	for _, r := range refs {
		if r.name != "" && !slices.Contains(names, r.name) {
			names = append(names, r.name)
		}
	}
	missing, position, err := s.refs.Missing(ctx, names)
	if err != nil || len(missing) == 0 {
		return err
	}
	var parts []string
	for _, r := range refs {
		if slices.Contains(missing, r.name) {
			parts = append(parts, r.field+" names "+r.name)
		}
	}
	return apperr.FailedPrecondition("unknown reference: %s, which the events service does not have as far as this service knows: "+
		"its projection of the events stream has applied up to sequence %d and may lag the events service by a moment; "+
		"if the actor or event was just created, retry with backoff", strings.Join(parts, "; "), position)
}

// checkFrameworks returns FAILED_PRECONDITION unless every framework named exists; rd
// reads inside the write transaction.
func (s *Service) checkFrameworks(ctx context.Context, rd resource.Reader, refs []ref) error {
	for _, r := range refs {
		if r.name == "" {
			continue
		}
		if _, err := rd.Get(ctx, store.Frameworks, r.name); err != nil {
			if apperr.Is(err, apperr.CodeNotFound) {
				return apperr.FailedPrecondition("%s names %s, which does not exist: create the framework first", r.field, r.name)
			}
			return err
		}
	}
	return nil
}

// checkFramework is the write hook for frameworks: validate, derive, check references.
func (s *Service) checkFramework(ctx context.Context, prefix string) resource.Check {
	return func(rd resource.Reader, _, m proto.Message) error {
		f := m.(*guaranteesv1.Framework)
		if err := ValidateFramework(f, prefix); err != nil {
			return err
		}
		license.Stamp(f)
		var refs []ref
		for i, a := range f.GetParties() {
			refs = append(refs, ref{fmt.Sprintf("%sparties[%d]", prefix, i), a})
		}
		for i, a := range f.GetThirdParties() {
			refs = append(refs, ref{fmt.Sprintf("%sthird_parties[%d]", prefix, i), a})
		}
		for i, e := range f.GetSourceEvents() {
			refs = append(refs, ref{fmt.Sprintf("%ssource_events[%d]", prefix, i), e})
		}
		if err := s.checkRefs(ctx, refs); err != nil {
			return err
		}
		var related []ref
		for i, r := range f.GetRelatedFrameworks() {
			related = append(related, ref{fmt.Sprintf("%srelated_frameworks[%d]", prefix, i), r})
		}
		return s.checkFrameworks(ctx, rd, related)
	}
}

// checkGuarantee is the write hook for guarantees: validate, derive the output-only
// fields (a new guarantee starts PROPOSED; an existing one keeps its lifecycle, its
// ratification and its conditions' satisfaction, which only their own methods change),
// check references.
func (s *Service) checkGuarantee(ctx context.Context, prefix string) resource.Check {
	return func(rd resource.Reader, old, m proto.Message) error {
		g := m.(*guaranteesv1.Guarantee)
		if err := ValidateGuarantee(g, prefix); err != nil {
			return err
		}
		license.Stamp(g)
		if g.GetBindingLevel() == guaranteesv1.BindingLevel_BINDING_LEVEL_UNSPECIFIED {
			g.BindingLevel = guaranteesv1.BindingLevel_BINDING_LEVEL_POLITICAL
		}
		if q := g.GetQuantity(); q != nil && q.GetDisclosure() == guaranteesv1.Disclosure_DISCLOSURE_UNSPECIFIED {
			q.Disclosure = guaranteesv1.Disclosure_DISCLOSURE_UNDISCLOSED
			if q.TroopsMin != nil || q.TroopsMax != nil || q.GetValue() != nil {
				q.Disclosure = guaranteesv1.Disclosure_DISCLOSURE_DISCLOSED
			}
		}
		prev, _ := old.(*guaranteesv1.Guarantee)
		if prev != nil && prev.GetDeleteTime() != nil {
			prev = nil // replacing a tombstone starts afresh
		}
		keepLifecycle(g, prev, s.now())
		refs := []ref{
			{prefix + "guarantor.actor", g.GetGuarantor().GetActor()},
			{prefix + "beneficiary", g.GetBeneficiary()},
		}
		for i, e := range g.GetSourceEvents() {
			refs = append(refs, ref{fmt.Sprintf("%ssource_events[%d]", prefix, i), e})
		}
		if err := s.checkRefs(ctx, refs); err != nil {
			return err
		}
		return s.checkFrameworks(ctx, rd, []ref{{prefix + "framework", g.GetFramework()}})
	}
}

// keepLifecycle sets the fields of g that clients cannot write: from prev when g replaces
// it, or the starting values of a new guarantee.
func keepLifecycle(g, prev *guaranteesv1.Guarantee, now time.Time) {
	satisfied := map[string]*guaranteesv1.Condition{}
	if prev == nil {
		g.Status = Proposed
		g.StatusTime = timestamppb.New(now)
		g.StatusReason, g.StatusEvidence, g.SuspendedFrom = "", "", 0
		g.RatificationActions = nil
	} else {
		g.Status, g.StatusTime, g.StatusReason, g.StatusEvidence, g.SuspendedFrom =
			prev.GetStatus(), prev.GetStatusTime(), prev.GetStatusReason(), prev.GetStatusEvidence(), prev.GetSuspendedFrom()
		g.RatificationActions = prev.GetRatificationActions()
		for _, c := range prev.GetConditions() {
			satisfied[c.GetId()] = c
		}
	}
	for _, c := range g.GetConditions() {
		p := satisfied[c.GetId()]
		c.Satisfied, c.SatisfyTime, c.EvidenceEvent = p.GetSatisfied(), p.GetSatisfyTime(), p.GetEvidenceEvent()
	}
	g.Ratification = DeriveRatification(g.GetRatificationActions())
}

func (s *Service) check(ctx context.Context, c *resource.Collection, prefix string) resource.Check {
	if c == store.Frameworks {
		return s.checkFramework(ctx, prefix)
	}
	return s.checkGuarantee(ctx, prefix)
}

// canDelete refuses to delete a framework that live guarantees belong to. It reads
// through the deleting transaction: a guarantee created in the same commit, or just
// before it, counts.
func (s *Service) canDelete(ctx context.Context, rd resource.Reader, c *resource.Collection, cur proto.Message) error {
	if c != store.Frameworks {
		return nil
	}
	name := resource.Name(cur)
	some, total, err := rd.Find(ctx, store.Guarantees, "t.framework = ?", []any{name}, 3)
	if err != nil || total == 0 {
		return err
	}
	return apperr.FailedPrecondition("%s still has %d live guarantees (%s...): delete them or move them to another framework first",
		name, total, strings.Join(some, ", "))
}
