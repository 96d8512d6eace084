package natstest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/guarantor/guarantor/platform/testkit/natstest"
)

func connect(t testing.TB, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestPublishConsume(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	ctx := testContext(t)
	_, js := connect(t, srv.URL())

	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "EVENTS", Subjects: []string{"events.>"}, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "events.created", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "reader", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for msg := range batch.Messages() {
		got = append(got, string(msg.Data()))
		if err := msg.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if batch.Error() != nil {
		t.Fatal(batch.Error())
	}
	if len(got) != 1 || got[0] != "hello" || batch == nil {
		t.Fatalf("consumed %q, want [hello]", got)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.NumAckPending != 0 || info.NumPending != 0 {
		t.Errorf("consumer pending=%d ackPending=%d after ack, want 0/0", info.NumPending, info.NumAckPending)
	}
}

func TestRestartKeepsPortAndStore(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	ctx := testContext(t)
	url := srv.URL()
	nc, js := connect(t, url)

	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "KEPT", Subjects: []string{"kept.>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "kept.one", []byte("before restart")); err != nil {
		t.Fatal(err)
	}

	srv.Shutdown()
	if srv.Server() != nil {
		t.Error("Server() not nil after Shutdown")
	}
	// While NATS is away, publishing fails rather than hangs forever.
	shortCtx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err := js.Publish(shortCtx, "kept.two", []byte("while down"))
	cancel()
	if err == nil {
		t.Error("publish succeeded while the server was down")
	}

	srv.Restart(t)
	if srv.URL() != url {
		t.Fatalf("URL after restart = %s, want %s", srv.URL(), url)
	}
	// The same client reconnects by itself to the same URL.
	deadline := time.Now().Add(10 * time.Second)
	for !nc.IsConnected() {
		if time.Now().After(deadline) {
			t.Fatal("client did not reconnect within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}

	msg, err := mustStream(ctx, t, js, "KEPT").GetMsg(ctx, 1)
	if err != nil {
		t.Fatalf("GetMsg(1) after restart: %v", err)
	}
	if string(msg.Data) != "before restart" {
		t.Errorf("message 1 = %q, want %q", msg.Data, "before restart")
	}
	// And the restarted server takes new writes.
	if _, err := js.Publish(ctx, "kept.three", []byte("after restart")); err != nil {
		t.Fatalf("publish after restart: %v", err)
	}
}

func TestRestartTwiceAndShutdownIdempotent(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	srv.Restart(t) // Restart of a running server shuts it down first
	srv.Restart(t)
	srv.Shutdown()
	srv.Shutdown()
	if srv.Server() != nil {
		t.Error("Server() not nil after Shutdown")
	}
}

func mustStream(ctx context.Context, t testing.TB, js jetstream.JetStream, name string) jetstream.Stream {
	t.Helper()
	s, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	return s
}

// TestRecreateStream: the stream comes back empty under the same name and configuration,
// with a consumer that was reading it gone, and takes writes from sequence 1 again.
func TestRecreateStream(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	ctx := testContext(t)
	js := srv.JetStream(t)
	cfg := jetstream.StreamConfig{Name: "LOST", Subjects: []string{"lost.>"}, Storage: jetstream.FileStorage, MaxMsgs: 100}
	st, err := js.CreateStream(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := js.Publish(ctx, "lost.x", []byte("old")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "reader"}); err != nil {
		t.Fatal(err)
	}

	st = natstest.RecreateStream(t, js, cfg)
	info := st.CachedInfo()
	if info.State.Msgs != 0 || info.State.LastSeq != 0 || info.Config.MaxMsgs != 100 {
		t.Fatalf("recreated stream: %d messages, last sequence %d, max messages %d; want 0, 0, 100",
			info.State.Msgs, info.State.LastSeq, info.Config.MaxMsgs)
	}
	if _, err := st.Consumer(ctx, "reader"); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Errorf("the old consumer: %v, want it gone", err)
	}
	ack, err := js.Publish(ctx, "lost.x", []byte("new"))
	if err != nil {
		t.Fatal(err)
	}
	if ack.Sequence != 1 {
		t.Errorf("the first write after recreation is at %d, want 1", ack.Sequence)
	}
}
