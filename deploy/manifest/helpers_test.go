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
	baseSecrets = []string{"events-database", "guarantees-database", "guarantor-principal-key", "gateway-api-keys"}
	prodSecrets = append(append([]string(nil), baseSecrets...), "gateway-tls")
)

// targets lists every kustomization the policy checks cover. prod+backend-mtls is the
// production overlay with the component that is not enabled yet, so that it is ready
// when the services serve TLS.
func targets(t testing.TB) []target {
	t.Helper()
	return []target{
		{name: "base", dir: "base", externalSecrets: baseSecrets},
		{name: "dev", dir: "overlays/dev", deployable: true},
		{name: "prod", dir: "overlays/prod", deployable: true, externalSecrets: prodSecrets},
		{name: "prod+backend-mtls", dir: prodWithMTLS(t), deployable: true, externalSecrets: append(append([]string(nil), prodSecrets...), "gateway-backend-tls")},
	}
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

var (
	mtlsOnce sync.Once
	mtlsDir  string
	mtlsErr  error
)

// prodWithMTLS writes a kustomization (outside the repository) that adds the
// backend-mtls component to the prod overlay.
func prodWithMTLS(t testing.TB) string {
	t.Helper()
	mtlsOnce.Do(func() {
		k8s := k8sDir(t)
		mtlsDir, mtlsErr = os.MkdirTemp("", "guarantor-prod-mtls-")
		if mtlsErr != nil {
			return
		}
		// kustomize accepts only relative paths to other kustomizations.
		prod, err := filepath.Rel(mtlsDir, filepath.Join(k8s, "overlays", "prod"))
		if err != nil {
			mtlsErr = err
			return
		}
		mtls, err := filepath.Rel(mtlsDir, filepath.Join(k8s, "components", "backend-mtls"))
		if err != nil {
			mtlsErr = err
			return
		}
		k := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - " + prod +
			"\ncomponents:\n  - " + mtls + "\n"
		mtlsErr = os.WriteFile(filepath.Join(mtlsDir, "kustomization.yaml"), []byte(k), 0o600)
	})
	if mtlsErr != nil {
		t.Fatal(mtlsErr)
	}
	return mtlsDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if mtlsDir != "" {
		_ = os.RemoveAll(mtlsDir)
	}
	os.Exit(code)
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
