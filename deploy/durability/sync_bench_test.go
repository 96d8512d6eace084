// Package durability measures what the NATS durability setting in deploy/k8s costs:
// `jetstream { sync_interval: always }` fsyncs every write before JetStream acknowledges
// it (docs/operations.md explains why). The relay publishes one change at a time and
// waits for each ack, so the publish-to-ack time is its ceiling on changes per second.
package durability

import (
	"context"
	"fmt"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/guarantor/guarantor/platform/outbox"
)

// BenchmarkPublishAck publishes 1 KiB messages one after another, each waiting for its
// ack, into a file-storage stream like the services' own (outbox.StreamConfig), on a
// single embedded node whose store is on the test's temporary directory.
//
//	go test -run='^$' -bench=PublishAck ./durability/
func BenchmarkPublishAck(b *testing.B) {
	for _, tc := range []struct {
		name       string
		syncAlways bool
	}{
		{"sync_interval=default(2m)", false},
		{"sync_interval=always", true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			js := startJetStream(b, tc.syncAlways)
			ctx := context.Background()
			if _, err := outbox.EnsureStream(ctx, js, outbox.StreamConfig("BENCH", []string{"bench.>"}, 1)); err != nil {
				b.Fatal(err)
			}
			payload := make([]byte, 1024)
			b.ResetTimer()
			for i := range b.N {
				if _, err := js.Publish(ctx, "bench.x", payload, jetstream.WithMsgID(fmt.Sprint("m-", i))); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func startJetStream(b *testing.B, syncAlways bool) jetstream.JetStream {
	b.Helper()
	opts := &natsserver.Options{
		Host: "127.0.0.1", Port: natsserver.RANDOM_PORT, JetStream: true, StoreDir: b.TempDir(),
		NoLog: true, NoSigs: true, SyncAlways: syncAlways,
	}
	if syncAlways {
		opts.SyncInterval = 2 * time.Minute // what the config parser sets beside SyncAlways
	}
	s, err := natsserver.NewServer(opts)
	if err != nil {
		b.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		b.Fatal("nats-server not ready")
	}
	b.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	return js
}
