package devstack

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/guarantor/guarantor/platform/filelock"
	"github.com/guarantor/guarantor/platform/natsx"
	"github.com/guarantor/guarantor/platform/testkit/freeport"
	"github.com/guarantor/guarantor/platform/testkit/locktest"
)

// Nothing stopped a second `guarantor dev` on a data directory in use (on other ports,
// say): its embedded NATS wrote the first one's JetStream store, which corrupts it, and
// its relays ran over the same SQLite change logs. A start now takes the directory's
// lock first, and a second one stops there with what to do.

// TestDataDirInUse: a second stack on the data directory of a running one is refused,
// naming the directory and the first one's pid, and the first runs on unharmed; once it
// has stopped, a stack starts on the directory again.
func TestDataDirInUse(t *testing.T) {
	cfg := localConfig(t)
	cfg.SkipSeed = true
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first, done := runStack(ctx, t, cfg, zap.NewNop())

	second := localConfig(t)
	second.DataDir, second.SkipSeed = cfg.DataDir, true
	startCtx, stop := context.WithTimeout(ctx, time.Minute)
	defer stop()
	stack, err := Start(startCtx, second, zap.NewNop())
	if err == nil {
		stack.Close()
		t.Fatal("a second stack started on a data directory in use")
	}
	want := fmt.Sprintf("data directory %s is in use by another guarantor dev (pid %d)", cfg.DataDir, os.Getpid())
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "--data-dir") {
		t.Fatalf("err = %v, want %q and what to do", err, want)
	}

	select {
	case err := <-done:
		t.Fatalf("the first stack stopped when the second was refused: %v", err)
	default:
	}
	if !first.nats.Running() {
		t.Error("the first stack's NATS server stopped")
	}
	for _, backend := range []string{"events", "guarantees"} {
		if st := first.Gateway.BackendStatus(backend); st != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("the first stack's gateway sees %s as %s", backend, st)
		}
	}
	listEvents(t, first)

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	_, done = runStack(ctx, t, second, zap.NewNop())
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// listEvents calls the events service through the gateway over HTTP, as the welcome's
// curl does: the call goes through to the SQLite store.
func listEvents(t *testing.T, s *Stack) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+s.Gateway.HTTPAddr()+"/guarantor.events.v1.EventsService/ListEvents", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("ListEvents through the first stack's gateway: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("ListEvents through the first stack's gateway: %s", resp.Status)
	}
}

// TestDataDirInUseTouchesNothing: the refusal comes before any file of the directory is
// written or opened, on external servers too (the directory holds the keys whatever
// the servers): a locked, new directory is left holding the lock file alone. The
// servers here answer nothing, so a start that went past the lock would fail on them.
func TestDataDirInUseTouchesNothing(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  func() Config
	}{
		{"embedded NATS and SQLite", func() Config { return localConfig(t) }},
		{"external NATS and PostgreSQL", func() Config {
			cfg := externalConfig(t, "nats://"+freeport.Addr(t), natsx.Credentials{})
			cfg.PostgresURL = "postgres://guarantor@" + freeport.Addr(t) + "/postgres?connect_timeout=1"
			return cfg
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg()
			release, ok, err := filelock.TryLock(filepath.Join(cfg.DataDir, LockFile))
			if err != nil || !ok {
				t.Fatalf("lock the data directory: ok %v, err %v", ok, err)
			}
			defer release()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			stack, err := Start(ctx, cfg, zap.NewNop())
			if err == nil {
				stack.Close()
				t.Fatal("started on a locked data directory")
			}
			if want := "data directory " + cfg.DataDir + " is in use by another guarantor dev"; !strings.Contains(err.Error(), want) {
				t.Errorf("err = %v, want %q", err, want)
			}
			entries, err := os.ReadDir(cfg.DataDir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if e.Name() != LockFile {
					t.Errorf("the refused start left %s in the data directory", e.Name())
				}
			}
		})
	}
}

func TestMain(m *testing.M) {
	locktest.Main()
	os.Exit(m.Run())
}

// TestDataDirInUseByAnotherProcess: the lock holds across processes, the refusal names
// the holder's pid, and a holder killed outright (kill -9: it releases nothing itself)
// leaves no stale lock behind.
func TestDataDirInUseByAnotherProcess(t *testing.T) {
	cfg := localConfig(t)
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		t.Fatal(err)
	}
	holder := locktest.Hold(t, filepath.Join(cfg.DataDir, LockFile))

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	stack, err := Start(ctx, cfg, zap.NewNop())
	if err == nil {
		stack.Close()
		t.Fatal("started on a data directory another process holds")
	}
	want := fmt.Sprintf("data directory %s is in use by another guarantor dev (pid %d)", cfg.DataDir, holder.Pid)
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want %q", err, want)
	}

	locktest.Kill(t, holder)
	release, err := lockDataDir(cfg.DataDir)
	if err != nil {
		t.Fatalf("the data directory of a killed stack stays locked: %v", err)
	}
	release()
}
