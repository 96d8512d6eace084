package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	gatewayv1 "github.com/guarantor/guarantor/gen/go/guarantor/gateway/v1"
	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
)

func (a *app) guarantees() (guaranteesv1.GuaranteesServiceClient, error) {
	conn, err := a.dial()
	if err != nil {
		return nil, err
	}
	return guaranteesv1.NewGuaranteesServiceClient(conn), nil
}

func (a *app) newFrameworks() *cobra.Command {
	cmd := &cobra.Command{Use: "frameworks", Short: "Frameworks: declarations and agreements that group guarantees"}
	list := listCmd(a, "List frameworks", `  guarantor frameworks list --filter 'stage = FRAMEWORK'`,
		func(ctx context.Context, l listFlags, token string) (*guaranteesv1.ListFrameworksResponse, error) {
			c, err := a.guarantees()
			if err != nil {
				return nil, err
			}
			return c.ListFrameworks(ctx, &guaranteesv1.ListFrameworksRequest{Filter: l.filter, OrderBy: l.orderBy, PageSize: l.pageSize, PageToken: token, ShowDeleted: l.deleted, IncludeTotal: l.total})
		},
		[]string{"NAME", "ADOPTED", "KIND", "STAGE", "TITLE"},
		func(out *guaranteesv1.ListFrameworksResponse) (rows [][]string) {
			for _, f := range out.GetFrameworks() {
				rows = append(rows, []string{f.GetName(), day(f.GetAdopted().GetTime()), short(f.GetKind(), "FRAMEWORK_KIND_"), short(f.GetStage(), "FRAMEWORK_STAGE_"), trunc(f.GetTitle(), 70)})
			}
			return rows
		})
	get := getCmd(a, "frameworks", "Show one framework (or its state --as-of a past time)", `  guarantor frameworks get frameworks/paris-declaration`,
		func(ctx context.Context, r getRequest) (*guaranteesv1.Framework, error) {
			c, err := a.guarantees()
			if err != nil {
				return nil, err
			}
			resp, err := c.GetFramework(ctx, &guaranteesv1.GetFrameworkRequest{Name: r.name, ReadTime: r.readTime, ShowDeleted: r.showDeleted})
			return resp.GetFramework(), err
		},
		func(t *table, f *guaranteesv1.Framework) {
			t.kv("name", f.GetName())
			t.kv("title", f.GetTitle())
			t.kv("kind", short(f.GetKind(), "FRAMEWORK_KIND_"))
			t.kv("stage", short(f.GetStage(), "FRAMEWORK_STAGE_"))
			t.kv("status", short(f.GetStatus(), "FRAMEWORK_STATUS_"))
			t.kv("adopted", day(f.GetAdopted().GetTime()))
			t.kv("parties", join(f.GetParties()))
			t.kv("third parties", join(f.GetThirdParties()))
			t.kv("source events", join(f.GetSourceEvents()))
			t.kv("summary", trunc(f.GetSummary(), 200))
		})
	cmd.AddCommand(list, get, a.history("frameworks"))
	return cmd
}

func party(p *guaranteesv1.Party) string {
	if u := p.GetUndisclosed(); u != nil {
		return "(undisclosed)"
	}
	return p.GetActor()
}

