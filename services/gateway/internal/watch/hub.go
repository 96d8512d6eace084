package watch

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/guarantor/guarantor/platform/natsx"
)

// entry is one message of a stream, decoded and encoded as a response once and shared by
// every watcher: change must never be modified (each watcher sends it followed by its
// own token).
type entry struct {
	seq uint64
	// size is the message's encoded size, what the ring's byte bound counts.
	size int
	// changeSeq is the change-log sequence of the change (0 when undecodable): watchers
	// skip a change they have passed, re-published by a redrive.
	changeSeq int64
	// change is the response's type and change fields, encoded (see encodeChange); nil
	// for a message the gateway could not decode: it still moves watchers' positions
	// past it.
	change []byte
	info   changeInfo
	lic    license
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
	// created is when the stream was created, as JetStream reports it; zero until the
	// hub has seen the stream.
	created time.Time
	// epoch counts the stream's rebuilds seen (deleted and created again, or cut back):
	// positions from an earlier epoch mean nothing in the stream as it is now. rebuilt
	// is closed (and replaced) when epoch moves.
	epoch   uint64
	rebuilt chan struct{}
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
		rebuilt: make(chan struct{}),
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

// runOnce positions the hub (first time), notices a rebuilt stream (every time), and
// reads with one ordered consumer until it fails or ctx ends. It reports whether it read
// anything.
func (h *hub) runOnce(ctx context.Context) (bool, error) {
	st := h.s.streams[h.idx]
	before := h.lastRead()
	info, err := h.s.streamInfo(ctx, st.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		// The service has not created its stream yet (everything it will hold is new),
		// or the stream is gone, to be created again: wait for it.
		h.position(0, time.Time{})
		return false, err
	}
	if err != nil {
		return false, err
	}
	if !h.position(info.State.LastSeq, info.Created) {
		h.checkRebuilt(before, info)
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
	// An ordered consumer survives its stream being deleted and created again: it
	// recreates itself and waits, silently, for a sequence the new stream may reach much
	// later. Look at the stream now and then, and start over when it was rebuilt.
	checked := make(chan struct{})
	defer close(checked)
	go func() {
		t := time.NewTicker(h.s.cfg.StreamCheck)
		defer t.Stop()
		for {
			select {
			case <-checked:
				return
			case <-t.C:
			}
			before := h.lastRead()
			info, err := h.s.streamInfo(ctx, st.Name)
			if errors.Is(err, jetstream.ErrStreamNotFound) || (err == nil && h.checkRebuilt(before, info)) {
				msgs.Stop()
				return
			}
		}
	}()
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

// position starts the hub after seq, the end of the stream when it started; it reports
// false when the hub was positioned already.
func (h *hub) position(seq uint64, created time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ready {
		return false
	}
	h.ready, h.floor, h.last, h.created = true, seq, seq, created
	h.broadcast()
	return true
}

// checkRebuilt compares the stream as it is now with what the hub has read. A stream
// created anew, or holding fewer messages than the hub has read, has started its
// sequence numbers over: the hub empties its ring, starts again at the stream's end,
// and moves to a new epoch, which ends every watch positioned in the old one (its
// positions would skip the new stream's first messages without a word).
//
// before is what the hub had read when info was requested: the stream held at least
// that much then, unless it was cut back (the hub may have read more since).
func (h *hub) checkRebuilt(before uint64, info *jetstream.StreamInfo) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.created.IsZero() && info.State.LastSeq >= before {
		h.created = info.Created // the stream this hub waited for, first seen
		return false
	}
	if info.Created.Equal(h.created) && info.State.LastSeq >= before {
		return false
	}
	h.log.Warn("change stream was rebuilt: ending every watch positioned in it",
		zap.Uint64("read_up_to", h.last), zap.Uint64("stream_last_seq", info.State.LastSeq),
		zap.Time("created_before", h.created), zap.Time("created", info.Created))
	for i := range h.n {
		h.ring[(h.head+i)%len(h.ring)] = entry{}
	}
	h.head, h.n, h.bytes = 0, 0, 0
	h.floor, h.last, h.created = info.State.LastSeq, info.State.LastSeq, info.Created
	h.epoch++
	close(h.rebuilt)
	h.rebuilt = make(chan struct{})
	h.s.metrics.rebuilds.Inc()
	h.broadcast()
	return true
}

// lastRead is the sequence of the last message the hub read.
func (h *hub) lastRead() uint64 {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.last
}

// incarnation identifies the stream the hub reads (see the token's format); 0 until
// the hub has seen the stream.
func (h *hub) incarnation() int64 {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return natsx.Incarnation(h.created)
}

// generation is the hub's current epoch and the channel closed when it ends.
func (h *hub) generation() (uint64, <-chan struct{}) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.epoch, h.rebuilt
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
// when the hub does not cover seq. It returns errRebuilt when the stream was rebuilt
// since epoch.
func (h *hub) entriesAfter(seq, epoch uint64, dst []entry) (out []entry, wake <-chan struct{}, ok bool, err error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.epoch != epoch {
		return dst, h.wake, false, errRebuilt
	}
	if !h.ready || seq < h.floor {
		return dst, h.wake, false, nil
	}
	size := len(h.ring)
	i := sort.Search(h.n, func(k int) bool { return h.ring[(h.head+k)%size].seq > seq })
	for ; i < h.n && len(dst) < cap(dst); i++ {
		dst = append(dst, h.ring[(h.head+i)%size])
	}
	return dst, h.wake, true, nil
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
