package manifest_test

import (
	"fmt"
	"net"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/guarantor/guarantor/deploy/manifest"
)

// tlsListeners are the listen flags --tls-cert-file puts on TLS, per binary: the gRPC
// listener (platform/grpcserver), and the gateway's HTTP listener, which takes the gRPC
// listener's TLS configuration (services/gateway httpTLS). The metrics and health
// listeners stay plaintext.
var tlsListeners = map[string][]string{
	"events":     {"listen"},
	"guarantees": {"listen"},
	"gateway":    {"listen", "http-listen"},
}

// cleartextAppProtocols claim that a port speaks plaintext; tlsAppProtocols that it
// speaks TLS.
var (
	cleartextAppProtocols = []string{"kubernetes.io/h2c", "kubernetes.io/ws", "http", "h2c"}
	tlsAppProtocols       = []string{"kubernetes.io/wss", "https"}
)

// TestServiceAppProtocols: a Service port's appProtocol agrees with the listener behind
// it. A mesh or ingress honouring kubernetes.io/h2c (or http) speaks plaintext to the
// port, which fails against a listener serving TLS; https or kubernetes.io/wss on a
// plaintext listener fails the other way.
func TestServiceAppProtocols(t *testing.T) {
	for _, tg := range targets(t) {
		t.Run(tg.name, func(t *testing.T) {
			for _, problem := range appProtocolProblems(build(t, tg)) {
				t.Error(problem)
			}
		})
	}
}

func appProtocolProblems(set manifest.Set) []string {
	var out []string
	for _, o := range set.OfKind("Service") {
		svc := o.Obj.(*corev1.Service)
		for _, sp := range svc.Spec.Ports {
			if sp.AppProtocol == nil {
				continue
			}
			ap := *sp.AppProtocol
			cleartext, tls := contains(cleartextAppProtocols, ap), contains(tlsAppProtocols, ap)
			if !cleartext && !tls {
				continue
			}
			target := sp.TargetPort
			if target.Type == intstr.Int && target.IntVal == 0 {
				target = intstr.FromInt32(sp.Port)
			}
			for _, w := range set.Workloads() {
				if !w.LongRunning || w.Namespace != o.Namespace || !manifest.LabelsMatch(svc.Spec.Selector, w.Pod.Labels) {
					continue
				}
				where := fmt.Sprintf("%s port %s (appProtocol %s) targets %s port %s", o.ID(), sp.Name, ap, w.ID(), target.String())
				flag, serves, problem := listenerTLS(set, w, target)
				switch {
				case problem != "":
					out = append(out, where+": "+problem)
				case flag == "":
					// not a Guarantor binary (NATS, PostgreSQL): nothing to compare with
				case cleartext && serves:
					out = append(out, fmt.Sprintf("%s: --%s serves TLS, %s claims cleartext: remove appProtocol in the overlay that turns TLS on", where, flag, ap))
				case tls && !serves:
					out = append(out, fmt.Sprintf("%s: --%s serves plaintext, %s claims TLS", where, flag, ap))
				}
			}
		}
	}
	return out
}

// listenerTLS finds the container port target names in the workload's pods, the listen
// flag of the container's binary bound to it (by port number, as the binary binds it),
// and whether that listener serves TLS. flag is "" when the container runs no Guarantor
// binary; problem says why the port cannot be resolved.
func listenerTLS(set manifest.Set, w manifest.Workload, target intstr.IntOrString) (flag string, serves bool, problem string) {
	var c *corev1.Container
	var port corev1.ContainerPort
	for i := range w.Pod.Spec.Containers {
		for _, p := range w.Pod.Spec.Containers[i].Ports {
			if (target.Type == intstr.String && p.Name == target.StrVal) || (target.Type == intstr.Int && p.ContainerPort == target.IntVal) {
				c, port = &w.Pod.Spec.Containers[i], p
			}
		}
	}
	if c == nil {
		return "", false, "no container declares the port"
	}
	bin, value, ok, err := flagsOf(set, w, *c)
	if err != nil {
		return "", false, err.Error()
	}
	if !ok {
		return "", false, ""
	}
	for _, name := range manifest.SortedKeys(listenPorts) {
		addr := value(name)
		if addr == "" {
			continue // not this binary's flag, or disabled
		}
		_, p, err := net.SplitHostPort(addr)
		if err != nil {
			continue // listenProblems reports it
		}
		if n, err := strconv.Atoi(p); err != nil || int32(n) != port.ContainerPort {
			continue
		}
		tls := value("tls-cert-file") != "" && contains(tlsListeners[bin], name)
		return name, tls, ""
	}
	return "", false, fmt.Sprintf("no listener of %s binds container port %d", bin, port.ContainerPort)
}

