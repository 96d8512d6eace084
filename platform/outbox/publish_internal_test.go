package outbox

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/guarantor/guarantor/platform/changelog"
)

// The relay's safety net against re-publishing: JetStream drops a second publish of the same
// entry ID within the Duplicates window, and lastStreamSeq finds the stream's real position.
func TestPublishDeduplicatesAndLastStreamSeq(t *testing.T) {
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	stream, err := EnsureStream(ctx, js, StreamConfig("S", []string{"single", "multi.>"}, 1))
	if err != nil {
		t.Fatal(err)
	}

	if _, msgSeq, err := lastStreamSeq(ctx, js, "S"); err != nil || msgSeq != 0 {
		t.Fatalf("empty stream: message %d, err = %v", msgSeq, err)
	}
	entries := []changelog.Entry{
		{Seq: 1, ID: "t-1", Subject: "multi.a.b", Payload: []byte("1")},
		{Seq: 2, ID: "t-2", Subject: "single", Payload: []byte("2")},
		{Seq: 3, ID: "t-3", Subject: "multi.c", Payload: []byte("3")},
	}
	tests := []struct {
		name     string
		entry    changelog.Entry
		wantDup  bool
		wantLast int64
	}{
		{"first", entries[0], false, 1},
		{"again", entries[0], true, 1},
		{"single-token subject", entries[1], false, 2},
		{"third", entries[2], false, 3},
		{"first once more", entries[0], true, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ack *jetstream.PubAck
			_, err := publishWindow(ctx, js, "S", []changelog.Entry{tt.entry}, window{
				timeout: time.Second,
				onAck:   func(_ changelog.Entry, a *jetstream.PubAck) error { ack = a; return nil },
			})
			if err != nil || ack == nil {
				t.Fatalf("publish: ack %v, err %v", ack, err)
			}
			if ack.Duplicate != tt.wantDup {
				t.Fatalf("Duplicate = %v, want %v", ack.Duplicate, tt.wantDup)
			}
			last, msgSeq, err := lastStreamSeq(ctx, js, "S")
			if err != nil || msgSeq == 0 || last != tt.wantLast {
				t.Fatalf("lastStreamSeq = %d, message %d, %v; want %d", last, msgSeq, err, tt.wantLast)
			}
		})
	}
	t.Run("after the tail is deleted", func(t *testing.T) {
		if err := stream.DeleteMsg(ctx, 3); err != nil {
			t.Fatal(err)
		}
		// The message at stream sequence 2 is now the last one stored, below the
		// stream's last sequence (3): that is how the relay sees a lost tail.
		last, msgSeq, err := lastStreamSeq(ctx, js, "S")
		if err != nil || msgSeq != 2 || last != 2 {
			t.Fatalf("lastStreamSeq = %d, message %d, %v; want 2 in message 2", last, msgSeq, err)
		}
	})
	t.Run("a subject outside the stream is an error", func(t *testing.T) {
		if _, err := publishWindow(ctx, js, "S", []changelog.Entry{{Seq: 4, ID: "t-4", Subject: "elsewhere"}}, window{timeout: 200 * time.Millisecond}); err == nil {
			t.Fatal("published to a subject the stream does not capture")
		}
	})
}
