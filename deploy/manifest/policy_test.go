package manifest_test

import (
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/guarantor/guarantor/deploy/manifest"
	"github.com/guarantor/guarantor/platform/testkit/certtest"
	"github.com/guarantor/guarantor/platform/testkit/natstest"
)

// forEachContainer runs check on every container (init containers included) of every
// workload of every target.
func forEachContainer(t *testing.T, check func(t *testing.T, set manifest.Set, w manifest.Workload, c corev1.Container)) {
	for _, tg := range targets(t) {
		t.Run(tg.name, func(t *testing.T) {
			set := build(t, tg)
			for _, w := range set.Workloads() {
				all := append(append([]corev1.Container(nil), w.Pod.Spec.InitContainers...), w.Pod.Spec.Containers...)
				for _, c := range all {
					t.Run(w.Kind+"/"+w.Name+"/"+c.Name, func(t *testing.T) { check(t, set, w, c) })
				}
			}
		})
	}
}

// TestContainersAreHardened: non-root, read-only root filesystem, no privilege
// escalation, every capability dropped, RuntimeDefault seccomp, and requests and limits
// for CPU and memory (what the namespace's "restricted" Pod Security Standard demands,
// and more).
func TestContainersAreHardened(t *testing.T) {
	forEachContainer(t, func(t *testing.T, _ manifest.Set, w manifest.Workload, c corev1.Container) {
		for _, problem := range hardeningProblems(w.Pod.Spec, c) {
			t.Error(problem)
		}
	})
}

// hardeningProblems lists what is wrong with a container's security and resources.
func hardeningProblems(pod corev1.PodSpec, c corev1.Container) []string {
	var out []string
	psc := pod.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	sc := c.SecurityContext
	if sc == nil {
		return []string{"no securityContext"}
	}
	nonRoot := (sc.RunAsNonRoot != nil && *sc.RunAsNonRoot) || (sc.RunAsNonRoot == nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot)
	if !nonRoot {
		out = append(out, "runAsNonRoot is not true")
	}
	uid := sc.RunAsUser
	if uid == nil {
		uid = psc.RunAsUser
	}
	if uid == nil || *uid == 0 {
		out = append(out, "runAsUser is unset or 0: the image's user would decide")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		out = append(out, "readOnlyRootFilesystem is not true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		out = append(out, "allowPrivilegeEscalation is not false")
	}
	if sc.Privileged != nil && *sc.Privileged {
		out = append(out, "privileged")
	}
	if sc.Capabilities == nil || !containsCap(sc.Capabilities.Drop, "ALL") {
		out = append(out, "capabilities do not drop ALL")
	} else if len(sc.Capabilities.Add) > 0 {
		out = append(out, fmt.Sprintf("capabilities add %v", sc.Capabilities.Add))
	}
	seccomp := sc.SeccompProfile
	if seccomp == nil {
		seccomp = psc.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		out = append(out, "seccompProfile is not RuntimeDefault")
	}
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		out = append(out, "uses a host namespace")
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		out = append(out, "automountServiceAccountToken is not false on the pod")
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, hasReq := c.Resources.Requests[r]
		lim, hasLim := c.Resources.Limits[r]
		switch {
		case !hasLim:
			out = append(out, fmt.Sprintf("no %s limit", r))
		case !hasReq:
			out = append(out, fmt.Sprintf("no %s request", r))
		case req.Cmp(lim) > 0:
			out = append(out, fmt.Sprintf("%s request %s above its limit %s", r, req.String(), lim.String()))
		}
	}
	for _, e := range c.Env {
		if e.Name == "GOMEMLIMIT" {
			lim := c.Resources.Limits[corev1.ResourceMemory]
			if !goMemLimitBelow(e.Value, lim) {
				out = append(out, fmt.Sprintf("GOMEMLIMIT %s is not below the memory limit %s", e.Value, lim.String()))
			}
		}
	}
	return out
}

func containsCap(caps []corev1.Capability, c corev1.Capability) bool {
	for _, v := range caps {
		if v == c {
			return true
		}
	}
	return false
}

