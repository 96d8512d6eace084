// Package watch serves guarantor.gateway.v1.GatewayService.Watch: one stream per client
// merging the change streams every service publishes on NATS JetStream, filtered for
// the client and for what its principal may read, resumable from a token.
//
// Each gateway reads each stream once, whatever the number of watchers: a hub (one per
// stream, started with the first watch) holds one ordered consumer, decodes each message
// once and keeps the most recent ones in a bounded in-memory ring. Every watcher reads
// the ring at its own pace, from its own position, and filters for itself. A consumer
// per watcher would not scale: JetStream allows 1,000 consumers per stream by default
// (shared by every gateway replica and the services' own consumers), and N watchers would
// cost N deliveries and N decodes of every change.
//
// The hub never waits for a watcher: the ring overwrites its oldest entries. A watcher
// whose position the ring no longer holds (a resume token older than the ring, or a
// client slower than the stream) reads from a private ordered consumer until it reaches
// what the ring holds, then returns to the ring, so private consumers exist only while
// watchers catch up (and at most Config.MaxCatchUp per stream at once).
//
// Each watcher has its own bounded buffer between its readers and its client. When the
// buffer stays full (the client reads more slowly than changes come), its stream ends
// with RESOURCE_EXHAUSTED carrying the resume token of the last message it was sent, and
// the client resumes from there without a gap. A slow watcher holds up nobody else.
package watch

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	gatewayv1 "github.com/guarantor/guarantor/gen/go/guarantor/gateway/v1"
	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
	"github.com/guarantor/guarantor/platform/apperr"
	"github.com/guarantor/guarantor/platform/principal"
	"github.com/guarantor/guarantor/services/gateway/internal/frame"
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
	// field is the WatchResponse field that carries this stream's changes: a message's
	// data is the change, encoded, so it goes into the response as it is.
	field protowire.Number
	// decode reads what a watch needs to know of a message.
	decode func(data []byte) (decoded, error)
}

// decoded is what the gateway reads of a change: enough to filter it, check its
// licence and order it. The client gets the change as the service encoded it.
type decoded struct {
	kind typev1.ChangeKind
	// seq is the change-log sequence of the change.
	seq  int64
	info changeInfo
	lic  license
}

// license is a record's licence and the entitlement it requires, if the service set one.
type license struct {
	license  typev1.License
	required string
}

// withheld is the licence of a change whose resource this gateway cannot read (a type a
// newer service added, or none): no entitlement matches it, so nobody is sent what may
// be restricted. Its position still moves past it.
var withheld = license{required: " withheld"}

// Streams are the change streams merged, in token order: never reorder them, only
// append (a token names streams by position).
var Streams = []Stream{
	{Name: "GUARANTOR_EVENTS", Service: "events", field: responseField("events_change"), decode: decodeEvents},
	{Name: "GUARANTOR_GUARANTEES", Service: "guarantees", field: responseField("guarantees_change"), decode: decodeGuarantees},
}

// responseField is the number of a WatchResponse field.
func responseField(name protoreflect.Name) protowire.Number {
	return (&gatewayv1.WatchResponse{}).ProtoReflect().Descriptor().Fields().ByName(name).Number()
}

// Fields of WatchResponse the watch writes itself (see encodeChange).
var (
	typeField    = responseField("type")
	tokenField   = responseField("resume_token")
	changesField = responseField("changes")
)

