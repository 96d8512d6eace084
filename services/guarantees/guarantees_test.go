package guarantees_test

// The contract suite of the guarantees service: every test runs through the real gRPC
// server (real interceptors, real principal verification) against each store
// implementation. References to actors and events come from the service's projection of
// the events stream, fed here by PublishEvents (integration_test.go runs the real events
// service instead).

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	gv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
	"github.com/guarantor/guarantor/platform/testkit/servicetest"
	"github.com/guarantor/guarantor/services/guarantees"
	"github.com/guarantor/guarantor/services/guarantees/guaranteestest"
)

func forEachBackend(t *testing.T, fn func(t *testing.T, h *guaranteestest.Harness)) {
	servicetest.ForEachBackend(t, func(t *testing.T, b servicetest.Backend) { fn(t, guaranteestest.Start(t, b)) })
}

func date(s string) time.Time {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return t
}

// The seed references: the actors and events the fixtures cite.
var (
	summitDay = date("2026-01-06")
	seedRefs  = []string{
		"actors/fra", "actors/gbr", "actors/usa", "actors/ukr", "actors/deu",
		"events/paris-summit", "events/ceasefire", "events/commons-vote",
	}
)

func seed(t testing.TB, h *guaranteestest.Harness, ctx context.Context) gv1.GuaranteesServiceClient {
	t.Helper()
	guaranteestest.PublishEvents(h, summitDay, seedRefs...)
	c := h.Client()
	if _, err := c.CreateFramework(ctx, &gv1.CreateFrameworkRequest{FrameworkId: "paris", Framework: parisDeclaration()}); err != nil {
		t.Fatalf("create framework: %v", err)
	}
	return c
}

func parisDeclaration() *gv1.Framework {
	return &gv1.Framework{
		Title:        "Paris Declaration on security guarantees for Ukraine",
		Summary:      "Multilayered guarantees, military hubs and a US-led monitoring of a cease-fire.",
		Kind:         gv1.FrameworkKind_FRAMEWORK_KIND_DECLARATION,
		Stage:        gv1.FrameworkStage_FRAMEWORK_STAGE_FRAMEWORK,
		Status:       gv1.FrameworkStatus_FRAMEWORK_STATUS_ADOPTED,
		Parties:      []string{"actors/ukr"},
		ThirdParties: []string{"actors/fra", "actors/gbr"},
		Adopted:      &typev1.When{Time: timestamppb.New(summitDay), Precision: typev1.DatePrecision_DATE_PRECISION_DAY},
		SourceEvents: []string{"events/paris-summit"},
		Tags:         []string{"seed", "paris"},
	}
}

func actor(name string) *gv1.Party { return &gv1.Party{Party: &gv1.Party_Actor{Actor: name}} }

func undisclosed(what string) *gv1.Party {
	return &gv1.Party{Party: &gv1.Party_Undisclosed{Undisclosed: &gv1.Undisclosed{Description: what}}}
}

func guarantee(by *gv1.Party, d gv1.Domain, c gv1.Capability, r gv1.Role, title string) *gv1.Guarantee {
	return &gv1.Guarantee{
		Framework:    "frameworks/paris",
		Guarantor:    by,
		Beneficiary:  "actors/ukr",
		Title:        title,
		Domain:       d,
		Capability:   c,
		Role:         r,
		SourceEvents: []string{"events/paris-summit"},
		Tags:         []string{"seed"},
	}
}

const (
	land  = gv1.Domain_DOMAIN_LAND
	air   = gv1.Domain_DOMAIN_AIR
	multi = gv1.Domain_DOMAIN_MULTI_DOMAIN
	hubs  = gv1.Capability_CAPABILITY_MILITARY_HUBS
	watch = gv1.Capability_CAPABILITY_CEASEFIRE_MONITORING
	arms  = gv1.Capability_CAPABILITY_ARMAMENTS
	lead  = gv1.Role_ROLE_LEAD
	contr = gv1.Role_ROLE_CONTRIBUTOR
	supp  = gv1.Role_ROLE_SUPPORTER
)

func hubsUK() *gv1.Guarantee {
	g := guarantee(actor("actors/gbr"), land, hubs, lead, "UK military hubs in Ukraine")
	g.Conditions = []*gv1.Condition{{Id: "ceasefire", Kind: gv1.ConditionKind_CONDITION_KIND_CEASEFIRE_IN_FORCE, Description: "after a cease-fire"}}
	return g
}

func create(t testing.TB, ctx context.Context, c gv1.GuaranteesServiceClient, id string, g *gv1.Guarantee) *gv1.Guarantee {
	t.Helper()
	resp, err := c.CreateGuarantee(ctx, &gv1.CreateGuaranteeRequest{GuaranteeId: id, Guarantee: g})
	if err != nil {
		t.Fatalf("create guarantee %s: %v", id, err)
	}
	return resp.GetGuarantee()
}

func transition(t testing.TB, ctx context.Context, c gv1.GuaranteesServiceClient, name string, to gv1.GuaranteeStatus) *gv1.Guarantee {
	t.Helper()
	resp, err := c.TransitionGuarantee(ctx, &gv1.TransitionGuaranteeRequest{
		Name: name, TargetStatus: to, Reason: "as announced", EvidenceEvent: "events/paris-summit",
	})
	if err != nil {
		t.Fatalf("transition %s to %s: %v", name, to, err)
	}
	return resp.GetGuarantee()
}

func TestHealthAndAuthentication(t *testing.T) {
	t.Parallel()
	h := guaranteestest.Start(t, guaranteestest.SQLite)
	ctx := context.Background()
	resp, err := healthpb.NewHealthClient(h.Conn).Check(ctx, &healthpb.HealthCheckRequest{Service: gv1.GuaranteesService_ServiceDesc.ServiceName})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, %v", resp, err)
	}
	_, err = h.Client().ListGuarantees(ctx, &gv1.ListGuaranteesRequest{})
	servicetest.WantCode(t, err, codes.Unauthenticated)
	forger := &guaranteestest.Harness{T: t, Key: []byte(strings.Repeat("f", 32))}
	_, err = h.Client().ListGuarantees(forger.As(ctx, guaranteestest.Admin), &gv1.ListGuaranteesRequest{})
	servicetest.WantCode(t, err, codes.Unauthenticated)
	_, err = h.Client().CreateFramework(h.Context(t, guaranteestest.Viewer), &gv1.CreateFrameworkRequest{FrameworkId: "paris", Framework: parisDeclaration()})
	servicetest.WantCode(t, err, codes.PermissionDenied)
}

