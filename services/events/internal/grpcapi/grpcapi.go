// Package grpcapi serves guarantor.events.v1.EventsService over gRPC: it turns requests
// into domain calls and domain results into responses. Errors are returned as they come
// (platform/apperr values); the platform's error interceptor maps them to status codes.
package grpcapi

import (
	"context"
	"errors"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
	"github.com/guarantor/guarantor/platform/apperr"
	"github.com/guarantor/guarantor/platform/changelog"
	"github.com/guarantor/guarantor/platform/notify"
	"github.com/guarantor/guarantor/platform/pagination"
	"github.com/guarantor/guarantor/platform/principal"
	"github.com/guarantor/guarantor/platform/resource"
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

func caller(ctx context.Context) (principal.Principal, error) {
	p, ok := principal.FromContext(ctx)
	if !ok {
		return principal.Principal{}, apperr.Unauthenticated("no authenticated principal")
	}
	return p, nil
}

func call(ctx context.Context, requestID string) (domain.Call, error) {
	p, err := caller(ctx)
	if err != nil {
		return domain.Call{}, err
	}
	method, _ := grpc.Method(ctx)
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	return domain.Call{Principal: p, RequestID: requestID, Method: method, Trace: carrier["traceparent"]}, nil
}

// CreateEvent implements EventsService.
func (s *Server) CreateEvent(ctx context.Context, req *eventsv1.CreateEventRequest) (*eventsv1.CreateEventResponse, error) {
	c, err := call(ctx, req.GetRequestId())
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
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	m, err := s.svc.Get(ctx, p, req.GetName(), req.GetReadTime(), req.GetShowDeleted())
	if err != nil {
		return nil, err
	}
	return &eventsv1.GetEventResponse{Event: m.(*eventsv1.Event)}, nil
}

// ListEvents implements EventsService.
func (s *Server) ListEvents(ctx context.Context, req *eventsv1.ListEventsRequest) (*eventsv1.ListEventsResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	res, err := s.svc.List(ctx, p, store.Events, domain.ListQuery{
		Filter: req.GetFilter(), OrderBy: req.GetOrderBy(), PageSize: req.GetPageSize(), PageToken: req.GetPageToken(),
		ShowDeleted: req.GetShowDeleted(), IncludeTotal: req.GetIncludeTotal(),
	})
	if err != nil {
		return nil, err
	}
	out := &eventsv1.ListEventsResponse{NextPageToken: res.NextPageToken, TotalSize: res.Total, ResourceVersion: res.Version}
	for _, m := range res.Items {
		out.Events = append(out.Events, m.(*eventsv1.Event))
	}
	return out, nil
}

// UpdateEvent implements EventsService.
func (s *Server) UpdateEvent(ctx context.Context, req *eventsv1.UpdateEventRequest) (*eventsv1.UpdateEventResponse, error) {
	c, err := call(ctx, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	m, err := s.svc.Update(ctx, c, store.Events, req.GetEvent(), req.GetUpdateMask())
	if err != nil {
		return nil, err
	}
	return &eventsv1.UpdateEventResponse{Event: m.(*eventsv1.Event)}, nil
}

// DeleteEvent implements EventsService.
func (s *Server) DeleteEvent(ctx context.Context, req *eventsv1.DeleteEventRequest) (*eventsv1.DeleteEventResponse, error) {
	c, err := call(ctx, req.GetRequestId())
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
	c, err := call(ctx, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	items := make([]resource.Item, len(req.GetRequests()))
	for i, r := range req.GetRequests() {
		items[i] = resource.Item{ID: r.GetEventId(), Resource: r.GetEvent()}
	}
	ms, outcomes, err := s.svc.BatchCreate(ctx, c, store.Events, items, req.GetExistingPolicy())
	if err != nil {
		return nil, err
	}
	out := &eventsv1.BatchCreateEventsResponse{Outcomes: batchOutcomes(outcomes)}
	for _, m := range ms {
		out.Events = append(out.Events, m.(*eventsv1.Event))
	}
	return out, nil
}

// CreateActor implements EventsService.
func (s *Server) CreateActor(ctx context.Context, req *eventsv1.CreateActorRequest) (*eventsv1.CreateActorResponse, error) {
	c, err := call(ctx, req.GetRequestId())
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
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	m, err := s.svc.Get(ctx, p, req.GetName(), req.GetReadTime(), req.GetShowDeleted())
	if err != nil {
		return nil, err
	}
	return &eventsv1.GetActorResponse{Actor: m.(*eventsv1.Actor)}, nil
}

// ListActors implements EventsService.
func (s *Server) ListActors(ctx context.Context, req *eventsv1.ListActorsRequest) (*eventsv1.ListActorsResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	res, err := s.svc.List(ctx, p, store.Actors, domain.ListQuery{
		Filter: req.GetFilter(), OrderBy: req.GetOrderBy(), PageSize: req.GetPageSize(), PageToken: req.GetPageToken(),
		ShowDeleted: req.GetShowDeleted(), IncludeTotal: req.GetIncludeTotal(),
	})
	if err != nil {
		return nil, err
	}
	out := &eventsv1.ListActorsResponse{NextPageToken: res.NextPageToken, TotalSize: res.Total, ResourceVersion: res.Version}
	for _, m := range res.Items {
		out.Actors = append(out.Actors, m.(*eventsv1.Actor))
	}
	return out, nil
}

// UpdateActor implements EventsService.
func (s *Server) UpdateActor(ctx context.Context, req *eventsv1.UpdateActorRequest) (*eventsv1.UpdateActorResponse, error) {
	c, err := call(ctx, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	m, err := s.svc.Update(ctx, c, store.Actors, req.GetActor(), req.GetUpdateMask())
	if err != nil {
		return nil, err
	}
	return &eventsv1.UpdateActorResponse{Actor: m.(*eventsv1.Actor)}, nil
}

// DeleteActor implements EventsService.
func (s *Server) DeleteActor(ctx context.Context, req *eventsv1.DeleteActorRequest) (*eventsv1.DeleteActorResponse, error) {
	c, err := call(ctx, req.GetRequestId())
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
	c, err := call(ctx, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	items := make([]resource.Item, len(req.GetRequests()))
	for i, r := range req.GetRequests() {
		items[i] = resource.Item{ID: r.GetActorId(), Resource: r.GetActor()}
	}
	ms, outcomes, err := s.svc.BatchCreate(ctx, c, store.Actors, items, req.GetExistingPolicy())
	if err != nil {
		return nil, err
	}
	out := &eventsv1.BatchCreateActorsResponse{Outcomes: batchOutcomes(outcomes)}
	for _, m := range ms {
		out.Actors = append(out.Actors, m.(*eventsv1.Actor))
	}
	return out, nil
}

func batchOutcomes(in []resource.Outcome) []typev1.BatchOutcome {
	out := make([]typev1.BatchOutcome, len(in))
	for i, o := range in {
		switch o {
		case resource.Created:
			out[i] = typev1.BatchOutcome_BATCH_OUTCOME_CREATED
		case resource.Updated:
			out[i] = typev1.BatchOutcome_BATCH_OUTCOME_UPDATED
		case resource.Unchanged:
			out[i] = typev1.BatchOutcome_BATCH_OUTCOME_UNCHANGED
		}
	}
	return out
}

// ListRevisions implements EventsService. Page tokens carry the last sequence returned,
// bound to the resource name.
func (s *Server) ListRevisions(ctx context.Context, req *eventsv1.ListRevisionsRequest) (*eventsv1.ListRevisionsResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	size, err := pagination.Size(req.GetPageSize())
	if err != nil {
		return nil, apperr.Invalid("page_size", err.Error())
	}
	key := pagination.QueryKey("revisions", req.GetName())
	var after int64
	if req.GetPageToken() != "" {
		last, err := pagination.Decode(req.GetPageToken(), key)
		if err != nil || len(last) != 1 {
			if err == nil {
				err = pagination.ErrBadToken
			}
			return nil, apperr.Invalid("page_token", err.Error())
		}
		seq, ok := last[0].(int64)
		if !ok {
			return nil, apperr.Invalid("page_token", pagination.ErrBadToken.Error())
		}
		after = seq
	}
	changes, _, err := s.svc.History(ctx, p, req.GetName(), after, size+1)
	if err != nil {
		return nil, err
	}
	out := &eventsv1.ListRevisionsResponse{Changes: changes}
	if len(changes) > size {
		out.Changes = changes[:size]
		out.NextPageToken = pagination.Encode(key, []any{changes[size-1].GetSequence()})
	}
	return out, nil
}

// Watch implements EventsService: replay from the change log after the requested version,
// then live changes, with bookmarks while idle.
func (s *Server) Watch(req *eventsv1.WatchRequest, stream grpc.ServerStreamingServer[eventsv1.WatchResponse]) error {
	ctx := stream.Context()
	p, err := caller(ctx)
	if err != nil {
		return err
	}
	collections := map[string]bool{}
	for _, c := range req.GetCollections() {
		collections[c] = true
	}
	match := func(e changelog.Entry) bool {
		if len(collections) > 0 && !collections[e.Collection] {
			return false
		}
		return req.GetName() == "" || e.ResourceName == req.GetName()
	}
	from := req.GetResourceVersion()
	if from == 0 {
		from = watch.FromNow
	}
	err = watch.Stream(ctx, watch.Options{
		DB:            s.svc.Store().DB(),
		Notifier:      s.notifier,
		From:          from,
		BookmarkEvery: s.BookmarkEvery,
		Match:         match,
	}, func(e changelog.Entry) error {
		ch, err := domain.DecodeChange(e.Payload)
		if err != nil {
			return err
		}
		if !domain.ChangeVisible(p, ch) {
			return nil
		}
		return stream.Send(&eventsv1.WatchResponse{Type: watchType(e.Kind), Change: ch, ResourceVersion: e.Seq})
	}, func(seq int64) error {
		return stream.Send(&eventsv1.WatchResponse{Type: typev1.WatchEventType_WATCH_EVENT_TYPE_BOOKMARK, ResourceVersion: seq})
	})
	if errors.Is(err, watch.ErrCompacted) {
		return apperr.OutOfRange("resource_version %s is older than the change log keeps: list again and watch from the list's resource_version", strconv.FormatInt(req.GetResourceVersion(), 10))
	}
	return err
}

func watchType(kind string) typev1.WatchEventType {
	switch kind {
	case resource.KindCreated:
		return typev1.WatchEventType_WATCH_EVENT_TYPE_ADDED
	case resource.KindDeleted:
		return typev1.WatchEventType_WATCH_EVENT_TYPE_DELETED
	}
	return typev1.WatchEventType_WATCH_EVENT_TYPE_MODIFIED
}
