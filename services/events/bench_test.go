package events_test

// Benchmarks of the events service, recorded in docs/benchmarks.md. Every figure comes
// with a baseline measured in the same run, on the same machine, at the same moment, so
// that the ratio between the two means something on a noisy shared machine:
//
//   - BenchmarkCreate: CreateEvent throughput of the real service (SQLite, relay running)
//     against a no-op EventsService on the same grpcserver setup (same interceptors, same
//     principal verification), at 1 and 64 concurrent clients.
//   - BenchmarkListFiltered: ListEvents latency over 1,000,000 events on SQLite against the
//     same SQL query run through database/sql on the same file.
//   - BenchmarkCommitToJetStream: latency from a change's commit to its arrival at a
//     JetStream consumer at a steady 1,000 writes/s, against raw JetStream publish-to-consume
//     latency at the same rate on the same embedded server.
//
// They are benchmarks, not tests: nothing here asserts a timing, and none runs without
// -bench. Run them with scripts/bench-events.sh. Environment knobs:
//
//	GUARANTOR_BENCH_CACHE        directory caching the populated 1M-event SQLite file
//	GUARANTOR_BENCH_LIST_EVENTS  events loaded for the List benchmark (default 1000000)
//	GUARANTOR_BENCH_JS_DURATION  measured time per side for the JetStream benchmark (default 10s)
//	GUARANTOR_BENCH_JS_SYNC      "always": the JetStream benchmark's server fsyncs every write
//	                             before its ack, as production's NATS does (default: the
//	                             server's default, a sync every two minutes)
//	GUARANTOR_BENCH_STORE        "postgres": BenchmarkCreate's service writes to a fresh
//	                             database on the PostgreSQL server pgtest names (default:
//	                             SQLite)
//	GUARANTOR_BENCH_PARTICIPANTS BenchmarkCreate's events each have this many participants
//	                             (default: 1 to 3; the Paris summit has 35)

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
	"github.com/guarantor/guarantor/platform/filter"
	"github.com/guarantor/guarantor/platform/grpcserver"
	"github.com/guarantor/guarantor/platform/outbox"
	"github.com/guarantor/guarantor/platform/pagination"
	"github.com/guarantor/guarantor/platform/service"
	"github.com/guarantor/guarantor/platform/sqldb"
	"github.com/guarantor/guarantor/platform/testkit/benchkit"
	"github.com/guarantor/guarantor/platform/testkit/natstest"
	"github.com/guarantor/guarantor/platform/testkit/pgtest"
	"github.com/guarantor/guarantor/services/events"
	"github.com/guarantor/guarantor/services/events/eventstest"
	"github.com/guarantor/guarantor/services/events/internal/store"
)

// ---------------------------------------------------------------------------------------
// Harness: the real service and the no-op baseline, started the same way.

func benchKey(b *testing.B) []byte {
	b.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		b.Fatal(err)
	}
	return key
}

// benchService is the real events service, as eventstest starts it, but with the
// production logger above and the relay optional (the List benchmark loads a million
// events it does not need on JetStream).
type benchService struct {
	srv    *events.Server
	conn   *grpc.ClientConn
	client eventsv1.EventsServiceClient
	stop   func()
}

func startBenchService(b *testing.B, ns *natstest.Server, dsn string, key []byte, relay bool) *benchService {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := events.New(ctx, service.Config{
		GRPC:           grpcserver.Config{Listen: "127.0.0.1:0"},
		StoreDSN:       dsn,
		NATSURL:        ns.URL(),
		Stream:         events.Stream,
		StreamReplicas: 1,
		PrincipalKey:   key,
		DisableRelay:   !relay,
	}, benchkit.Logger())
	if err != nil {
		cancel()
		b.Fatalf("start events service: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	select {
	case <-srv.GRPC.Ready():
	case err := <-done:
		cancel()
		srv.Close()
		b.Fatalf("events service stopped: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		b.Fatal("events service did not start")
	}
	s := &benchService{srv: srv, conn: benchkit.Dial(b, srv.Addr())}
	s.client = eventsv1.NewEventsServiceClient(s.conn)
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			_ = s.conn.Close()
			cancel()
			if err := <-done; err != nil {
				b.Errorf("events service: %v", err)
			}
			srv.Close()
		})
	}
	b.Cleanup(s.stop)
	return s
}

// noopEvents answers CreateEvent at once, echoing the event: the cost of the gRPC stack,
// the interceptors and principal verification, without the service.
type noopEvents struct {
	eventsv1.UnimplementedEventsServiceServer
}

func (noopEvents) CreateEvent(_ context.Context, req *eventsv1.CreateEventRequest) (*eventsv1.CreateEventResponse, error) {
	return &eventsv1.CreateEventResponse{Event: req.GetEvent()}, nil
}

