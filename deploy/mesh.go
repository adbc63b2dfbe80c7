package deploy

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MeshSpec is what the mesh's policies must allow beyond the services'
// callers: Spec.Services says who calls whom.
type MeshSpec struct {
	// TrustDomain is the mesh's trust domain, the first part of every
	// principal ("cluster.local").
	TrustDomain string
	// Gateway is the ingress gateway's identity, the only caller of a
	// Public service.
	Gateway Principal
}

// Principal is a mesh identity: a ServiceAccount of a namespace.
type Principal struct {
	Namespace, ServiceAccount string
}

func (p Principal) name(trustDomain string) string {
	return trustDomain + "/ns/" + p.Namespace + "/sa/" + p.ServiceAccount
}

// The Istio objects below hold only the fields mesh/ uses: any other field
// is rejected when decoding (DecodeStrict), so that using one means adding
// it here, and to the checks.

// WorkloadSelector selects the pods a policy applies to.
type WorkloadSelector struct {
	MatchLabels map[string]string `json:"matchLabels"`
}

// PeerAuthentication is security.istio.io/v1 PeerAuthentication.
type PeerAuthentication struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              PeerAuthenticationSpec `json:"spec"`
}

// PeerAuthenticationSpec is the mutual TLS a workload accepts.
type PeerAuthenticationSpec struct {
	Selector *WorkloadSelector `json:"selector,omitempty"`
	MTLS     *MutualTLS        `json:"mtls,omitempty"`
}

// MutualTLS is a PeerAuthentication's mode (STRICT, PERMISSIVE, DISABLE).
type MutualTLS struct {
	Mode string `json:"mode"`
}

// AuthorizationPolicy is security.istio.io/v1 AuthorizationPolicy.
type AuthorizationPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              AuthorizationPolicySpec `json:"spec"`
}

// AuthorizationPolicySpec allows connections to the selected workloads
// (all of the namespace without a selector) that match a rule; with no
// rules it allows nothing.
type AuthorizationPolicySpec struct {
	Selector *WorkloadSelector   `json:"selector,omitempty"`
	Action   string              `json:"action,omitempty"`
	Rules    []AuthorizationRule `json:"rules,omitempty"`
}

// AuthorizationRule matches a connection from any of From to any of To.
type AuthorizationRule struct {
	From []RuleFrom `json:"from,omitempty"`
	To   []RuleTo   `json:"to,omitempty"`
}

// RuleFrom is one source of a rule.
type RuleFrom struct {
	Source RuleSource `json:"source"`
}

// RuleSource matches callers by principal and by namespace (both, when
// both are given).
type RuleSource struct {
	Principals []string `json:"principals,omitempty"`
	Namespaces []string `json:"namespaces,omitempty"`
}

// RuleTo is one operation of a rule.
type RuleTo struct {
	Operation RuleOperation `json:"operation"`
}

// RuleOperation matches the destination port.
type RuleOperation struct {
	Ports []string `json:"ports,omitempty"`
}

// Gateway is networking.istio.io/v1 Gateway.
type Gateway struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              GatewaySpec `json:"spec"`
}

// GatewaySpec is the gateway pods it configures and what they listen for.
type GatewaySpec struct {
	Selector map[string]string `json:"selector"`
	Servers  []GatewayServer   `json:"servers"`
}

// GatewayServer is one port of a gateway and the hosts it serves there.
type GatewayServer struct {
	Port  GatewayPort `json:"port"`
	Hosts []string    `json:"hosts"`
	TLS   *ServerTLS  `json:"tls,omitempty"`
}

// GatewayPort is a gateway's port.
type GatewayPort struct {
	Number   uint32 `json:"number"`
	Name     string `json:"name"`
	Protocol string `json:"protocol"`
}

// ServerTLS is what a gateway does with TLS (PASSTHROUGH, SIMPLE, …).
type ServerTLS struct {
	Mode string `json:"mode"`
}

// VirtualService is networking.istio.io/v1 VirtualService, with TLS
// routes only.
type VirtualService struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              VirtualServiceSpec `json:"spec"`
}