// Config tunes watches. Zero values take the defaults noted.
type Config struct {
	// Buffer is the number of messages a watcher may have waiting; default 1024.
	Buffer int
	// BufferBytes bounds the same buffer by the encoded size of the changes waiting;
	// default 1 MiB. A watcher that fell behind the ring holds its own copies of them,
	// so this, not the count, is what bounds a slow watcher's memory when changes are
	// large. A single change larger than this still passes an empty buffer.
	BufferBytes int
	// OverflowGrace is how long a full buffer may stay full before the watch ends;
	// default 1s. It absorbs bursts without letting a stalled client hold a consumer.
	OverflowGrace time.Duration
	// BookmarkEvery is how often an idle watch sends a bookmark; default 30s.
	BookmarkEvery time.Duration
	// PullBatch is how many messages a consumer asks NATS for at once; default 256.
	PullBatch int
	// HubBuffer is how many of each stream's most recent messages the gateway keeps in
	// memory for its watchers; default 16384. A watcher further behind reads from a
	// private consumer until it catches up.
	HubBuffer int
	// HubBufferBytes bounds the same ring by the messages' encoded size (decoded they
	// take a few times more); default 64 MiB. Whichever bound is reached first drops the
	// oldest, so a burst of large changes cannot exhaust the gateway's memory.
	HubBufferBytes int
	// MaxCatchUp bounds, per stream, the watchers reading from private consumers at
	// once; default 100. Others wait for a slot: every stream allows a bounded number
	// of consumers (1,000 by default), shared by every gateway replica and the services.
	MaxCatchUp int
	// StreamCheck is how often each stream is checked for having been deleted and
	// created again (see hub.checkRebuilt); default 5s.
	StreamCheck time.Duration
	// BatchLinger is how long, at most, a change waits for more to share its message,
	// in watches that asked for batches (WatchRequest.max_batch); default 5ms, negative
	// for none. A thousand watchers of a stream of 500 changes a second are half a
	// million messages a second without it (docs/benchmarks.md).
	BatchLinger time.Duration
	// BatchBytes bounds the changes of one batched message by their encoded size;
	// default 1 MiB. A batch of large changes would otherwise pass the gateway's and the
	// client's message limits (gRPC clients refuse messages above 4 MiB by default), the
	// watch would end, and a resumed watch would meet the same batch again. A single
	// change larger than this still goes, alone.
	BatchBytes int
	// MaxSendBytes is the largest message the gateway's server sends (its
	// MaxSendMsgBytes); BatchBytes is lowered to fit in it with room for the token.
	// Zero means no such limit.
	MaxSendBytes int
}

// batchRoom is what a batched message needs besides its changes: the resume token.
const batchRoom = 1024

func (c Config) withDefaults() Config {
	if c.Buffer <= 0 {
		c.Buffer = 1024
	}
	if c.BufferBytes <= 0 {
		c.BufferBytes = 1 << 20
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
	if c.HubBuffer <= 0 {
		c.HubBuffer = 16384
	}
	if c.HubBufferBytes <= 0 {
		c.HubBufferBytes = 64 << 20
	}
	if c.MaxCatchUp <= 0 {
		c.MaxCatchUp = 100
	}
	if c.StreamCheck <= 0 {
		c.StreamCheck = 5 * time.Second
	}
	if c.BatchLinger == 0 {
		c.BatchLinger = 5 * time.Millisecond
	}
	if c.BatchBytes <= 0 {
		c.BatchBytes = 1 << 20
	}
	if c.MaxSendBytes > 0 {
		c.BatchBytes = max(min(c.BatchBytes, c.MaxSendBytes-batchRoom), 1)
	}
	return c
}

// Service serves watches. Close it when done: it stops the hubs.
type Service struct {
	js      jetstream.JetStream
	streams []Stream
	cfg     Config
	log     *zap.Logger
	metrics *metrics
	// sent counts the changes sent to watchers, per stream.
	sent []prometheus.Counter
	hubs []*hub // one per stream, started by the first watch

	// mu guards starting and stopping the hubs.
	mu       sync.Mutex
	started  bool
	closed   bool
	stopHubs context.CancelFunc
	hubsDone sync.WaitGroup
}

type metrics struct {
	watchers         prometheus.Gauge
	overflows        prometheus.Counter
	sent             *prometheus.CounterVec
	catchups         prometheus.Counter
	catchupConsumers prometheus.Gauge
	rebuilds         prometheus.Counter
	gaps             prometheus.Counter
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
		catchups: prometheus.NewCounter(prometheus.CounterOpts{Name: "guarantor_gateway_watch_catchups_total",
			Help: "Times a watcher's position was older than the gateway's in-memory buffer and it read from a private JetStream consumer."}),
		catchupConsumers: prometheus.NewGauge(prometheus.GaugeOpts{Name: "guarantor_gateway_watch_catchup_consumers",
			Help: "Private JetStream consumers of watchers catching up (each stream of each watcher counts once)."}),
		rebuilds: prometheus.NewCounter(prometheus.CounterOpts{Name: "guarantor_gateway_watch_stream_rebuilds_total",
			Help: "Change streams found deleted and created again (or cut back); every watch positioned in one ended with OUT_OF_RANGE."}),
		gaps: prometheus.NewCounter(prometheus.CounterOpts{Name: "guarantor_gateway_watch_gaps_total",
			Help: "Watches ended with OUT_OF_RANGE because the stream no longer held changes they had not had (maximum age, or a redrive of a compacted log)."}),
	}
	if reg != nil {
		reg.MustRegister(m.watchers, m.overflows, m.sent, m.catchups, m.catchupConsumers, m.rebuilds, m.gaps)
	}
	s := &Service{js: js, streams: Streams, cfg: cfg.withDefaults(), log: log, metrics: m}
	for i, st := range s.streams {
		s.hubs = append(s.hubs, newHub(s, i))
		s.sent = append(s.sent, m.sent.WithLabelValues(st.Service))
	}
	return s
}