// startNoop serves noopEvents on the platform server as every data service is built.
func startNoop(b *testing.B, key []byte) eventsv1.EventsServiceClient {
	b.Helper()
	return eventsv1.NewEventsServiceClient(benchkit.ServeNoop(b, key, &eventsv1.EventsService_ServiceDesc, noopEvents{}))
}

// ---------------------------------------------------------------------------------------
// Synthetic data: varied types, countries, times, participants, tags and licences, so
// that filters are selective. Deterministic for a given seed.

var benchCountries = []string{
	"UKR", "RUS", "FRA", "GBR", "DEU", "POL", "USA", "ITA", "ESP", "NLD", "BEL", "SWE", "FIN",
	"NOR", "DNK", "EST", "LVA", "LTU", "ROU", "BGR", "HUN", "SVK", "CZE", "MDA", "BLR", "GEO",
	"TUR", "CAN", "JPN", "AUS", "AUT", "CHE", "IRL", "PRT", "GRC", "HRV", "SVN", "SRB", "CHN",
	"IND", "ISR", "SYR", "IRN", "KAZ", "ARM", "AZE", "BRA", "ZAF", "NGA", "EGY",
}

// benchActorCount actors are seeded: one state per country above, then organisations.
const benchActorCount = 200

func benchActorID(i int) string {
	if i < len(benchCountries) {
		return strings.ToLower(benchCountries[i])
	}
	return fmt.Sprintf("org-%03d", i)
}

func seedBenchActors(b *testing.B, ctx context.Context, c eventsv1.EventsServiceClient) {
	b.Helper()
	req := &eventsv1.BatchCreateActorsRequest{}
	for i := range benchActorCount {
		a := &eventsv1.Actor{Kind: eventsv1.ActorKind_ACTOR_KIND_ORGANIZATION, DisplayName: fmt.Sprintf("Organisation %d", i), Tags: []string{"bench"}}
		if i < len(benchCountries) {
			a = &eventsv1.Actor{Kind: eventsv1.ActorKind_ACTOR_KIND_STATE, DisplayName: "State " + benchCountries[i], CountryCode: benchCountries[i], Tags: []string{"bench"}}
		}
		req.Requests = append(req.Requests, &eventsv1.CreateActorRequest{ActorId: benchActorID(i), Actor: a})
	}
	if _, err := c.BatchCreateActors(ctx, req); err != nil {
		b.Fatalf("seed actors: %v", err)
	}
}

type weighted[T any] struct {
	v T
	w int
}

func pick[T any](r *mrand.Rand, xs []weighted[T]) T {
	total := 0
	for _, x := range xs {
		total += x.w
	}
	n := r.IntN(total)
	for _, x := range xs {
		if n < x.w {
			return x.v
		}
		n -= x.w
	}
	return xs[len(xs)-1].v
}

var (
	benchTypes = []weighted[eventsv1.EventType]{
		{eventsv1.EventType_EVENT_TYPE_DIPLOMACY, 20}, {eventsv1.EventType_EVENT_TYPE_STATEMENT, 20},
		{eventsv1.EventType_EVENT_TYPE_LEGISLATIVE, 10}, {eventsv1.EventType_EVENT_TYPE_MILITARY, 25},
		{eventsv1.EventType_EVENT_TYPE_CEASEFIRE, 10}, {eventsv1.EventType_EVENT_TYPE_CIVIL, 10},
		{eventsv1.EventType_EVENT_TYPE_OTHER, 5},
	}
	benchLicenses = []weighted[typev1.License]{
		{typev1.License_LICENSE_PUBLIC, 80}, {typev1.License_LICENSE_GDELT, 10}, {typev1.License_LICENSE_ACLED, 10},
	}
	benchSubTypes = []string{"summit", "bilateral_meeting", "statement", "vote", "air_drone_strike", "shelling", "battle", "deployment", "ceasefire_report", "protest"}
	benchTags     = []string{"seed", "sanctions", "energy", "grain", "nuclear", "drones", "air_defence", "navy", "aid", "reconstruction", "prisoners", "elections"}
	benchWords    = strings.Fields(`security guarantees ukraine coalition leaders summit military hubs air defence
		drones strike arsenal oblast ceasefire monitoring mission reassurance force troops deployment
		parliament vote ratification sanctions package energy grid attack shelling frontline
		negotiations declaration statement minister defence foreign talks agreement assistance
		artillery ammunition training brigade border navy black sea grain corridor reconstruction
		fund aid humanitarian prisoners exchange talks observers violation report protest capital`)
	benchEpoch = time.Date(2014, 1, 1, 0, 0, 0, 0, time.UTC)
	benchSpan  = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Sub(benchEpoch)
)

func words(r *mrand.Rand, n int) string {
	ws := make([]string, n)
	for i := range ws {
		ws[i] = benchWords[r.IntN(len(benchWords))]
	}
	return strings.Join(ws, " ")
}

