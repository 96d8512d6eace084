// Package grpcapi serves guarantor.guarantees.v1.GuaranteesService over gRPC: it maps
// the generated requests onto the platform's standard methods (platform/rpc) and the
// domain, and their results onto responses. Errors are returned as they come
// (platform/apperr values); the platform's error interceptor maps them to status codes.
package grpcapi

import (
	"context"
	"time"

	"google.golang.org/grpc"

	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
	"github.com/guarantor/guarantor/platform/notify"
	"github.com/guarantor/guarantor/platform/rpc"
	"github.com/guarantor/guarantor/platform/service"
	"github.com/guarantor/guarantor/platform/watch"
	"github.com/guarantor/guarantor/services/guarantees/internal/domain"
	"github.com/guarantor/guarantor/services/guarantees/internal/store"
)

// Server implements guaranteesv1.GuaranteesServiceServer.
type Server struct {
	guaranteesv1.UnimplementedGuaranteesServiceServer
	svc      *domain.Service
	notifier *notify.Notifier
	// BookmarkEvery is how often an idle Watch sends a bookmark.
	BookmarkEvery time.Duration
}

// New returns the gRPC server over the domain service.
func New(svc *domain.Service, n *notify.Notifier) *Server {
	return &Server{svc: svc, notifier: n, BookmarkEvery: 30 * time.Second}
}

// CreateFramework implements GuaranteesService.
func (s *Server) CreateFramework(ctx context.Context, req *guaranteesv1.CreateFrameworkRequest) (*guaranteesv1.CreateFrameworkResponse, error) {
	f, err := rpc.Create(ctx, s.svc.Methods, store.Frameworks, req.GetRequestId(), req.GetFrameworkId(), req.GetFramework())
	if err != nil {
		return nil, err
	}
	return &guaranteesv1.CreateFrameworkResponse{Framework: f}, nil
}

// GetFramework implements GuaranteesService.
func (s *Server) GetFramework(ctx context.Context, req *guaranteesv1.GetFrameworkRequest) (*guaranteesv1.GetFrameworkResponse, error) {
	f, err := rpc.Get[*guaranteesv1.Framework](ctx, s.svc.Methods, store.Frameworks, req.GetName(), req.GetReadTime(), req.GetShowDeleted())
	if err != nil {
		return nil, err
	}
	return &guaranteesv1.GetFrameworkResponse{Framework: f}, nil
}

// ListFrameworks implements GuaranteesService.
func (s *Server) ListFrameworks(ctx context.Context, req *guaranteesv1.ListFrameworksRequest) (*guaranteesv1.ListFrameworksResponse, error) {
	page, err := rpc.List[*guaranteesv1.Framework](ctx, s.svc.Methods, store.Frameworks, req)
	if err != nil {
		return nil, err
	}
	return &guaranteesv1.ListFrameworksResponse{Frameworks: page.Items, NextPageToken: page.NextPageToken, TotalSize: page.Total, ResourceVersion: page.Version}, nil
}

// UpdateFramework implements GuaranteesService.
func (s *Server) UpdateFramework(ctx context.Context, req *guaranteesv1.UpdateFrameworkRequest) (*guaranteesv1.UpdateFrameworkResponse, error) {
	f, err := rpc.Update(ctx, s.svc.Methods, store.Frameworks, req.GetRequestId(), req.GetFramework(), req.GetUpdateMask())
	if err != nil {
		return nil, err
	}
	return &guaranteesv1.UpdateFrameworkResponse{Framework: f}, nil
}

// DeleteFramework implements GuaranteesService.
func (s *Server) DeleteFramework(ctx context.Context, req *guaranteesv1.DeleteFrameworkRequest) (*guaranteesv1.DeleteFrameworkResponse, error) {
	f, err := rpc.Delete[*guaranteesv1.Framework](ctx, s.svc.Methods, store.Frameworks, req.GetRequestId(), req.GetName(), req.GetEtag())
	if err != nil {
		return nil, err
	}
	return &guaranteesv1.DeleteFrameworkResponse{Framework: f}, nil
}

