// Package grpcapi serves guarantor.events.v1.EventsService over gRPC: it maps the
// generated requests onto the platform's standard methods (platform/rpc) and the domain,
// and their results onto responses. Errors are returned as they come (platform/apperr
// values); the platform's error interceptor maps them to status codes.
package grpcapi

import (
	"context"
	"time"

	"google.golang.org/grpc"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
	"github.com/guarantor/guarantor/platform/apitype"
	"github.com/guarantor/guarantor/platform/notify"
	"github.com/guarantor/guarantor/platform/resource"
	"github.com/guarantor/guarantor/platform/rpc"
	"github.com/guarantor/guarantor/platform/standard"
	"github.com/guarantor/guarantor/platform/watch"
	"github.com/guarantor/guarantor/services/events/internal/domain"
	"github.com/guarantor/guarantor/services/events/internal/store"
)

// Server implements eventsv1.EventsServiceServer.
type Server struct {
	eventsv1.UnimplementedEventsServiceServer
	svc      *domain.Service
	notifier *notify.Notifier
	// BookmarkEvery is how often an idle Watch sends a bookmark.
	BookmarkEvery time.Duration
}

// New returns the gRPC server over the domain service.
func New(svc *domain.Service, n *notify.Notifier) *Server {
	return &Server{svc: svc, notifier: n, BookmarkEvery: 30 * time.Second}
}

// CreateEvent implements EventsService.
func (s *Server) CreateEvent(ctx context.Context, req *eventsv1.CreateEventRequest) (*eventsv1.CreateEventResponse, error) {
	e, err := rpc.Create(ctx, s.svc.Methods, store.Events, req.GetRequestId(), req.GetEventId(), req.GetEvent())
	if err != nil {
		return nil, err
	}
	return &eventsv1.CreateEventResponse{Event: e}, nil
}

// GetEvent implements EventsService.
func (s *Server) GetEvent(ctx context.Context, req *eventsv1.GetEventRequest) (*eventsv1.GetEventResponse, error) {
	e, err := rpc.Get[*eventsv1.Event](ctx, s.svc.Methods, store.Events, req.GetName(), req.GetReadTime(), req.GetShowDeleted())
	if err != nil {
		return nil, err
	}
	return &eventsv1.GetEventResponse{Event: e}, nil
}

// ListEvents implements EventsService.
func (s *Server) ListEvents(ctx context.Context, req *eventsv1.ListEventsRequest) (*eventsv1.ListEventsResponse, error) {
	page, err := rpc.List[*eventsv1.Event](ctx, s.svc.Methods, store.Events, req)
	if err != nil {
		return nil, err
	}
	return &eventsv1.ListEventsResponse{Events: page.Items, NextPageToken: page.NextPageToken, TotalSize: page.Total, ResourceVersion: page.Version}, nil
}

// UpdateEvent implements EventsService.
func (s *Server) UpdateEvent(ctx context.Context, req *eventsv1.UpdateEventRequest) (*eventsv1.UpdateEventResponse, error) {
	e, err := rpc.Update(ctx, s.svc.Methods, store.Events, req.GetRequestId(), req.GetEvent(), req.GetUpdateMask())
	if err != nil {
		return nil, err
	}
	return &eventsv1.UpdateEventResponse{Event: e}, nil
}

// DeleteEvent implements EventsService.
func (s *Server) DeleteEvent(ctx context.Context, req *eventsv1.DeleteEventRequest) (*eventsv1.DeleteEventResponse, error) {
	e, err := rpc.Delete[*eventsv1.Event](ctx, s.svc.Methods, store.Events, req.GetRequestId(), req.GetName(), req.GetEtag())
	if err != nil {
		return nil, err
	}
	return &eventsv1.DeleteEventResponse{Event: e}, nil
}

// BatchCreateEvents implements EventsService.
func (s *Server) BatchCreateEvents(ctx context.Context, req *eventsv1.BatchCreateEventsRequest) (*eventsv1.BatchCreateEventsResponse, error) {
	batch := rpc.CreateRequest[*eventsv1.CreateEventRequest, *eventsv1.Event]{
		Requests: req.GetRequests(), ID: (*eventsv1.CreateEventRequest).GetEventId, Resource: (*eventsv1.CreateEventRequest).GetEvent,
	}
	actors := rpc.CreateRequest[*eventsv1.CreateActorRequest, *eventsv1.Actor]{
		Requests: req.GetActors(), ID: (*eventsv1.CreateActorRequest).GetActorId, Resource: (*eventsv1.CreateActorRequest).GetActor,
	}
	// The actors go first, so the events' reference checks see them; they are skipped
	// when they exist, whatever the events' policy (see the field's contract).
	res, err := rpc.BatchCreateGroups(ctx, s.svc.Methods, req, []standard.BatchGroup{
		{Collection: store.Actors, Field: "actors", Items: actors.Items(), Policy: resource.PolicySkip},
		{Collection: store.Events, Field: "requests", Items: batch.Items(), Policy: apitype.Policy(req.GetExistingPolicy())},
	})
	if err != nil {
		return nil, err
	}
	return &eventsv1.BatchCreateEventsResponse{
		Actors: resource.Typed[*eventsv1.Actor](res[0].Resources), ActorOutcomes: apitype.BatchOutcomes(res[0].Outcomes),
		Events: resource.Typed[*eventsv1.Event](res[1].Resources), Outcomes: apitype.BatchOutcomes(res[1].Outcomes),
	}, nil
}