// errClosed ends the watches of a closed Service.
var errClosed = errors.New("watch service closed")

// errRebuilt ends a watch positioned in a stream that has since been rebuilt.
var errRebuilt = errors.New("change stream rebuilt")

// gapError ends a watch that would skip changes: the next change a stream holds for it
// is not the one after the last it passed (JetStream let the ones between go at the
// stream's maximum age, or a stream re-driven from a compacted change log lacks them).
type gapError struct {
	service      string
	passed, next int64
}

func (e gapError) Error() string {
	return fmt.Sprintf("%s: changes %d to %d are not in the stream", e.service, e.passed+1, e.next-1)
}

// rebuiltError is errRebuilt for one service's stream.
type rebuiltError struct{ service string }

func (e rebuiltError) Error() string { return e.service + ": " + errRebuilt.Error() }
func (e rebuiltError) Unwrap() error { return errRebuilt }

// startHubs starts the hubs unless they run already; they run until Close.
func (s *Service) startHubs() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	if s.started {
		return nil
	}
	s.started = true
	ctx, cancel := context.WithCancel(context.Background())
	s.stopHubs = cancel
	for _, h := range s.hubs {
		s.hubsDone.Go(func() { h.run(ctx) })
	}
	return nil
}

// Close stops the hubs and waits for them; open watches end with UNAVAILABLE and new
// ones are refused. Safe to call more than once.
func (s *Service) Close() {
	s.mu.Lock()
	s.closed = true
	stop := s.stopHubs
	s.mu.Unlock()
	if stop != nil {
		stop()
	}
	s.hubsDone.Wait()
}

// item is one scanned message: a change to send, or (change nil) a message the
// watcher does not get that still moves its position.
type item struct {
	stream int
	seq    uint64
	// passed is the highest change sequence the watch has passed once past this item
	// (0: unknown), which its tokens carry.
	passed int64
	change []byte // the entry's, shared with other watchers: never modify it
}

var errOverflow = errors.New("watch buffer overflow")

// watchBuffer holds a watch's items between its readers and its sender, bounded by count
// (the channel's capacity) and by the encoded size of the changes held.
type watchBuffer struct {
	items chan item
	limit int64
	held  atomic.Int64
	// freed wakes a reader waiting for room by bytes when the sender takes an item.
	freed chan struct{}
}

func newWatchBuffer(n, bytes int) *watchBuffer {
	return &watchBuffer{items: make(chan item, n), limit: int64(bytes), freed: make(chan struct{}, 1)}
}

// push adds it, waiting up to grace for room; false when there was none in time (the
// watch overflows) or ctx ended. The byte bound is soft by one change: the two readers
// may each add one at the same moment, and a change larger than the bound still goes
// into an empty buffer.
func (b *watchBuffer) push(ctx context.Context, it item, grace time.Duration) bool {
	n := int64(len(it.change))
	var expired <-chan time.Time
	for {
		// Room by bytes, or a nil channel: wait until the sender frees some.
		var room chan<- item
		var counted int64
		if h := b.held.Load(); h == 0 || h+n <= b.limit {
			room, counted = b.items, n
		}
		// Counted before the sender can see it (it subtracts what it takes), but only
		// while it may go in: a change waiting for room by bytes is not held, or the
		// other stream's reader, woken when the buffer empties, would count it and find
		// no room in an empty buffer either.
		b.held.Add(counted)
		select {
		case room <- it:
			return true
		default:
		}
		if expired == nil {
			t := time.NewTimer(grace)
			defer t.Stop()
			expired = t.C
		}
		select {
		case room <- it:
			return true
		case <-b.freed:
			b.held.Add(-counted)
		case <-expired:
			b.held.Add(-counted)
			return false
		case <-ctx.Done():
			b.held.Add(-counted)
			return false
		}
	}
}

// release accounts for an item the sender took.
func (b *watchBuffer) release(it item) {
	b.held.Add(-int64(len(it.change)))
	select {
	case b.freed <- struct{}{}:
	default:
	}
}