func TestFrameworks(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *guaranteestest.Harness) {
		ctx := h.Context(t, guaranteestest.Editor)
		guaranteestest.PublishEvents(h, summitDay, seedRefs...)
		c := h.Client()
		req := &gv1.CreateFrameworkRequest{FrameworkId: "paris", Framework: parisDeclaration(), RequestId: "req-1"}
		first, err := c.CreateFramework(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		f := first.GetFramework()
		if f.GetName() != "frameworks/paris" || f.GetEtag() == "" || f.GetCreateTime() == nil || f.GetLicense() != typev1.License_LICENSE_PUBLIC {
			t.Fatalf("created framework lacks server fields: %v", f)
		}
		again, err := c.CreateFramework(ctx, req)
		if err != nil || !proto.Equal(again.GetFramework(), f) {
			t.Fatalf("retry with the same request_id = %v, %v", again, err)
		}
		_, err = c.CreateFramework(ctx, &gv1.CreateFrameworkRequest{FrameworkId: "paris", Framework: parisDeclaration()})
		servicetest.WantCode(t, err, codes.AlreadyExists)

		unknown := parisDeclaration()
		unknown.ThirdParties = append(unknown.ThirdParties, "actors/atlantis")
		_, err = c.CreateFramework(ctx, &gv1.CreateFrameworkRequest{FrameworkId: "other", Framework: unknown})
		if st := servicetest.WantCode(t, err, codes.FailedPrecondition); !strings.Contains(st.Message(), "framework.third_parties[2] names actors/atlantis") {
			t.Errorf("message %q does not name the unknown actor", st.Message())
		}
		related := parisDeclaration()
		related.RelatedFrameworks = []string{"frameworks/nope"}
		_, err = c.CreateFramework(ctx, &gv1.CreateFrameworkRequest{FrameworkId: "other", Framework: related})
		servicetest.WantCode(t, err, codes.FailedPrecondition)

		upd, err := c.UpdateFramework(ctx, &gv1.UpdateFrameworkRequest{
			Framework:  &gv1.Framework{Name: "frameworks/paris", Title: "Paris Declaration (6 January)", Etag: f.GetEtag()},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}},
		})
		if err != nil || upd.GetFramework().GetTitle() != "Paris Declaration (6 January)" || upd.GetFramework().GetSummary() != f.GetSummary() {
			t.Fatalf("update = %v, %v", upd, err)
		}
		_, err = c.UpdateFramework(ctx, &gv1.UpdateFrameworkRequest{
			Framework:  &gv1.Framework{Name: "frameworks/paris", Title: "stale", Etag: f.GetEtag()},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}},
		})
		servicetest.WantCode(t, err, codes.Aborted)
		_, err = c.UpdateFramework(ctx, &gv1.UpdateFrameworkRequest{
			Framework: &gv1.Framework{Name: "frameworks/paris"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"visibility"}},
		})
		if v := servicetest.Violations(servicetest.WantCode(t, err, codes.InvalidArgument)); !slices.Contains(v, "update_mask") {
			t.Errorf("violations %v", v)
		}

		for _, tt := range []struct {
			filter string
			want   int
		}{
			{`kind = DECLARATION`, 1}, {`kind = TREATY`, 0}, {`third_party = "actors/gbr"`, 1}, {`party = "actors/gbr"`, 0},
			{`tags:"pa*"`, 1}, {`search:"monitoring"`, 1}, {`adopted.time >= "2026-01-01"`, 1}, {`stage = FRAMEWORK AND status = ADOPTED`, 1},
		} {
			resp, err := c.ListFrameworks(ctx, &gv1.ListFrameworksRequest{Filter: tt.filter})
			if err != nil || len(resp.GetFrameworks()) != tt.want {
				t.Errorf("filter %q: %d frameworks, %v; want %d", tt.filter, len(resp.GetFrameworks()), err, tt.want)
			}
		}

		// A framework with live guarantees cannot go.
		g := create(t, ctx, c, "hubs", hubsUK())
		_, err = c.DeleteFramework(ctx, &gv1.DeleteFrameworkRequest{Name: "frameworks/paris"})
		if st := servicetest.WantCode(t, err, codes.FailedPrecondition); !strings.Contains(st.Message(), "guarantees/hubs") {
			t.Errorf("message %q does not name the guarantee", st.Message())
		}
		if _, err := c.DeleteGuarantee(ctx, &gv1.DeleteGuaranteeRequest{Name: g.GetName(), Etag: g.GetEtag()}); err != nil {
			t.Fatal(err)
		}
		del, err := c.DeleteFramework(ctx, &gv1.DeleteFrameworkRequest{Name: "frameworks/paris"})
		if err != nil || del.GetFramework().GetDeleteTime() == nil {
			t.Fatalf("delete = %v, %v", del, err)
		}
		_, err = c.GetFramework(ctx, &gv1.GetFrameworkRequest{Name: "frameworks/paris"})
		servicetest.WantCode(t, err, codes.NotFound)
		tomb, err := c.GetFramework(ctx, &gv1.GetFrameworkRequest{Name: "frameworks/paris", ShowDeleted: true})
		if err != nil || tomb.GetFramework().GetDeleteTime() == nil {
			t.Fatalf("show_deleted get = %v, %v", tomb, err)
		}

		// Imports come in batches: all or nothing, existing ids per the policy.
		g7 := parisDeclaration()
		g7.Title = "G7 Joint Declaration of Support for Ukraine"
		g7.Kind = gv1.FrameworkKind_FRAMEWORK_KIND_JOINT_STATEMENT
		batch := &gv1.BatchCreateFrameworksRequest{Requests: []*gv1.CreateFrameworkRequest{
			{FrameworkId: "g7", Framework: g7}, {FrameworkId: "uk-ukr", Framework: parisDeclaration()},
		}}
		resp, err := c.BatchCreateFrameworks(ctx, batch)
		if err != nil || len(resp.GetFrameworks()) != 2 || resp.GetFrameworks()[0].GetName() != "frameworks/g7" {
			t.Fatalf("batch = %v, %v", resp, err)
		}
		batch.ExistingPolicy = typev1.ExistingPolicy_EXISTING_POLICY_SKIP
		batch.Requests = append(batch.Requests, &gv1.CreateFrameworkRequest{FrameworkId: "bad", Framework: &gv1.Framework{Kind: g7.Kind}})
		_, err = c.BatchCreateFrameworks(ctx, batch)
		if v := servicetest.Violations(servicetest.WantCode(t, err, codes.InvalidArgument)); !slices.Contains(v, "requests[2].framework.title") {
			t.Errorf("violations %v", v)
		}
	})
}

func TestCreateGuaranteeAndReferences(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *guaranteestest.Harness) {
		ctx := h.Context(t, guaranteestest.Editor)
		c := seed(t, h, ctx)
		g := hubsUK()
		g.Status = gv1.GuaranteeStatus_GUARANTEE_STATUS_ACTIVE // output only: ignored
		g.Conditions[0].Satisfied = true                       // likewise
		req := &gv1.CreateGuaranteeRequest{GuaranteeId: "uk-hubs", Guarantee: g, RequestId: "req-1"}
		first, err := c.CreateGuarantee(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		got := first.GetGuarantee()
		if got.GetStatus() != gv1.GuaranteeStatus_GUARANTEE_STATUS_PROPOSED || got.GetStatusTime() == nil {
			t.Errorf("new guarantee status %v at %v, want PROPOSED", got.GetStatus(), got.GetStatusTime())
		}
		if got.GetConditions()[0].GetSatisfied() {
			t.Error("a client marked a condition satisfied on create")
		}
		if got.GetRatification().GetState() != gv1.RatificationState_RATIFICATION_STATE_NOT_STARTED {
			t.Errorf("ratification = %v", got.GetRatification())
		}
		if got.GetBindingLevel() != gv1.BindingLevel_BINDING_LEVEL_POLITICAL || got.GetVisibility() != typev1.Visibility_VISIBILITY_PUBLIC {
			t.Errorf("defaults not derived: %v %v", got.GetBindingLevel(), got.GetVisibility())
		}
		again, err := c.CreateGuarantee(ctx, req)
		if err != nil || !proto.Equal(again.GetGuarantee(), got) {
			t.Fatalf("retry with the same request_id = %v, %v", again, err)
		}
		_, err = c.CreateGuarantee(ctx, &gv1.CreateGuaranteeRequest{GuaranteeId: "uk-hubs", Guarantee: hubsUK(), RequestId: "req-2"})
		servicetest.WantCode(t, err, codes.AlreadyExists)

		undisclosedLead := guarantee(undisclosed("countries identified to lead on land"), land, gv1.Capability_CAPABILITY_TROOPS, lead, "Land lead")
		if g := create(t, ctx, c, "land-lead", undisclosedLead); g.GetGuarantor().GetUndisclosed().GetDescription() == "" {
			t.Errorf("undisclosed guarantor lost: %v", g.GetGuarantor())
		}

		tests := []struct {
			name, mention string
			edit          func(g *gv1.Guarantee)
		}{
			{"unknown beneficiary", "guarantee.beneficiary names actors/atlantis", func(g *gv1.Guarantee) { g.Beneficiary = "actors/atlantis" }},
			{"unknown guarantor", "guarantee.guarantor.actor names actors/atlantis", func(g *gv1.Guarantee) { g.Guarantor = actor("actors/atlantis") }},
			{"unknown source event", "guarantee.source_events[1] names events/nope", func(g *gv1.Guarantee) { g.SourceEvents = append(g.SourceEvents, "events/nope") }},
			{"unknown framework", "guarantee.framework names frameworks/nope", func(g *gv1.Guarantee) { g.Framework = "frameworks/nope" }},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				g := hubsUK()
				tt.edit(g)
				_, err := c.CreateGuarantee(ctx, &gv1.CreateGuaranteeRequest{GuaranteeId: "x", Guarantee: g})
				st := servicetest.WantCode(t, err, codes.FailedPrecondition)
				if !strings.Contains(st.Message(), tt.mention) {
					t.Errorf("message %q does not say %q", st.Message(), tt.mention)
				}
			})
		}
		_, err = c.CreateGuarantee(ctx, &gv1.CreateGuaranteeRequest{GuaranteeId: "x", Guarantee: func() *gv1.Guarantee {
			g := hubsUK()
			g.SourceEvents = []string{"events/nope"}
			return g
		}()})
		if st := servicetest.WantCode(t, err, codes.FailedPrecondition); !strings.Contains(st.Message(), "sequence 8") || !strings.Contains(st.Message(), "retry") {
			t.Errorf("message %q does not say how far the projection is and to retry", st.Message())
		}
	})
}

