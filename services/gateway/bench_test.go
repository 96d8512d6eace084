package gateway_test

// Benchmarks of the gateway, recorded in docs/benchmarks.md. Every figure comes with a
// baseline measured in the same run by the same Go load generator:
//
//   - BenchmarkGatewayUnary/<method>: closed-loop QPS at concurrency 50 through the
//     gateway against the same calls made directly to the service (signed principal, as
//     the gateway forwards them), alternating; then both paths paced at half of the
//     gateway's maximum (the most a client can put through it), and the p50 and p99
//     latency the gateway adds at that rate.
//   - BenchmarkWatchDelivery/watchers=<n>: n gateway Watch streams while a paced writer
//     creates events through the events service at 500/s; latency from each change's
//     commit time (Change.time) to its receipt at each watcher, against n plain JetStream
//     ordered consumers of the events stream fed by the same writer at the same rate.
//
// Everything runs in-process on loopback: an embedded nats-server with JetStream, the
// real events and guarantees services on SQLite, the real gateway. All log as production
// does (JSON, info) into io.Discard. Nothing here asserts a timing. Knobs:
//
//	GUARANTOR_BENCH_GW_DURATION     measured time per side for the QPS and latency runs (default 8s)
//	GUARANTOR_BENCH_WATCH_DURATION  writing time per side for the watch benchmark (default 10s)
//	GUARANTOR_BENCH_WATCHERS        comma-separated watcher counts (default "1000,100")
//	GUARANTOR_BENCH_WATCH_RATE      changes per second (default 500)
//	GUARANTOR_BENCH_WATCH_BATCH     the gateway watchers' WatchRequest.max_batch (default 100; 0: one change per message)
//	GUARANTOR_BENCH_GW_RATE         diagnostic: pace the latency run at this rate, not half the gateway's QPS
//	GUARANTOR_BENCH_WATCH_PER_CONN  watch streams per client connection (default 100)
//	GUARANTOR_BENCH_WATCH_LINGER    diagnostic: the gateway's --watch-batch-linger (default its own, 5ms)
//	GUARANTOR_BENCH_WATCH_BASELINE  diagnostic: "off" skips the JetStream baseline, to profile the gateway's side alone

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	gatewayv1 "github.com/guarantor/guarantor/gen/go/guarantor/gateway/v1"
	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
	"github.com/guarantor/guarantor/platform/grpcserver"
	"github.com/guarantor/guarantor/platform/principal"
	"github.com/guarantor/guarantor/platform/service"
	"github.com/guarantor/guarantor/platform/testkit/benchkit"
	"github.com/guarantor/guarantor/platform/testkit/natstest"
	"github.com/guarantor/guarantor/platform/testkit/servicetest"
	"github.com/guarantor/guarantor/services/events"
	"github.com/guarantor/guarantor/services/events/eventstest"
	"github.com/guarantor/guarantor/services/gateway"
	"github.com/guarantor/guarantor/services/guarantees"
	"github.com/guarantor/guarantor/services/guarantees/guaranteestest"
)

// ---------------------------------------------------------------------------------------
// Harness.

// benchStack is the stack of harness_test.go's startStack, with production logging (the
// harness's zaptest loggers would write every call into the benchmark's output) and a
// gateway configured for load: rate limit on but out of reach, no stream cap.
type benchStack struct {
	nats       *natstest.Server
	key        []byte
	events     *eventstest.Harness
	guarantees *guaranteestest.Harness
	gw         *gateway.Gateway
	viewerKey  string
}

