package imagebuild_test

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/guarantor/guarantor/deploy/imagebuild"
	"github.com/guarantor/guarantor/deploy/internal/testbuild"
)

func root(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	r, err := imagebuild.FindRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestEventsImage builds the events image as `make images` does, writes the tarball,
// reads it back and inspects what a runtime would see: the entrypoint is the static
// binary, the user is not root, there is no shell or any other program, the labels
// are set; then it runs the binary taken out of the image, directly (no shell).
func TestEventsImage(t *testing.T) {
	bin := testbuild.Binary(t, "events")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(ca, []byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	img, err := imagebuild.Image(imagebuild.Options{
		Service: "events", Binary: bin, Arch: runtime.GOARCH, CABundle: ca,
		Source: "https://github.com/guarantor/guarantor", Revision: "0123abcd", Version: "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "events.tar")
	if err := imagebuild.WriteTarball(path, "guarantor/events:test", img); err != nil {
		t.Fatal(err)
	}
	loaded, err := tarball.ImageFromPath(path, nil)
	if err != nil {
		t.Fatalf("read the tarball back: %v", err)
	}
	cf, err := loaded.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}

	t.Run("config", func(t *testing.T) {
		checks := []struct {
			what      string
			got, want string
		}{
			{"entrypoint", strings.Join(cf.Config.Entrypoint, " "), "/usr/local/bin/events"},
			{"cmd", strings.Join(cf.Config.Cmd, " "), ""},
			{"user", cf.Config.User, "65532:65532"},
			{"os", cf.OS, "linux"},
			{"architecture", cf.Architecture, runtime.GOARCH},
			{"title label", cf.Config.Labels["org.opencontainers.image.title"], "guarantor-events"},
			{"source label", cf.Config.Labels["org.opencontainers.image.source"], "https://github.com/guarantor/guarantor"},
			{"revision label", cf.Config.Labels["org.opencontainers.image.revision"], "0123abcd"},
			{"version label", cf.Config.Labels["org.opencontainers.image.version"], "test"},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
			}
		}
		for _, p := range []string{"9091/tcp", "9191/tcp"} {
			if _, ok := cf.Config.ExposedPorts[p]; !ok {
				t.Errorf("port %s not exposed (have %v)", p, cf.Config.ExposedPorts)
			}
		}
		uid, _, _ := strings.Cut(cf.Config.User, ":")
		if uid == "" || uid == "0" || uid == "root" {
			t.Errorf("runs as %q", cf.Config.User)
		}
	})

	files := listFiles(t, loaded)
	t.Run("filesystem", func(t *testing.T) {
		for _, shell := range []string{"bin/sh", "bin/bash", "bin/ash", "bin/busybox", "usr/bin/env"} {
			if _, ok := files[shell]; ok {
				t.Errorf("the image contains /%s", shell)
			}
		}
		for name, hdr := range files {
			if hdr.Typeflag == tar.TypeReg && hdr.Mode&0o111 != 0 && name != "usr/local/bin/events" {
				t.Errorf("the image contains another executable: /%s", name)
			}
			if hdr.Typeflag == tar.TypeSymlink || hdr.Mode&(04000|02000) != 0 {
				t.Errorf("/%s is a symlink or setuid/setgid", name)
			}
		}
		binHdr, ok := files["usr/local/bin/events"]
		if !ok || binHdr.Mode&0o755 != 0o755 || binHdr.Uid != 0 {
			t.Errorf("the binary is missing, not executable or not root-owned: %+v", binHdr)
		}
		if !strings.Contains(string(files["etc/passwd"].content), "nonroot:x:65532:65532:") {
			t.Error("/etc/passwd does not name user 65532")
		}
		if _, ok := files["etc/ssl/certs/ca-certificates.crt"]; !ok {
			t.Error("no CA bundle")
		}
		if tmp, ok := files["tmp"]; !ok || tmp.Mode&0o1777 != 0o1777 {
			t.Error("no world-writable sticky /tmp")
		}
	})

	t.Run("runs without a shell", func(t *testing.T) {
		exe := filepath.Join(t.TempDir(), "events")
		if err := os.WriteFile(exe, files["usr/local/bin/events"].content, 0o755); err != nil {
			t.Fatal(err)
		}
		// exec.Command runs the file directly, as the container runtime runs the
		// entrypoint: no /bin/sh is involved.
		out, err := exec.CommandContext(ctx, exe, "--help").CombinedOutput()
		if err != nil {
			t.Fatalf("--help: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "usage: events") {
			t.Fatalf("unexpected --help output:\n%s", out)
		}
	})
}

type fileEntry struct {
	*tar.Header
	content []byte
}

// listFiles flattens the image's layers (as a runtime would) and reads every entry.
func listFiles(t *testing.T, img v1.Image) map[string]fileEntry {
	t.Helper()
	rc := mutate.Extract(img)
	defer func() { _ = rc.Close() }()
	tr := tar.NewReader(rc)
	out := map[string]fileEntry{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(strings.TrimPrefix(hdr.Name, "/"), "/")] = fileEntry{Header: hdr, content: data}
	}
	return out
}

// TestImageRefusesDynamicBinaries: a binary that needs a loader cannot run on the empty
// base, so building its image fails.
func TestImageRefusesDynamicBinaries(t *testing.T) {
	cases := []struct {
		name, binary string
	}{
		{"dynamically linked", dynamicExecutable(t)},
		{"not an executable", writeFile(t, "not-elf", "#!/bin/sh\necho hi\n")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.binary == "" {
				t.Skip("no dynamically linked executable on this machine")
			}
			if _, err := imagebuild.Image(imagebuild.Options{Service: "events", Binary: tc.binary, Arch: runtime.GOARCH}); err == nil {
				t.Fatal("built an image")
			}
		})
	}
}

func dynamicExecutable(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/bin/ls", "/usr/bin/ls", "/bin/sh"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}