func (a *app) newGuarantees() *cobra.Command {
	cmd := &cobra.Command{Use: "guarantees", Short: "Guarantees: who commits what, in which domain, under which conditions"}
	list := listCmd(a, "List guarantees", `  guarantor guarantees list
  guarantor guarantees list --filter 'domain = LAND AND role = LEAD'
  guarantor guarantees list --filter 'guarantor = "actors/usa"' -o json`,
		func(ctx context.Context, l listFlags, token string) (*guaranteesv1.ListGuaranteesResponse, error) {
			c, err := a.guarantees()
			if err != nil {
				return nil, err
			}
			return c.ListGuarantees(ctx, &guaranteesv1.ListGuaranteesRequest{Filter: l.filter, OrderBy: l.orderBy, PageSize: l.pageSize, PageToken: token, ShowDeleted: l.deleted, IncludeTotal: l.total})
		},
		[]string{"NAME", "GUARANTOR", "DOMAIN", "CAPABILITY", "ROLE", "STATUS"},
		func(out *guaranteesv1.ListGuaranteesResponse) (rows [][]string) {
			for _, g := range out.GetGuarantees() {
				rows = append(rows, []string{g.GetName(), party(g.GetGuarantor()), short(g.GetDomain(), "DOMAIN_"), short(g.GetCapability(), "CAPABILITY_"), short(g.GetRole(), "ROLE_"), short(g.GetStatus(), "GUARANTEE_STATUS_")})
			}
			return rows
		})
	get := getCmd(a, "guarantees", "Show one guarantee (or its state --as-of a past time)", `  guarantor guarantees get guarantees/us-ceasefire-monitoring
  guarantor guarantees get uk-military-hubs --as-of 2026-01-06`,
		func(ctx context.Context, r getRequest) (*guaranteesv1.Guarantee, error) {
			c, err := a.guarantees()
			if err != nil {
				return nil, err
			}
			resp, err := c.GetGuarantee(ctx, &guaranteesv1.GetGuaranteeRequest{Name: r.name, ReadTime: r.readTime, ShowDeleted: r.showDeleted})
			return resp.GetGuarantee(), err
		}, guaranteeTable)
	var file, requestID string
	create := &cobra.Command{
		Use:     "create ID -f FILE",
		Short:   "Create a guarantee (status PROPOSED) from a JSON or YAML file",
		Example: `  guarantor guarantees create de-air-defence -f guarantee.yaml`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if file == "" {
				return usagef("--file is required")
			}
			g := &guaranteesv1.Guarantee{}
			if err := readMessage(file, g); err != nil {
				return err
			}
			c, err := a.guarantees()
			if err != nil {
				return err
			}
			ctx, cancel := a.ctx(cmd.Context(), false)
			defer cancel()
			resp, err := c.CreateGuarantee(ctx, &guaranteesv1.CreateGuaranteeRequest{GuaranteeId: strings.TrimPrefix(args[0], "guarantees/"), Guarantee: g, RequestId: requestID})
			if err != nil {
				return err
			}
			return a.print(resp.GetGuarantee(), func(t *table) { guaranteeTable(t, resp.GetGuarantee()) })
		},
	}
	create.Flags().StringVarP(&file, "file", "f", "", "the guarantee as JSON or YAML (- for standard input)")
	create.Flags().StringVar(&requestID, "request-id", "", "makes a retry safe")
	cmd.AddCommand(list, get, create, a.guaranteesTransition(), a.guaranteesRatify(), a.history("guarantees"))
	return cmd
}

func guaranteeTable(t *table, g *guaranteesv1.Guarantee) {
	t.kv("name", g.GetName())
	t.kv("title", g.GetTitle())
	t.kv("framework", g.GetFramework())
	t.kv("guarantor", party(g.GetGuarantor()))
	t.kv("beneficiary", g.GetBeneficiary())
	t.kv("domain", short(g.GetDomain(), "DOMAIN_"))
	t.kv("capability", short(g.GetCapability(), "CAPABILITY_"))
	t.kv("role", short(g.GetRole(), "ROLE_"))
	t.kv("binding", short(g.GetBindingLevel(), "BINDING_LEVEL_"))
	t.kv("status", short(g.GetStatus(), "GUARANTEE_STATUS_")+" since "+ts(g.GetStatusTime()))
	t.kv("status reason", g.GetStatusReason())
	for _, c := range g.GetConditions() {
		state := "unmet"
		if c.GetSatisfied() {
			state = "met " + day(c.GetSatisfyTime()) + " (" + c.GetEvidenceEvent() + ")"
		}
		t.kv("condition", c.GetId()+" "+short(c.GetKind(), "CONDITION_KIND_")+": "+state)
	}
	t.kv("ratification", short(g.GetRatification().GetState(), "RATIFICATION_STATE_"))
	for _, r := range g.GetRatificationActions() {
		t.kv("ratified", day(r.GetActionTime())+" "+r.GetNation()+" "+short(r.GetType(), "RATIFICATION_ACTION_TYPE_")+" "+r.GetBody())
	}
	t.kv("quantity", g.GetQuantity().GetDescription())
	t.kv("source events", join(g.GetSourceEvents()))
	t.kv("revision", strconv.FormatInt(g.GetRevision(), 10))
}

