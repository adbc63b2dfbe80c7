package deploy

import (
	"slices"
	"strings"

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
