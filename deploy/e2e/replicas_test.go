// Package e2e runs the built service binaries as separate processes, the way a
// Deployment with several replicas runs them: one PostgreSQL database, one NATS.
package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/guarantor/guarantor/deploy/internal/testbuild"
	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	"github.com/guarantor/guarantor/platform/outbox"
	"github.com/guarantor/guarantor/platform/principal"
	"github.com/guarantor/guarantor/platform/testkit/natstest"
	"github.com/guarantor/guarantor/platform/testkit/pgtest"
)

const stream = "GUARANTOR_EVENTS"

var healthService = eventsv1.EventsService_ServiceDesc.ServiceName

// replica is one events process.
type replica struct {
	name    string
	cmd     *exec.Cmd
	addr    string // gRPC
	metrics string // HTTP /metrics
	conn    *grpc.ClientConn
	exited  chan struct{}
	exitErr error

	mu   sync.Mutex
	logs []string
}

// TestTwoReplicasShareOneDatabaseAndStream runs two events processes (the built binary,
// configured through flags and GUARANTOR_* variables as the manifests do) against one
// PostgreSQL database and one NATS server. Writes go through both at once; both serve
// the same data; the stream holds every change exactly once, in change-log order. Then
// the replica whose relay publishes may be the one stopped: the other takes over the
// relay (the advisory lock), and the stream stays whole and ordered.
func TestTwoReplicasShareOneDatabaseAndStream(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	ns := natstest.Start(t)
	bin := testbuild.Binary(t, "events")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	key := writeKey(t, filepath.Join(dir, "principal.key"))
	env := []string{
		"GUARANTOR_STORE=" + dsn,
		"GUARANTOR_NATS_URL=" + ns.URL(),
		"GUARANTOR_STREAM_REPLICAS=1",
		"GUARANTOR_LOG_FORMAT=json",
		"GUARANTOR_SHUTDOWN_GRACE=2s",
	}
	a := startReplica(t, ctx, bin, "a", key, env)
	b := startReplica(t, ctx, bin, "b", key, env)
	caller := principal.Principal{ID: "key:e2e", Role: principal.RoleAdmin}

	// Phase 1: 40 creates and 10 deletes, spread over both replicas, four at a time.
	var want []change
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i := range 40 {
		r := []*replica{a, b}[i%2]
		g.Go(func() error {
			id := fmt.Sprintf("org-%03d", i)
			cctx, err := sign(gctx, key, caller)
			if err != nil {
				return err
			}
			_, err = eventsv1.NewEventsServiceClient(r.conn).CreateActor(cctx, &eventsv1.CreateActorRequest{
				ActorId:   id,
				RequestId: "create-" + id,
				Actor:     &eventsv1.Actor{Kind: eventsv1.ActorKind_ACTOR_KIND_ORGANIZATION, DisplayName: "Organisation " + id},
			})
			if err != nil {
				return fmt.Errorf("create %s through %s: %w", id, r.name, err)
			}
			mu.Lock()
			want = append(want, change{"actors/" + id, "created"})
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		r := []*replica{b, a}[i%2]
		name := fmt.Sprintf("actors/org-%03d", i)
		if _, err := eventsv1.NewEventsServiceClient(r.conn).DeleteActor(as(t, ctx, key, caller), &eventsv1.DeleteActorRequest{Name: name}); err != nil {
			t.Fatalf("delete %s through %s: %v", name, r.name, err)
		}
		want = append(want, change{name, "deleted"})
	}

	t.Run("both replicas serve the same data", func(t *testing.T) {
		fromA := listActors(t, ctx, a, key, caller)
		fromB := listActors(t, ctx, b, key, caller)
		if len(fromA) != 40 {
			t.Fatalf("replica a lists %d actors (tombstones included), want 40", len(fromA))
		}
		if strings.Join(fromA, "\n") != strings.Join(fromB, "\n") {
			t.Fatalf("the replicas disagree:\na: %v\nb: %v", fromA, fromB)
		}
	})
	t.Run("the stream holds every change once, in order", func(t *testing.T) {
		checkStream(t, ctx, ns.URL(), want)
	})

	// Phase 2: stop the replica whose relay publishes (the one holding the advisory lock:
	// only it has published anything) gracefully, with SIGTERM as the kubelet sends it.
	// The other takes the relay over, and the writes through it reach the stream after
	// the others.
	leader, survivor := a, b
	if published(t, ctx, b) > 0 && published(t, ctx, a) == 0 {
		leader, survivor = b, a
	}
	if published(t, ctx, leader) == 0 {
		t.Fatalf("neither replica reports guarantor_outbox_published_total > 0")
	}
	leader.stop(t)
	if leader.exitErr != nil {
		t.Fatalf("replica %s did not stop cleanly: %v\n%s", leader.name, leader.exitErr, leader.tail())
	}
	for i := 40; i < 50; i++ {
		id := fmt.Sprintf("org-%03d", i)
		if _, err := eventsv1.NewEventsServiceClient(survivor.conn).CreateActor(as(t, ctx, key, caller), &eventsv1.CreateActorRequest{
			ActorId: id,
			Actor:   &eventsv1.Actor{Kind: eventsv1.ActorKind_ACTOR_KIND_ORGANIZATION, DisplayName: "Organisation " + id},
		}); err != nil {
			t.Fatalf("create %s through %s: %v", id, survivor.name, err)
		}
		want = append(want, change{"actors/" + id, "created"})
	}
	t.Run("after a replica stopped, the stream is still whole and ordered", func(t *testing.T) {
		checkStream(t, ctx, ns.URL(), want)
	})
	t.Run("the survivor took the relay over", func(t *testing.T) {
		if n := published(t, ctx, survivor); n < 10 {
			t.Errorf("replica %s published %.0f changes, want at least the 10 made after the leader stopped", survivor.name, n)
		}
	})
	t.Run("the metrics docs/operations.md names are served", func(t *testing.T) {
		body := scrape(t, ctx, survivor)
		for _, m := range []string{"grpc_server_handled_total", "grpc_server_handling_seconds", "guarantor_outbox_published_total", "guarantor_outbox_lag_entries", "guarantor_outbox_publish_seconds"} {
			if !strings.Contains(body, "\n"+m) {
				t.Errorf("replica %s does not serve %s", survivor.name, m)
			}
		}
	})
}

type change struct{ resource, kind string }

// checkStream waits until the stream holds as many messages as changes were made, then
// reads every message: Guarantor-Seq runs 1, 2, 3, ... without a gap or repeat, each
// message id is the change id, and each change appears exactly once.
func checkStream(t *testing.T, ctx context.Context, url string, want []change) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	var info *jetstream.StreamInfo
	for {
		if info, err = s.Info(ctx); err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs >= uint64(len(want)) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	// A duplicate would arrive right behind the last message: give it the chance.
	time.Sleep(500 * time.Millisecond)
	if info, err = s.Info(ctx); err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != uint64(len(want)) {
		t.Fatalf("the stream holds %d messages, %d changes were made", info.State.Msgs, len(want))
	}
	seen := map[change]int{}
	for i := range info.State.Msgs {
		msg, err := s.GetMsg(ctx, info.State.FirstSeq+i)
		if err != nil {
			t.Fatal(err)
		}
		seq, err := strconv.ParseInt(msg.Header.Get(outbox.HeaderSeq), 10, 64)
		if err != nil {
			t.Fatalf("message %d: %s %q", msg.Sequence, outbox.HeaderSeq, msg.Header.Get(outbox.HeaderSeq))
		}
		if seq != int64(i)+1 {
			t.Fatalf("message %d carries %s %d, want %d: a gap, a repeat or out of order", msg.Sequence, outbox.HeaderSeq, seq, i+1)
		}
		if id := msg.Header.Get(nats.MsgIdHdr); id != "events-"+strconv.FormatInt(seq, 10) {
			t.Errorf("message %d has id %q", msg.Sequence, id)
		}
		c := change{msg.Header.Get(outbox.HeaderResource), msg.Header.Get(outbox.HeaderKind)}
		if want := "guarantor.events.v1.actors." + c.kind; msg.Subject != want {
			t.Errorf("message %d on %s, want %s", msg.Sequence, msg.Subject, want)
		}
		seen[c]++
	}
	for _, c := range want {
		if seen[c] != 1 {
			t.Errorf("%s %s appears %d times in the stream", c.resource, c.kind, seen[c])
		}
	}
}

func writeKey(t *testing.T, path string) []byte {
	t.Helper()
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	key := hex.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return []byte(key)
}

// sign attaches the caller's identity, signed as the gateway signs it.
func sign(ctx context.Context, key []byte, p principal.Principal) (context.Context, error) {
	tok, err := principal.Sign(p, key, time.Now(), time.Minute)
	if err != nil {
		return nil, err
	}
	return metadata.AppendToOutgoingContext(ctx, principal.Header, tok), nil
}

// as is sign for the test goroutine.
func as(t *testing.T, ctx context.Context, key []byte, p principal.Principal) context.Context {
	t.Helper()
	ctx, err := sign(ctx, key, p)
	if err != nil {
		t.Fatal(err)
	}
	return ctx
}

// listActors returns every actor, tombstones included, as "name etag" lines.
func listActors(t *testing.T, ctx context.Context, r *replica, key []byte, p principal.Principal) []string {
	t.Helper()
	var out []string
	token := ""
	for {
		resp, err := eventsv1.NewEventsServiceClient(r.conn).ListActors(as(t, ctx, key, p), &eventsv1.ListActorsRequest{
			PageSize: 7, PageToken: token, ShowDeleted: true, OrderBy: "display_name",
		})
		if err != nil {
			t.Fatalf("list through %s: %v", r.name, err)
		}
		for _, a := range resp.GetActors() {
			out = append(out, a.GetName()+" "+a.GetEtag())
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	sort.Strings(out)
	return out
}

// published is the replica's guarantor_outbox_published_total for the stream (0 when it
// never published: it never held the relay's lock).
func published(t *testing.T, ctx context.Context, r *replica) float64 {
	t.Helper()
	prefix := `guarantor_outbox_published_total{stream="` + stream + `"} `
	for _, line := range strings.Split(scrape(t, ctx, r), "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s: %q", r.name, line)
			}
			return n
		}
	}
	return 0
}

func scrape(t *testing.T, ctx context.Context, r *replica) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.metrics+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return "\n" + string(body)
}