// BatchCreateFrameworks implements GuaranteesService.
func (s *Server) BatchCreateFrameworks(ctx context.Context, req *guaranteesv1.BatchCreateFrameworksRequest) (*guaranteesv1.BatchCreateFrameworksResponse, error) {
	batch := rpc.CreateRequest[*guaranteesv1.CreateFrameworkRequest, *guaranteesv1.Framework]{
		Requests: req.GetRequests(), ID: (*guaranteesv1.CreateFrameworkRequest).GetFrameworkId, Resource: (*guaranteesv1.CreateFrameworkRequest).GetFramework,
	}
	fs, outcomes, err := rpc.BatchCreate(ctx, s.svc.Methods, store.Frameworks, req, batch)
	if err != nil {
		return nil, err
	}
	return &guaranteesv1.BatchCreateFrameworksResponse{Frameworks: fs, Outcomes: outcomes}, nil
}

// CreateGuarantee implements GuaranteesService.
func (s *Server) CreateGuarantee(ctx context.Context, req *guaranteesv1.CreateGuaranteeRequest) (*guaranteesv1.CreateGuaranteeResponse, error) {
	g, err := rpc.Create(ctx, s.svc.Methods, store.Guarantees, req.GetRequestId(), req.GetGuaranteeId(), req.GetGuarantee())
	if err != nil {
		return nil, err
	}
	return &guaranteesv1.CreateGuaranteeResponse{Guarantee: g}, nil
}

// GetGuarantee implements GuaranteesService.
func (s *Server) GetGuarantee(ctx context.Context, req *guaranteesv1.GetGuaranteeRequest) (*guaranteesv1.GetGuaranteeResponse, error) {
	g, err := rpc.Get[*guaranteesv1.Guarantee](ctx, s.svc.Methods, store.Guarantees, req.GetName(), req.GetReadTime(), req.GetShowDeleted())
	if err != nil {
		return nil, err
	}
	return &guaranteesv1.GetGuaranteeResponse{Guarantee: g}, nil
}

// ListGuarantees implements GuaranteesService.
func (s *Server) ListGuarantees(ctx context.Context, req *guaranteesv1.ListGuaranteesRequest) (*guaranteesv1.ListGuaranteesResponse, error) {
	page, err := rpc.List[*guaranteesv1.Guarantee](ctx, s.svc.Methods, store.Guarantees, req)
	if err != nil {
		return nil, err
	}
	return &guaranteesv1.ListGuaranteesResponse{Guarantees: page.Items, NextPageToken: page.NextPageToken, TotalSize: page.Total, ResourceVersion: page.Version}, nil
}

// UpdateGuarantee implements GuaranteesService.
func (s *Server) UpdateGuarantee(ctx context.Context, req *guaranteesv1.UpdateGuaranteeRequest) (*guaranteesv1.UpdateGuaranteeResponse, error) {
	g, err := rpc.Update(ctx, s.svc.Methods, store.Guarantees, req.GetRequestId(), req.GetGuarantee(), req.GetUpdateMask())
	if err != nil {
		return nil, err
	}
	return &guaranteesv1.UpdateGuaranteeResponse{Guarantee: g}, nil
}

// DeleteGuarantee implements GuaranteesService.
func (s *Server) DeleteGuarantee(ctx context.Context, req *guaranteesv1.DeleteGuaranteeRequest) (*guaranteesv1.DeleteGuaranteeResponse, error) {
	g, err := rpc.Delete[*guaranteesv1.Guarantee](ctx, s.svc.Methods, store.Guarantees, req.GetRequestId(), req.GetName(), req.GetEtag())
	if err != nil {
		return nil, err
	}
	return &guaranteesv1.DeleteGuaranteeResponse{Guarantee: g}, nil
}

// BatchCreateGuarantees implements GuaranteesService.
func (s *Server) BatchCreateGuarantees(ctx context.Context, req *guaranteesv1.BatchCreateGuaranteesRequest) (*guaranteesv1.BatchCreateGuaranteesResponse, error) {
	batch := rpc.CreateRequest[*guaranteesv1.CreateGuaranteeRequest, *guaranteesv1.Guarantee]{
		Requests: req.GetRequests(), ID: (*guaranteesv1.CreateGuaranteeRequest).GetGuaranteeId, Resource: (*guaranteesv1.CreateGuaranteeRequest).GetGuarantee,
	}
	gs, outcomes, err := rpc.BatchCreate(ctx, s.svc.Methods, store.Guarantees, req, batch)
	if err != nil {
		return nil, err
	}
	return &guaranteesv1.BatchCreateGuaranteesResponse{Guarantees: gs, Outcomes: outcomes}, nil
}

