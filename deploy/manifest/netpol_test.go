package manifest_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/guarantor/guarantor/deploy/manifest"
)

// TestEveryPodIsCoveredByANetworkPolicy: the namespace denies all traffic by default and
// every pod template has policies written for it.
func TestEveryPodIsCoveredByANetworkPolicy(t *testing.T) {
	for _, tg := range targets(t) {
		t.Run(tg.name, func(t *testing.T) {
			set := build(t, tg)
			policies := set.Policies()
			denies := 0
			for _, p := range policies {
				if manifest.IsDefaultDeny(p) {
					denies++
				}
			}
			if denies == 0 {
				t.Error("no default-deny NetworkPolicy (empty podSelector, Ingress and Egress, no rules)")
			}
			for _, w := range set.Workloads() {
				if len(manifest.SelectedBy(policies, w.Namespace, w.Pod.Labels)) == 0 {
					t.Errorf("no NetworkPolicy is written for the pods of %s", w.ID())
				}
			}
		})
	}
}

// endpoints builds the pods of the build, plus pods and addresses outside it.
func endpoints(t *testing.T, set manifest.Set) map[string]manifest.Endpoint {
	t.Helper()
	nsLabels := map[string]string{"kubernetes.io/metadata.name": "guarantor"}
	if o, ok := set.Get("Namespace", "", "guarantor"); ok {
		for k, v := range o.Obj.(*corev1.Namespace).Labels {
			nsLabels[k] = v
		}
	}
	out := map[string]manifest.Endpoint{}
	for _, w := range set.Workloads() {
		var ports []corev1.ContainerPort
		for _, c := range w.Pod.Spec.Containers {
			ports = append(ports, c.Ports...)
		}
		out[w.Name] = manifest.Endpoint{Name: w.Name, Namespace: w.Namespace, NamespaceLabels: nsLabels, Labels: w.Pod.Labels, Ports: ports}
	}
	other := func(name, ns string, nsl, l map[string]string) manifest.Endpoint {
		if nsl == nil {
			nsl = map[string]string{}
		}
		nsl["kubernetes.io/metadata.name"] = ns
		return manifest.Endpoint{Name: name, Namespace: ns, NamespaceLabels: nsl, Labels: l}
	}
	out["client"] = other("client", "clients", nil, map[string]string{"app": "client"})
	out["rogue"] = other("rogue", "guarantor", nsLabels, map[string]string{"app": "rogue"})
	out["subscriber"] = other("subscriber", "guarantor", nsLabels, map[string]string{"guarantor.io/nats-client": "true"})
	out["remote-subscriber"] = other("remote-subscriber", "analytics",
		map[string]string{"guarantor.io/nats-client": "true"}, map[string]string{"guarantor.io/nats-client": "true"})
	out["unlabelled-remote"] = other("unlabelled-remote", "analytics", nil, map[string]string{"guarantor.io/nats-client": "true"})
	out["prometheus"] = other("prometheus", "monitoring", map[string]string{"guarantor.io/metrics-scraper": "true"}, map[string]string{"app": "prometheus"})
	out["collector"] = other("collector", "observability", map[string]string{"guarantor.io/trace-collector": "true"}, map[string]string{"app": "otel-collector"})
	out["unlabelled-collector"] = other("unlabelled-collector", "tracing", nil, map[string]string{"app": "otel-collector"})
	out["kube-dns"] = other("kube-dns", "kube-system", nil, map[string]string{"k8s-app": "kube-dns"})
	out["internet"] = manifest.Endpoint{Name: "internet", IP: "203.0.113.5"}
	out["events-db"] = manifest.Endpoint{Name: "events-db", IP: "192.0.2.10"}
	out["guarantees-db"] = manifest.Endpoint{Name: "guarantees-db", IP: "192.0.2.11"}
	return out
}