// VirtualServiceSpec routes TLS connections of hosts arriving at gateways.
type VirtualServiceSpec struct {
	Hosts    []string   `json:"hosts"`
	Gateways []string   `json:"gateways"`
	TLS      []TLSRoute `json:"tls"`
}

// TLSRoute sends connections matching by SNI to destinations.
type TLSRoute struct {
	Match []TLSMatch         `json:"match"`
	Route []RouteDestination `json:"route"`
}

// TLSMatch matches a connection by port and SNI.
type TLSMatch struct {
	Port     uint32   `json:"port,omitempty"`
	SNIHosts []string `json:"sniHosts"`
}

// RouteDestination is where a route sends connections.
type RouteDestination struct {
	Destination Destination `json:"destination"`
}

// Destination is a Service's host name and port.
type Destination struct {
	Host string        `json:"host"`
	Port *PortSelector `json:"port,omitempty"`
}

// PortSelector is a Service port by number.
type PortSelector struct {
	Number uint32 `json:"number"`
}

// Mesh is the Istio objects of an overlay.
type Mesh struct {
	PeerAuthentications   []*PeerAuthentication
	AuthorizationPolicies []*AuthorizationPolicy
	Gateways              []*Gateway
	VirtualServices       []*VirtualService
}

// Decode adds the Istio objects of one multi-document YAML file to mesh.
func (mesh *Mesh) Decode(file string, data []byte) error {
	_, err := decodeFile(file, data, mesh.decodeDocument)
	return err
}

// decodeDocument decodes one Istio document of type tm into mesh.
func (mesh *Mesh) decodeDocument(doc []byte, tm metav1.TypeMeta) error {
	var err error
	switch tm.APIVersion + " " + tm.Kind {
	case "security.istio.io/v1 PeerAuthentication":
		err = add(doc, &mesh.PeerAuthentications)
	case "security.istio.io/v1 AuthorizationPolicy":
		err = add(doc, &mesh.AuthorizationPolicies)
	case "networking.istio.io/v1 Gateway":
		err = add(doc, &mesh.Gateways)
	case "networking.istio.io/v1 VirtualService":
		err = add(doc, &mesh.VirtualServices)
	default:
		return fmt.Errorf("unsupported apiVersion %q kind %q", tm.APIVersion, tm.Kind)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", tm.Kind, err)
	}
	return nil
}

// Empty says whether there are no Istio objects.
func (mesh *Mesh) Empty() bool { return len(mesh.all()) == 0 }

func (mesh *Mesh) all() []objectMeta {
	var out []objectMeta
	for _, o := range mesh.PeerAuthentications {
		out = append(out, objectMeta{"PeerAuthentication", &o.ObjectMeta})
	}
	for _, o := range mesh.AuthorizationPolicies {
		out = append(out, objectMeta{"AuthorizationPolicy", &o.ObjectMeta})
	}
	for _, o := range mesh.Gateways {
		out = append(out, objectMeta{"Gateway", &o.ObjectMeta})
	}
	for _, o := range mesh.VirtualServices {
		out = append(out, objectMeta{"VirtualService", &o.ObjectMeta})
	}
	return out
}

