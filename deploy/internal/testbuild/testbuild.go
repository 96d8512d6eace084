// Package testbuild builds a service binary for a test, one build at a time on the
// machine: the deploy module's test packages run in parallel and each needs the same
// binary, so the second waits for the first and then builds from Go's cache in seconds
// instead of compiling everything again beside it.
package testbuild

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/guarantor/guarantor/deploy/imagebuild"
)

// Binary builds the service's static linux binary for this machine's architecture into
// a temporary directory and returns its path. Tests on other systems are skipped.
func Binary(t testing.TB, service string) string {
	t.Helper()
	if runtime.GOOS != "linux" || (runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64") {
		t.Skipf("builds and runs linux binaries; this is %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := imagebuild.FindRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "guarantor-deploy-testbuild.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lock.Close() }()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) }()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), service)
	start := time.Now()
	if err := imagebuild.BuildBinary(ctx, root, service, runtime.GOARCH, bin); err != nil {
		t.Fatal(err)
	}
	t.Logf("built %s in %s", service, time.Since(start).Round(time.Second))
	return bin
}