func startBenchStack(b *testing.B) *benchStack {
	b.Helper()
	s := &benchStack{nats: natstest.Start(b)}
	s.key = servicetest.NewKey(b)
	s.events = servicetest.Start(b, servicetest.SQLite, servicetest.Service[*events.Server, eventsv1.EventsServiceClient]{
		Name: "events", Stream: events.Stream, NewClient: eventsv1.NewEventsServiceClient,
		New: func(_ testing.TB, cfg service.Config) (*events.Server, *service.Process, error) {
			srv, err := events.New(context.Background(), cfg, benchkit.Logger())
			if err != nil {
				return nil, nil, err
			}
			return srv, srv.Process, nil
		},
	}, servicetest.Options{NATS: s.nats, Key: s.key})
	s.guarantees = servicetest.Start(b, servicetest.SQLite, servicetest.Service[*guarantees.Server, guaranteesv1.GuaranteesServiceClient]{
		Name: "guarantees", Stream: guarantees.Stream, NewClient: guaranteesv1.NewGuaranteesServiceClient,
		New: func(_ testing.TB, cfg service.Config) (*guarantees.Server, *service.Process, error) {
			srv, err := guarantees.New(context.Background(), guarantees.Config{Config: cfg, EventsStream: guarantees.EventsStream}, benchkit.Logger())
			if err != nil {
				return nil, nil, err
			}
			return srv, srv.Process, nil
		},
	}, servicetest.Options{NATS: s.nats, Key: s.key})

	keysFile := filepath.Join(b.TempDir(), "keys.json")
	k, h, err := gateway.NewAPIKey()
	if err != nil {
		b.Fatal(err)
	}
	s.viewerKey = k
	writeKeys(b, keysFile, []gateway.KeyEntry{{ID: "viewer-1", Role: "viewer", SHA256: h}})

	cfg := gateway.Defaults
	cfg.GRPC = grpcserver.Config{Listen: "127.0.0.1:0"}
	cfg.HTTPListen = "127.0.0.1:0"
	cfg.EventsAddr = s.events.Server.Addr()
	cfg.GuaranteesAddr = s.guarantees.Server.Addr()
	cfg.NATSURL = s.nats.URL()
	cfg.KeysFile = keysFile
	cfg.PrincipalKey = s.key
	cfg.RatePerSecond = 1_000_000
	cfg.RateBurst = 1_000_000
	cfg.MaxStreamsPerPrincipal = 0
	if l := os.Getenv("GUARANTOR_BENCH_WATCH_LINGER"); l != "" {
		d, err := time.ParseDuration(l)
		if err != nil {
			b.Fatalf("GUARANTOR_BENCH_WATCH_LINGER=%q: %v", l, err)
		}
		cfg.Watch.BatchLinger = d
	}
	s.gw = runBenchGateway(b, cfg)
	return s
}

func runBenchGateway(b *testing.B, cfg gateway.Config) *gateway.Gateway {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	gw, err := gateway.New(ctx, cfg, benchkit.Logger())
	if err != nil {
		cancel()
		b.Fatalf("start gateway: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- gw.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("gateway: %v", err)
		}
		gw.Close()
	})
	select {
	case <-gw.Ready():
	case err := <-done:
		b.Fatalf("gateway stopped: %v", err)
	case <-time.After(30 * time.Second):
		b.Fatal("gateway did not start")
	}
	return gw
}

// signedCtx calls a service directly as the gateway would forward p.
func (s *benchStack) signedCtx(b *testing.B, p principal.Principal) context.Context {
	b.Helper()
	tok, err := principal.Sign(p, s.key, time.Now(), 6*time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	return metadata.AppendToOutgoingContext(context.Background(), principal.Header, tok)
}

// gatewayCtx calls the gateway with the viewer's API key.
func (s *benchStack) gatewayCtx() context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+s.viewerKey)
}

var benchViewer = principal.Principal{ID: "key:viewer-1", Role: principal.RoleViewer}

