package deploy

import (
	"flag"
	"fmt"
	"io"
	"net"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Namespace is the namespace of every object.
const Namespace = "unigate"

// Well-known topology keys a workload must spread its pods across.
const (
	ZoneKey     = "topology.kubernetes.io/zone"
	HostnameKey = "kubernetes.io/hostname"
)

// Spec is what the manifests must hold beyond the rules every workload
// follows.
type Spec struct {
	// DrainSeconds is how long a stopping server lets calls finish
	// (app.GracePeriod). A pod's terminationGracePeriodSeconds must exceed
	// it plus any preStop sleep.
	DrainSeconds int64
	Services     []ServiceSpec
	Etcd         EtcdSpec
	Jobs         []JobSpec
	// IngressNamespace is the namespace of the mesh's ingress gateway: the
	// only way in for a Public service (required if there is one).
	IngressNamespace string
	// OutsideEgress are ports outside the namespace that every workload
	// must be able to reach (DNS, the database).
	OutsideEgress []PortSpec
	// Mesh is what the Istio objects of mesh/ are checked against
	// (ValidateMesh).
	Mesh MeshSpec
}

// ServiceSpec is one `unigate <Name>` Deployment and its Service.
type ServiceSpec struct {
	// Name names the Deployment, its Service, its PDB and its HPA, and is
	// the unigate subcommand.
	Name     string
	Port     int32
	Replicas int32
	// Autoscaled says whether an HPA scales it.
	Autoscaled bool
	// Env lists variables its container must set.
	Env []string
	// Callers are the workloads that must reach its port; no other
	// workload of the namespace may.
	Callers []string
	// Public says whether the ingress gateway's namespace (and only it)
	// may reach its port from outside; if not, nothing outside may.
	Public bool
	// PKIFiles are the files its server and clients read from the
	// directory UNIGATE_PKI names (pki.Dev's layout, "ca/unigate.crt",
	// "service/fx.key", …): mounted read-only from Secrets, readable by the
	// container's user and no other.
	PKIFiles []string
	// Elects says whether its replicas run elections (app.electionConfig):
	// each campaigns in etcd (UNIGATE_ETCD), advertises its pod's own IP
	// and gRPC port (UNIGATE_ADVERTISE), and its pods may connect to each
	// other on Port, so that standbys follow the leader's process. Pods of
	// a service that neither elects nor has Peers may not connect to each
	// other.
	Elects bool
	// Peers says whether its replicas find each other in etcd and call
	// each other (risk's velocity streams, app.RunRisk): each registers
	// its pod's own IP and gRPC port (UNIGATE_ADVERTISE) in etcd
	// (UNIGATE_ETCD), and its pods may connect to each other on Port.
	Peers bool
	// RoutingCache says whether it keeps the routing table it reads from
	// etcd (UNIGATE_ETCD) in a file (UNIGATE_ROUTING_CACHE), to start on
	// it while etcd is unreachable: the file must be on a volume the
	// container may write.
	RoutingCache bool
}

// JobSpec is a Job run once, e.g. etcd's bootstrap.
type JobSpec struct {
	Name string
	// Argv is the command line its container runs, but for the flags
	// that may follow.
	Argv []string
	// Env and PKIFiles are as for a ServiceSpec.
	Env      []string
	PKIFiles []string
}

// EtcdSpec is the etcd StatefulSet.
type EtcdSpec struct {
	// Name names the StatefulSet; its serviceName is checked separately.
	Name     string
	Replicas int32
	// HeartbeatMS and ElectionMS are the flags --heartbeat-interval and
	// --election-timeout.
	HeartbeatMS, ElectionMS int
	// LeaseMS is the shortest lease its clients take: an election must end
	// well before a lease expires.
	LeaseMS int
	// TLS says that clients and peers connect over https with client
	// certificates: every URL is https, every workload's UNIGATE_ETCD too,
	// and the certificate files are mounted read-only from Secrets.
	TLS bool
}

// PortSpec is a port and protocol.
type PortSpec struct {
	Port     int32
	Protocol corev1.Protocol
	What     string
}

// Problem is one thing Validate found wrong.
type Problem struct {
	// Object is "Kind name", or a file name.
	Object string
	Msg    string
}

func (p Problem) Error() string { return p.Object + ": " + p.Msg }

// Validate checks the manifests against each other and against spec and
// returns every problem found.
func (m *Manifests) Validate(spec Spec) []Problem {
	c := &checker{m: m, spec: spec}
	c.metadata(m.all(), true)
	c.kustomization(KustomizationFile, m.Kustomization, m.Files)
	for _, w := range m.workloads() {
		c.workload(w)
	}
	c.services()
	c.pdbs()
	c.hpas()
	c.statefulSets()
	c.networkPolicies()
	for _, w := range m.workloads() {
		c.targets(w)
	}
	for _, s := range spec.Services {
		c.service(s)
	}
	for _, d := range m.Deployments {
		if !slices.ContainsFunc(spec.Services, func(s ServiceSpec) bool { return s.Name == d.Name }) {
			c.errorf("Deployment "+d.Name, "is not in the spec")
		}
	}
	for _, j := range spec.Jobs {
		c.job(j)
	}
	for _, j := range m.Jobs {
		if !slices.ContainsFunc(spec.Jobs, func(s JobSpec) bool { return s.Name == j.Name }) {
			c.errorf("Job "+j.Name, "is not in the spec")
		}
	}
	c.etcd()
	c.outside()
	return c.problems
}

type checker struct {
	m        *Manifests
	spec     Spec
	problems []Problem
}

// errorf records a problem once, however many checks find it.
func (c *checker) errorf(object, format string, args ...any) {
	p := Problem{Object: object, Msg: fmt.Sprintf(format, args...)}
	if !slices.Contains(c.problems, p) {
		c.problems = append(c.problems, p)
	}
}

func (c *checker) containerf(object string, ct *corev1.Container, format string, args ...any) {
	c.errorf(object, "container %s: %s", ct.Name, fmt.Sprintf(format, args...))
}

// workload is a Deployment, a StatefulSet or a Job.
type workload struct {
	kind, name string
	replicas   *int32
	selector   *metav1.LabelSelector
	template   *corev1.PodTemplateSpec
	claims     []string // volumeClaimTemplates
}

func (w workload) object() string { return w.kind + " " + w.name }

func (w workload) endpoint() Endpoint {
	e := Endpoint{Name: w.name, Labels: w.template.Labels, Inside: true}
	for _, ct := range w.template.Spec.Containers {
		e.Ports = append(e.Ports, ct.Ports...)
	}
	return e
}

func (w workload) replicaCount() int32 {
	if w.replicas == nil {
		return 1
	}
	return *w.replicas
}

func (m *Manifests) workloads() []workload {
	var out []workload
	for _, d := range m.Deployments {
		out = append(out, workload{kind: "Deployment", name: d.Name, replicas: d.Spec.Replicas, selector: d.Spec.Selector, template: &d.Spec.Template})
	}
	for _, s := range m.StatefulSets {
		w := workload{kind: "StatefulSet", name: s.Name, replicas: s.Spec.Replicas, selector: s.Spec.Selector, template: &s.Spec.Template}
		for _, t := range s.Spec.VolumeClaimTemplates {
			w.claims = append(w.claims, t.Name)
		}
		out = append(out, w)
	}
	for _, j := range m.Jobs {
		out = append(out, workload{kind: "Job", name: j.Name, replicas: j.Spec.Parallelism, selector: j.Spec.Selector, template: &j.Spec.Template})
	}
	return out
}

// server says whether a workload serves (a Deployment or a StatefulSet),
// rather than runs to completion (a Job).
func (w workload) server() bool { return w.kind != "Job" }

// selecting returns the workloads whose pods sel selects.
func (m *Manifests) selecting(sel *metav1.LabelSelector) []workload {
	var out []workload
	for _, w := range m.workloads() {
		if selects(sel, w.template.Labels) {
			out = append(out, w)
		}
	}
	return out
}

func names(ws []workload) string {
	var n []string
	for _, w := range ws {
		n = append(n, w.object())
	}
	return strings.Join(n, ", ")
}

func emptySelector(sel *metav1.LabelSelector) bool {
	return sel == nil || len(sel.MatchLabels)+len(sel.MatchExpressions) == 0
}

// metadata: every object is in the namespace, and no two objects of a kind
// share a name; with createsNamespace, one of them is the namespace.
func (c *checker) metadata(objects []objectMeta, createsNamespace bool) {
	seen := map[string]bool{}
	hasNamespace := false
	for _, o := range objects {
		id := o.kind + " " + o.meta.Name
		if seen[id] {
			c.errorf(id, "defined more than once")
		}
		seen[id] = true
		if o.kind == "Namespace" {
			hasNamespace = hasNamespace || o.meta.Name == Namespace
			continue
		}
		if o.meta.Namespace != Namespace {
			c.errorf(id, "metadata.namespace is %q, not %q", o.meta.Namespace, Namespace)
		}
	}
	if createsNamespace && !hasNamespace {
		c.errorf("Namespace "+Namespace, "no manifest creates the namespace")
	}
}

// kustomization: the kustomization (object names its file) of a directory
// of files lists every manifest file but Secret placeholders, and only
// files that exist.
func (c *checker) kustomization(object string, k *Kustomization, files []File) {
	if k == nil {
		c.errorf(object, "missing")
		return
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		c.errorf(object, "apiVersion/kind is %s/%s", k.APIVersion, k.Kind)
	}
	if k.Namespace != Namespace {
		c.errorf(object, "namespace is %q, not %q", k.Namespace, Namespace)
	}
	listed := map[string]bool{}
	for _, r := range k.Resources {
		if listed[r] {
			c.errorf(object, "lists %s twice", r)
		}
		listed[r] = true
		if !slices.ContainsFunc(files, func(f File) bool { return f.Name == r }) {
			c.errorf(object, "lists %s, which is not a manifest here", r)
		}
	}
	for _, f := range files {
		if listed[f.Name] {
			continue
		}
		onlySecrets := len(f.Kinds) > 0
		for _, k := range f.Kinds {
			onlySecrets = onlySecrets && k == "Secret"
		}
		if !onlySecrets {
			c.errorf(object, "does not list %s (only files of Secrets, supplied out of band, may be left out)", f.Name)
		}
	}
}

// workload: the rules every Deployment, StatefulSet and Job follows; the
// rules of serving (replicas, selector, spread, graceful stop, probes,
// Service, disruption budget) apply to Deployments and StatefulSets.
func (c *checker) workload(w workload) {
	obj := w.object()
	if w.server() {
		c.serving(w)
	}
	pod := &w.template.Spec
	c.serviceAccount(obj, pod)

	podNonRoot, podSeccomp := false, false
	if psc := pod.SecurityContext; psc != nil {
		podNonRoot = isTrue(psc.RunAsNonRoot)
		podSeccomp = psc.SeccompProfile != nil && psc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault
	}
	if len(pod.Containers) == 0 {
		c.errorf(obj, "has no containers")
	}
	volumes := slices.Clone(w.claims)
	for _, v := range pod.Volumes {
		volumes = append(volumes, v.Name)
	}
	for i := range pod.Containers {
		ct := &pod.Containers[i]
		if ct.Image == "" {
			c.containerf(obj, ct, "has no image")
		}
		c.resources(obj, ct)
		c.containerSecurity(obj, ct, podNonRoot, podSeccomp)
		c.env(obj, ct)
		c.settingValues(obj, ct)
		for _, vm := range ct.VolumeMounts {
			if !slices.Contains(volumes, vm.Name) {
				c.containerf(obj, ct, "mounts volume %q, which the pod does not have", vm.Name)
			}
		}
	}
}

// serving: the rules of a workload that serves.
func (c *checker) serving(w workload) {
	obj := w.object()
	if w.replicas == nil {
		c.errorf(obj, "replicas is not set")
	} else if *w.replicas < 1 {
		c.errorf(obj, "replicas is %d", *w.replicas)
	}
	if emptySelector(w.selector) {
		c.errorf(obj, "has no selector")
	} else if !selects(w.selector, w.template.Labels) {
		c.errorf(obj, "selector %s does not match the pod template's labels %v", metav1.FormatLabelSelector(w.selector), w.template.Labels)
	}
	for _, other := range c.m.workloads() {
		if other.object() != obj && selects(w.selector, other.template.Labels) {
			c.errorf(obj, "selector also selects the pods of %s", other.object())
		}
	}
	pod := &w.template.Spec
	if pod.TerminationGracePeriodSeconds == nil {
		c.errorf(obj, "terminationGracePeriodSeconds is not set")
	}
	c.topologySpread(obj, w)
	for i := range pod.Containers {
		ct := &pod.Containers[i]
		if pod.TerminationGracePeriodSeconds != nil {
			need := c.spec.DrainSeconds + preStopSleep(ct)
			if *pod.TerminationGracePeriodSeconds <= need {
				c.containerf(obj, ct, "terminationGracePeriodSeconds %d does not exceed the %d s drain plus the %d s preStop sleep",
					*pod.TerminationGracePeriodSeconds, c.spec.DrainSeconds, preStopSleep(ct))
			}
		}
		want := probeWant{kind: anyProbe}
		if w.kind == "Deployment" {
			// A `unigate` server: plaintext gRPC, or mutual TLS with
			// UNIGATE_PKI. The Deployment is named after its service
			// (ServiceSpec.Name; service checks that it runs it).
			want = probeWant{kind: grpcProbe, service: w.name}
			if v, ok := c.m.envValue(ct, "UNIGATE_PKI"); ok && v != "" {
				want.kind = mutualTLSProbe
			}
		}
		c.probe(obj, "readiness", ct.ReadinessProbe, ct, want)
		c.probe(obj, "liveness", ct.LivenessProbe, ct, want)
		c.probe(obj, "startup", ct.StartupProbe, ct, want)
		if w.kind == "Deployment" && portNamed(ct, "grpc") == nil {
			c.containerf(obj, ct, "has no container port named grpc")
		}
	}

	var svcs []string
	for _, s := range c.m.Services {
		if !emptySelector(&metav1.LabelSelector{MatchLabels: s.Spec.Selector}) && selects(&metav1.LabelSelector{MatchLabels: s.Spec.Selector}, w.template.Labels) {
			svcs = append(svcs, s.Name)
		}
	}
	if len(svcs) == 0 {
		c.errorf(obj, "no Service selects its pods")
	}
	var pdbs []string
	for _, b := range c.m.PDBs {
		if selects(b.Spec.Selector, w.template.Labels) {
			pdbs = append(pdbs, b.Name)
		}
	}
	switch len(pdbs) {
	case 0:
		c.errorf(obj, "no PodDisruptionBudget covers its pods")
	case 1:
	default:
		// The eviction API refuses to evict a pod under several budgets.
		c.errorf(obj, "its pods are under several PodDisruptionBudgets: %s", strings.Join(pdbs, ", "))
	}
}

func (c *checker) serviceAccount(obj string, pod *corev1.PodSpec) {
	if pod.ServiceAccountName == "" {
		c.errorf(obj, "serviceAccountName is not set")
		return
	}
	var sa *corev1.ServiceAccount
	for _, s := range c.m.ServiceAccounts {
		if s.Name == pod.ServiceAccountName {
			sa = s
		}
	}
	if sa == nil {
		c.errorf(obj, "ServiceAccount %q does not exist", pod.ServiceAccountName)
		return
	}
	mounted := sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken
	if pod.AutomountServiceAccountToken != nil {
		mounted = *pod.AutomountServiceAccountToken
	}
	if mounted {
		c.errorf(obj, "mounts a service account token, but nothing here talks to the Kubernetes API")
	}
}

func (c *checker) topologySpread(obj string, w workload) {
	keys := map[string]bool{}
	for _, tsc := range w.template.Spec.TopologySpreadConstraints {
		keys[tsc.TopologyKey] = true
		if !selects(tsc.LabelSelector, w.template.Labels) {
			c.errorf(obj, "topology spread over %s does not select the workload's own pods", tsc.TopologyKey)
		}
		if tsc.MaxSkew < 1 {
			c.errorf(obj, "topology spread over %s has maxSkew %d", tsc.TopologyKey, tsc.MaxSkew)
		}
	}
	for _, k := range []string{ZoneKey, HostnameKey} {
		if !keys[k] {
			c.errorf(obj, "no topology spread constraint over %s", k)
		}
	}
}

func preStopSleep(ct *corev1.Container) int64 {
	if ct.Lifecycle != nil && ct.Lifecycle.PreStop != nil && ct.Lifecycle.PreStop.Sleep != nil {
		return ct.Lifecycle.PreStop.Sleep.Seconds
	}
	return 0
}

func (c *checker) resources(obj string, ct *corev1.Container) {
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, hasReq := ct.Resources.Requests[r]
		lim, hasLim := ct.Resources.Limits[r]
		if !hasReq {
			c.containerf(obj, ct, "no %s request", r)
		}
		if !hasLim {
			c.containerf(obj, ct, "no %s limit", r)
		}
		if hasReq && hasLim && req.Cmp(lim) > 0 {
			c.containerf(obj, ct, "%s request %s exceeds its limit %s", r, req.String(), lim.String())
		}
	}
	for _, e := range ct.Env {
		if e.Name != "GOMEMLIMIT" || e.ValueFrom != nil {
			continue
		}
		n, err := parseGoMemLimit(e.Value)
		if err != nil {
			c.containerf(obj, ct, "GOMEMLIMIT: %v", err)
			continue
		}
		if lim, ok := ct.Resources.Limits[corev1.ResourceMemory]; ok && n >= lim.Value() {
			c.containerf(obj, ct, "GOMEMLIMIT %s is not below the memory limit %s", e.Value, lim.String())
		}
	}
}