// goMemLimitBelow reads GOMEMLIMIT's "450MiB" form.
func goMemLimitBelow(v string, limit resource.Quantity) bool {
	units := []struct {
		suffix string
		mul    int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	for _, u := range units {
		if n, ok := strings.CutSuffix(v, u.suffix); ok {
			x, err := strconv.ParseInt(n, 10, 64)
			return err == nil && x*u.mul < limit.Value()
		}
	}
	return false
}

// TestHardeningCheckFails feeds the check a container missing each setting in turn.
func TestHardeningCheckFails(t *testing.T) {
	yes, no, uid := true, false, int64(65532)
	good := func() (corev1.PodSpec, corev1.Container) {
		c := corev1.Container{
			Name: "c",
			SecurityContext: &corev1.SecurityContext{
				RunAsNonRoot: &yes, RunAsUser: &uid, ReadOnlyRootFilesystem: &yes, AllowPrivilegeEscalation: &no,
				Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("128Mi")},
			},
		}
		return corev1.PodSpec{AutomountServiceAccountToken: &no}, c
	}
	if p, c := good(); len(hardeningProblems(p, c)) != 0 {
		t.Fatalf("the good container has problems: %v", hardeningProblems(p, c))
	}
	cases := []struct {
		name   string
		mutate func(p *corev1.PodSpec, c *corev1.Container)
	}{
		{"root allowed", func(_ *corev1.PodSpec, c *corev1.Container) { c.SecurityContext.RunAsNonRoot = nil }},
		{"uid 0", func(_ *corev1.PodSpec, c *corev1.Container) { c.SecurityContext.RunAsUser = new(int64) }},
		{"writable root", func(_ *corev1.PodSpec, c *corev1.Container) { c.SecurityContext.ReadOnlyRootFilesystem = &no }},
		{"escalation", func(_ *corev1.PodSpec, c *corev1.Container) { c.SecurityContext.AllowPrivilegeEscalation = nil }},
		{"capabilities kept", func(_ *corev1.PodSpec, c *corev1.Container) { c.SecurityContext.Capabilities = nil }},
		{"capability added", func(_ *corev1.PodSpec, c *corev1.Container) {
			c.SecurityContext.Capabilities.Add = []corev1.Capability{"NET_ADMIN"}
		}},
		{"no seccomp", func(_ *corev1.PodSpec, c *corev1.Container) { c.SecurityContext.SeccompProfile = nil }},
		{"no memory limit", func(_ *corev1.PodSpec, c *corev1.Container) { delete(c.Resources.Limits, corev1.ResourceMemory) }},
		{"no cpu request", func(_ *corev1.PodSpec, c *corev1.Container) { delete(c.Resources.Requests, corev1.ResourceCPU) }},
		{"GOMEMLIMIT too high", func(_ *corev1.PodSpec, c *corev1.Container) {
			c.Env = []corev1.EnvVar{{Name: "GOMEMLIMIT", Value: "200MiB"}}
		}},
		{"host network", func(p *corev1.PodSpec, _ *corev1.Container) { p.HostNetwork = true }},
		{"token mounted", func(p *corev1.PodSpec, _ *corev1.Container) { p.AutomountServiceAccountToken = nil }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, c := good()
			tc.mutate(&p, &c)
			if len(hardeningProblems(p, c)) == 0 {
				t.Fatal("no problem found")
			}
		})
	}
}

// TestLongRunningContainersHaveProbes: every container of a Deployment or StatefulSet has
// a liveness probe, a readiness probe if it declares a port, and probes only on ports it
// declares.
func TestLongRunningContainersHaveProbes(t *testing.T) {
	forEachContainer(t, func(t *testing.T, _ manifest.Set, w manifest.Workload, c corev1.Container) {
		if !w.LongRunning {
			return
		}
		for name, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe} {
			if p == nil {
				// A container that serves nothing (a sidecar) has no readiness probe:
				// its health must not take the pod out of its Services.
				if name == "liveness" || (name == "readiness" && len(c.Ports) > 0) {
					t.Errorf("no %s probe", name)
				}
				continue
			}
			if port, ok := probePort(p); ok && !declaresPort(c, port) {
				t.Errorf("%s probe targets port %s, which the container does not declare", name, port.String())
			}
		}
	})
}

func probePort(p *corev1.Probe) (intstr.IntOrString, bool) {
	switch {
	case p.GRPC != nil:
		return intstr.FromInt32(p.GRPC.Port), true
	case p.HTTPGet != nil:
		return p.HTTPGet.Port, true
	case p.TCPSocket != nil:
		return p.TCPSocket.Port, true
	}
	return intstr.IntOrString{}, false
}

func declaresPort(c corev1.Container, port intstr.IntOrString) bool {
	for _, p := range c.Ports {
		if (port.Type == intstr.String && p.Name == port.StrVal) || (port.Type == intstr.Int && p.ContainerPort == port.IntVal) {
			return true
		}
	}
	return false
}