func (a *app) guaranteesTransition() *cobra.Command {
	var to, reason, evidence, etag string
	cmd := &cobra.Command{
		Use:   "transition NAME --to STATUS --reason TEXT --evidence EVENT",
		Short: "Move a guarantee through its lifecycle",
		Long: `Moves a guarantee to another status: PROPOSED -> PLEDGED -> AWAITING_RATIFICATION ->
RATIFIED -> ACTIVE -> FULFILLED | EXPIRED | WITHDRAWN, with SUSPENDED reversible.
An illegal move fails (exit code 5) and the message lists the moves allowed.`,
		Example: `  guarantor guarantees transition guarantees/uk-military-hubs --to AWAITING_RATIFICATION \
      --reason "Signed at the Paris meeting" --evidence events/paris-meeting`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, ok := guaranteesv1.GuaranteeStatus_value["GUARANTEE_STATUS_"+strings.ToUpper(to)]
			if !ok {
				return usagef("--to %q is not a status", to)
			}
			c, err := a.guarantees()
			if err != nil {
				return err
			}
			ctx, cancel := a.ctx(cmd.Context(), false)
			defer cancel()
			resp, err := c.TransitionGuarantee(ctx, &guaranteesv1.TransitionGuaranteeRequest{
				Name: fullName("guarantees", args[0]), TargetStatus: guaranteesv1.GuaranteeStatus(v), Reason: reason,
				EvidenceEvent: fullName("events", evidence), Etag: etag,
			})
			if err != nil {
				return err
			}
			return a.print(resp.GetGuarantee(), func(t *table) { guaranteeTable(t, resp.GetGuarantee()) })
		},
	}
	f := cmd.Flags()
	f.StringVar(&to, "to", "", "the target status")
	f.StringVar(&reason, "reason", "", "why (required)")
	f.StringVar(&evidence, "evidence", "", "the event that shows it (required)")
	f.StringVar(&etag, "etag", "", "fail if the guarantee changed since you read this etag")
	return cmd
}

func (a *app) guaranteesRatify() *cobra.Command {
	var nation, action, body, date, evidence, note string
	cmd := &cobra.Command{
		Use:   "ratify NAME --nation ACTOR --action TYPE --date DATE",
		Short: "Record a nation's ratification step on a guarantee",
		Example: `  guarantor guarantees ratify guarantees/uk-military-hubs --nation actors/gbr \
      --action PARLIAMENTARY_APPROVAL --body "House of Commons" --date 2026-03-01`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, ok := guaranteesv1.RatificationActionType_value["RATIFICATION_ACTION_TYPE_"+strings.ToUpper(action)]
			if !ok {
				return usagef("--action %q is not SIGNATURE, PARLIAMENTARY_APPROVAL, INSTRUMENT_DEPOSIT, ENTRY_INTO_FORCE or NOT_REQUIRED", action)
			}
			t, err := parseTime(date)
			if err != nil {
				return usagef("--date: %v", err)
			}
			ev := ""
			if evidence != "" {
				ev = fullName("events", evidence)
			}
			c, err := a.guarantees()
			if err != nil {
				return err
			}
			ctx, cancel := a.ctx(cmd.Context(), false)
			defer cancel()
			resp, err := c.RecordRatificationAction(ctx, &guaranteesv1.RecordRatificationActionRequest{
				Name: fullName("guarantees", args[0]),
				Action: &guaranteesv1.RatificationAction{Nation: fullName("actors", nation), Type: guaranteesv1.RatificationActionType(v),
					Body: body, ActionTime: timestamppb.New(t), EvidenceEvent: ev, Note: note},
			})
			if err != nil {
				return err
			}
			return a.print(resp.GetGuarantee(), func(t *table) { guaranteeTable(t, resp.GetGuarantee()) })
		},
	}
	f := cmd.Flags()
	f.StringVar(&nation, "nation", "", "the nation, e.g. actors/gbr")
	f.StringVar(&action, "action", "", "SIGNATURE, PARLIAMENTARY_APPROVAL, INSTRUMENT_DEPOSIT, ENTRY_INTO_FORCE or NOT_REQUIRED")
	f.StringVar(&body, "body", "", "for parliamentary approval: which body")
	f.StringVar(&date, "date", "", "when the step happened")
	f.StringVar(&evidence, "evidence", "", "an event documenting it")
	f.StringVar(&note, "note", "", "free text, e.g. reservations")
	return cmd
}