// country: UKR 20 %, RUS 15 %, the other 48 share the rest evenly.
func benchCountry(r *mrand.Rand) string {
	switch n := r.IntN(100); {
	case n < 20:
		return "UKR"
	case n < 35:
		return "RUS"
	default:
		return benchCountries[2+r.IntN(len(benchCountries)-2)]
	}
}

// benchEvent builds a valid, varied event; i only makes its source URL unique.
func benchEvent(r *mrand.Rand, i int) *eventsv1.Event {
	when := benchEpoch.Add(time.Duration(r.Int64N(int64(benchSpan/time.Second))) * time.Second)
	e := &eventsv1.Event{
		Type:      pick(r, benchTypes),
		SubType:   benchSubTypes[r.IntN(len(benchSubTypes))],
		Title:     words(r, 8),
		Summary:   words(r, 30),
		When:      &typev1.When{Time: timestamppb.New(when), Precision: typev1.DatePrecision_DATE_PRECISION_DAY},
		Location:  &eventsv1.Location{Place: "Place " + strconv.Itoa(r.IntN(5000)), CountryCode: benchCountry(r)},
		Sources:   []*typev1.Source{{Publisher: "Wire service", Url: "https://example.org/events/" + strconv.Itoa(i)}},
		CameoCode: fmt.Sprintf("%03d", 10+r.IntN(195)),
		License:   pick(r, benchLicenses),
		Tags:      []string{benchTags[r.IntN(len(benchTags))]},
		Counts:    []*eventsv1.Count{{Kind: "participants", Value: int64(r.IntN(50))}},
	}
	// 1 to 3 distinct participants out of the 200 actors.
	seen := map[int]bool{}
	for range 1 + r.IntN(3) {
		a := r.IntN(benchActorCount)
		if seen[a] {
			continue
		}
		seen[a] = true
		e.Participants = append(e.Participants, &eventsv1.Participant{
			Actor: "actors/" + benchActorID(a),
			Role:  eventsv1.ParticipantRole(1 + r.IntN(7)),
		})
	}
	return e
}

// ---------------------------------------------------------------------------------------
// Measurement helpers.

// ---------------------------------------------------------------------------------------
// 1. Create throughput: service vs no-op handler.

// createSeq keeps event ids unique across the benchmark framework's repeated runs.
var createSeq atomic.Int64

func BenchmarkCreate(b *testing.B) {
	ns := natstest.Start(b)
	key := benchKey(b)
	var dsn string
	switch store := os.Getenv("GUARANTOR_BENCH_STORE"); store {
	case "", "sqlite":
		dsn = "sqlite://" + filepath.Join(b.TempDir(), "events.db")
	case "postgres":
		dsn = pgtest.NewDatabase(b)
	default:
		b.Fatalf("GUARANTOR_BENCH_STORE=%q: want sqlite or postgres", store)
	}
	svc := startBenchService(b, ns, dsn, key, true)
	noop := startNoop(b, key)
	ctx := benchkit.Ctx(b, key, eventstest.Editor)
	seedBenchActors(b, ctx, svc.client)

	participants := benchkit.EnvInt(b, "GUARANTOR_BENCH_PARTICIPANTS", 0)
	if participants > benchActorCount {
		b.Fatalf("GUARANTOR_BENCH_PARTICIPANTS=%d: at most %d", participants, benchActorCount)
	}
	for _, clients := range []int{1, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			r := mrand.New(mrand.NewPCG(uint64(clients), uint64(b.N)))
			reqs := make([]*eventsv1.CreateEventRequest, b.N)
			for i := range reqs {
				n := createSeq.Add(1)
				e := benchEvent(r, int(n))
				if participants > 0 {
					e.Participants = nil
					for _, a := range r.Perm(benchActorCount)[:participants] {
						e.Participants = append(e.Participants, &eventsv1.Participant{
							Actor: "actors/" + benchActorID(a),
							Role:  eventsv1.ParticipantRole(1 + r.IntN(7)),
						})
					}
				}
				reqs[i] = &eventsv1.CreateEventRequest{
					EventId:   fmt.Sprintf("c-%d", n),
					RequestId: fmt.Sprintf("create-%d", n),
					Event:     e,
				}
			}
			type target struct {
				name   string
				client eventsv1.EventsServiceClient
				wall   time.Duration
				lat    []time.Duration
			}
			targets := []*target{{name: "noop", client: noop}, {name: "service", client: svc.client}}
			// Alternate the two in chunks (and their order in each chunk), so that a burst of
			// load from elsewhere on the machine hits both alike.
			chunks := min(b.N, 10)
			done := 0
			b.ResetTimer()
			for c := range chunks {
				n := b.N / chunks
				if c < b.N%chunks {
					n++
				}
				part := reqs[done : done+n]
				order := []*target{targets[c%2], targets[1-c%2]}
				for _, t := range order {
					wall, lat, err := benchkit.RunClients(clients, n, func(_, i int) error {
						_, err := t.client.CreateEvent(ctx, part[i])
						return err
					})
					if err != nil {
						b.Fatalf("%s: CreateEvent: %v", t.name, err)
					}
					t.wall += wall
					t.lat = append(t.lat, lat...)
				}
				done += n
			}
			b.StopTimer()
			noopRate := float64(b.N) / targets[0].wall.Seconds()
			svcRate := float64(b.N) / targets[1].wall.Seconds()
			for _, t := range targets {
				slices.Sort(t.lat)
			}
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(noopRate, "noop-ops/s")
			b.ReportMetric(svcRate, "service-ops/s")
			b.ReportMetric(svcRate/noopRate, "ratio")
			b.ReportMetric(benchkit.Ms(benchkit.Percentile(targets[0].lat, 0.99)), "noop-p99-ms")
			b.ReportMetric(benchkit.Ms(benchkit.Percentile(targets[1].lat, 0.50)), "service-p50-ms")
			b.ReportMetric(benchkit.Ms(benchkit.Percentile(targets[1].lat, 0.99)), "service-p99-ms")
		})
	}
}

