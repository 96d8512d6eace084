package guarantees_test

// Benchmarks of the guarantees service, recorded in docs/benchmarks.md. Every figure
// comes with a baseline measured in the same run, so that the ratio means something on a
// noisy shared machine:
//
//   - BenchmarkTransition: TransitionGuarantee throughput (PLEDGED <-> SUSPENDED moves on
//     many guarantees) of the real service on SQLite, relay running, against a no-op
//     GuaranteesService on the same grpcserver setup (same interceptors, same principal
//     verification), at 1 and 16 concurrent clients.
//   - BenchmarkReads/GetCoverage: GetCoverage latency over 10,000 varied guarantees
//     against the raw SQL read of the same rows (SELECT data FROM guarantees WHERE
//     deleted = 0) through database/sql on the same file.
//   - BenchmarkReads/GetGuaranteeAsOf: GetGuarantee with read_time on a guarantee with
//     1,000 revisions against a plain GetGuarantee of the same guarantee.
//
// Nothing here asserts a timing; none runs without -bench. Knobs:
//
//	GUARANTOR_BENCH_COVERAGE_GUARANTEES  guarantees loaded for GetCoverage (default 10000)
//	GUARANTOR_BENCH_REVISIONS            revisions of the as-of guarantee (default 1000)

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	gv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
	"github.com/guarantor/guarantor/platform/service"
	"github.com/guarantor/guarantor/platform/sqldb"
	"github.com/guarantor/guarantor/platform/testkit/benchkit"
	"github.com/guarantor/guarantor/platform/testkit/servicetest"
	"github.com/guarantor/guarantor/services/guarantees"
	"github.com/guarantor/guarantor/services/guarantees/guaranteestest"
)

// ---------------------------------------------------------------------------------------
// Harness: the real service and the no-op baseline, started the same way.

// startBenchService starts the real service as guaranteestest does, on SQLite, but with
// the production logger above (zaptest would log every call into the benchmark's output).
func startBenchService(b *testing.B) *guaranteestest.Harness {
	b.Helper()
	return servicetest.Start(b, servicetest.SQLite, servicetest.Service[*guarantees.Server, gv1.GuaranteesServiceClient]{
		Name:      "guarantees",
		Stream:    guarantees.Stream,
		NewClient: gv1.NewGuaranteesServiceClient,
		New: func(_ testing.TB, cfg service.Config) (*guarantees.Server, *service.Process, error) {
			srv, err := guarantees.New(context.Background(), guarantees.Config{Config: cfg, EventsStream: guarantees.EventsStream}, benchkit.Logger())
			if err != nil {
				return nil, nil, err
			}
			return srv, srv.Process, nil
		},
	})
}

// noopGuarantees answers at once: the cost of the gRPC stack, the interceptors and the
// principal verification, without the service.
type noopGuarantees struct {
	gv1.UnimplementedGuaranteesServiceServer
}

func (noopGuarantees) TransitionGuarantee(_ context.Context, req *gv1.TransitionGuaranteeRequest) (*gv1.TransitionGuaranteeResponse, error) {
	return &gv1.TransitionGuaranteeResponse{Guarantee: &gv1.Guarantee{Name: req.GetName(), Status: req.GetTargetStatus()}}, nil
}

// startNoop serves noopGuarantees on the platform server as every data service is built.
func startNoop(b *testing.B, key []byte) gv1.GuaranteesServiceClient {
	b.Helper()
	return gv1.NewGuaranteesServiceClient(benchkit.ServeNoop(b, key, &gv1.GuaranteesService_ServiceDesc, noopGuarantees{}))
}

// ---------------------------------------------------------------------------------------
// Synthetic data.

const (
	benchActors    = 40
	benchEvidence  = "events/bench-summit"
	benchFramework = "frameworks/bench"
)

func benchActor(i int) string { return fmt.Sprintf("actors/a%02d", i) }

// seedBench publishes the actors and the event the guarantees cite (as the events
// service's relay would) and creates the framework.
func seedBench(b *testing.B, h *guaranteestest.Harness, ctx context.Context) gv1.GuaranteesServiceClient {
	b.Helper()
	names := []string{"actors/ukr", benchEvidence}
	for i := range benchActors {
		names = append(names, benchActor(i))
	}
	guaranteestest.PublishEvents(h, time.Date(2026, 1, 6, 0, 0, 0, 0, time.UTC), names...)
	c := h.Client()
	_, err := c.CreateFramework(ctx, &gv1.CreateFrameworkRequest{FrameworkId: "bench", Framework: &gv1.Framework{
		Title:        "Benchmark declaration",
		Kind:         gv1.FrameworkKind_FRAMEWORK_KIND_DECLARATION,
		Stage:        gv1.FrameworkStage_FRAMEWORK_STAGE_FRAMEWORK,
		Status:       gv1.FrameworkStatus_FRAMEWORK_STATUS_ADOPTED,
		Parties:      []string{"actors/ukr"},
		ThirdParties: []string{benchActor(0), benchActor(1)},
		SourceEvents: []string{benchEvidence},
	}})
	if err != nil {
		b.Fatalf("create framework: %v", err)
	}
	return c
}

