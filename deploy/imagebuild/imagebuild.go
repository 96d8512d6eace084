// Package imagebuild builds Guarantor's container images without a Docker engine: a
// static Go binary (CGO_ENABLED=0) on an empty base, with just enough of a filesystem
// for a non-root process (an /etc/passwd naming user 65532, a CA bundle, /tmp), an
// entrypoint, a non-root user, the exposed ports and OCI labels. The result is the same
// image deploy/docker/<service>.Dockerfile builds on distroless, written as an image
// tarball that `docker load`, `kind load image-archive`, `crane push` and
// `skopeo copy docker-archive:` accept.
package imagebuild

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// User is the uid and gid every Guarantor image runs as ("nonroot" in distroless).
const User = 65532

// Service describes one binary.
type Service struct {
	// Package is the main package, relative to the repository root.
	Package string
	// Ports are the TCP ports the binary listens on by default.
	Ports []int
}

// Services are Guarantor's binaries.
var Services = map[string]Service{
	"events":     {Package: "./services/events/cmd/events", Ports: []int{9091, 9191}},
	"guarantees": {Package: "./services/guarantees/cmd/guarantees", Ports: []int{9092, 9192}},
	"gateway":    {Package: "./services/gateway/cmd/gateway", Ports: []int{9090, 8080, 9190}},
}