// parseGoMemLimit parses GOMEMLIMIT's syntax: bytes, or a number with a
// B, KiB, MiB, GiB or TiB suffix.
func parseGoMemLimit(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("cannot parse %q", s)
	}
	return n * mult, nil
}

func isTrue(b *bool) bool  { return b != nil && *b }
func isFalse(b *bool) bool { return b != nil && !*b }

func (c *checker) containerSecurity(obj string, ct *corev1.Container, podNonRoot, podSeccomp bool) {
	sc := ct.SecurityContext
	if sc == nil {
		c.containerf(obj, ct, "has no securityContext")
		sc = &corev1.SecurityContext{}
	}
	if !(isTrue(sc.RunAsNonRoot) || (podNonRoot && !isFalse(sc.RunAsNonRoot))) {
		c.containerf(obj, ct, "runAsNonRoot is not true")
	}
	if !isTrue(sc.ReadOnlyRootFilesystem) {
		c.containerf(obj, ct, "readOnlyRootFilesystem is not true")
	}
	if !isFalse(sc.AllowPrivilegeEscalation) {
		c.containerf(obj, ct, "allowPrivilegeEscalation is not false")
	}
	if isTrue(sc.Privileged) {
		c.containerf(obj, ct, "is privileged")
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		c.containerf(obj, ct, "does not drop ALL capabilities")
	} else if len(sc.Capabilities.Add) > 0 {
		c.containerf(obj, ct, "adds capabilities %v", sc.Capabilities.Add)
	}
	seccomp := podSeccomp
	if sc.SeccompProfile != nil {
		seccomp = sc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault
	}
	if !seccomp {
		c.containerf(obj, ct, "seccompProfile is not RuntimeDefault")
	}
}