// CreateActor implements EventsService.
func (s *Server) CreateActor(ctx context.Context, req *eventsv1.CreateActorRequest) (*eventsv1.CreateActorResponse, error) {
	a, err := rpc.Create(ctx, s.svc.Methods, store.Actors, req.GetRequestId(), req.GetActorId(), req.GetActor())
	if err != nil {
		return nil, err
	}
	return &eventsv1.CreateActorResponse{Actor: a}, nil
}

// GetActor implements EventsService.
func (s *Server) GetActor(ctx context.Context, req *eventsv1.GetActorRequest) (*eventsv1.GetActorResponse, error) {
	a, err := rpc.Get[*eventsv1.Actor](ctx, s.svc.Methods, store.Actors, req.GetName(), req.GetReadTime(), req.GetShowDeleted())
	if err != nil {
		return nil, err
	}
	return &eventsv1.GetActorResponse{Actor: a}, nil
}

// ListActors implements EventsService.
func (s *Server) ListActors(ctx context.Context, req *eventsv1.ListActorsRequest) (*eventsv1.ListActorsResponse, error) {
	page, err := rpc.List[*eventsv1.Actor](ctx, s.svc.Methods, store.Actors, req)
	if err != nil {
		return nil, err
	}
	return &eventsv1.ListActorsResponse{Actors: page.Items, NextPageToken: page.NextPageToken, TotalSize: page.Total, ResourceVersion: page.Version}, nil
}

// UpdateActor implements EventsService.
func (s *Server) UpdateActor(ctx context.Context, req *eventsv1.UpdateActorRequest) (*eventsv1.UpdateActorResponse, error) {
	a, err := rpc.Update(ctx, s.svc.Methods, store.Actors, req.GetRequestId(), req.GetActor(), req.GetUpdateMask())
	if err != nil {
		return nil, err
	}
	return &eventsv1.UpdateActorResponse{Actor: a}, nil
}

// DeleteActor implements EventsService.
func (s *Server) DeleteActor(ctx context.Context, req *eventsv1.DeleteActorRequest) (*eventsv1.DeleteActorResponse, error) {
	a, err := rpc.Delete[*eventsv1.Actor](ctx, s.svc.Methods, store.Actors, req.GetRequestId(), req.GetName(), req.GetEtag())
	if err != nil {
		return nil, err
	}
	return &eventsv1.DeleteActorResponse{Actor: a}, nil
}

// BatchCreateActors implements EventsService.
func (s *Server) BatchCreateActors(ctx context.Context, req *eventsv1.BatchCreateActorsRequest) (*eventsv1.BatchCreateActorsResponse, error) {
	batch := rpc.CreateRequest[*eventsv1.CreateActorRequest, *eventsv1.Actor]{
		Requests: req.GetRequests(), ID: (*eventsv1.CreateActorRequest).GetActorId, Resource: (*eventsv1.CreateActorRequest).GetActor,
	}
	as, outcomes, err := rpc.BatchCreate(ctx, s.svc.Methods, store.Actors, req, batch)
	if err != nil {
		return nil, err
	}
	return &eventsv1.BatchCreateActorsResponse{Actors: as, Outcomes: outcomes}, nil
}

// ListRevisions implements EventsService.
func (s *Server) ListRevisions(ctx context.Context, req *eventsv1.ListRevisionsRequest) (*eventsv1.ListRevisionsResponse, error) {
	changes, next, err := rpc.History(ctx, s.svc.Methods, domain.Codec, req.GetName(), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &eventsv1.ListRevisionsResponse{Changes: changes, NextPageToken: next}, nil
}

// Watch implements EventsService: replay from the change log after the requested version,
// then live changes, with bookmarks while idle.
func (s *Server) Watch(req *eventsv1.WatchRequest, stream grpc.ServerStreamingServer[eventsv1.WatchResponse]) error {
	w := rpc.Watcher[*eventsv1.Change, eventsv1.WatchResponse]{
		Options: watch.Options{DB: s.svc.Store.DB(), Notifier: s.notifier, BookmarkEvery: s.BookmarkEvery},
		Codec:   domain.Codec,
		Visible: domain.ChangeVisible,
		Response: func(t typev1.WatchEventType, ch *eventsv1.Change, version int64) *eventsv1.WatchResponse {
			return &eventsv1.WatchResponse{Type: t, Change: ch, ResourceVersion: version}
		},
	}
	return w.Serve(watch.Request{ResourceVersion: req.GetResourceVersion(), Collections: req.GetCollections(), Name: req.GetName()}, stream)
}
