package main

// End to end, as a new user would: build the guarantor binary, start `guarantor dev` on
// free ports in a temporary directory, wait for health, and drive the CLI.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
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

func freePort(t *testing.T) string {
	t.Helper()
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String()
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
			return time.Since(began)
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
	cmd := exec.Command(d.bin, append([]string{"--server", d.ports["gateway"], "--token", d.token(t)}, args...)...)
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
	d := &devStack{bin: buildBinary(t), dataDir: t.TempDir(), ports: map[string]string{}}
	for _, name := range []string{"nats", "events", "guarantees", "gateway", "http"} {
		d.ports[name] = freePort(t)
	}
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

	// A watch started before an update sees it.
	watch := exec.Command(d.bin, "--server", d.ports["gateway"], "--token", d.token(t), "watch", "--collection", "events")
	stdout, err := watch.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = watch.Process.Kill(); _ = watch.Wait() }()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	time.Sleep(time.Second) // let the watch subscribe: it starts from now
	d.cli(t, "events", "update", "events/paris-meeting", "--title", "Paris summit of the coalition of the willing")
	if !waitLine(lines, "events/paris-meeting", 20*time.Second) {
		t.Error("the watch did not see the update")
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

func waitLine(lines <-chan string, want string, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				return false
			}
			if strings.Contains(l, want) {
				return true
			}
		case <-deadline:
			return false
		}
	}
}
