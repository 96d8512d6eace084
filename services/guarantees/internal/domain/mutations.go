package domain

import (
	"context"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
	"github.com/guarantor/guarantor/platform/apperr"
	"github.com/guarantor/guarantor/platform/fieldmask"
	"github.com/guarantor/guarantor/platform/resource"
	"github.com/guarantor/guarantor/platform/standard"
	"github.com/guarantor/guarantor/services/guarantees/internal/store"
)

// mutateGuarantee runs one of the guarantee's own mutations (not Update) as a recorded
// change of the given kind: fn edits the guarantee the caller may read and says why;
// the fields it changed are recorded, and a mutation that changes nothing records nothing.
func (s *Service) mutateGuarantee(ctx context.Context, call standard.Call, name, etag, kind string,
	fn func(g *guaranteesv1.Guarantee) (resource.Note, error)) (*guaranteesv1.Guarantee, error) {
	m, err := s.Store.Mutate(ctx, store.Guarantees, call.Meta(), name, etag, kind, func(cur proto.Message) (resource.Note, error) {
		g := cur.(*guaranteesv1.Guarantee) // call.Meta's guard has checked its licence
		before := proto.Clone(g)
		note, err := fn(g)
		if err != nil {
			return resource.Note{}, err
		}
		note.Changed = fieldmask.Changed(before, g, nil)
		return note, nil
	})
	if err != nil {
		return nil, err
	}
	return m.(*guaranteesv1.Guarantee), nil
}

// Transition moves a guarantee to target, with a reason and the event that shows the
// change. Only the moves of the lifecycle table are legal.
func (s *Service) Transition(ctx context.Context, call standard.Call, name string, target Status, reason, evidence, etag string) (*guaranteesv1.Guarantee, error) {
	if err := standard.RequireWriter(call.Principal); err != nil {
		return nil, err
	}
	if err := ValidateTransition(target, reason, evidence); err != nil {
		return nil, err
	}
	if err := s.checkRefs(ctx, []ref{{"evidence_event", evidence}}); err != nil {
		return nil, err
	}
	return s.mutateGuarantee(ctx, call, name, etag, KindTransitioned, func(g *guaranteesv1.Guarantee) (resource.Note, error) {
		if err := CheckMove(name, g.GetStatus(), g.GetSuspendedFrom(), target); err != nil {
			return resource.Note{}, err
		}
		Move(g, target)
		g.StatusReason, g.StatusEvidence, g.StatusTime = reason, evidence, timestamppb.New(s.now())
		return resource.Note{Reason: reason, Evidence: evidence}, nil
	})
}

// RecordRatification appends one dated ratification action of one nation and recomputes
// the guarantee's ratification. Recording an action already recorded changes nothing.
func (s *Service) RecordRatification(ctx context.Context, call standard.Call, name string, action *guaranteesv1.RatificationAction, etag string) (*guaranteesv1.Guarantee, error) {
	if err := standard.RequireWriter(call.Principal); err != nil {
		return nil, err
	}
	if action == nil {
		return nil, apperr.Invalid("action", "is required")
	}
	if err := ValidateRatificationAction(action, "action."); err != nil {
		return nil, err
	}
	if err := s.checkRefs(ctx, []ref{{"action.nation", action.GetNation()}, {"action.evidence_event", action.GetEvidenceEvent()}}); err != nil {
		return nil, err
	}
	return s.mutateGuarantee(ctx, call, name, etag, KindRatificationRecorded, func(g *guaranteesv1.Guarantee) (resource.Note, error) {
		if slices.ContainsFunc(g.GetRatificationActions(), func(a *guaranteesv1.RatificationAction) bool { return proto.Equal(a, action) }) {
			return resource.Note{}, nil
		}
		g.RatificationActions = append(g.RatificationActions, proto.CloneOf(action))
		// Oldest first by when the step took place, whatever order they are recorded in.
		slices.SortStableFunc(g.RatificationActions, func(a, b *guaranteesv1.RatificationAction) int {
			return a.GetActionTime().AsTime().Compare(b.GetActionTime().AsTime())
		})
		g.Ratification = DeriveRatification(g.GetRatificationActions())
		return resource.Note{Evidence: action.GetEvidenceEvent()}, nil
	})
}

// SatisfyCondition marks a condition satisfied by an evidence event, at satisfyTime, or
// when unset at the evidence event's time (or now, when the projection does not know it).
func (s *Service) SatisfyCondition(ctx context.Context, call standard.Call, name, conditionID, evidence string, satisfyTime *timestamppb.Timestamp, etag string) (*guaranteesv1.Guarantee, error) {
	if err := standard.RequireWriter(call.Principal); err != nil {
		return nil, err
	}
	v := &apperr.Violations{}
	if conditionID == "" {
		v.Add("condition_id", "is required")
	}
	if evidence == "" {
		v.Add("evidence_event", "is required: the event, events/{event}, that shows the condition met")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if err := s.checkRefs(ctx, []ref{{"evidence_event", evidence}}); err != nil {
		return nil, err
	}
	when := satisfyTime
	if when == nil {
		t, known, err := s.refs.EventTime(ctx, evidence)
		if err != nil {
			return nil, err
		}
		if !known {
			t = s.now()
		}
		when = timestamppb.New(t)
	}
	return s.mutateGuarantee(ctx, call, name, etag, KindConditionSatisfied, func(g *guaranteesv1.Guarantee) (resource.Note, error) {
		i := slices.IndexFunc(g.GetConditions(), func(c *guaranteesv1.Condition) bool { return c.GetId() == conditionID })
		if i < 0 {
			ids := make([]string, len(g.GetConditions()))
			for j, c := range g.GetConditions() {
				ids[j] = c.GetId()
			}
			return resource.Note{}, apperr.NotFound("%s has no condition %q (its conditions: %s)", name, conditionID, strings.Join(ids, ", "))
		}
		c := g.GetConditions()[i]
		if c.GetSatisfied() {
			if c.GetEvidenceEvent() == evidence && (satisfyTime == nil || proto.Equal(satisfyTime, c.GetSatisfyTime())) {
				return resource.Note{}, nil // the same fact again: nothing to record
			}
			return resource.Note{}, apperr.FailedPrecondition("condition %q of %s was already satisfied at %s, shown by %s",
				conditionID, name, c.GetSatisfyTime().AsTime().Format(time.RFC3339), c.GetEvidenceEvent())
		}
		c.Satisfied, c.SatisfyTime, c.EvidenceEvent = true, when, evidence
		return resource.Note{Evidence: evidence}, nil
	})
}