// probeWant is what a probe must ask.
type probeWant struct {
	kind probeKind
	// service is the `unigate` service a Deployment runs.
	service string
}

type probeKind int

const (
	// anyProbe: any handler, on a port of the container.
	anyProbe probeKind = iota
	// grpcProbe: grpc.health.v1, for a plaintext gRPC server.
	grpcProbe
	// mutualTLSProbe: a server that requires a client certificate, which
	// kubelet's gRPC and HTTP probes cannot present and a TCP probe does
	// not get as far as: `unigate health` as an exec probe (healthProbe).
	mutualTLSProbe
)

func (c *checker) probe(obj, kind string, pr *corev1.Probe, ct *corev1.Container, want probeWant) {
	if pr == nil {
		c.containerf(obj, ct, "has no %s probe", kind)
		return
	}
	h := pr.ProbeHandler
	use := fmt.Sprintf("exec `unigate health --service %s`", want.service)
	switch {
	case want.kind == mutualTLSProbe && (h.GRPC != nil || h.HTTPGet != nil):
		c.containerf(obj, ct, "%s probe cannot present a client certificate, which the server requires (UNIGATE_PKI): %s", kind, use)
	case want.kind == mutualTLSProbe && h.TCPSocket != nil:
		c.containerf(obj, ct, "%s probe is a TCP probe, which checks neither the server's TLS nor its health status: %s", kind, use)
	case want.kind == mutualTLSProbe && h.Exec == nil:
		c.containerf(obj, ct, "%s probe has no handler: %s", kind, use)
	case want.kind == mutualTLSProbe:
		c.healthProbe(obj, kind, pr, ct, want.service)
	case h.GRPC != nil:
		if portNumbered(ct, h.GRPC.Port) == nil {
			c.containerf(obj, ct, "%s probe: gRPC port %d is not a container port", kind, h.GRPC.Port)
		}
	case want.kind == grpcProbe:
		c.containerf(obj, ct, "%s probe is not a gRPC probe", kind)
	case h.HTTPGet != nil:
		if resolvePort(ct, h.HTTPGet.Port) == nil {
			c.containerf(obj, ct, "%s probe: port %s is not a container port", kind, h.HTTPGet.Port.String())
		}
	case h.TCPSocket != nil:
		if resolvePort(ct, h.TCPSocket.Port) == nil {
			c.containerf(obj, ct, "%s probe: port %s is not a container port", kind, h.TCPSocket.Port.String())
		}
	case h.Exec == nil:
		c.containerf(obj, ct, "%s probe has no handler", kind)
	}
}