func (a *app) newCoverage() *cobra.Command {
	var framework, beneficiary string
	cmd := &cobra.Command{
		Use:   "coverage",
		Short: "The coverage matrix: leads, contributors, statuses and gaps per domain and capability",
		Example: `  guarantor coverage
  guarantor coverage --framework frameworks/paris-declaration --as-of 2026-01-06`,
		Args:        cobra.NoArgs,
		Annotations: map[string]string{readsThePast: "yes"},
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.guarantees()
			if err != nil {
				return err
			}
			rt, err := a.readTime()
			if err != nil {
				return err
			}
			req := &guaranteesv1.GetCoverageRequest{ReadTime: rt}
			if framework != "" {
				req.Framework = fullName("frameworks", framework)
			}
			if beneficiary != "" {
				req.Beneficiary = fullName("actors", beneficiary)
			}
			ctx, cancel := a.ctx(cmd.Context(), false)
			defer cancel()
			resp, err := c.GetCoverage(ctx, req)
			if err != nil {
				return err
			}
			return a.print(resp, func(t *table) {
				t.row("DOMAIN", "CAPABILITY", "LEADS", "CONTRIBUTORS", "SUPPORTERS", "STATUS", "GAPS")
				for _, cell := range resp.GetCells() {
					t.row(short(cell.GetDomain(), "DOMAIN_"), short(cell.GetCapability(), "CAPABILITY_"),
						leads(cell), parties(cell.GetContributors()), parties(cell.GetSupporters()), statusCounts(cell), gaps(cell))
				}
			})
		},
	}
	cmd.Flags().StringVar(&framework, "framework", "", "only this framework")
	cmd.Flags().StringVar(&beneficiary, "beneficiary", "", "only guarantees to this actor")
	return cmd
}

func leads(c *guaranteesv1.CoverageCell) string {
	s := parties(c.GetLeads())
	if c.GetCoLed() {
		s += " (co-leads)"
	}
	return s
}

func parties(ps []*guaranteesv1.Party) string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = strings.TrimPrefix(party(p), "actors/")
	}
	return join(out)
}

func statusCounts(c *guaranteesv1.CoverageCell) string {
	var out []string
	for _, s := range c.GetStatusCounts() {
		out = append(out, fmt.Sprintf("%s %d", strings.ToLower(short(s.GetStatus(), "GUARANTEE_STATUS_")), s.GetCount()))
	}
	return join(out)
}

func gaps(c *guaranteesv1.CoverageCell) string {
	var out []string
	for _, g := range c.GetGaps() {
		out = append(out, strings.ToLower(short(g, "GAP_")))
	}
	return join(out)
}

