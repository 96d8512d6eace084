// Package benchkit holds what every Guarantor benchmark needs, so that each service's
// benchmarks measure the same way: latency percentiles, closed-loop and paced (open-loop)
// load, signed caller contexts, quiet loggers and size knobs from the environment.
package benchkit

import (
	"context"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/guarantor/guarantor/platform/grpcserver"
	"github.com/guarantor/guarantor/platform/principal"
	"github.com/guarantor/guarantor/platform/service"
)

// Percentile is the nearest-rank q-quantile (0..1) of sorted durations.
func Percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// Ms expresses d in milliseconds, for b.ReportMetric.
func Ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Alternate calls op and base n times each, swapping which goes first every round, so
// that a drift in the machine's load falls on the operation and its baseline alike.
func Alternate(n int, op, base func()) {
	for i := range n {
		if i%2 == 0 {
			op()
			base()
		} else {
			base()
			op()
		}
	}
}

// ReportLatencies sorts lat and reports its p50 and p99 in milliseconds as
// "<prefix>p50-ms" and "<prefix>p99-ms".
func ReportLatencies(b *testing.B, prefix string, lat []time.Duration) {
	slices.Sort(lat)
	b.ReportMetric(Ms(Percentile(lat, 0.50)), prefix+"p50-ms")
	b.ReportMetric(Ms(Percentile(lat, 0.99)), prefix+"p99-ms")
}

// Ratio is the ratio of two sorted latency sets at quantile q: how many times the
// baseline's latency the operation takes.
func Ratio(sortedOp, sortedBase []time.Duration, q float64) float64 {
	return Ms(Percentile(sortedOp, q)) / Ms(Percentile(sortedBase, q))
}

// Compare is the usual benchmark of an operation against its baseline: op and base run
// alternately b.N times each (Alternate), each call timed, and it reports both sides'
// p50 and p99 (under opPrefix and basePrefix) and op's p50 and p99 as ratios of base's.
// A call's error fails the benchmark. Setup before it is not timed.
func Compare(b *testing.B, opPrefix, basePrefix string, op, base func() error) {
	var opLat, baseLat []time.Duration
	timed := func(f func() error, into *[]time.Duration) func() {
		return func() {
			t := time.Now()
			if err := f(); err != nil {
				b.Fatal(err)
			}
			*into = append(*into, time.Since(t))
		}
	}
	b.ResetTimer()
	Alternate(b.N, timed(op, &opLat), timed(base, &baseLat))
	b.StopTimer()
	b.ReportMetric(0, "ns/op")
	ReportLatencies(b, opPrefix, opLat)
	ReportLatencies(b, basePrefix, baseLat)
	b.ReportMetric(Ratio(opLat, baseLat, 0.50), "p50-ratio")
	b.ReportMetric(Ratio(opLat, baseLat, 0.99), "p99-ratio")
}

// RunClients runs op for i in [0, n) on `clients` goroutines (client k gets k) and returns
// the wall time, each call's latency, and the first error.
func RunClients(clients, n int, op func(client, i int) error) (time.Duration, []time.Duration, error) {
	lat := make([]time.Duration, n)
	var (
		next    atomic.Int64
		errOnce sync.Once
		first   error
		wg      sync.WaitGroup
	)
	start := time.Now()
	for k := range clients {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t := time.Now()
				if err := op(k, i); err != nil {
					errOnce.Do(func() { first = err })
					return
				}
				lat[i] = time.Since(t)
			}
		})
	}
	wg.Wait()
	return time.Since(start), lat, first
}

// Paced calls do(i) for i in [0, n), the i-th due at start + i*interval (an open-loop
// load: a slow call does not delay the next one), on a pool of workers. It returns the
// wall time from the first due time to the last completion.
func Paced(n int, interval time.Duration, workers int, do func(i int)) time.Duration {
	jobs := make(chan int, n)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				do(i)
			}
		})
	}
	start := time.Now()
	for i := range n {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return time.Since(start)
}

// Logger is a production logger writing nowhere: the same encoding work as a service,
// without flooding the benchmark output.
func Logger() *zap.Logger {
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	return zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.AddSync(io.Discard), zapcore.InfoLevel))
}

// Dial connects to a local server without TLS.
func Dial(tb testing.TB, addr string) *grpc.ClientConn {
	tb.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatal(err)
	}
	return conn
}

// Ctx returns a context carrying p signed with key, valid for the length of a benchmark.
func Ctx(tb testing.TB, key []byte, p principal.Principal) context.Context {
	tb.Helper()
	tok, err := principal.Sign(p, key, time.Now(), 6*time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	return metadata.AppendToOutgoingContext(context.Background(), principal.Header, tok)
}

// EnvInt reads a positive integer knob, def when unset.
func EnvInt(tb testing.TB, name string, def int) int {
	tb.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		tb.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// EnvDuration reads a positive duration knob, def when unset.
func EnvDuration(tb testing.TB, name string, def time.Duration) time.Duration {
	tb.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		tb.Fatalf("%s=%q: want a positive duration", name, v)
	}
	return d
}

// ServeNoop serves impl (a no-op implementation of desc, the baseline of a service's
// benchmarks) on the platform server as platform/service builds it for a data service:
// grpcserver.New with the default config, the same logger, and an auth hook verifying the
// signed principal. It returns a connection to it; both close at the end of the benchmark.
func ServeNoop(b *testing.B, key []byte, desc *grpc.ServiceDesc, impl any) *grpc.ClientConn {
	b.Helper()
	srv, err := grpcserver.New(grpcserver.Config{Listen: "127.0.0.1:0"}, Logger(), grpcserver.WithAuth(service.Authenticator(key)))
	if err != nil {
		b.Fatal(err)
	}
	srv.RegisterService(desc, impl)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-done:
		cancel()
		b.Fatalf("no-op server stopped: %v", err)
	}
	conn := Dial(b, srv.Addr().String())
	b.Cleanup(func() {
		_ = conn.Close()
		cancel()
		if err := <-done; err != nil {
			b.Errorf("no-op server: %v", err)
		}
	})
	return conn
}