// ---------------------------------------------------------------------------------------
// 2. Filtered List over a million events: gRPC ListEvents vs the raw SQL query.

// listDataVersion names the generated data set; change it when benchEvent changes, so a
// cached database is not reused for different data.
const listDataVersion = "v1"

const loadBatch = 1000 // resource.MaxBatch

// listDatabase returns a SQLite file holding n events (and the actors), loaded through the
// BatchCreateEvents RPC of the real service, 1000 per batch. With GUARANTOR_BENCH_CACHE set
// the file is kept there and reused by later runs (cached reports that).
func listDatabase(b *testing.B, ns *natstest.Server, key []byte, n int) (path string, load time.Duration, cached bool) {
	b.Helper()
	name := fmt.Sprintf("events-list-%d-%s.db", n, listDataVersion)
	dir := os.Getenv("GUARANTOR_BENCH_CACHE")
	marker := ""
	if dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			b.Fatal(err)
		}
		path = filepath.Join(dir, name)
		marker = path + ".complete"
		if _, err := os.Stat(marker); err == nil {
			return path, 0, true
		}
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if err := os.Remove(path + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
				b.Fatal(err)
			}
		}
	} else {
		path = filepath.Join(b.TempDir(), name)
	}

	// The relay is off: the million changes are not needed on JetStream for List.
	svc := startBenchService(b, ns, "sqlite://"+path, key, false)
	ctx := benchkit.Ctx(b, key, eventstest.Editor)
	seedBenchActors(b, ctx, svc.client)
	batches := (n + loadBatch - 1) / loadBatch
	start := time.Now()
	// Two loaders: the next batch is generated and sent while the store writes the current
	// one (the store serialises SQLite writers anyway).
	_, _, err := benchkit.RunClients(2, batches, func(_, k int) error {
		r := mrand.New(mrand.NewPCG(uint64(k), 42))
		req := &eventsv1.BatchCreateEventsRequest{}
		for j := k * loadBatch; j < min(n, (k+1)*loadBatch); j++ {
			req.Requests = append(req.Requests, &eventsv1.CreateEventRequest{EventId: fmt.Sprintf("e-%07d", j), Event: benchEvent(r, j)})
		}
		if _, err := svc.client.BatchCreateEvents(ctx, req); err != nil {
			return fmt.Errorf("batch %d: %w", k, err)
		}
		if k%100 == 99 {
			el := time.Since(start)
			fmt.Fprintf(os.Stderr, "bench: loaded %d/%d batches in %s (%.0f events/s)\n", k+1, batches, el.Round(time.Second), float64((k+1)*loadBatch)/el.Seconds())
		}
		return nil
	})
	if err != nil {
		b.Fatalf("load: %v", err)
	}
	load = time.Since(start)
	svc.stop()
	if marker != "" {
		if err := os.WriteFile(marker, []byte(fmt.Sprintf("%d events loaded in %s\n", n, load)), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	return path, load, false
}

type listCase struct {
	name   string
	filter string
	page2  bool // measure the second page (keyset pagination through the page token)
}

func BenchmarkListFiltered(b *testing.B) {
	n := benchkit.EnvInt(b, "GUARANTOR_BENCH_LIST_EVENTS", 1_000_000)
	ns := natstest.Start(b)
	key := benchKey(b)
	path, load, cached := listDatabase(b, ns, key, n)
	if cached {
		b.Logf("%d events: loaded from the cache %s", n, path)
	} else {
		b.Logf("%d events: loaded in %s (%.0f events/s)", n, load.Round(time.Second), float64(n)/load.Seconds())
	}
	svc := startBenchService(b, ns, "sqlite://"+path, key, false)
	// The raw baseline: database/sql on the same file (sqldb.Open is sql.Open with the
	// service's driver and pragmas), its own connection pool.
	raw, err := sqldb.Open(context.Background(), "sqlite://"+path, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = raw.Close() })
	// A viewer without the ACLED entitlement: the service adds its licence condition.
	ctx := benchkit.Ctx(b, key, eventstest.Viewer)

	cases := []listCase{
		{name: "type=MILITARY", filter: `type = MILITARY`},
		{name: "country=UKR", filter: `location.country_code = "UKR"`},
		{name: "type=MILITARY_AND_country=FRA", filter: `type = MILITARY AND location.country_code = "FRA"`},
		{name: "type=MILITARY_AND_before_2020", filter: `type = MILITARY AND when.time < "2020-01-01T00:00:00Z"`},
		{name: "type=MILITARY/page2", filter: `type = MILITARY`, page2: true},
		{name: "participant=actors-fra", filter: `participant = "actors/fra"`},
	}
	for _, lc := range cases {
		b.Run(lc.name, func(b *testing.B) {
			req := &eventsv1.ListEventsRequest{Filter: lc.filter, OrderBy: "when.time desc", PageSize: 50}
			query, args := rawListQuery(b, lc.filter)
			if lc.page2 {
				first, err := svc.client.ListEvents(ctx, req)
				if err != nil {
					b.Fatal(err)
				}
				req.PageToken = first.GetNextPageToken()
				query, args = rawListQueryAfter(b, raw, lc.filter)
			}
			checkSameRows(b, ctx, svc.client, raw, req, query, args)
			if b.N == 1 {
				logPlan(b, raw, query, args)
			}

			listGRPC := func() error {
				resp, err := svc.client.ListEvents(ctx, req)
				if err == nil && len(resp.GetEvents()) != 50 {
					err = fmt.Errorf("got %d events, want a full page", len(resp.GetEvents()))
				}
				return err
			}
			listSQL := func() error {
				if rows := runRawList(b, raw, query, args); rows != 51 {
					return fmt.Errorf("raw query returned %d rows, want 51", rows)
				}
				return nil
			}
			benchkit.Compare(b, "", "sql-", listGRPC, listSQL)
			if !cached {
				b.ReportMetric(load.Seconds(), "load-s")
				b.ReportMetric(float64(n)/load.Seconds(), "load-events/s")
			}
		})
	}
}

