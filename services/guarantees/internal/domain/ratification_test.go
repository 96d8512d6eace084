package domain

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
)

func TestDeriveRatification(t *testing.T) {
	t.Parallel()
	day := func(d int) *timestamppb.Timestamp {
		return timestamppb.New(time.Date(2026, 1, d, 0, 0, 0, 0, time.UTC))
	}
	act := func(nation string, typ guaranteesv1.RatificationActionType, d int) *guaranteesv1.RatificationAction {
		return &guaranteesv1.RatificationAction{Nation: "actors/" + nation, Type: typ, ActionTime: day(d)}
	}
	const (
		sig   = guaranteesv1.RatificationActionType_RATIFICATION_ACTION_TYPE_SIGNATURE
		parl  = guaranteesv1.RatificationActionType_RATIFICATION_ACTION_TYPE_PARLIAMENTARY_APPROVAL
		dep   = guaranteesv1.RatificationActionType_RATIFICATION_ACTION_TYPE_INSTRUMENT_DEPOSIT
		force = guaranteesv1.RatificationActionType_RATIFICATION_ACTION_TYPE_ENTRY_INTO_FORCE
		none  = guaranteesv1.RatificationActionType_RATIFICATION_ACTION_TYPE_NOT_REQUIRED
	)
	tests := []struct {
		name     string
		actions  []*guaranteesv1.RatificationAction
		state    guaranteesv1.RatificationState
		furthest map[string]guaranteesv1.RatificationActionType
	}{
		{"nothing", nil, guaranteesv1.RatificationState_RATIFICATION_STATE_NOT_STARTED, nil},
		{"signatures only", []*guaranteesv1.RatificationAction{act("gbr", sig, 1), act("fra", sig, 2)},
			guaranteesv1.RatificationState_RATIFICATION_STATE_SIGNED, map[string]guaranteesv1.RatificationActionType{"actors/gbr": sig, "actors/fra": sig}},
		{"one approval", []*guaranteesv1.RatificationAction{act("gbr", sig, 1), act("gbr", parl, 5), act("fra", sig, 2)},
			guaranteesv1.RatificationState_RATIFICATION_STATE_IN_PROGRESS, map[string]guaranteesv1.RatificationActionType{"actors/gbr": parl, "actors/fra": sig}},
		{"furthest step wins over a later earlier step", []*guaranteesv1.RatificationAction{act("gbr", dep, 5), act("gbr", sig, 9)},
			guaranteesv1.RatificationState_RATIFICATION_STATE_IN_PROGRESS, map[string]guaranteesv1.RatificationActionType{"actors/gbr": dep}},
		{"one in force, one signed", []*guaranteesv1.RatificationAction{act("gbr", force, 5), act("fra", sig, 2)},
			guaranteesv1.RatificationState_RATIFICATION_STATE_IN_PROGRESS, nil},
		{"all in force or not required", []*guaranteesv1.RatificationAction{act("gbr", force, 5), act("usa", none, 2)},
			guaranteesv1.RatificationState_RATIFICATION_STATE_IN_FORCE, map[string]guaranteesv1.RatificationActionType{"actors/gbr": force, "actors/usa": none}},
		{"none required", []*guaranteesv1.RatificationAction{act("usa", none, 2), act("fra", none, 3)},
			guaranteesv1.RatificationState_RATIFICATION_STATE_NOT_REQUIRED, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := DeriveRatification(tt.actions)
			if r.GetState() != tt.state {
				t.Errorf("state %v, want %v", r.GetState(), tt.state)
			}
			for i, n := range r.GetNations() {
				if i > 0 && r.GetNations()[i-1].GetNation() >= n.GetNation() {
					t.Errorf("nations not ordered: %v", r.GetNations())
				}
				if want, ok := tt.furthest[n.GetNation()]; ok && n.GetFurthest() != want {
					t.Errorf("%s furthest %v, want %v", n.GetNation(), n.GetFurthest(), want)
				}
			}
		})
	}
}
