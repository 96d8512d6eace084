package domain

import (
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
)

func TestCoverageCells(t *testing.T) {
	t.Parallel()
	g := func(name, by string, r guaranteesv1.Role, s Status, conditional bool) *guaranteesv1.Guarantee {
		p := &guaranteesv1.Party{Party: &guaranteesv1.Party_Actor{Actor: by}}
		if by == "" {
			p = &guaranteesv1.Party{Party: &guaranteesv1.Party_Undisclosed{Undisclosed: &guaranteesv1.Undisclosed{Description: "a lead"}}}
		}
		out := &guaranteesv1.Guarantee{Name: "guarantees/" + name, Guarantor: p, Role: r, Status: s,
			Domain: guaranteesv1.Domain_DOMAIN_LAND, Capability: guaranteesv1.Capability_CAPABILITY_MILITARY_HUBS}
		if conditional {
			out.Conditions = []*guaranteesv1.Condition{{Id: "c", Kind: guaranteesv1.ConditionKind_CONDITION_KIND_CEASEFIRE_IN_FORCE}}
		}
		return out
	}
	lead, contr := guaranteesv1.Role_ROLE_LEAD, guaranteesv1.Role_ROLE_CONTRIBUTOR
	tests := []struct {
		name   string
		gs     []*guaranteesv1.Guarantee
		coLed  bool
		leads  int
		gaps   []guaranteesv1.Gap
		counts int
	}{
		{"co-leads, conditional, unratified", []*guaranteesv1.Guarantee{g("uk", "actors/gbr", lead, Pledged, true), g("fr", "actors/fra", lead, Proposed, true)},
			true, 2, []guaranteesv1.Gap{guaranteesv1.Gap_GAP_NOTHING_RATIFIED, guaranteesv1.Gap_GAP_ALL_CONDITIONAL}, 2},
		{"the same lead twice is one lead", []*guaranteesv1.Guarantee{g("a", "actors/gbr", lead, Active, false), g("b", "actors/gbr", lead, Active, false)},
			false, 1, nil, 1},
		{"undisclosed lead", []*guaranteesv1.Guarantee{g("x", "", lead, Ratified, false)},
			false, 1, []guaranteesv1.Gap{guaranteesv1.Gap_GAP_LEAD_UNDISCLOSED}, 1},
		{"a withdrawn lead leads nothing", []*guaranteesv1.Guarantee{g("x", "actors/gbr", lead, Withdrawn, false), g("y", "actors/fra", contr, Fulfilled, false)},
			false, 0, []guaranteesv1.Gap{guaranteesv1.Gap_GAP_NO_LEAD}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cells := CoverageCells(tt.gs)
			if len(cells) != 1 {
				t.Fatalf("%d cells", len(cells))
			}
			c := cells[0]
			if c.GetCoLed() != tt.coLed || len(c.GetLeads()) != tt.leads || !slices.Equal(c.GetGaps(), tt.gaps) || len(c.GetStatusCounts()) != tt.counts {
				t.Errorf("cell %v", c)
			}
			// The input order does not matter.
			rev := slices.Clone(tt.gs)
			slices.Reverse(rev)
			if again := CoverageCells(rev); !proto.Equal(again[0], c) {
				t.Errorf("reversed input: %v, want %v", again[0], c)
			}
		})
	}
}
