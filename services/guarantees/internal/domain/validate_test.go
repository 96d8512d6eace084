package domain

import (
	"errors"
	"slices"
	"testing"

	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
	"github.com/guarantor/guarantor/platform/apperr"
)

func validGuarantee() *guaranteesv1.Guarantee {
	return &guaranteesv1.Guarantee{
		Framework:   "frameworks/paris",
		Guarantor:   &guaranteesv1.Party{Party: &guaranteesv1.Party_Actor{Actor: "actors/gbr"}},
		Beneficiary: "actors/ukr",
		Title:       "UK military hubs",
		Domain:      guaranteesv1.Domain_DOMAIN_LAND,
		Capability:  guaranteesv1.Capability_CAPABILITY_MILITARY_HUBS,
		Role:        guaranteesv1.Role_ROLE_LEAD,
	}
}

// TestValidateGuaranteeParties checks the domain's own rules for a guarantee's guarantor
// and conditions, without the proto annotations the gRPC interceptor also applies (the
// contract tests see both at once, so a rule lost here would not show there): an empty
// actor is no guarantor, and an OTHER condition must say what it is.
func TestValidateGuaranteeParties(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		edit  func(g *guaranteesv1.Guarantee)
		field string // "" means valid
	}{
		{"valid", func(*guaranteesv1.Guarantee) {}, ""},
		{"an undisclosed guarantor", func(g *guaranteesv1.Guarantee) {
			g.Guarantor = &guaranteesv1.Party{Party: &guaranteesv1.Party_Undisclosed{Undisclosed: &guaranteesv1.Undisclosed{Description: "a lead on land"}}}
		}, ""},
		{"no guarantor", func(g *guaranteesv1.Guarantee) { g.Guarantor = nil }, "guarantee.guarantor"},
		{"a Party with nothing set", func(g *guaranteesv1.Guarantee) { g.Guarantor = &guaranteesv1.Party{} }, "guarantee.guarantor"},
		{"a Party with an empty actor", func(g *guaranteesv1.Guarantee) {
			g.Guarantor = &guaranteesv1.Party{Party: &guaranteesv1.Party_Actor{Actor: ""}}
		}, "guarantee.guarantor"},
		{"an OTHER condition with a description", func(g *guaranteesv1.Guarantee) {
			g.Conditions = []*guaranteesv1.Condition{{Id: "c", Kind: guaranteesv1.ConditionKind_CONDITION_KIND_OTHER, Description: "a UN mandate"}}
		}, ""},
		{"an OTHER condition without a description", func(g *guaranteesv1.Guarantee) {
			g.Conditions = []*guaranteesv1.Condition{{Id: "c", Kind: guaranteesv1.ConditionKind_CONDITION_KIND_OTHER}}
		}, "guarantee.conditions[0].description"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := validGuarantee()
			tt.edit(g)
			err := ValidateGuarantee(g, "guarantee.")
			if tt.field == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			var e *apperr.Error
			if !errors.As(err, &e) || e.Code != apperr.CodeInvalidArgument {
				t.Fatalf("err = %v, want INVALID_ARGUMENT", err)
			}
			var fields []string
			for _, v := range e.Violations {
				fields = append(fields, v.Field)
			}
			if !slices.Equal(fields, []string{tt.field}) {
				t.Errorf("violations %v, want just %s", fields, tt.field)
			}
		})
	}
}
