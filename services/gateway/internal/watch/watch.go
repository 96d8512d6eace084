// Package watch serves guarantor.gateway.v1.GatewayService.Watch: one stream per client
// merging the change streams every service publishes on NATS JetStream, filtered for
// the client and for what its principal may read, resumable from a token.
//
// Each watcher has its own ordered consumer per stream and its own bounded buffer, so
// watchers share nothing but the NATS connection: a slow one cannot hold up another.
// When a watcher's buffer stays full (its client reads more slowly than changes come),
// its stream ends with RESOURCE_EXHAUSTED carrying the resume token of the last message
// it was sent, and the client resumes from there without a gap.
package watch

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	gatewayv1 "github.com/guarantor/guarantor/gen/go/guarantor/gateway/v1"
	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
	"github.com/guarantor/guarantor/platform/apperr"
	"github.com/guarantor/guarantor/platform/principal"
)

// EntitlementACLED unlocks records under ACLED's licence.
const EntitlementACLED = "acled"

// OverflowReason is the google.rpc.ErrorInfo reason of a stream ended for a full
// buffer; its metadata "resume_token" is where to resume.
const OverflowReason = "WATCH_BUFFER_OVERFLOW"

// ErrorDomain is the google.rpc.ErrorInfo domain of the gateway's errors.
const ErrorDomain = "gateway.guarantor"

// Stream is one service's change stream.
type Stream struct {
	// Name is the JetStream stream, e.g. "GUARANTOR_EVENTS".
	Name string
	// Service names the service in filters ("events").
	Service string
	// decode turns a message into a response and what filters read.
	decode func(data []byte) (*gatewayv1.WatchResponse, changeInfo, license, error)
}

// license is a record's licence and the entitlement it requires, if the service set one.
type license struct {
	license  typev1.License
	required string
}

// Streams are the change streams merged, in token order: never reorder them, only
// append (a token names streams by position).
var Streams = []Stream{
	{Name: "GUARANTOR_EVENTS", Service: "events", decode: decodeEvents},
	{Name: "GUARANTOR_GUARANTEES", Service: "guarantees", decode: decodeGuarantees},
}

// Config tunes watches. Zero values take the defaults noted.
type Config struct {
	// Buffer is the number of messages a watcher may have waiting; default 1024.
	Buffer int
	// OverflowGrace is how long a full buffer may stay full before the watch ends;
	// default 1s. It absorbs bursts without letting a stalled client hold a consumer.
	OverflowGrace time.Duration
	// BookmarkEvery is how often an idle watch sends a bookmark; default 30s.
	BookmarkEvery time.Duration
	// PullBatch is how many messages a consumer asks NATS for at once; default 256.
	PullBatch int
}

func (c Config) withDefaults() Config {
	if c.Buffer <= 0 {
		c.Buffer = 1024
	}
	if c.OverflowGrace <= 0 {
		c.OverflowGrace = time.Second
	}
	if c.BookmarkEvery <= 0 {
		c.BookmarkEvery = 30 * time.Second
	}
	if c.PullBatch <= 0 {
		c.PullBatch = 256
	}
	return c
}

// Service serves watches.
type Service struct {
	js      jetstream.JetStream
	streams []Stream
	cfg     Config
	log     *zap.Logger
	metrics *metrics
}

type metrics struct {
	watchers  prometheus.Gauge
	overflows prometheus.Counter
	sent      *prometheus.CounterVec
}

// New returns the watch service reading from js. reg may be nil.
func New(js jetstream.JetStream, cfg Config, reg prometheus.Registerer, log *zap.Logger) *Service {
	if log == nil {
		log = zap.NewNop()
	}
	m := &metrics{
		watchers:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "guarantor_gateway_watchers", Help: "Open Watch streams."}),
		overflows: prometheus.NewCounter(prometheus.CounterOpts{Name: "guarantor_gateway_watch_overflows_total", Help: "Watch streams ended because the client read too slowly."}),
		sent:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "guarantor_gateway_watch_changes_sent_total", Help: "Changes sent to watchers, by service."}, []string{"service"}),
	}
	if reg != nil {
		reg.MustRegister(m.watchers, m.overflows, m.sent)
	}
	return &Service{js: js, streams: Streams, cfg: cfg.withDefaults(), log: log, metrics: m}
}

// item is one scanned message: a response to send, or (resp nil) a message the
// watcher does not get that still moves its position.
type item struct {
	stream int
	seq    uint64
	resp   *gatewayv1.WatchResponse
}

var errOverflow = errors.New("watch buffer overflow")

