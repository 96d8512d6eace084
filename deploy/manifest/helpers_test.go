package manifest_test

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/guarantor/guarantor/deploy/manifest"
)

// target is one kustomization the checks run on.
type target struct {
	name string
	// dir is the kustomization, relative to deploy/k8s (or absolute).
	dir string
	// deployable targets are applied as they are; the base only through an overlay.
	deployable bool
	// externalSecrets are the Secrets the operator creates before applying (not in git).
	externalSecrets []string
}

var (
	baseSecrets = []string{"events-database", "guarantees-database", "guarantor-principal-key", "gateway-api-keys",
		"events-nats", "guarantees-nats", "gateway-nats", "nats-users"}
	// prodSecrets adds the certificates: the gateway's for its clients, and the
	// backend-mtls component's for the gateway and each service.
	prodSecrets = append(append([]string(nil), baseSecrets...), "gateway-tls", "gateway-backend-tls", "events-tls", "guarantees-tls", "nats-tls")
)

// targets lists every kustomization the policy checks cover.
func targets(t testing.TB) []target {
	t.Helper()
	return []target{
		{name: "base", dir: "base", externalSecrets: baseSecrets},
		{name: "dev", dir: "overlays/dev", deployable: true},
		{name: "prod", dir: "overlays/prod", deployable: true, externalSecrets: prodSecrets},
		{name: "prod+observability", dir: observabilityDir(t), deployable: true, externalSecrets: prodSecrets},
	}
}

// observabilityDir is the prod overlay with the optional components/monitoring and
// components/tracing added (testdata/prod-observability), as docs/operations.md says.
func observabilityDir(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("testdata", "prod-observability"))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// targetNamed returns the target named name.
func targetNamed(t testing.TB, name string) target {
	t.Helper()
	for _, tg := range targets(t) {
		if tg.name == name {
			return tg
		}
	}
	t.Fatalf("no target %s", name)
	return target{}
}

// repoRoot is the directory holding go.work, found upwards from the test's directory.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.work above the test directory")
		}
		dir = parent
	}
}

func k8sDir(t testing.TB) string {
	t.Helper()
	return filepath.Join(repoRoot(t), "deploy", "k8s")
}

type built struct {
	set manifest.Set
	err error
}

var (
	buildMu sync.Mutex
	builds  = map[string]*built{}
)

// build builds a target once per test binary (kustomize takes a moment) and fails the
// test if it does not build.
func build(t testing.TB, tg target) manifest.Set {
	t.Helper()
	dir := tg.dir
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(k8sDir(t), dir)
	}
	buildMu.Lock()
	b, ok := builds[dir]
	if !ok {
		objs, _, err := manifest.Build(dir)
		b = &built{set: manifest.Set{Objects: objs}, err: err}
		builds[dir] = b
	}
	buildMu.Unlock()
	if b.err != nil {
		t.Fatalf("%s: %v", tg.name, b.err)
	}
	return b.set
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
