package deploy

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
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
	// OutsideEgress are ports outside the namespace that every workload
	// must be able to reach (DNS, the database).
	OutsideEgress []PortSpec
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
	// Callers are the workloads that must reach its port; unless Public,
	// no other workload of the namespace may.
	Callers []string
	// Public says whether anything outside the namespace may reach its
	// port; if not, nothing outside may.
	Public bool
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
	c.metadata()
	c.kustomization()
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
	c.etcd()
	c.outside()
	return c.problems
}

type checker struct {
	m        *Manifests
	spec     Spec
	problems []Problem
}

func (c *checker) errorf(object, format string, args ...any) {
	c.problems = append(c.problems, Problem{Object: object, Msg: fmt.Sprintf(format, args...)})
}

func (c *checker) containerf(object string, ct *corev1.Container, format string, args ...any) {
	c.errorf(object, "container %s: %s", ct.Name, fmt.Sprintf(format, args...))
}

// workload is a Deployment or a StatefulSet.
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
	return out
}

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
// share a name.
func (c *checker) metadata() {
	seen := map[string]bool{}
	hasNamespace := false
	for _, o := range c.m.all() {
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
	if !hasNamespace {
		c.errorf("Namespace "+Namespace, "no manifest creates the namespace")
	}
}

// kustomization: it lists every manifest file but Secret placeholders, and
// only files that exist.
func (c *checker) kustomization() {
	k := c.m.Kustomization
	if k == nil {
		c.errorf(KustomizationFile, "missing")
		return
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		c.errorf(KustomizationFile, "apiVersion/kind is %s/%s", k.APIVersion, k.Kind)
	}
	if k.Namespace != Namespace {
		c.errorf(KustomizationFile, "namespace is %q, not %q", k.Namespace, Namespace)
	}
	listed := map[string]bool{}
	for _, r := range k.Resources {
		if listed[r] {
			c.errorf(KustomizationFile, "lists %s twice", r)
		}
		listed[r] = true
		if _, ok := c.m.kindsOf(r); !ok {
			c.errorf(KustomizationFile, "lists %s, which is not a manifest here", r)
		}
	}
	for _, f := range c.m.Files {
		if listed[f.Name] {
			continue
		}
		onlySecrets := len(f.Kinds) > 0
		for _, k := range f.Kinds {
			onlySecrets = onlySecrets && k == "Secret"
		}
		if !onlySecrets {
			c.errorf(KustomizationFile, "does not list %s (only files of Secrets, supplied out of band, may be left out)", f.Name)
		}
	}
}

// workload: the rules every Deployment and StatefulSet follows.
func (c *checker) workload(w workload) {
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
	c.serviceAccount(obj, pod)

	podNonRoot, podSeccomp := false, false
	if psc := pod.SecurityContext; psc != nil {
		podNonRoot = isTrue(psc.RunAsNonRoot)
		podSeccomp = psc.SeccompProfile != nil && psc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault
	}

	if pod.TerminationGracePeriodSeconds == nil {
		c.errorf(obj, "terminationGracePeriodSeconds is not set")
	}
	c.topologySpread(obj, w)

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
		if pod.TerminationGracePeriodSeconds != nil {
			need := c.spec.DrainSeconds + preStopSleep(ct)
			if *pod.TerminationGracePeriodSeconds <= need {
				c.containerf(obj, ct, "terminationGracePeriodSeconds %d does not exceed the %d s drain plus the %d s preStop sleep",
					*pod.TerminationGracePeriodSeconds, c.spec.DrainSeconds, preStopSleep(ct))
			}
		}
		c.resources(obj, ct)
		c.containerSecurity(obj, ct, podNonRoot, podSeccomp)
		grpc := w.kind == "Deployment"
		c.probe(obj, "readiness", ct.ReadinessProbe, ct, grpc)
		c.probe(obj, "liveness", ct.LivenessProbe, ct, grpc)
		c.probe(obj, "startup", ct.StartupProbe, ct, grpc)
		c.env(obj, ct)
		for _, vm := range ct.VolumeMounts {
			if !slices.Contains(volumes, vm.Name) {
				c.containerf(obj, ct, "mounts volume %q, which the pod does not have", vm.Name)
			}
		}
		if grpc && portNamed(ct, "grpc") == nil {
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

func (c *checker) probe(obj, kind string, pr *corev1.Probe, ct *corev1.Container, mustBeGRPC bool) {
	if pr == nil {
		c.containerf(obj, ct, "has no %s probe", kind)
		return
	}
	h := pr.ProbeHandler
	switch {
	case h.GRPC != nil:
		if portNumbered(ct, h.GRPC.Port) == nil {
			c.containerf(obj, ct, "%s probe: gRPC port %d is not a container port", kind, h.GRPC.Port)
		}
		return
	case mustBeGRPC:
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
			if cp.Name == "grpc" && (!strings.HasPrefix(sp.Name, "grpc") || sp.AppProtocol == nil || *sp.AppProtocol != "grpc") {
				c.errorf(obj, "port %s: a gRPC port must be named grpc and declare appProtocol grpc", sp.Name)
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
			}
			c.policyPorts(obj, fmt.Sprintf("ingress rule %d", i+1), r.Ports, selected)
		}
		for i, r := range np.Spec.Egress {
			var peers []workload
			inside := len(r.To) > 0
			for _, p := range r.To {
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

// Environment variables that name gRPC targets of other services.
var targetVars = []string{"UNIGATE_ROUTER", "UNIGATE_FX", "UNIGATE_RISK", "UNIGATE_SETTLEMENT"}

// targets: what a workload's configuration says it connects to exists,
// and the NetworkPolicies let it connect.
func (c *checker) targets(w workload) {
	obj := w.object()
	src := w.endpoint()
	for i := range w.template.Spec.Containers {
		ct := &w.template.Spec.Containers[i]
		p := "container " + ct.Name + ": "
		for _, name := range targetVars {
			v, ok := c.m.envValue(ct, name)
			if !ok {
				continue
			}
			host, port, err := splitTarget(v)
			if err != nil {
				c.containerf(obj, ct, "%s=%q: %v", name, v, err)
				continue
			}
			c.reach(obj, p+name, src, host, port)
		}
		if v, ok := c.m.envValue(ct, "UNIGATE_ETCD"); ok {
			c.etcdEndpoints(obj, ct, src, v)
		}
		if v, ok := c.m.envValue(ct, "OTEL_EXPORTER_OTLP_ENDPOINT"); ok && v != "" {
			host, port, err := splitTarget(v)
			if err != nil {
				c.containerf(obj, ct, "OTEL_EXPORTER_OTLP_ENDPOINT=%q: %v", v, err)
			} else {
				c.reach(obj, p+"OTEL_EXPORTER_OTLP_ENDPOINT", src, host, port)
			}
		}
		if v, ok := c.m.envValue(ct, "UNIGATE_DSN"); ok {
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Hostname() == "" {
				c.containerf(obj, ct, "UNIGATE_DSN is not a postgres:// URL with a host")
			} else {
				port := int32(26257)
				if u.Port() != "" {
					n, _ := strconv.Atoi(u.Port())
					port = int32(n)
				}
				c.reach(obj, p+"UNIGATE_DSN", src, u.Hostname(), port)
			}
		}
	}
}

func splitTarget(v string) (string, int32, error) {
	v = strings.TrimPrefix(v, "dns:///")
	host, ps, err := net.SplitHostPort(v)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.ParseUint(ps, 10, 16)
	if err != nil || n == 0 {
		return "", 0, fmt.Errorf("bad port %q", ps)
	}
	return host, int32(n), nil
}

// inNamespace trims the namespace's DNS suffixes off host and says whether
// the name is one of this namespace's (a Service, or a pod of a headless
// Service). Any other name with a dot is taken to be outside.
func inNamespace(host string) ([]string, bool) {
	for _, suffix := range []string{"." + Namespace + ".svc.cluster.local", "." + Namespace + ".svc", "." + Namespace} {
		if strings.HasSuffix(host, suffix) {
			return strings.Split(strings.TrimSuffix(host, suffix), "."), true
		}
	}
	labels := strings.Split(host, ".")
	if len(labels) == 1 {
		return labels, true
	}
	if len(labels) == 2 {
		// pod.service of a headless Service, if there is one by that name
		return labels, true
	}
	return nil, false
}

// reach checks that src can connect to host:port: to the pods behind a
// Service of this namespace, to one pod of a StatefulSet, or outside.
func (c *checker) reach(obj, what string, src Endpoint, host string, port int32) {
	labels, inside := inNamespace(host)
	if inside && len(labels) == 2 && c.m.Service(labels[1]) == nil {
		inside = false // a name in another namespace, e.g. jaeger.observability
	}
	if !inside {
		if !c.m.Reachable(src, Outside, port, corev1.ProtocolTCP) {
			c.errorf(obj, "%s: no NetworkPolicy lets it reach %s:%d outside the namespace", what, host, port)
		}
		return
	}
	svc := c.m.Service(labels[len(labels)-1])
	if svc == nil {
		c.errorf(obj, "%s: %s:%d names no Service", what, host, port)
		return
	}
	var sp *corev1.ServicePort
	for i := range svc.Spec.Ports {
		if svc.Spec.Ports[i].Port == port {
			sp = &svc.Spec.Ports[i]
		}
	}
	if sp == nil {
		c.errorf(obj, "%s: Service %s has no port %d", what, svc.Name, port)
		return
	}
	ws := c.m.selecting(&metav1.LabelSelector{MatchLabels: svc.Spec.Selector})
	if len(ws) != 1 {
		return // reported with the Service
	}
	w := ws[0]
	if len(labels) == 2 {
		// A pod's own name: <statefulset>-<ordinal>.<service>.
		st := c.m.StatefulSet(w.name)
		if st == nil || st.Spec.ServiceName != svc.Name {
			c.errorf(obj, "%s: %s is not a pod name of a StatefulSet governed by Service %s", what, host, svc.Name)
			return
		}
		ord, err := strconv.Atoi(strings.TrimPrefix(labels[0], st.Name+"-"))
		if !strings.HasPrefix(labels[0], st.Name+"-") || err != nil || ord < 0 || int32(ord) >= w.replicaCount() {
			c.errorf(obj, "%s: %s is not one of the %d pods of StatefulSet %s", what, host, w.replicaCount(), st.Name)
			return
		}
	}
	cp := c.targetPort(w, *sp)
	if cp == nil {
		return // reported with the Service
	}
	if !c.m.Reachable(src, w.endpoint(), cp.ContainerPort, protocolOf(*cp)) {
		c.errorf(obj, "%s: no NetworkPolicy lets it reach %s on %d", what, w.object(), cp.ContainerPort)
	}
}

// etcdEndpoints: an etcd client lists every member, each reachable.
func (c *checker) etcdEndpoints(obj string, ct *corev1.Container, src Endpoint, v string) {
	members := map[string]bool{}
	var set *appsv1.StatefulSet
	for _, ep := range strings.Split(v, ",") {
		u, err := url.Parse(strings.TrimSpace(ep))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Port() == "" {
			c.containerf(obj, ct, "UNIGATE_ETCD: %q is not an http(s)://host:port URL", ep)
			continue
		}
		n, _ := strconv.Atoi(u.Port())
		c.reach(obj, "container "+ct.Name+": UNIGATE_ETCD", src, u.Hostname(), int32(n))
		if labels, inside := inNamespace(u.Hostname()); inside && len(labels) == 2 {
			members[labels[0]] = true
			if set == nil {
				set = c.m.StatefulSet(strings.TrimRight(strings.TrimRight(labels[0], "0123456789"), "-"))
			}
		}
	}
	if set != nil && int32(len(members)) != replicas(set) {
		c.containerf(obj, ct, "UNIGATE_ETCD lists %d of the %d members of StatefulSet %s", len(members), replicas(set), set.Name)
	}
}

func replicas(s *appsv1.StatefulSet) int32 {
	if s.Spec.Replicas == nil {
		return 1
	}
	return *s.Spec.Replicas
}

// service checks one `unigate <name>` Deployment against its spec.
func (c *checker) service(s ServiceSpec) {
	obj := "Deployment " + s.Name
	d := c.m.Deployment(s.Name)
	if d == nil {
		c.errorf(obj, "missing")
		return
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != s.Replicas {
		c.errorf(obj, "replicas is not %d", s.Replicas)
	}
	var ct *corev1.Container
	for i := range d.Spec.Template.Spec.Containers {
		if cp := portNamed(&d.Spec.Template.Spec.Containers[i], "grpc"); cp != nil {
			ct = &d.Spec.Template.Spec.Containers[i]
		}
	}
	if ct == nil {
		c.errorf(obj, "no container has a port named grpc")
		return
	}
	if cp := portNamed(ct, "grpc"); cp.ContainerPort != s.Port {
		c.containerf(obj, ct, "grpc port is %d, not %d", cp.ContainerPort, s.Port)
	}
	argv := append(slices.Clone(ct.Command), ct.Args...)
	if len(argv) < 2 || argv[0] != "unigate" || argv[1] != s.Name {
		c.containerf(obj, ct, "runs %q, not unigate %s", argv, s.Name)
	}
	if listen, ok := c.m.envValue(ct, "UNIGATE_LISTEN"); !ok {
		c.containerf(obj, ct, "does not set UNIGATE_LISTEN")
	} else if _, port, err := splitTarget(listen); err != nil || port != s.Port {
		c.containerf(obj, ct, "UNIGATE_LISTEN=%q does not listen on port %d", listen, s.Port)
	}
	for _, name := range s.Env {
		if _, ok := c.m.envValue(ct, name); !ok {
			c.containerf(obj, ct, "does not set %s", name)
		}
	}

	svc := c.m.Service(s.Name)
	if svc == nil {
		c.errorf(obj, "has no Service called %s", s.Name)
	} else {
		ok := false
		for _, sp := range svc.Spec.Ports {
			if sp.Port == s.Port && sp.Name == "grpc" && selects(&metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, d.Spec.Template.Labels) {
				cp := resolvePort(ct, targetPortOf(sp))
				ok = cp != nil && cp.ContainerPort == s.Port
			}
		}
		if !ok {
			c.errorf(obj, "Service %s has no port grpc %d to its pods' port %d", s.Name, s.Port, s.Port)
		}
	}
	if c.m.PDB(s.Name) == nil {
		c.errorf(obj, "has no PodDisruptionBudget called %s", s.Name)
	}
	var hpa []string
	for _, h := range c.m.HPAs {
		if h.Spec.ScaleTargetRef.Kind == "Deployment" && h.Spec.ScaleTargetRef.Name == s.Name {
			hpa = append(hpa, h.Name)
			if h.Spec.MinReplicas != nil && *h.Spec.MinReplicas != s.Replicas {
				c.errorf(obj, "HorizontalPodAutoscaler %s's minReplicas %d is not its %d replicas", h.Name, *h.Spec.MinReplicas, s.Replicas)
			}
		}
	}
	switch {
	case s.Autoscaled && len(hpa) == 0:
		c.errorf(obj, "no HorizontalPodAutoscaler targets it")
	case !s.Autoscaled && len(hpa) > 0:
		c.errorf(obj, "HorizontalPodAutoscaler %s targets it, but it is not to be autoscaled", strings.Join(hpa, ", "))
	}

	// Who may connect to it.
	dst, _ := c.m.Pod(s.Name)
	for _, w := range c.m.workloads() {
		if w.name == s.Name {
			continue
		}
		caller := slices.Contains(s.Callers, w.name)
		got := c.m.Reachable(w.endpoint(), dst, s.Port, corev1.ProtocolTCP)
		switch {
		case caller && !got:
			c.errorf(obj, "%s, a caller, cannot reach it on %d", w.object(), s.Port)
		case !caller && got && !s.Public:
			c.errorf(obj, "%s may reach it on %d, but is not a caller", w.object(), s.Port)
		}
	}
	for _, caller := range s.Callers {
		if _, ok := c.m.Pod(caller); !ok {
			c.errorf(obj, "caller %s is no workload here", caller)
		}
	}
	if got := c.m.Reachable(Outside, dst, s.Port, corev1.ProtocolTCP); got != s.Public {
		if s.Public {
			c.errorf(obj, "nothing outside the namespace can reach it on %d", s.Port)
		} else {
			c.errorf(obj, "is reachable from outside the namespace on %d", s.Port)
		}
	}
}

// etcd checks the etcd StatefulSet against the spec: member count, raft
// timing, how members find each other, where data lives, and that every
// workload reaches it.
func (c *checker) etcd() {
	e := c.spec.Etcd
	obj := "StatefulSet " + e.Name
	st := c.m.StatefulSet(e.Name)
	if st == nil {
		c.errorf(obj, "missing")
		return
	}
	n := replicas(st)
	if n != e.Replicas {
		c.errorf(obj, "replicas is %d, not %d", n, e.Replicas)
	}
	if n < 3 || n%2 == 0 {
		c.errorf(obj, "replicas %d is not an odd number of 3 or more", n)
	}
	if st.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		c.errorf(obj, "podManagementPolicy is not Parallel: with OrderedReady the first member waits for a quorum that is never started")
	}
	if svc := c.m.Service(st.Spec.ServiceName); svc != nil && !svc.Spec.PublishNotReadyAddresses {
		c.errorf(obj, "Service %s does not publish not-ready addresses: members cannot find each other before a quorum is up", svc.Name)
	}
	var ct *corev1.Container
	for i := range st.Spec.Template.Spec.Containers {
		if strings.Contains(st.Spec.Template.Spec.Containers[i].Image, "etcd") {
			ct = &st.Spec.Template.Spec.Containers[i]
		}
	}
	if ct == nil {
		c.errorf(obj, "no container runs an etcd image")
		return
	}
	flags := parseFlags(append(slices.Clone(ct.Command), ct.Args...))
	hb, errHB := strconv.Atoi(flags["heartbeat-interval"])
	el, errEl := strconv.Atoi(flags["election-timeout"])
	switch {
	case errHB != nil || errEl != nil:
		c.errorf(obj, "--heartbeat-interval and --election-timeout must both be set (ms)")
	default:
		if hb != e.HeartbeatMS {
			c.errorf(obj, "--heartbeat-interval is %d, not %d", hb, e.HeartbeatMS)
		}
		if el != e.ElectionMS {
			c.errorf(obj, "--election-timeout is %d, not %d", el, e.ElectionMS)
		}
		if el < 5*hb {
			c.errorf(obj, "--election-timeout %d is under 5 heartbeats of %d ms", el, hb)
		}
		if el >= e.LeaseMS {
			c.errorf(obj, "--election-timeout %d ms does not end an election before a %d ms lease expires", el, e.LeaseMS)
		}
	}
	if flags["name"] != "$(POD_NAME)" || !envFieldRef(ct, "POD_NAME", "metadata.name") {
		c.errorf(obj, "--name must be $(POD_NAME), with POD_NAME from metadata.name")
	}
	peer := portNamed(ct, "peer")
	if peer == nil {
		c.errorf(obj, "has no container port named peer")
		return
	}
	members := strings.Split(flags["initial-cluster"], ",")
	if int32(len(members)) != n {
		c.errorf(obj, "--initial-cluster lists %d members for %d replicas", len(members), n)
	}
	for i, m := range members {
		name, peerURL, _ := strings.Cut(m, "=")
		want := fmt.Sprintf("%s-%d", st.Name, i)
		u, err := url.Parse(peerURL)
		if name != want || err != nil || !strings.HasPrefix(u.Hostname(), want+"."+st.Spec.ServiceName+".") || u.Port() != strconv.Itoa(int(peer.ContainerPort)) {
			c.errorf(obj, "--initial-cluster member %d is %q, not %s=http://%s.%s.…:%d", i, m, want, want, st.Spec.ServiceName, peer.ContainerPort)
		}
	}
	if !strings.Contains(flags["initial-advertise-peer-urls"], "$(POD_NAME)."+st.Spec.ServiceName+".") {
		c.errorf(obj, "--initial-advertise-peer-urls is not the pod's own name under Service %s", st.Spec.ServiceName)
	}
	dataDir := flags["data-dir"]
	onClaim := false
	for _, vm := range ct.VolumeMounts {
		if slices.ContainsFunc(st.Spec.VolumeClaimTemplates, func(t corev1.PersistentVolumeClaim) bool { return t.Name == vm.Name }) &&
			dataDir != "" && (dataDir == vm.MountPath || strings.HasPrefix(dataDir, strings.TrimSuffix(vm.MountPath, "/")+"/")) {
			onClaim = true
		}
	}
	if !onClaim {
		c.errorf(obj, "--data-dir %q is not on a volume claim", dataDir)
	}

	self, _ := c.m.Pod(st.Name)
	if !c.m.Reachable(self, self, peer.ContainerPort, protocolOf(*peer)) {
		c.errorf(obj, "members cannot reach each other on the peer port %d", peer.ContainerPort)
	}
	if client := portNamed(ct, "client"); client == nil {
		c.errorf(obj, "has no container port named client")
	} else {
		for _, w := range c.m.workloads() {
			if !c.m.Reachable(w.endpoint(), self, client.ContainerPort, protocolOf(*client)) {
				c.errorf(obj, "%s cannot reach it on %d", w.object(), client.ContainerPort)
			}
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

// parseFlags reads --name=value and --name value arguments.
func parseFlags(argv []string) map[string]string {
	f := map[string]string{}
	for i := 0; i < len(argv); i++ {
		a := argv[i]
		if !strings.HasPrefix(a, "-") {
			continue
		}
		a = strings.TrimLeft(a, "-")
		if k, v, ok := strings.Cut(a, "="); ok {
			f[k] = v
		} else if i+1 < len(argv) && !strings.HasPrefix(argv[i+1], "-") {
			f[a] = argv[i+1]
			i++
		} else {
			f[a] = ""
		}
	}
	return f
}

func envFieldRef(ct *corev1.Container, name, path string) bool {
	for _, e := range ct.Env {
		if e.Name == name && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == path {
			return true
		}
	}
	return false
}
