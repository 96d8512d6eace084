// Package standard implements the AIP standard methods (Get, List, Create, Update,
// Delete, BatchCreate) and a resource's history once for every service, on top of the
// resource store: who may write, which records a caller may read under their licences,
// required ids, and history pages bound to the resource they list.
//
// A service's domain package adds its own rules through the store's Check hooks and
// keeps its own methods (transitions and the like); it never needs gRPC: errors are
// platform/apperr values.
package standard

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/guarantor/guarantor/platform/apperr"
	"github.com/guarantor/guarantor/platform/license"
	"github.com/guarantor/guarantor/platform/pagination"
	"github.com/guarantor/guarantor/platform/principal"
	"github.com/guarantor/guarantor/platform/resource"
)

// Call identifies who is calling and how, for one write.
type Call struct {
	Principal principal.Principal
	RequestID string
	Method    string
	Trace     string
}

// Meta is what the change log records of the call.
func (c Call) Meta() resource.Meta {
	return resource.Meta{
		Principal: c.Principal.ID, RequestID: c.RequestID, Method: c.Method, TraceParent: c.Trace,
		Guard: func(name string, stored proto.Message) error {
			return license.Deny(c.Principal, name, license.Of(stored))
		},
	}
}

// RequireWriter refuses principals whose role cannot change data.
func RequireWriter(p principal.Principal) error {
	if !p.CanWrite() {
		return apperr.PermissionDenied("%s has role %q, which cannot change data (needs editor or admin)", p.ID, p.Role)
	}
	return nil
}

// Methods are the standard methods over one service's store. A service's domain embeds
// them and sets its hooks.
type Methods struct {
	Store *resource.Store
	// Check, when set, returns the service's write hook for a collection: validation,
	// derived fields, reference checks. prefix is the resource's field path in requests
	// ("event."), for field violations.
	Check func(ctx context.Context, c *resource.Collection, prefix string) resource.Check
	// CanDelete, when set, may refuse a deletion (e.g. of a framework that live
	// guarantees still belong to). It runs inside the deleting transaction and reads
	// through r, so no write can slip in between its answer and the deletion.
	CanDelete func(ctx context.Context, r resource.Reader, c *resource.Collection, cur proto.Message) error
}

func (m Methods) check(ctx context.Context, c *resource.Collection, prefix string) resource.Check {
	if m.Check == nil {
		return nil
	}
	return m.Check(ctx, c, prefix)
}

// Singular is a collection's resource noun as request fields name it: "frameworks" ->
// "framework" (as in `framework_id` and `framework.title`).
func Singular(c *resource.Collection) string { return strings.TrimSuffix(c.Name, "s") }

func inCollection(c *resource.Collection, name, field string) error {
	if !strings.HasPrefix(name, c.Name+"/") {
		return apperr.Invalid(field, fmt.Sprintf("must be %s/{id}, not %q", c.Name, name))
	}
	return nil
}

// Get returns a resource of c (now, or at readTime when set) that p may read.
func (m Methods) Get(ctx context.Context, p principal.Principal, c *resource.Collection, name string, readTime *timestamppb.Timestamp, showDeleted bool) (proto.Message, error) {
	if err := inCollection(c, name, "name"); err != nil {
		return nil, err
	}
	var (
		r   proto.Message
		err error
	)
	if readTime != nil {
		r, err = m.Store.GetAt(ctx, c, name, readTime.AsTime(), showDeleted)
	} else {
		r, err = m.Store.Get(ctx, c, name, showDeleted)
	}
	if err != nil {
		return nil, err
	}
	if err := license.Deny(p, name, license.Of(r)); err != nil {
		return nil, err
	}
	return r, nil
}

// List returns a page of c, leaving out the records p may not read. req.Where, when set,
// is kept and combined with the licence condition.
func (m Methods) List(ctx context.Context, p principal.Principal, c *resource.Collection, req resource.ListRequest) (resource.ListResult, error) {
	where, args := license.Where(p)
	if where != "" {
		if req.Where != "" {
			where = "(" + req.Where + ") AND " + where
			args = append(append([]any{}, req.WhereArgs...), args...)
		}
		req.Where, req.WhereArgs = where, args
	}
	return m.Store.List(ctx, c, req)
}

// Create creates r in c under id.
func (m Methods) Create(ctx context.Context, call Call, c *resource.Collection, id string, r proto.Message) (proto.Message, error) {
	if err := RequireWriter(call.Principal); err != nil {
		return nil, err
	}
	if id == "" {
		return nil, apperr.Invalid(Singular(c)+"_id", "is required")
	}
	return m.Store.Create(ctx, c, call.Meta(), id, r, m.check(ctx, c, Singular(c)+"."))
}

