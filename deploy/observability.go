package deploy

import (
	"net"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// The pod annotations Prometheus's Kubernetes discovery is usually set up
// to follow.
const (
	scrapeAnnotation = "prometheus.io/scrape"
	portAnnotation   = "prometheus.io/port"
	pathAnnotation   = "prometheus.io/path"
)

// metrics: every `unigate NAME` container serves its metrics
// (--metrics-listen) on all the pod's addresses, on a container port named
// metrics that its pod's prometheus.io annotations name; every pod that
// asks to be scraped names a container port of its own, and Prometheus's
// namespace may reach it there.
func (c *checker) metrics() {
	for _, w := range c.m.workloads() {
		if w.kind == crdbKind {
			continue
		}
		obj := w.object()
		ann := w.template.Annotations
		for i := range w.template.Spec.Containers {
			ct := &w.template.Spec.Containers[i]
			if _, ok := unigateService(ct); !ok {
				continue
			}
			port, ok := c.listenPort(obj, ct, "UNIGATE_METRICS_LISTEN", "metrics-listen", "metrics", "Prometheus")
			if !ok {
				continue
			}
			if ann[scrapeAnnotation] != "true" || ann[portAnnotation] != strconv.Itoa(int(port)) {
				c.errorf(obj, "its pods do not ask Prometheus to scrape port %d: want the annotations %s: \"true\" and %s: \"%d\"", port, scrapeAnnotation, portAnnotation, port)
			}
		}
		if ann[scrapeAnnotation] != "true" {
			continue
		}
		n, err := strconv.Atoi(ann[portAnnotation])
		if err != nil {
			c.errorf(obj, "annotation %s=%q is not a port number", portAnnotation, ann[portAnnotation])
			continue
		}
		for _, e := range validation.IsValidPortNum(n) {
			c.errorf(obj, "annotation %s=%q: %s", portAnnotation, ann[portAnnotation], e)
		}
		var cp *corev1.ContainerPort
		for i := range w.template.Spec.Containers {
			if p := portNumbered(&w.template.Spec.Containers[i], int32(n)); p != nil {
				cp = p
			}
		}
		if cp == nil {
			c.errorf(obj, "annotation %s=%d is no container port of its pods", portAnnotation, n)
			continue
		}
		if p := ann[pathAnnotation]; p != "" && !strings.HasPrefix(p, "/") {
			c.errorf(obj, "annotation %s=%q is not an absolute path", pathAnnotation, p)
		}
		if ns := c.spec.MonitoringNamespace; ns != "" && !c.m.Reachable(OutsideNamespace(ns), w.endpoint(), cp.ContainerPort, protocolOf(*cp)) {
			c.errorf(obj, "Prometheus's namespace %s cannot reach its metrics port %d", ns, cp.ContainerPort)
		}
	}
}

// listenPort: a `unigate NAME` container's setting (a listen address, by
// its variable and flag) is set, on an unspecified host (the kubelet and
// Prometheus dial the pod's IP, not its loopback), with the port of the
// container port named portName. It returns the port.
func (c *checker) listenPort(obj string, ct *corev1.Container, env, flag, portName, who string) (int32, bool) {
	v, ok := c.m.envValue(ct, env)
	if !ok || v == "" {
		c.containerf(obj, ct, "does not set --%s: it serves %s nothing", flag, who)
		return 0, false
	}
	host, port, err := splitTarget(v)
	if err != nil {
		c.containerf(obj, ct, "--%s=%q: %v", flag, v, err)
		return 0, false
	}
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		c.containerf(obj, ct, "--%s=%q listens on %s only: %s dials the pod's IP; listen on 0.0.0.0", flag, v, host, who)
	}
	cp := portNamed(ct, portName)
	switch {
	case cp == nil:
		c.containerf(obj, ct, "has no container port named %s", portName)
	case cp.ContainerPort != port:
		c.containerf(obj, ct, "--%s=%q is not its container port %s (%d)", flag, v, portName, cp.ContainerPort)
	}
	return port, true
}

// tracing: the Jaeger Deployment runs the official v2 image, with
// container ports for OTLP/gRPC and the web UI, each behind a Service; and
// every `unigate NAME` container sends its traces there
// (OTEL_EXPORTER_OTLP_ENDPOINT), which the targets' checks then follow
// through the NetworkPolicies.
func (c *checker) tracing() {
	s := c.spec.Tracing
	obj := "Deployment " + s.Name
	d := c.m.Deployment(s.Name)
	if d == nil {
		c.errorf(obj, "missing")
		return
	}
	w, _ := c.workloadNamed("Deployment", s.Name)
	var ct *corev1.Container
	for i := range d.Spec.Template.Spec.Containers {
		if repo, tag, ok := strings.Cut(d.Spec.Template.Spec.Containers[i].Image, ":"); ok && repo == s.Image {
			ct = &d.Spec.Template.Spec.Containers[i]
			if major, _, _ := strings.Cut(strings.TrimPrefix(tag, "v"), "."); major != strconv.Itoa(s.Major) {
				c.containerf(obj, ct, "image %s is not of Jaeger's v%d line", ct.Image, s.Major)
			}
		}
	}
	if ct == nil {
		c.errorf(obj, "no container runs %s:TAG", s.Image)
		return
	}
	for _, port := range []int32{s.OTLPPort, s.UIPort} {
		if portNumbered(ct, port) == nil {
			c.containerf(obj, ct, "has no container port %d", port)
			continue
		}
		if len(c.servicesFor(w, port)) == 0 {
			c.errorf(obj, "no Service sends to its port %d", port)
		}
	}
	for _, x := range c.m.workloads() {
		for i := range x.template.Spec.Containers {
			ct := &x.template.Spec.Containers[i]
			if _, ok := unigateService(ct); !ok {
				continue
			}
			v, _ := c.m.envValue(ct, "OTEL_EXPORTER_OTLP_ENDPOINT")
			host, port, _, err := splitOTLPEndpoint(v)
			if dst, cp := c.serviceBackend(host, port); v == "" || err != nil || cp == nil || dst.name != s.Name || cp.ContainerPort != s.OTLPPort {
				c.containerf(x.object(), ct, "OTEL_EXPORTER_OTLP_ENDPOINT=%q does not send its traces to %s's OTLP port %d", v, obj, s.OTLPPort)
			}
		}
	}
}

// servicesFor returns the Services that send to a workload's port.
func (c *checker) servicesFor(w workload, port int32) []string {
	var out []string
	for _, svc := range c.m.Services {
		if len(svc.Spec.Selector) == 0 || !selects(selectorOf(svc), w.template.Labels) {
			continue
		}
		for _, sp := range svc.Spec.Ports {
			if cp := c.targetPort(w, sp); cp != nil && cp.ContainerPort == port {
				out = append(out, svc.Name)
			}
		}
	}
	return out
}

// serviceBackend returns the workload and container port behind
// host:port, a Service of this namespace; nil if it is none.
func (c *checker) serviceBackend(host string, port int32) (workload, *corev1.ContainerPort) {
	labels, inside := inNamespace(host)
	if !inside || len(labels) != 1 {
		return workload{}, nil
	}
	svc := c.m.Service(labels[0])
	if svc == nil {
		return workload{}, nil
	}
	ws := c.m.selecting(selectorOf(svc))
	if len(ws) != 1 {
		return workload{}, nil
	}
	for _, sp := range svc.Spec.Ports {
		if sp.Port == port {
			return ws[0], c.targetPort(ws[0], sp)
		}
	}
	return workload{}, nil
}