// benchGuarantee is a varied guarantee: 5 domains, 14 capabilities, 3 roles (LEAD 20 %),
// 40 guarantors (5 % undisclosed), a condition on 10 %.
func benchGuarantee(r *mrand.Rand, i int) *gv1.Guarantee {
	by := &gv1.Party{Party: &gv1.Party_Actor{Actor: benchActor(r.IntN(benchActors))}}
	if r.IntN(100) < 5 {
		by = &gv1.Party{Party: &gv1.Party_Undisclosed{Undisclosed: &gv1.Undisclosed{Description: "a partner " + strconv.Itoa(r.IntN(5))}}}
	}
	role := gv1.Role_ROLE_CONTRIBUTOR
	switch n := r.IntN(100); {
	case n < 20:
		role = gv1.Role_ROLE_LEAD
	case n < 50:
		role = gv1.Role_ROLE_SUPPORTER
	}
	g := &gv1.Guarantee{
		Framework:    benchFramework,
		Guarantor:    by,
		Beneficiary:  "actors/ukr",
		Title:        fmt.Sprintf("Benchmark guarantee %d", i),
		Description:  "Synthetic guarantee for the coverage benchmark: troops, hubs, air defence and monitoring.",
		Domain:       gv1.Domain(1 + r.IntN(5)),
		Capability:   gv1.Capability(1 + r.IntN(14)),
		Role:         role,
		BindingLevel: gv1.BindingLevel(1 + r.IntN(3)),
		SourceEvents: []string{benchEvidence},
		Tags:         []string{"bench"},
	}
	if r.IntN(10) == 0 {
		g.Conditions = []*gv1.Condition{{Id: "ceasefire", Kind: gv1.ConditionKind_CONDITION_KIND_CEASEFIRE_IN_FORCE, Description: "after a cease-fire"}}
	}
	return g
}

// createGuarantees loads n guarantees named prefix-<i> with BatchCreateGuarantees, 1,000
// per call.
func createGuarantees(b *testing.B, ctx context.Context, c gv1.GuaranteesServiceClient, prefix string, n int) []string {
	b.Helper()
	r := mrand.New(mrand.NewPCG(uint64(n), 11))
	var names []string
	for from := 0; from < n; from += 1000 {
		req := &gv1.BatchCreateGuaranteesRequest{}
		for i := from; i < min(n, from+1000); i++ {
			id := fmt.Sprintf("%s-%d", prefix, i)
			req.Requests = append(req.Requests, &gv1.CreateGuaranteeRequest{GuaranteeId: id, Guarantee: benchGuarantee(r, i)})
			names = append(names, "guarantees/"+id)
		}
		if _, err := c.BatchCreateGuarantees(ctx, req); err != nil {
			b.Fatalf("batch create: %v", err)
		}
	}
	return names
}

func move(ctx context.Context, c gv1.GuaranteesServiceClient, name string, to gv1.GuaranteeStatus) (*gv1.Guarantee, error) {
	resp, err := c.TransitionGuarantee(ctx, &gv1.TransitionGuaranteeRequest{
		Name: name, TargetStatus: to, Reason: "benchmark move", EvidenceEvent: benchEvidence,
	})
	return resp.GetGuarantee(), err
}

// ---------------------------------------------------------------------------------------
// Measurement helpers (as in services/events/bench_test.go).

// ---------------------------------------------------------------------------------------
// 1. Transition throughput: service vs no-op handler.

// transitionPool is the guarantees each client moves: client k owns the guarantees whose
// index is k modulo the client count, so no two clients move the same guarantee, and
// each move is legal (PLEDGED -> SUSPENDED, SUSPENDED -> PLEDGED, its suspended_from).
const transitionPool = 256