// TestAppProtocolCheckFails puts cleartext appProtocols back on prod's TLS ports (by
// port name and by number), turns TLS on behind dev's h2c port, and claims TLS on a
// plaintext port, and expects the check to say so each time.
func TestAppProtocolCheckFails(t *testing.T) {
	setAppProtocol := func(port, value string) func(*corev1.Service) {
		return func(s *corev1.Service) {
			for i := range s.Spec.Ports {
				if s.Spec.Ports[i].Name == port {
					s.Spec.Ports[i].AppProtocol = &value
				}
			}
		}
	}
	cases := []struct {
		target    string
		name      string
		service   string
		modify    func(*corev1.Service)
		workload  string
		container func(*corev1.Container)
	}{
		{target: "prod", name: "h2c on the events mutual TLS port", service: "events", modify: setAppProtocol("grpc", "kubernetes.io/h2c")},
		{target: "prod", name: "h2c on the guarantees mutual TLS port", service: "guarantees", modify: setAppProtocol("grpc", "kubernetes.io/h2c")},
		{target: "prod", name: "h2c on the gateway TLS gRPC port", service: "gateway", modify: setAppProtocol("grpc", "kubernetes.io/h2c")},
		{target: "prod", name: "http on the gateway TLS HTTP port", service: "gateway", modify: setAppProtocol("http", "http")},
		{target: "prod", name: "h2c on a TLS port targeted by number", service: "events", modify: func(s *corev1.Service) {
			setAppProtocol("grpc", "kubernetes.io/h2c")(s)
			s.Spec.Ports[0].TargetPort = intstr.FromInt32(9091)
		}},
		{target: "dev", name: "TLS behind the h2c port", workload: "events", container: func(c *corev1.Container) {
			setArg(c, "tls-cert-file", "/etc/guarantor/principal/tls.crt")
			setArg(c, "tls-key-file", "/etc/guarantor/principal/tls.key")
		}},
		{target: "dev", name: "TLS from the environment behind the h2c port", workload: "guarantees", container: func(c *corev1.Container) {
			c.Env = append(c.Env, corev1.EnvVar{Name: "GUARANTOR_TLS_CERT_FILE", Value: "/etc/guarantor/principal/tls.crt"})
		}},
		{target: "dev", name: "https on a plaintext port", service: "gateway", modify: setAppProtocol("grpc", "https")},
		{target: "dev", name: "h2c on a port no listener binds", service: "events", modify: setAppProtocol("grpc", "kubernetes.io/h2c"),
			workload: "events", container: func(c *corev1.Container) { setArg(c, "listen", "0.0.0.0:9096") }},
	}
	for _, tc := range cases {
		t.Run(tc.target+"/"+tc.name, func(t *testing.T) {
			set := build(t, targetNamed(t, tc.target))
			if p := appProtocolProblems(set); len(p) != 0 {
				t.Fatalf("the unmodified build has problems: %v", p)
			}
			if tc.container != nil {
				set = withContainer(t, set, "Deployment", tc.workload, tc.container)
			}
			if tc.modify != nil {
				set = withService(t, set, tc.service, tc.modify)
			}
			if len(appProtocolProblems(set)) == 0 {
				t.Fatal("no problem found")
			}
		})
	}
}

// withService returns a copy of set whose Service is modified (the built set, shared
// between tests, is left alone).
func withService(t testing.TB, set manifest.Set, name string, modify func(*corev1.Service)) manifest.Set {
	t.Helper()
	out := manifest.Set{Objects: append([]manifest.Object(nil), set.Objects...)}
	for i, o := range out.Objects {
		if o.Kind == "Service" && o.Name == name {
			svc := o.Obj.(*corev1.Service).DeepCopy()
			modify(svc)
			out.Objects[i].Obj = svc
			return out
		}
	}
	t.Fatalf("no Service %s", name)
	return out
}