// healthDeadline is the default of `unigate health --timeout`.
const healthDeadline = 2 * time.Second

// healthProbe: an exec probe of a mutual TLS server runs
//
//	unigate health --service NAME --server-name DNS-NAME [flags]
//
// (services/cmd/unigate/health.go), whose flags are parsed here as the
// command parses them. It must check the container's own grpc port on the
// loopback (--addr, or UNIGATE_LISTEN with an unspecified host), as
// service NAME (the Deployment's), over TLS (--pki, or UNIGATE_PKI),
// verifying the server's certificate for one of the DNS names it carries
// (certDNSNames; without --server-name it would verify 127.0.0.1, which
// it does not carry), the health of the whole server
// (--name ""), and within the probe's timeoutSeconds, which must leave a
// second over the check's --timeout to start the process (3 s at least).
func (c *checker) healthProbe(obj, kind string, pr *corev1.Probe, ct *corev1.Container, service string) {
	bad := func(format string, args ...any) {
		c.containerf(obj, ct, "%s probe: %s", kind, fmt.Sprintf(format, args...))
	}
	argv := pr.Exec.Command
	if len(argv) < 2 || argv[0] != "unigate" || argv[1] != "health" {
		bad("runs %q, not unigate health --service %s", argv, service)
		return
	}
	fs := flag.NewFlagSet("health", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	svc := fs.String("service", "", "")
	addr := fs.String("addr", "", "")
	serverName := fs.String("server-name", "", "")
	name := fs.String("name", "", "")
	pkiDir := fs.String("pki", "", "")
	timeout := fs.Duration("timeout", healthDeadline, "")
	if err := fs.Parse(argv[2:]); err != nil {
		bad("unigate health would fail on its flags: %v", err)
		return
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if fs.NArg() > 0 {
		bad("unigate health takes no arguments, and ignores the flags after them: %q", fs.Args())
	}

	if !set["service"] {
		bad("does not name --service %s, whose certificate to present", service)
	} else if *svc != service {
		bad("checks as --service %s, not %s", *svc, service)
	}

	env, _ := c.m.envValue(ct, "UNIGATE_PKI")
	switch {
	case set["pki"] && *pkiDir == "":
		bad("--pki is empty: it would check in plaintext a server that requires TLS")
	case set["pki"] && path.Clean(*pkiDir) != path.Clean(env):
		bad("--pki %s is not UNIGATE_PKI %s, where the service's certificates are", *pkiDir, env)
	}

	if !set["addr"] {
		var ok bool
		if *addr, ok = c.m.envValue(ct, "UNIGATE_LISTEN"); !ok || *addr == "" {
			*addr = "127.0.0.1:7000" // the command's default
		}
	}
	grpcPort := portNamed(ct, "grpc")
	if host, port, err := splitTarget(*addr); err != nil {
		bad("cannot parse the address %q it checks: %v", *addr, err)
	} else if !loopback(host) || grpcPort == nil || port != grpcPort.ContainerPort {
		bad("checks %s, not the container's grpc port on the loopback", *addr)
	}

	names := certDNSNames(service)
	switch {
	case !set["server-name"] || *serverName == "":
		bad("has no --server-name: it would verify the server's certificate for the address's host, which the certificate does not carry (use %s.%s.svc)", service, Namespace)
	case !slices.Contains(names, *serverName):
		bad("--server-name %s is not one of the DNS names of %s's certificate (%s)", *serverName, service, strings.Join(names, ", "))
	}

	if *name != "" {
		bad("asks for the health of %q: the servers report the whole server's only (--name \"\")", *name)
	}

	secs := max(pr.TimeoutSeconds, 1) // the API server's default is 1
	need := max(int32(3), int32((*timeout+time.Second-1)/time.Second)+1)
	switch {
	case *timeout <= 0:
		bad("--timeout %s is not positive", *timeout)
	case secs < need:
		bad("timeoutSeconds %d leaves no room to start the process and shake hands within the check's %s deadline: want %d at least", secs, *timeout, need)
	}
}

// loopback says whether host, as `unigate health` resolves it (an empty or
// unspecified host is 127.0.0.1), is the pod's own loopback.
func loopback(host string) bool {
	if host == "" || host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.IsUnspecified() || ip.IsLoopback())
}

func portNumbered(ct *corev1.Container, n int32) *corev1.ContainerPort {
	for i := range ct.Ports {
		if ct.Ports[i].ContainerPort == n {
			return &ct.Ports[i]
		}
	}
	return nil
}

func portNamed(ct *corev1.Container, name string) *corev1.ContainerPort {
	for i := range ct.Ports {
		if ct.Ports[i].Name == name {
			return &ct.Ports[i]
		}
	}
	return nil
}

func resolvePort(ct *corev1.Container, p intstr.IntOrString) *corev1.ContainerPort {
	if p.Type == intstr.String {
		return portNamed(ct, p.StrVal)
	}
	return portNumbered(ct, p.IntVal)
}

func (c *checker) env(obj string, ct *corev1.Container) {
	seen := map[string]bool{}
	for _, e := range ct.Env {
		if seen[e.Name] {
			c.containerf(obj, ct, "sets %s twice", e.Name)
		}
		seen[e.Name] = true
		if e.ValueFrom == nil {
			continue
		}
		if r := e.ValueFrom.ConfigMapKeyRef; r != nil && !isTrue(r.Optional) {
			cm := c.m.ConfigMap(r.Name)
			if cm == nil {
				c.containerf(obj, ct, "%s: ConfigMap %q does not exist", e.Name, r.Name)
			} else if _, ok := cm.Data[r.Key]; !ok {
				c.containerf(obj, ct, "%s: ConfigMap %q has no key %q", e.Name, r.Name, r.Key)
			}
		}
		if r := e.ValueFrom.SecretKeyRef; r != nil && !isTrue(r.Optional) {
			s := c.m.Secret(r.Name)
			if s == nil {
				c.containerf(obj, ct, "%s: Secret %q does not exist", e.Name, r.Name)
			} else if _, ok := s.StringData[r.Key]; !ok {
				if _, ok := s.Data[r.Key]; !ok {
					c.containerf(obj, ct, "%s: Secret %q has no key %q", e.Name, r.Name, r.Key)
				}
			}
		}
	}
	for _, ef := range ct.EnvFrom {
		if r := ef.ConfigMapRef; r != nil && !isTrue(r.Optional) && c.m.ConfigMap(r.Name) == nil {
			c.containerf(obj, ct, "envFrom: ConfigMap %q does not exist", r.Name)
		}
		if r := ef.SecretRef; r != nil && !isTrue(r.Optional) && c.m.Secret(r.Name) == nil {
			c.containerf(obj, ct, "envFrom: Secret %q does not exist", r.Name)
		}
	}
}

// envValue returns the value a container sees for name, following
// ConfigMap and Secret references, and whether it is set.
func (m *Manifests) envValue(ct *corev1.Container, name string) (string, bool) {
	for _, e := range ct.Env {
		if e.Name != name {
			continue
		}
		if e.ValueFrom == nil {
			return e.Value, true
		}
		if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
			if cm := m.ConfigMap(r.Name); cm != nil {
				v, ok := cm.Data[r.Key]
				return v, ok
			}
		}
		if r := e.ValueFrom.SecretKeyRef; r != nil {
			if s := m.Secret(r.Name); s != nil {
				if v, ok := s.StringData[r.Key]; ok {
					return v, true
				}
				v, ok := s.Data[r.Key]
				return string(v), ok
			}
		}
		return "", false
	}
	return "", false
}

