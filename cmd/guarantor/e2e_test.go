package main

// End to end, as a new user would: build the guarantor binary, start `guarantor dev` on
// free ports in a temporary directory, wait for health, and drive the CLI.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
	"github.com/guarantor/guarantor/services/gateway"
)

type devStack struct {
	bin, dataDir string
	ports        map[string]string
	cmd          *exec.Cmd
	out          *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "guarantor")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func (d *devStack) start(t *testing.T) time.Duration {
	t.Helper()
	d.out = &syncBuffer{}
	d.cmd = exec.Command(d.bin, "dev", "--data-dir", d.dataDir,
		"--nats-listen", d.ports["nats"], "--events-listen", d.ports["events"], "--guarantees-listen", d.ports["guarantees"],
		"--gateway-listen", d.ports["gateway"], "--gateway-http-listen", d.ports["http"])
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	began := time.Now()
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.stop(t) })
	// Healthy means: the gateway answers health, and the stack said it is up (after the
	// seed loaded on a first start).
	conn, err := grpc.NewClient(d.ports["gateway"], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	deadline := time.Now().Add(90 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING && strings.Contains(d.out.String(), "dev stack is up") {
			took := time.Since(began)
			// The welcome message tells the user where the admin API key is.
			if tokenFile := filepath.Join(d.dataDir, "admin.token"); !strings.Contains(d.out.String(), tokenFile) {
				t.Errorf("the startup message does not name %s:\n%s", tokenFile, d.out.String())
			}
			return took
		}
		if d.cmd.ProcessState != nil || time.Now().After(deadline) {
			t.Fatalf("dev stack not healthy (err %v); output:\n%s", err, d.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (d *devStack) stop(t *testing.T) {
	t.Helper()
	if d.cmd == nil || d.cmd.Process == nil || d.cmd.ProcessState != nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("dev stack did not exit cleanly on Ctrl-C: %v\n%s", err, d.out.String())
		}
	case <-time.After(30 * time.Second):
		_ = d.cmd.Process.Kill()
		t.Errorf("dev stack did not stop within 30s of Ctrl-C")
	}
}

// cli runs the CLI against the stack and returns stdout, failing the test on a non-zero exit.
func (d *devStack) cli(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := d.run(t, args...)
	if code != 0 {
		t.Fatalf("guarantor %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// cliCode runs the CLI and returns everything it printed and its exit code.
func (d *devStack) cliCode(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, errOut, code := d.run(t, args...)
	return out + errOut, code
}

func (d *devStack) run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return d.runWith(t, nil, "", append([]string{"--token", d.token(t)}, args...)...)
}

// runWith runs the CLI against the stack with extra environment variables and the given
// standard input. It adds only --server: how the CLI authenticates is up to the caller.
// GUARANTOR_TOKEN and GUARANTOR_SERVER from the test's own environment are left out.
func (d *devStack) runWith(t *testing.T, env []string, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(d.bin, append([]string{"--server", d.ports["gateway"]}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envToken+"=") && !strings.HasPrefix(kv, envServer+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

func (d *devStack) token(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(d.dataDir, "admin.token"))
	if err != nil {
		t.Fatalf("admin token: %v", err)
	}
	return strings.TrimSpace(string(b))
}

func TestDevStackEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs the whole stack")
	}
	d := newStack(t, buildBinary(t))
	took := d.start(t)
	t.Logf("first start to healthy and seeded: %s", took)

	// The coverage matrix: the United States leads cease-fire monitoring, the UK and
	// France co-lead the military hubs.
	var cov struct {
		Cells []struct {
			Domain, Capability string
			Leads              []struct{ Actor string }
			CoLed              bool `json:"co_led"`
		}
	}
	if err := json.Unmarshal([]byte(d.cli(t, "coverage", "-o", "json")), &cov); err != nil {
		t.Fatal(err)
	}
	leads := map[string][]string{}
	coLed := map[string]bool{}
	for _, c := range cov.Cells {
		for _, l := range c.Leads {
			leads[c.Capability] = append(leads[c.Capability], l.Actor)
		}
		coLed[c.Capability] = c.CoLed
	}
	if got := leads["CAPABILITY_CEASEFIRE_MONITORING"]; len(got) != 1 || got[0] != "actors/usa" {
		t.Errorf("cease-fire monitoring leads = %v, want actors/usa", got)
	}
	if got := leads["CAPABILITY_MILITARY_HUBS"]; len(got) != 2 || !coLed["CAPABILITY_MILITARY_HUBS"] {
		t.Errorf("military hubs leads = %v (co-led %v), want the UK and France as co-leads", got, coLed["CAPABILITY_MILITARY_HUBS"])
	}
	table := d.cli(t, "coverage")
	if !strings.Contains(table, "fra, gbr (co-leads)") && !strings.Contains(table, "gbr, fra (co-leads)") {
		t.Errorf("coverage table does not show the co-leads:\n%s", table)
	}

	// The Paris meeting: 35 participants, 27 heads of state and government.
	paris := d.cli(t, "events", "get", "events/paris-meeting")
	for _, want := range []string{"participants = 35", "heads_of_state_and_government = 27", "nearly four years"} {
		if !strings.Contains(paris, want) {
			t.Errorf("events get events/paris-meeting lacks %q:\n%s", want, paris)
		}
	}
	// The strikes carry their Kostroma and Lipetsk locations.
	strikes := d.cli(t, "events", "list", "--filter", `type = MILITARY AND sub_type = "air_drone_strike"`)
	for _, want := range []string{"Kostroma Oblast", "Lipetsk Oblast"} {
		if !strings.Contains(strikes, want) {
			t.Errorf("strikes lack %q:\n%s", want, strikes)
		}
	}
	// Meaningful exit codes and plain errors.
	if out, code := d.cliCode(t, "events", "get", "events/atlantis"); code != 3 {
		t.Errorf("missing event: exit %d, want 3\n%s", code, out)
	}
	out, code := d.cliCode(t, "guarantees", "transition", "guarantees/uk-military-hubs", "--to", "ACTIVE", "--reason", "x", "--evidence", "events/paris-meeting")
	if code != 5 || !strings.Contains(out, "AWAITING_RATIFICATION") {
		t.Errorf("illegal transition: exit %d, want 5 with the allowed moves\n%s", code, out)
	}
	checkCLISurface(t, d)

	// A backup of the running stack's stores, and none over an earlier one.
	backups := filepath.Join(t.TempDir(), "backups")
	out, errOut, code := d.runWith(t, nil, "", "--dev-data-dir", d.dataDir, "backup", backups)
	for _, name := range []string{"events", "guarantees"} {
		want := name + ": backed up to " + filepath.Join(backups, name+".db") + ": "
		if code != 0 || !strings.Contains(out, want) || !strings.Contains(out, "change log through seq") {
			t.Errorf("backup: exit %d, output %q (stderr %q); want %q and the change log's head", code, out, errOut, want)
		}
	}
	if _, errOut, code := d.runWith(t, nil, "", "--dev-data-dir", d.dataDir, "backup", backups); code == 0 || !strings.Contains(errOut, "already exists") {
		t.Errorf("backup over an earlier one: exit %d, stderr %q", code, errOut)
	}

	// A watch started before an update sees it.
	beforeUpdate := time.Now().UTC()
	w := d.watch(t, "--collection", "events")
	time.Sleep(time.Second) // let the watch subscribe: it starts from now
	d.cli(t, "events", "update", "events/paris-meeting", "--title", "Paris summit of the coalition of the willing")
	if _, ok := w.waitLine("events/paris-meeting", 20*time.Second); !ok {
		t.Error("the watch did not see the update")
	}
	// --as-of reads the past: before the update the meeting had its seed title.
	if got := squash(d.cli(t, "events", "get", "events/paris-meeting", "--as-of", beforeUpdate.Format(time.RFC3339Nano))); !strings.Contains(got, "title: Paris meeting of Ukraine's allies on security guarantees") {
		t.Errorf("events get --as-of %s does not show the title before the update:\n%s", beforeUpdate.Format(time.RFC3339Nano), got)
	}
	if got := squash(d.cli(t, "events", "get", "events/paris-meeting")); !strings.Contains(got, "title: Paris summit of the coalition of the willing") {
		t.Errorf("events get does not show the updated title:\n%s", got)
	}

	// A watch is resumable: Ctrl-C prints a resume token, and a watch restarted with it
	// sees what changed meanwhile (a new watch starts from now and would not), and
	// nothing from before the token.
	resume := w.stop(t)
	d.cli(t, "events", "update", "events/macron-statement", "--summary", "Changed while no watch was running.")
	w = d.watch(t, "--collection", "events", "--resume", resume)
	seen, ok := w.waitLine("events/macron-statement", 20*time.Second)
	if !ok {
		t.Errorf("the watch resumed with %q did not see the change made meanwhile", resume)
	}
	for _, l := range seen {
		if strings.Contains(l, "events/paris-meeting") {
			t.Errorf("the resumed watch replayed a change from before its token: %s", l)
		}
	}
	w.stop(t)
	// A position the streams do not hold is refused, and no resume token is offered.
	_, stderr, code := d.run(t, "watch", "--resume", gateway.ResumeToken(1_000_000, 0))
	if code == 0 || !strings.Contains(stderr, "list again and watch without a token") || strings.Contains(stderr, "resume with:") {
		t.Errorf("watch from beyond the stream: exit %d, stderr %q; want a failure saying to watch without a token, and no resume line", code, stderr)
	}

	// Export, then a restart: everything is kept and the seed is not loaded twice.
	before := d.cli(t, "export", "jsonl")
	hist := d.cli(t, "guarantees", "history", "guarantees/us-ceasefire-monitoring", "-o", "json")
	d.stop(t)
	d.start(t)
	if after := d.cli(t, "export", "jsonl"); after != before {
		t.Error("data changed across a restart")
	}
	if again := d.cli(t, "guarantees", "history", "guarantees/us-ceasefire-monitoring", "-o", "json"); again != hist {
		t.Error("the seed was loaded again on restart (history grew)")
	}
	// The dataset importers through the running stack: bad rows are reported with their
	// line and the good ones land; a second import creates nothing.
	for _, ds := range []struct{ kind, file string }{
		{"gdelt", "internal/importers/gdelt/testdata/20240110120000.export.CSV"},
		{"acled", "internal/importers/acled/testdata/acled.csv"},
		{"pax", "internal/importers/pax/testdata/pax.csv"},
	} {
		first, errOut, _ := d.run(t, "import", ds.kind, ds.file)
		if !strings.Contains(first, "created") || strings.Contains(first, "created 0,") {
			t.Errorf("import %s: nothing created:\n%s%s", ds.kind, first, errOut)
		}
		second, _, _ := d.run(t, "import", ds.kind, ds.file)
		if !strings.Contains(second, "created 0,") || !strings.Contains(second, "updated 0,") {
			t.Errorf("re-import %s is not idempotent:\n%s", ds.kind, second)
		}
	}
	acled := d.cli(t, "events", "list", "--filter", "license = ACLED", "-o", "json")
	if !strings.Contains(acled, "acled-") {
		t.Errorf("ACLED events did not land:\n%s", acled)
	}

	// Re-importing the export changes nothing and says so.
	file := filepath.Join(t.TempDir(), "export.jsonl")
	if err := os.WriteFile(file, []byte(before), 0o600); err != nil {
		t.Fatal(err)
	}
	if sum := d.cli(t, "import", "jsonl", file); !strings.Contains(sum, "created 0, updated 0") {
		t.Errorf("re-import summary: %s", sum)
	}
}

// watcher is a running `guarantor watch`.
type watcher struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr *syncBuffer
}

// watch starts `guarantor watch` with args against the stack.
func (d *devStack) watch(t *testing.T, args ...string) *watcher {
	t.Helper()
	w := &watcher{lines: make(chan string, 1000), stderr: &syncBuffer{}}
	w.cmd = exec.Command(d.bin, append([]string{"--server", d.ports["gateway"], "--token", d.token(t), "watch"}, args...)...)
	w.cmd.Stderr = w.stderr
	stdout, err := w.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if w.cmd.ProcessState == nil {
			_ = w.cmd.Process.Kill()
			_ = w.cmd.Wait()
		}
	})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			w.lines <- sc.Text()
		}
		close(w.lines)
	}()
	return w
}

