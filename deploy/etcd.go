package deploy

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// etcdEndpoints: an etcd client lists every member, each reachable, over
// https with a client certificate when etcd requires TLS.
func (c *checker) etcdEndpoints(obj string, ct *corev1.Container, src Endpoint, v string) {
	members := map[string]bool{}
	var set *appsv1.StatefulSet
	if pki, ok := c.m.envValue(ct, "UNIGATE_PKI"); c.spec.Etcd.TLS && (!ok || pki == "") {
		c.containerf(obj, ct, "sets UNIGATE_ETCD but not UNIGATE_PKI: it has no client certificate to present to etcd")
	}
	for _, ep := range strings.Split(v, ",") {
		u, err := url.Parse(strings.TrimSpace(ep))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Port() == "" {
			c.containerf(obj, ct, "UNIGATE_ETCD: %q is not an http(s)://host:port URL", ep)
			continue
		}
		if c.spec.Etcd.TLS && u.Scheme != "https" {
			c.containerf(obj, ct, "UNIGATE_ETCD: %q is not https, but etcd serves clients over TLS only", ep)
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

// etcd checks the etcd StatefulSet against the spec: member count, raft
// timing, how members find each other, where data lives, its TLS, and that
// its clients (UNIGATE_ETCD), and no other workload, reach its client port.
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
	scheme := "http"
	if e.TLS {
		scheme = "https"
	}
	members := strings.Split(flags["initial-cluster"], ",")
	if int32(len(members)) != n {
		c.errorf(obj, "--initial-cluster lists %d members for %d replicas", len(members), n)
	}
	for i, m := range members {
		name, peerURL, _ := strings.Cut(m, "=")
		want := fmt.Sprintf("%s-%d", st.Name, i)
		u, err := url.Parse(peerURL)
		if name != want || err != nil || u.Scheme != scheme || !strings.HasPrefix(u.Hostname(), want+"."+st.Spec.ServiceName+".") || u.Port() != strconv.Itoa(int(peer.ContainerPort)) {
			c.errorf(obj, "--initial-cluster member %d is %q, not %s=%s://%s.%s.…:%d", i, m, want, scheme, want, st.Spec.ServiceName, peer.ContainerPort)
		}
	}
	if e.TLS {
		if w, ok := c.workloadNamed("StatefulSet", st.Name); ok {
			c.etcdTLS(obj, w, ct, flags)
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
			if w.name == st.Name {
				continue
			}
			got, uses := c.m.Reachable(w.endpoint(), self, client.ContainerPort, protocolOf(*client)), c.usesEtcd(w)
			switch {
			case uses && !got:
				c.errorf(obj, "%s cannot reach it on %d", w.object(), client.ContainerPort)
			case !uses && got:
				c.errorf(obj, "%s may reach it on %d, but sets no UNIGATE_ETCD", w.object(), client.ContainerPort)
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

// etcdTLS: clients and peers connect over https and must present a
// certificate of the trusted CA, peers one of etcd's own; the files are
// mounted read-only from Secrets.
func (c *checker) etcdTLS(obj string, w workload, ct *corev1.Container, flags map[string]string) {
	for _, f := range []string{"client-cert-auth", "peer-client-cert-auth"} {
		if v, ok := flags[f]; !ok || (v != "" && v != "true") {
			c.errorf(obj, "--%s is not set: etcd would take connections without a client certificate", f)
		}
	}
	for _, f := range []string{"auto-tls", "peer-auto-tls"} {
		if v, ok := flags[f]; ok && v != "false" {
			c.errorf(obj, "--%s makes up certificates that nothing can verify", f)
		}
	}
	for _, f := range []string{"listen-client-urls", "advertise-client-urls", "listen-peer-urls", "initial-advertise-peer-urls"} {
		for _, u := range strings.Split(flags[f], ",") {
			if !strings.HasPrefix(u, "https://") {
				c.errorf(obj, "--%s: %q is not https", f, u)
			}
		}
	}
	for _, f := range []string{"cert-file", "key-file", "trusted-ca-file", "peer-cert-file", "peer-key-file", "peer-trusted-ca-file"} {
		if flags[f] == "" {
			c.errorf(obj, "--%s is not set", f)
			continue
		}
		c.mountedFile(obj, w, ct, "--"+f, flags[f])
	}
	if flags["peer-cert-allowed-cn"] == "" && flags["peer-cert-allowed-hostname"] == "" {
		c.errorf(obj, "neither --peer-cert-allowed-cn nor --peer-cert-allowed-hostname is set: any certificate of the trusted CA, a service's too, could join the cluster as a peer")
	}
}

// pods, and its claims ask for storage.
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