// services: each selects the pods of exactly one workload, its ports land
// on container ports, and some NetworkPolicy lets traffic reach them.
func (c *checker) services() {
	for _, s := range c.m.Services {
		obj := "Service " + s.Name
		if s.Spec.Type != "" && s.Spec.Type != corev1.ServiceTypeClusterIP {
			c.errorf(obj, "type %s exposes it outside the cluster; traffic comes in through the mesh gateway", s.Spec.Type)
		}
		sel := &metav1.LabelSelector{MatchLabels: s.Spec.Selector}
		if emptySelector(sel) {
			c.errorf(obj, "has no selector")
			continue
		}
		ws := c.m.selecting(sel)
		switch len(ws) {
		case 0:
			c.errorf(obj, "selector %v selects no pods of any Deployment or StatefulSet", s.Spec.Selector)
			continue
		case 1:
		default:
			c.errorf(obj, "selector %v selects the pods of several workloads: %s", s.Spec.Selector, names(ws))
			continue
		}
		w := ws[0]
		if len(s.Spec.Ports) == 0 {
			c.errorf(obj, "has no ports")
		}
		for _, sp := range s.Spec.Ports {
			cp := c.targetPort(w, sp)
			if cp == nil {
				tp := targetPortOf(sp)
				c.errorf(obj, "port %s: targetPort %s is not a %s container port of %s", sp.Name, tp.String(), protocolOfService(sp), w.object())
				continue
			}
			if cp.Name == "grpc" {
				// A server with UNIGATE_PKI speaks TLS itself: a mesh
				// sidecar told "grpc" would parse its bytes as HTTP/2.
				want := "grpc"
				if c.mutualTLS(w, cp) {
					want = "tls"
				}
				if !strings.HasPrefix(sp.Name, "grpc") || sp.AppProtocol == nil || *sp.AppProtocol != want {
					c.errorf(obj, "port %s: a gRPC port must be named grpc and declare appProtocol %s", sp.Name, want)
				}
			}
			if !c.reachableFromSomewhere(w.endpoint(), cp.ContainerPort, protocolOf(*cp)) {
				c.errorf(obj, "port %s: no NetworkPolicy lets anything reach %s on %d", sp.Name, w.object(), cp.ContainerPort)
			}
		}
	}
}