// waitLine reads the watch's output until a line contains want, and returns the lines
// read before it.
func (w *watcher) waitLine(want string, timeout time.Duration) ([]string, bool) {
	deadline := time.After(timeout)
	var before []string
	for {
		select {
		case l, ok := <-w.lines:
			if !ok {
				return before, false
			}
			if strings.Contains(l, want) {
				return before, true
			}
			before = append(before, l)
		case <-deadline:
			return before, false
		}
	}
}

var resumeLine = regexp.MustCompile(`resume with: guarantor watch --resume (\S+)`)

// stop presses Ctrl-C: the watch must exit cleanly and print its resume token, which
// stop returns.
func (w *watcher) stop(t *testing.T) string {
	t.Helper()
	if err := w.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	// Drain until the watch closes its output; kill it if Ctrl-C does not end it.
	deadline := time.After(15 * time.Second)
drain:
	for {
		select {
		case _, ok := <-w.lines:
			if !ok {
				break drain
			}
		case <-deadline:
			_ = w.cmd.Process.Kill()
			t.Error("watch did not stop within 15s of Ctrl-C")
			deadline = nil
		}
	}
	if err := w.cmd.Wait(); err != nil {
		t.Errorf("watch did not exit cleanly on Ctrl-C: %v\n%s", err, w.stderr.String())
	}
	m := resumeLine.FindStringSubmatch(w.stderr.String())
	if m == nil {
		t.Fatalf("watch printed no resume token on Ctrl-C; stderr:\n%s", w.stderr.String())
	}
	return m[1]
}

