package watch

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	gatewayv1 "github.com/guarantor/guarantor/gen/go/guarantor/gateway/v1"
)

// entry is one message of a stream, decoded once and shared by every watcher: its
// response must never be modified (each watcher sends its own copy with its token).
type entry struct {
	seq uint64
	// size is the message's encoded size, what the ring's byte bound counts.
	size int
	// resp is nil for a message the gateway could not decode: it still moves watchers'
	// positions past it.
	resp *gatewayv1.WatchResponse
	info changeInfo
	lic  license
}

// hub reads one stream for every watcher of this gateway: one ordered consumer, each
// message decoded once into a ring of the most recent entries that watchers read at
// their own pace. The hub never waits for a watcher; a watcher the ring has left
// behind reads from a private consumer until it catches up (Service.catchUp).
type hub struct {
	s   *Service
	idx int
	log *zap.Logger
	// slots bounds the private catch-up consumers of this stream (Config.MaxCatchUp).
	slots chan struct{}
	// stopped is closed when the hub has stopped for good (Service.Close).
	stopped chan struct{}

	mu sync.RWMutex
	// ready is set once the hub knows where the stream ended when it started: from then
	// on, floor and last mean something.
	ready bool
	// ring holds entries in sequence order from ring[head], n of them; when full, the
	// oldest is overwritten.
	ring []entry
	head int
	n    int
	// bytes is the encoded size of the n entries held, kept under Config.HubBufferBytes.
	bytes int
	// floor: every message of the stream after floor is in the ring or not read yet.
	// It rises as the ring overwrites its oldest entries.
	floor uint64
	// last is the sequence of the last message read.
	last uint64
	// wake is closed (and replaced) whenever entries are appended: a broadcast to every
	// reader waiting for more.
	wake chan struct{}
}

func newHub(s *Service, idx int) *hub {
	return &hub{
		s:       s,
		idx:     idx,
		log:     s.log.With(zap.String("stream", s.streams[idx].Name)),
		slots:   make(chan struct{}, s.cfg.MaxCatchUp),
		stopped: make(chan struct{}),
		ring:    make([]entry, s.cfg.HubBuffer),
		wake:    make(chan struct{}),
	}
}

// Backoff between attempts to (re)start a consumer, the hub's or a watcher's.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// run reads the stream until ctx ends, retrying failures from the last message read.
func (h *hub) run(ctx context.Context) {
	defer close(h.stopped)
	backoff := minBackoff
	for ctx.Err() == nil {
		read, err := h.runOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if read {
			backoff = minBackoff
		}
		if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			h.log.Warn("watch hub consumer failed; retrying", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// runOnce positions the hub (first time only) and reads with one ordered consumer until
// it fails or ctx ends. It reports whether it read anything.
func (h *hub) runOnce(ctx context.Context) (bool, error) {
	st := h.s.streams[h.idx]
	if !h.isReady() {
		info, err := h.s.streamInfo(ctx, st.Name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			// The service has not created its stream yet: everything it will hold is new.
			h.position(0)
			return false, err
		}
		if err != nil {
			return false, err
		}
		h.position(info.State.LastSeq)
	}
	h.mu.RLock()
	after := h.last
	h.mu.RUnlock()
	cons, err := h.s.js.OrderedConsumer(ctx, st.Name, jetstream.OrderedConsumerConfig{
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       after + 1,
		InactiveThreshold: consumerInactiveThreshold,
	})
	if err != nil {
		return false, err
	}
	defer h.s.deleteConsumer(st.Name, cons)
	msgs, err := cons.Messages(jetstream.PullMaxMessages(h.s.cfg.PullBatch))
	if err != nil {
		return false, err
	}
	defer msgs.Stop()
	stop := context.AfterFunc(ctx, msgs.Stop)
	defer stop()
	read := false
	for {
		msg, err := msgs.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return read, ctx.Err()
			}
			return read, err
		}
		meta, err := msg.Metadata()
		if err != nil {
			return read, err
		}
		h.append(h.s.decode(h.idx, meta.Sequence.Stream, msg.Data()))
		read = true
	}
}

func (h *hub) isReady() bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.ready
}

// position starts the hub after seq, the end of the stream when it started.
func (h *hub) position(seq uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ready {
		return
	}
	h.ready, h.floor, h.last = true, seq, seq
	h.broadcast()
}

// append adds the next message, dropping the oldest while the ring is full by count or
// by bytes, and wakes the readers. The newest entry is always kept, however large: a
// watcher at the head of the stream must be able to read it.
func (h *hub) append(e entry) {
	h.mu.Lock()
	defer h.mu.Unlock()
	size := len(h.ring)
	for h.n > 0 && (h.n == size || h.bytes+e.size > h.s.cfg.HubBufferBytes) {
		oldest := &h.ring[h.head]
		h.floor = oldest.seq
		h.bytes -= oldest.size
		*oldest = entry{} // let the decoded change be collected now
		h.head = (h.head + 1) % size
		h.n--
	}
	h.ring[(h.head+h.n)%size] = e
	h.n++
	h.bytes += e.size
	h.last = e.seq
	h.broadcast()
}

// broadcast wakes every reader waiting on the current wake channel; h.mu is held.
func (h *hub) broadcast() {
	close(h.wake)
	h.wake = make(chan struct{})
}

// covers reports whether the hub holds every message after seq: in the ring, or still
// to be read.
func (h *hub) covers(seq uint64) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.ready && seq >= h.floor
}

// entriesAfter appends to dst (up to its capacity) the entries after seq, and returns
// the channel closed at the next append for a reader that has nothing left. ok is false
// when the hub does not cover seq.
func (h *hub) entriesAfter(seq uint64, dst []entry) (out []entry, wake <-chan struct{}, ok bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if !h.ready || seq < h.floor {
		return dst, h.wake, false
	}
	size := len(h.ring)
	i := sort.Search(h.n, func(k int) bool { return h.ring[(h.head+k)%size].seq > seq })
	for ; i < h.n && len(dst) < cap(dst); i++ {
		dst = append(dst, h.ring[(h.head+i)%size])
	}
	return dst, h.wake, true
}

// waitReady waits until the hub is positioned, for at most timeout.
func (h *hub) waitReady(ctx context.Context, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		h.mu.RLock()
		ready, wake := h.ready, h.wake
		h.mu.RUnlock()
		if ready {
			return nil
		}
		select {
		case <-wake:
		case <-h.stopped:
			return errClosed
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return errors.New("stream position unknown")
		}
	}
}
