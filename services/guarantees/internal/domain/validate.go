// Package domain holds the guarantees service's rules: what makes a framework or a
// guarantee valid, the lifecycle a guarantee's status follows, how ratification is
// derived, which references must exist, and the derived views (coverage, commitments).
// It knows nothing of gRPC: errors are platform/apperr values, mapped to status codes
// once at the transport.
package domain

import (
	"fmt"

	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
	"github.com/guarantor/guarantor/platform/apperr"
)

// ValidateFramework checks the rules the proto annotations cannot express. prefix is the
// framework's field path in the request ("framework.").
func ValidateFramework(f *guaranteesv1.Framework, prefix string) error {
	v := &apperr.Violations{Prefix: prefix}
	if f.GetTitle() == "" {
		v.Add("title", "is required")
	}
	if f.GetKind() == guaranteesv1.FrameworkKind_FRAMEWORK_KIND_UNSPECIFIED {
		v.Add("kind", "is required")
	}
	if f.GetValidFrom() != nil && f.GetValidUntil() != nil && f.GetValidUntil().AsTime().Before(f.GetValidFrom().AsTime()) {
		v.Add("valid_until", "must not be before valid_from")
	}
	for i, r := range f.GetRelatedFrameworks() {
		if r != "" && r == f.GetName() {
			v.Add(fmt.Sprintf("related_frameworks[%d]", i), "a framework cannot relate to itself")
		}
	}
	return v.Err()
}

// ValidateGuarantee checks a guarantee's required fields and the relations between them.
// prefix is its field path in the request ("guarantee.").
func ValidateGuarantee(g *guaranteesv1.Guarantee, prefix string) error {
	v := &apperr.Violations{Prefix: prefix}
	if g.GetFramework() == "" {
		v.Add("framework", "is required")
	}
	if g.GetGuarantor().GetActor() == "" && g.GetGuarantor().GetUndisclosed() == nil {
		v.Add("guarantor", `is required: an actor, or {undisclosed: {description: "..."}} when the guarantor is not named`)
	}
	if g.GetBeneficiary() == "" {
		v.Add("beneficiary", "is required")
	}
	if g.GetTitle() == "" {
		v.Add("title", "is required")
	}
	if g.GetDomain() == guaranteesv1.Domain_DOMAIN_UNSPECIFIED {
		v.Add("domain", "is required")
	}
	if g.GetCapability() == guaranteesv1.Capability_CAPABILITY_UNSPECIFIED {
		v.Add("capability", "is required")
	}
	if g.GetRole() == guaranteesv1.Role_ROLE_UNSPECIFIED {
		v.Add("role", "is required")
	}
	if q := g.GetQuantity(); q != nil && q.TroopsMin != nil && q.TroopsMax != nil && q.GetTroopsMax() < q.GetTroopsMin() {
		v.Add("quantity.troops_max", "must not be below troops_min")
	}
	seen := map[string]int{}
	for i, c := range g.GetConditions() {
		field := fmt.Sprintf("conditions[%d]", i)
		switch {
		case c.GetId() == "":
			v.Add(field+".id", "is required")
		case seen[c.GetId()] > 0:
			v.Add(field+".id", "repeats conditions[%d].id %q", seen[c.GetId()]-1, c.GetId())
		default:
			seen[c.GetId()] = i + 1
		}
		switch c.GetKind() {
		case guaranteesv1.ConditionKind_CONDITION_KIND_UNSPECIFIED:
			v.Add(field+".kind", "is required")
		case guaranteesv1.ConditionKind_CONDITION_KIND_LEGISLATIVE_APPROVAL:
			if c.GetLegislativeBody() == "" {
				v.Add(field+".legislative_body", "is required for LEGISLATIVE_APPROVAL: name the body, e.g. \"Bundestag\"")
			}
		case guaranteesv1.ConditionKind_CONDITION_KIND_OTHER:
			if c.GetDescription() == "" {
				v.Add(field+".description", "is required for OTHER: describe the condition")
			}
		}
	}
	return v.Err()
}

// ValidateRatificationAction checks one ratification action. prefix is its field path
// ("action.").
func ValidateRatificationAction(a *guaranteesv1.RatificationAction, prefix string) error {
	v := &apperr.Violations{Prefix: prefix}
	if a.GetNation() == "" {
		v.Add("nation", "is required")
	}
	switch a.GetType() {
	case guaranteesv1.RatificationActionType_RATIFICATION_ACTION_TYPE_UNSPECIFIED:
		v.Add("type", "is required")
	case guaranteesv1.RatificationActionType_RATIFICATION_ACTION_TYPE_PARLIAMENTARY_APPROVAL:
		if a.GetBody() == "" {
			v.Add("body", "is required for PARLIAMENTARY_APPROVAL: name the parliament, e.g. \"House of Commons\"")
		}
	}
	if a.GetActionTime() == nil {
		v.Add("action_time", "is required")
	}
	return v.Err()
}

// ValidateTransition checks a transition request's own fields (the move itself is checked
// against the guarantee's current status by CheckMove).
func ValidateTransition(target Status, reason, evidence string) error {
	v := &apperr.Violations{}
	if _, ok := guaranteesv1.GuaranteeStatus_name[int32(target)]; !ok || target == guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_UNSPECIFIED {
		v.Add("target_status", "is required and must be a defined status")
	}
	if reason == "" {
		v.Add("reason", "is required")
	}
	if evidence == "" {
		v.Add("evidence_event", "is required: the event, events/{event}, that shows the change")
	}
	return v.Err()
}