func TestInvalidGuarantees(t *testing.T) {
	t.Parallel()
	h := guaranteestest.Start(t, guaranteestest.SQLite)
	ctx := h.Context(t, guaranteestest.Editor)
	c := seed(t, h, ctx)
	edit := func(f func(g *gv1.Guarantee)) *gv1.Guarantee {
		g := hubsUK()
		f(g)
		return g
	}
	tests := []struct {
		name  string
		id    string
		g     *gv1.Guarantee
		field string
	}{
		{"missing title", "a", edit(func(g *gv1.Guarantee) { g.Title = "" }), "guarantee.title"},
		{"missing guarantor", "a", edit(func(g *gv1.Guarantee) { g.Guarantor = nil }), "guarantee.guarantor"},
		// A Party whose actor is set but empty is no guarantor: an unnamed guarantor must be
		// said to be undisclosed, never left as an empty string.
		{"guarantor with an empty actor", "a", edit(func(g *gv1.Guarantee) { g.Guarantor = actor("") }), "guarantee.guarantor.actor"},
		{"missing domain", "a", edit(func(g *gv1.Guarantee) { g.Domain = 0 }), "guarantee.domain"},
		{"missing role", "a", edit(func(g *gv1.Guarantee) { g.Role = 0 }), "guarantee.role"},
		{"troops out of order", "a", edit(func(g *gv1.Guarantee) {
			g.Quantity = &gv1.Quantity{TroopsMin: proto.Int64(5000), TroopsMax: proto.Int64(100)}
		}), "guarantee.quantity.troops_max"},
		{"legislative approval without a body", "a", edit(func(g *gv1.Guarantee) {
			g.Conditions = append(g.Conditions, &gv1.Condition{Id: "vote", Kind: gv1.ConditionKind_CONDITION_KIND_LEGISLATIVE_APPROVAL})
		}), "guarantee.conditions[1].legislative_body"},
		// OTHER says nothing by itself: validate.go requires the description that says
		// what the condition is.
		{"other condition without a description", "a", edit(func(g *gv1.Guarantee) {
			g.Conditions = append(g.Conditions, &gv1.Condition{Id: "misc", Kind: gv1.ConditionKind_CONDITION_KIND_OTHER})
		}), "guarantee.conditions[1].description"},
		{"repeated condition id", "a", edit(func(g *gv1.Guarantee) {
			g.Conditions = append(g.Conditions, &gv1.Condition{Id: "ceasefire", Kind: gv1.ConditionKind_CONDITION_KIND_RENEWED_AGGRESSION})
		}), "guarantee.conditions[1].id"},
		{"bad id", "Not_An_Id", hubsUK(), "guarantee_id"},
		{"missing id", "", hubsUK(), "guarantee_id"},
		{"bad beneficiary name", "a", edit(func(g *gv1.Guarantee) { g.Beneficiary = "ukraine" }), "guarantee.beneficiary"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.CreateGuarantee(ctx, &gv1.CreateGuaranteeRequest{GuaranteeId: tt.id, Guarantee: tt.g})
			if v := servicetest.Violations(servicetest.WantCode(t, err, codes.InvalidArgument)); !slices.Contains(v, tt.field) {
				t.Errorf("violations = %v, want %s", v, tt.field)
			}
		})
	}
	_, err := c.ListGuarantees(ctx, &gv1.ListGuaranteesRequest{PageSize: -1})
	servicetest.WantCode(t, err, codes.InvalidArgument)
}

func TestUpdateGuarantee(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *guaranteestest.Harness) {
		ctx := h.Context(t, guaranteestest.Editor)
		c := seed(t, h, ctx)
		g := create(t, ctx, c, "uk-hubs", hubsUK())
		sat, err := c.SatisfyCondition(ctx, &gv1.SatisfyConditionRequest{Name: g.GetName(), ConditionId: "ceasefire", EvidenceEvent: "events/ceasefire"})
		if err != nil {
			t.Fatal(err)
		}
		// Status and the other lifecycle fields change only through their own methods.
		for _, path := range []string{"status", "ratification_actions", "ratification", "suspended_from", "status_time"} {
			_, err := c.UpdateGuarantee(ctx, &gv1.UpdateGuaranteeRequest{
				Guarantee:  &gv1.Guarantee{Name: g.GetName(), Status: gv1.GuaranteeStatus_GUARANTEE_STATUS_ACTIVE},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{path}},
			})
			if v := servicetest.Violations(servicetest.WantCode(t, err, codes.InvalidArgument)); !slices.Contains(v, "update_mask") {
				t.Errorf("path %s: violations %v", path, v)
			}
		}
		// Rewriting the conditions keeps what SatisfyCondition recorded.
		upd, err := c.UpdateGuarantee(ctx, &gv1.UpdateGuaranteeRequest{
			Guarantee: &gv1.Guarantee{Name: g.GetName(), Title: "UK and French military hubs", Etag: sat.GetGuarantee().GetEtag(), Conditions: []*gv1.Condition{
				{Id: "ceasefire", Kind: gv1.ConditionKind_CONDITION_KIND_CEASEFIRE_IN_FORCE, Description: "once a cease-fire holds"},
				{Id: "commons", Kind: gv1.ConditionKind_CONDITION_KIND_LEGISLATIVE_APPROVAL, LegislativeBody: "House of Commons", Satisfied: true},
			}},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title", "conditions"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		conds := upd.GetGuarantee().GetConditions()
		if !conds[0].GetSatisfied() || conds[0].GetEvidenceEvent() != "events/ceasefire" || conds[1].GetSatisfied() {
			t.Errorf("conditions after update: %v", conds)
		}
		if upd.GetGuarantee().GetTitle() != "UK and French military hubs" || upd.GetGuarantee().GetStatus() != gv1.GuaranteeStatus_GUARANTEE_STATUS_PROPOSED {
			t.Errorf("update result %v", upd.GetGuarantee())
		}
		_, err = c.UpdateGuarantee(ctx, &gv1.UpdateGuaranteeRequest{
			Guarantee: &gv1.Guarantee{Name: g.GetName(), Title: "stale", Etag: g.GetEtag()}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}},
		})
		servicetest.WantCode(t, err, codes.Aborted)

		// The "*" mask replaces every field a client may write. Status is not one of them
		// (the issue: it changes only through Transition, never through Update), so a full
		// replacement carrying another status and lifecycle fields is accepted for what it
		// may change and leaves the lifecycle as Transition last set it.
		pledged := transition(t, ctx, c, g.GetName(), gv1.GuaranteeStatus_GUARANTEE_STATUS_PLEDGED)
		full := proto.CloneOf(pledged)
		full.Title = "UK-led military hubs"
		full.Status = gv1.GuaranteeStatus_GUARANTEE_STATUS_ACTIVE
		full.StatusReason, full.StatusEvidence = "forged", "events/commons-vote"
		full.SuspendedFrom = gv1.GuaranteeStatus_GUARANTEE_STATUS_RATIFIED
		full.StatusTime = timestamppb.New(summitDay)
		full.Conditions[1].Satisfied = true
		star, err := c.UpdateGuarantee(ctx, &gv1.UpdateGuaranteeRequest{Guarantee: full, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"*"}}})
		if err != nil {
			t.Fatalf("update with mask *: %v", err)
		}
		sg := star.GetGuarantee()
		if sg.GetTitle() != "UK-led military hubs" {
			t.Errorf("the * update did not apply the title: %q", sg.GetTitle())
		}
		if sg.GetStatus() != gv1.GuaranteeStatus_GUARANTEE_STATUS_PLEDGED || sg.GetStatusReason() != pledged.GetStatusReason() ||
			sg.GetStatusEvidence() != pledged.GetStatusEvidence() || sg.GetSuspendedFrom() != gv1.GuaranteeStatus_GUARANTEE_STATUS_UNSPECIFIED ||
			!proto.Equal(sg.GetStatusTime(), pledged.GetStatusTime()) || sg.GetConditions()[1].GetSatisfied() {
			t.Errorf("the * update changed the lifecycle: %v", sg)
		}
		stored, err := c.GetGuarantee(ctx, &gv1.GetGuaranteeRequest{Name: g.GetName()})
		if err != nil || stored.GetGuarantee().GetStatus() != gv1.GuaranteeStatus_GUARANTEE_STATUS_PLEDGED {
			t.Errorf("stored after the * update = %v, %v", stored, err)
		}
		hist, err := c.ListHistory(ctx, &gv1.ListHistoryRequest{Name: g.GetName()})
		if err != nil {
			t.Fatal(err)
		}
		last := hist.GetChanges()[len(hist.GetChanges())-1]
		if last.GetKind() != typev1.ChangeKind_CHANGE_KIND_UPDATED || !slices.Contains(last.GetChangedFields().GetPaths(), "title") ||
			slices.Contains(last.GetChangedFields().GetPaths(), "status") {
			t.Errorf("the * update recorded %v changing %v", last.GetKind(), last.GetChangedFields().GetPaths())
		}
		_, err = c.UpdateGuarantee(ctx, &gv1.UpdateGuaranteeRequest{
			Guarantee: &gv1.Guarantee{Name: g.GetName(), Beneficiary: "actors/atlantis"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"beneficiary"}},
		})
		servicetest.WantCode(t, err, codes.FailedPrecondition)
	})
}

func names(gs []*gv1.Guarantee) []string {
	out := make([]string, len(gs))
	for i, g := range gs {
		out[i] = strings.TrimPrefix(g.GetName(), "guarantees/")
	}
	return out
}

