//go:build unix

package sqldb_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestTryLockIsAFileLock: the lock is an flock(2) on a file beside the database, which is
// what another process (an operator's redrive, say) meets.
func TestTryLockIsAFileLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "svc.db")
	db := openPlatform(t, path)
	release, ok, err := db.TryLock("relay-S")
	if err != nil || !ok {
		t.Fatalf("TryLock: ok %v, err %v", ok, err)
	}
	f, err := os.Open(path + ".relay-S.lock")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
		t.Fatal("flock of the lock file succeeded while the lock was held")
	}
	release()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatalf("flock after release: %v", err)
	}
	if _, ok, _ := db.TryLock("relay-S"); ok {
		t.Fatal("TryLock succeeded while another open file held the flock")
	}
}