// Names lists the services in order.
func Names() []string {
	out := make([]string, 0, len(Services))
	for n := range Services {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Entrypoint is where the binary lives in the image.
func Entrypoint(service string) string { return "/usr/local/bin/" + service }

// BuildBinary compiles a service's static binary for linux/arch into out, with the
// workspace at root (its go.work), whatever GOWORK the caller runs with.
func BuildBinary(ctx context.Context, root, service, arch, out string) error {
	svc, ok := Services[service]
	if !ok {
		return fmt.Errorf("imagebuild: unknown service %q", service)
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags=-s -w -buildid=", "-o", out, svc.Package)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch, "GOWORK="+filepath.Join(root, "go.work"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("imagebuild: go build %s: %w\n%s", svc.Package, err, stderr.String())
	}
	return nil
}

// Options describe one image.
type Options struct {
	Service string
	// Binary is the static executable to ship (see BuildBinary).
	Binary string
	// Arch is the GOARCH the binary was built for.
	Arch string
	// Source, Revision and Version become OCI labels.
	Source   string
	Revision string
	Version  string
	// Created stamps the image and its files; the zero time means the Unix epoch, which
	// keeps images reproducible.
	Created time.Time
	// CABundle, when set, is copied to /etc/ssl/certs/ca-certificates.crt, where Go
	// looks for trusted roots (TLS to a managed PostgreSQL or NATS).
	CABundle string
}

// Image assembles the image.
func Image(o Options) (v1.Image, error) {
	svc, ok := Services[o.Service]
	if !ok {
		return nil, fmt.Errorf("imagebuild: unknown service %q", o.Service)
	}
	if err := checkStatic(o.Binary, o.Arch); err != nil {
		return nil, err
	}
	created := o.Created
	if created.IsZero() {
		created = time.Unix(0, 0).UTC()
	}
	layerTar, err := filesystem(o, created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("imagebuild: layer: %w", err)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: v1.Time{Time: created}, CreatedBy: "deploy/cmd/mkimage " + o.Service, Comment: "static binary, passwd, CA bundle"},
	})
	if err != nil {
		return nil, fmt.Errorf("imagebuild: append layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS = "linux"
	cf.Architecture = o.Arch
	cf.Created = v1.Time{Time: created}
	cf.Config.Entrypoint = []string{Entrypoint(o.Service)}
	cf.Config.Cmd = nil
	cf.Config.User = strconv.Itoa(User) + ":" + strconv.Itoa(User)
	cf.Config.WorkingDir = "/home/nonroot"
	cf.Config.Env = []string{"PATH=/usr/local/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"}
	cf.Config.ExposedPorts = map[string]struct{}{}
	for _, p := range svc.Ports {
		cf.Config.ExposedPorts[strconv.Itoa(p)+"/tcp"] = struct{}{}
	}
	cf.Config.Labels = map[string]string{
		"org.opencontainers.image.title":    "guarantor-" + o.Service,
		"org.opencontainers.image.source":   o.Source,
		"org.opencontainers.image.revision": o.Revision,
		"org.opencontainers.image.version":  o.Version,
		"org.opencontainers.image.created":  created.Format(time.RFC3339),
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("imagebuild: config: %w", err)
	}
	return img, nil
}

// WriteTarball writes img as an image tarball tagged ref (e.g. "guarantor/events:dev").
func WriteTarball(path, ref string, img v1.Image) error {
	tag, err := name.NewTag(ref)
	if err != nil {
		return fmt.Errorf("imagebuild: tag %q: %w", ref, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := tarball.WriteToFile(path, tag, img); err != nil {
		return fmt.Errorf("imagebuild: write %s: %w", path, err)
	}
	return nil
}

// checkStatic refuses anything but a statically linked Linux executable for arch: a
// dynamically linked one would need a loader and libc the image does not have.
func checkStatic(path, arch string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("imagebuild: %s is not a Linux executable: %w", path, err)
	}
	defer func() { _ = f.Close() }()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("imagebuild: %s is dynamically linked; build it with CGO_ENABLED=0", path)
		}
	}
	want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[arch]
	if want == 0 || f.Machine != want {
		return fmt.Errorf("imagebuild: %s is built for %s, not %s", path, f.Machine, arch)
	}
	return nil
}

// filesystem is the image's only layer.
func filesystem(o Options, mtime time.Time) ([]byte, error) {
	bin, err := os.ReadFile(o.Binary)
	if err != nil {
		return nil, err
	}
	var ca []byte
	if o.CABundle != "" {
		if ca, err = os.ReadFile(o.CABundle); err != nil {
			return nil, fmt.Errorf("imagebuild: CA bundle: %w", err)
		}
	}
	passwd := "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group := "root:x:0:\nnonroot:x:65532:\n"
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	entries := []struct {
		name     string
		mode     int64
		uid      int
		data     []byte
		dir      bool
		optional bool
	}{
		{name: "etc/", mode: 0o755, dir: true},
		{name: "etc/passwd", mode: 0o644, data: []byte(passwd)},
		{name: "etc/group", mode: 0o644, data: []byte(group)},
		{name: "etc/ssl/", mode: 0o755, dir: true, optional: ca == nil},
		{name: "etc/ssl/certs/", mode: 0o755, dir: true, optional: ca == nil},
		{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: ca, optional: ca == nil},
		{name: "home/", mode: 0o755, dir: true},
		{name: "home/nonroot/", mode: 0o700, uid: User, dir: true},
		{name: "tmp/", mode: 0o1777, dir: true},
		{name: "usr/", mode: 0o755, dir: true},
		{name: "usr/local/", mode: 0o755, dir: true},
		{name: "usr/local/bin/", mode: 0o755, dir: true},
		{name: "usr/local/bin/" + o.Service, mode: 0o755, data: bin},
	}
	for _, e := range entries {
		if e.optional {
			continue
		}
		hdr := &tar.Header{Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.uid, ModTime: mtime, Format: tar.FormatPAX}
		if e.dir {
			hdr.Typeflag = tar.TypeDir
		} else {
			hdr.Typeflag = tar.TypeReg
			hdr.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if !e.dir {
			if _, err := tw.Write(e.data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ErrNoRoot is returned by FindRoot outside the repository.
var ErrNoRoot = errors.New("imagebuild: no go.work above the working directory")

// FindRoot returns the repository root: the nearest directory above dir holding go.work.
func FindRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", ErrNoRoot
		}
		dir = parent
	}
}