// TestNetworkFlows: the flows Guarantor needs are open and the others are closed, per
// target. "*" runs on every target, "prod" on both prod targets.
func TestNetworkFlows(t *testing.T) {
	type flow struct {
		on       string
		from, to string
		port     int32
		proto    corev1.Protocol
		allowed  bool
	}
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	flows := []flow{
		// Clients reach the gateway only.
		{"*", "client", "gateway", 9090, tcp, true},
		{"*", "client", "gateway", 8080, tcp, true},
		{"*", "client", "gateway", 9190, tcp, false},
		{"*", "client", "events", 9091, tcp, false},
		{"*", "client", "guarantees", 9092, tcp, false},
		{"*", "client", "nats", 4222, tcp, false},
		// The gateway reaches the services and NATS (watches), nothing else.
		{"*", "gateway", "events", 9091, tcp, true},
		{"*", "gateway", "guarantees", 9092, tcp, true},
		{"*", "gateway", "nats", 4222, tcp, true},
		{"*", "gateway", "events", 9191, tcp, false},
		{"*", "gateway", "internet", 443, tcp, false},
		{"*", "gateway", "kube-dns", 53, udp, true},
		// The services publish to NATS and do not call each other or the gateway.
		{"*", "events", "nats", 4222, tcp, true},
		{"*", "guarantees", "nats", 4222, tcp, true},
		{"*", "events", "guarantees", 9092, tcp, false},
		{"*", "guarantees", "events", 9091, tcp, false},
		{"*", "events", "gateway", 9090, tcp, false},
		{"*", "events", "nats", 6222, tcp, false},
		{"*", "events", "internet", 443, tcp, false},
		{"*", "events", "kube-dns", 53, udp, true},
		{"*", "events-redrive", "nats", 4222, tcp, true},
		{"*", "guarantees-redrive", "nats", 4222, tcp, true},
		// NATS nodes talk to each other on the cluster port only.
		{"*", "nats", "nats", 6222, tcp, true},
		{"*", "nats", "events", 9091, tcp, false},
		{"*", "nats", "internet", 443, tcp, false},
		// Subscribers: labelled pods here, or in namespaces labelled the same way.
		{"*", "subscriber", "nats", 4222, tcp, true},
		{"*", "subscriber", "events", 9091, tcp, false},
		{"*", "remote-subscriber", "nats", 4222, tcp, true},
		{"*", "unlabelled-remote", "nats", 4222, tcp, false},
		{"*", "rogue", "nats", 4222, tcp, false},
		{"*", "rogue", "events", 9091, tcp, false},
		{"*", "rogue", "gateway", 9090, tcp, false}, // default deny covers egress too
		// The plaintext health ports are for the kubelet alone (from the node, which
		// NetworkPolicy always admits): no pod reaches them, not even the gateway,
		// which checks the services' health over their mutual-TLS gRPC ports.
		{"*", "client", "gateway", 9095, tcp, false},
		{"*", "client", "events", 9095, tcp, false},
		{"*", "gateway", "events", 9095, tcp, false},
		{"*", "gateway", "guarantees", 9095, tcp, false},
		{"*", "rogue", "events", 9095, tcp, false},
		{"*", "prometheus", "guarantees", 9095, tcp, false},
		// Prometheus scrapes the metrics ports only.
		{"*", "prometheus", "events", 9191, tcp, true},
		{"*", "prometheus", "gateway", 9190, tcp, true},
		{"*", "prometheus", "events", 9091, tcp, false},
		// Each service reaches its own database.
		{"dev", "events", "postgres", 5432, tcp, true},
		{"dev", "guarantees", "postgres", 5432, tcp, true},
		{"dev", "events-redrive", "postgres", 5432, tcp, true},
		{"dev", "gateway", "postgres", 5432, tcp, false},
		{"dev", "nats", "postgres", 5432, tcp, false},
		{"dev", "rogue", "postgres", 5432, tcp, false},
		{"dev", "client", "postgres", 5432, tcp, false},
		{"prod", "events", "events-db", 5432, tcp, true},
		{"prod", "events-redrive", "events-db", 5432, tcp, true},
		{"prod", "guarantees", "guarantees-db", 5432, tcp, true},
		{"prod", "events", "guarantees-db", 5432, tcp, false},
		{"prod", "guarantees", "events-db", 5432, tcp, false},
		{"prod", "gateway", "events-db", 5432, tcp, false},
		// With components/tracing, the servers send spans to a collector in a labelled
		// namespace, on OTLP/gRPC only; the redrive Jobs and NATS do not.
		{"prod+observability", "events", "collector", 4317, tcp, true},
		{"prod+observability", "guarantees", "collector", 4317, tcp, true},
		{"prod+observability", "gateway", "collector", 4317, tcp, true},
		{"prod+observability", "events", "collector", 4318, tcp, false},
		{"prod+observability", "events", "unlabelled-collector", 4317, tcp, false},
		{"prod+observability", "events-redrive", "collector", 4317, tcp, false},
		{"prod+observability", "nats", "collector", 4317, tcp, false},
		{"prod+observability", "rogue", "collector", 4317, tcp, false},
		{"dev", "events", "collector", 4317, tcp, false},
	}
	for _, tg := range targets(t) {
		if !tg.deployable {
			continue
		}
		t.Run(tg.name, func(t *testing.T) {
			set := build(t, tg)
			eps := endpoints(t, set)
			policies := set.Policies()
			for _, f := range flows {
				if f.on != "*" && !strings.HasPrefix(tg.name, f.on) {
					continue
				}
				from, ok1 := eps[f.from]
				to, ok2 := eps[f.to]
				if !ok1 || !ok2 {
					t.Errorf("%s -> %s: endpoint missing from the build", f.from, f.to)
					continue
				}
				allowed, why := manifest.Allowed(policies, from, to, f.port, f.proto)
				if allowed != f.allowed {
					t.Errorf("%s -> %s:%d/%s: allowed=%v, want %v %s", f.from, f.to, f.port, f.proto, allowed, f.allowed, why)
				}
			}
		})
	}
}

