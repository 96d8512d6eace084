package domain

import (
	"testing"
	"time"

	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/proto"

	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
)

// FuzzTransition feeds arbitrary bytes as a TransitionGuaranteeRequest through what a
// request meets before it is stored: protovalidate (as the gRPC interceptor runs it), the
// domain's own validation and the lifecycle check against every current status. Nothing
// may panic, and a move the lifecycle accepts must leave the guarantee in the target.
func FuzzTransition(f *testing.F) {
	v, err := protovalidate.New()
	if err != nil {
		f.Fatal(err)
	}
	seed, _ := proto.Marshal(&guaranteesv1.TransitionGuaranteeRequest{
		Name: "guarantees/g", TargetStatus: Pledged, Reason: "announced", EvidenceEvent: "events/paris",
	})
	f.Add(seed, int32(Proposed), int32(0))
	f.Add([]byte{0x10, 0x09}, int32(Active), int32(0))
	f.Add([]byte{}, int32(Suspended), int32(Ratified))
	f.Fuzz(func(t *testing.T, data []byte, cur, from int32) {
		req := &guaranteesv1.TransitionGuaranteeRequest{}
		if err := proto.Unmarshal(data, req); err != nil {
			return
		}
		if err := v.Validate(req); err != nil {
			return
		}
		if err := ValidateTransition(req.GetTargetStatus(), req.GetReason(), req.GetEvidenceEvent()); err != nil {
			return
		}
		g := &guaranteesv1.Guarantee{Name: req.GetName(), Status: Status(cur), SuspendedFrom: Status(from)}
		if err := CheckMove(g.GetName(), g.GetStatus(), g.GetSuspendedFrom(), req.GetTargetStatus()); err != nil {
			return
		}
		Move(g, req.GetTargetStatus())
		if g.GetStatus() != req.GetTargetStatus() {
			t.Fatalf("status %v after a move to %v", g.GetStatus(), req.GetTargetStatus())
		}
	})
}

// FuzzGuarantee feeds arbitrary bytes as a CreateGuaranteeRequest through protovalidate,
// the domain's validation and the derivations a write makes (lifecycle defaults,
// ratification, coverage). Nothing may panic.
func FuzzGuarantee(f *testing.F) {
	v, err := protovalidate.New()
	if err != nil {
		f.Fatal(err)
	}
	seed, _ := proto.Marshal(&guaranteesv1.CreateGuaranteeRequest{GuaranteeId: "g", Guarantee: &guaranteesv1.Guarantee{
		Framework: "frameworks/paris", Beneficiary: "actors/ukr", Title: "hubs",
		Guarantor: &guaranteesv1.Party{Party: &guaranteesv1.Party_Actor{Actor: "actors/gbr"}},
		Domain:    guaranteesv1.Domain_DOMAIN_LAND, Capability: guaranteesv1.Capability_CAPABILITY_MILITARY_HUBS, Role: guaranteesv1.Role_ROLE_LEAD,
		Conditions:          []*guaranteesv1.Condition{{Id: "c", Kind: guaranteesv1.ConditionKind_CONDITION_KIND_LEGISLATIVE_APPROVAL, LegislativeBody: "Bundestag"}},
		RatificationActions: []*guaranteesv1.RatificationAction{{Nation: "actors/gbr", Type: 2}},
	}})
	f.Add(seed)
	f.Add([]byte{0x0a, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		req := &guaranteesv1.CreateGuaranteeRequest{}
		if err := proto.Unmarshal(data, req); err != nil {
			return
		}
		_ = v.Validate(req) // the domain must cope with what validation would have rejected too
		g := req.GetGuarantee()
		if g == nil {
			return
		}
		_ = ValidateGuarantee(g, "guarantee.")
		for _, a := range g.GetRatificationActions() {
			_ = ValidateRatificationAction(a, "action.")
		}
		keepLifecycle(g, proto.CloneOf(g), time.Now())
		keepLifecycle(g, nil, time.Now())
		CoverageCells([]*guaranteesv1.Guarantee{g, proto.CloneOf(g)})
	})
}
