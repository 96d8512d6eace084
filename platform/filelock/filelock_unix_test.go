//go:build unix

package filelock_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/guarantor/guarantor/platform/filelock"
	"github.com/guarantor/guarantor/platform/testkit/locktest"
)

func TestMain(m *testing.M) {
	locktest.Main()
	os.Exit(m.Run())
}

// TestTryLockAcrossProcesses: a lock another process holds turns TryLock away, and once
// that process is killed (SIGKILL: it releases nothing itself) the lock is free: the
// kernel dropped it with the process.
func TestTryLockAcrossProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.lock")
	holder := locktest.Hold(t, path)
	if _, ok, err := filelock.TryLock(path); err != nil || ok {
		t.Fatalf("TryLock while another process holds the lock: ok %v, err %v; want refused", ok, err)
	}
	locktest.Kill(t, holder)
	release, ok, err := filelock.TryLock(path)
	if err != nil || !ok {
		t.Fatalf("TryLock after the holding process was killed: ok %v, err %v", ok, err)
	}
	release()
}

// TestTryLockUnopenableFile: a lock file that cannot be created is an error, not a
// refusal, and leaves nothing taken in this process.
func TestTryLockUnopenableFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "later")
	path := filepath.Join(dir, "a.lock")
	if _, ok, err := filelock.TryLock(path); err == nil || ok {
		t.Fatalf("TryLock in a missing directory: ok %v, err %v; want an error", ok, err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	release, ok, err := filelock.TryLock(path)
	if err != nil || !ok {
		t.Fatalf("TryLock once the directory exists: ok %v, err %v", ok, err)
	}
	release()
}