// TestNetworkEvaluator checks the evaluator itself on small policies, so a bug in it
// cannot make the flows above pass vacuously.
func TestNetworkEvaluator(t *testing.T) {
	deny := `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: ns}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
`
	allowB := `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: b-in, namespace: ns}
spec:
  podSelector: {matchLabels: {app: b}}
  ingress:
    - from: [{podSelector: {matchLabels: {app: a}}}]
      ports: [{port: http}]
`
	allowA := `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-out, namespace: ns}
spec:
  podSelector: {matchLabels: {app: a}}
  policyTypes: [Egress]
  egress:
    - to: [{podSelector: {matchLabels: {app: b}}}]
      ports: [{port: 8000, endPort: 8100}]
`
	a := manifest.Endpoint{Name: "a", Namespace: "ns", Labels: map[string]string{"app": "a"}}
	b := manifest.Endpoint{Name: "b", Namespace: "ns", Labels: map[string]string{"app": "b"},
		Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {Name: "admin", ContainerPort: 8081}}}
	bElsewhere := b
	bElsewhere.Namespace = "other"
	cases := []struct {
		name     string
		policies []string
		from, to manifest.Endpoint
		port     int32
		want     bool
	}{
		{"no policy: open", nil, a, b, 8080, true},
		{"default deny", []string{deny}, a, b, 8080, false},
		{"ingress only: egress still denied", []string{deny, allowB}, a, b, 8080, false},
		{"both directions allowed", []string{deny, allowB, allowA}, a, b, 8080, true},
		{"named port is another", []string{deny, allowB, allowA}, a, b, 8081, false},
		{"outside the port range", []string{deny, allowB, allowA}, a, b, 8200, false},
		{"reverse direction", []string{deny, allowB, allowA}, b, a, 8080, false},
		{"pod selector is namespaced", []string{allowA}, a, bElsewhere, 8080, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var set manifest.Set
			for _, p := range tc.policies {
				objs, err := manifest.Decode([]byte(p))
				if err != nil {
					t.Fatal(err)
				}
				set.Objects = append(set.Objects, objs...)
			}
			if got, why := manifest.Allowed(set.Policies(), tc.from, tc.to, tc.port, corev1.ProtocolTCP); got != tc.want {
				t.Fatalf("allowed=%v, want %v %s", got, tc.want, why)
			}
		})
	}
}