// Watch implements GatewayService.Watch.
func (s *Service) Watch(req *gatewayv1.WatchRequest, out grpc.ServerStreamingServer[gatewayv1.WatchResponse]) error {
	ctx := out.Context()
	p, ok := principal.FromContext(ctx)
	if !ok {
		return apperr.Unauthenticated("no authenticated caller")
	}
	m, err := newMatcher(req.GetCollections(), req.GetNamePattern(), req.GetFilter())
	if err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			return apperr.Invalid(fe.Field, fe.Msg)
		}
		return err
	}
	pos, err := s.start(ctx, req.GetResumeToken())
	if err != nil {
		return err
	}
	s.metrics.watchers.Inc()
	defer s.metrics.watchers.Dec()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	buf := make(chan item, s.cfg.Buffer)
	overflow := make(chan struct{})
	var overflowOnce sync.Once
	push := func(it item) bool {
		select {
		case buf <- it:
			return true
		default:
		}
		t := time.NewTimer(s.cfg.OverflowGrace)
		defer t.Stop()
		select {
		case buf <- it:
			return true
		case <-t.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
	for i := range s.streams {
		go func() {
			if err := s.consume(ctx, i, pos[i], m, p, push); errors.Is(err, errOverflow) {
				// Overflow first, then cancel: send sees the overflow before the
				// cancellation, and the other stream's consumer stops.
				overflowOnce.Do(func() { close(overflow) })
				cancel()
			}
		}()
	}
	return s.send(ctx, out, pos, buf, overflow)
}

// start returns the position a watch begins at: the token's, checked against what the
// streams still hold, or every stream's end ("from now").
func (s *Service) start(ctx context.Context, token string) ([]uint64, error) {
	var pos []uint64
	if token != "" {
		var err error
		if pos, err = DecodeToken(token, len(s.streams)); err != nil {
			return nil, apperr.Invalid("resume_token", err.Error())
		}
	} else {
		pos = make([]uint64, len(s.streams))
	}
	for i, st := range s.streams {
		info, err := s.streamInfo(ctx, st.Name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			// The service has not started yet: everything it will publish is new.
			continue
		}
		if err != nil {
			return nil, apperr.Unavailable(time.Second, "change stream %s unavailable", st.Service)
		}
		if token == "" {
			pos[i] = info.State.LastSeq
			continue
		}
		// A position the stream no longer holds (retention) or never held (the stream
		// was recreated) would resume with a silent gap.
		if pos[i]+1 < info.State.FirstSeq || pos[i] > info.State.LastSeq {
			return nil, apperr.OutOfRange("resume_token is outside what the %s change stream retains: list again and watch without a token", st.Service)
		}
	}
	return pos, nil
}

func (s *Service) streamInfo(ctx context.Context, name string) (*jetstream.StreamInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := s.js.Stream(ctx, name)
	if err != nil {
		return nil, err
	}
	return st.Info(ctx)
}

// send writes the buffered items to the client, with bookmarks while idle, until the
// client leaves or a consumer overflows.
func (s *Service) send(ctx context.Context, out grpc.ServerStreamingServer[gatewayv1.WatchResponse], pos []uint64, buf <-chan item, overflow <-chan struct{}) error {
	bookmark := func() error {
		return out.Send(&gatewayv1.WatchResponse{
			Type:        typev1.WatchEventType_WATCH_EVENT_TYPE_BOOKMARK,
			ResumeToken: EncodeToken(pos),
		})
	}
	if err := bookmark(); err != nil {
		return err
	}
	tick := time.NewTicker(s.cfg.BookmarkEvery)
	defer tick.Stop()
	moved, sent := false, false
	for {
		// An overflow wins over whatever is still buffered: the client resumes from
		// the last message it really was sent.
		select {
		case <-overflow:
			return s.overflowError(pos)
		default:
		}
		select {
		case <-overflow:
			return s.overflowError(pos)
		case <-ctx.Done():
			select {
			case <-overflow:
				return s.overflowError(pos)
			default:
				return ctx.Err()
			}
		case it := <-buf:
			pos[it.stream] = it.seq
			if it.resp == nil {
				moved = true
				continue
			}
			it.resp.ResumeToken = EncodeToken(pos)
			if err := out.Send(it.resp); err != nil {
				return err
			}
			s.metrics.sent.WithLabelValues(s.streams[it.stream].Service).Inc()
			moved, sent = false, true
		case <-tick.C:
			if moved || !sent {
				if err := bookmark(); err != nil {
					return err
				}
			}
			moved, sent = false, false
		}
	}
}

func (s *Service) overflowError(pos []uint64) error {
	s.metrics.overflows.Inc()
	tok := EncodeToken(pos)
	st := status.New(codes.ResourceExhausted, "watch ended: the client reads more slowly than changes arrive; watch again from the resume_token in the error details")
	if d, err := st.WithDetails(&errdetails.ErrorInfo{
		Reason:   OverflowReason,
		Domain:   ErrorDomain,
		Metadata: map[string]string{"resume_token": tok},
	}); err == nil {
		st = d
	}
	return st.Err()
}

// consume reads one stream from after+1 with an ordered consumer and pushes every
// message, until ctx ends or push gives up (errOverflow). Consumer failures (NATS
// restarts, a stream not created yet) are retried from the last position pushed.
func (s *Service) consume(ctx context.Context, idx int, after uint64, m *matcher, p principal.Principal, push func(item) bool) error {
	st := s.streams[idx]
	log := s.log.With(zap.String("stream", st.Name))
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.consumeOnce(ctx, idx, &after, m, p, push)
		if errors.Is(err, errOverflow) || ctx.Err() != nil {
			return err
		}
		if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			log.Warn("watch consumer failed; retrying", zap.Error(err))
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
	return nil
}

// consumerInactiveThreshold is how long an abandoned watch consumer lives on the server.
const consumerInactiveThreshold = 15 * time.Second

func (s *Service) consumeOnce(ctx context.Context, idx int, after *uint64, m *matcher, p principal.Principal, push func(item) bool) error {
	st := s.streams[idx]
	cons, err := s.js.OrderedConsumer(ctx, st.Name, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   *after + 1,
		// The server removes the consumer soon after its watcher goes away: every stream
		// allows a bounded number of consumers, and the default (5 minutes) let watches
		// that reconnect often exhaust it.
		InactiveThreshold: consumerInactiveThreshold,
	})
	if err != nil {
		return err
	}
	msgs, err := cons.Messages(jetstream.PullMaxMessages(s.cfg.PullBatch))
	if err != nil {
		return err
	}
	defer msgs.Stop()
	stop := context.AfterFunc(ctx, msgs.Stop)
	defer stop()
	for {
		msg, err := msgs.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return ctx.Err()
			}
			return err
		}
		meta, err := msg.Metadata()
		if err != nil {
			return err
		}
		it := item{stream: idx, seq: meta.Sequence.Stream}
		resp, info, lic, err := st.decode(msg.Data())
		switch {
		case err != nil:
			// Not a change this gateway understands (a newer service?): skip it, say so.
			s.log.Warn("undecodable change skipped", zap.String("stream", st.Name), zap.Uint64("seq", it.seq), zap.Error(err))
		case !visible(p, lic):
		default:
			info.service = st.Service
			if m.match(info) {
				it.resp = resp
			}
		}
		if !push(it) {
			return errOverflow
		}
		*after = it.seq
	}
}