// rawListQuery is the statement resource.Store.List runs for a filter, for a viewer
// without the ACLED entitlement, first page of 50 (LIMIT 51: one more tells whether there
// is a next page), built with the same compiler.
func rawListQuery(b *testing.B, f string) (string, []any) {
	b.Helper()
	return rawListQueryWith(b, f, "", nil)
}

func rawListQueryWith(b *testing.B, f, extra string, extraArgs []any) (string, []any) {
	b.Helper()
	where, err := filter.Compile(f, store.Events.Filter(sqldb.SQLite))
	if err != nil {
		b.Fatal(err)
	}
	orders, err := pagination.ParseOrderBy("when.time desc", store.Events.Orders, store.Events.DefaultOrder)
	if err != nil {
		b.Fatal(err)
	}
	conds := []string{"(" + where.SQL + ")", "t.deleted = 0", "(t.license <> ?)"}
	args := append(append([]any{}, where.Args...), int64(typev1.License_LICENSE_ACLED))
	if extra != "" {
		conds = append(conds, extra)
		args = append(args, extraArgs...)
	}
	return "SELECT t.data, t.when_time FROM events t WHERE " + strings.Join(conds, " AND ") +
		" ORDER BY " + pagination.OrderSQL(orders, "t.name") + " LIMIT 51", args
}