func TestListGuaranteeFilters(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *guaranteestest.Harness) {
		ctx := h.Context(t, guaranteestest.Editor)
		c := seed(t, h, ctx)
		create(t, ctx, c, "uk-hubs", hubsUK())
		fr := guarantee(actor("actors/fra"), land, hubs, lead, "French military hubs")
		fr.BindingLevel = gv1.BindingLevel_BINDING_LEVEL_LEGALLY_BINDING
		create(t, ctx, c, "fr-hubs", fr)
		us := guarantee(actor("actors/usa"), multi, watch, lead, "US-led monitoring and verification of a cease-fire")
		us.Tags = []string{"monitoring"}
		create(t, ctx, c, "us-monitoring", us)
		create(t, ctx, c, "land-lead", guarantee(undisclosed("countries ready to lead on land"), land, gv1.Capability_CAPABILITY_TROOPS, lead, "Land lead"))
		de := guarantee(actor("actors/deu"), air, arms, supp, "German armaments")
		create(t, ctx, c, "de-arms", de)
		transition(t, ctx, c, "guarantees/us-monitoring", gv1.GuaranteeStatus_GUARANTEE_STATUS_PLEDGED)
		// Every guarantee above is for Ukraine under the Paris Declaration, so a beneficiary
		// or framework filter the service ignored (or applied to the wrong column) would
		// still pass. These two differ from them in one of the two each: us-to-uk only in its
		// beneficiary, g7-training only in its framework.
		g7 := parisDeclaration()
		g7.Title = "G7 Joint Declaration of Support for Ukraine"
		g7.Kind = gv1.FrameworkKind_FRAMEWORK_KIND_JOINT_STATEMENT
		if _, err := c.CreateFramework(ctx, &gv1.CreateFrameworkRequest{FrameworkId: "g7", Framework: g7}); err != nil {
			t.Fatal(err)
		}
		toUK := guarantee(actor("actors/usa"), gv1.Domain_DOMAIN_SEA, gv1.Capability_CAPABILITY_LOGISTICS, contr, "US naval logistics for the UK")
		toUK.Beneficiary = "actors/gbr"
		create(t, ctx, c, "us-to-uk", toUK)
		underG7 := guarantee(actor("actors/deu"), gv1.Domain_DOMAIN_CYBER, gv1.Capability_CAPABILITY_TRAINING, contr, "German cyber training")
		underG7.Framework = "frameworks/g7"
		create(t, ctx, c, "g7-training", underG7)
		paris := []string{"uk-hubs", "fr-hubs", "us-monitoring", "land-lead", "de-arms"}
		with := func(extra ...string) []string { return append(slices.Clone(paris), extra...) }

		tests := []struct {
			filter string
			want   []string
		}{
			{"", with("us-to-uk", "g7-training")},
			{`beneficiary = "actors/ukr"`, with("g7-training")},
			{`beneficiary = "actors/gbr"`, []string{"us-to-uk"}},
			{`beneficiary != "actors/ukr"`, []string{"us-to-uk"}},
			{`framework = "frameworks/paris"`, with("us-to-uk")},
			{`framework = "frameworks/g7"`, []string{"g7-training"}},
			{`framework != "frameworks/paris"`, []string{"g7-training"}},
			{`beneficiary = "actors/ukr" AND framework = "frameworks/paris"`, paris},
			{`guarantor = "actors/gbr"`, []string{"uk-hubs"}},
			{`guarantor = "undisclosed"`, []string{"land-lead"}},
			{`beneficiary = "actors/ukr" AND domain = LAND`, []string{"uk-hubs", "fr-hubs", "land-lead"}},
			{`capability = MILITARY_HUBS AND role = LEAD`, []string{"uk-hubs", "fr-hubs"}},
			{`role = SUPPORTER`, []string{"de-arms"}},
			{`status = PLEDGED`, []string{"us-monitoring"}},
			{`status != PLEDGED AND domain = MULTI_DOMAIN`, nil},
			{`binding_level = LEGALLY_BINDING`, []string{"fr-hubs"}},
			{`framework = "frameworks/paris" AND license = PUBLIC`, with("us-to-uk")},
			{`tags:"monitor*"`, []string{"us-monitoring"}},
			{`search:"verification"`, []string{"us-monitoring"}},
			{`search:"cease-fire"`, []string{"uk-hubs", "us-monitoring"}},
		}
		for _, tt := range tests {
			t.Run(tt.filter, func(t *testing.T) {
				resp, err := c.ListGuarantees(ctx, &gv1.ListGuaranteesRequest{Filter: tt.filter})
				if err != nil {
					t.Fatal(err)
				}
				if got := names(resp.GetGuarantees()); !slices.Equal(got, tt.want) {
					t.Errorf("got %v, want %v", got, tt.want)
				}
			})
		}

		// GetCoverage takes the same two scopes as request fields: a guarantee outside the
		// framework or for another beneficiary is neither listed in a cell nor counted in
		// its status_counts; without the scope it is both.
		for _, tt := range []struct {
			name string
			req  *gv1.GetCoverageRequest
			want []string
		}{
			{"unscoped", &gv1.GetCoverageRequest{}, with("us-to-uk", "g7-training")},
			{"paris", &gv1.GetCoverageRequest{Framework: "frameworks/paris"}, with("us-to-uk")},
			{"g7", &gv1.GetCoverageRequest{Framework: "frameworks/g7"}, []string{"g7-training"}},
			{"for ukraine", &gv1.GetCoverageRequest{Beneficiary: "actors/ukr"}, with("g7-training")},
			{"paris for ukraine", &gv1.GetCoverageRequest{Framework: "frameworks/paris", Beneficiary: "actors/ukr"}, paris},
		} {
			t.Run("coverage "+tt.name, func(t *testing.T) {
				resp, err := c.GetCoverage(ctx, tt.req)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				var counted int32
				for _, cell := range resp.GetCells() {
					for _, n := range cell.GetGuarantees() {
						got = append(got, strings.TrimPrefix(n, "guarantees/"))
					}
					for _, sc := range cell.GetStatusCounts() {
						counted += sc.GetCount()
					}
				}
				slices.Sort(got)
				want := slices.Sorted(slices.Values(tt.want))
				if !slices.Equal(got, want) {
					t.Errorf("guarantees in the cells %v, want %v", got, want)
				}
				if int(counted) != len(want) {
					t.Errorf("status counts add up to %d, want %d", counted, len(want))
				}
				// The G7 guarantee is alone in its cell: the cell is there exactly when it counts.
				if hasCell, wantCell := cellOf(resp.GetCells(), gv1.Domain_DOMAIN_CYBER, gv1.Capability_CAPABILITY_TRAINING) != nil, slices.Contains(want, "g7-training"); hasCell != wantCell {
					t.Errorf("cyber/training cell present = %v, want %v", hasCell, wantCell)
				}
			})
		}

		_, err := c.ListGuarantees(ctx, &gv1.ListGuaranteesRequest{Filter: `colour = "red"`})
		servicetest.WantCode(t, err, codes.InvalidArgument)
		_, err = c.ListGuarantees(ctx, &gv1.ListGuaranteesRequest{OrderBy: "title"})
		servicetest.WantCode(t, err, codes.InvalidArgument)

		// Pages, bound to their query.
		var all []string
		token := ""
		for range 5 {
			resp, err := c.ListGuarantees(ctx, &gv1.ListGuaranteesRequest{PageSize: 2, PageToken: token, Filter: `beneficiary = "actors/ukr"`, IncludeTotal: true})
			if err != nil {
				t.Fatal(err)
			}
			if resp.GetTotalSize() != 6 || resp.GetResourceVersion() == 0 {
				t.Errorf("total %d, version %d", resp.GetTotalSize(), resp.GetResourceVersion())
			}
			all = append(all, names(resp.GetGuarantees())...)
			if token = resp.GetNextPageToken(); token == "" {
				break
			}
		}
		if want := with("g7-training"); !slices.Equal(all, want) {
			t.Errorf("pages = %v, want %v", all, want)
		}
		first, err := c.ListGuarantees(ctx, &gv1.ListGuaranteesRequest{PageSize: 2})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.ListGuarantees(ctx, &gv1.ListGuaranteesRequest{PageSize: 2, Filter: "role = LEAD", PageToken: first.GetNextPageToken()})
		if v := servicetest.Violations(servicetest.WantCode(t, err, codes.InvalidArgument)); !slices.Contains(v, "page_token") {
			t.Errorf("violations %v", v)
		}
	})
}