// readyTimeout bounds how long a watch waits for the hubs to learn where the streams end.
const readyTimeout = 5 * time.Second

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
	// A malformed token is the client's mistake whatever the state of NATS: say so first.
	resume := req.GetResumeToken() != ""
	pos := position{seq: make([]uint64, len(s.streams))}
	if resume {
		var err error
		if pos, err = decodeToken(req.GetResumeToken(), len(s.streams)); err != nil {
			return apperr.Invalid("resume_token", err.Error())
		}
	}
	if err := s.startHubs(); err != nil {
		return errUnavailable()
	}
	// The hubs are positioned before the watch reads where the streams end, so a new
	// watch starts where its hubs hold everything after it and needs no private consumer.
	for i, h := range s.hubs {
		if err := h.waitReady(ctx, readyTimeout); err != nil {
			if errors.Is(err, errClosed) {
				return errUnavailable()
			}
			return apperr.Unavailable(time.Second, "change stream %s unavailable", s.streams[i].Service)
		}
	}
	if pos.inc, err = s.start(ctx, pos.seq, pos.inc, resume); err != nil {
		return err
	}
	// What the watch has passed: a token of this gateway says; an older one's position is
	// read from the stream.
	seen := make([]passed, len(s.streams))
	if resume {
		for i := range s.streams {
			if seen[i].seq = at(pos.change, i); seen[i].seq == 0 {
				seen[i].seq = s.changeAt(ctx, i, pos.seq[i])
			}
		}
	}
	pos.change = make([]int64, len(s.streams))
	for i := range seen {
		pos.change[i] = seen[i].seq
	}
	s.metrics.watchers.Inc()
	defer s.metrics.watchers.Dec()

	ctx, cancel := context.WithCancel(ctx)
	var readers sync.WaitGroup
	// The readers end with the watch: none outlives it, nor its consumer.
	defer func() {
		cancel()
		readers.Wait()
	}()
	buf := newWatchBuffer(s.cfg.Buffer, s.cfg.BufferBytes)
	push := func(it item) bool { return buf.push(ctx, it, s.cfg.OverflowGrace) }
	// ended receives why a reader ended the watch (errOverflow, errClosed); the first
	// reason wins.
	ended := make(chan error, 1)
	for i := range s.streams {
		after := pos.seq[i] // send owns pos from here on
		readers.Go(func() {
			err := s.follow(ctx, i, after, seen[i], m, p, push)
			if errors.Is(err, errRebuilt) {
				err = rebuiltError{service: s.streams[i].Service}
			}
			var gap gapError
			if errors.Is(err, errOverflow) || errors.Is(err, errClosed) || errors.Is(err, errRebuilt) || errors.As(err, &gap) {
				// The reason first, then cancel: send sees the reason before the
				// cancellation, and the other stream's reader stops.
				select {
				case ended <- err:
				default:
				}
				cancel()
			}
		})
	}
	return s.send(ctx, out, pos, int(req.GetMaxBatch()), buf, ended)
}

// errUnavailable ends a watch because the gateway is stopping its Watch service.
func errUnavailable() error {
	return apperr.Unavailable(time.Second, "the gateway is shutting down: watch again from the last resume_token")
}

// start sets pos to where a watch begins: a resumed position (in the incarnations inc,
// nil when its token named none) is checked against what the streams still hold; a new
// watch begins at every stream's end ("from now"). It returns the incarnations of the
// streams as they are now, which the watch's tokens carry.
func (s *Service) start(ctx context.Context, pos []uint64, inc []int64, resume bool) ([]int64, error) {
	now := make([]int64, len(s.streams))
	for i, st := range s.streams {
		info, err := s.streamInfo(ctx, st.Name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			if resume && pos[i] != 0 {
				// The position counts messages of a stream that is gone: whatever stream
				// takes its name next numbers other changes from 1.
				return nil, apperr.OutOfRange("resume_token is from before the %s change stream was rebuilt: list again and watch without a token", st.Service)
			}
			// The service has not started yet: everything it will publish is new.
			continue
		}
		if err != nil {
			return nil, apperr.Unavailable(time.Second, "change stream %s unavailable", st.Service)
		}
		// The hub's, not info's: what the watch reads from the hub belongs to the stream
		// the hub has seen (until it notices a rebuild, which ends the watch).
		now[i] = s.hubs[i].incarnation()
		if !resume {
			pos[i] = info.State.LastSeq
			continue
		}
		// A position in a stream since deleted and created again counts messages that
		// are not there any more: the same number in the new stream is another message.
		if pos[i] != 0 && inc != nil && inc[i] != 0 && inc[i] != now[i] {
			return nil, apperr.OutOfRange("resume_token is from before the %s change stream was rebuilt: list again and watch without a token", st.Service)
		}
		// A position the stream no longer holds (retention) or never held (the stream
		// was recreated) would resume with a silent gap.
		if pos[i]+1 < info.State.FirstSeq || pos[i] > info.State.LastSeq {
			return nil, apperr.OutOfRange("resume_token is outside what the %s change stream retains: list again and watch without a token", st.Service)
		}
	}
	return now, nil
}