func targetPortOf(sp corev1.ServicePort) intstr.IntOrString {
	if sp.TargetPort.Type == intstr.Int && sp.TargetPort.IntVal == 0 {
		return intstr.FromInt32(sp.Port)
	}
	return sp.TargetPort
}

func protocolOfService(sp corev1.ServicePort) corev1.Protocol {
	if sp.Protocol == "" {
		return corev1.ProtocolTCP
	}
	return sp.Protocol
}

// mutualTLS says whether the container with port cp of w serves it with
// mutual TLS (it sets UNIGATE_PKI).
func (c *checker) mutualTLS(w workload, cp *corev1.ContainerPort) bool {
	for i := range w.template.Spec.Containers {
		ct := &w.template.Spec.Containers[i]
		if slices.ContainsFunc(ct.Ports, func(p corev1.ContainerPort) bool { return p == *cp }) {
			v, ok := c.m.envValue(ct, "UNIGATE_PKI")
			return ok && v != ""
		}
	}
	return false
}

// targetPort returns the container port a Service port sends to.
func (c *checker) targetPort(w workload, sp corev1.ServicePort) *corev1.ContainerPort {
	tp := targetPortOf(sp)
	for i := range w.template.Spec.Containers {
		ct := &w.template.Spec.Containers[i]
		if cp := resolvePort(ct, tp); cp != nil && protocolOf(*cp) == protocolOfService(sp) {
			return cp
		}
	}
	return nil
}