// rawListQueryAfter is the second page's statement: the keyset condition after the first
// page's last row.
func rawListQueryAfter(b *testing.B, raw *sqldb.DB, f string) (string, []any) {
	b.Helper()
	q, args := rawListQuery(b, f)
	q = strings.Replace(q, "SELECT t.data, t.when_time", "SELECT t.when_time, t.name", 1)
	rows, err := raw.QueryContext(context.Background(), q, args...)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	var when int64
	var name string
	for i := 0; i < 50 && rows.Next(); i++ {
		if err := rows.Scan(&when, &name); err != nil {
			b.Fatal(err)
		}
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	orders, _ := pagination.ParseOrderBy("when.time desc", store.Events.Orders, store.Events.DefaultOrder)
	after, afterArgs, err := pagination.After(orders, "t.name", []any{when, name})
	if err != nil {
		b.Fatal(err)
	}
	return rawListQueryWith(b, f, after, afterArgs)
}

func runRawList(b *testing.B, raw *sqldb.DB, query string, args []any) int {
	rows, err := raw.QueryContext(context.Background(), query, args...)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	n := 0
	var data []byte
	var when int64
	for rows.Next() {
		if err := rows.Scan(&data, &when); err != nil {
			b.Fatal(err)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	return n
}

// checkSameRows makes sure the baseline answers the same question: the same 50 events in
// the same order as ListEvents.
func checkSameRows(b *testing.B, ctx context.Context, c eventsv1.EventsServiceClient, raw *sqldb.DB, req *eventsv1.ListEventsRequest, query string, args []any) {
	b.Helper()
	resp, err := c.ListEvents(ctx, req)
	if err != nil {
		b.Fatal(err)
	}
	rows, err := raw.QueryContext(context.Background(), query, args...)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var data []byte
		var when int64
		if err := rows.Scan(&data, &when); err != nil {
			b.Fatal(err)
		}
		e := &eventsv1.Event{}
		if err := proto.Unmarshal(data, e); err != nil {
			b.Fatal(err)
		}
		names = append(names, e.GetName())
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	if len(names) != 51 || len(resp.GetEvents()) != 50 {
		b.Fatalf("raw query: %d rows, ListEvents: %d events; want 51 and 50", len(names), len(resp.GetEvents()))
	}
	for i, e := range resp.GetEvents() {
		if e.GetName() != names[i] {
			b.Fatalf("row %d: ListEvents has %s, raw query %s", i, e.GetName(), names[i])
		}
	}
}

func logPlan(b *testing.B, raw *sqldb.DB, query string, args []any) {
	b.Helper()
	rows, err := raw.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			b.Fatal(err)
		}
		plan = append(plan, detail)
	}
	b.Logf("query: %s\nplan: %s", query, strings.Join(plan, " | "))
}

// ---------------------------------------------------------------------------------------
// 3. Commit to JetStream consumer at a steady 1,000 writes/s, vs raw JetStream.

const (
	jsWorkers = 32
	rawStream = "BENCH_RAW"
)

// latencyRun is one paced segment's measurements.
type latencyRun struct {
	sent     int
	received int
	wall     time.Duration
	lat      []time.Duration // primary: the change's time (or publish) to arrival
	lat2     []time.Duration // service only: Create RPC return to arrival
	lat3     []time.Duration // service only: the commit itself (commitLog) to arrival
}

// commitLog records when each transaction of the service committed, through sqldb's
// OnCommit hook, which runs in the writer goroutine before the relay is woken: it only
// reads the clock, so it delays neither the relay nor the next write. A change belongs to
// the first commit at or after its time: Append stamps the time inside the transaction,
// in the writer goroutine, which runs one commit group after another, so every change of
// a group is stamped after the previous group's commit and before its own.
type commitLog struct {
	mu      sync.Mutex
	commits []int64 // unix nanoseconds, ascending
}

func (c *commitLog) observe() func() {
	return func() {
		at := time.Now().UnixNano()
		c.mu.Lock()
		c.commits = append(c.commits, at)
		c.mu.Unlock()
	}
}

// when returns when the change stamped at changeTime committed.
func (c *commitLog) when(changeTime int64) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := sort.Search(len(c.commits), func(k int) bool { return c.commits[k] >= changeTime })
	if i == len(c.commits) {
		return 0, false
	}
	return c.commits[i], true
}

// consume starts an ordered consumer that sees only messages published from now on.
func consume(b *testing.B, js jetstream.JetStream, stream string, handle func(jetstream.Msg, time.Time)) func() {
	b.Helper()
	ctx := context.Background()
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy})
	if err != nil {
		b.Fatal(err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) { handle(m, time.Now()) })
	if err != nil {
		b.Fatal(err)
	}
	return cc.Stop
}

// startBenchNATS starts the embedded server at its default sync, or, with sync
// "always", fsyncing every write before its ack (deploy/k8s's nats.conf).
func startBenchNATS(b *testing.B, sync string) *natstest.Server {
	b.Helper()
	switch sync {
	case "":
		return natstest.Start(b)
	case "always":
		conf := filepath.Join(b.TempDir(), "nats.conf")
		if err := os.WriteFile(conf, []byte("jetstream { sync_interval: always }\n"), 0o600); err != nil {
			b.Fatal(err)
		}
		return natstest.StartWithConfig(b, conf)
	default:
		b.Fatalf("GUARANTOR_BENCH_JS_SYNC=%q: want always or nothing", sync)
		return nil
	}
}

// waitAll waits until got() reaches want or a timeout passes.
func waitAll(got func() int, want int) {
	deadline := time.Now().Add(10 * time.Second)
	for got() < want && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
}

