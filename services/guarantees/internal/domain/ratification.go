package domain

import (
	"slices"
	"strings"

	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
)

// ratificationRank orders the steps of one nation's ratification, as the UN Treaty
// Collection records them. NOT_REQUIRED ends a nation's process like entry into force
// does: nothing further is expected of it.
var ratificationRank = map[guaranteesv1.RatificationActionType]int{
	guaranteesv1.RatificationActionType_RATIFICATION_ACTION_TYPE_SIGNATURE:              1,
	guaranteesv1.RatificationActionType_RATIFICATION_ACTION_TYPE_PARLIAMENTARY_APPROVAL: 2,
	guaranteesv1.RatificationActionType_RATIFICATION_ACTION_TYPE_INSTRUMENT_DEPOSIT:     3,
	guaranteesv1.RatificationActionType_RATIFICATION_ACTION_TYPE_ENTRY_INTO_FORCE:       4,
	guaranteesv1.RatificationActionType_RATIFICATION_ACTION_TYPE_NOT_REQUIRED:           4,
}

// DeriveRatification computes a guarantee's ratification view from its actions: each
// nation's furthest step (on a tie, the later action wins) and the overall state.
func DeriveRatification(actions []*guaranteesv1.RatificationAction) *guaranteesv1.Ratification {
	furthest := map[string]*guaranteesv1.RatificationAction{}
	for _, a := range actions {
		cur, ok := furthest[a.GetNation()]
		if !ok || ratificationRank[a.GetType()] > ratificationRank[cur.GetType()] ||
			(ratificationRank[a.GetType()] == ratificationRank[cur.GetType()] && !a.GetActionTime().AsTime().Before(cur.GetActionTime().AsTime())) {
			furthest[a.GetNation()] = a
		}
	}
	out := &guaranteesv1.Ratification{State: guaranteesv1.RatificationState_RATIFICATION_STATE_NOT_STARTED}
	if len(furthest) == 0 {
		return out
	}
	var progressing, inForce, notRequired int
	for nation, a := range furthest {
		out.Nations = append(out.Nations, &guaranteesv1.NationRatification{Nation: nation, Furthest: a.GetType(), FurthestTime: a.GetActionTime()})
		switch a.GetType() {
		case guaranteesv1.RatificationActionType_RATIFICATION_ACTION_TYPE_SIGNATURE:
			// Signed only: the state stays SIGNED unless another nation went further.
		case guaranteesv1.RatificationActionType_RATIFICATION_ACTION_TYPE_ENTRY_INTO_FORCE:
			inForce++
		case guaranteesv1.RatificationActionType_RATIFICATION_ACTION_TYPE_NOT_REQUIRED:
			notRequired++
		default:
			progressing++
		}
	}
	slices.SortFunc(out.Nations, func(a, b *guaranteesv1.NationRatification) int {
		return strings.Compare(a.GetNation(), b.GetNation())
	})
	n := len(furthest)
	switch {
	case notRequired == n:
		out.State = guaranteesv1.RatificationState_RATIFICATION_STATE_NOT_REQUIRED
	case inForce+notRequired == n:
		out.State = guaranteesv1.RatificationState_RATIFICATION_STATE_IN_FORCE
	case progressing > 0 || inForce > 0 || notRequired > 0:
		out.State = guaranteesv1.RatificationState_RATIFICATION_STATE_IN_PROGRESS
	default:
		out.State = guaranteesv1.RatificationState_RATIFICATION_STATE_SIGNED
	}
	return out
}
