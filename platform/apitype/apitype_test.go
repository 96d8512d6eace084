package apitype_test

import (
	"testing"

	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
	"github.com/guarantor/guarantor/platform/apitype"
	"github.com/guarantor/guarantor/platform/resource"
)

func TestChangeKindAndWatchType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind  string
		want  typev1.ChangeKind
		watch typev1.WatchEventType
	}{
		{resource.KindCreated, typev1.ChangeKind_CHANGE_KIND_CREATED, typev1.WatchEventType_WATCH_EVENT_TYPE_ADDED},
		{resource.KindUpdated, typev1.ChangeKind_CHANGE_KIND_UPDATED, typev1.WatchEventType_WATCH_EVENT_TYPE_MODIFIED},
		{resource.KindDeleted, typev1.ChangeKind_CHANGE_KIND_DELETED, typev1.WatchEventType_WATCH_EVENT_TYPE_DELETED},
		{"transitioned", typev1.ChangeKind_CHANGE_KIND_TRANSITIONED, typev1.WatchEventType_WATCH_EVENT_TYPE_MODIFIED},
		{"ratification_recorded", typev1.ChangeKind_CHANGE_KIND_RATIFICATION_RECORDED, typev1.WatchEventType_WATCH_EVENT_TYPE_MODIFIED},
		{"condition_satisfied", typev1.ChangeKind_CHANGE_KIND_CONDITION_SATISFIED, typev1.WatchEventType_WATCH_EVENT_TYPE_MODIFIED},
		{"exploded", typev1.ChangeKind_CHANGE_KIND_UNSPECIFIED, typev1.WatchEventType_WATCH_EVENT_TYPE_MODIFIED},
	}
	for _, tt := range tests {
		if got := apitype.ChangeKind(tt.kind); got != tt.want {
			t.Errorf("ChangeKind(%q) = %v, want %v", tt.kind, got, tt.want)
		}
		if got := apitype.WatchType(tt.kind); got != tt.watch {
			t.Errorf("WatchType(%q) = %v, want %v", tt.kind, got, tt.watch)
		}
	}
}

func TestBatchPolicyAndOutcomes(t *testing.T) {
	t.Parallel()
	if apitype.Policy(typev1.ExistingPolicy_EXISTING_POLICY_UNSPECIFIED) != resource.PolicyFail ||
		apitype.Policy(typev1.ExistingPolicy_EXISTING_POLICY_SKIP) != resource.PolicySkip ||
		apitype.Policy(typev1.ExistingPolicy_EXISTING_POLICY_REPLACE) != resource.PolicyReplace {
		t.Error("policy mapping")
	}
	got := apitype.BatchOutcomes([]resource.Outcome{resource.Created, resource.Updated, resource.Unchanged})
	want := []typev1.BatchOutcome{typev1.BatchOutcome_BATCH_OUTCOME_CREATED, typev1.BatchOutcome_BATCH_OUTCOME_UPDATED, typev1.BatchOutcome_BATCH_OUTCOME_UNCHANGED}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("outcome %d = %v, want %v", i, got[i], want[i])
		}
	}
}