// visible reports whether p may read a record: the licence rule the services apply,
// applied here too because the gateway reads NATS directly.
func visible(p principal.Principal, l license) bool {
	if l.required != "" && !p.Entitled(l.required) {
		return false
	}
	return l.license != typev1.License_LICENSE_ACLED || p.Entitled(EntitlementACLED)
}

func collectionOf(name string) string {
	c, _, _ := strings.Cut(name, "/")
	return c
}

func kindOf(k typev1.ChangeKind) string {
	return strings.TrimPrefix(k.String(), "CHANGE_KIND_")
}

func watchType(k typev1.ChangeKind) typev1.WatchEventType {
	switch k {
	case typev1.ChangeKind_CHANGE_KIND_CREATED:
		return typev1.WatchEventType_WATCH_EVENT_TYPE_ADDED
	case typev1.ChangeKind_CHANGE_KIND_DELETED:
		return typev1.WatchEventType_WATCH_EVENT_TYPE_DELETED
	}
	return typev1.WatchEventType_WATCH_EVENT_TYPE_MODIFIED
}

func decodeEvents(data []byte) (*gatewayv1.WatchResponse, changeInfo, license, error) {
	c := &eventsv1.Change{}
	if err := proto.Unmarshal(data, c); err != nil {
		return nil, changeInfo{}, license{}, err
	}
	var lic license
	switch r := c.GetResource().(type) {
	case *eventsv1.Change_Event:
		lic = license{r.Event.GetLicense(), r.Event.GetRequiredEntitlement()}
	case *eventsv1.Change_Actor:
		lic = license{r.Actor.GetLicense(), r.Actor.GetRequiredEntitlement()}
	}
	info := changeInfo{collection: collectionOf(c.GetResourceName()), name: c.GetResourceName(), kind: kindOf(c.GetKind()), principal: c.GetPrincipal()}
	return &gatewayv1.WatchResponse{Type: watchType(c.GetKind()), Change: &gatewayv1.WatchResponse_EventsChange{EventsChange: c}}, info, lic, nil
}

func decodeGuarantees(data []byte) (*gatewayv1.WatchResponse, changeInfo, license, error) {
	c := &guaranteesv1.Change{}
	if err := proto.Unmarshal(data, c); err != nil {
		return nil, changeInfo{}, license{}, err
	}
	var lic license
	switch r := c.GetResource().(type) {
	case *guaranteesv1.Change_Framework:
		lic = license{r.Framework.GetLicense(), r.Framework.GetRequiredEntitlement()}
	case *guaranteesv1.Change_Guarantee:
		lic = license{r.Guarantee.GetLicense(), r.Guarantee.GetRequiredEntitlement()}
	}
	info := changeInfo{collection: collectionOf(c.GetResourceName()), name: c.GetResourceName(), kind: kindOf(c.GetKind()), principal: c.GetPrincipal()}
	return &gatewayv1.WatchResponse{Type: watchType(c.GetKind()), Change: &gatewayv1.WatchResponse_GuaranteesChange{GuaranteesChange: c}}, info, lic, nil
}
