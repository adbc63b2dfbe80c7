package deploy_test

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/unigate/unigate/deploy"
)

// TestMesh checks that prod carries the Istio objects and dev none; their
// checks run with Validate (TestManifests).
func TestMesh(t *testing.T) {
	m := load(t, "prod")
	if len(m.Mesh.AuthorizationPolicies) == 0 || len(m.Mesh.Gateways) == 0 || len(m.Mesh.PeerAuthentications) == 0 {
		t.Fatalf("prod has %d AuthorizationPolicies, %d Gateways, %d PeerAuthentications", len(m.Mesh.AuthorizationPolicies), len(m.Mesh.Gateways), len(m.Mesh.PeerAuthentications))
	}
	if d := load(t, "dev"); !d.Mesh.Empty() {
		t.Errorf("dev has Istio objects: %v", d.Objects())
	}
}

// TestMeshAllows walks who may connect to whom by mesh identity.
func TestMeshAllows(t *testing.T) {
	m := load(t, "prod")
	mesh, spec := m.Mesh, specFor("prod")
	sa := func(name string) deploy.Principal {
		return deploy.Principal{Namespace: deploy.Namespace, ServiceAccount: name}
	}
	gateway := spec.Mesh.Gateway
	tests := []struct {
		from deploy.Principal
		to   string
		port int32
		want bool
	}{
		{gateway, "acquirer", 7000, true},
		{deploy.Principal{Namespace: "default", ServiceAccount: "default"}, "acquirer", 7000, false},
		{sa("router"), "acquirer", 7000, false},
		{gateway, "router", 7001, false},
		{sa("acquirer"), "router", 7001, true},
		{sa("acquirer"), "fx", 7002, true},
		{sa("acquirer"), "risk", 7003, true},
		{sa("acquirer"), "settlement", 7004, true},
		{sa("acquirer"), "settlement", 7003, false},
		{sa("router"), "fx", 7002, false},
		{sa("fx"), "settlement", 7004, false},
		{sa("etcd-bootstrap"), "router", 7001, false},
		{sa("acquirer"), "etcd", 2379, true},
		{sa("risk"), "etcd", 2379, true},
		{sa("etcd-bootstrap"), "etcd", 2379, true},
		{sa("default"), "etcd", 2379, false},
		{gateway, "etcd", 2379, false},
		{sa("router"), "etcd", 2380, false},
		{sa("etcd"), "etcd", 2380, true},
		// Standbys follow the elected leader on its pod IP.
		{sa("acquirer"), "acquirer", 7000, true},
		{sa("settlement"), "settlement", 7004, true},
		{sa("fx"), "fx", 7002, true},
		{sa("settlement"), "acquirer", 7000, false},
		{sa("fx"), "acquirer", 7000, false},
		{sa("router"), "router", 7001, false},
		// Risk's replicas stream velocity to each other.
		{sa("risk"), "risk", 7003, true},
		// Traces to Jaeger from the services only.
		{sa("fx"), "jaeger", 4317, true},
		{sa("etcd-bootstrap"), "jaeger", 4317, false},
		{deploy.Principal{Namespace: "monitoring", ServiceAccount: "grafana"}, "jaeger", 16686, true},
		{deploy.Principal{Namespace: "monitoring", ServiceAccount: "prometheus"}, "fx", 9090, true},
		{deploy.Principal{Namespace: "monitoring", ServiceAccount: "prometheus"}, "fx", 7002, false},
		{deploy.Principal{Namespace: "default", ServiceAccount: "default"}, "fx", 9090, false},
	}
	for _, tt := range tests {
		t.Run(tt.from.Namespace+"/"+tt.from.ServiceAccount+"→"+tt.to+":"+itoa(tt.port), func(t *testing.T) {
			dst, ok := m.Pod(tt.to)
			if !ok {
				t.Fatalf("no workload %s", tt.to)
			}
			if got := mesh.Allows(spec.Mesh.TrustDomain, tt.from, dst.Labels, tt.port); got != tt.want {
				t.Errorf("allowed = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestMeshCatches breaks one thing at a time in the decoded mesh objects
// and checks that ValidateMesh reports it.
func TestMeshCatches(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(m *deploy.Manifests, mesh *deploy.Mesh)
		object string
		want   string
	}{
		{"permissive mutual TLS", func(_ *deploy.Manifests, mesh *deploy.Mesh) {
			mesh.PeerAuthentication("default").Spec.MTLS.Mode = "PERMISSIVE"
		}, "PeerAuthentication default", `mode is "PERMISSIVE", not STRICT`},
		{"mutual TLS for one workload only", func(_ *deploy.Manifests, mesh *deploy.Mesh) {
			mesh.PeerAuthentication("default").Spec.Selector = &deploy.WorkloadSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "fx"}}
		}, "Namespace unigate", "no PeerAuthentication requires STRICT mutual TLS for the whole namespace"},
		{"no default deny", func(_ *deploy.Manifests, mesh *deploy.Mesh) {
			mesh.AuthorizationPolicies = slices.DeleteFunc(mesh.AuthorizationPolicies, func(ap *deploy.AuthorizationPolicy) bool { return ap.Name == "allow-nothing" })
		}, "Namespace unigate", "no AuthorizationPolicy allows nothing by default"},
		{"router closed to the acquirer", func(_ *deploy.Manifests, mesh *deploy.Mesh) {
			mesh.AuthorizationPolicy("router").Spec.Rules[0].From[0].Source.Principals = []string{"cluster.local/ns/unigate/sa/fx"}
		}, "Deployment router", "mesh: Deployment acquirer, a caller, may not connect to it on 7001"},
		{"risk open to fx", func(_ *deploy.Manifests, mesh *deploy.Mesh) {
			src := &mesh.AuthorizationPolicy("risk").Spec.Rules[0].From[0].Source
			src.Principals = append(src.Principals, "cluster.local/ns/unigate/sa/fx")
		}, "Deployment risk", "mesh: Deployment fx may connect to it on 7003, but is not a caller"},
		{"settlement open to the namespace", func(_ *deploy.Manifests, mesh *deploy.Mesh) {
			mesh.AuthorizationPolicy("settlement").Spec.Rules[0].From[0].Source = deploy.RuleSource{Namespaces: []string{"unigate"}}
		}, "Deployment settlement", "mesh: Deployment router may connect to it on 7004, but is not a caller"},
		{"fx open to the gateway", func(_ *deploy.Manifests, mesh *deploy.Mesh) {
			src := &mesh.AuthorizationPolicy("fx").Spec.Rules[0].From[0].Source
			src.Principals = append(src.Principals, "cluster.local/ns/istio-ingress/sa/istio-ingressgateway")
		}, "Deployment fx", "mesh: the ingress gateway (cluster.local/ns/istio-ingress/sa/istio-ingressgateway) may connect to it on 7002"},
		{"acquirer closed to the gateway", func(_ *deploy.Manifests, mesh *deploy.Mesh) {
			mesh.AuthorizationPolicy("acquirer").Spec.Rules[0].From[0].Source.Namespaces = []string{"istio-system"}
		}, "Deployment acquirer", "mesh: the ingress gateway (cluster.local/ns/istio-ingress/sa/istio-ingressgateway) may not connect to it on 7000"},
		{"acquirer open to all", func(_ *deploy.Manifests, mesh *deploy.Mesh) {
			mesh.AuthorizationPolicy("acquirer").Spec.Rules[0].From = nil
		}, "Deployment acquirer", "mesh: any namespace may connect to it on 7000"},
		{"etcd closed to the bootstrap Job", func(_ *deploy.Manifests, mesh *deploy.Mesh) {
			src := &mesh.AuthorizationPolicy("etcd").Spec.Rules[0].From[0].Source
			src.Principals = slices.DeleteFunc(src.Principals, func(p string) bool { return strings.HasSuffix(p, "/sa/etcd-bootstrap") })
		}, "StatefulSet etcd", "mesh: Job etcd-bootstrap may not connect to it on 2379"},
		{"etcd peers open to a service", func(_ *deploy.Manifests, mesh *deploy.Mesh) {
			src := &mesh.AuthorizationPolicy("etcd").Spec.Rules[1].From[0].Source
			src.Principals = append(src.Principals, "cluster.local/ns/unigate/sa/router")
		}, "StatefulSet etcd", "mesh: Deployment router may connect to its peer port 2380"},
		{"principal of a missing ServiceAccount", func(_ *deploy.Manifests, mesh *deploy.Mesh) {
			mesh.AuthorizationPolicy("fx").Spec.Rules[0].From[0].Source.Principals = []string{"cluster.local/ns/unigate/sa/acquire"}
		}, "AuthorizationPolicy fx", `principal "cluster.local/ns/unigate/sa/acquire" names ServiceAccount acquire, which does not exist`},
		{"principal of another trust domain", func(_ *deploy.Manifests, mesh *deploy.Mesh) {
			mesh.AuthorizationPolicy("fx").Spec.Rules[0].From[0].Source.Principals = []string{"example.org/ns/unigate/sa/acquirer"}
		}, "AuthorizationPolicy fx", `principal "example.org/ns/unigate/sa/acquirer" is not cluster.local/ns/NAMESPACE/sa/SERVICEACCOUNT`},
		{"policy on a port the pods lack", func(_ *deploy.Manifests, mesh *deploy.Mesh) {
			mesh.AuthorizationPolicy("risk").Spec.Rules[0].To[0].Operation.Ports = []string{"7030"}
		}, "AuthorizationPolicy risk", `rule 1: port "7030" is no container port of Deployment risk`},
		{"policy selecting nothing", func(_ *deploy.Manifests, mesh *deploy.Mesh) {
			mesh.AuthorizationPolicy("risk").Spec.Selector.MatchLabels["app.kubernetes.io/name"] = "risk-v2"
		}, "AuthorizationPolicy risk", "selects no pods"},
		{"DENY policy", func(_ *deploy.Manifests, mesh *deploy.Mesh) { mesh.AuthorizationPolicy("risk").Spec.Action = "DENY" },
			"AuthorizationPolicy risk", "action DENY: only ALLOW policies are modelled here"},
		{"gateway ending TLS", func(_ *deploy.Manifests, mesh *deploy.Mesh) {
			mesh.Gateway("unigate-edge").Spec.Servers[0].TLS.Mode = "SIMPLE"
		}, "Gateway unigate-edge", "port 443: not TLS in PASSTHROUGH mode"},
		{"gateway host routed nowhere", func(_ *deploy.Manifests, mesh *deploy.Mesh) {
			s := &mesh.Gateway("unigate-edge").Spec.Servers[0]
			s.Hosts = append(s.Hosts, "ops.unigate.example.com")
		}, "Gateway unigate-edge", "host ops.unigate.example.com is routed by no VirtualService"},
		{"route to an internal service", func(_ *deploy.Manifests, mesh *deploy.Mesh) {
			d := &mesh.VirtualService("acquirer-edge").Spec.TLS[0].Route[0].Destination
			d.Host, d.Port.Number = "settlement.unigate.svc.cluster.local", 7004
		}, "VirtualService acquirer-edge", "destination settlement.unigate.svc.cluster.local is not a Public service's"},
		{"route to a missing port", func(_ *deploy.Manifests, mesh *deploy.Mesh) {
			mesh.VirtualService("acquirer-edge").Spec.TLS[0].Route[0].Destination.Port.Number = 443
		}, "VirtualService acquirer-edge", "destination acquirer.unigate.svc.cluster.local has no port, or one Service acquirer does not have"},
		{"route through a missing gateway", func(_ *deploy.Manifests, mesh *deploy.Mesh) {
			mesh.VirtualService("acquirer-edge").Spec.Gateways = []string{"edge"}
		}, "VirtualService acquirer-edge", "gateway edge does not exist"},
		{"route by an SNI the gateway does not serve", func(_ *deploy.Manifests, mesh *deploy.Mesh) {
			mesh.Gateway("unigate-edge").Spec.Servers[0].Hosts = []string{"partners.unigate.example.com"}
		}, "VirtualService acquirer-edge", "SNI host networks.unigate.example.com is served by none of its gateways"},
		{"object in another namespace", func(_ *deploy.Manifests, mesh *deploy.Mesh) { mesh.Gateway("unigate-edge").Namespace = "istio-ingress" },
			"Gateway unigate-edge", `metadata.namespace is "istio-ingress"`},
		{"traces refused by the mesh", func(_ *deploy.Manifests, mesh *deploy.Mesh) {
			src := &mesh.AuthorizationPolicy("jaeger").Spec.Rules[0].From[0].Source
			src.Principals = slices.DeleteFunc(src.Principals, func(p string) bool { return strings.HasSuffix(p, "/sa/router") })
		}, "Deployment router", "mesh: may not send its traces to Deployment jaeger on 4317"},
		{"no mesh in prod", func(m *deploy.Manifests, _ *deploy.Mesh) { m.Mesh = &deploy.Mesh{} },
			"Namespace unigate", "no PeerAuthentication requires STRICT mutual TLS for the whole namespace"},
		{"acquirer standbys refused by the mesh", func(_ *deploy.Manifests, mesh *deploy.Mesh) {
			ap := mesh.AuthorizationPolicy("acquirer")
			ap.Spec.Rules = ap.Spec.Rules[:1]
		}, "Deployment acquirer", "mesh: its own pods (cluster.local/ns/unigate/sa/acquirer) may not connect to each other on 7000: standbys cannot follow the elected leader"},
		{"settlement standbys refused by the mesh", func(_ *deploy.Manifests, mesh *deploy.Mesh) {
			mesh.AuthorizationPolicy("settlement").Spec.Rules[0].From[0].Source.Principals = []string{"cluster.local/ns/unigate/sa/acquirer"}
		}, "Deployment settlement", "mesh: its own pods (cluster.local/ns/unigate/sa/settlement) may not connect to each other on 7004"},
		{"fx standbys refused by the mesh", func(_ *deploy.Manifests, mesh *deploy.Mesh) {
			mesh.AuthorizationPolicy("fx").Spec.Rules[0].From[0].Source.Principals = []string{"cluster.local/ns/unigate/sa/acquirer"}
		}, "Deployment fx", "mesh: its own pods (cluster.local/ns/unigate/sa/fx) may not connect to each other on 7002"},
		{"no headless Service for fx's pod IPs", func(m *deploy.Manifests, _ *deploy.Mesh) {
			m.Service("fx-headless").Spec.ClusterIP = ""
		}, "Deployment fx", "mesh: no headless Service selects its pods on 7002"},
		{"router replicas open to each other", func(_ *deploy.Manifests, mesh *deploy.Mesh) {
			src := &mesh.AuthorizationPolicy("router").Spec.Rules[0].From[0].Source
			src.Principals = append(src.Principals, "cluster.local/ns/unigate/sa/router")
		}, "Deployment router", "mesh: its own pods may connect to each other on 7001, but it runs no elections"},
		{"risk replicas refused by the mesh", func(_ *deploy.Manifests, mesh *deploy.Mesh) {
			mesh.AuthorizationPolicy("risk").Spec.Rules[0].From[0].Source.Principals = []string{"cluster.local/ns/unigate/sa/acquirer"}
		}, "Deployment risk", "mesh: its own pods (cluster.local/ns/unigate/sa/risk) may not connect to each other on 7003: its replicas cannot call their peers"},
		{"no headless Service for risk's pod IPs", func(m *deploy.Manifests, _ *deploy.Mesh) {
			m.Service("risk-headless").Spec.ClusterIP = ""
		}, "Deployment risk", "mesh: no headless Service selects its pods on 7003: the sidecars would send the replicas' connections to their peers' pod IPs in plaintext"},
		{"no headless Service for the acquirer's pod IPs", func(m *deploy.Manifests, _ *deploy.Mesh) {
			m.Services = slices.DeleteFunc(m.Services, func(o *corev1.Service) bool { return o.Name == "acquirer-headless" })
		}, "Deployment acquirer", "mesh: no headless Service selects its pods on 7000: the sidecars would send the standbys' connections to the leader's pod IP in plaintext"},
		{"settlement's headless Service on another port", func(m *deploy.Manifests, _ *deploy.Mesh) {
			m.Service("settlement-headless").Spec.Ports[0].Port = 443
		}, "Deployment settlement", "mesh: no headless Service selects its pods on 7004"},
		{"ServiceAccount shared with another workload", func(m *deploy.Manifests, _ *deploy.Mesh) {
			m.Deployment("fx").Spec.Template.Spec.ServiceAccountName = "acquirer"
		}, "Deployment risk", "mesh: Deployment fx may connect to it on 7003, but is not a caller"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := load(t, "prod")
			tt.break_(m, m.Mesh)
			wantProblem(t, m.Validate(specFor("prod")), tt.object, tt.want)
		})
	}
}

// TestLoadMeshRejects feeds mesh documents that Istio would take but that
// the checks do not model, or that are misspelt.
func TestLoadMeshRejects(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"port-level mutual TLS", `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: unigate
spec:
  mtls:
    mode: STRICT
  portLevelMtls:
    7000:
      mode: PERMISSIVE
`, `unknown field "portLevelMtls"`},
		{"an HTTP rule", `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: fx
  namespace: unigate
spec:
  rules:
    - to:
        - operation:
            methods: [GET]
`, `unknown field "methods"`},
		{"a kind not modelled", `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: fx
  namespace: unigate
`, `unsupported apiVersion "networking.istio.io/v1" kind "DestinationRule"`},
		{"an older apiVersion", `apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata:
  name: default
  namespace: unigate
`, `unsupported apiVersion "security.istio.io/v1beta1"`},
		{"field in the wrong case", `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: edge
  namespace: unigate
spec:
  hosts: [a.example.com]
  gateways: [edge]
  tls:
    - match:
        - sniHosts: [a.example.com]
      route:
        - destination:
            Host: acquirer
`, `unknown field "spec.tls[0].route[0].destination.Host"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mesh deploy.Mesh
			err := mesh.Decode("broken.yaml", []byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
