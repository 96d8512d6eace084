package manifest_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/guarantor/guarantor/deploy/manifest"
	"github.com/guarantor/guarantor/platform/grpcserver"
	"github.com/guarantor/guarantor/services/events"
)

// TestClientsOutwaitNATSStartup: a Guarantor server opens its health port (the one
// every probe asks) only after it has migrated its database, connected to NATS (natsx.
// Connect retries until NATS takes it) and created its stream: service.New does all of
// that, and only Run listens; the gateway likewise connects to NATS in New. So a pod
// started while NATS is not yet ready (the NATS Service has no ready endpoint until a
// node's startup probe passes) spends that time with no health port, and its startup
// probe kills it when its budget runs out. The NATS StatefulSet itself allows a node
// 15 minutes to start ("Catching up a large stream after a restart can take minutes"),
// and the clients' startup probes must allow as much: they gave the gateway 2 minutes
// and the services 5, so after a restart of the whole NATS cluster (a power loss, the
// case sync_interval: always is there for) the clients went into CrashLoopBackOff
// instead of waiting, and came back only at a later back-off retry.
func TestClientsOutwaitNATSStartup(t *testing.T) {
	// 1. The health port does not exist while the service waits for NATS.
	dir := t.TempDir()
	key := filepath.Join(dir, "principal.key")
	if err := os.WriteFile(key, []byte(strings.Repeat("k", 48)), 0o600); err != nil {
		t.Fatal(err)
	}
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close() // nothing listens here: NATS not ready
	healthLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	healthAddr := healthLis.Addr().String()
	healthLis.Close()
	cfg := events.Defaults
	cfg.GRPC = grpcserver.Config{Listen: "127.0.0.1:0", HealthListen: healthAddr}
	cfg.StoreDSN = "sqlite://" + filepath.Join(dir, "events.db")
	cfg.NATSURL = "nats://" + deadAddr
	cfg.PrincipalKeyFile = key
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	type result struct {
		err error
	}
	res := make(chan result, 1)
	start := time.Now()
	go func() {
		s, err := events.New(ctx, cfg, nil)
		if s != nil {
			s.Close()
		}
		res <- result{err}
	}()
	probed, answered := 0, 0
	var r result
wait:
	for {
		select {
		case r = <-res:
			break wait
		case <-time.After(250 * time.Millisecond):
			probed++
			if c, err := net.DialTimeout("tcp", healthAddr, 200*time.Millisecond); err == nil {
				answered++
				c.Close()
			}
		}
	}
	t.Logf("events.New returned after %s: %v; the health port answered %d of %d probes meanwhile",
		time.Since(start).Round(100*time.Millisecond), r.err, answered, probed)
	if r.err == nil || !strings.Contains(r.err.Error(), "natsx") || answered != 0 {
		t.Fatalf("expected the service to wait for NATS without a health port; err %v, health port answered %d times", r.err, answered)
	}

	// 2. The budgets the manifests give.
	budget := func(p *corev1.Probe) time.Duration {
		if p == nil {
			return 0
		}
		period, failures := p.PeriodSeconds, p.FailureThreshold
		if period == 0 {
			period = 10
		}
		if failures == 0 {
			failures = 3
		}
		return time.Duration(p.InitialDelaySeconds+period*failures) * time.Second
	}
	for _, tg := range targets(t) {
		if !tg.deployable {
			continue
		}
		t.Run(tg.name, func(t *testing.T) {
			set := build(t, tg)
			nats := natsServer(t, natsStatefulSet(t, set).Spec.Template.Spec)
			natsBudget := budget(nats.StartupProbe)
			for _, w := range set.Workloads() {
				if w.Kind != "Deployment" {
					continue
				}
				for _, c := range w.Pod.Spec.Containers {
					bin, ok := manifest.Binary(c.Image)
					if !ok {
						continue
					}
					if b := budget(c.StartupProbe); b < natsBudget {
						t.Errorf("%s: its startup probe kills it after %s without a health port, while NATS, which it must reach first, "+
							"is allowed %s to start: a %s pod started during a NATS (re)start crash-loops", w.Name, b, natsBudget, bin)
					}
				}
			}
		})
	}
}
