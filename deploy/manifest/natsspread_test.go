package manifest_test

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestNATSNodesNeverShareAMachine checks the promise of
// base/nats/statefulset.yaml ("Never two nodes of one quorum on one machine") and of
// docs/operations.md ("two NATS nodes never share one", "NATS nodes never share a
// node") against the scheduling rules the manifests actually give the NATS pods.
//
// The pods used to carry no podAntiAffinity, only a topologySpreadConstraint on
// kubernetes.io/hostname with maxSkew 1, DoNotSchedule and no minDomains. The
// scheduler's PodTopologySpread filter, as k8s.io/api/core/v1 documents MaxSkew and
// MinDomains, admits a node when
//
//	(matching pods on that node + 1) - globalMin <= maxSkew
//
// where globalMin is the fewest matching pods on any eligible node, or 0 when there are
// fewer eligible nodes than minDomains (nil: 1). With two eligible nodes that each run
// one NATS pod (a node removed by the cluster autoscaler or replaced during a node-pool
// upgrade), the third pod goes onto one of them: skew (1+1)-1 = 1. It stays there
// when the third node comes back (nothing reschedules it), so losing that one machine
// takes two of the three JetStream peers, the meta and every R3 stream's quorum.
func TestNATSNodesNeverShareAMachine(t *testing.T) {
	for _, tg := range targets(t) {
		if !strings.HasPrefix(tg.name, "prod") {
			continue
		}
		t.Run(tg.name, func(t *testing.T) {
			sts := natsStatefulSet(t, build(t, tg))
			pod := sts.Spec.Template.Spec
			// Sanity: with three empty eligible nodes the rules spread 1/1/1, so the
			// model is not vacuous.
			if got := placements(pod, map[string]int{"node-a": 1, "node-b": 1, "node-c": 0}); len(got) != 1 || got[0] != "node-c" {
				t.Fatalf("model check: with nodes a=1 b=1 c=0 the third pod may go to %v, want only node-c", got)
			}
			// Two eligible nodes, one NATS pod on each: where may the third go?
			if got := placements(pod, map[string]int{"node-a": 1, "node-b": 1}); len(got) > 0 {
				t.Errorf("with two eligible nodes running nats-0 and nats-1, nats-2 may be scheduled onto %v, "+
					"next to another NATS node: losing that machine loses the JetStream quorum "+
					"(add a required podAntiAffinity on kubernetes.io/hostname, or minDomains: 3)", got)
			}
		})
	}
}

// placements lists the nodes (hostname -> NATS pods already there) onto which the
// scheduler may put one more pod of the template, by its required podAntiAffinity and
// its DoNotSchedule topology spread constraints on kubernetes.io/hostname.
func placements(pod corev1.PodSpec, nodes map[string]int) []string {
	var out []string
	for _, node := range []string{"node-a", "node-b", "node-c", "node-d"} {
		count, ok := nodes[node]
		if !ok {
			continue
		}
		if ok, _ := admitted(pod, nodes, node, count); ok {
			out = append(out, node)
		}
	}
	return out
}

func admitted(pod corev1.PodSpec, nodes map[string]int, node string, count int) (bool, string) {
	if a := pod.Affinity; a != nil && a.PodAntiAffinity != nil {
		for _, term := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
			if term.TopologyKey == "kubernetes.io/hostname" && count > 0 {
				return false, "podAntiAffinity"
			}
		}
	}
	for _, c := range pod.TopologySpreadConstraints {
		if c.TopologyKey != "kubernetes.io/hostname" || c.WhenUnsatisfiable != corev1.DoNotSchedule {
			continue
		}
		minDomains := 1
		if c.MinDomains != nil {
			minDomains = int(*c.MinDomains)
		}
		globalMin := 0
		if len(nodes) >= minDomains {
			globalMin = -1
			for _, n := range nodes {
				if globalMin < 0 || n < globalMin {
					globalMin = n
				}
			}
		}
		if skew := count + 1 - globalMin; skew > int(c.MaxSkew) {
			return false, fmt.Sprintf("skew %d > maxSkew %d", skew, c.MaxSkew)
		}
	}
	return true, ""
}
