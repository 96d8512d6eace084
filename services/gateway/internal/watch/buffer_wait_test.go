package watch

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	gatewayv1 "github.com/guarantor/guarantor/gen/go/guarantor/gateway/v1"
	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
)

// TestBufferTwoWaitingReadersUnblock: the two readers of a watch (one per stream)
// both wait for room by bytes; the sender then empties the buffer. Each waiting change is
// smaller than the bound, so at least one must go in. Each waiting reader used to count
// its own change in held while it waited, so the one woken saw the other's change as if
// it were in the buffer, found no room, and both waited until the grace ran out: the
// watch overflowed with an empty buffer.
func TestBufferTwoWaitingReadersUnblock(t *testing.T) {
	t.Parallel()
	const limit, size = 100, 60
	b := newWatchBuffer(1024, limit)
	ctx := context.Background()
	mk := func(stream int, seq uint64) item {
		return item{stream: stream, seq: seq, change: make([]byte, size)}
	}
	if !b.push(ctx, mk(0, 1), time.Second) {
		t.Fatal("first push into an empty buffer failed")
	}
	const grace = 2 * time.Second
	results := make(chan bool, 2)
	go func() { results <- b.push(ctx, mk(0, 2), grace) }()
	go func() { results <- b.push(ctx, mk(1, 1), grace) }()
	// Both readers are now waiting for room by bytes.
	time.Sleep(200 * time.Millisecond)
	// The sender takes the only item held: the buffer is empty.
	it := <-b.items
	b.release(it)
	start := time.Now()
	select {
	case ok := <-results:
		if !ok {
			t.Fatalf("a push into an empty buffer failed after %v (held=%d)", time.Since(start), b.held.Load())
		}
	case <-time.After(grace / 2):
		t.Fatalf("the buffer is empty, yet neither waiting reader could push a %d-byte change (bound %d) within %v; held=%d",
			size, limit, grace/2, b.held.Load())
	}
}

// TestBufferOverflowWithPromptClient: end to end. A client pauses for a moment
// (shorter than the grace), then reads everything at once; it must not be told it reads
// too slowly. Changes from both streams wait for room by bytes at the same time; the
// watch used to end with RESOURCE_EXHAUSTED although its buffer was empty.
func TestBufferOverflowWithPromptClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	const grace = 3 * time.Second
	s, _ := e.service(t, Config{BufferBytes: 150, OverflowGrace: grace, BatchLinger: -1}, nil)
	w := open(t, s, &gatewayv1.WatchRequest{})
	summary := strings.Repeat("x", 80) // each change is about 100 bytes encoded
	for i := uint64(1); i <= 3; i++ {
		data, err := proto.Marshal(&eventsv1.Change{Sequence: int64(i), ResourceName: fmt.Sprintf("events/e%d", i),
			Kind: typev1.ChangeKind_CHANGE_KIND_CREATED, Resource: &eventsv1.Change_Event{Event: &eventsv1.Event{Summary: summary}}})
		if err != nil {
			t.Fatal(err)
		}
		e.publish(t, "events", data, i)
	}
	data, err := proto.Marshal(&guaranteesv1.Change{Sequence: 1, ResourceName: "frameworks/f1",
		Kind: typev1.ChangeKind_CHANGE_KIND_CREATED, Resource: &guaranteesv1.Change_Framework{Framework: &guaranteesv1.Framework{Summary: summary}}})
	if err != nil {
		t.Fatal(err)
	}
	e.publish(t, "guarantees", data, 1)
	waitHub(t, s, 0, 3)
	waitHub(t, s, 1, 1)
	// The client's short pause: the readers reach their pushes meanwhile.
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	gs, err := w.changes(4)
	if err != nil {
		t.Fatalf("a client that paused 300ms and then read at once got %d of 4 changes, then (after %v) %v",
			len(gs), time.Since(start).Round(time.Millisecond), err)
	}
	wantSeqs(t, gs, map[string][]uint64{"events": span(1, 3), "guarantees": {1}})
}