func (a *app) newDossier() *cobra.Command {
	return &cobra.Command{
		Use:     "dossier ACTOR",
		Short:   "Everything one actor committed and every event it took part in",
		Example: `  guarantor dossier actors/gbr`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			conn, err := a.dial()
			if err != nil {
				return err
			}
			ctx, cancel := a.ctx(cmd.Context(), false)
			defer cancel()
			resp, err := gatewayv1.NewGatewayServiceClient(conn).GetActorDossier(ctx, &gatewayv1.GetActorDossierRequest{Actor: fullName("actors", args[0])})
			if err != nil {
				return err
			}
			return a.print(resp, func(t *table) {
				t.kv("actor", resp.GetActor().GetName()+" ("+resp.GetActor().GetDisplayName()+")")
				for _, part := range []struct {
					name string
					st   *gatewayv1.PartStatus
				}{{"actor", resp.GetActorStatus()}, {"commitments", resp.GetCommitmentsStatus()}, {"events", resp.GetEventsStatus()}} {
					if part.st.GetCode() != "" && part.st.GetCode() != "OK" {
						t.kv("unavailable", part.name+": "+part.st.GetCode()+" "+part.st.GetMessage())
					}
				}
				for _, g := range resp.GetCommitments() {
					t.kv("commitment", g.GetName()+" "+short(g.GetRole(), "ROLE_")+" "+short(g.GetCapability(), "CAPABILITY_")+" ("+short(g.GetStatus(), "GUARANTEE_STATUS_")+")")
				}
				for _, e := range resp.GetEvents() {
					t.kv("event", day(e.GetWhen().GetTime())+" "+e.GetName()+" "+trunc(e.GetTitle(), 60))
				}
			})
		},
	}
}

// printHistory lists the changes of an event, actor, framework or guarantee.
func (a *app) printHistory(parent context.Context, name string) error {
	type row struct {
		seq              int64
		time, kind, who  string
		fields, evidence string
	}
	var rows []row
	var out proto.Message
	if strings.HasPrefix(name, "events/") || strings.HasPrefix(name, "actors/") {
		c, err := a.events()
		if err != nil {
			return err
		}
		resp := &eventsv1.ListRevisionsResponse{}
		err = a.pages(parent, true, "", func(ctx context.Context, token string) (string, error) {
			page, err := c.ListRevisions(ctx, &eventsv1.ListRevisionsRequest{Name: name, PageSize: 1000, PageToken: token})
			resp.Changes = append(resp.Changes, page.GetChanges()...)
			return page.GetNextPageToken(), err
		})
		if err != nil {
			return err
		}
		for _, ch := range resp.GetChanges() {
			rows = append(rows, row{ch.GetSequence(), ts(ch.GetTime()), short(ch.GetKind(), "CHANGE_KIND_"), ch.GetPrincipal(), join(ch.GetChangedFields().GetPaths()), ""})
		}
		out = resp
	} else {
		c, err := a.guarantees()
		if err != nil {
			return err
		}
		resp := &guaranteesv1.ListHistoryResponse{}
		err = a.pages(parent, true, "", func(ctx context.Context, token string) (string, error) {
			page, err := c.ListHistory(ctx, &guaranteesv1.ListHistoryRequest{Name: name, PageSize: 1000, PageToken: token})
			resp.Changes = append(resp.Changes, page.GetChanges()...)
			return page.GetNextPageToken(), err
		})
		if err != nil {
			return err
		}
		for _, ch := range resp.GetChanges() {
			what := join(ch.GetChangedFields().GetPaths())
			if g := ch.GetGuarantee(); g != nil && ch.GetReason() != "" {
				what = "-> " + short(g.GetStatus(), "GUARANTEE_STATUS_") + ": " + ch.GetReason()
			}
			rows = append(rows, row{ch.GetSequence(), ts(ch.GetTime()), short(ch.GetKind(), "CHANGE_KIND_"), ch.GetPrincipal(), what, ch.GetEvidenceEvent()})
		}
		out = resp
	}
	return a.print(out, func(t *table) {
		t.row("SEQ", "TIME", "KIND", "BY", "CHANGE", "EVIDENCE")
		for _, r := range rows {
			t.row(strconv.FormatInt(r.seq, 10), r.time, r.kind, r.who, trunc(r.fields, 80), r.evidence)
		}
	})
}
