package domain

import (
	"context"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
	"github.com/guarantor/guarantor/platform/apperr"
	"github.com/guarantor/guarantor/platform/license"
	"github.com/guarantor/guarantor/platform/pagination"
	"github.com/guarantor/guarantor/platform/principal"
	"github.com/guarantor/guarantor/platform/resource"
	"github.com/guarantor/guarantor/services/guarantees/internal/store"
)

// guaranteesAt returns the guarantees p may read that match where (SQL over the table,
// alias "t") now, or, at readTime, those that keep(g) as they were then, with the
// change-log version they reflect. "As of" rebuilds from the change log, so the answer
// stays what it was whatever changed since.
func (s *Service) guaranteesAt(ctx context.Context, p principal.Principal, readTime *timestamppb.Timestamp,
	where string, args []any, keep func(*guaranteesv1.Guarantee) bool) ([]*guaranteesv1.Guarantee, int64, error) {
	var out []*guaranteesv1.Guarantee
	if readTime != nil {
		all, version, err := s.Store.ListAt(ctx, store.Guarantees, readTime.AsTime())
		if err != nil {
			return nil, 0, err
		}
		for _, m := range all {
			g := m.(*guaranteesv1.Guarantee)
			if keep(g) && license.Visible(p, g.GetLicense()) {
				out = append(out, g)
			}
		}
		return out, version, nil
	}
	req := resource.ListRequest{PageSize: pagination.MaxSize, Where: where, WhereArgs: args}
	var version int64
	for {
		res, err := s.List(ctx, p, store.Guarantees, req)
		if err != nil {
			return nil, 0, err
		}
		if version == 0 {
			version = res.Version
		}
		for _, m := range res.Items {
			out = append(out, m.(*guaranteesv1.Guarantee))
		}
		if res.NextPageToken == "" {
			return out, version, nil
		}
		req.PageToken = res.NextPageToken
	}
}

// live reports whether a guarantee still holds: withdrawn and expired ones are counted in
// their cell but lead, contribute and support nothing any more.
func live(g *guaranteesv1.Guarantee) bool {
	return g.GetStatus() != Withdrawn && g.GetStatus() != Expired
}

func ratified(s Status) bool { return s == Ratified || s == Active || s == Fulfilled }

func hasOpenCondition(g *guaranteesv1.Guarantee) bool {
	return slices.ContainsFunc(g.GetConditions(), func(c *guaranteesv1.Condition) bool { return !c.GetSatisfied() })
}

// partyKey identifies a party for de-duplication: an actor by name, an undisclosed party
// by what is known of it.
func partyKey(p *guaranteesv1.Party) string {
	if u := p.GetUndisclosed(); u != nil {
		return "undisclosed:" + u.GetDescription()
	}
	return p.GetActor()
}

func addParty(list []*guaranteesv1.Party, p *guaranteesv1.Party) []*guaranteesv1.Party {
	if slices.ContainsFunc(list, func(q *guaranteesv1.Party) bool { return partyKey(q) == partyKey(p) }) {
		return list
	}
	return append(list, proto.CloneOf(p))
}

// Coverage builds the domain x capability matrix of the guarantees p may read, of one
// framework and/or beneficiary when given, now or as of readTime.
func (s *Service) Coverage(ctx context.Context, p principal.Principal, framework, beneficiary string, readTime *timestamppb.Timestamp) (*guaranteesv1.GetCoverageResponse, error) {
	var conds []string
	var args []any
	if framework != "" {
		conds, args = append(conds, "t.framework = ?"), append(args, framework)
	}
	if beneficiary != "" {
		conds, args = append(conds, "t.beneficiary = ?"), append(args, beneficiary)
	}
	gs, version, err := s.guaranteesAt(ctx, p, readTime, strings.Join(conds, " AND "), args, func(g *guaranteesv1.Guarantee) bool {
		return (framework == "" || g.GetFramework() == framework) && (beneficiary == "" || g.GetBeneficiary() == beneficiary)
	})
	if err != nil {
		return nil, err
	}
	at := readTime
	if at == nil {
		at = timestamppb.New(s.now())
	}
	return &guaranteesv1.GetCoverageResponse{Cells: CoverageCells(gs), ReadTime: at, ResourceVersion: version}, nil
}