// TestServicesSelectPodsAndPorts: every Service selects the pods of some Deployment or
// StatefulSet (and no job's), and every target port is one those pods declare.
func TestServicesSelectPodsAndPorts(t *testing.T) {
	for _, tg := range targets(t) {
		t.Run(tg.name, func(t *testing.T) {
			set := build(t, tg)
			for _, o := range set.OfKind("Service") {
				t.Run(o.Name, func(t *testing.T) {
					for _, problem := range serviceProblems(set, o) {
						t.Error(problem)
					}
				})
			}
		})
	}
}

func serviceProblems(set manifest.Set, o manifest.Object) []string {
	svc := o.Obj.(*corev1.Service)
	var out []string
	var matched []manifest.Workload
	for _, w := range set.Workloads() {
		if w.Namespace == o.Namespace && manifest.LabelsMatch(svc.Spec.Selector, w.Pod.Labels) {
			if !w.LongRunning {
				out = append(out, fmt.Sprintf("selects the pods of %s", w.ID()))
				continue
			}
			matched = append(matched, w)
		}
	}
	if len(matched) == 0 {
		return append(out, fmt.Sprintf("selector %v matches no pods", svc.Spec.Selector))
	}
	for _, sp := range svc.Spec.Ports {
		target := sp.TargetPort
		if target.Type == intstr.Int && target.IntVal == 0 {
			target = intstr.FromInt32(sp.Port)
		}
		for _, w := range matched {
			name, num := "", int32(0)
			if target.Type == intstr.String {
				name = target.StrVal
			} else {
				num = target.IntVal
			}
			cp, ok := manifest.ContainerPort(&w.Pod.Spec, name, num)
			if !ok {
				out = append(out, fmt.Sprintf("port %s targets %s, which %s does not declare", sp.Name, target.String(), w.ID()))
				continue
			}
			proto := sp.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			if cp.Protocol != "" && cp.Protocol != proto {
				out = append(out, fmt.Sprintf("port %s is %s, the container port %s", sp.Name, proto, cp.Protocol))
			}
		}
	}
	return out
}

// TestServiceCheckFails: a Service with a typo in its selector or its target port.
func TestServiceCheckFails(t *testing.T) {
	set := build(t, targetNamed(t, "dev"))
	cases := []struct {
		name   string
		modify func(s *corev1.Service)
	}{
		{"selector typo", func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app.kubernetes.io/name": "event"} }},
		{"undeclared named port", func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromString("grcp") }},
		{"undeclared port number", func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromInt32(9999) }},
		{"selects a job", func(s *corev1.Service) {
			s.Spec.Selector = map[string]string{"app.kubernetes.io/name": "events", "app.kubernetes.io/component": "redrive"}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o, ok := set.Get("Service", "guarantor", "events")
			if !ok {
				t.Fatal("no events Service")
			}
			svc := o.Obj.(*corev1.Service).DeepCopy()
			tc.modify(svc)
			o.Obj = svc
			if len(serviceProblems(set, o)) == 0 {
				t.Fatal("no problem found")
			}
		})
	}
}

// TestReferencedObjectsExist: every ConfigMap, Secret and ServiceAccount a pod uses is in
// the build, or is a Secret the operator creates (listed, and named in
// docs/operations.md).
func TestReferencedObjectsExist(t *testing.T) {
	ops, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range targets(t) {
		t.Run(tg.name, func(t *testing.T) {
			set := build(t, tg)
			for _, s := range tg.externalSecrets {
				if !strings.Contains(string(ops), "`"+s+"`") {
					t.Errorf("docs/operations.md does not name the Secret `%s` the operator must create", s)
				}
			}
			for _, w := range set.Workloads() {
				for _, ref := range podReferences(w.Pod.Spec) {
					if _, ok := set.Get(ref.kind, w.Namespace, ref.name); ok {
						continue
					}
					if ref.kind == "Secret" && contains(tg.externalSecrets, ref.name) {
						continue
					}
					t.Errorf("%s uses %s %q, which is neither in the build nor an operator-made Secret", w.ID(), ref.kind, ref.name)
				}
			}
		})
	}
}

type objectRef struct{ kind, name string }

