// Package outbox relays a service's change log to a NATS JetStream stream: every entry is
// published exactly once into the stream, in change-log order, even across NATS outages,
// relay crashes and several replicas.
//
// How "exactly once, in order" holds:
//   - the change log is gapless and in commit order (see changelog.Append);
//   - the relay publishes entries in order (a window chained by Nats-Expected-Last-Msg-Id,
//     see Relay.pass) and moves its cursor only past acked entries, saving it to the
//     database now and then (so a crash re-publishes, never skips);
//   - every publish carries Nats-Msg-Id = the entry ID, so JetStream drops a re-publish that
//     falls inside the stream's Duplicates window;
//   - after every error, at the start of every leadership term and every StreamCheck while
//     idle, the relay reads the stream's last message (its Guarantor-Seq header) and moves
//     its cursor past it, so re-publishing is limited to what is in flight, not to
//     everything since the last saved cursor; when
//     the stream ends before the cursor instead (JetStream lost changes: the stream deleted
//     and created again, its storage lost, purged), the relay publishes the missing entries
//     again, as Redrive does, before anything new (except those older than the stream's
//     maximum age, if it has one: JetStream let them go);
//   - each pass's first publish expects the stream's last sequence as the relay knew it
//     (Nats-Expected-Last-Sequence), so a stream created again under a running relay
//     refuses it, and the check above runs before anything new goes in;
//   - on PostgreSQL one replica at a time publishes (a session advisory lock). Even when two
//     overlap briefly (a leader losing its lock session), each publishes in order from a cursor
//     that only ever covers acked entries, so the union is still in order and deduplicated.
//
// INVARIANT: the stream's Duplicates window must exceed the relay's retry horizon — the time
// between an entry's first publish and any re-publish of it: one publish timeout plus one
// backoff step (MaxBackoff) in the normal path, a leadership hand-over (LeaderCheck) at worst.
// StreamConfig's 2 hours leaves a wide margin over those seconds.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/guarantor/guarantor/platform/changelog"
)

// Headers every relayed message carries, besides Nats-Msg-Id (the entry ID).
const (
	HeaderSeq         = "Guarantor-Seq"      // the change-log seq: consumers order and deduplicate on it
	HeaderResource    = "Guarantor-Resource" // resource name, to filter without decoding
	HeaderKind        = "Guarantor-Kind"     // change kind, likewise
	HeaderTraceParent = "traceparent"        // W3C trace context of the request that made the change
)

// DuplicatesWindow is the deduplication window StreamConfig sets; see the package invariant.
// JetStream keeps one message ID per message published in the window, which at this domain's
// write rates (thousands of changes per hour) is a few megabytes.
const DuplicatesWindow = 2 * time.Hour

// StreamConfig returns the configuration of a change stream: file storage (the stream must
// survive restarts), limits retention, and the Duplicates window the relay relies on.
func StreamConfig(name string, subjects []string, replicas int) jetstream.StreamConfig {
	if replicas < 1 {
		replicas = 1
	}
	return jetstream.StreamConfig{
		Name:       name,
		Subjects:   subjects,
		Storage:    jetstream.FileStorage,
		Retention:  jetstream.LimitsPolicy,
		Discard:    jetstream.DiscardOld,
		Replicas:   replicas,
		Duplicates: DuplicatesWindow,
	}
}

// EnsureStream creates the stream or updates it to cfg.
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	if cfg.Duplicates > 0 && cfg.Duplicates < time.Minute {
		return nil, fmt.Errorf("outbox: stream %s: duplicates window %s is too short for the relay's retries", cfg.Name, cfg.Duplicates)
	}
	s, err := js.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("outbox: ensure stream %s: %w", cfg.Name, err)
	}
	return s, nil
}

// newMsg builds the message for e.
func newMsg(e changelog.Entry) *nats.Msg {
	msg := nats.NewMsg(e.Subject)
	msg.Data = e.Payload
	msg.Header.Set(HeaderSeq, strconv.FormatInt(e.Seq, 10))
	msg.Header.Set(HeaderResource, e.ResourceName)
	msg.Header.Set(HeaderKind, e.Kind)
	if e.TraceParent != "" {
		msg.Header.Set(HeaderTraceParent, e.TraceParent)
	}
	return msg
}

