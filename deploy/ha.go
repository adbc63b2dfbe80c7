package deploy

import (
	"fmt"
	"net"
	"path"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// HeadlessSuffix ends the name of a service's headless Service
// ("router-headless"): its DNS name resolves to every Ready pod, so a
// dns:/// target naming it lets the caller balance over all of them.
const HeadlessSuffix = "-headless"

// certDNSNames are the DNS names a service's certificate carries
// (README.md, "Certificates"): the names of its Service and of its
// headless Service, each bare, with the namespace, with .svc and with
// .svc.cluster.local. A caller verifies the server's certificate for the
// host it dials, so it may dial these names only.
func certDNSNames(service string) []string {
	var names []string
	for _, s := range []string{service, service + HeadlessSuffix} {
		names = append(names, s, s+"."+Namespace, s+"."+Namespace+".svc", s+"."+Namespace+".svc.cluster.local")
	}
	return names
}

// replicas: the replicas of a service that elects or has peers reach
// each other, those of any other do not, and UNIGATE_ADVERTISE, wherever
// it is set, is the pod's own address.
func (c *checker) replicas(obj string, s ServiceSpec, ct *corev1.Container) {
	c.advertise(obj, s, ct)
	self, ok := c.m.Pod(s.Name)
	if !ok {
		return
	}
	got := c.m.Reachable(self, self, s.Port, corev1.ProtocolTCP)
	switch {
	case s.Elects && !got:
		c.errorf(obj, "its pods cannot reach each other on %d: standbys cannot follow the elected leader, and a crashed leader is replaced only when its lease expires", s.Port)
	case s.Peers && !got:
		c.errorf(obj, "its pods cannot reach each other on %d: its replicas cannot call their peers", s.Port)
	case !s.Elects && !s.Peers && got:
		c.errorf(obj, "its pods may reach each other on %d, but it runs no elections and has no peers", s.Port)
	}
}

// advertise: UNIGATE_ADVERTISE, the address other replicas reach this
// one at (app.Common.Advertise), is $(POD_IP):PORT — the pod's own IP
// from the downward API and the gRPC port — as the listen address names
// no pod (0.0.0.0). Kubernetes expands $(POD_IP) only if POD_IP is
// defined before it. A service that elects or has peers must set it.
func (c *checker) advertise(obj string, s ServiceSpec, ct *corev1.Container) {
	const name = "UNIGATE_ADVERTISE"
	want := fmt.Sprintf("$(POD_IP):%d, with POD_IP from the downward API (fieldRef status.podIP) defined before it", s.Port)
	i := slices.IndexFunc(ct.Env, func(e corev1.EnvVar) bool { return e.Name == name })
	if i < 0 {
		switch {
		case s.Elects:
			c.containerf(obj, ct, "does not set %s: listening on an unspecified address, it advertises none, so its standbys cannot follow the elected leader and a crashed leader is replaced only when its lease expires; set it to %s", name, want)
		case s.Peers:
			c.containerf(obj, ct, "does not set %s: listening on an unspecified address, it registers no address in etcd, so its peers cannot call it; set it to %s", name, want)
		}
		return
	}
	e := ct.Env[i]
	if e.ValueFrom != nil {
		c.containerf(obj, ct, "%s is read from a ConfigMap, Secret or field, not made of the pod's own IP: set it to %s", name, want)
		return
	}
	host, port, err := net.SplitHostPort(e.Value)
	if err != nil {
		c.containerf(obj, ct, "%s=%q: %v", name, e.Value, err)
		return
	}
	if port != fmt.Sprint(s.Port) {
		c.containerf(obj, ct, "%s=%q: port %s is not its gRPC port %d", name, e.Value, port, s.Port)
	}
	ref, ok := strings.CutPrefix(host, "$(")
	ref, ok2 := strings.CutSuffix(ref, ")")
	if !ok || !ok2 || ref == "" || strings.ContainsAny(ref, "$()") {
		c.containerf(obj, ct, "%s=%q is not the pod's own IP: set it to %s", name, e.Value, want)
		return
	}
	j := slices.IndexFunc(ct.Env, func(e corev1.EnvVar) bool { return e.Name == ref })
	switch {
	case j < 0:
		c.containerf(obj, ct, "%s=%q: no variable %s is defined, so $(%s) stays as it is", name, e.Value, ref, ref)
	case j > i:
		c.containerf(obj, ct, "%s=%q: %s is defined after it, so $(%s) is not expanded", name, e.Value, ref, ref)
	case !envFieldRef(ct, ref, "status.podIP"):
		c.containerf(obj, ct, "%s=%q: %s is not the pod's IP (fieldRef status.podIP)", name, e.Value, ref)
	}
}

// routingCache: a service that keeps the routing table sets
// UNIGATE_ROUTING_CACHE to a file it may write; wherever it is set, the
// file must be writable.
func (c *checker) routingCache(obj string, s ServiceSpec, w workload, ct *corev1.Container) {
	const name = "UNIGATE_ROUTING_CACHE"
	v, ok := c.m.envValue(ct, name)
	if !ok || v == "" {
		if s.RoutingCache {
			c.containerf(obj, ct, "does not set %s: the default is in the user's cache directory, on the read-only root filesystem, so it could not keep the routing table nor start on it while etcd is unreachable; point it into a writable volume (an emptyDir)", name)
		}
		return
	}
	c.writableFile(obj, w, ct, name, v)
}

// writableFile: the file a setting (what) names is on a volume the
// container mounts writable, of a kind that can be written (an emptyDir,
// an ephemeral or persistent volume claim), below its mount point: the
// service writes a temporary file beside it and renames it.
func (c *checker) writableFile(obj string, w workload, ct *corev1.Container, what, file string) {
	if !path.IsAbs(file) {
		c.containerf(obj, ct, "%s=%q is not an absolute path", what, file)
		return
	}
	file = path.Clean(file)
	var vm *corev1.VolumeMount
	for i := range ct.VolumeMounts {
		mp := path.Clean(ct.VolumeMounts[i].MountPath)
		if (file == mp || strings.HasPrefix(file, mp+"/")) && (vm == nil || len(mp) > len(path.Clean(vm.MountPath))) {
			vm = &ct.VolumeMounts[i]
		}
	}
	if vm == nil {
		if sc := ct.SecurityContext; sc != nil && isTrue(sc.ReadOnlyRootFilesystem) {
			c.containerf(obj, ct, "%s: %s is on no volume it mounts, and the root filesystem is read-only: mount a writable volume (an emptyDir) there", what, file)
		} else {
			c.containerf(obj, ct, "%s: %s is on no volume it mounts: it would not outlive the container", what, file)
		}
		return
	}
	if file == path.Clean(vm.MountPath) {
		c.containerf(obj, ct, "%s: %s is where volume %s is mounted, a directory, not a file in it", what, file, vm.Name)
		return
	}
	if vm.ReadOnly {
		c.containerf(obj, ct, "%s: volume %s is mounted read-only at %s", what, vm.Name, vm.MountPath)
	}
	if slices.Contains(w.claims, vm.Name) {
		return // a volumeClaimTemplate
	}
	for _, v := range w.template.Spec.Volumes {
		if v.Name != vm.Name {
			continue
		}
		switch {
		case v.EmptyDir != nil, v.Ephemeral != nil, v.PersistentVolumeClaim != nil:
		case v.Secret != nil, v.ConfigMap != nil, v.Projected != nil, v.DownwardAPI != nil:
			c.containerf(obj, ct, "%s: %s is on volume %s, which the kubelet fills and which cannot be written: use an emptyDir", what, file, vm.Name)
		default:
			c.containerf(obj, ct, "%s: %s is on volume %s, not an emptyDir or a volume claim", what, file, vm.Name)
		}
	}
}

// headlessFor returns the headless Services that select the pods of a
// workload on port, with a target port of the pods' port.
func (c *checker) headlessFor(w workload, port int32) []string {
	var out []string
	for _, svc := range c.m.Services {
		if svc.Spec.ClusterIP != corev1.ClusterIPNone || len(svc.Spec.Selector) == 0 ||
			!selects(&metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, w.template.Labels) {
			continue
		}
		for _, sp := range svc.Spec.Ports {
			if cp := c.targetPort(w, sp); sp.Port == port && cp != nil && cp.ContainerPort == port {
				out = append(out, svc.Name)
			}
		}
	}
	return out
}

// topologySpread: a serving workload spreads its own pods across zones and
// nodes; with HA, every workload that runs more than one pod spreads hard
// (DoNotSchedule) across zones, so that losing a zone leaves the others'.
func (c *checker) topologySpread(obj string, w workload) {
	keys := map[string]bool{}
	for _, tsc := range w.template.Spec.TopologySpreadConstraints {
		keys[tsc.TopologyKey] = true
		if p := selectorProblem(tsc.LabelSelector); p != "" {
			c.errorf(obj, "topology spread over %s: %s", tsc.TopologyKey, p)
		}
		if !selects(tsc.LabelSelector, w.template.Labels) {
			c.errorf(obj, "topology spread over %s does not select the workload's own pods", tsc.TopologyKey)
		}
		if tsc.MaxSkew < 1 {
			c.errorf(obj, "topology spread over %s has maxSkew %d", tsc.TopologyKey, tsc.MaxSkew)
		}
		if tsc.TopologyKey == ZoneKey && c.spec.HA && c.replicaFloor(w) > 1 && tsc.WhenUnsatisfiable != corev1.DoNotSchedule {
			c.errorf(obj, "topology spread over %s is %s, not DoNotSchedule: its pods may share a zone and go down with it", ZoneKey, tsc.WhenUnsatisfiable)
		}
	}
	for _, k := range []string{ZoneKey, HostnameKey} {
		if !keys[k] {
			c.errorf(obj, "no topology spread constraint over %s", k)
		}
	}
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
// pdbs: each covers exactly one workload and lets one pod, but not all,
// be evicted at the workload's fewest replicas; a workload of one pod
// cannot keep it through a drain without blocking the drain, so its
// budget may let it go.
func (c *checker) pdbs() {
	for _, b := range c.m.PDBs {
		obj := "PodDisruptionBudget " + b.Name
		if p := selectorProblem(b.Spec.Selector); p != "" {
			c.errorf(obj, "selector: %s", p)
			continue
		}
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
			case n < 1 && floor > 1:
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
			case n >= int(floor) && floor > 1:
				c.errorf(obj, "maxUnavailable %s with %d replicas lets every pod of %s be evicted", b.Spec.MaxUnavailable.String(), floor, w.object())
			}
		}
	}
}
