package deploy

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// probe checks one of a container's probes. A `unigate NAME` server
// (unigate is true) requires a client certificate on its gRPC port, which
// the kubelet cannot present: its probes are the kubelet's own gRPC probes
// of grpc.health.v1 on the plaintext health port (--health-listen, the
// container port named grpc-health), for the whole server (service "").
// Any other container's probe uses a port it has.
func (c *checker) probe(obj, kind string, pr *corev1.Probe, ct *corev1.Container, unigate bool) {
	if pr == nil {
		c.containerf(obj, ct, "has no %s probe", kind)
		return
	}
	h := pr.ProbeHandler
	if unigate {
		health := portNamed(ct, "grpc-health")
		use := "use a grpc probe of the health port (--health-listen, container port grpc-health)"
		switch {
		case h.Exec != nil:
			c.containerf(obj, ct, "%s probe is an exec probe: %s", kind, use)
		case h.GRPC == nil:
			c.containerf(obj, ct, "%s probe is not a gRPC probe: %s", kind, use)
		case portNamed(ct, "grpc") != nil && h.GRPC.Port == portNamed(ct, "grpc").ContainerPort:
			c.containerf(obj, ct, "%s probe asks the mutual TLS port %d, which requires a client certificate the kubelet cannot present: %s", kind, h.GRPC.Port, use)
		case health == nil || h.GRPC.Port != health.ContainerPort:
			c.containerf(obj, ct, "%s probe: gRPC port %d is not the container port grpc-health", kind, h.GRPC.Port)
		case h.GRPC.Service != nil && *h.GRPC.Service != "":
			c.containerf(obj, ct, "%s probe asks for the health of %q: the servers report the whole server's only (service \"\")", kind, *h.GRPC.Service)
		}
		return
	}
	switch {
	case h.GRPC != nil:
		if portNumbered(ct, h.GRPC.Port) == nil {
			c.containerf(obj, ct, "%s probe: gRPC port %d is not a container port", kind, h.GRPC.Port)
		}
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

// healthPort: a `unigate NAME` container serves grpc.health.v1 for the
// kubelet (--health-listen) on all the pod's addresses and the port of its
// container port grpc-health.
func (c *checker) healthPort(obj string, ct *corev1.Container) {
	if _, ok := unigateService(ct); ok {
		c.listenPort(obj, ct, "UNIGATE_HEALTH_LISTEN", "health-listen", "grpc-health", fmt.Sprint("the kubelet's gRPC probe"))
	}
}