// startReplica runs an events binary with its own listeners on free ports (:0), reads
// the bound addresses from its log, and waits until its health service reports SERVING.
// Cleanup stops it.
func startReplica(t *testing.T, ctx context.Context, bin, name string, key []byte, env []string) *replica {
	t.Helper()
	return startProcess(t, ctx, bin, name, key, env, healthService)
}

// startProcess runs any of the three binaries as startReplica does, with extra flags,
// and waits until health reports health (a service name, "" for the whole server)
// SERVING.
func startProcess(t *testing.T, ctx context.Context, bin, name string, key []byte, env []string, health string, args ...string) *replica {
	t.Helper()
	keyFile := filepath.Join(t.TempDir(), "principal.key")
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	r := &replica{name: name, exited: make(chan struct{})}
	r.cmd = exec.Command(bin, append([]string{"serve", "--listen=127.0.0.1:0", "--metrics-listen=127.0.0.1:0", "--principal-key-file=" + keyFile}, args...)...)
	r.cmd.Env = append(os.Environ(), env...)
	stderr, err := r.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrs := make(chan [2]string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			line := sc.Text()
			r.mu.Lock()
			r.logs = append(r.logs, line)
			r.mu.Unlock()
			var entry struct {
				Msg         string `json:"msg"`
				Addr        string `json:"addr"`
				MetricsAddr string `json:"metrics_addr"`
			}
			if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "gRPC server listening" {
				select {
				case addrs <- [2]string{entry.Addr, entry.MetricsAddr}:
				default:
				}
			}
		}
	}()
	go func() {
		r.exitErr = r.cmd.Wait()
		close(r.exited)
	}()
	t.Cleanup(func() {
		r.stop(t)
		if t.Failed() {
			t.Logf("replica %s log:\n%s", r.name, r.tail())
		}
	})
	select {
	case got := <-addrs:
		r.addr, r.metrics = got[0], got[1]
	case <-r.exited:
		t.Fatalf("replica %s exited: %v\n%s", name, r.exitErr, r.tail())
	case <-time.After(60 * time.Second):
		t.Fatalf("replica %s did not listen within a minute\n%s", name, r.tail())
	}
	conn, err := grpc.NewClient(r.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	r.conn = conn
	t.Cleanup(func() { _ = conn.Close() })
	// What the kubelet's readiness probe asks.
	deadline := time.Now().Add(30 * time.Second)
	for {
		hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		resp, err := healthpb.NewHealthClient(conn).Check(hctx, &healthpb.HealthCheckRequest{Service: health})
		cancel()
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica %s not SERVING: %v %v\n%s", name, resp.GetStatus(), err, r.tail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits; after 20 s it kills the process.
func (r *replica) stop(t *testing.T) {
	t.Helper()
	select {
	case <-r.exited:
		return
	default:
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(20 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.exited
		t.Errorf("replica %s ignored SIGTERM for 20s", r.name)
	}
}

func (r *replica) tail() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	lines := r.logs
	if len(lines) > 60 {
		lines = lines[len(lines)-60:]
	}
	return strings.Join(lines, "\n")
}