// window is how publishWindow publishes.
type window struct {
	// suffix is appended to each entry's ID for its Nats-Msg-Id (a redrive's run).
	suffix string
	// expectSeq, when not 0, is the stream's last sequence the first message expects.
	expectSeq uint64
	// timeout bounds the wait for the window's acks.
	timeout time.Duration
	// onAck, when set, runs for each acknowledged entry, in order; an error stops there.
	onAck func(e changelog.Entry, ack *jetstream.PubAck) error
}

// publishWindow publishes entries without waiting between them, then waits for their
// acks, and returns how many were acknowledged in order before any failure. Every
// message carries Nats-Msg-Id (the entry's ID and w.suffix) and WithExpectStream, which
// turns a subject captured by another stream (or none) into an error instead of a silent
// misroute; each after the first expects its predecessor as the stream's last message,
// so JetStream stores an entry only after the one before it: when one is lost or
// refused, every later one of the window is refused too, and the stream stays a prefix
// of the log.
func publishWindow(ctx context.Context, js jetstream.JetStream, stream string, entries []changelog.Entry, w window) (acked int, err error) {
	futures := make([]jetstream.PubAckFuture, 0, len(entries))
	var sendErr error
	for i, e := range entries {
		opts := []jetstream.PublishOpt{jetstream.WithMsgID(e.ID + w.suffix), jetstream.WithExpectStream(stream)}
		if i > 0 {
			opts = append(opts, jetstream.WithExpectLastMsgID(entries[i-1].ID+w.suffix))
		} else if w.expectSeq > 0 {
			opts = append(opts, jetstream.WithExpectLastSequence(w.expectSeq))
		}
		f, err := js.PublishMsgAsync(newMsg(e), opts...)
		if err != nil {
			sendErr = fmt.Errorf("outbox: publish %s to %s: %w", e.ID, e.Subject, err)
			break
		}
		futures = append(futures, f)
	}
	deadline := time.NewTimer(w.timeout)
	defer deadline.Stop()
	for i, f := range futures {
		e := entries[i]
		var ack *jetstream.PubAck
		select {
		case ack = <-f.Ok():
		case err := <-f.Err():
			return i, fmt.Errorf("outbox: publish %s to %s: %w", e.ID, e.Subject, err)
		case <-deadline.C:
			return i, fmt.Errorf("outbox: publish %s to %s: no acknowledgement within %s", e.ID, e.Subject, w.timeout)
		case <-ctx.Done():
			return i, ctx.Err()
		}
		if w.onAck != nil {
			if err := w.onAck(e, ack); err != nil {
				return i + 1, err
			}
		}
	}
	return len(futures), sendErr
}

// lastStreamSeq returns the Guarantor-Seq of the stream's last message and that message's
// stream sequence; both are 0 when the stream holds no message.
func lastStreamSeq(ctx context.Context, js jetstream.JetStream, stream string) (seq int64, msgSeq uint64, err error) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return 0, 0, fmt.Errorf("outbox: stream %s: %w", stream, err)
	}
	return lastChangeSeq(ctx, s)
}

// lastChangeSeq is lastStreamSeq for a stream already looked up.
func lastChangeSeq(ctx context.Context, s jetstream.Stream) (seq int64, msgSeq uint64, err error) {
	stream := s.CachedInfo().Config.Name
	// The server answers "last message for >" with the message at the stream's high-water
	// sequence, which no longer exists when the tail was deleted. "*" and "*.>" together match
	// every subject and are resolved against the messages actually stored.
	var last *jetstream.RawStreamMsg
	for _, filter := range []string{"*", "*.>"} {
		msg, err := s.GetLastMsgForSubject(ctx, filter)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return 0, 0, fmt.Errorf("outbox: last message of %s: %w", stream, err)
		}
		if last == nil || msg.Sequence > last.Sequence {
			last = msg
		}
	}
	if last == nil {
		return 0, 0, nil
	}
	v := last.Header.Get(HeaderSeq)
	seq, err = strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("outbox: last message of %s (stream seq %d) has no valid %s header %q: is another publisher writing to it?",
			stream, last.Sequence, HeaderSeq, v)
	}
	return seq, last.Sequence, nil
}
