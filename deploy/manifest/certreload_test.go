package manifest_test

import (
	"context"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/guarantor/guarantor/deploy/manifest"
	"github.com/guarantor/guarantor/platform/testkit/certtest"
	"github.com/guarantor/guarantor/platform/testkit/freeport"
)

// TestNATSReloadsRenewedCertificates: wherever NATS serves TLS, a sidecar tells it to
// reload when the mounted certificate changes. The sidecar must be able to (shared
// process namespace, NATS's user, the pid file and the certificate mounted where its
// environment says), and its script, taken from the build, must work: run against a
// real nats-server, a renewed certificate is served without a restart.
func TestNATSReloadsRenewedCertificates(t *testing.T) {
	checked := 0
	forEachNATS(t, func(t *testing.T, _ target, set manifest.Set, sts *appsv1.StatefulSet, opts *natsserver.Options) {
		reloader, ok := containerNamed(sts.Spec.Template.Spec, "cert-reloader")
		if opts.TLSConfig == nil {
			if ok {
				t.Error("a cert-reloader without TLS to reload")
			}
			return
		}
		checked++
		if !ok {
			t.Fatal("NATS serves TLS but nothing reloads a renewed certificate: no cert-reloader container")
		}
		for _, p := range certReloaderProblems(set, sts, opts, reloader) {
			t.Error(p)
		}
		if t.Failed() {
			return
		}
		script, err := set.MountedFile(sts.Namespace, sts.Spec.Template.Spec, reloader, reloader.Command[len(reloader.Command)-1])
		if err != nil {
			t.Fatal(err)
		}
		runCertReloader(t, script)
	})
	if checked == 0 {
		t.Error("no target serves NATS over TLS: the check checked nothing")
	}
}

func containerNamed(pod corev1.PodSpec, name string) (corev1.Container, bool) {
	for _, c := range pod.Containers {
		if c.Name == name {
			return c, true
		}
	}
	return corev1.Container{}, false
}

// certReloaderProblems lists what keeps the sidecar from reloading this NATS.
func certReloaderProblems(set manifest.Set, sts *appsv1.StatefulSet, opts *natsserver.Options, c corev1.Container) []string {
	var out []string
	pod := sts.Spec.Template.Spec
	if pod.ShareProcessNamespace == nil || !*pod.ShareProcessNamespace {
		out = append(out, "shareProcessNamespace is not true: the sidecar cannot see nats-server")
	}
	if uid, server := runAs(pod, c), runAs(pod, mustContainer(pod, "nats")); uid == nil || server == nil || *uid != *server {
		out = append(out, "the sidecar does not run as NATS's user, so it may not signal it")
	}
	if len(c.Command) == 0 {
		return append(out, "no command")
	}
	env, err := set.ResolveEnv(sts.Namespace, c)
	if err != nil {
		return append(out, err.Error())
	}
	if env["NATS_PID_FILE"].Value != opts.PidFile {
		out = append(out, fmt.Sprintf("NATS_PID_FILE %q, nats.conf's pid_file %q", env["NATS_PID_FILE"].Value, opts.PidFile))
	}
	if env["NATS_TLS_DIR"].Value != natsTLSDir {
		out = append(out, fmt.Sprintf("NATS_TLS_DIR %q, the certificate NATS reads is in %s", env["NATS_TLS_DIR"].Value, natsTLSDir))
	}
	for _, dir := range []string{filepath.Dir(opts.PidFile), natsTLSDir, filepath.Dir(env["ALIVE_FILE"].Value), filepath.Dir(c.Command[len(c.Command)-1])} {
		if !mounted(c, dir) {
			out = append(out, fmt.Sprintf("%s is not mounted into the sidecar", dir))
		}
	}
	if c.ReadinessProbe != nil {
		out = append(out, "a readiness probe: the sidecar's health would take NATS out of its Service")
	}
	if c.LivenessProbe == nil || c.LivenessProbe.Exec == nil || !strings.Contains(strings.Join(c.LivenessProbe.Exec.Command, " "), env["ALIVE_FILE"].Value) {
		out = append(out, "the liveness probe does not look at ALIVE_FILE")
	}
	return out
}

func mustContainer(pod corev1.PodSpec, name string) corev1.Container {
	c, _ := containerNamed(pod, name)
	return c
}