// CoverageCells groups guarantees into coverage cells, ordered by domain then capability,
// and works out each cell's gaps.
func CoverageCells(gs []*guaranteesv1.Guarantee) []*guaranteesv1.CoverageCell {
	type key struct {
		d guaranteesv1.Domain
		c guaranteesv1.Capability
	}
	// acc is what a cell's gaps are worked out from.
	type acc struct {
		cell        *guaranteesv1.CoverageCell
		counts      map[Status]int32
		anyRatified bool
		live        int
		waiting     int // live guarantees still waiting on a condition
	}
	// Name order, whatever order the guarantees came in (table or change log), so that a
	// matrix rebuilt as of a time equals the one served then.
	gs = slices.SortedFunc(slices.Values(gs), func(a, b *guaranteesv1.Guarantee) int { return strings.Compare(a.GetName(), b.GetName()) })
	cells := map[key]*acc{}
	for _, g := range gs {
		k := key{g.GetDomain(), g.GetCapability()}
		a := cells[k]
		if a == nil {
			a = &acc{cell: &guaranteesv1.CoverageCell{Domain: k.d, Capability: k.c}, counts: map[Status]int32{}}
			cells[k] = a
		}
		a.cell.Guarantees = append(a.cell.Guarantees, g.GetName())
		a.counts[g.GetStatus()]++
		a.anyRatified = a.anyRatified || ratified(g.GetStatus())
		if !live(g) {
			continue
		}
		a.live++
		if hasOpenCondition(g) {
			a.waiting++
		}
		switch g.GetRole() {
		case guaranteesv1.Role_ROLE_LEAD:
			a.cell.Leads = addParty(a.cell.Leads, g.GetGuarantor())
		case guaranteesv1.Role_ROLE_CONTRIBUTOR:
			a.cell.Contributors = addParty(a.cell.Contributors, g.GetGuarantor())
		case guaranteesv1.Role_ROLE_SUPPORTER:
			a.cell.Supporters = addParty(a.cell.Supporters, g.GetGuarantor())
		}
	}
	out := make([]*guaranteesv1.CoverageCell, 0, len(cells))
	for _, a := range cells {
		cell := a.cell
		for st, n := range a.counts {
			cell.StatusCounts = append(cell.StatusCounts, &guaranteesv1.StatusCount{Status: st, Count: n})
		}
		slices.SortFunc(cell.StatusCounts, func(x, y *guaranteesv1.StatusCount) int { return int(x.GetStatus()) - int(y.GetStatus()) })
		cell.CoLed = len(cell.Leads) > 1
		// Gaps, in enum order.
		if len(cell.Leads) == 0 {
			cell.Gaps = append(cell.Gaps, guaranteesv1.Gap_GAP_NO_LEAD)
		}
		if !a.anyRatified {
			cell.Gaps = append(cell.Gaps, guaranteesv1.Gap_GAP_NOTHING_RATIFIED)
		}
		if slices.ContainsFunc(cell.Leads, func(p *guaranteesv1.Party) bool { return p.GetUndisclosed() != nil }) {
			cell.Gaps = append(cell.Gaps, guaranteesv1.Gap_GAP_LEAD_UNDISCLOSED)
		}
		if a.live > 0 && a.waiting == a.live {
			cell.Gaps = append(cell.Gaps, guaranteesv1.Gap_GAP_ALL_CONDITIONAL)
		}
		out = append(out, cell)
	}
	slices.SortFunc(out, func(x, y *guaranteesv1.CoverageCell) int {
		if x.GetDomain() != y.GetDomain() {
			return int(x.GetDomain()) - int(y.GetDomain())
		}
		return int(x.GetCapability()) - int(y.GetCapability())
	})
	return out
}

// Commitments lists the guarantees an actor gives (as guarantor) or receives (as
// beneficiary), oldest first, now or as of readTime.
func (s *Service) Commitments(ctx context.Context, p principal.Principal, actor string, pageSize int32, pageToken string, readTime *timestamppb.Timestamp) ([]*guaranteesv1.Guarantee, string, error) {
	if actor == "" {
		return nil, "", apperr.Invalid("actor", "is required")
	}
	where, args := "t.guarantor = ? OR t.beneficiary = ?", []any{actor, actor}
	if readTime == nil {
		res, err := s.List(ctx, p, store.Guarantees, resource.ListRequest{PageSize: pageSize, PageToken: pageToken, Where: where, WhereArgs: args})
		if err != nil {
			return nil, "", err
		}
		out := make([]*guaranteesv1.Guarantee, len(res.Items))
		for i, m := range res.Items {
			out[i] = m.(*guaranteesv1.Guarantee)
		}
		return out, res.NextPageToken, nil
	}
	// As of a time the guarantees come from the change log, not the table: page through
	// them in the same order (create_time, then name), with a token bound to the query.
	size, err := pagination.Size(pageSize)
	if err != nil {
		return nil, "", apperr.Invalid("page_size", err.Error())
	}
	gs, _, err := s.guaranteesAt(ctx, p, readTime, "", nil, func(g *guaranteesv1.Guarantee) bool {
		return g.GetGuarantor().GetActor() == actor || g.GetBeneficiary() == actor
	})
	if err != nil {
		return nil, "", err
	}
	slices.SortFunc(gs, func(a, b *guaranteesv1.Guarantee) int {
		if c := a.GetCreateTime().AsTime().Compare(b.GetCreateTime().AsTime()); c != 0 {
			return c
		}
		return strings.Compare(a.GetName(), b.GetName())
	})
	key := pagination.QueryKey("commitments", actor, readTime.AsTime().Format(time.RFC3339Nano))
	start := 0
	if pageToken != "" {
		last, err := pagination.Decode(pageToken, key)
		if err == nil && len(last) != 2 {
			err = pagination.ErrBadToken
		}
		if err != nil {
			return nil, "", apperr.Invalid("page_token", err.Error())
		}
		lastTime, ok1 := last[0].(int64)
		lastName, ok2 := last[1].(string)
		if !ok1 || !ok2 {
			return nil, "", apperr.Invalid("page_token", pagination.ErrBadToken.Error())
		}
		start = len(gs)
		for i, g := range gs {
			t := g.GetCreateTime().AsTime().UnixNano()
			if t > lastTime || (t == lastTime && g.GetName() > lastName) {
				start = i
				break
			}
		}
	}
	end := min(start+size, len(gs))
	page := gs[start:end]
	next := ""
	if end < len(gs) {
		lastG := gs[end-1]
		next = pagination.Encode(key, []any{lastG.GetCreateTime().AsTime().UnixNano(), lastG.GetName()})
	}
	return page, next, nil
}
