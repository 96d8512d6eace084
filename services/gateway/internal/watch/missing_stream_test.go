package watch

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	gatewayv1 "github.com/guarantor/guarantor/gen/go/guarantor/gateway/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
	"github.com/guarantor/guarantor/platform/apperr"
	"github.com/guarantor/guarantor/platform/principal"
)

// TestResumeWhileStreamMissing: a client holds a token at change 3 of the events
// stream (with that stream's incarnation). JetStream loses the stream and the gateway
// restarts before the events service has created it again. The new gateway used to
// accept the token without looking at it (start skipped a stream it could not find), and
// its hub, which never saw the old stream, took the new one as the first it saw: no
// rebuild was noticed. The stream is then re-driven from the change log (changes 4 and 5
// at positions 1 and 2) and goes on (6, 7, 8 at 3, 4, 5); the resumed watch read "after
// position 3" of the new stream, got 7 and 8 and silently missed 4, 5 and 6. A position
// in a missing stream is now OUT_OF_RANGE at once.
func TestResumeWhileStreamMissing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	s1 := New(e.js, Config{}, nil, nil)
	live := open(t, s1, &gatewayv1.WatchRequest{})
	e.publishEvents(t, 1, 5)
	tok := live.mustChanges(3)[2].token // after change 3, at position 3, in the old incarnation
	s1.Close()

	ctx := context.Background()
	if err := e.js.DeleteStream(ctx, Streams[0].Name); err != nil {
		t.Fatal(err)
	}
	// The gateway restarts while the stream is gone.
	s2, _ := e.service(t, Config{StreamCheck: 50 * time.Millisecond}, nil)
	wctx, cancel := context.WithCancel(principal.NewContext(ctx, viewer))
	w := &watcher{t: t, sent: make(chan *gatewayv1.WatchResponse), done: make(chan error, 1)}
	go func() {
		w.done <- s2.Watch(&gatewayv1.WatchRequest{ResumeToken: tok}, &serverStream{ctx: wctx, sent: w.sent})
	}()
	t.Cleanup(func() {
		cancel()
		<-w.done
	})
	// Let the watch get going while the stream is missing.
	m, err := w.next()
	if err != nil {
		if !apperr.Is(err, apperr.CodeOutOfRange) {
			t.Fatalf("the watch was refused while the stream is missing with %v, want OUT_OF_RANGE", err)
		}
		return
	}
	if m.GetType() != typev1.WatchEventType_WATCH_EVENT_TYPE_BOOKMARK {
		t.Fatalf("first message %v, want a bookmark", m)
	}

	// The events service creates its stream again and re-drives its log.
	if _, err := e.js.CreateStream(ctx, jetstream.StreamConfig{Name: Streams[0].Name, Subjects: []string{"test.events"}}); err != nil {
		t.Fatal(err)
	}
	for i, change := range []int64{4, 5, 6, 7, 8} {
		data, err := proto.Marshal(&eventsv1.Change{Sequence: change, ResourceName: fmt.Sprintf("events/e%d", change),
			Kind: typev1.ChangeKind_CHANGE_KIND_CREATED, Resource: &eventsv1.Change_Event{Event: &eventsv1.Event{}}})
		if err != nil {
			t.Fatal(err)
		}
		e.publish(t, "events", data, uint64(i+1))
	}
	// Whatever the watch sends now must be change 4 (the next after 3) or an error: a
	// later change first means 4.. were skipped without a word.
	for {
		m, err := w.next()
		if err != nil {
			t.Logf("the watch ended with %v (acceptable)", err)
			return
		}
		gs := gotOf(m)
		if len(gs) == 0 {
			continue
		}
		if gs[0].seq != 4 {
			t.Fatalf("the watch resumed after change 3 first got change %d: changes 4 to %d were skipped silently", gs[0].seq, gs[0].seq-1)
		}
		return
	}
}
