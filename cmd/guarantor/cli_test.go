package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/guarantor/guarantor/cmd/guarantor/internal/devstack"
	"github.com/guarantor/guarantor/platform/filelock"
	"github.com/guarantor/guarantor/platform/testkit/freeport"
	"github.com/guarantor/guarantor/platform/testkit/natstest"
)

// TestEveryCommandHasHelpWithExamples walks the command tree: every command a user can
// run documents itself with a short description and at least one example.
func TestEveryCommandHasHelpWithExamples(t *testing.T) {
	t.Parallel()
	root := (&app{stdout: io.Discard, stderr: io.Discard}).newRoot()
	root.InitDefaultCompletionCmd()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if !c.Runnable() || strings.HasPrefix(c.CommandPath(), "guarantor completion") {
			return
		}
		if c.Short == "" {
			t.Errorf("%q has no short description", c.CommandPath())
		}
		if !strings.Contains(c.Example, "guarantor ") {
			t.Errorf("%q has no example", c.CommandPath())
		}
	}
	walk(root)
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		code int
	}{
		{[]string{"--output", "xml", "coverage"}, exitUsage},
		{[]string{"events", "get"}, exitUsage},
		{[]string{"events", "list", "--no-such-flag"}, exitUsage},
		{[]string{"no-such-command"}, exitUsage},
		// Credentials are for an external NATS; the embedded one takes none.
		{[]string{"dev", "--nats-nkey-file", "dev.nk"}, exitUsage},
		{[]string{"dev", "--nats-ca-file", "ca.crt"}, exitUsage},
		{[]string{"dev", "--postgres-url", "postgres://127.0.0.1:1/x", "--postgres-db-prefix", "Bad-Prefix"}, exitUsage},
		{[]string{"dev", "--start-timeout", "0s"}, exitUsage},
		{[]string{"events", "list", "--server", "127.0.0.1:1", "--timeout", "200ms", "--token", "x"}, exitUnavailable},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			if got := run(tt.args, io.Discard, io.Discard); got != tt.code {
				t.Errorf("exit %d, want %d", got, tt.code)
			}
		})
	}
}

// TestResolveToken pins the order the API key is found in: --token, then
// GUARANTOR_TOKEN, then the dev stack's admin.token, and the file only when the CLI
// talks to the dev stack's default address (a token for the local stack must not be
// sent to some other server).
func TestResolveToken(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, devTokenFileName), []byte("  from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name                    string
		flag, env, server, data string
		wantToken, wantSrc      string
	}{
		{"dev token file on the default server", "", "", defaultServer, dir, "from-file", "dev token file"},
		{"environment beats the file", "", "from-env", defaultServer, dir, "from-env", envToken},
		{"flag beats the environment", "from-flag", "from-env", defaultServer, dir, "from-flag", "--token"},
		{"no file for another server", "", "", "gateway.example:9090", dir, "", ""},
		{"no file, no token", "", "", defaultServer, t.TempDir(), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(envToken, tt.env)
			a := &app{token: tt.flag, server: tt.server, devData: tt.data}
			a.resolveToken()
			a.resolveToken() // the call context and the connection both ask
			if a.token != tt.wantToken || a.tokenSrc != tt.wantSrc {
				t.Errorf("token %q from %q, want %q from %q", a.token, a.tokenSrc, tt.wantToken, tt.wantSrc)
			}
		})
	}
}

