//go:build unix

package filelock_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/guarantor/guarantor/platform/filelock"
)

// holdEnv, set, makes the test binary a helper process that takes the lock on the path
// it names, says "locked" on stdout and holds the lock until killed (or until its
// standard input ends, so that it does not outlive a test that died).
const holdEnv = "FILELOCK_TEST_HOLD"

func TestMain(m *testing.M) {
	if path := os.Getenv(holdEnv); path != "" {
		os.Exit(hold(path))
	}
	os.Exit(m.Run())
}

func hold(path string) int {
	release, ok, err := filelock.TryLock(path)
	if err != nil || !ok {
		fmt.Fprintf(os.Stderr, "helper: TryLock(%s): ok %v, err %v\n", path, ok, err)
		return 1
	}
	defer release()
	fmt.Fprintln(os.Stdout, "locked")
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// TestTryLockAcrossProcesses: a lock another process holds turns TryLock away, and once
// that process is killed (SIGKILL: it releases nothing itself) the lock is free: the
// kernel dropped it with the process.
func TestTryLockAcrossProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.lock")
	child := exec.Command(os.Args[0])
	child.Env = append(os.Environ(), holdEnv+"="+path)
	child.Stderr = os.Stderr
	stdin, err := child.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = child.Process.Kill()
		_ = child.Wait()
	})
	locked := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		locked <- strings.TrimSpace(line)
	}()
	select {
	case line := <-locked:
		if line != "locked" {
			t.Fatalf("the helper process did not take the lock (it said %q)", line)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the helper process did not take the lock within 30s")
	}

	if _, ok, err := filelock.TryLock(path); err != nil || ok {
		t.Fatalf("TryLock while another process holds the lock: ok %v, err %v; want refused", ok, err)
	}

	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait() // the process is gone, and its open files with it
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
