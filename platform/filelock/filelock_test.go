package filelock_test

import (
	"path/filepath"
	"testing"

	"github.com/guarantor/guarantor/platform/filelock"
)

// TestTryLockInProcess: two holders in one process exclude each other, a lock on
// another path is another lock, and a released lock is free for the next.
func TestTryLockInProcess(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.lock")

	release, ok, err := filelock.TryLock(path)
	if err != nil || !ok {
		t.Fatalf("first TryLock: ok %v, err %v", ok, err)
	}
	if _, ok, err := filelock.TryLock(path); err != nil || ok {
		t.Fatalf("second TryLock while the first holds it: ok %v, err %v; want refused", ok, err)
	}
	other, ok, err := filelock.TryLock(filepath.Join(dir, "b.lock"))
	if err != nil || !ok {
		t.Fatalf("TryLock on another path: ok %v, err %v", ok, err)
	}
	other()
	release()
	release() // idempotent: it must not release the next holder's lock
	next, ok, err := filelock.TryLock(path)
	if err != nil || !ok {
		t.Fatalf("TryLock after release: ok %v, err %v", ok, err)
	}
	release()
	if _, ok, _ := filelock.TryLock(path); ok {
		t.Fatal("a second call of an old release freed the next holder's lock")
	}
	next()
}