func (c *checker) reachableFromSomewhere(dst Endpoint, port int32, proto corev1.Protocol) bool {
	if c.m.Reachable(Outside, dst, port, proto) {
		return true
	}
	for _, w := range c.m.workloads() {
		if c.m.Reachable(w.endpoint(), dst, port, proto) {
			return true
		}
	}
	return false
}

// replicaFloor is the fewest replicas a workload runs with: its replicas,
// or its HPA's minReplicas if lower.
func (c *checker) replicaFloor(w workload) int32 {
	floor := w.replicaCount()
	if w.kind == "Deployment" {
		for _, h := range c.m.HPAs {
			if h.Spec.ScaleTargetRef.Kind == "Deployment" && h.Spec.ScaleTargetRef.Name == w.name && h.Spec.MinReplicas != nil && *h.Spec.MinReplicas < floor {
				floor = *h.Spec.MinReplicas
			}
		}
	}
	return floor
}

// pdbs: each covers exactly one workload and lets one pod, but not all,
// be evicted at the workload's fewest replicas.
func (c *checker) pdbs() {
	for _, b := range c.m.PDBs {
		obj := "PodDisruptionBudget " + b.Name
		if emptySelector(b.Spec.Selector) {
			c.errorf(obj, "has no selector")
			continue
		}
		ws := c.m.selecting(b.Spec.Selector)
		if len(ws) != 1 {
			c.errorf(obj, "selects the pods of %d workloads (%s), not of one", len(ws), names(ws))
			continue
		}
		w := ws[0]
		floor := c.replicaFloor(w)
		switch {
		case (b.Spec.MinAvailable == nil) == (b.Spec.MaxUnavailable == nil):
			c.errorf(obj, "sets neither or both of minAvailable and maxUnavailable")
		case b.Spec.MinAvailable != nil:
			n, err := intstr.GetScaledValueFromIntOrPercent(b.Spec.MinAvailable, int(floor), true)
			switch {
			case err != nil:
				c.errorf(obj, "minAvailable: %v", err)
			case n < 1:
				c.errorf(obj, "minAvailable %s lets every pod of %s be evicted", b.Spec.MinAvailable.String(), w.object())
			case n >= int(floor):
				c.errorf(obj, "minAvailable %s with %d replicas of %s blocks every eviction (node drains hang)", b.Spec.MinAvailable.String(), floor, w.object())
			}
		default:
			n, err := intstr.GetScaledValueFromIntOrPercent(b.Spec.MaxUnavailable, int(floor), false)
			switch {
			case err != nil:
				c.errorf(obj, "maxUnavailable: %v", err)
			case n < 1:
				c.errorf(obj, "maxUnavailable %s blocks every eviction of %s (node drains hang)", b.Spec.MaxUnavailable.String(), w.object())
			case n >= int(floor):
				c.errorf(obj, "maxUnavailable %s with %d replicas lets every pod of %s be evicted", b.Spec.MaxUnavailable.String(), floor, w.object())
			}
		}
	}
}

