package manifest

import (
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Endpoint is one end of a connection: a pod (namespace, labels, ports) or, when IP is
// set, an address outside the cluster.
type Endpoint struct {
	Name            string // for messages
	Namespace       string
	NamespaceLabels map[string]string
	Labels          map[string]string
	Ports           []corev1.ContainerPort
	IP              string
}

// Policy is a NetworkPolicy with the namespace it applies in.
type Policy struct {
	Namespace string
	Spec      networkingv1.NetworkPolicySpec
	Name      string
}

// Policies returns the set's NetworkPolicies.
func (s Set) Policies() []Policy {
	var out []Policy
	for _, o := range s.OfKind("NetworkPolicy") {
		np := o.Obj.(*networkingv1.NetworkPolicy)
		out = append(out, Policy{Namespace: o.Namespace, Spec: np.Spec, Name: o.Name})
	}
	return out
}

// Allowed reports whether the policies let from open a connection to to on port/protocol,
// following the NetworkPolicy semantics: a pod selected by no policy of a direction is
// not isolated in that direction; a selected pod accepts only what some rule allows.
// The reason names what refused it.
func Allowed(policies []Policy, from, to Endpoint, port int32, protocol corev1.Protocol) (bool, string) {
	if from.IP == "" {
		isolated, allowed := false, false
		for _, p := range policies {
			if p.Namespace != from.Namespace || !hasType(p.Spec, networkingv1.PolicyTypeEgress) || !selects(p.Spec.PodSelector, from.Labels) {
				continue
			}
			isolated = true
			for _, r := range p.Spec.Egress {
				if peersMatch(r.To, p.Namespace, to) && portsMatch(r.Ports, to, port, protocol) {
					allowed = true
				}
			}
		}
		if isolated && !allowed {
			return false, fmt.Sprintf("no egress rule of %s lets it reach %s:%d", from.Name, to.Name, port)
		}
	}
	if to.IP == "" {
		isolated, allowed := false, false
		for _, p := range policies {
			if p.Namespace != to.Namespace || !hasType(p.Spec, networkingv1.PolicyTypeIngress) || !selects(p.Spec.PodSelector, to.Labels) {
				continue
			}
			isolated = true
			for _, r := range p.Spec.Ingress {
				if peersMatch(r.From, p.Namespace, from) && portsMatch(r.Ports, to, port, protocol) {
					allowed = true
				}
			}
		}
		if isolated && !allowed {
			return false, fmt.Sprintf("no ingress rule of %s admits %s on %d", to.Name, from.Name, port)
		}
	}
	return true, ""
}

// hasType applies the defaults of policyTypes: Ingress always, Egress when egress rules
// exist.
func hasType(spec networkingv1.NetworkPolicySpec, t networkingv1.PolicyType) bool {
	if len(spec.PolicyTypes) == 0 {
		return t == networkingv1.PolicyTypeIngress || (t == networkingv1.PolicyTypeEgress && len(spec.Egress) > 0)
	}
	for _, pt := range spec.PolicyTypes {
		if pt == t {
			return true
		}
	}
	return false
}

// selects applies a label selector; the empty selector selects everything.
func selects(sel metav1.LabelSelector, l map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(&sel)
	if err != nil {
		return false
	}
	return s.Matches(labels.Set(l))
}

// peersMatch: no peers means any peer.
func peersMatch(peers []networkingv1.NetworkPolicyPeer, policyNS string, e Endpoint) bool {
	if len(peers) == 0 {
		return true
	}
	for _, peer := range peers {
		if peerMatches(peer, policyNS, e) {
			return true
		}
	}
	return false
}

func peerMatches(peer networkingv1.NetworkPolicyPeer, policyNS string, e Endpoint) bool {
	if peer.IPBlock != nil {
		if e.IP == "" {
			return false
		}
		return inBlock(*peer.IPBlock, e.IP)
	}
	if e.IP != "" {
		return false
	}
	switch {
	case peer.NamespaceSelector == nil && peer.PodSelector != nil:
		return e.Namespace == policyNS && selects(*peer.PodSelector, e.Labels)
	case peer.NamespaceSelector != nil && peer.PodSelector == nil:
		return selects(*peer.NamespaceSelector, e.NamespaceLabels)
	case peer.NamespaceSelector != nil && peer.PodSelector != nil:
		return selects(*peer.NamespaceSelector, e.NamespaceLabels) && selects(*peer.PodSelector, e.Labels)
	}
	return false
}

func inBlock(b networkingv1.IPBlock, ip string) bool {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	pfx, err := netip.ParsePrefix(b.CIDR)
	if err != nil || !pfx.Contains(addr) {
		return false
	}
	for _, ex := range b.Except {
		if p, err := netip.ParsePrefix(ex); err == nil && p.Contains(addr) {
			return false
		}
	}
	return true
}

// portsMatch: no ports means every port. A named port resolves on the destination pod.
func portsMatch(ports []networkingv1.NetworkPolicyPort, to Endpoint, port int32, protocol corev1.Protocol) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		proto := corev1.ProtocolTCP
		if p.Protocol != nil {
			proto = *p.Protocol
		}
		if proto != protocol {
			continue
		}
		if p.Port == nil {
			return true
		}
		if p.Port.Type == intstr.String {
			for _, cp := range to.Ports {
				cpProto := cp.Protocol
				if cpProto == "" {
					cpProto = corev1.ProtocolTCP
				}
				if cp.Name == p.Port.StrVal && cp.ContainerPort == port && cpProto == protocol {
					return true
				}
			}
			continue
		}
		lo, hi := p.Port.IntVal, p.Port.IntVal
		if p.EndPort != nil {
			hi = *p.EndPort
		}
		if port >= lo && port <= hi {
			return true
		}
	}
	return false
}

// IsDefaultDeny reports whether the policy isolates every pod of its namespace in both
// directions and allows nothing.
func IsDefaultDeny(p Policy) bool {
	return len(p.Spec.PodSelector.MatchLabels) == 0 && len(p.Spec.PodSelector.MatchExpressions) == 0 &&
		hasType(p.Spec, networkingv1.PolicyTypeIngress) && hasType(p.Spec, networkingv1.PolicyTypeEgress) &&
		len(p.Spec.Ingress) == 0 && len(p.Spec.Egress) == 0
}

// SelectedBy returns the names of the policies written for pods with these labels in
// namespace: a non-empty podSelector that selects them (namespace-wide policies such as
// the default denial or DNS do not count).
func SelectedBy(policies []Policy, namespace string, podLabels map[string]string) []string {
	var out []string
	for _, p := range policies {
		sel := p.Spec.PodSelector
		if len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0 {
			continue
		}
		if p.Namespace == namespace && selects(sel, podLabels) {
			out = append(out, p.Name)
		}
	}
	return out
}
