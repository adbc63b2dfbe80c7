package deploy

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
)

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
	for _, cr := range m.CrdbClusters {
		out = append(out, cr.workload())
	}
	return out
}

// workloadOf returns the workload whose pods run the container.
func (m *Manifests) workloadOf(ct *corev1.Container) (workload, bool) {
	for _, w := range m.workloads() {
		for i := range w.template.Spec.Containers {
			if &w.template.Spec.Containers[i] == ct {
				return w, true
			}
		}
	}
	return workload{}, false
}

// usesEtcd says whether a workload's containers set UNIGATE_ETCD.
func (c *checker) usesEtcd(w workload) bool {
	for i := range w.template.Spec.Containers {
		if v, ok := c.m.envValue(&w.template.Spec.Containers[i], "UNIGATE_ETCD"); ok && v != "" {
			return true
		}
	}
	return false
}

// server says whether a workload serves (a Deployment or a StatefulSet),
// rather than runs to completion (a Job).
func (w workload) server() bool { return w.kind != "Job" }

// selectorProblem returns why a label selector is invalid, or "".
func selectorProblem(sel *metav1.LabelSelector) string {
	if sel == nil {
		return ""
	}
	if _, err := metav1.LabelSelectorAsSelector(sel); err != nil {
		return err.Error()
	}
	return ""
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
	c.labels(obj, "pod template labels", w.template.Labels)

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
		for _, p := range ct.Ports {
			for _, e := range validation.IsValidPortNum(int(p.ContainerPort)) {
				c.containerf(obj, ct, "port %d: %s", p.ContainerPort, e)
			}
			if p.Name != "" {
				for _, e := range validation.IsValidPortName(p.Name) {
					c.containerf(obj, ct, "port name %q: %s", p.Name, e)
				}
			}
		}
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
	if p := selectorProblem(w.selector); p != "" {
		c.errorf(obj, "selector: %s", p)
	} else if emptySelector(w.selector) {
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
		_, unigate := unigateService(ct)
		c.probe(obj, "readiness", ct.ReadinessProbe, ct, unigate)
		c.probe(obj, "liveness", ct.LivenessProbe, ct, unigate)
		c.probe(obj, "startup", ct.StartupProbe, ct, unigate)
		c.healthPort(obj, ct)
		if unigate && portNamed(ct, "grpc") == nil {
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

func preStopSleep(ct *corev1.Container) int64 {
	if ct.Lifecycle != nil && ct.Lifecycle.PreStop != nil && ct.Lifecycle.PreStop.Sleep != nil {
		return ct.Lifecycle.PreStop.Sleep.Seconds
	}
	return 0
}

func (c *checker) resources(obj string, ct *corev1.Container) {
	c.quantities(obj, "container "+ct.Name, ct.Resources)
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

// quantities: CPU and memory are requested and limited, each request at
// most its limit (resource.Quantity.Cmp: 1 and 1000m are equal).
func (c *checker) quantities(obj, what string, r corev1.ResourceRequirements) {
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, hasReq := r.Requests[name]
		lim, hasLim := r.Limits[name]
		if !hasReq {
			c.errorf(obj, "%s: no %s request", what, name)
		}
		if !hasLim {
			c.errorf(obj, "%s: no %s limit", what, name)
		}
		if hasReq && req.Sign() <= 0 {
			c.errorf(obj, "%s: %s request %s is not positive", what, name, req.String())
		}
		if hasReq && hasLim && req.Cmp(lim) > 0 {
			c.errorf(obj, "%s: %s request %s exceeds its limit %s", what, name, req.String(), lim.String())
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

// envVar returns the value a container sees for the variable name,
// following ConfigMap and Secret references, and whether it is set.
func (m *Manifests) envVar(ct *corev1.Container, name string) (string, bool) {
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