// hpas: each targets an existing Deployment, with a sane range that holds
// the Deployment's replicas, on CPU utilization.
func (c *checker) hpas() {
	targets := map[string]string{}
	for _, h := range c.m.HPAs {
		obj := "HorizontalPodAutoscaler " + h.Name
		ref := h.Spec.ScaleTargetRef
		if ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" {
			c.errorf(obj, "scaleTargetRef is %s %s, not apps/v1 Deployment", ref.APIVersion, ref.Kind)
			continue
		}
		d := c.m.Deployment(ref.Name)
		if d == nil {
			c.errorf(obj, "targets Deployment %q, which does not exist", ref.Name)
			continue
		}
		if prev, ok := targets[ref.Name]; ok {
			c.errorf(obj, "targets Deployment %s, as HorizontalPodAutoscaler %s does", ref.Name, prev)
		}
		targets[ref.Name] = h.Name
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2 {
			c.errorf(obj, "minReplicas is not set to 2 or more")
		} else {
			if h.Spec.MaxReplicas <= *h.Spec.MinReplicas {
				c.errorf(obj, "maxReplicas %d is not above minReplicas %d", h.Spec.MaxReplicas, *h.Spec.MinReplicas)
			}
			if r := d.Spec.Replicas; r != nil && (*r < *h.Spec.MinReplicas || *r > h.Spec.MaxReplicas) {
				c.errorf(obj, "Deployment %s's replicas %d is outside [%d, %d]", d.Name, *r, *h.Spec.MinReplicas, h.Spec.MaxReplicas)
			}
		}
		cpu := false
		for _, ms := range h.Spec.Metrics {
			if r := ms.Resource; ms.Type == "Resource" && r != nil && r.Name == corev1.ResourceCPU && r.Target.Type == "Utilization" &&
				r.Target.AverageUtilization != nil && *r.Target.AverageUtilization > 0 && *r.Target.AverageUtilization <= 100 {
				cpu = true
			}
		}
		if !cpu {
			c.errorf(obj, "has no CPU utilization target between 1 and 100 %%")
		}
	}
}

// statefulSets: each is governed by a headless Service that selects its
// pods, and its claims ask for storage.
func (c *checker) statefulSets() {
	for _, s := range c.m.StatefulSets {
		obj := "StatefulSet " + s.Name
		svc := c.m.Service(s.Spec.ServiceName)
		switch {
		case s.Spec.ServiceName == "":
			c.errorf(obj, "serviceName is not set")
		case svc == nil:
			c.errorf(obj, "serviceName %q names no Service", s.Spec.ServiceName)
		case svc.Spec.ClusterIP != corev1.ClusterIPNone:
			c.errorf(obj, "Service %s is not headless (clusterIP: None)", svc.Name)
		case !selects(&metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, s.Spec.Template.Labels) || len(svc.Spec.Selector) == 0:
			c.errorf(obj, "Service %s does not select its pods", svc.Name)
		}
		if len(s.Spec.VolumeClaimTemplates) == 0 {
			c.errorf(obj, "has no volumeClaimTemplates")
		}
		for _, t := range s.Spec.VolumeClaimTemplates {
			if q, ok := t.Spec.Resources.Requests[corev1.ResourceStorage]; !ok || q.Cmp(resource.MustParse("1Gi")) < 0 {
				c.errorf(obj, "volume claim %s asks for less than 1Gi of storage", t.Name)
			}
		}
	}
}

// networkPolicies: ingress is denied by default; every policy and every
// in-namespace peer selects existing pods; ports are ports those pods have.
func (c *checker) networkPolicies() {
	defaultDeny := false
	for _, np := range c.m.NetworkPolicies {
		if emptySelector(&np.Spec.PodSelector) && slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) && len(np.Spec.Ingress) == 0 {
			defaultDeny = true
		}
	}
	if !defaultDeny {
		c.errorf("Namespace "+Namespace, "no NetworkPolicy denies ingress by default")
	}
	for _, np := range c.m.NetworkPolicies {
		obj := "NetworkPolicy " + np.Name
		if len(np.Spec.PolicyTypes) == 0 {
			c.errorf(obj, "policyTypes is not set")
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
		found := false
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
