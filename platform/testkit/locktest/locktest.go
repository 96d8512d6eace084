// Package locktest runs a child process that holds a file lock (platform/filelock), for
// tests of what a lock held by another process does: the test binary starts itself again
// as the holder. A test package using it calls Main first in its TestMain.
package locktest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/guarantor/guarantor/platform/filelock"
)

// holdEnv, set, makes the test binary the holder of the lock on the path it names.
const holdEnv = "GUARANTOR_LOCKTEST_HOLD"

// Main makes the test binary a lock holder when Hold started it, and returns otherwise.
// The holder takes the lock, writes its pid into the lock file (as a holder that names
// itself does), says "locked" on stdout and holds the lock until killed, or until its
// standard input ends, so that it does not outlive a test that died.
func Main() {
	path := os.Getenv(holdEnv)
	if path == "" {
		return
	}
	release, ok, err := filelock.TryLock(path)
	if err != nil || !ok {
		fmt.Fprintf(os.Stderr, "locktest: lock %s: ok %v, err %v\n", path, ok, err)
		os.Exit(1)
	}
	if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		fmt.Fprintf(os.Stderr, "locktest: write %s: %v\n", path, err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stdout, "locked")
	_, _ = io.Copy(io.Discard, os.Stdin)
	release()
	os.Exit(0)
}

// Hold starts a child process that holds the lock on path, and returns once it does.
// Kill the process to drop the lock (SIGKILL: it releases nothing itself); the test's
// end kills it otherwise.
func Hold(t testing.TB, path string) *os.Process {
	t.Helper()
	// The test's context kills the child at the latest when the test ends.
	child := exec.CommandContext(t.Context(), os.Args[0])
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
			t.Fatalf("locktest: the child process did not take the lock on %s (it said %q)", path, line)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("locktest: the child process did not take the lock on %s within 30s", path)
	}
	return child.Process
}

// Kill kills the holder and waits until it is gone, with its open files: the lock is
// then free.
func Kill(t testing.TB, p *os.Process) {
	t.Helper()
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	// Hold's cleanup waits for the child as well; a second wait only fails.
	_, _ = p.Wait()
}