// rawSegment publishes n messages the size of an event change, one per interval, each with a
// Nats-Msg-Id and waiting for its ack as the relay does, and measures publish start to
// consumer arrival.
func rawSegment(b *testing.B, js jetstream.JetStream, seg string, n int, interval time.Duration, payload []byte) latencyRun {
	b.Helper()
	sent := make([]atomic.Int64, n)
	arrived := make([]atomic.Int64, n)
	var count atomic.Int64
	stop := consume(b, js, rawStream, func(m jetstream.Msg, at time.Time) {
		i, err := strconv.Atoi(m.Headers().Get("Bench-Index"))
		if err != nil || i < 0 || i >= n {
			return
		}
		arrived[i].Store(at.UnixNano())
		count.Add(1)
	})
	defer stop()
	var failed atomic.Int64
	wall := benchkit.Paced(n, interval, jsWorkers, func(i int) {
		msg := nats.NewMsg("bench.raw." + seg)
		msg.Data = payload
		msg.Header.Set("Bench-Index", strconv.Itoa(i))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		sent[i].Store(time.Now().UnixNano())
		if _, err := js.PublishMsg(ctx, msg, jetstream.WithMsgID(seg+"-"+strconv.Itoa(i)), jetstream.WithExpectStream(rawStream)); err != nil {
			failed.Add(1)
		}
	})
	if f := failed.Load(); f > 0 {
		b.Fatalf("raw publish: %d failures", f)
	}
	waitAll(func() int { return int(count.Load()) }, n)
	run := latencyRun{sent: n, received: int(count.Load()), wall: wall}
	for i := range n {
		if a := arrived[i].Load(); a != 0 {
			run.lat = append(run.lat, time.Duration(a-sent[i].Load()))
		}
	}
	return run
}

// serviceSegment creates n events, one per interval, through the service and measures, for each,
// the change's time (stamped in the committing transaction, before COMMIT), the commit
// itself (commits) and the Create RPC's return to the change's arrival at a consumer of the
// service's stream.
func serviceSegment(b *testing.B, ctx context.Context, c eventsv1.EventsServiceClient, js jetstream.JetStream, commits *commitLog, seg string, n int, interval time.Duration) latencyRun {
	b.Helper()
	returned := make([]atomic.Int64, n)
	arrived := make([]atomic.Int64, n)
	stamped := make([]atomic.Int64, n) // each change's time
	var count atomic.Int64
	prefix := "events/js-" + seg + "-"
	stop := consume(b, js, events.Stream, func(m jetstream.Msg, at time.Time) {
		ch := &eventsv1.Change{}
		if err := proto.Unmarshal(m.Data(), ch); err != nil {
			return
		}
		i, err := strconv.Atoi(strings.TrimPrefix(ch.GetResourceName(), prefix))
		if !strings.HasPrefix(ch.GetResourceName(), prefix) || err != nil || i < 0 || i >= n {
			return
		}
		arrived[i].Store(at.UnixNano())
		stamped[i].Store(ch.GetTime().AsTime().UnixNano())
		count.Add(1)
	})
	defer stop()
	r := mrand.New(mrand.NewPCG(7, uint64(len(seg))))
	reqs := make([]*eventsv1.CreateEventRequest, n)
	for i := range reqs {
		id := fmt.Sprintf("js-%s-%d", seg, i)
		reqs[i] = &eventsv1.CreateEventRequest{EventId: id, RequestId: id, Event: benchEvent(r, i)}
	}
	var failed atomic.Int64
	wall := benchkit.Paced(n, interval, jsWorkers, func(i int) {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if _, err := c.CreateEvent(cctx, reqs[i]); err != nil {
			failed.Add(1)
			return
		}
		returned[i].Store(time.Now().UnixNano())
	})
	if f := failed.Load(); f > 0 {
		b.Fatalf("CreateEvent: %d failures", f)
	}
	waitAll(func() int { return int(count.Load()) }, n)
	run := latencyRun{sent: n, received: int(count.Load()), wall: wall}
	for i := range n {
		if a := arrived[i].Load(); a != 0 {
			run.lat = append(run.lat, time.Duration(a-stamped[i].Load()))
			run.lat2 = append(run.lat2, time.Duration(a-returned[i].Load()))
			if at, ok := commits.when(stamped[i].Load()); ok {
				run.lat3 = append(run.lat3, time.Duration(a-at))
			}
		}
	}
	return run
}