func TestTransitions(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *guaranteestest.Harness) {
		ctx := h.Context(t, guaranteestest.Editor)
		c := seed(t, h, ctx)
		g := create(t, ctx, c, "uk-hubs", hubsUK())
		name := g.GetName()

		_, err := c.TransitionGuarantee(ctx, &gv1.TransitionGuaranteeRequest{
			Name: name, TargetStatus: gv1.GuaranteeStatus_GUARANTEE_STATUS_ACTIVE, Reason: "too soon", EvidenceEvent: "events/paris-summit",
		})
		st := servicetest.WantCode(t, err, codes.FailedPrecondition)
		if !strings.Contains(st.Message(), "from PROPOSED to ACTIVE") || !strings.Contains(st.Message(), "PLEDGED, WITHDRAWN") {
			t.Errorf("illegal move message %q does not list the allowed moves", st.Message())
		}
		_, err = c.TransitionGuarantee(ctx, &gv1.TransitionGuaranteeRequest{
			Name: name, TargetStatus: gv1.GuaranteeStatus_GUARANTEE_STATUS_PLEDGED, Reason: "pledged", EvidenceEvent: "events/nope",
		})
		if st := servicetest.WantCode(t, err, codes.FailedPrecondition); !strings.Contains(st.Message(), "evidence_event names events/nope") {
			t.Errorf("message %q", st.Message())
		}
		_, err = c.TransitionGuarantee(ctx, &gv1.TransitionGuaranteeRequest{Name: name, TargetStatus: gv1.GuaranteeStatus_GUARANTEE_STATUS_PLEDGED, EvidenceEvent: "events/paris-summit"})
		if v := servicetest.Violations(servicetest.WantCode(t, err, codes.InvalidArgument)); !slices.Contains(v, "reason") {
			t.Errorf("violations %v", v)
		}
		_, err = c.TransitionGuarantee(ctx, &gv1.TransitionGuaranteeRequest{
			Name: name, TargetStatus: gv1.GuaranteeStatus_GUARANTEE_STATUS_PLEDGED, Reason: "x", EvidenceEvent: "events/paris-summit", Etag: `"stale"`,
		})
		servicetest.WantCode(t, err, codes.Aborted)

		req := &gv1.TransitionGuaranteeRequest{
			Name: name, TargetStatus: gv1.GuaranteeStatus_GUARANTEE_STATUS_PLEDGED, Reason: "announced at the summit",
			EvidenceEvent: "events/paris-summit", Etag: g.GetEtag(), RequestId: "t-1",
		}
		pledged, err := c.TransitionGuarantee(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		p := pledged.GetGuarantee()
		if p.GetStatus() != gv1.GuaranteeStatus_GUARANTEE_STATUS_PLEDGED || p.GetStatusReason() != "announced at the summit" ||
			p.GetStatusEvidence() != "events/paris-summit" || !p.GetStatusTime().AsTime().After(g.GetStatusTime().AsTime()) {
			t.Errorf("after the move: %v", p)
		}
		again, err := c.TransitionGuarantee(ctx, req)
		if err != nil || !proto.Equal(again.GetGuarantee(), p) {
			t.Fatalf("retried transition = %v, %v", again, err)
		}

		// Suspension is reversible, back to where it came from only.
		transition(t, ctx, c, name, gv1.GuaranteeStatus_GUARANTEE_STATUS_AWAITING_RATIFICATION)
		s := transition(t, ctx, c, name, gv1.GuaranteeStatus_GUARANTEE_STATUS_SUSPENDED)
		if s.GetSuspendedFrom() != gv1.GuaranteeStatus_GUARANTEE_STATUS_AWAITING_RATIFICATION {
			t.Errorf("suspended_from = %v", s.GetSuspendedFrom())
		}
		_, err = c.TransitionGuarantee(ctx, &gv1.TransitionGuaranteeRequest{
			Name: name, TargetStatus: gv1.GuaranteeStatus_GUARANTEE_STATUS_PLEDGED, Reason: "x", EvidenceEvent: "events/paris-summit",
		})
		if st := servicetest.WantCode(t, err, codes.FailedPrecondition); !strings.Contains(st.Message(), "AWAITING_RATIFICATION, WITHDRAWN") {
			t.Errorf("message %q", st.Message())
		}
		back := transition(t, ctx, c, name, gv1.GuaranteeStatus_GUARANTEE_STATUS_AWAITING_RATIFICATION)
		if back.GetSuspendedFrom() != gv1.GuaranteeStatus_GUARANTEE_STATUS_UNSPECIFIED {
			t.Errorf("suspended_from kept after resuming: %v", back.GetSuspendedFrom())
		}
		transition(t, ctx, c, name, gv1.GuaranteeStatus_GUARANTEE_STATUS_WITHDRAWN)
		_, err = c.TransitionGuarantee(ctx, &gv1.TransitionGuaranteeRequest{
			Name: name, TargetStatus: gv1.GuaranteeStatus_GUARANTEE_STATUS_PLEDGED, Reason: "x", EvidenceEvent: "events/paris-summit",
		})
		if st := servicetest.WantCode(t, err, codes.FailedPrecondition); !strings.Contains(st.Message(), "final") {
			t.Errorf("message %q", st.Message())
		}

		hist, err := c.ListHistory(ctx, &gv1.ListHistoryRequest{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		var kinds []typev1.ChangeKind
		for _, ch := range hist.GetChanges() {
			kinds = append(kinds, ch.GetKind())
		}
		tr := typev1.ChangeKind_CHANGE_KIND_TRANSITIONED
		if want := []typev1.ChangeKind{typev1.ChangeKind_CHANGE_KIND_CREATED, tr, tr, tr, tr, tr}; !slices.Equal(kinds, want) {
			t.Fatalf("history kinds %v, want %v", kinds, want)
		}
		ch := hist.GetChanges()[1]
		if ch.GetReason() != "announced at the summit" || ch.GetEvidenceEvent() != "events/paris-summit" || ch.GetRequestId() != "t-1" ||
			!slices.Contains(ch.GetChangedFields().GetPaths(), "status") || ch.GetGuarantee().GetStatus() != gv1.GuaranteeStatus_GUARANTEE_STATUS_PLEDGED {
			t.Errorf("transition change %v", ch)
		}
	})
}

func TestRatificationAndConditions(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *guaranteestest.Harness) {
		ctx := h.Context(t, guaranteestest.Editor)
		c := seed(t, h, ctx)
		g := create(t, ctx, c, "uk-hubs", hubsUK())
		record := func(nation string, typ gv1.RatificationActionType, day, body string) *gv1.Guarantee {
			t.Helper()
			resp, err := c.RecordRatificationAction(ctx, &gv1.RecordRatificationActionRequest{Name: g.GetName(), Action: &gv1.RatificationAction{
				Nation: nation, Type: typ, ActionTime: timestamppb.New(date(day)), Body: body,
			}})
			if err != nil {
				t.Fatalf("record %s %s: %v", nation, typ, err)
			}
			return resp.GetGuarantee()
		}
		sig := gv1.RatificationActionType_RATIFICATION_ACTION_TYPE_SIGNATURE
		parl := gv1.RatificationActionType_RATIFICATION_ACTION_TYPE_PARLIAMENTARY_APPROVAL
		force := gv1.RatificationActionType_RATIFICATION_ACTION_TYPE_ENTRY_INTO_FORCE
		if got := record("actors/gbr", sig, "2026-01-10", "").GetRatification().GetState(); got != gv1.RatificationState_RATIFICATION_STATE_SIGNED {
			t.Errorf("after a signature: %v", got)
		}
		r := record("actors/gbr", parl, "2026-02-10", "House of Commons")
		if r.GetRatification().GetState() != gv1.RatificationState_RATIFICATION_STATE_IN_PROGRESS ||
			r.GetRatification().GetNations()[0].GetFurthest() != parl {
			t.Errorf("after approval: %v", r.GetRatification())
		}
		// Recorded out of order: kept oldest first.
		record("actors/fra", sig, "2026-01-08", "")
		r = record("actors/gbr", force, "2026-03-01", "")
		if r.GetRatification().GetState() != gv1.RatificationState_RATIFICATION_STATE_IN_PROGRESS {
			t.Errorf("France only signed: %v", r.GetRatification())
		}
		r = record("actors/fra", force, "2026-03-02", "")
		if r.GetRatification().GetState() != gv1.RatificationState_RATIFICATION_STATE_IN_FORCE || len(r.GetRatification().GetNations()) != 2 {
			t.Errorf("both in force: %v", r.GetRatification())
		}
		var days []string
		for _, a := range r.GetRatificationActions() {
			days = append(days, a.GetActionTime().AsTime().Format("01-02"))
		}
		if !slices.IsSorted(days) || len(days) != 5 {
			t.Errorf("actions not oldest first: %v", days)
		}
		same := record("actors/fra", force, "2026-03-02", "")
		if same.GetEtag() != r.GetEtag() {
			t.Error("recording the same action again made a change")
		}
		_, err := c.RecordRatificationAction(ctx, &gv1.RecordRatificationActionRequest{Name: g.GetName(), Action: &gv1.RatificationAction{
			Nation: "actors/gbr", Type: parl, ActionTime: timestamppb.Now(),
		}})
		if v := servicetest.Violations(servicetest.WantCode(t, err, codes.InvalidArgument)); !slices.Contains(v, "action.body") {
			t.Errorf("violations %v", v)
		}
		_, err = c.RecordRatificationAction(ctx, &gv1.RecordRatificationActionRequest{Name: g.GetName(), Action: &gv1.RatificationAction{
			Nation: "actors/atlantis", Type: sig, ActionTime: timestamppb.Now(),
		}})
		servicetest.WantCode(t, err, codes.FailedPrecondition)

		// Conditions: satisfied by an evidence event, at its time by default.
		_, err = c.SatisfyCondition(ctx, &gv1.SatisfyConditionRequest{Name: g.GetName(), ConditionId: "nope", EvidenceEvent: "events/ceasefire"})
		servicetest.WantCode(t, err, codes.NotFound)
		// A missing argument is INVALID_ARGUMENT naming the field, so a client can tell which
		// one: above all the evidence event, without which no condition is satisfied.
		for _, tt := range []struct {
			name  string
			req   *gv1.SatisfyConditionRequest
			field string
		}{
			{"no evidence", &gv1.SatisfyConditionRequest{Name: g.GetName(), ConditionId: "ceasefire"}, "evidence_event"},
			{"no condition", &gv1.SatisfyConditionRequest{Name: g.GetName(), EvidenceEvent: "events/ceasefire"}, "condition_id"},
		} {
			_, err = c.SatisfyCondition(ctx, tt.req)
			if v := servicetest.Violations(servicetest.WantCode(t, err, codes.InvalidArgument)); !slices.Contains(v, tt.field) {
				t.Errorf("%s: violations %v, want %s", tt.name, v, tt.field)
			}
		}
		_, err = c.SatisfyCondition(ctx, &gv1.SatisfyConditionRequest{Name: g.GetName(), ConditionId: "ceasefire", EvidenceEvent: "events/nope"})
		servicetest.WantCode(t, err, codes.FailedPrecondition)
		resp, err := c.SatisfyCondition(ctx, &gv1.SatisfyConditionRequest{Name: g.GetName(), ConditionId: "ceasefire", EvidenceEvent: "events/ceasefire"})
		if err != nil {
			t.Fatal(err)
		}
		cond := resp.GetGuarantee().GetConditions()[0]
		if !cond.GetSatisfied() || cond.GetEvidenceEvent() != "events/ceasefire" || !cond.GetSatisfyTime().AsTime().Equal(summitDay) {
			t.Errorf("satisfied condition %v", cond)
		}
		_, err = c.SatisfyCondition(ctx, &gv1.SatisfyConditionRequest{Name: g.GetName(), ConditionId: "ceasefire", EvidenceEvent: "events/commons-vote"})
		servicetest.WantCode(t, err, codes.FailedPrecondition)

		hist, err := c.ListHistory(ctx, &gv1.ListHistoryRequest{Name: g.GetName(), PageSize: 4})
		if err != nil || len(hist.GetChanges()) != 4 || hist.GetNextPageToken() == "" {
			t.Fatalf("first history page %v, %v", hist, err)
		}
		rest, err := c.ListHistory(ctx, &gv1.ListHistoryRequest{Name: g.GetName(), PageSize: 4, PageToken: hist.GetNextPageToken()})
		if err != nil || len(rest.GetChanges()) != 3 || rest.GetNextPageToken() != "" {
			t.Fatalf("second history page %v, %v", rest, err)
		}
		last := rest.GetChanges()[2]
		if last.GetKind() != typev1.ChangeKind_CHANGE_KIND_CONDITION_SATISFIED || last.GetEvidenceEvent() != "events/ceasefire" {
			t.Errorf("last change %v", last)
		}
		if k := rest.GetChanges()[0].GetKind(); k != typev1.ChangeKind_CHANGE_KIND_RATIFICATION_RECORDED {
			t.Errorf("kind %v", k)
		}
		_, err = c.ListHistory(ctx, &gv1.ListHistoryRequest{Name: "guarantees/never"})
		servicetest.WantCode(t, err, codes.NotFound)
	})
}

