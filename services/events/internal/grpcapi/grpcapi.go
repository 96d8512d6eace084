// Package grpcapi serves guarantor.events.v1.EventsService over gRPC: it turns requests
// into domain calls and domain results into responses. Errors are returned as they come
// (platform/apperr values); the platform's error interceptor maps them to status codes.
package grpcapi

import (
	"context"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
	"github.com/guarantor/guarantor/platform/apitype"
	"github.com/guarantor/guarantor/platform/changelog"
	"github.com/guarantor/guarantor/platform/notify"
	"github.com/guarantor/guarantor/platform/resource"
	"github.com/guarantor/guarantor/platform/service"
	"github.com/guarantor/guarantor/platform/watch"
	"github.com/guarantor/guarantor/services/events/internal/domain"
	"github.com/guarantor/guarantor/services/events/internal/store"
)

// Server implements eventsv1.EventsServiceServer.
type Server struct {
	eventsv1.UnimplementedEventsServiceServer
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

// CreateEvent implements EventsService.
func (s *Server) CreateEvent(ctx context.Context, req *eventsv1.CreateEventRequest) (*eventsv1.CreateEventResponse, error) {
	c, err := service.Call(ctx, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	m, err := s.svc.Create(ctx, c, store.Events, req.GetEventId(), req.GetEvent())
	if err != nil {
		return nil, err
	}
	return &eventsv1.CreateEventResponse{Event: m.(*eventsv1.Event)}, nil
}

// GetEvent implements EventsService.
func (s *Server) GetEvent(ctx context.Context, req *eventsv1.GetEventRequest) (*eventsv1.GetEventResponse, error) {
	p, err := service.Caller(ctx)
	if err != nil {
		return nil, err
	}
	m, err := s.svc.Get(ctx, p, store.Events, req.GetName(), req.GetReadTime(), req.GetShowDeleted())
	if err != nil {
		return nil, err
	}
	return &eventsv1.GetEventResponse{Event: m.(*eventsv1.Event)}, nil
}

// ListEvents implements EventsService.
func (s *Server) ListEvents(ctx context.Context, req *eventsv1.ListEventsRequest) (*eventsv1.ListEventsResponse, error) {
	p, err := service.Caller(ctx)
	if err != nil {
		return nil, err
	}
	res, err := s.svc.List(ctx, p, store.Events, resource.ListRequestOf(req))
	if err != nil {
		return nil, err
	}
	out := &eventsv1.ListEventsResponse{NextPageToken: res.NextPageToken, TotalSize: res.Total, ResourceVersion: res.Version}
	out.Events = resource.Typed[*eventsv1.Event](res.Items)
	return out, nil
}

// UpdateEvent implements EventsService.
func (s *Server) UpdateEvent(ctx context.Context, req *eventsv1.UpdateEventRequest) (*eventsv1.UpdateEventResponse, error) {
	c, err := service.Call(ctx, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	m, err := s.svc.Update(ctx, c, store.Events, req.GetEvent(), req.GetUpdateMask().GetPaths())
	if err != nil {
		return nil, err
	}
	return &eventsv1.UpdateEventResponse{Event: m.(*eventsv1.Event)}, nil
}

// DeleteEvent implements EventsService.
func (s *Server) DeleteEvent(ctx context.Context, req *eventsv1.DeleteEventRequest) (*eventsv1.DeleteEventResponse, error) {
	c, err := service.Call(ctx, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	m, err := s.svc.Delete(ctx, c, store.Events, req.GetName(), req.GetEtag())
	if err != nil {
		return nil, err
	}
	return &eventsv1.DeleteEventResponse{Event: m.(*eventsv1.Event)}, nil
}

// BatchCreateEvents implements EventsService.
func (s *Server) BatchCreateEvents(ctx context.Context, req *eventsv1.BatchCreateEventsRequest) (*eventsv1.BatchCreateEventsResponse, error) {
	c, err := service.Call(ctx, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	items := make([]resource.Item, len(req.GetRequests()))
	for i, r := range req.GetRequests() {
		items[i] = resource.Item{ID: r.GetEventId(), Resource: r.GetEvent()}
	}
	ms, outcomes, err := s.svc.BatchCreate(ctx, c, store.Events, items, apitype.Policy(req.GetExistingPolicy()))
	if err != nil {
		return nil, err
	}
	out := &eventsv1.BatchCreateEventsResponse{Outcomes: apitype.BatchOutcomes(outcomes)}
	out.Events = resource.Typed[*eventsv1.Event](ms)
	return out, nil
}

// CreateActor implements EventsService.
func (s *Server) CreateActor(ctx context.Context, req *eventsv1.CreateActorRequest) (*eventsv1.CreateActorResponse, error) {
	c, err := service.Call(ctx, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	m, err := s.svc.Create(ctx, c, store.Actors, req.GetActorId(), req.GetActor())
	if err != nil {
		return nil, err
	}
	return &eventsv1.CreateActorResponse{Actor: m.(*eventsv1.Actor)}, nil
}

// GetActor implements EventsService.
func (s *Server) GetActor(ctx context.Context, req *eventsv1.GetActorRequest) (*eventsv1.GetActorResponse, error) {
	p, err := service.Caller(ctx)
	if err != nil {
		return nil, err
	}
	m, err := s.svc.Get(ctx, p, store.Actors, req.GetName(), req.GetReadTime(), req.GetShowDeleted())
	if err != nil {
		return nil, err
	}
	return &eventsv1.GetActorResponse{Actor: m.(*eventsv1.Actor)}, nil
}

// ListActors implements EventsService.
func (s *Server) ListActors(ctx context.Context, req *eventsv1.ListActorsRequest) (*eventsv1.ListActorsResponse, error) {
	p, err := service.Caller(ctx)
	if err != nil {
		return nil, err
	}
	res, err := s.svc.List(ctx, p, store.Actors, resource.ListRequestOf(req))
	if err != nil {
		return nil, err
	}
	out := &eventsv1.ListActorsResponse{NextPageToken: res.NextPageToken, TotalSize: res.Total, ResourceVersion: res.Version}
	out.Actors = resource.Typed[*eventsv1.Actor](res.Items)
	return out, nil
}

// UpdateActor implements EventsService.
func (s *Server) UpdateActor(ctx context.Context, req *eventsv1.UpdateActorRequest) (*eventsv1.UpdateActorResponse, error) {
	c, err := service.Call(ctx, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	m, err := s.svc.Update(ctx, c, store.Actors, req.GetActor(), req.GetUpdateMask().GetPaths())
	if err != nil {
		return nil, err
	}
	return &eventsv1.UpdateActorResponse{Actor: m.(*eventsv1.Actor)}, nil
}

// DeleteActor implements EventsService.
func (s *Server) DeleteActor(ctx context.Context, req *eventsv1.DeleteActorRequest) (*eventsv1.DeleteActorResponse, error) {
	c, err := service.Call(ctx, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	m, err := s.svc.Delete(ctx, c, store.Actors, req.GetName(), req.GetEtag())
	if err != nil {
		return nil, err
	}
	return &eventsv1.DeleteActorResponse{Actor: m.(*eventsv1.Actor)}, nil
}

// BatchCreateActors implements EventsService.
func (s *Server) BatchCreateActors(ctx context.Context, req *eventsv1.BatchCreateActorsRequest) (*eventsv1.BatchCreateActorsResponse, error) {
	c, err := service.Call(ctx, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	items := make([]resource.Item, len(req.GetRequests()))
	for i, r := range req.GetRequests() {
		items[i] = resource.Item{ID: r.GetActorId(), Resource: r.GetActor()}
	}
	ms, outcomes, err := s.svc.BatchCreate(ctx, c, store.Actors, items, apitype.Policy(req.GetExistingPolicy()))
	if err != nil {
		return nil, err
	}
	out := &eventsv1.BatchCreateActorsResponse{Outcomes: apitype.BatchOutcomes(outcomes)}
	out.Actors = resource.Typed[*eventsv1.Actor](ms)
	return out, nil
}

// ListRevisions implements EventsService.
func (s *Server) ListRevisions(ctx context.Context, req *eventsv1.ListRevisionsRequest) (*eventsv1.ListRevisionsResponse, error) {
	p, err := service.Caller(ctx)
	if err != nil {
		return nil, err
	}
	changes, next, err := s.svc.Changes(ctx, p, req.GetName(), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &eventsv1.ListRevisionsResponse{Changes: changes, NextPageToken: next}, nil
}

// Watch implements EventsService: replay from the change log after the requested version,
// then live changes, with bookmarks while idle.
func (s *Server) Watch(req *eventsv1.WatchRequest, stream grpc.ServerStreamingServer[eventsv1.WatchResponse]) error {
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
			return stream.Send(&eventsv1.WatchResponse{Type: apitype.WatchType(e.Kind), Change: ch, ResourceVersion: e.Seq})
		}, func(seq int64) error {
			return stream.Send(&eventsv1.WatchResponse{Type: typev1.WatchEventType_WATCH_EVENT_TYPE_BOOKMARK, ResourceVersion: seq})
		})
}