// Objects names every object as "Kind name", sorted.
func (mesh *Mesh) Objects() []string {
	var out []string
	for _, o := range mesh.all() {
		out = append(out, o.kind+" "+o.meta.Name)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// AuthorizationPolicy returns the AuthorizationPolicy called name, or nil.
func (mesh *Mesh) AuthorizationPolicy(name string) *AuthorizationPolicy {
	return find(mesh.AuthorizationPolicies, name, func(o *AuthorizationPolicy) string { return o.Name })
}

// PeerAuthentication returns the PeerAuthentication called name, or nil.
func (mesh *Mesh) PeerAuthentication(name string) *PeerAuthentication {
	return find(mesh.PeerAuthentications, name, func(o *PeerAuthentication) string { return o.Name })
}

// Gateway returns the Gateway called name, or nil.
func (mesh *Mesh) Gateway(name string) *Gateway {
	return find(mesh.Gateways, name, func(o *Gateway) string { return o.Name })
}

// VirtualService returns the VirtualService called name, or nil.
func (mesh *Mesh) VirtualService(name string) *VirtualService {
	return find(mesh.VirtualServices, name, func(o *VirtualService) string { return o.Name })
}

// Allows says whether the AuthorizationPolicies let src connect to port of
// the pods labelled dst, as Istio decides for ALLOW policies: allowed if
// no policy applies to the pods, or if a rule of one that does matches.
func (mesh *Mesh) Allows(trustDomain string, src Principal, dst map[string]string, port int32) bool {
	applies := false
	for _, ap := range mesh.AuthorizationPolicies {
		if ap.Spec.Selector != nil && !selects(&metav1.LabelSelector{MatchLabels: ap.Spec.Selector.MatchLabels}, dst) {
			continue
		}
		applies = true
		for _, r := range ap.Spec.Rules {
			if r.matches(trustDomain, src, port) {
				return true
			}
		}
	}
	return !applies
}

func (r AuthorizationRule) matches(trustDomain string, src Principal, port int32) bool {
	from := len(r.From) == 0
	for _, f := range r.From {
		from = from || f.Source.matches(trustDomain, src)
	}
	to := len(r.To) == 0
	for _, t := range r.To {
		to = to || len(t.Operation.Ports) == 0 || slices.Contains(t.Operation.Ports, strconv.Itoa(int(port)))
	}
	return from && to
}

func (s RuleSource) matches(trustDomain string, p Principal) bool {
	matches := func(list []string, v string) bool {
		return len(list) == 0 || slices.ContainsFunc(list, func(x string) bool { return x == "*" || x == v })
	}
	return matches(s.Principals, p.name(trustDomain)) && matches(s.Namespaces, p.Namespace)
}

// mesh checks the Istio objects against the manifests and the spec:
// STRICT mutual TLS for the whole namespace, policies that deny by default
// and then allow each service's callers (Spec.Services) and no one else,
// etcd's clients and peers, the traces to Jaeger, and a gateway that
// passes the partners' TLS through to a Public service.
func (c *checker) mesh() {
	mesh, spec := c.m.Mesh, c.spec
	if spec.Mesh == nil {
		if !mesh.Empty() {
			c.errorf("Namespace "+Namespace, "the overlay has Istio objects, but the spec expects no mesh")
		}
		return
	}
	if spec.Mesh.TrustDomain == "" || spec.Mesh.Gateway.Namespace == "" {
		c.errorf("Namespace "+Namespace, "the spec names no mesh trust domain or ingress gateway to check the policies against")
		return
	}
	c.peerAuthentication(mesh)
	c.authorizationPolicies(mesh)
	for _, s := range spec.Services {
		c.meshService(mesh, s)
	}
	c.meshEtcd(mesh)
	c.meshTracing(mesh)
	c.gateways(mesh)
}

// peerAuthentication: the whole namespace accepts mutual TLS only.
func (c *checker) peerAuthentication(mesh *Mesh) {
	strict := false
	for _, pa := range mesh.PeerAuthentications {
		obj := "PeerAuthentication " + pa.Name
		mode := ""
		if pa.Spec.MTLS != nil {
			mode = pa.Spec.MTLS.Mode
		}
		switch {
		case mode != "STRICT":
			c.errorf(obj, "mode is %q, not STRICT: callers outside the mesh could connect", mode)
		case pa.Spec.Selector == nil:
			strict = true
		}
	}
	if !strict {
		c.errorf("Namespace "+Namespace, "no PeerAuthentication requires STRICT mutual TLS for the whole namespace")
	}
}

// authorizationPolicies: ALLOW policies only, one that allows nothing to
// deny by default, each selecting pods here, naming ServiceAccounts that
// exist and ports those pods have.
func (c *checker) authorizationPolicies(mesh *Mesh) {
	denyByDefault := false
	td := c.spec.Mesh.TrustDomain
	for _, ap := range mesh.AuthorizationPolicies {
		obj := "AuthorizationPolicy " + ap.Name
		if a := ap.Spec.Action; a != "" && a != "ALLOW" {
			c.errorf(obj, "action %s: only ALLOW policies are modelled here", a)
		}
		pods := c.m.workloads()
		if ap.Spec.Selector != nil {
			pods = c.m.selecting(&metav1.LabelSelector{MatchLabels: ap.Spec.Selector.MatchLabels})
			if len(pods) == 0 {
				c.errorf(obj, "selector %v selects no pods", ap.Spec.Selector.MatchLabels)
			}
		} else if len(ap.Spec.Rules) == 0 {
			denyByDefault = true
		}
		for i, r := range ap.Spec.Rules {
			where := fmt.Sprintf("rule %d", i+1)
			for _, f := range r.From {
				for _, p := range f.Source.Principals {
					c.principal(obj, where, td, p)
				}
			}
			for _, t := range r.To {
				for _, p := range t.Operation.Ports {
					n, err := strconv.ParseUint(p, 10, 16)
					if err != nil || !slices.ContainsFunc(pods, func(w workload) bool {
						return slices.ContainsFunc(w.endpoint().Ports, func(cp corev1.ContainerPort) bool { return uint64(cp.ContainerPort) == n })
					}) {
						c.errorf(obj, "%s: port %q is no container port of %s", where, p, names(pods))
					}
				}
			}
		}
	}
	if !denyByDefault {
		c.errorf("Namespace "+Namespace, "no AuthorizationPolicy allows nothing by default (spec: {})")
	}
}

// principal: a principal is trustDomain/ns/NAMESPACE/sa/NAME, and in this
// namespace NAME is a ServiceAccount here.
func (c *checker) principal(obj, where, td, p string) {
	rest, ok := strings.CutPrefix(p, td+"/ns/")
	ns, sa, ok2 := strings.Cut(rest, "/sa/")
	if !ok || !ok2 || ns == "" || sa == "" || strings.Contains(sa, "/") {
		c.errorf(obj, "%s: principal %q is not %s/ns/NAMESPACE/sa/SERVICEACCOUNT", where, p, td)
		return
	}
	if ns == Namespace && !slices.ContainsFunc(c.m.ServiceAccounts, func(o *corev1.ServiceAccount) bool { return o.Name == sa }) {
		c.errorf(obj, "%s: principal %q names ServiceAccount %s, which does not exist", where, p, sa)
	}
}

// identity returns the mesh identity of a workload's pods.
func (c *checker) identity(w workload) Principal {
	return Principal{Namespace: Namespace, ServiceAccount: w.template.Spec.ServiceAccountName}
}

// meshService: a service's callers may connect to its port, no other
// workload may, and the gateway may if and only if it is Public.
func (c *checker) meshService(mesh *Mesh, s ServiceSpec) {
	obj := "Deployment " + s.Name
	dst, ok := c.m.Pod(s.Name)
	if !ok {
		return // reported by Validate
	}
	td := c.spec.Mesh.TrustDomain
	for _, w := range c.m.workloads() {
		if w.name == s.Name {
			continue
		}
		caller := slices.Contains(s.Callers, w.name)
		got := mesh.Allows(td, c.identity(w), dst.Labels, s.Port)
		switch {
		case caller && !got:
			c.errorf(obj, "mesh: %s, a caller, may not connect to it on %d", w.object(), s.Port)
		case !caller && got:
			c.errorf(obj, "mesh: %s may connect to it on %d, but is not a caller", w.object(), s.Port)
		}
	}
	if self, ok := c.workloadNamed("Deployment", s.Name); ok {
		c.meshReplicas(mesh, obj, s, self)
	}
	gw := c.spec.Mesh.Gateway
	if got := mesh.Allows(td, gw, dst.Labels, s.Port); got != s.Public {
		if s.Public {
			c.errorf(obj, "mesh: the ingress gateway (%s) may not connect to it on %d", gw.name(td), s.Port)
		} else {
			c.errorf(obj, "mesh: the ingress gateway (%s) may connect to it on %d", gw.name(td), s.Port)
		}
	}
	stranger := Principal{Namespace: "not-" + gw.Namespace, ServiceAccount: "default"}
	if mesh.Allows(td, stranger, dst.Labels, s.Port) {
		c.errorf(obj, "mesh: any namespace may connect to it on %d", s.Port)
	}
}

// meshReplicas: the pods of a service that elects or has peers may
// connect to each other by their own IPs (UNIGATE_ADVERTISE), those of
// any other may not. A sidecar gives a connection to a pod IP mutual TLS only if a
// headless Service selects the pod on that port (it then has a listener
// per pod); otherwise the connection leaves in plaintext and STRICT
// mutual TLS refuses it.
func (c *checker) meshReplicas(mesh *Mesh, obj string, s ServiceSpec, self workload) {
	id := c.identity(self)
	got := mesh.Allows(c.spec.Mesh.TrustDomain, id, self.template.Labels, s.Port)
	switch {
	case s.Elects && !got:
		c.errorf(obj, "mesh: its own pods (%s) may not connect to each other on %d: standbys cannot follow the elected leader", id.name(c.spec.Mesh.TrustDomain), s.Port)
	case s.Peers && !got:
		c.errorf(obj, "mesh: its own pods (%s) may not connect to each other on %d: its replicas cannot call their peers", id.name(c.spec.Mesh.TrustDomain), s.Port)
	case !s.Elects && !s.Peers && got:
		c.errorf(obj, "mesh: its own pods may connect to each other on %d, but it runs no elections and has no peers", s.Port)
	}
	if len(c.headlessFor(self, s.Port)) == 0 {
		switch {
		case s.Elects:
			c.errorf(obj, "mesh: no headless Service selects its pods on %d: the sidecars would send the standbys' connections to the leader's pod IP in plaintext, which STRICT mutual TLS refuses", s.Port)
		case s.Peers:
			c.errorf(obj, "mesh: no headless Service selects its pods on %d: the sidecars would send the replicas' connections to their peers' pod IPs in plaintext, which STRICT mutual TLS refuses", s.Port)
		}
	}
}

// meshEtcd: every client of etcd (UNIGATE_ETCD) may connect to its client
// port; only etcd's members to its peer port; the gateway to neither.
func (c *checker) meshEtcd(mesh *Mesh) {
	st := c.m.StatefulSet(c.spec.Etcd.Name)
	if st == nil || len(st.Spec.Template.Spec.Containers) == 0 {
		return // reported by Validate
	}
	obj := "StatefulSet " + st.Name
	self, _ := c.m.Pod(st.Name)
	td := c.spec.Mesh.TrustDomain
	ports := map[string]int32{}
	for _, ct := range st.Spec.Template.Spec.Containers {
		for _, cp := range ct.Ports {
			ports[cp.Name] = cp.ContainerPort
		}
	}
	for _, w := range c.m.workloads() {
		member := w.name == st.Name
		if client, ok := ports["client"]; ok && !member && c.usesEtcd(w) && !mesh.Allows(td, c.identity(w), self.Labels, client) {
			c.errorf(obj, "mesh: %s may not connect to it on %d", w.object(), client)
		}
		if peer, ok := ports["peer"]; ok && mesh.Allows(td, c.identity(w), self.Labels, peer) != member {
			if member {
				c.errorf(obj, "mesh: members may not connect to each other on the peer port %d", peer)
			} else {
				c.errorf(obj, "mesh: %s may connect to its peer port %d", w.object(), peer)
			}
		}
	}
	for name, port := range ports {
		if name != "metrics" && mesh.Allows(td, c.spec.Mesh.Gateway, self.Labels, port) {
			c.errorf(obj, "mesh: the ingress gateway may connect to it on %d", port)
		}
	}
}

// gateways: every server passes TLS through, and every host a gateway
// serves is routed by SNI to a Public service's port.
func (c *checker) gateways(mesh *Mesh) {
	routed := map[string]bool{}
	for _, vs := range mesh.VirtualServices {
		obj := "VirtualService " + vs.Name
		hosts := map[string]bool{}
		for _, g := range vs.Spec.Gateways {
			gw := mesh.Gateway(strings.TrimPrefix(g, Namespace+"/"))
			if gw == nil {
				c.errorf(obj, "gateway %s does not exist", g)
				continue
			}
			for _, s := range gw.Spec.Servers {
				for _, h := range s.Hosts {
					hosts[h] = true
				}
			}
		}
		if len(vs.Spec.TLS) == 0 {
			c.errorf(obj, "has no TLS route")
		}
		for i, r := range vs.Spec.TLS {
			where := fmt.Sprintf("tls route %d", i+1)
			for _, m := range r.Match {
				for _, h := range m.SNIHosts {
					if !hosts[h] {
						c.errorf(obj, "%s: SNI host %s is served by none of its gateways", where, h)
					}
					if !slices.Contains(vs.Spec.Hosts, h) {
						c.errorf(obj, "%s: SNI host %s is not one of its hosts", where, h)
					}
					routed[h] = true
				}
			}
			if len(r.Route) == 0 {
				c.errorf(obj, "%s: has no destination", where)
			}
			for _, d := range r.Route {
				c.destination(obj, where, d.Destination)
			}
		}
	}
	for _, gw := range mesh.Gateways {
		obj := "Gateway " + gw.Name
		if len(gw.Spec.Selector) == 0 {
			c.errorf(obj, "has no selector: it would configure no gateway")
		}
		for _, s := range gw.Spec.Servers {
			if s.TLS == nil || s.TLS.Mode != "PASSTHROUGH" || s.Port.Protocol != "TLS" {
				c.errorf(obj, "port %d: not TLS in PASSTHROUGH mode: the gateway would end the partners' TLS, and the acquirer could not authenticate them by their certificates", s.Port.Number)
			}
			for _, h := range s.Hosts {
				if !routed[h] {
					c.errorf(obj, "host %s is routed by no VirtualService", h)
				}
			}
		}
	}
}

// destination: a route leads to a port of a Service here whose workload
// is a Public service of the spec.
func (c *checker) destination(obj, where string, d Destination) {
	labels, inside := inNamespace(d.Host)
	if !inside || len(labels) != 1 {
		c.errorf(obj, "%s: destination %s is not a Service of namespace %s", where, d.Host, Namespace)
		return
	}
	svc := c.m.Service(labels[0])
	if svc == nil {
		c.errorf(obj, "%s: destination %s names no Service", where, d.Host)
		return
	}
	if d.Port == nil || !slices.ContainsFunc(svc.Spec.Ports, func(sp corev1.ServicePort) bool { return uint32(sp.Port) == d.Port.Number }) {
		c.errorf(obj, "%s: destination %s has no port, or one Service %s does not have", where, d.Host, svc.Name)
	}
	public := false
	for _, w := range c.m.selecting(&metav1.LabelSelector{MatchLabels: svc.Spec.Selector}) {
		public = public || slices.ContainsFunc(c.spec.Services, func(s ServiceSpec) bool { return s.Name == w.name && s.Public })
	}
	if !public {
		c.errorf(obj, "%s: destination %s is not a Public service's", where, d.Host)
	}
}

// meshTracing: every workload that sends traces (OTEL_EXPORTER_OTLP_ENDPOINT)
// to a Service here may connect to its pods' OTLP port.
func (c *checker) meshTracing(mesh *Mesh) {
	td := c.spec.Mesh.TrustDomain
	for _, w := range c.m.workloads() {
		for i := range w.template.Spec.Containers {
			ct := &w.template.Spec.Containers[i]
			v, ok := c.m.envValue(ct, "OTEL_EXPORTER_OTLP_ENDPOINT")
			if !ok || v == "" {
				continue
			}
			host, port, _, err := splitOTLPEndpoint(v)
			dst, cp := c.serviceBackend(host, port)
			if err != nil || cp == nil {
				continue // reported by the targets' checks
			}
			if !mesh.Allows(td, c.identity(w), dst.template.Labels, cp.ContainerPort) {
				c.errorf(w.object(), "mesh: may not send its traces to %s on %d", dst.object(), cp.ContainerPort)
			}
		}
	}
}
