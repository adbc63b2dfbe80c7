package deploy

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Environment variables that name gRPC targets of other services, and the
// service each names.
var targetVars = []struct{ env, service string }{
	{"UNIGATE_ROUTER", "router"}, {"UNIGATE_FX", "fx"}, {"UNIGATE_RISK", "risk"}, {"UNIGATE_SETTLEMENT", "settlement"},
}

// targets: what a workload's configuration says it connects to exists,
// and the NetworkPolicies let it connect.
func (c *checker) targets(w workload) {
	obj := w.object()
	src := w.endpoint()
	for i := range w.template.Spec.Containers {
		ct := &w.template.Spec.Containers[i]
		p := "container " + ct.Name + ": "
		for _, t := range targetVars {
			v, ok := c.m.envValue(ct, t.env)
			if !ok {
				continue
			}
			host, port, err := splitTarget(v)
			if err != nil {
				c.containerf(obj, ct, "%s=%q: %v", t.env, v, err)
				continue
			}
			c.reach(obj, p+t.env, src, host, port)
			c.replicaTarget(obj, ct, t.env, t.service, v, host, port)
		}
		if v, ok := c.m.envValue(ct, "UNIGATE_ETCD"); ok {
			c.etcdEndpoints(obj, ct, src, v)
		}
		if v, ok := c.m.envValue(ct, "UNIGATE_FX_PROVIDERS"); ok {
			c.fxProviders(obj, ct, src, v)
		}
		if v, ok := c.m.envValue(ct, "OTEL_EXPORTER_OTLP_ENDPOINT"); ok && v != "" {
			host, port, tls, err := splitOTLPEndpoint(v)
			if err != nil {
				c.containerf(obj, ct, "OTEL_EXPORTER_OTLP_ENDPOINT=%q: %v", v, err)
			} else {
				c.reach(obj, p+"OTEL_EXPORTER_OTLP_ENDPOINT", src, host, port)
			}
			if ca, ok := c.m.envValue(ct, "OTEL_EXPORTER_OTLP_CERTIFICATE"); ok && ca != "" && tls {
				c.mountedFile(obj, w, ct, "OTEL_EXPORTER_OTLP_CERTIFICATE", ca)
			}
		}
		if v, ok := c.m.envValue(ct, "UNIGATE_DSN"); ok {
			host, port, u := dsnHost(v)
			if u == nil {
				c.containerf(obj, ct, "UNIGATE_DSN is not a postgres:// URL with a host")
				continue
			}
			c.reach(obj, p+"UNIGATE_DSN", src, host, port)
			switch mode := u.Query().Get("sslmode"); {
			case mode != "verify-full":
				c.containerf(obj, ct, "UNIGATE_DSN: sslmode is %q, not verify-full: the database's certificate would not be checked", mode)
			case u.Query().Get("sslrootcert") != "":
				c.mountedFile(obj, w, ct, "UNIGATE_DSN sslrootcert", u.Query().Get("sslrootcert"))
			}
		}
	}
}

// dsnHost returns the host and port of a postgres:// DSN (CockroachDB's
// port by default), and the URL; a nil URL if it is none.
func dsnHost(v string) (string, int32, *url.URL) {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Hostname() == "" {
		return "", 0, nil
	}
	port := int32(crdbSQLPort)
	if u.Port() != "" {
		n, _ := strconv.Atoi(u.Port())
		port = int32(n)
	}
	return u.Hostname(), port, u
}

// splitOTLPEndpoint reads an OTLP/gRPC endpoint as package telemetry
// does: https://host:port (TLS), http://host:port or a bare host:port
// (plaintext).
func splitOTLPEndpoint(v string) (host string, port int32, tls bool, err error) {
	if !strings.Contains(v, "://") {
		host, port, err = splitTarget(v)
		return host, port, false, err
	}
	u, err := url.Parse(v)
	if err != nil {
		return "", 0, false, err
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "", 0, false, fmt.Errorf("scheme %q is neither https nor http", u.Scheme)
	}
	host, port, err = splitTarget(u.Host)
	return host, port, u.Scheme == "https", err
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

// replicaTarget: the target (env=v) of a service names every replica of
// it, as grpcx.Dial balances over the addresses a target resolves to:
// dns:/// and the service's headless Service, of this namespace, which
// selects the service's pods. And the caller verifies the server's
// certificate for the target's host, so the host is one of the DNS names
// the certificate carries (certDNSNames).
func (c *checker) replicaTarget(obj string, ct *corev1.Container, env, service, v, host string, port int32) {
	want := fmt.Sprintf("dns:///%s%s.%s.svc:%d", service, HeadlessSuffix, Namespace, port)
	if !strings.HasPrefix(v, "dns:///") {
		c.containerf(obj, ct, "%s=%q is not a dns:/// target: it would resolve to one address, so one connection to one pod; name the headless Service (%s)", env, v, want)
	}
	labels, inside := inNamespace(host)
	if !inside || len(labels) != 1 {
		c.containerf(obj, ct, "%s=%q names no Service of namespace %s: want %s", env, v, Namespace, want)
		return
	}
	svc := c.m.Service(labels[0])
	if svc == nil {
		return // reported by reach
	}
	if svc.Spec.ClusterIP != corev1.ClusterIPNone {
		c.containerf(obj, ct, "%s=%q: Service %s is not headless (clusterIP: None): its name resolves to one virtual IP, so the caller keeps one connection to one pod; name the headless Service (%s)", env, v, svc.Name, want)
	}
	if ws := c.m.selecting(&metav1.LabelSelector{MatchLabels: svc.Spec.Selector}); len(ws) == 1 && ws[0].name != service {
		c.containerf(obj, ct, "%s=%q: Service %s selects the pods of %s, not of %s", env, v, svc.Name, ws[0].object(), service)
	}
	if !slices.Contains(certDNSNames(service), host) {
		c.containerf(obj, ct, "%s=%q: the caller verifies %s's certificate for %s, which is not one of the DNS names it carries (%s)",
			env, v, service, host, strings.Join(certDNSNames(service), ", "))
	}
}
