package domain

import (
	"slices"
	"strings"

	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
	"github.com/guarantor/guarantor/platform/apperr"
)

// Status is a guarantee's lifecycle status.
type Status = guaranteesv1.GuaranteeStatus

// The statuses, by their short names.
const (
	Proposed             = guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_PROPOSED
	Pledged              = guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_PLEDGED
	AwaitingRatification = guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_AWAITING_RATIFICATION
	Ratified             = guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_RATIFIED
	Active               = guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_ACTIVE
	Fulfilled            = guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_FULFILLED
	Expired              = guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_EXPIRED
	Withdrawn            = guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_WITHDRAWN
	Suspended            = guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_SUSPENDED
)

// lifecycle is the transition table: the moves out of each status. Statuses absent from
// it are final. It is data on purpose: the rules can be read (and tested) in one place.
//
// Besides these, a SUSPENDED guarantee may return to the status it was suspended from
// (Guarantee.suspended_from): that move depends on the guarantee, so AllowedMoves adds it.
var lifecycle = map[Status][]Status{
	Proposed:             {Pledged, Withdrawn},
	Pledged:              {AwaitingRatification, Suspended, Withdrawn},
	AwaitingRatification: {Ratified, Suspended, Withdrawn},
	Ratified:             {Active, Suspended, Withdrawn},
	Active:               {Fulfilled, Expired, Suspended, Withdrawn},
	Suspended:            {Withdrawn},
}

// AllowedMoves lists the statuses a guarantee in status cur (suspended from
// suspendedFrom, when cur is SUSPENDED) may move to, in enum order.
func AllowedMoves(cur, suspendedFrom Status) []Status {
	out := slices.Clone(lifecycle[cur])
	if cur == Suspended && suspendedFrom != guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_UNSPECIFIED {
		out = append(out, suspendedFrom)
	}
	slices.Sort(out)
	return out
}

// CheckMove returns FAILED_PRECONDITION, listing the moves allowed from cur, unless the
// move from cur to target is legal.
func CheckMove(name string, cur, suspendedFrom, target Status) error {
	allowed := AllowedMoves(cur, suspendedFrom)
	if slices.Contains(allowed, target) {
		return nil
	}
	if len(allowed) == 0 {
		return apperr.FailedPrecondition("%s cannot move from %s to %s: %s is final, no moves are allowed from it",
			name, StatusName(cur), StatusName(target), StatusName(cur))
	}
	names := make([]string, len(allowed))
	for i, s := range allowed {
		names[i] = StatusName(s)
	}
	return apperr.FailedPrecondition("%s cannot move from %s to %s: the moves allowed from %s are to %s",
		name, StatusName(cur), StatusName(target), StatusName(cur), strings.Join(names, ", "))
}

// Move applies a legal move to g's lifecycle fields: the new status, and where the
// guarantee returns to after a suspension.
func Move(g *guaranteesv1.Guarantee, target Status) {
	g.SuspendedFrom = guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_UNSPECIFIED
	if target == Suspended {
		g.SuspendedFrom = g.GetStatus()
	}
	g.Status = target
}

// StatusName is a status's short name, as filters write it: "AWAITING_RATIFICATION".
func StatusName(s Status) string {
	return strings.TrimPrefix(s.String(), "GUARANTEE_STATUS_")
}
