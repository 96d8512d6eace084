package manifest_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"

	"github.com/guarantor/guarantor/deploy/manifest"
)

// roots are the kustomizations in git; everything else is reached from them.
var roots = []string{"base", "overlays/dev", "overlays/prod", "components/backend-mtls", "components/monitoring", "components/tracing"}

// walker follows the kustomization graph and decodes every file it references.
type walker struct {
	t          *testing.T
	k8s        string
	visited    map[string]bool
	referenced map[string]bool
}

func (w *walker) kustomization(dir string) {
	w.t.Helper()
	if w.visited[dir] {
		return
	}
	w.visited[dir] = true
	rel, _ := filepath.Rel(w.k8s, dir)
	w.t.Run(filepath.Join(rel, "kustomization.yaml"), func(t *testing.T) {
		k, err := manifest.ReadKustomization(dir)
		if err != nil {
			t.Fatal(err)
		}
		w.referenced[filepath.Join(dir, "kustomization.yaml")] = true
		for _, r := range k.Resources {
			w.resource(dir, r)
		}
		for _, c := range k.Components {
			w.kustomization(filepath.Join(dir, c))
		}
		for _, p := range k.Patches {
			w.patch(t, dir, p)
		}
		for _, g := range k.ConfigMapGenerator {
			w.generatorFiles(dir, g.GeneratorArgs)
		}
		for _, g := range k.SecretGenerator {
			w.generatorFiles(dir, g.GeneratorArgs)
		}
	})
}

func (w *walker) resource(dir, r string) {
	w.t.Helper()
	p := filepath.Join(dir, r)
	st, err := os.Stat(p)
	if err != nil {
		w.t.Errorf("%s: resource %s: %v", dir, r, err)
		return
	}
	if st.IsDir() {
		w.kustomization(p)
		return
	}
	w.referenced[p] = true
	rel, _ := filepath.Rel(w.k8s, p)
	w.t.Run(rel, func(t *testing.T) {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := manifest.Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		if len(objs) == 0 {
			t.Fatal("no object in the file")
		}
	})
}

func (w *walker) patch(t *testing.T, dir string, p types.Patch) {
	t.Helper()
	data := []byte(p.Patch)
	name := "inline patch"
	if p.Path != "" {
		file := filepath.Join(dir, p.Path)
		w.referenced[file] = true
		name, _ = filepath.Rel(w.k8s, file)
		var err error
		if data, err = os.ReadFile(file); err != nil {
			t.Errorf("patch %s: %v", p.Path, err)
			return
		}
	}
	t.Run(name, func(t *testing.T) {
		if manifest.IsJSONPatch(data) {
			if p.Target == nil {
				t.Fatal("a JSON 6902 patch needs a target")
			}
			if _, err := manifest.DecodeJSONPatch(data); err != nil {
				t.Fatal(err)
			}
			return
		}
		// A strategic-merge patch is a partial object: it must still decode strictly.
		if _, err := manifest.Decode(data); err != nil {
			t.Fatal(err)
		}
	})
}

// generatorFiles records a generator's input files and checks the ones with a known
// format.
func (w *walker) generatorFiles(dir string, g types.GeneratorArgs) {
	w.t.Helper()
	for _, src := range g.FileSources {
		_, file, found := strings.Cut(src, "=")
		if !found {
			file = src
		}
		p := filepath.Join(dir, file)
		w.referenced[p] = true
		if filepath.Base(p) == "keys.yaml" {
			w.t.Run(filepath.Join(filepath.Base(dir), file), func(t *testing.T) { checkKeysFile(t, p) })
		}
	}
}

// keysFile mirrors the gateway's keys file (services/gateway/internal/auth.KeyFile),
// which the gateway also decodes with unknown fields refused.
type keysFile struct {
	Keys []struct {
		ID           string   `json:"id"`
		SHA256       string   `json:"sha256"`
		Role         string   `json:"role"`
		Entitlements []string `json:"entitlements,omitempty"`
		Disabled     bool     `json:"disabled,omitempty"`
	} `json:"keys"`
}

func checkKeysFile(t *testing.T, p string) {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var f keysFile
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Keys) == 0 {
		t.Fatal("no keys")
	}
	for _, k := range f.Keys {
		if len(k.SHA256) != 64 || strings.Trim(k.SHA256, "0123456789abcdef") != "" {
			t.Errorf("key %s: sha256 %q is not 64 lower-case hex digits", k.ID, k.SHA256)
		}
		if !contains([]string{"viewer", "editor", "admin"}, k.Role) {
			t.Errorf("key %s: role %q", k.ID, k.Role)
		}
	}
}

// TestSourceManifestsDecodeStrictly decodes every file the kustomizations reference into
// the Kubernetes API types with unknown fields refused, and fails on a YAML file under
// deploy/k8s that no kustomization uses (it would be neither deployed nor checked).
func TestSourceManifestsDecodeStrictly(t *testing.T) {
	k8s := k8sDir(t)
	w := &walker{t: t, k8s: k8s, visited: map[string]bool{}, referenced: map[string]bool{}}
	for _, r := range roots {
		w.kustomization(filepath.Join(k8s, r))
	}
	err := filepath.WalkDir(k8s, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if strings.HasSuffix(p, ".yaml") && !w.referenced[p] {
			rel, _ := filepath.Rel(k8s, p)
			t.Errorf("%s is referenced by no kustomization", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestBuildsDecodeStrictly runs `kustomize build` in-process on every target and decodes
// the output strictly; every namespaced object must land in the guarantor namespace.
func TestBuildsDecodeStrictly(t *testing.T) {
	for _, tg := range targets(t) {
		t.Run(tg.name, func(t *testing.T) {
			set := build(t, tg)
			if len(set.Objects) < 20 {
				t.Fatalf("only %d objects", len(set.Objects))
			}
			for _, o := range set.Objects {
				if o.Kind == "Namespace" {
					continue
				}
				if o.Namespace != "guarantor" {
					t.Errorf("%s is in namespace %q, want guarantor", o.ID(), o.Namespace)
				}
			}
		})
	}
}

// TestDecodeRejects shows the strict decoding fails where kubectl would.
func TestDecodeRejects(t *testing.T) {
	cases := []struct {
		name string
		doc  string
	}{
		{"unknown field", "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {selectr: {a: b}}\n"},
		{"misplaced field", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  template:\n    spec:\n      containers: [{name: c, image: i, readOnlyRootFilesystem: true}]\n"},
		{"duplicate field", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: b}\ndata: {c: d}\n"},
		{"wrong type", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: two}\n"},
		{"unknown kind", "apiVersion: v1\nkind: Servic\nmetadata: {name: x}\n"},
		{"wrong version", "apiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nmetadata: {name: x}\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := manifest.Decode([]byte(tc.doc)); err == nil {
				t.Fatal("decoded without error")
			}
		})
	}
}
