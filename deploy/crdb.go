package deploy

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
)

// CrdbCluster is crdb.cockroachlabs.com/v1alpha1 CrdbCluster, the custom
// resource of the CockroachDB operator, with only the fields the manifests
// use: any other is rejected when decoding (DecodeStrict), so that using
// one means adding it here, and to the checks.
type CrdbCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              CrdbClusterSpec `json:"spec"`
}

// CrdbClusterSpec is what the operator makes a StatefulSet of.
type CrdbClusterSpec struct {
	Nodes      int32     `json:"nodes"`
	TLSEnabled bool      `json:"tlsEnabled"`
	Image      CrdbImage `json:"image"`
	SQLPort    *int32    `json:"sqlPort,omitempty"`
	GRPCPort   *int32    `json:"grpcPort,omitempty"`
	HTTPPort   *int32    `json:"httpPort,omitempty"`
	// AdditionalLabels and AdditionalAnnotations go on its pods.
	AdditionalLabels          map[string]string                 `json:"additionalLabels,omitempty"`
	AdditionalAnnotations     map[string]string                 `json:"additionalAnnotations,omitempty"`
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`
	Resources                 corev1.ResourceRequirements       `json:"resources"`
	DataStore                 CrdbDataStore                     `json:"dataStore"`
}

// CrdbImage is the CockroachDB image its nodes run.
type CrdbImage struct {
	Name string `json:"name"`
}

// CrdbDataStore is each node's volume claim.
type CrdbDataStore struct {
	PVC CrdbPVC `json:"pvc"`
}

// CrdbPVC is the claim's spec.
type CrdbPVC struct {
	Spec corev1.PersistentVolumeClaimSpec `json:"spec"`
}

// crdbKind is the kind of a CrdbCluster's workload.
const crdbKind = "CrdbCluster"

// The operator's defaults for the ports left out.
const (
	crdbSQLPort  = 26257
	crdbGRPCPort = 26258
	crdbHTTPPort = 8080
)

func portOr(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

// podLabels are the labels the operator gives the cluster's pods.
func (cr *CrdbCluster) podLabels() map[string]string {
	l := map[string]string{
		"app.kubernetes.io/name":      "cockroachdb",
		"app.kubernetes.io/instance":  cr.Name,
		"app.kubernetes.io/component": "database",
	}
	for k, v := range cr.Spec.AdditionalLabels {
		l[k] = v
	}
	return l
}

// workload is the StatefulSet the operator makes, as far as the checks
// need it: its pods' labels and ports.
func (cr *CrdbCluster) workload() workload {
	n := cr.Spec.Nodes
	return workload{kind: crdbKind, name: cr.Name, replicas: &n, template: &corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: cr.podLabels(), Annotations: cr.Spec.AdditionalAnnotations},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "db", Image: cr.Spec.Image.Name, Ports: []corev1.ContainerPort{
			{Name: "sql", ContainerPort: portOr(cr.Spec.SQLPort, crdbSQLPort)},
			{Name: "grpc", ContainerPort: portOr(cr.Spec.GRPCPort, crdbGRPCPort)},
			{Name: "http", ContainerPort: portOr(cr.Spec.HTTPPort, crdbHTTPPort)},
		}}}},
	}}
}

// crdbServices are the Services the operator makes of each CrdbCluster:
// NAME, headless, and NAME-public, the SQL clients'.
func (m *Manifests) crdbServices() []*corev1.Service {
	var out []*corev1.Service
	for _, cr := range m.CrdbClusters {
		sel := map[string]string{"app.kubernetes.io/name": "cockroachdb", "app.kubernetes.io/instance": cr.Name}
		ports := []corev1.ServicePort{
			{Name: "sql", Port: portOr(cr.Spec.SQLPort, crdbSQLPort), TargetPort: intstr.FromString("sql")},
			{Name: "grpc", Port: portOr(cr.Spec.GRPCPort, crdbGRPCPort), TargetPort: intstr.FromString("grpc")},
			{Name: "http", Port: portOr(cr.Spec.HTTPPort, crdbHTTPPort), TargetPort: intstr.FromString("http")},
		}
		out = append(out,
			&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: cr.Name, Namespace: cr.Namespace},
				Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: sel, Ports: ports}},
			&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: cr.Name + "-public", Namespace: cr.Namespace},
				Spec: corev1.ServiceSpec{Selector: sel, Ports: ports}})
	}
	return out
}

// database checks the CrdbCluster against the spec: its node count, TLS,
// a pinned image, one node per zone when HA, sane quantities, and who may
// reach its SQL port: the services whose UNIGATE_DSN names it, its own
// nodes and the operator, and no one else.
func (c *checker) database() {
	s := c.spec.Database
	obj := crdbKind + " " + s.Name
	var cr *CrdbCluster
	for _, o := range c.m.CrdbClusters {
		if o.Name == s.Name {
			cr = o
		} else {
			c.errorf(crdbKind+" "+o.Name, "is not in the spec")
		}
	}
	if cr == nil {
		c.errorf(obj, "missing")
		return
	}
	if cr.Spec.Nodes != s.Nodes {
		c.errorf(obj, "nodes is %d, not %d", cr.Spec.Nodes, s.Nodes)
	}
	if cr.Spec.Nodes != 1 && (cr.Spec.Nodes < 3 || cr.Spec.Nodes%2 == 0) {
		c.errorf(obj, "nodes %d is neither 1 nor an odd number of 3 or more", cr.Spec.Nodes)
	}
	if !cr.Spec.TLSEnabled {
		c.errorf(obj, "tlsEnabled is not true: the nodes and their clients would talk in plaintext")
	}
	if img := cr.Spec.Image.Name; img == "" || strings.HasSuffix(img, ":latest") || !strings.Contains(img, ":") {
		c.errorf(obj, "image %q is not pinned to a version", img)
	}
	for _, p := range []*int32{cr.Spec.SQLPort, cr.Spec.GRPCPort, cr.Spec.HTTPPort} {
		if p != nil {
			for _, e := range validation.IsValidPortNum(int(*p)) {
				c.errorf(obj, "port %d: %s", *p, e)
			}
		}
	}
	c.labels(obj, "spec.additionalLabels", cr.Spec.AdditionalLabels)
	w := cr.workload()
	spread := false
	for _, tsc := range cr.Spec.TopologySpreadConstraints {
		if p := selectorProblem(tsc.LabelSelector); p != "" {
			c.errorf(obj, "topology spread over %s: %s", tsc.TopologyKey, p)
		}
		if !selects(tsc.LabelSelector, w.template.Labels) {
			c.errorf(obj, "topology spread over %s does not select its pods", tsc.TopologyKey)
			continue
		}
		if tsc.TopologyKey == ZoneKey && tsc.MaxSkew == 1 && (!c.spec.HA || tsc.WhenUnsatisfiable == corev1.DoNotSchedule) {
			spread = true
		}
	}
	if !spread {
		if c.spec.HA {
			c.errorf(obj, "no topology spread over %s with maxSkew 1 and DoNotSchedule: its nodes are not one per zone", ZoneKey)
		} else {
			c.errorf(obj, "no topology spread over %s with maxSkew 1", ZoneKey)
		}
	}
	c.quantities(obj, "node", cr.Spec.Resources)
	if q, ok := cr.Spec.DataStore.PVC.Spec.Resources.Requests[corev1.ResourceStorage]; !ok || q.Cmp(resource.MustParse("1Gi")) < 0 {
		c.errorf(obj, "dataStore asks for less than 1Gi of storage")
	}

	self := w.endpoint()
	sql := portOr(cr.Spec.SQLPort, crdbSQLPort)
	for _, port := range []int32{sql, portOr(cr.Spec.GRPCPort, crdbGRPCPort)} {
		if !c.m.Reachable(self, self, port, corev1.ProtocolTCP) {
			c.errorf(obj, "its nodes cannot reach each other on %d", port)
		}
	}
	if s.OperatorNamespace != "" && !c.m.Reachable(OutsideNamespace(s.OperatorNamespace), self, sql, corev1.ProtocolTCP) {
		c.errorf(obj, "the operator's namespace %s cannot reach it on %d", s.OperatorNamespace, sql)
	}
	if c.m.Reachable(OutsideNamespace("not-"+s.OperatorNamespace), self, sql, corev1.ProtocolTCP) {
		c.errorf(obj, "any namespace may reach it on %d", sql)
	}
	for _, o := range c.m.workloads() {
		if o.kind == crdbKind {
			continue
		}
		if c.m.Reachable(o.endpoint(), self, sql, corev1.ProtocolTCP) && !c.usesDatabase(o, cr) {
			c.errorf(obj, "%s may reach it on %d, but its UNIGATE_DSN does not name it", o.object(), sql)
		}
	}
}

// usesDatabase says whether a workload's UNIGATE_DSN names a Service of
// the cluster.
func (c *checker) usesDatabase(w workload, cr *CrdbCluster) bool {
	for i := range w.template.Spec.Containers {
		v, ok := c.m.envValue(&w.template.Spec.Containers[i], "UNIGATE_DSN")
		if !ok {
			continue
		}
		host, _, _ := dsnHost(v)
		if labels, inside := inNamespace(host); inside && (labels[0] == cr.Name || labels[0] == cr.Name+"-public") {
			return true
		}
	}
	return false
}