func cellOf(cells []*gv1.CoverageCell, d gv1.Domain, c gv1.Capability) *gv1.CoverageCell {
	for _, cell := range cells {
		if cell.GetDomain() == d && cell.GetCapability() == c {
			return cell
		}
	}
	return nil
}

func TestCoverage(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *guaranteestest.Harness) {
		ctx := h.Context(t, guaranteestest.Editor)
		c := seed(t, h, ctx)
		create(t, ctx, c, "uk-hubs", hubsUK())
		fr := hubsUK()
		fr.Guarantor = actor("actors/fra")
		create(t, ctx, c, "fr-hubs", fr)
		create(t, ctx, c, "de-hubs", guarantee(actor("actors/deu"), land, hubs, contr, "German engineers"))
		create(t, ctx, c, "land-lead", guarantee(undisclosed("countries ready to lead on land"), land, gv1.Capability_CAPABILITY_TROOPS, lead, "Land lead"))
		us := create(t, ctx, c, "us-monitoring", guarantee(actor("actors/usa"), multi, watch, lead, "US-led monitoring"))
		for _, st := range []gv1.GuaranteeStatus{2, 3, 4} {
			transition(t, ctx, c, us.GetName(), st)
		}
		create(t, ctx, c, "de-arms", guarantee(actor("actors/deu"), air, arms, supp, "German armaments"))

		resp, err := c.GetCoverage(ctx, &gv1.GetCoverageRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var order []string
		for _, cell := range resp.GetCells() {
			order = append(order, cell.GetDomain().String()+"/"+cell.GetCapability().String())
		}
		if len(order) != 4 || !strings.HasPrefix(order[0], "DOMAIN_LAND/CAPABILITY_TROOPS") || !strings.HasPrefix(order[3], "DOMAIN_MULTI_DOMAIN") {
			t.Errorf("cells %v", order)
		}
		hubsCell := cellOf(resp.GetCells(), land, hubs)
		if !hubsCell.GetCoLed() || len(hubsCell.GetLeads()) != 2 || len(hubsCell.GetContributors()) != 1 {
			t.Errorf("hubs cell %v", hubsCell)
		}
		wantGaps := []gv1.Gap{gv1.Gap_GAP_NOTHING_RATIFIED, gv1.Gap_GAP_ALL_CONDITIONAL}
		if len(hubsCell.GetStatusCounts()) != 1 || hubsCell.GetStatusCounts()[0].GetCount() != 3 {
			t.Errorf("hubs counts %v", hubsCell.GetStatusCounts())
		}
		// The German contribution has no condition: not every guarantee waits on one.
		if got := hubsCell.GetGaps(); !slices.Equal(got, wantGaps[:1]) {
			t.Errorf("hubs gaps %v, want %v", got, wantGaps[:1])
		}
		if got := cellOf(resp.GetCells(), land, gv1.Capability_CAPABILITY_TROOPS).GetGaps(); !slices.Equal(got, []gv1.Gap{gv1.Gap_GAP_NOTHING_RATIFIED, gv1.Gap_GAP_LEAD_UNDISCLOSED}) {
			t.Errorf("land troops gaps %v", got)
		}
		if got := cellOf(resp.GetCells(), multi, watch).GetGaps(); len(got) != 0 {
			t.Errorf("ratified, led monitoring has gaps %v", got)
		}
		if got := cellOf(resp.GetCells(), air, arms).GetGaps(); !slices.Equal(got, []gv1.Gap{gv1.Gap_GAP_NO_LEAD, gv1.Gap_GAP_NOTHING_RATIFIED}) {
			t.Errorf("air armaments gaps %v", got)
		}
		if resp.GetResourceVersion() == 0 || resp.GetReadTime() == nil {
			t.Errorf("version %d, read time %v", resp.GetResourceVersion(), resp.GetReadTime())
		}
		// Withdrawing the German contribution leaves every live hub guarantee conditional.
		transition(t, ctx, c, "guarantees/de-hubs", gv1.GuaranteeStatus_GUARANTEE_STATUS_WITHDRAWN)
		resp, err = c.GetCoverage(ctx, &gv1.GetCoverageRequest{Framework: "frameworks/paris", Beneficiary: "actors/ukr"})
		if err != nil {
			t.Fatal(err)
		}
		if got := cellOf(resp.GetCells(), land, hubs).GetGaps(); !slices.Equal(got, wantGaps) {
			t.Errorf("hubs gaps after a withdrawal %v, want %v", got, wantGaps)
		}
		other, err := c.GetCoverage(ctx, &gv1.GetCoverageRequest{Beneficiary: "actors/fra"})
		if err != nil || len(other.GetCells()) != 0 {
			t.Errorf("coverage for another beneficiary = %v, %v", other, err)
		}
	})
}

