package main

// The importers end to end, as an analyst runs them: the guarantor binary against a
// running `guarantor dev`, exit codes, what goes to standard error (each bad row as
// FILE:LINE: reason, plain progress lines) and standard output (the summary), and the
// JSONL round trip from one store into an empty one.

import (
	"archive/zip"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/guarantor/guarantor/platform/testkit/freeport"
)

const (
	gdeltFixture = "internal/importers/gdelt/testdata/20240110120000.export.CSV"
	acledFixture = "internal/importers/acled/testdata/acled.csv"
	paxFixture   = "internal/importers/pax/testdata/pax.csv"
)

// newStack picks free ports and a data directory for a dev stack of bin.
func newStack(t *testing.T, bin string) *devStack {
	t.Helper()
	d := &devStack{bin: bin, dataDir: t.TempDir(), ports: map[string]string{}}
	for _, name := range []string{"nats", "events", "guarantees", "gateway", "http"} {
		d.ports[name] = freeport.Addr(t)
	}
	return d
}

// startEmpty starts the stack as devStack.start does, but without the seed: an empty
// store.
func (d *devStack) startEmpty(t *testing.T) {
	t.Helper()
	d.out = &syncBuffer{}
	d.cmd = exec.Command(d.bin, "dev", "--no-seed", "--data-dir", d.dataDir,
		"--nats-listen", d.ports["nats"], "--events-listen", d.ports["events"], "--guarantees-listen", d.ports["guarantees"],
		"--gateway-listen", d.ports["gateway"], "--gateway-http-listen", d.ports["http"])
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.stop(t) })
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
			return
		}
		if d.cmd.ProcessState != nil || time.Now().After(deadline) {
			t.Fatalf("empty dev stack not healthy (err %v); output:\n%s", err, d.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// importRun is what one `guarantor import` printed and its exit code.
type importRun struct {
	stdout, stderr string
	code           int
}

func (d *devStack) importFile(t *testing.T, args ...string) importRun {
	t.Helper()
	out, errOut, code := d.run(t, append([]string{"import"}, args...)...)
	return importRun{out, errOut, code}
}

// expect checks the exit code, the summary (standard output, alone) and that standard
// error holds each of the lines wanted, in order.
func (r importRun) expect(t *testing.T, what string, code int, summary string, stderrLines ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", what, r.code, code, r.stdout, r.stderr)
	}
	if got := strings.TrimSuffix(r.stdout, "\n"); got != summary {
		t.Errorf("%s: standard output\n%q\nwant the summary alone\n%q", what, got, summary)
	}
	rest := r.stderr
	for _, want := range stderrLines {
		i := strings.Index(rest, want)
		if i < 0 {
			t.Errorf("%s: standard error lacks (in this order) %q:\n%s", what, want, r.stderr)
			return
		}
		rest = rest[i+len(want):]
	}
}

func TestImportEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs two dev stacks")
	}
	began := time.Now()
	bin := buildBinary(t)
	t.Logf("build: %s", time.Since(began).Round(time.Millisecond))
	a := newStack(t, bin)
	a.start(t)
	dir := t.TempDir()

	// GDELT: five good rows, five bad ones, each named with its file and line; the exit
	// code is 1; progress as plain lines (the output is not a terminal).
	gdelt := a.importFile(t, "gdelt", gdeltFixture)
	gdelt.expect(t, "import gdelt", 1, "read 10, created 5, updated 0, unchanged 0, rejected 5; actors: created 4, existing 3",
		"20240110120000.export.CSV: done: 10 rows in ",
		gdeltFixture+`:4: unknown CAMEO event code "0999" (EventCode)`,
		gdeltFixture+":5: has 60 tab-separated columns, want 61",
		gdeltFixture+":6: has 62 tab-separated columns, want 61",
		gdeltFixture+`:8: GLOBALEVENTID "abc" is not a number`,
		gdeltFixture+":10: has 20 tab-separated columns, want 61",
		"guarantor: 5 of 10 rows rejected")

	// The same export as GDELT publishes it, zipped: read inside the archive, problems
	// named by archive and entry; nothing new.
	zipPath := filepath.Join(dir, "20240110120000.export.CSV.zip")
	writeZip(t, zipPath, "20240110120000.export.CSV", gdeltFixture)
	a.importFile(t, "gdelt", zipPath).expect(t, "import gdelt .zip", 1,
		"read 10, created 0, updated 0, unchanged 5, rejected 5; actors: created 0, existing 7",
		zipPath+`:20240110120000.export.CSV:4: unknown CAMEO event code "0999"`,
		zipPath+":20240110120000.export.CSV:10: has 20 tab-separated columns",
		"guarantor: 5 of 10 rows rejected")

	// --strict stops at the first bad row, with nothing written.
	a.importFile(t, "gdelt", "--strict", gdeltFixture).expect(t, "import gdelt --strict", 1,
		"read 4, created 0, updated 0, unchanged 0, rejected 1",
		gdeltFixture+`:4: unknown CAMEO event code "0999"`,
		"stopped at the first bad line (--strict): nothing was written")

	// ACLED: a wrong time precision, a row cut short, a quote left open at the end.
	a.importFile(t, "acled", acledFixture).expect(t, "import acled", 1,
		"read 6, created 3, updated 0, unchanged 0, rejected 3; actors: created 3, existing 0",
		"acled.csv: done: 6 rows in ",
		acledFixture+`:6: time_precision "4" is not 1 (day), 2 (week) or 3 (month)`,
		acledFixture+":7: has 5 columns, the header has 32",
		acledFixture+":9: malformed CSV",
		"guarantor: 3 of 6 rows rejected")
	// A dry run of the edited export: all good, nothing written, exit 0.
	a.importFile(t, "acled", "--dry-run", "internal/importers/acled/testdata/acled-edited.csv").expect(t, "import acled --dry-run", 0,
		"read 3, created 0, updated 0, unchanged 0, rejected 0 (dry run: 3 valid, nothing written)")
	// A dry run on the server says what the import would do; then the import does
	// exactly that (so the dry run wrote none of it).
	const editedCounts = "read 3, created 0, updated 1, unchanged 2, rejected 0; actors: created 0, existing 3"
	a.importFile(t, "acled", "--dry-run=server", "internal/importers/acled/testdata/acled-edited.csv").expect(t, "import acled --dry-run=server", 0,
		editedCounts+" (dry run on the server: what the import would do; nothing written)")
	a.importFile(t, "acled", "internal/importers/acled/testdata/acled-edited.csv").expect(t, "import acled (edited)", 0, editedCounts)

	// PA-X: an agreement id that is no number, a provision code out of range.
	a.importFile(t, "pax", paxFixture).expect(t, "import pax", 1,
		"read 5, created 3, updated 0, unchanged 0, rejected 2",
		"pax.csv: done: 5 rows in ",
		paxFixture+`:7: AgtId "x12" is not an agreement number`,
		paxFixture+`:8: Ce "7" is not a provision code (0 to 3)`,
		"guarantor: 2 of 5 rows rejected")

	// Give a guarantee a status with evidence other than its first source event, and a
	// ratification step, so that the round trip has them to keep.
	a.cli(t, "guarantees", "transition", "guarantees/uk-military-hubs", "--to", "AWAITING_RATIFICATION",
		"--reason", "Signed at the Paris meeting", "--evidence", "events/joint-statement")
	a.cli(t, "guarantees", "ratify", "guarantees/uk-military-hubs", "--nation", "actors/gbr", "--action", "PARLIAMENTARY_APPROVAL",
		"--body", "House of Commons", "--date", "2026-03-01")

	exportA := filepath.Join(dir, "a.jsonl")
	a.cli(t, "export", "jsonl", "--out", exportA)
	first, err := os.ReadFile(exportA)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(first), "\n")
	n := strings.Count(string(first), "\n")
	for _, want := range []string{"events/gdelt-1180000001", "events/acled-rus100001", "frameworks/pax-1505", "House of Commons"} {
		if !strings.Contains(string(first), want) {
			t.Fatalf("the export lacks %s", want)
		}
	}

	// import jsonl, like the other importers: one bad line (line 3) is reported as
	// FILE:3 and the others go on; --strict writes nothing; --dry-run writes nothing.
	bad := filepath.Join(dir, "one-bad-line.jsonl")
	withBad := strings.Join(lines[:2], "") + `{"@type":"type.googleapis.com/guarantor.events.v1.Event","name":"events/x",` + "\n" + strings.Join(lines[2:], "")
	if err := os.WriteFile(bad, []byte(withBad), 0o600); err != nil {
		t.Fatal(err)
	}
	a.importFile(t, "jsonl", bad).expect(t, "import jsonl (one bad line)", 1,
		summaryOf(n+1, 0, n, 1),
		"one-bad-line.jsonl: done: "+strconv.Itoa(n+1)+" rows in ",
		bad+":3: ", "unexpected EOF", // protobuf varies its "proto: " prefix
		"guarantor: 1 of "+strconv.Itoa(n+1)+" records rejected")
	a.importFile(t, "jsonl", "--strict", bad).expect(t, "import jsonl --strict", 1,
		summaryOf(3, 0, 0, 1),
		"one-bad-line.jsonl: done: 3 rows in ",
		bad+":3: ", "unexpected EOF",
		"nothing was written")
	a.importFile(t, "jsonl", "--dry-run", bad).expect(t, "import jsonl --dry-run", 1,
		summaryOf(n+1, 0, 0, 1)+" (dry run: "+strconv.Itoa(n)+" valid, nothing written)",
		bad+":3: ", "unexpected EOF")

	// The round trip: export, import into an empty store, export again: the same bytes
	// but for what the server stamps on every write (times, etag, revision).
	b := newStack(t, bin)
	b.startEmpty(t)
	if out := b.cli(t, "export", "jsonl"); out != "" {
		t.Fatalf("the second store is not empty:\n%s", out)
	}
	b.importFile(t, "jsonl", exportA).expect(t, "import jsonl into an empty store", 0, summaryOf(n, n, 0, 0), "a.jsonl: done: ")
	second := b.cli(t, "export", "jsonl")
	if got, want := stamped.ReplaceAllString(second, `"$1":"…"`), stamped.ReplaceAllString(string(first), `"$1":"…"`); got != want {
		gotLines, wantLines := strings.Split(got, "\n"), strings.Split(want, "\n")
		for i := range min(len(gotLines), len(wantLines)) {
			if gotLines[i] != wantLines[i] {
				t.Fatalf("the round trip changed line %d (of %d, now %d):\n%s\nnow\n%s", i+1, len(wantLines), len(gotLines), wantLines[i], gotLines[i])
			}
		}
		t.Fatalf("the round trip changed the number of lines: %d, now %d", len(wantLines), len(gotLines))
	}
	// And again: nothing changes.
	b.importFile(t, "jsonl", exportA).expect(t, "re-import jsonl", 0, summaryOf(n, 0, n, 0))
	t.Logf("whole test: %s", time.Since(began).Round(time.Millisecond))
}

// stamped matches the fields the server sets on every write, which an import cannot
// carry over: when (create_time, update_time, status_time) and which version (etag,
// revision).
var stamped = regexp.MustCompile(`"(create_time|update_time|status_time|etag|revision)":"(?:[^"\\]|\\.)*"`)

func summaryOf(read, created, unchanged, rejected int) string {
	return "read " + strconv.Itoa(read) + ", created " + strconv.Itoa(created) + ", updated 0, unchanged " + strconv.Itoa(unchanged) + ", rejected " + strconv.Itoa(rejected)
}

func writeZip(t *testing.T, path, entry, from string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	w, err := zw.Create(entry)
	if err == nil {
		_, err = w.Write(data)
	}
	if err == nil {
		err = zw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
}
