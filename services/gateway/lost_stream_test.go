package gateway_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc/codes"

	gatewayv1 "github.com/guarantor/guarantor/gen/go/guarantor/gateway/v1"
	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
	"github.com/guarantor/guarantor/platform/outbox"
	"github.com/guarantor/guarantor/services/events"
)

// TestEventsStreamLost: JetStream loses the events stream while everything runs. The
// events service creates it again and publishes its changes again, in order, before the
// next one, with no one stepping in; the gateway ends the open watch with OUT_OF_RANGE,
// and refuses a token of the old stream the same way; the guarantees service's
// projection follows the new stream (a guarantee can name the actor created after the
// loss).
func TestEventsStreamLost(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{})
	ctx := context.Background()
	// Bounded: a watch the gateway failed to end would otherwise hang the test.
	wctx, cancel := context.WithTimeout(s.ctxAs(admin), time.Minute)
	defer cancel()
	w, _ := openWatch(t, wctx, s.conn, &gatewayv1.WatchRequest{Collections: []string{"actors"}})
	writeBoth(t, s, "before", 3, 1)
	got, err := collect(t, w, 3)
	if err != nil {
		t.Fatal(err)
	}
	old := got[2].token

	js := s.nats.JetStream(t)
	if err := js.DeleteStream(ctx, events.Stream); err != nil {
		t.Fatal(err)
	}
	// The next change finds the stream gone.
	writeBoth(t, s, "after", 1, 0)

	want := []int64{1, 2, 3, 4}
	deadline := time.Now().Add(30 * time.Second)
	for have := changeSeqs(t, js); !slices.Equal(have, want); have = changeSeqs(t, js) {
		if time.Now().After(deadline) {
			t.Fatalf("the events stream holds changes %v, want %v", have, want)
		}
		time.Sleep(50 * time.Millisecond)
	}

	for {
		if _, err := w.Recv(); err != nil {
			wantCode(t, err, codes.OutOfRange)
			break
		}
	}
	resumed, err := gatewayv1.NewGatewayServiceClient(s.conn).Watch(s.ctxAs(admin), &gatewayv1.WatchRequest{ResumeToken: old})
	if err == nil {
		_, err = resumed.Recv()
	}
	wantCode(t, err, codes.OutOfRange)

	gu := guaranteesv1.NewGuaranteesServiceClient(s.conn)
	createGuarantee(t, s.ctxAs(editor), gu, "after-loss", "frameworks/before-f0", "actors/after-a0", "actors/before-a0")
}

// changeSeqs is the Guarantor-Seq of every message of the events stream, in stream order
// (nil while the stream is missing).
func changeSeqs(t *testing.T, js jetstream.JetStream) []int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, events.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for seq := st.CachedInfo().State.FirstSeq; seq <= st.CachedInfo().State.LastSeq && seq > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		n, err := strconv.ParseInt(m.Header.Get(outbox.HeaderSeq), 10, 64)
		if err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		out = append(out, n)
	}
	return out
}