// BenchmarkCommitToJetStream paces writes at the goal's 1,000/s and, to tell the relay's
// latency from the store's saturation, at 200/s, which the service sustains here.
func BenchmarkCommitToJetStream(b *testing.B) {
	perSide := benchkit.EnvDuration(b, "GUARANTOR_BENCH_JS_DURATION", 10*time.Second)
	ns := startBenchNATS(b, os.Getenv("GUARANTOR_BENCH_JS_SYNC"))
	key := benchKey(b)
	svc := startBenchService(b, ns, "sqlite://"+filepath.Join(b.TempDir(), "events.db"), key, true)
	ctx := benchkit.Ctx(b, key, eventstest.Editor)
	seedBenchActors(b, ctx, svc.client)
	commits := &commitLog{}
	db := svc.srv.DB
	db.OnCommit(commits.observe())
	b.Cleanup(func() { db.OnCommit(nil) })

	nc, err := nats.Connect(ns.URL(), nats.Name("bench"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	// The baseline stream is configured as the service's (file storage, same duplicates
	// window), on the same server.
	if _, err := outbox.EnsureStream(context.Background(), js, outbox.StreamConfig(rawStream, []string{"bench.raw.>"}, 1)); err != nil {
		b.Fatal(err)
	}
	// A payload the size of a real change message.
	sample := &eventsv1.Change{Id: "events-1", ResourceName: "events/js-x-1", Time: timestamppb.Now(),
		Resource: &eventsv1.Change_Event{Event: benchEvent(mrand.New(mrand.NewPCG(1, 2)), 1)}}
	payload, err := proto.Marshal(sample)
	if err != nil {
		b.Fatal(err)
	}

	for _, rate := range []int{1000, 200} {
		b.Run(fmt.Sprintf("rate=%d", rate), func(b *testing.B) {
			interval := time.Second / time.Duration(rate)
			// Warm both paths up (connections, consumers, SQLite and JetStream files).
			warm := rate / 2
			warmSeg := fmt.Sprintf("w%d-%d", rate, b.N)
			rawSegment(b, js, warmSeg, warm, interval, payload)
			serviceSegment(b, ctx, svc.client, js, commits, warmSeg, warm, interval)

			// Then alternate halves: raw, service, raw, service.
			half := int(perSide.Seconds()*float64(rate)) / 2
			var raw, svcRun latencyRun
			for round := range 2 {
				seg := fmt.Sprintf("r%d-%d-%d", rate, round, b.N)
				r := rawSegment(b, js, seg, half, interval, payload)
				s := serviceSegment(b, ctx, svc.client, js, commits, seg, half, interval)
				for _, p := range []struct{ into, from *latencyRun }{{&raw, &r}, {&svcRun, &s}} {
					p.into.sent += p.from.sent
					p.into.received += p.from.received
					p.into.wall += p.from.wall
					p.into.lat = append(p.into.lat, p.from.lat...)
					p.into.lat2 = append(p.into.lat2, p.from.lat2...)
					p.into.lat3 = append(p.into.lat3, p.from.lat3...)
				}
			}
			if len(svcRun.lat3) != len(svcRun.lat) {
				b.Errorf("%d of %d changes have no commit on record", len(svcRun.lat)-len(svcRun.lat3), len(svcRun.lat))
			}
			for _, l := range [][]time.Duration{raw.lat, svcRun.lat, svcRun.lat2, svcRun.lat3} {
				slices.Sort(l)
			}
			if raw.received != raw.sent || svcRun.received != svcRun.sent {
				b.Errorf("missing messages: raw %d/%d, service %d/%d", raw.received, raw.sent, svcRun.received, svcRun.sent)
			}
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(float64(svcRun.sent)/svcRun.wall.Seconds(), "writes/s")
			// The change's time (stamped inside the transaction, before COMMIT) and the Create
			// RPC's return bound the commit from both sides; from-commit measures from it.
			b.ReportMetric(benchkit.Ms(benchkit.Percentile(svcRun.lat, 0.50)), "p50-ms")
			b.ReportMetric(benchkit.Ms(benchkit.Percentile(svcRun.lat, 0.99)), "p99-ms")
			b.ReportMetric(benchkit.Ms(benchkit.Percentile(svcRun.lat, 1)), "max-ms")
			b.ReportMetric(benchkit.Ms(benchkit.Percentile(svcRun.lat2, 0.50)), "from-return-p50-ms")
			b.ReportMetric(benchkit.Ms(benchkit.Percentile(svcRun.lat2, 0.99)), "from-return-p99-ms")
			// The commit itself, as sqldb's OnCommit hook saw it: the goal's figure.
			b.ReportMetric(benchkit.Ms(benchkit.Percentile(svcRun.lat3, 0.50)), "from-commit-p50-ms")
			b.ReportMetric(benchkit.Ms(benchkit.Percentile(svcRun.lat3, 0.99)), "from-commit-p99-ms")
			b.ReportMetric(float64(raw.sent)/raw.wall.Seconds(), "raw-publishes/s")
			b.ReportMetric(benchkit.Ms(benchkit.Percentile(raw.lat, 0.50)), "raw-p50-ms")
			b.ReportMetric(benchkit.Ms(benchkit.Percentile(raw.lat, 0.99)), "raw-p99-ms")
			b.ReportMetric(benchkit.Ms(benchkit.Percentile(svcRun.lat, 0.99))/benchkit.Ms(benchkit.Percentile(raw.lat, 0.99)), "p99-ratio")
		})
	}
}
