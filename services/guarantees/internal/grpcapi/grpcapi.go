// Package grpcapi serves guarantor.guarantees.v1.GuaranteesService over gRPC: it turns
// requests into domain calls and domain results into responses. Errors are returned as
// they come (platform/apperr values); the platform's error interceptor maps them to
// status codes.
package grpcapi

import (
	"context"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"

	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
	"github.com/guarantor/guarantor/platform/apitype"
	"github.com/guarantor/guarantor/platform/changelog"
	"github.com/guarantor/guarantor/platform/notify"
	"github.com/guarantor/guarantor/platform/resource"
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
	log      *zap.Logger
	// BookmarkEvery is how often an idle Watch sends a bookmark.
	BookmarkEvery time.Duration
}

// New returns the gRPC server over the domain service.
func New(svc *domain.Service, n *notify.Notifier, log *zap.Logger) *Server {
	if log == nil {
		log = zap.NewNop()
	}
	return &Server{svc: svc, notifier: n, log: log, BookmarkEvery: 30 * time.Second}
}

// CreateFramework implements GuaranteesService.
func (s *Server) CreateFramework(ctx context.Context, req *guaranteesv1.CreateFrameworkRequest) (*guaranteesv1.CreateFrameworkResponse, error) {
	c, err := service.Call(ctx, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	m, err := s.svc.Create(ctx, c, store.Frameworks, req.GetFrameworkId(), req.GetFramework())
	if err != nil {
		return nil, err
	}
	return &guaranteesv1.CreateFrameworkResponse{Framework: m.(*guaranteesv1.Framework)}, nil
}

// GetFramework implements GuaranteesService.
func (s *Server) GetFramework(ctx context.Context, req *guaranteesv1.GetFrameworkRequest) (*guaranteesv1.GetFrameworkResponse, error) {
	p, err := service.Caller(ctx)
	if err != nil {
		return nil, err
	}
	m, err := s.svc.Get(ctx, p, store.Frameworks, req.GetName(), req.GetReadTime(), req.GetShowDeleted())
	if err != nil {
		return nil, err
	}
	return &guaranteesv1.GetFrameworkResponse{Framework: m.(*guaranteesv1.Framework)}, nil
}

// ListFrameworks implements GuaranteesService.
func (s *Server) ListFrameworks(ctx context.Context, req *guaranteesv1.ListFrameworksRequest) (*guaranteesv1.ListFrameworksResponse, error) {
	p, err := service.Caller(ctx)
	if err != nil {
		return nil, err
	}
	res, err := s.svc.List(ctx, p, store.Frameworks, resource.ListRequestOf(req))
	if err != nil {
		return nil, err
	}
	out := &guaranteesv1.ListFrameworksResponse{NextPageToken: res.NextPageToken, TotalSize: res.Total, ResourceVersion: res.Version}
	out.Frameworks = resource.Typed[*guaranteesv1.Framework](res.Items)
	return out, nil
}

// UpdateFramework implements GuaranteesService.
func (s *Server) UpdateFramework(ctx context.Context, req *guaranteesv1.UpdateFrameworkRequest) (*guaranteesv1.UpdateFrameworkResponse, error) {
	c, err := service.Call(ctx, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	m, err := s.svc.Update(ctx, c, store.Frameworks, req.GetFramework(), req.GetUpdateMask().GetPaths())
	if err != nil {
		return nil, err
	}
	return &guaranteesv1.UpdateFrameworkResponse{Framework: m.(*guaranteesv1.Framework)}, nil
}

// DeleteFramework implements GuaranteesService.
func (s *Server) DeleteFramework(ctx context.Context, req *guaranteesv1.DeleteFrameworkRequest) (*guaranteesv1.DeleteFrameworkResponse, error) {
	c, err := service.Call(ctx, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	m, err := s.svc.Delete(ctx, c, store.Frameworks, req.GetName(), req.GetEtag())
	if err != nil {
		return nil, err
	}
	return &guaranteesv1.DeleteFrameworkResponse{Framework: m.(*guaranteesv1.Framework)}, nil
}

// BatchCreateFrameworks implements GuaranteesService.
func (s *Server) BatchCreateFrameworks(ctx context.Context, req *guaranteesv1.BatchCreateFrameworksRequest) (*guaranteesv1.BatchCreateFrameworksResponse, error) {
	c, err := service.Call(ctx, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	items := make([]resource.Item, len(req.GetRequests()))
	for i, r := range req.GetRequests() {
		items[i] = resource.Item{ID: r.GetFrameworkId(), Resource: r.GetFramework()}
	}
	ms, outcomes, err := s.svc.BatchCreate(ctx, c, store.Frameworks, items, apitype.Policy(req.GetExistingPolicy()))
	if err != nil {
		return nil, err
	}
	out := &guaranteesv1.BatchCreateFrameworksResponse{Outcomes: apitype.BatchOutcomes(outcomes)}
	out.Frameworks = resource.Typed[*guaranteesv1.Framework](ms)
	return out, nil
}

// CreateGuarantee implements GuaranteesService.
func (s *Server) CreateGuarantee(ctx context.Context, req *guaranteesv1.CreateGuaranteeRequest) (*guaranteesv1.CreateGuaranteeResponse, error) {
	c, err := service.Call(ctx, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	m, err := s.svc.Create(ctx, c, store.Guarantees, req.GetGuaranteeId(), req.GetGuarantee())
	if err != nil {
		return nil, err
	}
	return &guaranteesv1.CreateGuaranteeResponse{Guarantee: m.(*guaranteesv1.Guarantee)}, nil
}

// GetGuarantee implements GuaranteesService.
func (s *Server) GetGuarantee(ctx context.Context, req *guaranteesv1.GetGuaranteeRequest) (*guaranteesv1.GetGuaranteeResponse, error) {
	p, err := service.Caller(ctx)
	if err != nil {
		return nil, err
	}
	m, err := s.svc.Get(ctx, p, store.Guarantees, req.GetName(), req.GetReadTime(), req.GetShowDeleted())
	if err != nil {
		return nil, err
	}
	return &guaranteesv1.GetGuaranteeResponse{Guarantee: m.(*guaranteesv1.Guarantee)}, nil
}

// ListGuarantees implements GuaranteesService.
func (s *Server) ListGuarantees(ctx context.Context, req *guaranteesv1.ListGuaranteesRequest) (*guaranteesv1.ListGuaranteesResponse, error) {
	p, err := service.Caller(ctx)
	if err != nil {
		return nil, err
	}
	res, err := s.svc.List(ctx, p, store.Guarantees, resource.ListRequestOf(req))
	if err != nil {
		return nil, err
	}
	out := &guaranteesv1.ListGuaranteesResponse{NextPageToken: res.NextPageToken, TotalSize: res.Total, ResourceVersion: res.Version}
	out.Guarantees = resource.Typed[*guaranteesv1.Guarantee](res.Items)
	return out, nil
}

// UpdateGuarantee implements GuaranteesService.
func (s *Server) UpdateGuarantee(ctx context.Context, req *guaranteesv1.UpdateGuaranteeRequest) (*guaranteesv1.UpdateGuaranteeResponse, error) {
	c, err := service.Call(ctx, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	m, err := s.svc.Update(ctx, c, store.Guarantees, req.GetGuarantee(), req.GetUpdateMask().GetPaths())
	if err != nil {
		return nil, err
	}
	return &guaranteesv1.UpdateGuaranteeResponse{Guarantee: m.(*guaranteesv1.Guarantee)}, nil
}

// DeleteGuarantee implements GuaranteesService.
func (s *Server) DeleteGuarantee(ctx context.Context, req *guaranteesv1.DeleteGuaranteeRequest) (*guaranteesv1.DeleteGuaranteeResponse, error) {
	c, err := service.Call(ctx, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	m, err := s.svc.Delete(ctx, c, store.Guarantees, req.GetName(), req.GetEtag())
	if err != nil {
		return nil, err
	}
	return &guaranteesv1.DeleteGuaranteeResponse{Guarantee: m.(*guaranteesv1.Guarantee)}, nil
}

// BatchCreateGuarantees implements GuaranteesService.
func (s *Server) BatchCreateGuarantees(ctx context.Context, req *guaranteesv1.BatchCreateGuaranteesRequest) (*guaranteesv1.BatchCreateGuaranteesResponse, error) {
	c, err := service.Call(ctx, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	items := make([]resource.Item, len(req.GetRequests()))
	for i, r := range req.GetRequests() {
		items[i] = resource.Item{ID: r.GetGuaranteeId(), Resource: r.GetGuarantee()}
	}
	ms, outcomes, err := s.svc.BatchCreate(ctx, c, store.Guarantees, items, apitype.Policy(req.GetExistingPolicy()))
	if err != nil {
		return nil, err
	}
	out := &guaranteesv1.BatchCreateGuaranteesResponse{Outcomes: apitype.BatchOutcomes(outcomes)}
	out.Guarantees = resource.Typed[*guaranteesv1.Guarantee](ms)
	return out, nil
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
	p, err := service.Caller(ctx)
	if err != nil {
		return nil, err
	}
	changes, next, err := s.svc.Changes(ctx, p, req.GetName(), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &guaranteesv1.ListHistoryResponse{Changes: changes, NextPageToken: next}, nil
}

// Watch implements GuaranteesService: replay from the change log after the requested
// version, then live changes, with bookmarks while idle.
func (s *Server) Watch(req *guaranteesv1.WatchRequest, stream grpc.ServerStreamingServer[guaranteesv1.WatchResponse]) error {
	ctx := stream.Context()
	p, err := service.Caller(ctx)
	if err != nil {
		return err
	}
	return watch.Serve(ctx, watch.Options{DB: s.svc.Store.DB(), Notifier: s.notifier, BookmarkEvery: s.BookmarkEvery},
		watch.Request{ResourceVersion: req.GetResourceVersion(), Collections: req.GetCollections(), Name: req.GetName()},
		func(e changelog.Entry) error {
			ch, err := domain.Codec.DecodeChange(e.Payload)
			if err != nil {
				return err
			}
			if !domain.ChangeVisible(p, ch) {
				return nil
			}
			return stream.Send(&guaranteesv1.WatchResponse{Type: apitype.WatchType(e.Kind), Change: ch, ResourceVersion: e.Seq})
		}, func(seq int64) error {
			return stream.Send(&guaranteesv1.WatchResponse{Type: typev1.WatchEventType_WATCH_EVENT_TYPE_BOOKMARK, ResourceVersion: seq})
		})
}
