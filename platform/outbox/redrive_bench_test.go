package outbox_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/guarantor/guarantor/platform/changelog"
	"github.com/guarantor/guarantor/platform/outbox"
	"github.com/guarantor/guarantor/platform/sqldb"
	"github.com/guarantor/guarantor/platform/sqldb/sqldbtest"
)

// BenchmarkRedrive re-drives a purged stream from a change log of 5,000 changes of 1 KiB
// on SQLite, against the baseline measured in the same run: the same 5,000 messages
// published straight to JetStream, asynchronously in windows of the same size (as fast
// as the server stores them), with no database and no ordering guarantee. Both at the
// embedded server's default sync, or with GUARANTOR_BENCH_REDRIVE_SYNC=always at
// production's `sync_interval: always` (docs/operations.md).
func BenchmarkRedrive(b *testing.B) {
	const changes, size = 5000, 1024
	ctx := context.Background()
	db := sqldbtest.Open(b, sqldb.SQLite)
	err := db.InTx(ctx, func(tx *sql.Tx) error {
		for range changes {
			_, err := changelog.Append(ctx, tx, db, changelog.Record{
				IDPrefix: "test", ResourceName: "things/1", Collection: "things", Kind: "updated", Subject: testSubject,
				Encode: func(int64, string, time.Time) ([]byte, error) { return make([]byte, size), nil },
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	ns := startNATS(b)
	if os.Getenv("GUARANTOR_BENCH_REDRIVE_SYNC") == "always" {
		ns.stop()
		ns.syncAlways = true
		ns.start()
	}
	js := ns.jetStream(b)
	stream := ensureStream(b, js)
	rawCfg := outbox.StreamConfig("RAW", []string{"raw.>"}, 1)
	raw, err := js.CreateStream(ctx, rawCfg)
	if err != nil {
		b.Fatal(err)
	}
	var redrive, baseline time.Duration
	for range b.N {
		if err := stream.Purge(ctx); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		n, err := outbox.Redrive(ctx, db, js, testStream, zap.NewNop())
		redrive += time.Since(start)
		if err != nil || n != changes {
			b.Fatalf("Redrive = %d, %v; want %d", n, err, changes)
		}

		if err := raw.Purge(ctx); err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		for from := 0; from < changes; from += outbox.RedriveWindow {
			futures := make([]jetstream.PubAckFuture, 0, outbox.RedriveWindow)
			for i := from; i < min(from+outbox.RedriveWindow, changes); i++ {
				msg := nats.NewMsg("raw.x")
				msg.Data = make([]byte, size)
				f, err := js.PublishMsgAsync(msg, jetstream.WithMsgID(fmt.Sprintf("raw-%d-%d", i, start.UnixNano())))
				if err != nil {
					b.Fatal(err)
				}
				futures = append(futures, f)
			}
			for _, f := range futures {
				select {
				case <-f.Ok():
				case err := <-f.Err():
					b.Fatal(err)
				}
			}
		}
		baseline += time.Since(start)
	}
	rate := float64(b.N*changes) / redrive.Seconds()
	base := float64(b.N*changes) / baseline.Seconds()
	b.ReportMetric(rate, "redrive-changes/s")
	b.ReportMetric(base, "raw-async-msgs/s")
	b.ReportMetric(rate/base, "ratio")
}