func podReferences(pod corev1.PodSpec) []objectRef {
	var out []objectRef
	if pod.ServiceAccountName != "" {
		out = append(out, objectRef{"ServiceAccount", pod.ServiceAccountName})
	}
	for _, v := range pod.Volumes {
		switch {
		case v.Secret != nil:
			out = append(out, objectRef{"Secret", v.Secret.SecretName})
		case v.ConfigMap != nil:
			out = append(out, objectRef{"ConfigMap", v.ConfigMap.Name})
		}
	}
	for _, c := range append(append([]corev1.Container(nil), pod.InitContainers...), pod.Containers...) {
		for _, ef := range c.EnvFrom {
			if ef.ConfigMapRef != nil {
				out = append(out, objectRef{"ConfigMap", ef.ConfigMapRef.Name})
			}
			if ef.SecretRef != nil {
				out = append(out, objectRef{"Secret", ef.SecretRef.Name})
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom == nil {
				continue
			}
			if r := e.ValueFrom.SecretKeyRef; r != nil {
				out = append(out, objectRef{"Secret", r.Name})
			}
			if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
				out = append(out, objectRef{"ConfigMap", r.Name})
			}
		}
	}
	return out
}

// TestAvailability: replicas, disruption budgets, topology spread and the gateway's HPA.
// dev runs one of everything; prod at least two of each service and three NATS nodes.
func TestAvailability(t *testing.T) {
	for _, tg := range targets(t) {
		t.Run(tg.name, func(t *testing.T) {
			set := build(t, tg)
			for _, w := range set.Workloads() {
				if !w.LongRunning {
					continue
				}
				t.Run(w.Kind+"/"+w.Name, func(t *testing.T) {
					min := set.MinReplicas(w)
					switch {
					case tg.name == "dev" && min != 1:
						t.Errorf("dev runs %d replicas, want 1", min)
					case strings.HasPrefix(tg.name, "prod") && w.Name == "nats" && w.Replicas != 3:
						t.Errorf("prod runs %d NATS nodes, want 3", w.Replicas)
					case strings.HasPrefix(tg.name, "prod") && w.Name != "postgres" && min < 2:
						t.Errorf("prod runs %d replicas, want at least 2", min)
					}
					if w.Name == "postgres" {
						return // dev only, one instance
					}
					if n := pdbsFor(set, w); n != 1 {
						t.Errorf("%d PodDisruptionBudgets select the pods, want 1", n)
					}
					if len(w.Pod.Spec.TopologySpreadConstraints) == 0 {
						t.Error("no topologySpreadConstraints")
					}
					for _, c := range w.Pod.Spec.TopologySpreadConstraints {
						if c.LabelSelector == nil || !manifest.LabelsMatch(c.LabelSelector.MatchLabels, w.Pod.Labels) {
							t.Errorf("topology spread over %s does not select the workload's own pods", c.TopologyKey)
						}
					}
				})
			}
			hpas := set.OfKind("HorizontalPodAutoscaler")
			if len(hpas) != 1 {
				t.Fatalf("%d HPAs, want 1 (the gateway's)", len(hpas))
			}
			h := hpas[0].Obj.(*autoscalingv2.HorizontalPodAutoscaler)
			d, ok := set.Get(h.Spec.ScaleTargetRef.Kind, hpas[0].Namespace, h.Spec.ScaleTargetRef.Name)
			if !ok || d.Name != "gateway" {
				t.Fatalf("the HPA scales %s/%s, want the gateway Deployment", h.Spec.ScaleTargetRef.Kind, h.Spec.ScaleTargetRef.Name)
			}
			if dep := d.Obj.(*appsv1.Deployment); dep.Spec.Replicas != nil {
				t.Error("the gateway Deployment sets replicas: every apply would reset what the HPA chose")
			}
		})
	}
}

func pdbsFor(set manifest.Set, w manifest.Workload) int {
	n := 0
	for _, o := range set.OfKind("PodDisruptionBudget") {
		pdb := o.Obj.(*policyv1.PodDisruptionBudget)
		if o.Namespace == w.Namespace && pdb.Spec.Selector != nil && manifest.LabelsMatch(pdb.Spec.Selector.MatchLabels, w.Pod.Labels) {
			n++
		}
	}
	return n
}