// TestReportShowsFieldViolations: the server's field violations reach the user one per
// line as "field: description", and an invalid argument exits 2.
func TestReportShowsFieldViolations(t *testing.T) {
	t.Parallel()
	st, err := status.New(codes.InvalidArgument, "invalid request").WithDetails(&errdetails.BadRequest{
		FieldViolations: []*errdetails.BadRequest_FieldViolation{
			{Field: "event.type", Description: "is required"},
			{Field: "event.when.time", Description: "is required"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	if code := (&app{stderr: &stderr}).report(st.Err()); code != exitUsage {
		t.Errorf("exit %d, want %d", code, exitUsage)
	}
	want := "guarantor: invalid argument: invalid request\n  event.type: is required\n  event.when.time: is required\n"
	if stderr.String() != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", stderr.String(), want)
	}
}

// TestCompletion: every shell's completion script is generated (cobra's command is
// wired in and writes to the CLI's standard output).
func TestCompletion(t *testing.T) {
	t.Parallel()
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		t.Run(shell, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr strings.Builder
			if code := run([]string{"completion", shell}, &stdout, &stderr); code != exitOK {
				t.Fatalf("exit %d\n%s", code, stderr.String())
			}
			if !strings.Contains(stdout.String(), "guarantor") {
				t.Errorf("no completion script for guarantor:\n%.300s", stdout.String())
			}
		})
	}
}

// TestDevGivesUpOnARefusingNATS: `guarantor dev` pointed at a NATS server that does not
// know its key stops after --start-timeout and says why, instead of retrying forever.
func TestDevGivesUpOnARefusingNATS(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "nats.conf")
	body := fmt.Sprintf("authorization {\n  users = [ { nkey: %q } ]\n}\n", natstest.NewUser(t).Public)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	ns := natstest.StartWithConfig(t, conf)
	var stderr strings.Builder
	began := time.Now()
	code := run([]string{"dev", "--data-dir", t.TempDir(), "--log-level", "error", "--start-timeout", "2s",
		"--nats-url", ns.URL(), "--nats-nkey-file", natstest.NewUser(t).Seed,
		"--events-listen", freeport.Addr(t), "--guarantees-listen", freeport.Addr(t),
		"--gateway-listen", freeport.Addr(t), "--gateway-http-listen", freeport.Addr(t)}, io.Discard, &stderr)
	if code != exitError {
		t.Errorf("exit %d, want %d", code, exitError)
	}
	if took := time.Since(began); took > 30*time.Second {
		t.Errorf("gave up after %s, with --start-timeout 2s", took)
	}
	for _, want := range []string{"--start-timeout 2s", "authorization violation"} {
		if !strings.Contains(strings.ToLower(stderr.String()), strings.ToLower(want)) {
			t.Errorf("stderr does not say %q:\n%s", want, stderr.String())
		}
	}
}

// TestDevOnADataDirInUse: `guarantor dev` on a data directory another holds stops at
// once and says so, without blaming --start-timeout.
func TestDevOnADataDirInUse(t *testing.T) {
	dir := t.TempDir()
	release, ok, err := filelock.TryLock(filepath.Join(dir, devstack.LockFile))
	if err != nil || !ok {
		t.Fatalf("lock: %v, %v", ok, err)
	}
	defer release()
	var stderr strings.Builder
	code := run([]string{"dev", "--data-dir", dir, "--log-level", "error",
		"--events-listen", freeport.Addr(t), "--guarantees-listen", freeport.Addr(t),
		"--gateway-listen", freeport.Addr(t), "--gateway-http-listen", freeport.Addr(t)}, io.Discard, &stderr)
	if code != exitError {
		t.Errorf("exit %d, want %d", code, exitError)
	}
	if msg := stderr.String(); !strings.Contains(msg, "is in use by another guarantor dev") || strings.Contains(msg, "start-timeout") {
		t.Errorf("stderr:\n%s\nwant the directory named in use, and no timeout", msg)
	}
}

// TestFailedExportLeavesNoFile: an export that fails writes nothing at --out (it used to
// leave the file it had begun, which looks like a backup), and no temporary file either.
func TestFailedExportLeavesNoFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := filepath.Join(dir, "backup.jsonl")
	if got := run([]string{"export", "jsonl", "--out", out, "--server", "127.0.0.1:1", "--timeout", "200ms", "--token", "x"}, io.Discard, io.Discard); got != exitUnavailable {
		t.Fatalf("exit %d, want %d", got, exitUnavailable)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("a failed export left %s behind", e.Name())
	}
}
