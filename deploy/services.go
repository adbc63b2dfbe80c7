package deploy

import (
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/intstr"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

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
		c.containerf(obj, ct, "runs %q, not unigate %s", argv[:min(2, len(argv))], s.Name)
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
	c.needsEtcd(obj, s, ct)
	if w, ok := c.workloadNamed("Deployment", s.Name); ok {
		if len(s.PKIFiles) > 0 {
			c.pkiDir(obj, w, ct, s.PKIFiles)
		}
		c.routingCache(obj, s, w, ct)
	}
	c.replicas(obj, s, ct)

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
		case !caller && got:
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
	if s.Public && c.spec.IngressNamespace == "" {
		c.errorf(obj, "is Public, but the spec names no IngressNamespace to let in")
	} else if s.Public {
		// Only through the ingress gateway.
		if !c.m.Reachable(OutsideNamespace(c.spec.IngressNamespace), dst, s.Port, corev1.ProtocolTCP) {
			c.errorf(obj, "the ingress gateway's namespace %s cannot reach it on %d", c.spec.IngressNamespace, s.Port)
		}
		if other := OutsideNamespace("not-" + c.spec.IngressNamespace); c.m.Reachable(other, dst, s.Port, corev1.ProtocolTCP) {
			c.errorf(obj, "any namespace, not only the ingress gateway's %s, may reach it on %d", c.spec.IngressNamespace, s.Port)
		}
	}
}

// job checks a Job against its spec: what it runs, its settings and its
// certificates, and that it cannot run for ever.
func (c *checker) job(s JobSpec) {
	obj := "Job " + s.Name
	j := c.m.Job(s.Name)
	if j == nil {
		c.errorf(obj, "missing")
		return
	}
	pod := &j.Spec.Template.Spec
	if pod.RestartPolicy != corev1.RestartPolicyNever && pod.RestartPolicy != corev1.RestartPolicyOnFailure {
		c.errorf(obj, "restartPolicy is %q, not Never or OnFailure", pod.RestartPolicy)
	}
	if j.Spec.BackoffLimit == nil {
		c.errorf(obj, "backoffLimit is not set")
	}
	if len(pod.Containers) != 1 {
		c.errorf(obj, "has %d containers, not 1", len(pod.Containers))
		return
	}
	ct := &pod.Containers[0]
	if argv := append(slices.Clone(ct.Command), ct.Args...); len(argv) < len(s.Argv) || !slices.Equal(argv[:len(s.Argv)], s.Argv) {
		c.containerf(obj, ct, "runs %q, not %q", argv, s.Argv)
	}
	for _, name := range s.Env {
		if _, ok := c.m.envValue(ct, name); !ok {
			c.containerf(obj, ct, "does not set %s", name)
		}
	}
	if w, ok := c.workloadNamed("Job", s.Name); ok && len(s.PKIFiles) > 0 {
		c.pkiDir(obj, w, ct, s.PKIFiles)
	}
}

// workloadNamed returns the workload of a kind called name.
func (c *checker) workloadNamed(kind, name string) (workload, bool) {
	for _, w := range c.m.workloads() {
		if w.kind == kind && w.name == name {
			return w, true
		}
	}
	return workload{}, false
}

// needsEtcd: a service that elects (its elections are in etcd), finds its
// peers (registered in etcd) or keeps the routing table (read from etcd)
// sets UNIGATE_ETCD; its default,
// http://127.0.0.1:2379, is no etcd of the cluster.
func (c *checker) needsEtcd(obj string, s ServiceSpec, ct *corev1.Container) {
	var why []string
	if s.Elects {
		why = append(why, "campaigns in elections")
	}
	if s.Peers {
		why = append(why, "finds its peers")
	}
	if s.RoutingCache {
		why = append(why, "reads the routing table")
	}
	if len(why) == 0 {
		return
	}
	if v, ok := c.m.envValue(ct, "UNIGATE_ETCD"); !ok || strings.TrimSpace(v) == "" {
		c.containerf(obj, ct, "does not set UNIGATE_ETCD: it %s through etcd, and the default (http://127.0.0.1:2379) is no etcd of the cluster", strings.Join(why, " and "))
	}
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

// selectorOf is a Service's selector as a label selector.
func selectorOf(svc *corev1.Service) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: svc.Spec.Selector}
}
