// Package apitype converts between the platform's resource store and the API types every
// service shares (guarantor.type.v1): change kinds, watch event types, batch policies and
// outcomes. Each service's gRPC layer uses them, so the mapping exists once.
package apitype

import (
	"strings"

	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
	"github.com/guarantor/guarantor/platform/resource"
)

// ChangeKind maps a stored change kind ("created", "ratification_recorded") to the API
// enum by name (CHANGE_KIND_RATIFICATION_RECORDED), so a kind a service adds needs only
// its enum value. An unknown kind is CHANGE_KIND_UNSPECIFIED.
func ChangeKind(kind string) typev1.ChangeKind {
	return typev1.ChangeKind(typev1.ChangeKind_value["CHANGE_KIND_"+strings.ToUpper(kind)])
}

// WatchType is the Kubernetes-style type of a change: ADDED for creations, DELETED for
// deletions, MODIFIED for everything else (updates, transitions...).
func WatchType(kind string) typev1.WatchEventType {
	switch kind {
	case resource.KindCreated:
		return typev1.WatchEventType_WATCH_EVENT_TYPE_ADDED
	case resource.KindDeleted:
		return typev1.WatchEventType_WATCH_EVENT_TYPE_DELETED
	}
	return typev1.WatchEventType_WATCH_EVENT_TYPE_MODIFIED
}

// Policy maps a batch's existing policy; unset means FAIL.
func Policy(p typev1.ExistingPolicy) resource.Policy {
	switch p {
	case typev1.ExistingPolicy_EXISTING_POLICY_SKIP:
		return resource.PolicySkip
	case typev1.ExistingPolicy_EXISTING_POLICY_REPLACE:
		return resource.PolicyReplace
	}
	return resource.PolicyFail
}

// BatchOutcomes maps what a batch did with each item.
func BatchOutcomes(in []resource.Outcome) []typev1.BatchOutcome {
	out := make([]typev1.BatchOutcome, len(in))
	for i, o := range in {
		switch o {
		case resource.Created:
			out[i] = typev1.BatchOutcome_BATCH_OUTCOME_CREATED
		case resource.Updated:
			out[i] = typev1.BatchOutcome_BATCH_OUTCOME_UPDATED
		case resource.Unchanged:
			out[i] = typev1.BatchOutcome_BATCH_OUTCOME_UNCHANGED
		}
	}
	return out
}
