package domain

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
	"github.com/guarantor/guarantor/platform/apperr"
)

// legalMoves is the lifecycle as the issue states it, written out independently of the
// transition table: proposed -> pledged -> awaiting ratification -> ratified -> active ->
// fulfilled | expired | withdrawn; withdrawn from any non-final status; suspended from
// pledged, awaiting ratification, ratified or active, and back only to where it came
// from ("SUSPENDED(X)" is suspended from X).
var legalMoves = []string{
	"PROPOSED->PLEDGED", "PROPOSED->WITHDRAWN",
	"PLEDGED->AWAITING_RATIFICATION", "PLEDGED->SUSPENDED", "PLEDGED->WITHDRAWN",
	"AWAITING_RATIFICATION->RATIFIED", "AWAITING_RATIFICATION->SUSPENDED", "AWAITING_RATIFICATION->WITHDRAWN",
	"RATIFIED->ACTIVE", "RATIFIED->SUSPENDED", "RATIFIED->WITHDRAWN",
	"ACTIVE->FULFILLED", "ACTIVE->EXPIRED", "ACTIVE->WITHDRAWN", "ACTIVE->SUSPENDED",
	"SUSPENDED(PLEDGED)->PLEDGED", "SUSPENDED(PLEDGED)->WITHDRAWN",
	"SUSPENDED(AWAITING_RATIFICATION)->AWAITING_RATIFICATION", "SUSPENDED(AWAITING_RATIFICATION)->WITHDRAWN",
	"SUSPENDED(RATIFIED)->RATIFIED", "SUSPENDED(RATIFIED)->WITHDRAWN",
	"SUSPENDED(ACTIVE)->ACTIVE", "SUSPENDED(ACTIVE)->WITHDRAWN",
}

// TestEveryLifecycleMove tries every status pair (a SUSPENDED guarantee once for every
// status it can have been suspended from), legal and illegal.
func TestEveryLifecycleMove(t *testing.T) {
	t.Parallel()
	var statuses []Status
	for n := range guaranteesv1.GuaranteeStatus_name {
		if s := Status(n); s != guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_UNSPECIFIED {
			statuses = append(statuses, s)
		}
	}
	slices.Sort(statuses)
	if len(statuses) != 9 {
		t.Fatalf("%d statuses: the lifecycle test needs updating", len(statuses))
	}
	type from struct {
		status, suspendedFrom Status
	}
	var froms []from
	for _, s := range statuses {
		if s != Suspended {
			froms = append(froms, from{s, 0})
		}
	}
	for _, s := range []Status{Pledged, AwaitingRatification, Ratified, Active} {
		froms = append(froms, from{Suspended, s})
	}
	tried := 0
	for _, f := range froms {
		label := StatusName(f.status)
		if f.status == Suspended {
			label = fmt.Sprintf("SUSPENDED(%s)", StatusName(f.suspendedFrom))
		}
		for _, to := range statuses {
			move := label + "->" + StatusName(to)
			legal := slices.Contains(legalMoves, move)
			tried++
			t.Run(move, func(t *testing.T) {
				t.Parallel()
				err := CheckMove("guarantees/g", f.status, f.suspendedFrom, to)
				if legal {
					if err != nil {
						t.Fatalf("legal move refused: %v", err)
					}
					g := &guaranteesv1.Guarantee{Status: f.status, SuspendedFrom: f.suspendedFrom}
					Move(g, to)
					if g.GetStatus() != to {
						t.Errorf("status %v after the move", g.GetStatus())
					}
					wantFrom := Status(0)
					if to == Suspended {
						wantFrom = f.status
					}
					if g.GetSuspendedFrom() != wantFrom {
						t.Errorf("suspended_from %v, want %v", g.GetSuspendedFrom(), wantFrom)
					}
					return
				}
				if !apperr.Is(err, apperr.CodeFailedPrecondition) {
					t.Fatalf("illegal move: error %v, want FAILED_PRECONDITION", err)
				}
				// The message lists exactly the moves allowed from here.
				var allowed []string
				for _, m := range legalMoves {
					if after, ok := strings.CutPrefix(m, label+"->"); ok {
						allowed = append(allowed, after)
					}
				}
				msg := err.Error()
				for _, a := range allowed {
					if !strings.Contains(msg, a) {
						t.Errorf("message %q does not list the allowed move to %s", msg, a)
					}
				}
				if len(allowed) == 0 && !strings.Contains(msg, "final") {
					t.Errorf("message %q does not say %s is final", msg, label)
				}
			})
		}
	}
	if want := 12 * 9; tried != want {
		t.Errorf("tried %d moves, want %d", tried, want)
	}
}

func TestAllowedMovesAreListedInOrder(t *testing.T) {
	t.Parallel()
	err := CheckMove("guarantees/g", Active, 0, Pledged)
	want := "the moves allowed from ACTIVE are to FULFILLED, EXPIRED, WITHDRAWN, SUSPENDED"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want it to say %q", err, want)
	}
}