// TransitionGuarantee implements GuaranteesService.
func (s *Server) TransitionGuarantee(ctx context.Context, req *guaranteesv1.TransitionGuaranteeRequest) (*guaranteesv1.TransitionGuaranteeResponse, error) {
	c, err := service.Call(ctx, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	g, err := s.svc.Transition(ctx, c, req.GetName(), req.GetTargetStatus(), req.GetReason(), req.GetEvidenceEvent(), req.GetEtag())
	if err != nil {
		return nil, err
	}
	return &guaranteesv1.TransitionGuaranteeResponse{Guarantee: g}, nil
}

// RecordRatificationAction implements GuaranteesService.
func (s *Server) RecordRatificationAction(ctx context.Context, req *guaranteesv1.RecordRatificationActionRequest) (*guaranteesv1.RecordRatificationActionResponse, error) {
	c, err := service.Call(ctx, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	g, err := s.svc.RecordRatification(ctx, c, req.GetName(), req.GetAction(), req.GetEtag())
	if err != nil {
		return nil, err
	}
	return &guaranteesv1.RecordRatificationActionResponse{Guarantee: g}, nil
}

// SatisfyCondition implements GuaranteesService.
func (s *Server) SatisfyCondition(ctx context.Context, req *guaranteesv1.SatisfyConditionRequest) (*guaranteesv1.SatisfyConditionResponse, error) {
	c, err := service.Call(ctx, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	g, err := s.svc.SatisfyCondition(ctx, c, req.GetName(), req.GetConditionId(), req.GetEvidenceEvent(), req.GetSatisfyTime(), req.GetEtag())
	if err != nil {
		return nil, err
	}
	return &guaranteesv1.SatisfyConditionResponse{Guarantee: g}, nil
}

// GetCoverage implements GuaranteesService.
func (s *Server) GetCoverage(ctx context.Context, req *guaranteesv1.GetCoverageRequest) (*guaranteesv1.GetCoverageResponse, error) {
	p, err := service.Caller(ctx)
	if err != nil {
		return nil, err
	}
	return s.svc.Coverage(ctx, p, req.GetFramework(), req.GetBeneficiary(), req.GetReadTime())
}

// ListActorCommitments implements GuaranteesService.
func (s *Server) ListActorCommitments(ctx context.Context, req *guaranteesv1.ListActorCommitmentsRequest) (*guaranteesv1.ListActorCommitmentsResponse, error) {
	p, err := service.Caller(ctx)
	if err != nil {
		return nil, err
	}
	gs, next, err := s.svc.Commitments(ctx, p, req.GetActor(), req.GetPageSize(), req.GetPageToken(), req.GetReadTime())
	if err != nil {
		return nil, err
	}
	return &guaranteesv1.ListActorCommitmentsResponse{Guarantees: gs, NextPageToken: next}, nil
}

// ListHistory implements GuaranteesService.
func (s *Server) ListHistory(ctx context.Context, req *guaranteesv1.ListHistoryRequest) (*guaranteesv1.ListHistoryResponse, error) {
	changes, next, err := rpc.History(ctx, s.svc.Methods, domain.Codec, req.GetName(), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &guaranteesv1.ListHistoryResponse{Changes: changes, NextPageToken: next}, nil
}

// Watch implements GuaranteesService: replay from the change log after the requested
// version, then live changes, with bookmarks while idle.
func (s *Server) Watch(req *guaranteesv1.WatchRequest, stream grpc.ServerStreamingServer[guaranteesv1.WatchResponse]) error {
	w := rpc.Watcher[*guaranteesv1.Change, guaranteesv1.WatchResponse]{
		Options: watch.Options{DB: s.svc.Store.DB(), Notifier: s.notifier, BookmarkEvery: s.BookmarkEvery},
		Codec:   domain.Codec,
		Visible: domain.ChangeVisible,
		Response: func(t typev1.WatchEventType, ch *guaranteesv1.Change, version int64) *guaranteesv1.WatchResponse {
			return &guaranteesv1.WatchResponse{Type: t, Change: ch, ResourceVersion: version}
		},
	}
	return w.Serve(watch.Request{ResourceVersion: req.GetResourceVersion(), Collections: req.GetCollections(), Name: req.GetName()}, stream)
}