// squash collapses the runs of spaces a table aligns its columns with, line by line,
// so a row can be matched as "a b c".
func squash(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	return strings.Join(lines, "\n")
}

// hasLine reports whether out has a line that is exactly line.
func hasLine(out, line string) bool {
	for _, l := range strings.Split(out, "\n") {
		if l == line {
			return true
		}
	}
	return false
}

// reflectedServices lists the services gRPC reflection describes at addr, calling with
// the API key token ("" for none).
func reflectedServices(addr, token string) ([]string, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	}
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		return nil, err
	}
	// Send says io.EOF when the server has ended the call already (it refused the
	// caller): the call's status is then what Recv returns.
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{ListServices: ""},
	}); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	resp, err := stream.Recv()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, svc := range resp.GetListServicesResponse().GetService() {
		names = append(names, svc.GetName())
	}
	return names, stream.CloseSend()
}

// checkCLISurface drives the CLI's commands and global options against the seeded stack,
// each once: token resolution, field violations, output formats, the read-only
// subcommands, ratification, an event's create-delete-history life and reflection.
func checkCLISurface(t *testing.T, d *devStack) {
	// The API key comes from GUARANTOR_TOKEN when there is no --token. Without either
	// the gateway refuses (--server is not the dev stack's default address, so the dev
	// token file is not read): the environment is what let the first call in.
	out, errOut, code := d.runWith(t, []string{envToken + "=" + d.token(t)}, "", "events", "list")
	if code != exitOK || !strings.Contains(out, "events/paris-meeting") {
		t.Errorf("events list with %s: exit %d\n%s%s", envToken, code, out, errOut)
	}
	if _, errOut, code := d.runWith(t, nil, "", "events", "list"); code != exitDenied {
		t.Errorf("events list without a token: exit %d, want %d\n%s", code, exitDenied, errOut)
	}

	// The server's field violations are shown plainly, one "field: description" a line,
	// and an invalid request exits 2.
	_, errOut, code = d.run(t, "events", "create", "e2e-invalid", "--title", "Neither a type nor a date")
	if code != exitUsage {
		t.Errorf("invalid events create: exit %d, want %d\n%s", code, exitUsage, errOut)
	}
	for _, v := range []string{"  event.type: is required", "  event.when.time: is required"} {
		if !hasLine(errOut, v) {
			t.Errorf("invalid events create: no line %q on stderr:\n%s", v, errOut)
		}
	}

	// -o yaml is machine output: it reads back into the resource.
	y := d.cli(t, "events", "get", "events/paris-meeting", "-o", "yaml")
	if !hasLine(y, "name: events/paris-meeting") {
		t.Errorf("events get -o yaml lacks the line \"name: events/paris-meeting\":\n%s", y)
	}
	j, err := yaml.YAMLToJSON([]byte(y))
	var ev eventsv1.Event
	if err == nil {
		err = protojson.Unmarshal(j, &ev)
	}
	if err != nil || len(ev.GetCounts()) != 2 || ev.GetCounts()[0].GetValue() != 35 {
		t.Errorf("events get -o yaml does not read back as the event (%v): %v", err, ev.GetCounts())
	}

	// -o json round-trips: a guarantee's JSON, fed to create on standard input, makes
	// the same commitment (new name, PROPOSED, the server's own stamps).
	orig := d.cli(t, "guarantees", "get", "guarantees/uk-military-hubs", "-o", "json")
	if out, errOut, code := d.runWith(t, nil, orig, "--token", d.token(t), "guarantees", "create", "e2e-uk-hubs-copy", "-f", "-"); code != exitOK {
		t.Errorf("guarantees create -f - from get -o json: exit %d\n%s%s", code, out, errOut)
	}
	var want, got guaranteesv1.Guarantee
	if err := protojson.Unmarshal([]byte(orig), &want); err != nil {
		t.Fatal(err)
	}
	if err := protojson.Unmarshal([]byte(d.cli(t, "guarantees", "get", "guarantees/e2e-uk-hubs-copy", "-o", "json")), &got); err != nil {
		t.Fatal(err)
	}
	if got.GetStatus() != guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_PROPOSED {
		t.Errorf("the copy is %s, want PROPOSED", got.GetStatus())
	}
	for _, g := range []*guaranteesv1.Guarantee{&want, &got} {
		g.Name, g.Etag, g.Revision, g.CreateTime, g.UpdateTime = "", "", 0, nil, nil
		g.Status, g.StatusReason, g.StatusEvidence, g.StatusTime = 0, "", "", nil
	}
	if !proto.Equal(&want, &got) {
		t.Errorf("the round trip changed the guarantee:\nwant %v\ngot  %v", &want, &got)
	}

	// Each read-only subcommand once, on facts of the seed (table rows squashed to
	// single spaces).
	for _, tt := range []struct {
		args          []string
		want, notWant []string
	}{
		{args: []string{"actors", "list"}, want: []string{"actors/gbr STATE GBR United Kingdom", "actors/sbu AGENCY UKR Security Service of Ukraine"}},
		{args: []string{"actors", "get", "actors/keir-starmer"}, want: []string{"display name: Keir Starmer", "office: Prime Minister actors/gbr"}},
		{args: []string{"frameworks", "list"}, want: []string{"frameworks/paris-declaration 2024-01-06"}},
		{args: []string{"frameworks", "get", "frameworks/paris-declaration"}, want: []string{"title: Paris declaration on security guarantees for Ukraine", "source events: events/paris-meeting, events/joint-statement"}},
		{args: []string{"guarantees", "list"}, want: []string{
			"guarantees/us-ceasefire-monitoring actors/usa MULTI_DOMAIN CEASEFIRE_MONITORING LEAD PLEDGED",
			"guarantees/sea-lead (undisclosed) SEA MULTINATIONAL_PRESENCE LEAD PLEDGED",
			"guarantees/binding-assistance-renewed-aggression actors/ukraine-allies MULTI_DOMAIN MUTUAL_ASSISTANCE SUPPORTER PROPOSED",
		}},
		// The UK's dossier: its military hubs and the meeting it attended, not France's hubs.
		{args: []string{"dossier", "actors/gbr"}, want: []string{
			"actor: actors/gbr (United Kingdom)",
			"commitment: guarantees/uk-military-hubs LEAD MILITARY_HUBS (PLEDGED)",
			"event: 2024-01-06 events/paris-meeting",
		}, notWant: []string{"guarantees/fr-military-hubs"}},
	} {
		got := squash(d.cli(t, tt.args...))
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("guarantor %s lacks %q:\n%s", strings.Join(tt.args, " "), w, got)
			}
		}
		for _, w := range tt.notWant {
			if strings.Contains(got, w) {
				t.Errorf("guarantor %s shows %q:\n%s", strings.Join(tt.args, " "), w, got)
			}
		}
	}

	// Paging: one page says where the next one starts; --all merges every page, which
	// --total counts.
	if got := d.cli(t, "actors", "list", "--page-size", "5"); !strings.Contains(got, "(more: --page-token ") {
		t.Errorf("a first page of 5 actors does not point at the next:\n%s", got)
	}
	all := d.cli(t, "actors", "list", "--page-size", "5", "--all", "--total")
	m := regexp.MustCompile(`\((\d+) in all\)`).FindStringSubmatch(all)
	if rows := regexp.MustCompile(`(?m)^actors/`).FindAllString(all, -1); m == nil || m[1] != strconv.Itoa(len(rows)) || len(rows) < 18 ||
		strings.Contains(all, "(more:") {
		t.Errorf("actors list --all --total: %d rows, total %v, want every actor of the seed and their count:\n%s", len(rows), m, all)
	}
	if got := squash(d.cli(t, "guarantees", "list", "--page-size", "2", "--all")); !strings.Contains(got, "guarantees/binding-assistance-renewed-aggression") ||
		!strings.Contains(got, "guarantees/us-ceasefire-monitoring") {
		t.Errorf("guarantees list --all lacks guarantees of the seed:\n%s", got)
	}
	if got := d.cli(t, "coverage", "--as-of", time.Now().UTC().Format(time.RFC3339)); !strings.Contains(got, "(co-leads)") {
		t.Errorf("coverage --as-of now lacks the co-led military hubs:\n%s", got)
	}
	for _, args := range [][]string{{"events", "list"}, {"dossier", "actors/gbr"}, {"guarantees", "history", "guarantees/sea-lead"}} {
		if out, code := d.cliCode(t, append(args, "--as-of", "2026-01-01")...); code != exitUsage || !strings.Contains(out, "shows the present only") {
			t.Errorf("%v --as-of: exit %d, want %d (no past state to show)\n%s", args, code, exitUsage, out)
		}
	}

	// Ratify records a dated action: the guarantee shows it and its history has it.
	d.cli(t, "guarantees", "ratify", "guarantees/fr-military-hubs", "--nation", "actors/fra", "--action", "SIGNATURE",
		"--date", "2026-01-06", "--evidence", "events/paris-meeting")
	if got := squash(d.cli(t, "guarantees", "get", "guarantees/fr-military-hubs")); !strings.Contains(got, "ratified: 2026-01-06 actors/fra SIGNATURE") ||
		!strings.Contains(got, "ratification: SIGNED") {
		t.Errorf("the ratification does not show on the guarantee:\n%s", got)
	}
	if got := squash(d.cli(t, "guarantees", "history", "guarantees/fr-military-hubs")); !regexp.MustCompile(`RATIFICATION_RECORDED key:dev-admin .* events/paris-meeting`).MatchString(got) {
		t.Errorf("the ratification is not in the history:\n%s", got)
	}

	// An event's life: created, deleted (gone from get, exit 3), and both in its history.
	d.cli(t, "events", "create", "e2e-scratch", "--type", "OTHER", "--sub-type", "test", "--title", "Scratch event", "--when", "2026-01-07")
	d.cli(t, "events", "delete", "events/e2e-scratch")
	if out, code := d.cliCode(t, "events", "get", "events/e2e-scratch"); code != exitNotFound {
		t.Errorf("deleted event: exit %d, want %d\n%s", code, exitNotFound, out)
	}
	if got := squash(d.cli(t, "events", "get", "events/e2e-scratch", "--show-deleted")); !strings.Contains(got, "title: Scratch event") {
		t.Errorf("events get --show-deleted does not show the tombstone:\n%s", got)
	}
	hist := squash(d.cli(t, "events", "history", "events/e2e-scratch"))
	for _, re := range []string{`(?m)^\d+ \S+ CREATED key:dev-admin `, `(?m)^\d+ \S+ DELETED key:dev-admin delete_time$`} {
		if !regexp.MustCompile(re).MatchString(hist) {
			t.Errorf("events history lacks %s:\n%s", re, hist)
		}
	}

	// Reflection is on in dev mode and lists the proxied services; like every method
	// but health it needs credentials at the gateway.
	names, err := reflectedServices(d.ports["gateway"], d.token(t))
	if err != nil || !containsStr(names, "guarantor.events.v1.EventsService") || !containsStr(names, "guarantor.guarantees.v1.GuaranteesService") {
		t.Errorf("reflection lists %v (err %v), want the events and guarantees services", names, err)
	}
	if _, err := reflectedServices(d.ports["gateway"], ""); status.Code(err) != codes.Unauthenticated {
		t.Errorf("reflection without a token: %v, want Unauthenticated", err)
	}
}