func BenchmarkTransition(b *testing.B) {
	h := startBenchService(b)
	ctx := benchkit.Ctx(b, h.Key, guaranteestest.Editor)
	c := seedBench(b, h, ctx)
	noop := startNoop(b, h.Key)
	names := createGuarantees(b, ctx, c, "t", transitionPool)
	suspended := make([]bool, transitionPool)
	for _, n := range names {
		if _, err := move(ctx, c, n, gv1.GuaranteeStatus_GUARANTEE_STATUS_PLEDGED); err != nil {
			b.Fatal(err)
		}
	}

	for _, clients := range []int{1, 16} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			// cursor[k] is the next guarantee (among its own) client k moves.
			cursor := make([]int, clients)
			next := func(k int) (string, gv1.GuaranteeStatus) {
				idx := k + clients*(cursor[k]%(transitionPool/clients))
				cursor[k]++
				to := gv1.GuaranteeStatus_GUARANTEE_STATUS_SUSPENDED
				if suspended[idx] {
					to = gv1.GuaranteeStatus_GUARANTEE_STATUS_PLEDGED
				}
				suspended[idx] = !suspended[idx]
				return names[idx], to
			}
			type target struct {
				name   string
				client gv1.GuaranteesServiceClient
				wall   time.Duration
				lat    []time.Duration
			}
			targets := []*target{{name: "noop", client: noop}, {name: "service", client: c}}
			chunks := min(b.N, 10)
			b.ResetTimer()
			for ch := range chunks {
				n := b.N / chunks
				if ch < b.N%chunks {
					n++
				}
				for _, t := range []*target{targets[ch%2], targets[1-ch%2]} {
					wall, lat, err := benchkit.RunClients(clients, n, func(k, _ int) error {
						if t.name == "noop" {
							_, err := move(ctx, t.client, names[k], gv1.GuaranteeStatus_GUARANTEE_STATUS_SUSPENDED)
							return err
						}
						name, to := next(k)
						_, err := move(ctx, t.client, name, to)
						return err
					})
					if err != nil {
						b.Fatalf("%s: TransitionGuarantee: %v", t.name, err)
					}
					t.wall += wall
					t.lat = append(t.lat, lat...)
				}
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
// 2 and 3. Reads over one loaded database: GetCoverage over 10,000 guarantees, and
// GetGuarantee as of a time on a guarantee with 1,000 revisions.

func BenchmarkReads(b *testing.B) {
	nGuarantees := benchkit.EnvInt(b, "GUARANTOR_BENCH_COVERAGE_GUARANTEES", 10000)
	nRevisions := benchkit.EnvInt(b, "GUARANTOR_BENCH_REVISIONS", 1000)
	h := startBenchService(b)
	ctx := benchkit.Ctx(b, h.Key, guaranteestest.Editor)
	c := seedBench(b, h, ctx)

	start := time.Now()
	names := createGuarantees(b, ctx, c, "g", nGuarantees)
	loadCreate := time.Since(start)
	// Vary the statuses: 10 % PLEDGED, 5 % AWAITING_RATIFICATION, 5 % WITHDRAWN, 2 %
	// SUSPENDED (from PLEDGED), the rest PROPOSED.
	r := mrand.New(mrand.NewPCG(3, 4))
	var plan [][]gv1.GuaranteeStatus
	var planNames []string
	for _, n := range names {
		var moves []gv1.GuaranteeStatus
		switch x := r.IntN(100); {
		case x < 10:
			moves = []gv1.GuaranteeStatus{gv1.GuaranteeStatus_GUARANTEE_STATUS_PLEDGED}
		case x < 15:
			moves = []gv1.GuaranteeStatus{gv1.GuaranteeStatus_GUARANTEE_STATUS_PLEDGED, gv1.GuaranteeStatus_GUARANTEE_STATUS_AWAITING_RATIFICATION}
		case x < 20:
			moves = []gv1.GuaranteeStatus{gv1.GuaranteeStatus_GUARANTEE_STATUS_WITHDRAWN}
		case x < 22:
			moves = []gv1.GuaranteeStatus{gv1.GuaranteeStatus_GUARANTEE_STATUS_PLEDGED, gv1.GuaranteeStatus_GUARANTEE_STATUS_SUSPENDED}
		default:
			continue
		}
		plan = append(plan, moves)
		planNames = append(planNames, n)
	}
	start = time.Now()
	_, _, err := benchkit.RunClients(8, len(plan), func(_, i int) error {
		for _, to := range plan[i] {
			if _, err := move(ctx, c, planNames[i], to); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	loadMoves := time.Since(start)

	// The guarantee with nRevisions revisions (versions in the change log): created, then
	// PLEDGED, then SUSPENDED and back, nRevisions-1 moves in all.
	endOfLoad := time.Now()
	created, err := c.CreateGuarantee(ctx, &gv1.CreateGuaranteeRequest{GuaranteeId: "revised", Guarantee: benchGuarantee(r, -1)})
	if err != nil {
		b.Fatal(err)
	}
	revised := created.GetGuarantee().GetName()
	// Revisions are change-log sequence numbers; revs[i] is the one times[i] follows.
	times := []time.Time{time.Now()}
	revs := []int64{created.GetGuarantee().GetRevision()}
	to := gv1.GuaranteeStatus_GUARANTEE_STATUS_PLEDGED
	start = time.Now()
	for i := 1; i < nRevisions; i++ {
		g, err := move(ctx, c, revised, to)
		if err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Now())
		revs = append(revs, g.GetRevision())
		if to == gv1.GuaranteeStatus_GUARANTEE_STATUS_SUSPENDED {
			to = gv1.GuaranteeStatus_GUARANTEE_STATUS_PLEDGED
		} else {
			to = gv1.GuaranteeStatus_GUARANTEE_STATUS_SUSPENDED
		}
	}
	loadRevisions := time.Since(start)
	b.Logf("loaded %d guarantees in %v, %d status moves on %d of them in %v, %d revisions in %v",
		nGuarantees, loadCreate, countMoves(plan), len(plan), loadMoves, nRevisions, loadRevisions)

	b.Run("GetCoverage", func(b *testing.B) {
		raw, err := sqldb.Open(context.Background(), h.DSN, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer raw.Close()
		const query = "SELECT t.data FROM guarantees t WHERE t.deleted = 0"
		var cells int
		cov := func() error {
			resp, err := c.GetCoverage(ctx, &gv1.GetCoverageRequest{})
			cells = len(resp.GetCells())
			return err
		}
		rawq := func() error {
			rows, err := raw.QueryContext(context.Background(), query)
			if err != nil {
				return err
			}
			defer func() { _ = rows.Close() }()
			n := 0
			var data []byte
			for rows.Next() {
				if err := rows.Scan(&data); err != nil {
					return err
				}
				n++
			}
			if err := rows.Err(); err != nil {
				return err
			}
			if n != nGuarantees+1 {
				return fmt.Errorf("raw query read %d rows, want %d", n, nGuarantees+1)
			}
			return nil
		}
		benchkit.Compare(b, "", "sql-", cov, rawq)
		b.ReportMetric(float64(cells), "cells")
	})

	// As of a past time the matrix is rebuilt from the change log (each guarantee's last
	// change by then), where the plain matrix reads the current rows: the baseline is the
	// plain GetCoverage, alternating with it. The time is the end of the load, so the two
	// describe the same guarantees but for the one revised afterwards, and the answer is
	// checked against the plain matrix once first.
	b.Run("GetCoverageAsOf", func(b *testing.B) {
		at := timestamppb.New(endOfLoad) // before "revised" existed
		past, err := c.GetCoverage(ctx, &gv1.GetCoverageRequest{ReadTime: at})
		if err != nil {
			b.Fatal(err)
		}
		now, err := c.GetCoverage(ctx, &gv1.GetCoverageRequest{})
		if err != nil {
			b.Fatal(err)
		}
		count := func(r *gv1.GetCoverageResponse) (n int) {
			for _, cell := range r.GetCells() {
				n += len(cell.GetGuarantees())
			}
			return n
		}
		if got, want := count(past), count(now)-1; got != want {
			b.Fatalf("the matrix as of the end of the load holds %d guarantees, want %d (all but the one created after)", got, want)
		}
		benchkit.Compare(b, "asof-", "plain-",
			func() error {
				_, err := c.GetCoverage(ctx, &gv1.GetCoverageRequest{ReadTime: at})
				return err
			},
			func() error {
				_, err := c.GetCoverage(ctx, &gv1.GetCoverageRequest{})
				return err
			})
	})

	b.Run("GetGuaranteeAsOf", func(b *testing.B) {
		rr := mrand.New(mrand.NewPCG(5, 6))
		asOf := func() error {
			k := rr.IntN(len(times))
			resp, err := c.GetGuarantee(ctx, &gv1.GetGuaranteeRequest{Name: revised, ReadTime: timestamppb.New(times[k])})
			if err == nil && resp.GetGuarantee().GetRevision() != revs[k] {
				err = fmt.Errorf("as of revision %d's time: got revision %d", revs[k], resp.GetGuarantee().GetRevision())
			}
			return err
		}
		plain := func() error {
			_, err := c.GetGuarantee(ctx, &gv1.GetGuaranteeRequest{Name: revised})
			return err
		}
		benchkit.Compare(b, "asof-", "plain-", asOf, plain)
	})
}

func countMoves(plan [][]gv1.GuaranteeStatus) int {
	n := 0
	for _, p := range plan {
		n += len(p)
	}
	return n
}