func TestCoverageAsOf(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *guaranteestest.Harness) {
		ctx := h.Context(t, guaranteestest.Editor)
		c := seed(t, h, ctx)
		create(t, ctx, c, "uk-hubs", hubsUK())
		create(t, ctx, c, "land-lead", guarantee(undisclosed("countries ready to lead on land"), land, gv1.Capability_CAPABILITY_TROOPS, lead, "Land lead"))
		transition(t, ctx, c, "guarantees/uk-hubs", gv1.GuaranteeStatus_GUARANTEE_STATUS_PLEDGED)
		then, err := c.GetCoverage(ctx, &gv1.GetCoverageRequest{})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		at := timestamppb.Now()
		time.Sleep(20 * time.Millisecond)

		// Later: a new co-lead, a withdrawal, a deletion, a ratification, an update.
		fr := hubsUK()
		fr.Guarantor = actor("actors/fra")
		create(t, ctx, c, "fr-hubs", fr)
		transition(t, ctx, c, "guarantees/uk-hubs", gv1.GuaranteeStatus_GUARANTEE_STATUS_WITHDRAWN)
		if _, err := c.DeleteGuarantee(ctx, &gv1.DeleteGuaranteeRequest{Name: "guarantees/land-lead"}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.UpdateGuarantee(ctx, &gv1.UpdateGuaranteeRequest{
			Guarantee: &gv1.Guarantee{Name: "guarantees/fr-hubs", Domain: air}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"domain"}},
		}); err != nil {
			t.Fatal(err)
		}
		now, err := c.GetCoverage(ctx, &gv1.GetCoverageRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if proto.Equal(&gv1.GetCoverageResponse{Cells: now.GetCells()}, &gv1.GetCoverageResponse{Cells: then.GetCells()}) {
			t.Fatal("the later changes did not change the matrix: the test proves nothing")
		}
		past, err := c.GetCoverage(ctx, &gv1.GetCoverageRequest{ReadTime: at})
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(&gv1.GetCoverageResponse{Cells: past.GetCells()}, &gv1.GetCoverageResponse{Cells: then.GetCells()}) {
			t.Errorf("coverage as of %v:\n%v\nwant what it was then:\n%v", at.AsTime(), past.GetCells(), then.GetCells())
		}
		if past.GetResourceVersion() != then.GetResourceVersion() || !proto.Equal(past.GetReadTime(), at) {
			t.Errorf("as-of version %d (want %d), read time %v", past.GetResourceVersion(), then.GetResourceVersion(), past.GetReadTime())
		}
		before, err := c.GetCoverage(ctx, &gv1.GetCoverageRequest{ReadTime: timestamppb.New(time.Unix(0, 0))})
		if err != nil || len(before.GetCells()) != 0 {
			t.Errorf("coverage before anything existed = %v, %v", before, err)
		}

		// Get as of the same time.
		old, err := c.GetGuarantee(ctx, &gv1.GetGuaranteeRequest{Name: "guarantees/uk-hubs", ReadTime: at})
		if err != nil || old.GetGuarantee().GetStatus() != gv1.GuaranteeStatus_GUARANTEE_STATUS_PLEDGED {
			t.Errorf("uk-hubs as of then = %v, %v", old, err)
		}
		gone, err := c.GetGuarantee(ctx, &gv1.GetGuaranteeRequest{Name: "guarantees/land-lead", ReadTime: at})
		if err != nil || gone.GetGuarantee().GetDeleteTime() != nil {
			t.Errorf("land-lead as of before its deletion = %v, %v", gone, err)
		}
		_, err = c.GetGuarantee(ctx, &gv1.GetGuaranteeRequest{Name: "guarantees/fr-hubs", ReadTime: at})
		servicetest.WantCode(t, err, codes.NotFound)
	})
}

func TestActorCommitments(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *guaranteestest.Harness) {
		ctx := h.Context(t, guaranteestest.Editor)
		c := seed(t, h, ctx)
		create(t, ctx, c, "uk-hubs", hubsUK())
		create(t, ctx, c, "uk-training", guarantee(actor("actors/gbr"), land, gv1.Capability_CAPABILITY_TRAINING, contr, "UK training"))
		toUK := guarantee(actor("actors/usa"), air, arms, supp, "US support to the UK")
		toUK.Beneficiary = "actors/gbr"
		create(t, ctx, c, "us-to-uk", toUK)
		create(t, ctx, c, "fr-hubs", guarantee(actor("actors/fra"), land, hubs, lead, "French hubs"))
		at := timestamppb.Now()
		time.Sleep(20 * time.Millisecond)
		create(t, ctx, c, "uk-later", guarantee(actor("actors/gbr"), air, arms, contr, "Later UK pledge"))

		for _, readTime := range []*timestamppb.Timestamp{nil, at} {
			want := []string{"uk-hubs", "uk-training", "us-to-uk", "uk-later"}
			if readTime != nil {
				want = want[:3]
			}
			var got []string
			token := ""
			for range 5 {
				resp, err := c.ListActorCommitments(ctx, &gv1.ListActorCommitmentsRequest{Actor: "actors/gbr", PageSize: 2, PageToken: token, ReadTime: readTime})
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, names(resp.GetGuarantees())...)
				if token = resp.GetNextPageToken(); token == "" {
					break
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("commitments of the UK (as of %v) = %v, want %v", readTime, got, want)
			}
		}
		first, err := c.ListActorCommitments(ctx, &gv1.ListActorCommitmentsRequest{Actor: "actors/gbr", PageSize: 1, ReadTime: at})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.ListActorCommitments(ctx, &gv1.ListActorCommitmentsRequest{Actor: "actors/fra", PageSize: 1, ReadTime: at, PageToken: first.GetNextPageToken()})
		servicetest.WantCode(t, err, codes.InvalidArgument)
	})
}

func TestBatchCreateGuarantees(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *guaranteestest.Harness) {
		ctx := h.Context(t, guaranteestest.Editor)
		c := seed(t, h, ctx)
		batch := func(policy typev1.ExistingPolicy, gs ...*gv1.Guarantee) (*gv1.BatchCreateGuaranteesResponse, error) {
			req := &gv1.BatchCreateGuaranteesRequest{ExistingPolicy: policy}
			for i, g := range gs {
				req.Requests = append(req.Requests, &gv1.CreateGuaranteeRequest{GuaranteeId: fmt.Sprintf("b%d", i), Guarantee: g})
			}
			return c.BatchCreateGuarantees(ctx, req)
		}
		if _, err := batch(typev1.ExistingPolicy_EXISTING_POLICY_FAIL, hubsUK(), guarantee(actor("actors/fra"), land, hubs, lead, "French hubs")); err != nil {
			t.Fatal(err)
		}
		transition(t, ctx, c, "guarantees/b0", gv1.GuaranteeStatus_GUARANTEE_STATUS_PLEDGED)
		changed := hubsUK()
		changed.Title = "UK hubs, revised"
		resp, err := batch(typev1.ExistingPolicy_EXISTING_POLICY_REPLACE, changed, guarantee(actor("actors/fra"), land, hubs, lead, "French hubs"))
		if err != nil {
			t.Fatal(err)
		}
		want := []typev1.BatchOutcome{typev1.BatchOutcome_BATCH_OUTCOME_UPDATED, typev1.BatchOutcome_BATCH_OUTCOME_UNCHANGED}
		if !slices.Equal(resp.GetOutcomes(), want) {
			t.Errorf("outcomes %v, want %v", resp.GetOutcomes(), want)
		}
		if g := resp.GetGuarantees()[0]; g.GetStatus() != gv1.GuaranteeStatus_GUARANTEE_STATUS_PLEDGED || g.GetTitle() != "UK hubs, revised" {
			t.Errorf("a replacement lost the lifecycle: %v", g)
		}
		bad := hubsUK()
		bad.Beneficiary = "actors/atlantis"
		_, err = batch(typev1.ExistingPolicy_EXISTING_POLICY_SKIP, hubsUK(), hubsUK(), bad)
		servicetest.WantCode(t, err, codes.FailedPrecondition)
		list, _ := c.ListGuarantees(ctx, &gv1.ListGuaranteesRequest{})
		if len(list.GetGuarantees()) != 2 {
			t.Errorf("a failed batch wrote: %v", names(list.GetGuarantees()))
		}

		// validate_only: the answer of a write, nothing written.
		check := &gv1.BatchCreateGuaranteesRequest{
			ValidateOnly: true,
			Requests:     []*gv1.CreateGuaranteeRequest{{GuaranteeId: "checked", Guarantee: hubsUK()}},
		}
		resp, err = c.BatchCreateGuarantees(ctx, check)
		if err != nil || !slices.Equal(resp.GetOutcomes(), []typev1.BatchOutcome{typev1.BatchOutcome_BATCH_OUTCOME_CREATED}) {
			t.Errorf("validate_only answered %v, %v; want CREATED", resp.GetOutcomes(), err)
		}
		_, err = c.GetGuarantee(ctx, &gv1.GetGuaranteeRequest{Name: "guarantees/checked"})
		servicetest.WantCode(t, err, codes.NotFound)
		check.Requests[0].Guarantee = bad
		_, err = c.BatchCreateGuarantees(ctx, check)
		servicetest.WantCode(t, err, codes.FailedPrecondition)
		fw, err := c.BatchCreateFrameworks(ctx, &gv1.BatchCreateFrameworksRequest{
			ValidateOnly: true,
			Requests:     []*gv1.CreateFrameworkRequest{{FrameworkId: "checked", Framework: parisDeclaration()}},
		})
		if err != nil || !slices.Equal(fw.GetOutcomes(), []typev1.BatchOutcome{typev1.BatchOutcome_BATCH_OUTCOME_CREATED}) {
			t.Errorf("validate_only of a framework answered %v, %v; want CREATED", fw.GetOutcomes(), err)
		}
		_, err = c.GetFramework(ctx, &gv1.GetFrameworkRequest{Name: "frameworks/checked"})
		servicetest.WantCode(t, err, codes.NotFound)
	})
}

