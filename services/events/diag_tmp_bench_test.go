package events_test

import (
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	"github.com/guarantor/guarantor/platform/testkit/natstest"
	"github.com/guarantor/guarantor/services/events/eventstest"
)

func BenchmarkDiagCreate(b *testing.B) {
	for _, v := range []struct {
		name             string
		relay, reqID, ps bool
	}{{"full", true, true, true}, {"norelay", false, true, true}, {"noreqid", true, false, true}, {"noparticipants", true, true, false}, {"bare", false, false, false}} {
		b.Run(v.name, func(b *testing.B) {
			ns := natstest.Start(b)
			key := benchKey(b)
			svc := startBenchService(b, ns, "sqlite://"+filepath.Join(b.TempDir(), "events.db"), key, v.relay)
			ctx := benchCtx(b, key, eventstest.Editor)
			seedBenchActors(b, ctx, svc.client)
			r := mrand.New(mrand.NewPCG(1, 2))
			n := 2000
			reqs := make([]*eventsv1.CreateEventRequest, n)
			for i := range reqs {
				reqs[i] = &eventsv1.CreateEventRequest{EventId: fmt.Sprintf("d-%d", i), Event: benchEvent(r, i)}
				if v.reqID {
					reqs[i].RequestId = reqs[i].EventId
				}
				if !v.ps {
					reqs[i].Event.Participants = nil
				}
			}
			start := time.Now()
			for i := range reqs {
				if _, err := svc.client.CreateEvent(ctx, reqs[i]); err != nil {
					b.Fatal(err)
				}
			}
			el := time.Since(start)
			fmt.Fprintf(os.Stderr, "%s: %.0f ops/s\n", v.name, float64(n)/el.Seconds())
		})
	}
}