// runAs is the user a container runs as: its own setting, else the pod's.
func runAs(pod corev1.PodSpec, c corev1.Container) *int64 {
	if c.SecurityContext != nil && c.SecurityContext.RunAsUser != nil {
		return c.SecurityContext.RunAsUser
	}
	if pod.SecurityContext != nil {
		return pod.SecurityContext.RunAsUser
	}
	return nil
}

// runCertReloader runs script beside a real nats-server serving TLS, renews the
// certificate on disk and waits for NATS to present the new one.
func runCertReloader(t *testing.T, script string) {
	t.Helper()
	dir := t.TempDir()
	binDir, tlsDir := filepath.Join(dir, "bin"), filepath.Join(dir, "tls")
	for _, d := range []string{binDir, tlsDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	build := exec.Command("go", "build", "-o", filepath.Join(binDir, "nats-server"), "github.com/nats-io/nats-server/v2")
	build.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build nats-server: %v\n%s", err, out)
	}

	ca := certtest.NewCA(t, "internal CA")
	install := func(kp certtest.KeyPair) {
		for name, src := range map[string]string{"tls.crt": kp.CertFile, "tls.key": kp.KeyFile, "ca.crt": ca.File} {
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			// Written beside and renamed, as the kubelet swaps a Secret's files at once.
			tmp := filepath.Join(tlsDir, "."+name)
			if err := os.WriteFile(tmp, b, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, filepath.Join(tlsDir, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	install(ca.Server(t, "127.0.0.1"))

	pidFile, port := filepath.Join(dir, "nats.pid"), freeport.Port(t)
	conf := filepath.Join(dir, "nats.conf")
	body := fmt.Sprintf("listen: 127.0.0.1:%d\npid_file: %q\ntls {\n  cert_file: %q\n  key_file: %q\n}\n",
		port, pidFile, filepath.Join(tlsDir, "tls.crt"), filepath.Join(tlsDir, "tls.key"))
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	server := exec.CommandContext(ctx, filepath.Join(binDir, "nats-server"), "--config", conf)
	var serverOut strings.Builder
	server.Stdout, server.Stderr = &serverOut, &serverOut
	if err := server.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	var sidecar *exec.Cmd
	t.Cleanup(func() {
		cancel()
		for _, c := range []*exec.Cmd{sidecar, server} {
			if c != nil && c.Process != nil {
				_ = c.Wait()
			}
		}
	})

	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	serving := func() *big.Int {
		nc, err := nats.Connect(url, nats.RootCAs(ca.File), nats.Timeout(time.Second))
		if err != nil {
			return nil
		}
		defer nc.Close()
		state, err := nc.TLSConnectionState()
		if err != nil || len(state.PeerCertificates) == 0 {
			return nil
		}
		return state.PeerCertificates[0].SerialNumber
	}
	first := waitSerial(t, serving, func(s *big.Int) bool { return s != nil }, "NATS serving TLS")

	alive := filepath.Join(dir, "alive")
	sidecar = exec.CommandContext(ctx, "/bin/sh", "-c", script)
	sidecar.WaitDelay = time.Second // its sleep may hold the output pipe a moment longer
	sidecar.Env = append(os.Environ(),
		"PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"NATS_TLS_DIR="+tlsDir, "NATS_PID_FILE="+pidFile, "CHECK_INTERVAL=0.2", "ALIVE_FILE="+alive)
	var out strings.Builder
	sidecar.Stdout, sidecar.Stderr = &out, &out
	if err := sidecar.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // its first look at the files

	install(ca.Server(t, "127.0.0.1"))
	renewed := waitSerial(t, serving, func(s *big.Int) bool { return s != nil && s.Cmp(first) != 0 }, "NATS serving the renewed certificate")
	if renewed == nil {
		t.Logf("sidecar output:\n%s", out.String())
		cancel()
		_ = server.Wait()
		t.Fatalf("nats-server output:\n%s", serverOut.String())
	}
	if _, err := os.Stat(alive); err != nil {
		t.Errorf("the sidecar never touched ALIVE_FILE: %v", err)
	}
	if err := server.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("nats-server is gone (%v): a renewal must not need a restart", err)
	}
}

// waitSerial polls serving until ok holds for what it returns, up to 15 s.
func waitSerial(t *testing.T, serving func() *big.Int, ok func(*big.Int) bool, what string) *big.Int {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		s := serving()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Errorf("no %s after 15s", what)
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
}