// changeAt is the change sequence of the message at position seq of stream idx: what a
// watch resuming there has passed, so that a re-driven copy of an earlier change is not
// sent again (see scan). 0 when unknown (no such message any more, or undecodable): the
// watch then skips nothing.
func (s *Service) changeAt(ctx context.Context, idx int, seq uint64) int64 {
	if seq == 0 {
		return 0
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := s.js.Stream(ctx, s.streams[idx].Name)
	if err != nil {
		return 0
	}
	msg, err := st.GetMsg(ctx, seq)
	if err != nil {
		return 0
	}
	return s.decode(idx, seq, msg.Data).changeSeq
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
// client leaves or a reader ends the watch. With maxBatch > 0, each message carries the
// changes waiting, up to maxBatch of them, in WatchResponse.changes.
//
// Its tokens carry pos: the incarnations of the streams the watch reads (Service.start),
// and the sequences and changes of the items passed.
func (s *Service) send(ctx context.Context, out grpc.ServerStreamingServer[gatewayv1.WatchResponse], pos position, maxBatch int, wb *watchBuffer, ended <-chan error) error {
	buf := wb.items
	bookmark := func() error {
		return out.Send(&gatewayv1.WatchResponse{
			Type:        typev1.WatchEventType_WATCH_EVENT_TYPE_BOOKMARK,
			ResumeToken: string(appendToken(nil, pos)),
		})
	}
	endWith := func(err error) error {
		if errors.Is(err, errOverflow) {
			return s.overflowError(pos)
		}
		var rebuilt rebuiltError
		if errors.As(err, &rebuilt) {
			return apperr.OutOfRange("the %s change stream was rebuilt and its positions started over: list again and watch without a resume_token", rebuilt.service)
		}
		var gap gapError
		if errors.As(err, &gap) {
			s.metrics.gaps.Inc()
			return apperr.OutOfRange("the %s change stream no longer holds changes %d to %d, which this watch has not had (they reached the stream's maximum age, or were compacted): list again and watch without a resume_token",
				gap.service, gap.passed+1, gap.next-1)
		}
		return errUnavailable()
	}
	if err := bookmark(); err != nil {
		return err
	}
	tick := time.NewTicker(s.cfg.BookmarkEvery)
	defer tick.Stop()
	moved, sent := false, false
	var batch batcher
	// One timer per watch, armed for each batch that waits.
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	defer linger.Stop()
	// carry is a change read for a batch it did not fit in (BatchBytes): it opens the
	// next message.
	var carry *item
	// gapped is the gap a reader met: the watch ends at it once what was read before it
	// has gone out. Those changes are the client's, and the error names the first change
	// it has not had. (The readers stopped at the gap, so the buffer only drains.)
	var gapped error
	// end is what a reader's reason to end does: a gap waits for the buffer to drain;
	// anything else ends the watch now.
	end := func(err error) error {
		var gap gapError
		if errors.As(err, &gap) {
			gapped = err
			return nil
		}
		return endWith(err)
	}
	for {
		// Otherwise an ended watch wins over whatever is still buffered: after an
		// overflow, the client resumes from the last message it really was sent; after a
		// rebuild, what is buffered may already be the new stream's.
		if gapped == nil {
			select {
			case err := <-ended:
				if err := end(err); err != nil {
					return err
				}
			default:
			}
		}
		var it item
		if carry != nil {
			it, carry = *carry, nil
		} else if gapped != nil {
			select {
			case it = <-buf:
				wb.release(it)
			default:
				return endWith(gapped)
			}
		} else {
			select {
			case err := <-ended:
				if err := end(err); err != nil {
					return err
				}
				continue
			case <-ctx.Done():
				select {
				case err := <-ended:
					if err := end(err); err != nil {
						return err
					}
					continue
				default:
					return ctx.Err()
				}
			case it = <-buf:
				wb.release(it)
			case <-tick.C:
				if moved || !sent {
					if err := bookmark(); err != nil {
						return err
					}
				}
				moved, sent = false, false
				continue
			}
		}
		if maxBatch > 0 {
			// Whatever else is waiting goes in the same message, and what comes within
			// BatchLinger of the first change: with many watchers, each message costs
			// the gateway and the client far more than its size.
			batch.reset()
			lingering := false
			for {
				if !batch.fits(it, s.cfg.BatchBytes) {
					carry = &it
					break
				}
				pos.pass(it)
				batch.add(it)
				if batch.len() == maxBatch {
					break
				}
				var more bool
				select {
				case it, more = <-buf:
				default:
					if s.cfg.BatchLinger > 0 && batch.len() > 0 {
						if !lingering {
							linger.Reset(s.cfg.BatchLinger)
							lingering = true
						}
						select {
						case it, more = <-buf:
						case <-linger.C:
						case <-ctx.Done():
						}
					}
				}
				if !more {
					break
				}
				wb.release(it)
			}
			if lingering {
				linger.Stop() // since Go 1.23, no stale tick survives Stop
			}
			if batch.len() == 0 {
				moved = true
				continue
			}
			if err := out.SendMsg(batch.frame(pos)); err != nil {
				return err
			}
			batch.count(s.sent)
			moved, sent = false, true
			continue
		}
		pos.pass(it)
		if it.change == nil {
			moved = true
			continue
		}
		// The response is the change's fields, encoded once for every watcher, followed
		// by this watcher's token: nothing is marshalled per watcher.
		if err := out.SendMsg(frame.Of(it.change, tokenBytes(pos))); err != nil {
			return err
		}
		s.sent[it.stream].Inc()
		moved, sent = false, true
	}
}

func (s *Service) overflowError(pos position) error {
	s.metrics.overflows.Inc()
	tok := string(appendToken(nil, pos))
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

// readBatch is how many entries a reader copies out of a hub at a time.
const readBatch = 256

// follow reads stream idx for one watcher from after+1 and pushes every message, until
// ctx ends, push gives up (errOverflow) or the hub stops (errClosed). It reads from the
// hub whenever the hub holds its position, and catches up from a private consumer when
// the hub does not.
func (s *Service) follow(ctx context.Context, idx int, after uint64, seen passed, m *matcher, p principal.Principal, push func(item) bool) error {
	h := s.hubs[idx]
	see := func(e entry) (item, error) {
		it, ok := scan(idx, e, m, p, &seen)
		if !ok {
			return it, gapError{service: s.streams[idx].Service, passed: seen.seq, next: e.changeSeq}
		}
		return it, nil
	}
	epoch, _ := h.generation()
	batch := make([]entry, 0, readBatch)
	for {
		var wake <-chan struct{}
		var ok bool
		var err error
		batch, wake, ok, err = h.entriesAfter(after, epoch, batch[:0])
		if err != nil {
			return err
		}
		if !ok {
			if err := s.catchUp(ctx, idx, epoch, &after, see, push); err != nil {
				return err
			}
			continue
		}
		if len(batch) == 0 {
			select {
			case <-wake:
			case <-h.stopped:
				return errClosed
			case <-ctx.Done():
				return ctx.Err()
			}
			continue
		}
		for _, e := range batch {
			it, err := see(e)
			if err != nil {
				return err
			}
			if !push(it) {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return errOverflow
			}
			after = e.seq
		}
	}
}

// passed is what a watcher has passed on one stream.
type passed struct {
	// seq is the highest change sequence passed (0: none known).
	seq int64
	// unknown is set when a message whose change sequence could not be read came after
	// it: the next change may then be any later one.
	unknown bool
}

// token is what a token carries of p: the highest change passed, unless a message of
// unknown change came after it (a resumed watch must then not expect the next change to
// follow it, and reads what it passed from the stream instead).
func (p passed) token() int64 {
	if p.unknown {
		return 0
	}
	return p.seq
}

// scan decides what a watcher gets of an entry. A change at or below the sequence the
// watcher has passed is a re-published copy (a purged stream re-driven from the change
// log) and only moves the position. ok is false when the change is not the one after
// it: the stream lacks those between, and the watch, which would skip them, must end.
func scan(idx int, e entry, m *matcher, p principal.Principal, seen *passed) (it item, ok bool) {
	it = item{stream: idx, seq: e.seq}
	if e.changeSeq <= 0 {
		seen.unknown = true
	} else {
		if e.changeSeq <= seen.seq {
			it.passed = seen.token()
			return it, true
		}
		if seen.seq > 0 && !seen.unknown && e.changeSeq > seen.seq+1 {
			return it, false
		}
		seen.seq, seen.unknown = e.changeSeq, false
	}
	it.passed = seen.token()
	if e.change != nil && visible(p, e.lic) && m.match(e.info) {
		it.change = e.change
	}
	return it, true
}

// batcher builds a WatchResponse carrying several changes in its changes field: the
// encoding of each change (encodeChange) is also that of a WatchChange, so a batch is
// each change behind its field header, then the token, written into one buffer (a
// copy is cheaper than handing gRPC a buffer per part).
type batcher struct {
	changes [][]byte
	streams []int
	// size is the encoded size of the changes field so far.
	size int
}

func (b *batcher) reset() {
	b.changes, b.streams, b.size = b.changes[:0], b.streams[:0], 0
}

// changeFieldLen is the encoded size of c in the changes field.
func changeFieldLen(c []byte) int {
	return protowire.SizeTag(changesField) + protowire.SizeBytes(len(c))
}

// fits says whether it may join the batch without taking its changes past limit bytes;
// the first change always fits, and so does an item without a change.
func (b *batcher) fits(it item, limit int) bool {
	return it.change == nil || len(b.changes) == 0 || b.size+changeFieldLen(it.change) <= limit
}

// add takes an item's change, if it has one.
func (b *batcher) add(it item) {
	if it.change != nil {
		b.changes = append(b.changes, it.change)
		b.streams = append(b.streams, it.stream)
		b.size += changeFieldLen(it.change)
	}
}

func (b *batcher) len() int { return len(b.changes) }

// frame is the response carrying the changes, at position pos.
func (b *batcher) frame(pos position) *frame.Frame {
	buf := make([]byte, 0, b.size+tokenFieldLen(pos))
	for _, c := range b.changes {
		buf = protowire.AppendTag(buf, changesField, protowire.BytesType)
		buf = protowire.AppendBytes(buf, c)
	}
	return frame.Of(appendTokenField(buf, pos))
}

// count adds the changes sent to the per-stream counters.
func (b *batcher) count(sent []prometheus.Counter) {
	for _, st := range b.streams {
		sent[st].Inc()
	}
}

// encodeChange is the encoding of a WatchResponse's type and change fields for a
// change whose encoding is data: a response is those bytes followed by tokenBytes.
func encodeChange(kind typev1.ChangeKind, field protowire.Number, data []byte) []byte {
	b := make([]byte, 0, len(data)+2*binary.MaxVarintLen64)
	b = protowire.AppendTag(b, typeField, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(watchType(kind)))
	b = protowire.AppendTag(b, field, protowire.BytesType)
	return protowire.AppendBytes(b, data)
}

// tokenBytes is the encoding of a WatchResponse's resume_token field for pos.
func tokenBytes(pos position) []byte {
	return appendTokenField(make([]byte, 0, tokenFieldLen(pos)), pos)
}

// appendTokenField appends the resume_token field for pos to dst.
func appendTokenField(dst []byte, pos position) []byte {
	dst = protowire.AppendTag(dst, tokenField, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(tokenLen(pos)))
	return appendToken(dst, pos)
}

// tokenFieldLen is the encoded size of the resume_token field for pos.
func tokenFieldLen(pos position) int {
	return protowire.SizeTag(tokenField) + protowire.SizeBytes(tokenLen(pos))
}

// decode turns a message of stream idx into an entry; a message it cannot decode (from
// a newer service?) becomes an entry without a response, and a log line.
func (s *Service) decode(idx int, seq uint64, data []byte) entry {
	st := s.streams[idx]
	e := entry{seq: seq, size: len(data)}
	d, err := st.decode(data)
	if err != nil {
		s.log.Warn("undecodable change skipped", zap.String("stream", st.Name), zap.Uint64("seq", seq), zap.Error(err))
		return e
	}
	d.info.service = st.Service
	e.change, e.info, e.lic, e.changeSeq = encodeChange(d.kind, st.field, data), d.info, d.lic, d.seq
	return e
}

// catchUp reads stream idx for a watcher the hub does not cover, from a private ordered
// consumer, until the hub covers its position again (nil), ctx ends, push gives up
// (errOverflow) or the hub stops (errClosed). Failures are retried from the last
// position pushed.
func (s *Service) catchUp(ctx context.Context, idx int, epoch uint64, after *uint64, see func(entry) (item, error), push func(item) bool) error {
	h := s.hubs[idx]
	s.metrics.catchups.Inc()
	select {
	case h.slots <- struct{}{}:
	case <-h.stopped:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-h.slots }()
	s.metrics.catchupConsumers.Inc()
	defer s.metrics.catchupConsumers.Dec()
	backoff := minBackoff
	for {
		err := s.consumeOnce(ctx, idx, epoch, after, see, push)
		var gap gapError
		if err == nil || errors.Is(err, errOverflow) || errors.Is(err, errRebuilt) || errors.As(err, &gap) || ctx.Err() != nil {
			return err
		}
		if !errors.Is(err, jetstream.ErrStreamNotFound) {
			h.log.Warn("watch catch-up consumer failed; retrying", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-h.stopped:
			return errClosed
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// consumerInactiveThreshold is how long an abandoned consumer lives on the server (one
// the gateway could not delete, e.g. when it lost NATS).
const consumerInactiveThreshold = 15 * time.Second

// consumeOnce reads stream idx from *after+1 with an ordered consumer and pushes every
// message until the hub covers *after (nil), or the consumer fails, ctx ends or push
// gives up.
func (s *Service) consumeOnce(ctx context.Context, idx int, epoch uint64, after *uint64, see func(entry) (item, error), push func(item) bool) error {
	st := s.streams[idx]
	h := s.hubs[idx]
	now, rebuilt := h.generation()
	if now != epoch {
		return errRebuilt
	}
	cons, err := s.js.OrderedConsumer(ctx, st.Name, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   *after + 1,
		// The server removes the consumer soon after its watcher goes away if the
		// gateway could not delete it: every stream allows a bounded number of consumers.
		InactiveThreshold: consumerInactiveThreshold,
	})
	if err != nil {
		return err
	}
	defer s.deleteConsumer(st.Name, cons)
	msgs, err := cons.Messages(jetstream.PullMaxMessages(s.cfg.PullBatch))
	if err != nil {
		return err
	}
	defer msgs.Stop()
	stop := context.AfterFunc(ctx, msgs.Stop)
	defer stop()
	// A consumer of a rebuilt stream may wait for a sequence it will not reach for
	// long: the hub's notice ends it.
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-rebuilt:
			msgs.Stop()
		case <-done:
		}
	}()
	for {
		msg, err := msgs.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				if now, _ := h.generation(); now != epoch {
					return errRebuilt
				}
				return ctx.Err()
			}
			return err
		}
		meta, err := msg.Metadata()
		if err != nil {
			return err
		}
		if now, _ := h.generation(); now != epoch {
			return errRebuilt // this message is the new stream's
		}
		e := s.decode(idx, meta.Sequence.Stream, msg.Data())
		it, err := see(e)
		if err != nil {
			return err
		}
		if !push(it) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return errOverflow
		}
		*after = e.seq
		if h.covers(*after) {
			return nil
		}
	}
}

// deleteConsumer removes a stopped ordered consumer from the server at once: stopping
// it does not, and it would hold one of the stream's consumers until its inactivity
// threshold.
func (s *Service) deleteConsumer(stream string, cons jetstream.Consumer) {
	info := cons.CachedInfo()
	if info == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.js.DeleteConsumer(ctx, stream, info.Name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		s.log.Debug("watch consumer not deleted; the server removes it when inactive", zap.String("stream", stream), zap.Error(err))
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

func decodeEvents(data []byte) (decoded, error) {
	c := &eventsv1.Change{}
	if err := proto.Unmarshal(data, c); err != nil {
		return decoded{}, err
	}
	var lic license
	switch r := c.GetResource().(type) {
	case *eventsv1.Change_Event:
		lic = license{r.Event.GetLicense(), r.Event.GetRequiredEntitlement()}
	case *eventsv1.Change_Actor:
		lic = license{r.Actor.GetLicense(), r.Actor.GetRequiredEntitlement()}
	default:
		lic = withheld
	}
	info := changeInfo{collection: collectionOf(c.GetResourceName()), name: c.GetResourceName(), kind: kindOf(c.GetKind()), principal: c.GetPrincipal()}
	return decoded{kind: c.GetKind(), seq: c.GetSequence(), info: info, lic: lic}, nil
}

func decodeGuarantees(data []byte) (decoded, error) {
	c := &guaranteesv1.Change{}
	if err := proto.Unmarshal(data, c); err != nil {
		return decoded{}, err
	}
	var lic license
	switch r := c.GetResource().(type) {
	case *guaranteesv1.Change_Framework:
		lic = license{r.Framework.GetLicense(), r.Framework.GetRequiredEntitlement()}
	case *guaranteesv1.Change_Guarantee:
		lic = license{r.Guarantee.GetLicense(), r.Guarantee.GetRequiredEntitlement()}
	default:
		lic = withheld
	}
	info := changeInfo{collection: collectionOf(c.GetResourceName()), name: c.GetResourceName(), kind: kindOf(c.GetKind()), principal: c.GetPrincipal()}
	return decoded{kind: c.GetKind(), seq: c.GetSequence(), info: info, lic: lic}, nil
}