// TestNATSConfiguration parses each nats.conf with nats-server's own parser: JetStream
// on, every write fsynced before its ack, the listeners on the declared ports, the store
// on the volume; a multi-node StatefulSet has a cluster whose routes name exactly its
// pods through its headless service, one node has none; lame-duck mode ends before the
// kubelet kills the pod; no stream asks for more replicas than there are nodes.
func TestNATSConfiguration(t *testing.T) {
	forEachNATS(t, func(t *testing.T, tg target, set manifest.Set, sts *appsv1.StatefulSet, opts *natsserver.Options) {
		pod := sts.Spec.Template.Spec
		nodes := int(*sts.Spec.Replicas)
		if len(opts.Nkeys) < 4 || opts.NoAuthUser != "" || len(opts.Users) > 0 {
			t.Errorf("NATS users: %d nkeys, %d passwords, no_auth_user %q; want the nkey users of auth.conf and no other way in",
				len(opts.Nkeys), len(opts.Users), opts.NoAuthUser)
		}
		if !opts.JetStream || !opts.SyncAlways {
			t.Errorf("JetStream %v, sync_interval always %v: want both", opts.JetStream, opts.SyncAlways)
		}
		if tg.name == "prod" && opts.TLSConfig == nil {
			t.Error("prod NATS serves its clients without TLS")
		}
		if tg.name == "prod" && (opts.Cluster.TLSConfig == nil || opts.Cluster.TLSConfig.ClientAuth != tls.RequireAndVerifyClientCert) {
			t.Error("prod NATS nodes route to each other without mutual TLS")
		}
		for _, p := range natsClientTLSProblems(t, set, opts.TLSConfig != nil) {
			t.Error(p)
		}
		for name, port := range map[string]int{"client": opts.Port, "monitor": opts.HTTPPort} {
			if got := containerPortNamed(pod, name); int(got) != port {
				t.Errorf("nats.conf listens for %s on %d, the container declares %d", name, port, got)
			}
		}
		if !mounted(natsServer(t, pod), opts.StoreDir) {
			t.Errorf("store_dir %s is not a mounted volume", opts.StoreDir)
		}
		if !mounted(natsServer(t, pod), filepath.Dir(opts.PidFile)) {
			t.Errorf("pid_file %s is not on a mounted volume (the root filesystem is read-only)", opts.PidFile)
		}
		if tgp := time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second; opts.LameDuckDuration+opts.LameDuckGracePeriod >= tgp {
			t.Errorf("lame duck takes %s, the pod is killed after %s", opts.LameDuckDuration+opts.LameDuckGracePeriod, tgp)
		}
		if nodes == 1 {
			if opts.Cluster.Port != 0 || len(opts.Routes) > 0 {
				t.Error("one NATS node with a cluster block: JetStream would wait for peers that never come")
			}
		} else {
			clusterPort := containerPortNamed(pod, "cluster")
			if opts.Cluster.Name == "" || opts.Cluster.Port != int(clusterPort) {
				t.Errorf("cluster %q on port %d, want a named cluster on the declared port %d", opts.Cluster.Name, opts.Cluster.Port, clusterPort)
			}
			want := map[string]bool{}
			for i := range nodes {
				want[fmt.Sprintf("%s-%d.%s:%d", sts.Name, i, sts.Spec.ServiceName, clusterPort)] = true
			}
			got := map[string]bool{}
			for _, r := range opts.Routes {
				got[r.Host] = true
				if !want[r.Host] {
					t.Errorf("route %s names no pod of %s through %s", r, sts.Name, sts.Spec.ServiceName)
				}
			}
			if len(got) != nodes {
				t.Errorf("%d distinct routes for %d nodes", len(got), nodes)
			}
			if _, ok := set.Get("Service", "guarantor", sts.Spec.ServiceName); !ok {
				t.Errorf("the StatefulSet's service %s is not in the build", sts.Spec.ServiceName)
			}
		}
		for _, w := range set.Workloads() {
			for _, c := range w.Pod.Spec.Containers {
				env, err := set.ResolveEnv(w.Namespace, c)
				if err != nil {
					t.Fatal(err)
				}
				v, ok := manifest.FlagValue(c.Args, env, "stream-replicas", "GUARANTOR_STREAM_REPLICAS")
				if !ok {
					continue
				}
				n, err := strconv.Atoi(v)
				switch {
				case err != nil:
					t.Errorf("%s: stream replicas %q", w.ID(), v)
				case n > nodes:
					t.Errorf("%s: streams with %d replicas on %d NATS nodes cannot be created", w.ID(), n, nodes)
				case strings.HasPrefix(tg.name, "prod") && n != 3:
					t.Errorf("%s: prod streams have %d replicas, want 3", w.ID(), n)
				}
			}
		}
	})
}

// natsStatefulSet is the build's NATS cluster.
func natsStatefulSet(t *testing.T, set manifest.Set) *appsv1.StatefulSet {
	t.Helper()
	o, ok := set.Get("StatefulSet", "guarantor", "nats")
	if !ok {
		t.Fatal("no nats StatefulSet")
	}
	return o.Obj.(*appsv1.StatefulSet)
}