func TestLicenceVisibility(t *testing.T) {
	t.Parallel()
	h := guaranteestest.Start(t, guaranteestest.SQLite)
	admin := h.Context(t, guaranteestest.Admin)
	c := seed(t, h, admin)
	g := hubsUK()
	g.License = typev1.License_LICENSE_ACLED
	created := create(t, admin, c, "acled-hubs", g)
	if created.GetVisibility() != typev1.Visibility_VISIBILITY_RESTRICTED || created.GetRequiredEntitlement() != "acled" {
		t.Errorf("visibility not derived: %v", created)
	}
	create(t, admin, c, "open-hubs", guarantee(actor("actors/fra"), land, hubs, lead, "French hubs"))
	viewer := h.Context(t, guaranteestest.Viewer)
	list, err := c.ListGuarantees(viewer, &gv1.ListGuaranteesRequest{})
	if err != nil || !slices.Equal(names(list.GetGuarantees()), []string{"open-hubs"}) {
		t.Errorf("unentitled list = %v, %v", list, err)
	}
	_, err = c.GetGuarantee(viewer, &gv1.GetGuaranteeRequest{Name: "guarantees/acled-hubs"})
	servicetest.WantCode(t, err, codes.PermissionDenied)
	cov, err := c.GetCoverage(viewer, &gv1.GetCoverageRequest{})
	if err != nil || len(cov.GetCells()) != 1 || len(cov.GetCells()[0].GetGuarantees()) != 1 {
		t.Errorf("unentitled coverage = %v, %v", cov, err)
	}
	com, err := c.ListActorCommitments(viewer, &gv1.ListActorCommitmentsRequest{Actor: "actors/gbr"})
	if err != nil || len(com.GetGuarantees()) != 0 {
		t.Errorf("unentitled commitments = %v, %v", com, err)
	}
}

func TestWatch(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *guaranteestest.Harness) {
		ctx := h.Context(t, guaranteestest.Admin)
		c := seed(t, h, ctx)
		list, err := c.ListGuarantees(ctx, &gv1.ListGuaranteesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		create(t, ctx, c, "uk-hubs", hubsUK())
		stream, err := c.Watch(ctx, &gv1.WatchRequest{ResourceVersion: list.GetResourceVersion(), Collections: []string{"guarantees"}})
		if err != nil {
			t.Fatal(err)
		}
		recv := func() *gv1.WatchResponse {
			t.Helper()
			for {
				m, err := stream.Recv()
				if err != nil {
					t.Fatalf("watch: %v", err)
				}
				if m.GetType() != typev1.WatchEventType_WATCH_EVENT_TYPE_BOOKMARK {
					return m
				}
			}
		}
		if m := recv(); m.GetType() != typev1.WatchEventType_WATCH_EVENT_TYPE_ADDED || m.GetChange().GetResourceName() != "guarantees/uk-hubs" {
			t.Fatalf("replayed %v", m)
		}
		transition(t, ctx, c, "guarantees/uk-hubs", gv1.GuaranteeStatus_GUARANTEE_STATUS_PLEDGED)
		m := recv()
		if m.GetType() != typev1.WatchEventType_WATCH_EVENT_TYPE_MODIFIED || m.GetChange().GetKind() != typev1.ChangeKind_CHANGE_KIND_TRANSITIONED ||
			m.GetChange().GetReason() != "as announced" {
			t.Fatalf("live %v", m)
		}
		if _, err := c.DeleteGuarantee(ctx, &gv1.DeleteGuaranteeRequest{Name: "guarantees/uk-hubs"}); err != nil {
			t.Fatal(err)
		}
		if m := recv(); m.GetType() != typev1.WatchEventType_WATCH_EVENT_TYPE_DELETED || m.GetChange().GetGuarantee().GetDeleteTime() == nil {
			t.Fatalf("deletion %v", m)
		}
		// From now (0): only what happens after. The first bookmark shows the stream has
		// taken its position.
		now, err := c.Watch(ctx, &gv1.WatchRequest{Name: "guarantees/fr-hubs"})
		if err != nil {
			t.Fatal(err)
		}
		if m, err := now.Recv(); err != nil || m.GetType() != typev1.WatchEventType_WATCH_EVENT_TYPE_BOOKMARK {
			t.Fatalf("first message from now: %v, %v", m, err)
		}
		create(t, ctx, c, "fr-hubs", guarantee(actor("actors/fra"), land, hubs, lead, "French hubs"))
		for {
			m, err := now.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if m.GetType() == typev1.WatchEventType_WATCH_EVENT_TYPE_BOOKMARK {
				continue
			}
			if m.GetChange().GetResourceName() != "guarantees/fr-hubs" {
				t.Fatalf("watch from now got %v", m)
			}
			break
		}
	})
}

// TestChangesReachTheServiceStream checks the other end of the outbox: every change goes
// through the relay to the service's own JetStream stream, GUARANTOR_GUARANTEES, on
// `guarantor.guarantees.v1.<collection>.<kind>` (README, guarantees.go), carrying the
// Change as its payload. The contract tests above only read the change log through the
// API, so a relay wired to the wrong stream or subjects would pass them.
func TestChangesReachTheServiceStream(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, h *guaranteestest.Harness) {
		ctx := h.Context(t, guaranteestest.Editor)
		c := seed(t, h, ctx) // frameworks/paris
		if _, err := c.CreateGuarantee(ctx, &gv1.CreateGuaranteeRequest{GuaranteeId: "uk-hubs", Guarantee: hubsUK(), RequestId: "c-1"}); err != nil {
			t.Fatal(err)
		}
		tr, err := c.TransitionGuarantee(ctx, &gv1.TransitionGuaranteeRequest{
			Name: "guarantees/uk-hubs", TargetStatus: gv1.GuaranteeStatus_GUARANTEE_STATUS_PLEDGED,
			Reason: "pledged at the summit", EvidenceEvent: "events/paris-summit", RequestId: "t-1",
		})
		if err != nil {
			t.Fatal(err)
		}
		hist, err := c.ListHistory(ctx, &gv1.ListHistoryRequest{Name: "guarantees/uk-hubs"})
		if err != nil || len(hist.GetChanges()) != 2 {
			t.Fatalf("history %v, %v", hist, err)
		}

		msgs := streamMessages(t, h, 3)
		want := []struct {
			subject, resource string
			kind              typev1.ChangeKind
		}{
			{"guarantor.guarantees.v1.frameworks.created", "frameworks/paris", typev1.ChangeKind_CHANGE_KIND_CREATED},
			{"guarantor.guarantees.v1.guarantees.created", "guarantees/uk-hubs", typev1.ChangeKind_CHANGE_KIND_CREATED},
			{"guarantor.guarantees.v1.guarantees.transitioned", "guarantees/uk-hubs", typev1.ChangeKind_CHANGE_KIND_TRANSITIONED},
		}
		changes := make([]*gv1.Change, len(msgs))
		for i, m := range msgs {
			ch := &gv1.Change{}
			if err := proto.Unmarshal(m.Data, ch); err != nil {
				t.Fatalf("message %d on %s does not decode as a Change: %v", m.Sequence, m.Subject, err)
			}
			changes[i] = ch
			w := want[i]
			if m.Subject != w.subject || ch.GetResourceName() != w.resource || ch.GetKind() != w.kind {
				t.Errorf("message %d: %s about %s (%v), want %s about %s (%v)", i, m.Subject, ch.GetResourceName(), ch.GetKind(), w.subject, w.resource, w.kind)
			}
			// Consumers order and deduplicate on these headers without decoding.
			if got := m.Header.Get("Guarantor-Seq"); got != fmt.Sprint(ch.GetSequence()) {
				t.Errorf("message %d: Guarantor-Seq %q, change sequence %d", i, got, ch.GetSequence())
			}
			if got := m.Header.Get("Guarantor-Resource"); got != w.resource {
				t.Errorf("message %d: Guarantor-Resource %q", i, got)
			}
		}
		// The transition's payload is the change itself: the guarantee after the move, why,
		// the evidence, the request; the same change ListHistory returns.
		moved := changes[2]
		if moved.GetGuarantee().GetStatus() != gv1.GuaranteeStatus_GUARANTEE_STATUS_PLEDGED || moved.GetReason() != "pledged at the summit" ||
			moved.GetEvidenceEvent() != "events/paris-summit" || moved.GetRequestId() != "t-1" ||
			moved.GetGuarantee().GetEtag() != tr.GetGuarantee().GetEtag() || !slices.Contains(moved.GetChangedFields().GetPaths(), "status") {
			t.Errorf("transition on the stream %v", moved)
		}
		for i, ch := range hist.GetChanges() {
			if !proto.Equal(changes[i+1], ch) {
				t.Errorf("stream change %d differs from the history:\n%v\nhistory:\n%v", i+1, changes[i+1], ch)
			}
		}
	})
}

// streamMessages waits until the service's stream holds n messages and returns them;
// more than n is a failure (a duplicate or a stray publication).
func streamMessages(t *testing.T, h *guaranteestest.Harness, n int) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js := h.NATS.JetStream(t)
	for {
		s, err := js.Stream(ctx, guarantees.Stream)
		if err == nil {
			var info *jetstream.StreamInfo
			if info, err = s.Info(ctx); err == nil && info.State.Msgs >= uint64(n) {
				if info.State.Msgs > uint64(n) {
					t.Fatalf("%s holds %d messages, want %d", guarantees.Stream, info.State.Msgs, n)
				}
				var out []*jetstream.RawStreamMsg
				for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
					m, err := s.GetMsg(ctx, seq)
					if err != nil {
						t.Fatal(err)
					}
					out = append(out, m)
				}
				return out
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s did not reach %d messages: %v", guarantees.Stream, n, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
