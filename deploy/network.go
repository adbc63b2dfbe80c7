package deploy

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
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

// in-namespace peer selects existing pods; ports are ports those pods have.
// networkPolicies: ingress and egress are denied by default; every policy
// and every in-namespace peer selects existing pods; ports are ports those
// pods have.
func (c *checker) networkPolicies() {
	for _, dir := range []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress} {
		deny := slices.ContainsFunc(c.m.NetworkPolicies, func(np *networkingv1.NetworkPolicy) bool {
			rules := len(np.Spec.Ingress)
			if dir == networkingv1.PolicyTypeEgress {
				rules = len(np.Spec.Egress)
			}
			return emptySelector(&np.Spec.PodSelector) && slices.Contains(policyTypes(np), dir) && rules == 0
		})
		if !deny {
			c.errorf("Namespace "+Namespace, "no NetworkPolicy denies %s by default", strings.ToLower(string(dir)))
		}
	}
	for _, np := range c.m.NetworkPolicies {
		obj := "NetworkPolicy " + np.Name
		if len(np.Spec.PolicyTypes) == 0 {
			c.errorf(obj, "policyTypes is not set")
		}
		if p := selectorProblem(&np.Spec.PodSelector); p != "" {
			c.errorf(obj, "podSelector: %s", p)
			continue
		}
		selected := c.m.selecting(&np.Spec.PodSelector)
		if len(selected) == 0 {
			c.errorf(obj, "podSelector %s selects no pods", metav1.FormatLabelSelector(&np.Spec.PodSelector))
			continue
		}
		for i, r := range np.Spec.Ingress {
			for _, p := range r.From {
				c.peer(obj, fmt.Sprintf("ingress rule %d", i+1), p)
				if p.IPBlock != nil {
					c.ipBlock(obj, fmt.Sprintf("ingress rule %d", i+1), p.IPBlock)
				}
			}
			c.policyPorts(obj, fmt.Sprintf("ingress rule %d", i+1), r.Ports, selected)
		}
		for i, r := range np.Spec.Egress {
			var peers []workload
			inside := len(r.To) > 0
			for _, p := range r.To {
				if p.IPBlock != nil {
					c.ipBlock(obj, fmt.Sprintf("egress rule %d", i+1), p.IPBlock)
				}
				ws := c.peer(obj, fmt.Sprintf("egress rule %d", i+1), p)
				peers = append(peers, ws...)
				inside = inside && ws != nil
			}
			if inside {
				c.policyPorts(obj, fmt.Sprintf("egress rule %d", i+1), r.Ports, peers)
			}
		}
	}
}

// peer checks a peer that names pods of this namespace and returns them;
// it returns nil for a peer outside the namespace.
func (c *checker) peer(obj, where string, p networkingv1.NetworkPolicyPeer) []workload {
	if p.IPBlock != nil || p.PodSelector == nil {
		return nil
	}
	if p.NamespaceSelector != nil && !selects(p.NamespaceSelector, c.m.namespaceLabels()) {
		return nil
	}
	ws := c.m.selecting(p.PodSelector)
	if len(ws) == 0 {
		c.errorf(obj, "%s: peer podSelector %s selects no pods", where, metav1.FormatLabelSelector(p.PodSelector))
	}
	return ws
}

// IstioMergedMetricsPort is where an Istio sidecar's agent serves the
// pod's metrics merged with Envoy's (Istio rewrites the prometheus.io
// annotations to it), the scrape that works under STRICT mutual TLS.
const IstioMergedMetricsPort = 15020

// policyPorts checks that each port of a rule is a port of at least one of
// the pods it leads to.
func (c *checker) policyPorts(obj, where string, ports []networkingv1.NetworkPolicyPort, pods []workload) {
	for _, p := range ports {
		if p.Port == nil {
			continue
		}
		proto := corev1.ProtocolTCP
		if p.Protocol != nil {
			proto = *p.Protocol
		}
		if p.Port.Type == intstr.Int {
			for _, e := range validation.IsValidPortNum(int(p.Port.IntVal)) {
				c.errorf(obj, "%s: port %d: %s", where, p.Port.IntVal, e)
			}
		}
		// The sidecar's port is injected by the mesh, not in the pod spec.
		found := p.Port.Type == intstr.Int && p.Port.IntVal == IstioMergedMetricsPort && proto == corev1.ProtocolTCP
		for _, w := range pods {
			for _, cp := range w.endpoint().Ports {
				if protocolOf(cp) != proto {
					continue
				}
				switch {
				case p.Port.Type == intstr.String:
					found = found || cp.Name == p.Port.StrVal
				case p.EndPort != nil:
					found = found || (cp.ContainerPort >= p.Port.IntVal && cp.ContainerPort <= *p.EndPort)
				default:
					found = found || cp.ContainerPort == p.Port.IntVal
				}
			}
		}
		if !found {
			c.errorf(obj, "%s: port %s/%s is no container port of %s", where, p.Port.String(), proto, names(pods))
		}
	}
}

// outside: every workload reaches what it needs outside the namespace.
func (c *checker) outside() {
	for _, w := range c.m.workloads() {
		for _, ps := range c.spec.OutsideEgress {
			if !c.m.Reachable(w.endpoint(), Outside, ps.Port, ps.Protocol) {
				c.errorf(w.object(), "cannot reach %s (%d/%s) outside the namespace", ps.What, ps.Port, ps.Protocol)
			}
		}
	}
}