// natsServer is the container of the nats StatefulSet's pod that runs nats-server (the
// pod has sidecars in some overlays).
func natsServer(t *testing.T, pod corev1.PodSpec) corev1.Container {
	t.Helper()
	for _, c := range pod.Containers {
		if c.Name == "nats" {
			return c
		}
	}
	t.Fatal("the nats pod has no container named nats")
	return corev1.Container{}
}

func mounted(c corev1.Container, dir string) bool {
	for _, m := range c.VolumeMounts {
		if filepath.Clean(m.MountPath) == filepath.Clean(dir) {
			return true
		}
	}
	return false
}

// natsConfig writes the ConfigMap that holds nats.conf to a directory, as the pod mounts
// it (nats.conf includes the files beside it), sets the environment the pod gives the
// server from Secrets (the users' public keys: from the build's Secret where it has
// one, otherwise made up, as an operator's would be), and returns nats.conf's path.
// A certificate the configuration reads from /etc/nats/tls (the Secret nats-tls) is
// made for the test.
func natsConfig(t *testing.T, set manifest.Set, sts *appsv1.StatefulSet) string {
	t.Helper()
	setNATSEnv(t, set, sts, func(string, string) string { return natstest.NewUser(t).Public })
	ca := certtest.NewCA(t, "internal CA")
	return writeNATSConfig(t, set, sts, ca, ca.Server(t, "nats", "nats.guarantor.svc"))
}

// forEachNATS runs check on each target's NATS StatefulSet and its configuration as
// nats-server reads it.
func forEachNATS(t *testing.T, check func(t *testing.T, tg target, set manifest.Set, sts *appsv1.StatefulSet, opts *natsserver.Options)) {
	t.Setenv("POD_NAME", "nats-0") // nats.conf reads server_name from it
	for _, tg := range targets(t) {
		t.Run(tg.name, func(t *testing.T) {
			set := build(t, tg)
			sts := natsStatefulSet(t, set)
			check(t, tg, set, sts, natsOptions(t, set, sts))
		})
	}
}

// natsOptions is the NATS server configuration of sts (natsConfig), as nats-server's own
// parser reads it.
func natsOptions(t *testing.T, set manifest.Set, sts *appsv1.StatefulSet) *natsserver.Options {
	t.Helper()
	opts, err := natsserver.ProcessConfigFile(natsConfig(t, set, sts))
	if err != nil {
		t.Fatalf("nats-server refuses nats.conf: %v", err)
	}
	return opts
}

// setNATSEnv sets the environment the NATS pod gets from Secrets: from the build's
// Secret where it has it, otherwise from made(secret, key).
func setNATSEnv(t *testing.T, set manifest.Set, sts *appsv1.StatefulSet, made func(secret, key string) string) {
	t.Helper()
	for _, e := range natsServer(t, sts.Spec.Template.Spec).Env {
		ref := e.ValueFrom
		if ref == nil || ref.SecretKeyRef == nil {
			continue
		}
		var value string
		if o, ok := set.Get("Secret", "guarantor", ref.SecretKeyRef.Name); ok {
			sec := o.Obj.(*corev1.Secret)
			value = sec.StringData[ref.SecretKeyRef.Key]
			if value == "" {
				value = string(sec.Data[ref.SecretKeyRef.Key])
			}
		} else {
			value = made(ref.SecretKeyRef.Name, ref.SecretKeyRef.Key)
		}
		t.Setenv(e.Name, value)
	}
}