// seedBench creates what the reads read: two actors and an event in the events service,
// then (once the guarantees service's projection has seen them) a framework and 100
// guarantees.
func (s *benchStack) seedBench(b *testing.B) {
	b.Helper()
	ctx := s.signedCtx(b, eventstest.Editor)
	ec := s.events.Client()
	for _, a := range []struct{ id, cc string }{{"ukr", "UKR"}, {"fra", "FRA"}} {
		if _, err := ec.CreateActor(ctx, &eventsv1.CreateActorRequest{ActorId: a.id, Actor: &eventsv1.Actor{
			Kind: eventsv1.ActorKind_ACTOR_KIND_STATE, DisplayName: "State " + a.cc, CountryCode: a.cc,
		}}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := ec.CreateEvent(ctx, &eventsv1.CreateEventRequest{EventId: "bench-summit", Event: summit("actors/fra")}); err != nil {
		b.Fatal(err)
	}
	gc := s.guarantees.Client()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := gc.CreateFramework(ctx, &guaranteesv1.CreateFrameworkRequest{FrameworkId: "bench", Framework: &guaranteesv1.Framework{
			Title: "Benchmark declaration", Kind: guaranteesv1.FrameworkKind_FRAMEWORK_KIND_DECLARATION,
			Parties: []string{"actors/ukr"}, ThirdParties: []string{"actors/fra"}, SourceEvents: []string{"events/bench-summit"},
		}})
		if err == nil {
			break
		}
		if status.Code(err) != codes.FailedPrecondition || time.Now().After(deadline) {
			b.Fatalf("create framework: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	req := &guaranteesv1.BatchCreateGuaranteesRequest{}
	for i := range 100 {
		req.Requests = append(req.Requests, &guaranteesv1.CreateGuaranteeRequest{GuaranteeId: fmt.Sprintf("g-%d", i), Guarantee: &guaranteesv1.Guarantee{
			Framework: "frameworks/bench", Guarantor: &guaranteesv1.Party{Party: &guaranteesv1.Party_Actor{Actor: "actors/fra"}},
			Beneficiary: "actors/ukr", Title: fmt.Sprintf("Benchmark guarantee %d", i),
			Domain: guaranteesv1.Domain(1 + i%5), Capability: guaranteesv1.Capability(1 + i%14), Role: guaranteesv1.Role(1 + i%3),
			SourceEvents: []string{"events/bench-summit"}, Tags: []string{"bench"},
		}})
	}
	if _, err := gc.BatchCreateGuarantees(ctx, req); err != nil {
		b.Fatal(err)
	}
}

// ---------------------------------------------------------------------------------------
// Measurement helpers (as in services/events/bench_test.go).

func benchEnvInts(b *testing.B, name, def string) []int {
	b.Helper()
	v := os.Getenv(name)
	if v == "" {
		v = def
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			b.Fatalf("%s=%q: want positive integers", name, v)
		}
		out = append(out, n)
	}
	return out
}

// closedLoop runs op on `clients` goroutines for d and returns the calls completed and
// their latencies.
func closedLoop(clients int, d time.Duration, op func() error) (int, []time.Duration, error) {
	var (
		mu      sync.Mutex
		all     []time.Duration
		errOnce sync.Once
		first   error
		wg      sync.WaitGroup
	)
	stop := time.Now().Add(d)
	for range clients {
		wg.Go(func() {
			var lat []time.Duration
			for time.Now().Before(stop) {
				t := time.Now()
				if err := op(); err != nil {
					errOnce.Do(func() { first = err })
					break
				}
				lat = append(lat, time.Since(t))
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return len(all), all, first
}

// ---------------------------------------------------------------------------------------
// 1 and 2. Unary calls: QPS at concurrency 50, and added p99 at half the gateway's maximum.

const unaryConcurrency = 50

func BenchmarkGatewayUnary(b *testing.B) {
	perSide := benchkit.EnvDuration(b, "GUARANTOR_BENCH_GW_DURATION", 8*time.Second)
	s := startBenchStack(b)
	s.seedBench(b)
	gwConn := benchkit.Dial(b, s.gw.Addr())
	directCtx := s.signedCtx(b, benchViewer)
	gwCtx := s.gatewayCtx()
	directEvents, gwEvents := s.events.Client(), eventsv1.NewEventsServiceClient(gwConn)
	directGuarantees, gwGuarantees := s.guarantees.Client(), guaranteesv1.NewGuaranteesServiceClient(gwConn)

	type path struct {
		name string
		ctx  context.Context
		call func(context.Context) error
	}
	methods := []struct {
		name   string
		direct func(context.Context) error
		gw     func(context.Context) error
	}{
		{
			name: "GetEvent",
			direct: func(ctx context.Context) error {
				_, err := directEvents.GetEvent(ctx, &eventsv1.GetEventRequest{Name: "events/bench-summit"})
				return err
			},
			gw: func(ctx context.Context) error {
				_, err := gwEvents.GetEvent(ctx, &eventsv1.GetEventRequest{Name: "events/bench-summit"})
				return err
			},
		},
		{
			name: "ListGuarantees",
			direct: func(ctx context.Context) error {
				resp, err := directGuarantees.ListGuarantees(ctx, &guaranteesv1.ListGuaranteesRequest{PageSize: 20})
				if err == nil && len(resp.GetGuarantees()) != 20 {
					err = fmt.Errorf("got %d guarantees", len(resp.GetGuarantees()))
				}
				return err
			},
			gw: func(ctx context.Context) error {
				resp, err := gwGuarantees.ListGuarantees(ctx, &guaranteesv1.ListGuaranteesRequest{PageSize: 20})
				if err == nil && len(resp.GetGuarantees()) != 20 {
					err = fmt.Errorf("got %d guarantees", len(resp.GetGuarantees()))
				}
				return err
			},
		},
	}
	for _, m := range methods {
		b.Run(m.name, func(b *testing.B) {
			paths := []path{{"direct", directCtx, m.direct}, {"gateway", gwCtx, m.gw}}
			// Warm up both paths.
			for _, p := range paths {
				if _, _, err := closedLoop(unaryConcurrency, 500*time.Millisecond, func() error { return p.call(p.ctx) }); err != nil {
					b.Fatalf("%s: %v", p.name, err)
				}
			}
			// 1. Closed loop at concurrency 50, four alternating segments per side.
			const segments = 4
			calls := make([]int, 2)
			lat := make([][]time.Duration, 2)
			for seg := range segments {
				for _, j := range []int{seg % 2, 1 - seg%2} {
					p := paths[j]
					n, l, err := closedLoop(unaryConcurrency, perSide/segments, func() error { return p.call(p.ctx) })
					if err != nil {
						b.Fatalf("%s: %v", p.name, err)
					}
					calls[j] += n
					lat[j] = append(lat[j], l...)
				}
			}
			directQPS := float64(calls[0]) / perSide.Seconds()
			gwQPS := float64(calls[1]) / perSide.Seconds()

			// 2. Both paths paced at half the maximum load, two alternating halves per side.
			// The maximum is the gateway's: it is the most clients can send through the one
			// door, and half the direct maximum would be 80 to 100 % of the gateway's on a
			// machine the hop shares with the service, measuring saturation, not the hop.
			rate := gwQPS / 2
			if r := os.Getenv("GUARANTOR_BENCH_GW_RATE"); r != "" {
				// A diagnostic: pace at a fixed rate instead.
				v, err := strconv.ParseFloat(r, 64)
				if err != nil || v <= 0 {
					b.Fatalf("GUARANTOR_BENCH_GW_RATE=%q: want a positive number", r)
				}
				rate = v
			}
			interval := time.Duration(float64(time.Second) / rate)
			perHalf := int(rate * perSide.Seconds() / 2)
			pacedLat := make([][]time.Duration, 2)
			pacedWall := make([]time.Duration, 2)
			for half := range 2 {
				for _, j := range []int{half % 2, 1 - half%2} {
					p := paths[j]
					l := make([]time.Duration, perHalf)
					var failed atomic.Int64
					wall := benchkit.Paced(perHalf, interval, 2*unaryConcurrency, func(i int) {
						t := time.Now()
						if err := p.call(p.ctx); err != nil {
							failed.Add(1)
						}
						l[i] = time.Since(t)
					})
					if f := failed.Load(); f > 0 {
						b.Fatalf("%s paced: %d failures", p.name, f)
					}
					pacedLat[j] = append(pacedLat[j], l...)
					pacedWall[j] += wall
				}
			}
			for _, l := range [][]time.Duration{lat[0], lat[1], pacedLat[0], pacedLat[1]} {
				slices.Sort(l)
			}
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(directQPS, "direct-qps")
			b.ReportMetric(gwQPS, "gateway-qps")
			b.ReportMetric(gwQPS/directQPS, "qps-ratio")
			b.ReportMetric(benchkit.Ms(benchkit.Percentile(lat[0], 0.99)), "c50-direct-p99-ms")
			b.ReportMetric(benchkit.Ms(benchkit.Percentile(lat[1], 0.99)), "c50-gateway-p99-ms")
			b.ReportMetric(float64(len(pacedLat[0]))/pacedWall[0].Seconds(), "half-direct-rps")
			b.ReportMetric(float64(len(pacedLat[1]))/pacedWall[1].Seconds(), "half-gateway-rps")
			b.ReportMetric(benchkit.Ms(benchkit.Percentile(pacedLat[0], 0.50)), "half-direct-p50-ms")
			b.ReportMetric(benchkit.Ms(benchkit.Percentile(pacedLat[0], 0.99)), "half-direct-p99-ms")
			b.ReportMetric(benchkit.Ms(benchkit.Percentile(pacedLat[1], 0.50)), "half-gateway-p50-ms")
			b.ReportMetric(benchkit.Ms(benchkit.Percentile(pacedLat[1], 0.99)), "half-gateway-p99-ms")
			b.ReportMetric(benchkit.Ms(benchkit.Percentile(pacedLat[1], 0.50))-benchkit.Ms(benchkit.Percentile(pacedLat[0], 0.50)), "added-p50-ms")
			b.ReportMetric(benchkit.Ms(benchkit.Percentile(pacedLat[1], 0.99))-benchkit.Ms(benchkit.Percentile(pacedLat[0], 0.99)), "added-p99-ms")
		})
	}
}

// ---------------------------------------------------------------------------------------
// 3. Watch delivery: n gateway watchers vs n plain JetStream ordered consumers.

// watchRun is one segment's measurements.
type watchRun struct {
	written  int
	wall     time.Duration
	expected int // written × watchers
	received int
	ended    int // streams that ended early (overflow or error)
	lat      []time.Duration
	// upstream is, for the gateway's segments, each change's arrival at a plain consumer
	// of the stream minus its time (see probeStream).
	upstream []time.Duration
}

func (r *watchRun) add(o watchRun) {
	r.written += o.written
	r.wall += o.wall
	r.expected += o.expected
	r.received += o.received
	r.ended += o.ended
	r.lat = append(r.lat, o.lat...)
	r.upstream = append(r.upstream, o.upstream...)
}

// recorder collects one receiver's latencies of the segment's changes.
type recorder struct {
	prefix string
	lat    []time.Duration
}

// record notes the receipt at at of a change encoded as data; it reports whether the
// change was one of the segment's.
func (r *recorder) record(data []byte, at time.Time) bool {
	name, stamped, ok := changeStamp(data)
	if !ok || !strings.HasPrefix(name, r.prefix) {
		return false
	}
	r.lat = append(r.lat, at.Sub(stamped))
	return true
}

// Fields the load generator reads.
var (
	changeFields      = (&eventsv1.Change{}).ProtoReflect().Descriptor().Fields()
	changeNameField   = changeFields.ByName("resource_name").Number()
	changeTimeField   = changeFields.ByName("time").Number()
	eventsChangeField = (&gatewayv1.WatchResponse{}).ProtoReflect().Descriptor().Fields().ByName("events_change").Number()
	batchField        = (&gatewayv1.WatchResponse{}).ProtoReflect().Descriptor().Fields().ByName("changes").Number()
	timestampSeconds  = protowire.Number(1) // google.protobuf.Timestamp
	timestampNanos    = protowire.Number(2)
)

// changeStamp reads the resource name and time of an encoded events Change, skipping the
// rest (the resource itself above all). Both sides of the watch benchmark read their
// changes with it: decoding whole changes in the load generator, on the cores the
// gateway and NATS run on, was the largest cost of a 1,000-watcher run.
func changeStamp(data []byte) (name string, at time.Time, ok bool) {
	var secs, nanos int64
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return "", time.Time{}, false
		}
		data = data[n:]
		switch {
		case num == changeNameField && typ == protowire.BytesType:
			v, m := protowire.ConsumeString(data)
			if m < 0 {
				return "", time.Time{}, false
			}
			name, n = v, m
		case num == changeTimeField && typ == protowire.BytesType:
			ts, m := protowire.ConsumeBytes(data)
			if m < 0 {
				return "", time.Time{}, false
			}
			for len(ts) > 0 {
				tn, tt, k := protowire.ConsumeTag(ts)
				if k < 0 || tt != protowire.VarintType {
					return "", time.Time{}, false
				}
				v, l := protowire.ConsumeVarint(ts[k:])
				if l < 0 {
					return "", time.Time{}, false
				}
				switch tn {
				case timestampSeconds:
					secs = int64(v)
				case timestampNanos:
					nanos = int64(v)
				}
				ts = ts[k+l:]
			}
			n = m
		default:
			n = protowire.ConsumeFieldValue(num, typ, data)
		}
		if n < 0 {
			return "", time.Time{}, false
		}
		data = data[n:]
	}
	return name, time.Unix(secs, nanos), name != ""
}

// eventsChanges calls f with each encoded events change of an encoded WatchResponse,
// alone or batched (a WatchChange numbers its fields as WatchResponse does).
func eventsChanges(resp []byte, f func(change []byte)) {
	for len(resp) > 0 {
		num, typ, n := protowire.ConsumeTag(resp)
		if n < 0 {
			return
		}
		resp = resp[n:]
		if typ == protowire.BytesType && (num == eventsChangeField || num == batchField) {
			v, m := protowire.ConsumeBytes(resp)
			if m < 0 {
				return
			}
			if num == batchField {
				eventsChanges(v, f)
			} else {
				f(v)
			}
			resp = resp[m:]
			continue
		}
		if n = protowire.ConsumeFieldValue(num, typ, resp); n < 0 {
			return
		}
		resp = resp[n:]
	}
}

// rawCodec sends protobuf messages and receives every message as its bytes, into a
// *[]byte: the watch benchmark's clients read only what they measure (changeStamp).
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return encoding.GetCodecV2(grpcproto.Name).Marshal(v)
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

func (rawCodec) Name() string { return grpcproto.Name }

// openRawWatch opens a Watch whose messages arrive as bytes.
func openRawWatch(ctx context.Context, conn *grpc.ClientConn, req *gatewayv1.WatchRequest) (grpc.ClientStream, error) {
	cs, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, gatewayv1.GatewayService_Watch_FullMethodName, grpc.ForceCodecV2(rawCodec{}))
	if err != nil {
		return nil, err
	}
	if err := cs.SendMsg(req); err != nil {
		return nil, err
	}
	return cs, cs.CloseSend()
}

// writeEvents creates n events named events/<seg>-<i> through the events service, paced at
// rate, on 32 workers.
func writeEvents(b *testing.B, ctx context.Context, c eventsv1.EventsServiceClient, seg string, n, rate int) time.Duration {
	b.Helper()
	var failed atomic.Int64
	wall := benchkit.Paced(n, time.Second/time.Duration(rate), 32, func(i int) {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if _, err := c.CreateEvent(cctx, &eventsv1.CreateEventRequest{EventId: fmt.Sprintf("%s-%d", seg, i), Event: summit()}); err != nil {
			failed.Add(1)
		}
	})
	if f := failed.Load(); f > 0 {
		b.Fatalf("CreateEvent: %d failures", f)
	}
	return wall
}

// waitCount waits until got() reaches want, or until it has not moved for 5 s.
func waitCount(got func() int, want int) {
	last, since := -1, time.Now()
	for {
		n := got()
		if n >= want || time.Since(since) > 5*time.Second {
			return
		}
		if n != last {
			last, since = n, time.Now()
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// gatewaySegment opens n Watch streams on the gateway (events only, as the viewer), writes,
// and measures commit to receipt at every watcher.
func gatewaySegment(b *testing.B, s *benchStack, writer eventsv1.EventsServiceClient, wctx context.Context, seg string, watchers, batch, writes, rate int) watchRun {
	b.Helper()
	perConn := benchEnvInts(b, "GUARANTOR_BENCH_WATCH_PER_CONN", "100")[0]
	var conns []*grpc.ClientConn
	for range (watchers + perConn - 1) / perConn {
		conns = append(conns, benchkit.Dial(b, s.gw.Addr()))
	}
	ctx, cancel := context.WithCancel(s.gatewayCtx())
	defer cancel()
	var (
		count, ended atomic.Int64
		ready, wg    sync.WaitGroup
	)
	recs := make([]*recorder, watchers)
	ready.Add(watchers)
	for i := range watchers {
		recs[i] = &recorder{prefix: "events/" + seg + "-"}
		wg.Go(func() {
			var raw []byte
			w, err := openRawWatch(ctx, conns[i/perConn], &gatewayv1.WatchRequest{Collections: []string{"events"}, MaxBatch: int32(batch)})
			if err == nil {
				err = w.RecvMsg(&raw) // the opening bookmark: the watch is positioned
			}
			ready.Done()
			if err != nil {
				ended.Add(1)
				return
			}
			for {
				if err := w.RecvMsg(&raw); err != nil {
					if ctx.Err() == nil {
						ended.Add(1)
					}
					return
				}
				at := time.Now()
				eventsChanges(raw, func(ch []byte) {
					if recs[i].record(ch, at) {
						count.Add(1)
					}
				})
			}
		})
	}
	ready.Wait()
	if e := ended.Load(); e > 0 {
		b.Fatalf("%d of %d watches failed to open", e, watchers)
	}
	upstream := probeStream(b, s, "events/"+seg+"-")
	wall := writeEvents(b, wctx, writer, seg, writes, rate)
	waitCount(func() int { return int(count.Load()) }, writes*watchers)
	run := watchRun{written: writes, wall: wall, expected: writes * watchers, received: int(count.Load()), ended: int(ended.Load())}
	run.upstream = upstream()
	cancel()
	wg.Wait()
	for _, r := range recs {
		run.lat = append(run.lat, r.lat...)
	}
	return run
}

// jetstreamSegment starts n ordered consumers of the events stream on one NATS connection
// (as the gateway shares one), writes, and measures commit to receipt at every consumer.
func jetstreamSegment(b *testing.B, s *benchStack, writer eventsv1.EventsServiceClient, wctx context.Context, seg string, consumers, writes, rate int) watchRun {
	b.Helper()
	nc, err := nats.Connect(s.nats.URL(), nats.Name("bench-baseline"))
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	var count atomic.Int64
	recs := make([]*recorder, consumers)
	var mus = make([]sync.Mutex, consumers)
	var stops []func()
	var conss []jetstream.Consumer
	for i := range consumers {
		recs[i] = &recorder{prefix: "events/" + seg + "-"}
		cons, err := js.OrderedConsumer(context.Background(), events.Stream, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy})
		if err != nil {
			b.Fatal(err)
		}
		cc, err := cons.Consume(func(m jetstream.Msg) {
			at := time.Now()
			mus[i].Lock()
			if recs[i].record(m.Data(), at) {
				count.Add(1)
			}
			mus[i].Unlock()
		})
		if err != nil {
			b.Fatal(err)
		}
		stops = append(stops, cc.Stop)
		conss = append(conss, cons)
	}
	wall := writeEvents(b, wctx, writer, seg, writes, rate)
	waitCount(func() int { return int(count.Load()) }, writes*consumers)
	run := watchRun{written: writes, wall: wall, expected: writes * consumers, received: int(count.Load())}
	for _, stop := range stops {
		stop()
	}
	// Stopping an ordered consumer leaves it on the server until its inactivity
	// threshold (5 min): delete the baseline's, so that they do not weigh on what follows.
	for _, c := range conss {
		if info := c.CachedInfo(); info != nil {
			_ = js.DeleteConsumer(context.Background(), events.Stream, info.Name)
		}
	}
	for i, r := range recs {
		mus[i].Lock()
		run.lat = append(run.lat, r.lat...)
		mus[i].Unlock()
	}
	return run
}

// probeStream reads the events stream with one ordered consumer of its own and records,
// for the changes named with prefix, their arrival minus their time: what the events
// service and NATS take before the gateway sees a change. The returned function stops it
// and returns the latencies.
func probeStream(b *testing.B, s *benchStack, prefix string) func() []time.Duration {
	b.Helper()
	nc, err := nats.Connect(s.nats.URL(), nats.Name("bench-probe"))
	if err != nil {
		b.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	cons, err := js.OrderedConsumer(context.Background(), events.Stream, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy})
	if err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	rec := &recorder{prefix: prefix}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		at := time.Now()
		mu.Lock()
		rec.record(m.Data(), at)
		mu.Unlock()
	})
	if err != nil {
		b.Fatal(err)
	}
	return func() []time.Duration {
		cc.Stop()
		if info := cons.CachedInfo(); info != nil {
			_ = js.DeleteConsumer(context.Background(), events.Stream, info.Name)
		}
		nc.Close()
		mu.Lock()
		defer mu.Unlock()
		return rec.lat
	}
}

// setConsumerLimit sets the streams' consumer limit and returns the previous one (both
// streams are made by outbox.StreamConfig, so they have the same).
// nats-server (2.15) allows 1,000 consumers per stream unless the stream or the account
// sets a limit, and outbox.StreamConfig sets none. Only the plain-JetStream baseline
// needs more: it holds one ordered consumer per watcher, next to the guarantees
// projection's and the gateway's. The gateway's watchers share one consumer per stream,
// so its segments run under the default limit. See docs/benchmarks.md.
func setConsumerLimit(b *testing.B, s *benchStack, limit int) int {
	b.Helper()
	nc, err := nats.Connect(s.nats.URL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	prev := 0
	for _, name := range []string{events.Stream, guarantees.Stream} {
		st, err := js.Stream(ctx, name)
		if err != nil {
			b.Fatal(err)
		}
		cfg := st.CachedInfo().Config
		prev = cfg.MaxConsumers
		cfg.MaxConsumers = limit
		if _, err := js.UpdateStream(ctx, cfg); err != nil {
			b.Fatalf("set %s's consumer limit to %d: %v", name, limit, err)
		}
	}
	return prev
}

// settle waits, before the next segment, until the events stream is back to its idle
// consumers (what the last segment opened is gone) and then a second more: a segment
// of one side must not pay for the other's teardown (NATS removing a thousand
// baseline consumers, or delivering to them until it does).
func settle(b *testing.B, s *benchStack, idle int) {
	b.Helper()
	deadline := time.Now().Add(time.Minute)
	for streamConsumers(b, s) > idle && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second)
}

// streamConsumers is how many consumers the events stream holds.
func streamConsumers(b *testing.B, s *benchStack) int {
	b.Helper()
	nc, err := nats.Connect(s.nats.URL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	st, err := js.Stream(context.Background(), events.Stream)
	if err != nil {
		b.Fatal(err)
	}
	return st.CachedInfo().State.Consumers
}

func BenchmarkWatchDelivery(b *testing.B) {
	perSide := benchkit.EnvDuration(b, "GUARANTOR_BENCH_WATCH_DURATION", 10*time.Second)
	rate := benchEnvInts(b, "GUARANTOR_BENCH_WATCH_RATE", "500")[0]
	batch := benchEnvInts(b, "GUARANTOR_BENCH_WATCH_BATCH", "100")[0]
	baseline := os.Getenv("GUARANTOR_BENCH_WATCH_BASELINE") != "off"
	s := startBenchStack(b)
	wctx := s.signedCtx(b, eventstest.Editor)
	writer := s.events.Client()
	// Warm the writer up.
	writeEvents(b, wctx, writer, "warm", rate/2, rate)
	startWatchHubs(b, s)

	for _, n := range benchEnvInts(b, "GUARANTOR_BENCH_WATCHERS", "1000,100") {
		b.Run(fmt.Sprintf("watchers=%d", n), func(b *testing.B) {
			half := int(perSide.Seconds()*float64(rate)) / 2
			var base, gw watchRun
			// Alternate halves: JetStream, gateway, JetStream, gateway.
			idle := streamConsumers(b, s)
			for round := range 2 {
				seg := fmt.Sprintf("w%d-%d-%d", n, b.N, round)
				if baseline {
					// The baseline alone needs the consumer limit raised (see setConsumerLimit).
					limit := setConsumerLimit(b, s, 20000)
					base.add(jetstreamSegment(b, s, writer, wctx, seg+"-js", n, half, rate))
					setConsumerLimit(b, s, limit)
					settle(b, s, idle)
				}
				gw.add(gatewaySegment(b, s, writer, wctx, seg+"-gw", n, batch, half, rate))
				settle(b, s, idle)
			}
			b.Logf("consumers on %s after the segments: %d", events.Stream, streamConsumers(b, s))
			if gw.received != gw.expected || base.received != base.expected {
				b.Logf("missing deliveries: gateway %d/%d (%d streams ended early), JetStream %d/%d",
					gw.received, gw.expected, gw.ended, base.received, base.expected)
			}
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(float64(batch), "gw-max-batch")
			b.ReportMetric(float64(gw.written)/gw.wall.Seconds(), "gw-writes/s")
			b.ReportMetric(float64(gw.received)/float64(gw.expected), "gw-delivered")
			b.ReportMetric(float64(gw.ended), "gw-streams-ended")
			benchkit.ReportLatencies(b, "gw-", gw.lat)
			b.ReportMetric(benchkit.Ms(benchkit.Percentile(gw.lat, 1)), "gw-max-ms")
			benchkit.ReportLatencies(b, "upstream-", gw.upstream)
			if baseline {
				b.ReportMetric(float64(base.written)/base.wall.Seconds(), "js-writes/s")
				b.ReportMetric(float64(base.received)/float64(base.expected), "js-delivered")
				benchkit.ReportLatencies(b, "js-", base.lat)
				b.ReportMetric(benchkit.Ratio(gw.lat, base.lat, 0.99), "p99-ratio")
			}
		})
	}
}

// startWatchHubs opens one watch and waits until the gateway's hub holds its consumer on
// the events stream: the hubs start at the first watch, and settle, which waits for the
// stream to be back to its idle consumers, must count the hub's among them.
func startWatchHubs(b *testing.B, s *benchStack) {
	b.Helper()
	before := streamConsumers(b, s)
	ctx, cancel := context.WithCancel(s.gatewayCtx())
	defer cancel()
	w, err := openRawWatch(ctx, benchkit.Dial(b, s.gw.Addr()), &gatewayv1.WatchRequest{Collections: []string{"events"}})
	if err != nil {
		b.Fatal(err)
	}
	var raw []byte
	if err := w.RecvMsg(&raw); err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for streamConsumers(b, s) <= before {
		if time.Now().After(deadline) {
			b.Fatal("the gateway's hub did not create its consumer within 10s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestChangeStamp: the load generator's partial reading of a change agrees with decoding
// it whole, inside a WatchResponse as the gateway sends it and alone as NATS carries it.
func TestChangeStamp(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 28, 10, 30, 0, 123456789, time.UTC)
	ch := &eventsv1.Change{Sequence: 9, ResourceName: "events/w-1", Time: timestamppb.New(at), Principal: "key:editor",
		Resource: &eventsv1.Change_Event{Event: summit()}}
	data, err := proto.Marshal(ch)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := proto.Marshal(&gatewayv1.WatchResponse{Change: &gatewayv1.WatchResponse_EventsChange{EventsChange: ch}, ResumeToken: "AQEJ"})
	if err != nil {
		t.Fatal(err)
	}
	batched, err := proto.Marshal(&gatewayv1.WatchResponse{ResumeToken: "AQEJ", Changes: []*gatewayv1.WatchChange{
		{Change: &gatewayv1.WatchChange_GuaranteesChange{GuaranteesChange: &guaranteesv1.Change{ResourceName: "guarantees/g"}}},
		{Change: &gatewayv1.WatchChange_EventsChange{EventsChange: ch}},
		{Change: &gatewayv1.WatchChange_EventsChange{EventsChange: ch}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	ins := [][]byte{data}
	for _, r := range [][]byte{resp, batched} {
		eventsChanges(r, func(c []byte) { ins = append(ins, c) })
	}
	if len(ins) != 4 {
		t.Fatalf("found %d events changes, want 1 alone, 1 in a response and 2 in a batch", len(ins)-1)
	}
	for _, in := range ins {
		name, got, ok := changeStamp(in)
		if !ok || name != ch.GetResourceName() || !got.Equal(at) {
			t.Fatalf("changeStamp = %q, %v, %v; want %q, %v", name, got, ok, ch.GetResourceName(), at)
		}
	}
	if _, _, ok := changeStamp(data[:len(data)-3]); ok {
		t.Fatal("a truncated change was read")
	}
	eventsChanges([]byte{0x22, 0x01, 'x'}, func([]byte) { t.Fatal("a response without a change has one") })
}