// Update applies the fields named by paths from r to the stored resource r names, if the
// caller may read that resource.
func (m Methods) Update(ctx context.Context, call Call, c *resource.Collection, r proto.Message, paths []string) (proto.Message, error) {
	if err := RequireWriter(call.Principal); err != nil {
		return nil, err
	}
	name := resource.Name(r)
	if err := inCollection(c, name, Singular(c)+".name"); err != nil {
		return nil, err
	}
	// The licence is checked by call.Meta's guard on the row the update applies to,
	// inside its transaction (after a repeated request_id has had its first answer).
	return m.Store.Update(ctx, c, call.Meta(), r, paths, m.check(ctx, c, Singular(c)+"."))
}

// Delete turns a resource into a tombstone, if the caller may read it and CanDelete (when
// set) agrees.
func (m Methods) Delete(ctx context.Context, call Call, c *resource.Collection, name, etag string) (proto.Message, error) {
	if err := RequireWriter(call.Principal); err != nil {
		return nil, err
	}
	if err := inCollection(c, name, "name"); err != nil {
		return nil, err
	}
	// call.Meta's guard refuses a resource the caller may not read.
	return m.Store.Delete(ctx, c, call.Meta(), name, etag, func(rd resource.Reader, cur proto.Message) error {
		if m.CanDelete != nil {
			return m.CanDelete(ctx, rd, c, cur)
		}
		return nil
	})
}

// BatchGroup is one collection's part of a batch; Field is the request field holding
// its items ("requests", "actors").
type BatchGroup struct {
	Collection *resource.Collection
	Field      string
	Items      []resource.Item
	Policy     resource.Policy
}

// BatchCreate writes the groups in order in one transaction, all or nothing, with each
// collection's domain check: a group may hold what a later group refers to. With
// resource.BatchValidateOnly it only checks them (see resource.Store.BatchCreate); the
// caller still needs a writer's role.
func (m Methods) BatchCreate(ctx context.Context, call Call, groups []BatchGroup, mode resource.BatchMode) ([]resource.GroupResult, error) {
	if err := RequireWriter(call.Principal); err != nil {
		return nil, err
	}
	rg := make([]resource.Group, len(groups))
	for gi, g := range groups {
		for i, it := range g.Items {
			if it.ID == "" {
				return nil, apperr.Invalid(fmt.Sprintf("%s[%d].%s_id", g.Field, i, Singular(g.Collection)), "is required")
			}
		}
		// call.Meta's guard refuses an item whose id is taken by a resource the caller
		// may not read.
		rg[gi] = resource.Group{Collection: g.Collection, Field: g.Field, Items: g.Items, Policy: g.Policy, Check: m.check(ctx, g.Collection, Singular(g.Collection)+".")}
	}
	return m.Store.BatchCreate(ctx, call.Meta(), rg, mode)
}

// HistoryPage is one page of a resource's changes, oldest first, as stored payloads (the
// service's Change messages).
type HistoryPage struct {
	Payloads      [][]byte
	NextPageToken string
}

// History returns a page of the changes of the resource name, which p must be allowed to
// read in every revision. Page tokens carry the last sequence returned, bound to name.
// A resource that never existed is NOT_FOUND.
func (m Methods) History(ctx context.Context, p principal.Principal, name string, pageSize int32, pageToken string) (HistoryPage, error) {
	size, err := pagination.Size(pageSize)
	if err != nil {
		return HistoryPage{}, apperr.Invalid("page_size", err.Error())
	}
	key := pagination.QueryKey("history", name)
	var after int64
	if pageToken != "" {
		last, err := pagination.Decode(pageToken, key)
		if err == nil && len(last) != 1 {
			err = pagination.ErrBadToken
		}
		if err != nil {
			return HistoryPage{}, apperr.Invalid("page_token", err.Error())
		}
		seq, ok := last[0].(int64)
		if !ok {
			return HistoryPage{}, apperr.Invalid("page_token", pagination.ErrBadToken.Error())
		}
		after = seq
	}
	payloads, last, err := m.Store.History(ctx, name, after, size)
	if err != nil {
		return HistoryPage{}, err
	}
	if after == 0 && len(payloads) == 0 {
		return HistoryPage{}, apperr.NotFound("%s has no history: it never existed", name)
	}
	var page HistoryPage
	if len(payloads) == size {
		// A full page: offer a next one only if something follows.
		more, _, err := m.Store.History(ctx, name, last, 1)
		if err != nil {
			return HistoryPage{}, err
		}
		if len(more) > 0 {
			page.NextPageToken = pagination.Encode(key, []any{last})
		}
	}
	for _, b := range payloads {
		r, err := m.Store.Decode(b)
		if err != nil {
			return HistoryPage{}, fmt.Errorf("standard: history of %s: %w", name, err)
		}
		if err := license.Deny(p, name, license.Of(r)); err != nil {
			return HistoryPage{}, err
		}
	}
	page.Payloads = payloads
	return page, nil
}
