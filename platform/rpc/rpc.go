// Package rpc is the gRPC side of the standard methods, written once for every service:
// each function takes the fields a generated request carries, identifies the caller from
// the call's context, runs the standard method and hands back the typed resource. A
// service's gRPC adapter is then only the mapping between its generated messages and
// these calls; everything with behaviour lives here or in platform/standard.
package rpc

import (
	"context"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
	"github.com/guarantor/guarantor/platform/apitype"
	"github.com/guarantor/guarantor/platform/resource"
	"github.com/guarantor/guarantor/platform/service"
	"github.com/guarantor/guarantor/platform/standard"
)

// Get reads one resource as the caller, optionally as of readTime.
func Get[R proto.Message](ctx context.Context, m standard.Methods, c *resource.Collection, name string, readTime *timestamppb.Timestamp, showDeleted bool) (R, error) {
	var zero R
	p, err := service.Caller(ctx)
	if err != nil {
		return zero, err
	}
	r, err := m.Get(ctx, p, c, name, readTime, showDeleted)
	if err != nil {
		return zero, err
	}
	return r.(R), nil
}

// List runs a List request as the caller; the result carries the page's resources typed.
func List[R proto.Message](ctx context.Context, m standard.Methods, c *resource.Collection, req resource.ListParams) (Page[R], error) {
	p, err := service.Caller(ctx)
	if err != nil {
		return Page[R]{}, err
	}
	res, err := m.List(ctx, p, c, resource.ListRequestOf(req))
	if err != nil {
		return Page[R]{}, err
	}
	return Page[R]{Items: resource.Typed[R](res.Items), NextPageToken: res.NextPageToken, Total: res.Total, Version: res.Version}, nil
}

// Page is one page of a List.
type Page[R proto.Message] struct {
	Items         []R
	NextPageToken string
	// Total is the number of matches when the request asked for it, else nil.
	Total *int64
	// Version is the resource version the page was read at (a Watch can start there).
	Version int64
}

// Create creates a resource with the caller's request_id.
func Create[R proto.Message](ctx context.Context, m standard.Methods, c *resource.Collection, requestID, id string, r R) (R, error) {
	var zero R
	call, err := service.Call(ctx, requestID)
	if err != nil {
		return zero, err
	}
	out, err := m.Create(ctx, call, c, id, r)
	if err != nil {
		return zero, err
	}
	return out.(R), nil
}

// Update applies the fields of mask (nil: every field the caller may set) to a resource.
func Update[R proto.Message](ctx context.Context, m standard.Methods, c *resource.Collection, requestID string, r R, mask *fieldmaskpb.FieldMask) (R, error) {
	var zero R
	call, err := service.Call(ctx, requestID)
	if err != nil {
		return zero, err
	}
	out, err := m.Update(ctx, call, c, r, mask.GetPaths())
	if err != nil {
		return zero, err
	}
	return out.(R), nil
}

// Delete leaves a tombstone of a resource and returns it.
func Delete[R proto.Message](ctx context.Context, m standard.Methods, c *resource.Collection, requestID, name, etag string) (R, error) {
	var zero R
	call, err := service.Call(ctx, requestID)
	if err != nil {
		return zero, err
	}
	out, err := m.Delete(ctx, call, c, name, etag)
	if err != nil {
		return zero, err
	}
	return out.(R), nil
}

// CreateRequest is the part of a generated Create request a batch holds: the id the
// client chose and the resource. id and resource read them from the generated message.
type CreateRequest[Q any, R proto.Message] struct {
	Requests []Q
	ID       func(Q) string
	Resource func(Q) R
}

// Items are the batch's requests as store items.
func (b CreateRequest[Q, R]) Items() []resource.Item {
	items := make([]resource.Item, len(b.Requests))
	for i, q := range b.Requests {
		items[i] = resource.Item{ID: b.ID(q), Resource: b.Resource(q)}
	}
	return items
}

// BatchRequest is what every generated BatchCreate request holds besides its items.
type BatchRequest interface {
	GetRequestId() string
	GetExistingPolicy() typev1.ExistingPolicy
	GetValidateOnly() bool
}

// BatchCreate creates the requests' resources in one transaction under the request's
// policy (or only checks them, with validate_only) and returns them with each one's
// outcome.
func BatchCreate[Q any, R proto.Message](ctx context.Context, m standard.Methods, c *resource.Collection, req BatchRequest, batch CreateRequest[Q, R]) ([]R, []typev1.BatchOutcome, error) {
	res, err := BatchCreateGroups(ctx, m, req, []standard.BatchGroup{{Collection: c, Field: "requests", Items: batch.Items(), Policy: apitype.Policy(req.GetExistingPolicy())}})
	if err != nil {
		return nil, nil, err
	}
	return resource.Typed[R](res[0].Resources), apitype.BatchOutcomes(res[0].Outcomes), nil
}

// BatchCreateGroups writes several collections' batches in one transaction, in order
// (see standard.Methods.BatchCreate), or only checks them when req asks; the caller
// types each group's result. Each group has its own policy: req's is not used here.
func BatchCreateGroups(ctx context.Context, m standard.Methods, req BatchRequest, groups []standard.BatchGroup) ([]resource.GroupResult, error) {
	call, err := service.Call(ctx, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	mode := resource.BatchWrite
	if req.GetValidateOnly() {
		mode = resource.BatchValidateOnly
	}
	return m.BatchCreate(ctx, call, groups, mode)
}

// History returns a page of the changes of one resource the caller may read, oldest
// first, decoded by the service's change codec.
func History[C proto.Message](ctx context.Context, m standard.Methods, codec apitype.Codec[C], name string, pageSize int32, pageToken string) ([]C, string, error) {
	p, err := service.Caller(ctx)
	if err != nil {
		return nil, "", err
	}
	page, err := m.History(ctx, p, name, pageSize, pageToken)
	if err != nil {
		return nil, "", err
	}
	out := make([]C, len(page.Payloads))
	for i, b := range page.Payloads {
		if out[i], err = codec.DecodeChange(b); err != nil {
			return nil, "", err
		}
	}
	return out, page.NextPageToken, nil
}
