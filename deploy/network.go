package deploy

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Endpoint is one end of a connection: a pod of a workload in the
// namespace, or anything outside it (another namespace, the node network,
// the Internet).
type Endpoint struct {
	// Name is the workload's name, or "outside".
	Name string
	// Labels are the pod's labels; nil outside.
	Labels map[string]string
	// Ports are the pod's container ports, for named NetworkPolicy ports.
	Ports []corev1.ContainerPort
	// Inside says whether the pod is in the namespace.
	Inside bool
	// Namespace, outside, names the namespace of a pod of another
	// namespace (whose labels are unknown); empty, the endpoint is any
	// outside endpoint.
	Namespace string
}

// Outside is any endpoint outside the namespace.
var Outside = Endpoint{Name: "outside"}

// OutsideNamespace is a pod, whatever its labels, of another namespace.
func OutsideNamespace(ns string) Endpoint {
	return Endpoint{Name: "namespace " + ns, Namespace: ns}
}

// Pod returns an endpoint for a pod of the Deployment, StatefulSet or Job
// called name, and whether there is one.
func (m *Manifests) Pod(name string) (Endpoint, bool) {
	for _, w := range m.workloads() {
		if w.name == name {
			return w.endpoint(), true
		}
	}
	return Endpoint{}, false
}

// Reachable says whether the NetworkPolicies let from open a connection to
// port/protocol on to: from's egress and to's ingress must both allow it.
// Pods that no policy of a direction selects are open in that direction,
// as in Kubernetes.
//
// Outside endpoints are approximated: an outside source or destination
// matches a peer given by ipBlock, or by a namespaceSelector that does not
// select only this namespace, and any rule without peers. A pod of a named
// namespace (OutsideNamespace) matches an ipBlock too, but a
// namespaceSelector only if it selects that namespace, with no podSelector
// or an empty one.
func (m *Manifests) Reachable(from, to Endpoint, port int32, protocol corev1.Protocol) bool {
	return m.allowed(networkingv1.PolicyTypeEgress, from, to, port, protocol) &&
		m.allowed(networkingv1.PolicyTypeIngress, to, from, port, protocol)
}

// allowed evaluates the policies of one direction for subject (the pod
// whose policies apply) and peer (the other end). The port is always on
// the destination: to for egress, subject for ingress.
func (m *Manifests) allowed(dir networkingv1.PolicyType, subject, peer Endpoint, port int32, protocol corev1.Protocol) bool {
	if !subject.Inside {
		return true // not governed by these policies
	}
	dst := peer
	if dir == networkingv1.PolicyTypeIngress {
		dst = subject
	}
	isolated := false
	for _, np := range m.NetworkPolicies {
		if !slices.Contains(policyTypes(np), dir) || !selects(&np.Spec.PodSelector, subject.Labels) {
			continue
		}
		isolated = true
		type rule struct {
			peers []networkingv1.NetworkPolicyPeer
			ports []networkingv1.NetworkPolicyPort
		}
		var rules []rule
		if dir == networkingv1.PolicyTypeIngress {
			for _, r := range np.Spec.Ingress {
				rules = append(rules, rule{r.From, r.Ports})
			}
		} else {
			for _, r := range np.Spec.Egress {
				rules = append(rules, rule{r.To, r.Ports})
			}
		}
		for _, r := range rules {
			if !portAllowed(r.ports, port, protocol, dst) {
				continue
			}
			if len(r.peers) == 0 {
				return true
			}
			for _, p := range r.peers {
				if m.peerMatches(p, peer) {
					return true
				}
			}
		}
	}
	return !isolated
}

// policyTypes are a policy's effective types: as written, or as the API
// server defaults them when omitted.
func policyTypes(np *networkingv1.NetworkPolicy) []networkingv1.PolicyType {
	if len(np.Spec.PolicyTypes) > 0 {
		return np.Spec.PolicyTypes
	}
	t := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
	if len(np.Spec.Egress) > 0 {
		t = append(t, networkingv1.PolicyTypeEgress)
	}
	return t
}

func (m *Manifests) peerMatches(p networkingv1.NetworkPolicyPeer, e Endpoint) bool {
	if p.IPBlock != nil {
		return !e.Inside
	}
	if p.NamespaceSelector != nil {
		selectsUs := selects(p.NamespaceSelector, m.namespaceLabels())
		if !e.Inside && e.Namespace != "" {
			nsLabels := map[string]string{"kubernetes.io/metadata.name": e.Namespace}
			return selects(p.NamespaceSelector, nsLabels) && (p.PodSelector == nil || emptySelector(p.PodSelector))
		}
		if !e.Inside {
			return !selectsUs || len(p.NamespaceSelector.MatchLabels)+len(p.NamespaceSelector.MatchExpressions) == 0
		}
		if !selectsUs {
			return false
		}
		return p.PodSelector == nil || selects(p.PodSelector, e.Labels)
	}
	return e.Inside && p.PodSelector != nil && selects(p.PodSelector, e.Labels)
}

// namespaceLabels are the namespace's labels as the API server sets them.
func (m *Manifests) namespaceLabels() map[string]string {
	l := map[string]string{"kubernetes.io/metadata.name": Namespace}
	for _, ns := range m.Namespaces {
		if ns.Name == Namespace {
			for k, v := range ns.Labels {
				l[k] = v
			}
		}
	}
	return l
}

func portAllowed(ports []networkingv1.NetworkPolicyPort, port int32, protocol corev1.Protocol, dst Endpoint) bool {
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
		switch {
		case p.Port == nil:
			return true
		case p.Port.Type == intstr.Int:
			end := p.Port.IntVal
			if p.EndPort != nil {
				end = *p.EndPort
			}
			if port >= p.Port.IntVal && port <= end {
				return true
			}
		default:
			for _, cp := range dst.Ports {
				if cp.Name == p.Port.StrVal && cp.ContainerPort == port && protocolOf(cp) == protocol {
					return true
				}
			}
		}
	}
	return false
}

func protocolOf(cp corev1.ContainerPort) corev1.Protocol {
	if cp.Protocol == "" {
		return corev1.ProtocolTCP
	}
	return cp.Protocol
}

// selects says whether a label selector selects a set of labels; a nil or
// invalid selector selects nothing.
func selects(sel *metav1.LabelSelector, l map[string]string) bool {
	if sel == nil {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false
	}
	return s.Matches(labels.Set(l))
}