// writeNATSConfig writes the files of the ConfigMap holding nats.conf into a directory
// and returns nats.conf's path. Paths under /etc/nats/tls (the Secret nats-tls) become
// files of the test: kp as tls.crt and tls.key, ca's certificate as ca.crt, once the pod
// is seen to mount that directory.
func writeNATSConfig(t *testing.T, set manifest.Set, sts *appsv1.StatefulSet, ca *certtest.CA, kp certtest.KeyPair) string {
	t.Helper()
	for _, v := range sts.Spec.Template.Spec.Volumes {
		if v.ConfigMap == nil {
			continue
		}
		o, ok := set.Get("ConfigMap", "guarantor", v.ConfigMap.Name)
		if !ok {
			t.Fatalf("ConfigMap %s not in the build", v.ConfigMap.Name)
		}
		data := o.Obj.(*corev1.ConfigMap).Data
		if _, ok := data["nats.conf"]; !ok {
			continue
		}
		dir, tlsDir := t.TempDir(), t.TempDir()
		for name, src := range map[string]string{"tls.crt": kp.CertFile, "tls.key": kp.KeyFile, "ca.crt": ca.File} {
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(tlsDir, name), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		for name, body := range data {
			if strings.Contains(body, natsTLSDir) {
				if !mounted(natsServer(t, sts.Spec.Template.Spec), natsTLSDir) {
					t.Errorf("%s reads %s, which the pod does not mount", name, natsTLSDir)
				}
				body = strings.ReplaceAll(body, natsTLSDir+"/", tlsDir+"/")
			}
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return filepath.Join(dir, "nats.conf")
	}
	t.Fatal("no nats.conf mounted")
	return ""
}

// natsTLSDir is where the NATS pod mounts the Secret nats-tls.
const natsTLSDir = "/etc/nats/tls"

func containerPortNamed(pod corev1.PodSpec, name string) int32 {
	p, _ := manifest.ContainerPort(&pod, name, 0)
	return p.ContainerPort
}

// TestDevDatabaseCredentials: the dev DSNs name roles, passwords and databases that the
// dev PostgreSQL's init script creates.
func TestDevDatabaseCredentials(t *testing.T) {
	set := build(t, targetNamed(t, "dev"))
	sql, err := os.ReadFile(filepath.Join(k8sDir(t), "overlays", "dev", "postgres", "init.sql"))
	if err != nil {
		t.Fatal(err)
	}
	dsn := regexp.MustCompile(`^postgres://([a-z_]+):([^@]+)@postgres:5432/([a-z_]+)\?sslmode=disable$`)
	for _, name := range []string{"events-database", "guarantees-database"} {
		t.Run(name, func(t *testing.T) {
			var secret *corev1.Secret
			for _, o := range set.OfKind("Secret") {
				if o.Name == name || strings.HasPrefix(o.Name, name+"-") {
					secret = o.Obj.(*corev1.Secret)
				}
			}
			if secret == nil {
				t.Fatal("not generated")
			}
			v := secret.StringData["dsn"]
			if v == "" {
				v = string(secret.Data["dsn"])
			}
			m := dsn.FindStringSubmatch(v)
			if m == nil {
				t.Fatalf("dsn %q has an unexpected form", v)
			}
			for _, want := range []string{
				fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s';", m[1], m[2]),
				fmt.Sprintf("CREATE DATABASE %s OWNER %s;", m[3], m[1]),
				fmt.Sprintf("REVOKE ALL ON DATABASE %s FROM PUBLIC;", m[3]),
			} {
				if !strings.Contains(string(sql), want) {
					t.Errorf("init.sql lacks %q", want)
				}
			}
		})
	}
}

// TestNATSKeySlots: each component may sign in to NATS with either of two keys that
// have the same permissions, so that its key can be replaced without a moment in which
// NATS refuses it (docs/operations.md, "Rotate a NATS key"); the admin has one key; no
// one else gets in.
func TestNATSKeySlots(t *testing.T) {
	forEachNATS(t, func(t *testing.T, _ target, _ manifest.Set, sts *appsv1.StatefulSet, opts *natsserver.Options) {
		listed := map[string]*natsserver.NkeyUser{}
		for _, u := range opts.Nkeys {
			listed[u.Nkey] = u
		}
		keys := map[string]string{} // nats-users key → the public key the pod gets
		for _, e := range natsServer(t, sts.Spec.Template.Spec).Env {
			// A generated Secret's name carries a hash (dev).
			if r := e.ValueFrom; r != nil && r.SecretKeyRef != nil && strings.HasPrefix(r.SecretKeyRef.Name+"-", "nats-users-") {
				keys[r.SecretKeyRef.Key] = os.Getenv(e.Name)
			}
		}
		for _, c := range []string{"events", "guarantees", "gateway"} {
			first, second := listed[keys[c]], listed[keys[c+"-2"]]
			switch {
			case keys[c] == "" || keys[c+"-2"] == "":
				t.Errorf("%s: the NATS pod gets nats-users keys %q and %q as %q and %q; want both slots", c, c, c+"-2", keys[c], keys[c+"-2"])
			case first == nil || second == nil:
				t.Errorf("%s: NATS lets in the first slot's key: %v, the second's: %v; want both", c, first != nil, second != nil)
			case first.Permissions == nil:
				t.Errorf("%s: its key may do anything", c)
			case !reflect.DeepEqual(first.Permissions, second.Permissions):
				t.Errorf("%s: the two slots' permissions differ:\n%+v\n%+v", c, first.Permissions, second.Permissions)
			}
		}
		if admin := listed[keys["admin"]]; admin == nil {
			t.Error("NATS does not let the admin key in")
		}
		if len(opts.Nkeys) != 7 {
			t.Errorf("NATS lists %d keys; want 7 (two per component, one admin)", len(opts.Nkeys))
		}
	})
}

// TestDevNATSKeys: in the dev overlay, each component's seed belongs to the public key
// NATS lets in for it (a mismatch would leave that component refused at every connect),
// and so does the committed admin seed; each component's second slot holds a key of
// its own.
func TestDevNATSKeys(t *testing.T) {
	set := build(t, targetNamed(t, "dev"))
	// Generated Secrets carry a hash after their name.
	secret := func(name string) *corev1.Secret {
		t.Helper()
		for _, o := range set.OfKind("Secret") {
			if o.Name == name || strings.HasPrefix(o.Name, name+"-") && len(o.Name) == len(name)+11 {
				return o.Obj.(*corev1.Secret)
			}
		}
		t.Fatalf("no Secret %s in the dev build", name)
		return nil
	}
	value := func(s *corev1.Secret, key string) []byte {
		if v, ok := s.StringData[key]; ok {
			return []byte(v)
		}
		return s.Data[key]
	}
	users := secret("nats-users")
	seeds := map[string][]byte{}
	for _, c := range []string{"events", "guarantees", "gateway"} {
		seeds[c] = value(secret(c+"-nats"), "nkey.seed")
	}
	admin, err := os.ReadFile(filepath.Join(k8sDir(t), "overlays", "dev", "secrets", "nats-admin.nkey"))
	if err != nil {
		t.Fatal(err)
	}
	seeds["admin"] = admin
	for _, c := range []string{"events", "guarantees", "gateway"} {
		second := string(value(users, c+"-2"))
		if !nkeys.IsValidPublicUserKey(second) || second == string(value(users, c)) {
			t.Errorf("%s-2: %q is not a user public key of its own", c, second)
		}
	}
	for user, seed := range seeds {
		kp, err := nkeys.ParseDecoratedNKey(seed)
		if err != nil {
			t.Errorf("%s: seed: %v", user, err)
			continue
		}
		pub, err := kp.PublicKey()
		if err != nil {
			t.Fatal(err)
		}
		if got := string(value(users, user)); pub != got {
			t.Errorf("%s: the seed's public key is %s, nats-users lists %q", user, pub, got)
		}
	}
}

// natsClientTLSProblems: every Guarantor binary that talks to NATS checks its
// certificate (--nats-ca-file) when NATS serves TLS, and none asks for TLS when it does
// not (every connection would fail).
func natsClientTLSProblems(t *testing.T, set manifest.Set, serverTLS bool) []string {
	t.Helper()
	var out []string
	for _, w := range set.Workloads() {
		for _, c := range w.Pod.Spec.Containers {
			_, value, ok, err := flagsOf(set, w, c)
			if err != nil {
				t.Fatal(err)
			}
			if !ok || value("nats-url") == "" {
				continue
			}
			ca := value("nats-ca-file")
			switch {
			case serverTLS && ca == "":
				out = append(out, fmt.Sprintf("%s: NATS serves TLS, --nats-ca-file is not set", w.ID()))
			case !serverTLS && ca != "":
				out = append(out, fmt.Sprintf("%s: --nats-ca-file is set, NATS serves plaintext", w.ID()))
			}
		}
	}
	return out
}

// TestNATSImagesAreTheTestedServer: every NATS image the manifests run is the release of
// nats-server the tests embed (go.mod), the server itself and the cert-reloader's
// (Alpine) alike, so what the tests proved is what runs.
func TestNATSImagesAreTheTestedServer(t *testing.T) {
	version := natsserver.VERSION
	seen := 0
	forEachContainer(t, func(t *testing.T, _ manifest.Set, _ manifest.Workload, c corev1.Container) {
		repo, tag, _ := strings.Cut(c.Image, ":")
		if repo != "nats" && !strings.HasSuffix(repo, "/nats") {
			return
		}
		seen++
		if tag != version && tag != version+"-alpine" {
			t.Errorf("image %s, the tests embed nats-server %s", c.Image, version)
		}
	})
	if seen == 0 {
		t.Error("no NATS image in any target")
	}
}
