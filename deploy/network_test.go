package deploy_test

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/unigate/unigate/deploy"
)

// TestNetworkPolicies walks who may connect to whom.
func TestNetworkPolicies(t *testing.T) {
	m := load(t, "prod")
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	tests := []struct {
		from, to string
		port     int32
		proto    corev1.Protocol
		want     bool
	}{
		// Partners, through the mesh gateway, and no one else.
		{"outside", "acquirer", 7000, tcp, true},
		{"gateway", "acquirer", 7000, tcp, true},
		{"elsewhere", "acquirer", 7000, tcp, false},
		{"router", "acquirer", 7000, tcp, false},
		{"etcd-bootstrap", "acquirer", 7000, tcp, false},
		{"outside", "acquirer", 7001, tcp, false},
		{"outside", "router", 7001, tcp, false},
		{"outside", "fx", 7002, tcp, false},
		{"outside", "risk", 7003, tcp, false},
		{"outside", "settlement", 7004, tcp, false},
		{"outside", "etcd", 2379, tcp, false},
		// The acquirer calls the four others; nobody else does.
		{"acquirer", "router", 7001, tcp, true},
		{"acquirer", "fx", 7002, tcp, true},
		{"acquirer", "risk", 7003, tcp, true},
		{"acquirer", "settlement", 7004, tcp, true},
		{"router", "fx", 7002, tcp, false},
		{"risk", "fx", 7002, tcp, false},
		{"etcd-bootstrap", "fx", 7002, tcp, false},
		{"fx", "settlement", 7004, tcp, false},
		{"fx", "acquirer", 7000, tcp, false},
		{"fx", "router", 7001, tcp, false},
		{"risk", "router", 7001, tcp, false},
		{"settlement", "risk", 7003, tcp, false},
		{"etcd", "settlement", 7004, tcp, false},
		// Everything reaches etcd's client port; only members its peer port.
		{"acquirer", "etcd", 2379, tcp, true},
		{"router", "etcd", 2379, tcp, true},
		{"fx", "etcd", 2379, tcp, true},
		{"fx", "etcd", 2380, tcp, false},
		{"settlement", "etcd", 2379, tcp, true},
		{"etcd-bootstrap", "etcd", 2379, tcp, true},
		{"elsewhere", "etcd", 2379, tcp, false},
		{"router", "etcd", 2380, tcp, false},
		{"etcd-bootstrap", "etcd", 2380, tcp, false},
		{"etcd", "etcd", 2380, tcp, true},
		// The bootstrap Job talks to etcd alone.
		{"etcd-bootstrap", "router", 7001, tcp, false},
		{"etcd-bootstrap", "outside", 443, tcp, false},
		{"etcd-bootstrap", "outside", 53, udp, true},
		// Outside: DNS and CockroachDB for all, merchant networks for the
		// acquirer and router, traces from the five services.
		{"fx", "outside", 53, udp, true},
		{"etcd", "outside", 53, udp, true},
		{"risk", "cockroachdb", 26257, tcp, true},
		{"acquirer", "cockroachdb", 26257, tcp, true},
		{"router", "cockroachdb", 26257, tcp, false},
		{"jaeger", "cockroachdb", 26257, tcp, false},
		{"etcd-bootstrap", "cockroachdb", 26257, tcp, false},
		{"cockroachdb", "cockroachdb", 26258, tcp, true},
		{"fx", "cockroachdb", 26258, tcp, false},
		{"operator", "cockroachdb", 26257, tcp, true},
		{"elsewhere", "cockroachdb", 26257, tcp, false},
		{"risk", "outside", 26257, tcp, false},
		// Prometheus scrapes the metrics ports; nothing else reaches them.
		{"monitoring", "fx", 9090, tcp, true},
		{"monitoring", "etcd", 2381, tcp, true},
		{"monitoring", "fx", 7002, tcp, false},
		{"elsewhere", "fx", 9090, tcp, false},
		{"acquirer", "fx", 9090, tcp, false},
		// The health port is the kubelet's alone.
		{"acquirer", "fx", 8086, tcp, false},
		{"outside", "router", 8086, tcp, false},
		// Traces go to Jaeger; its UI to Grafana's namespace.
		{"settlement", "jaeger", 4317, tcp, true},
		{"etcd-bootstrap", "jaeger", 4317, tcp, false},
		{"monitoring", "jaeger", 16686, tcp, true},
		{"acquirer", "jaeger", 16686, tcp, false},
		{"jaeger", "outside", 443, tcp, false},
		{"acquirer", "outside", 443, tcp, true},
		{"router", "outside", 7005, tcp, true},
		// fx to its rate providers' HTTPS sheets, and only there.
		{"fx", "outside", 443, tcp, true},
		{"fx", "outside", 80, tcp, false},
		{"fx", "outside", 8443, tcp, false},
		{"fx", "outside", 443, udp, false},
		{"risk", "outside", 443, tcp, false},
		{"settlement", "outside", 443, tcp, false},
		{"settlement", "outside", 4317, tcp, false},
		{"etcd", "jaeger", 4317, tcp, false},
		{"etcd", "outside", 443, tcp, false},
		// Replicas that elect follow the leader's process on its pod IP,
		// risk's stream to each other; the others do not talk to each other.
		{"acquirer", "acquirer", 7000, tcp, true},
		{"settlement", "settlement", 7004, tcp, true},
		{"fx", "fx", 7002, tcp, true},
		{"settlement", "acquirer", 7000, tcp, false},
		{"acquirer", "settlement", 7004, tcp, true},
		{"router", "router", 7001, tcp, false},
		{"risk", "risk", 7003, tcp, true},
	}
	endpoint := func(t *testing.T, name string) deploy.Endpoint {
		switch name {
		case "outside":
			return deploy.Outside
		case "gateway":
			return deploy.OutsideNamespace(specFor("prod").IngressNamespace)
		case "elsewhere":
			return deploy.OutsideNamespace("default")
		case "monitoring":
			return deploy.OutsideNamespace("monitoring")
		case "operator":
			return deploy.OutsideNamespace("cockroach-operator-system")
		}
		e, ok := m.Pod(name)
		if !ok {
			t.Fatalf("no workload %s", name)
		}
		return e
	}
	for _, tt := range tests {
		t.Run(tt.from+"→"+tt.to+":"+itoa(tt.port)+"/"+string(tt.proto), func(t *testing.T) {
			if got := m.Reachable(endpoint(t, tt.from), endpoint(t, tt.to), tt.port, tt.proto); got != tt.want {
				t.Errorf("reachable = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestFX pins how fx takes its providers and settings from its config
// file, and checks that Validate accepts other values operators may set.
func TestFX(t *testing.T) {
	m := load(t, "prod")
	cfg := config(t, m, "fx")
	items := strings.Split(cfg["providers"], ",")
	if len(items) < 2 {
		t.Errorf("providers = %q: want at least two placeholder providers", cfg["providers"])
	}
	for _, item := range items {
		_, u, _ := strings.Cut(item, "=")
		host, _, _ := strings.Cut(strings.TrimPrefix(u, "https://"), "/")
		if !strings.HasPrefix(u, "https://") || !strings.HasSuffix(host, ".example.com") {
			t.Errorf("providers: %q is not an https:// placeholder on an example.com host", item)
		}
	}
	for _, tt := range []struct {
		name   string
		config map[string]string
	}{
		{"other values in range", map[string]string{
			"rate-staleness": "1m30s", "outlier-band-bps": "25", "default-markup-bps": "0", "reference-currency": "EUR",
		}},
		{"the defaults", map[string]string{"rate-staleness": "", "outlier-band-bps": "", "default-markup-bps": "", "reference-currency": ""}},
		{"three providers", map[string]string{
			"providers": "a=https://a.example.com/r.json,b=https://b.example.com:443/r.json, c=https://c.example.com/r.json",
		}},
		{"a sheet mounted from a ConfigMap", map[string]string{
			"providers": "a=https://a.example.com/r.json,manual=file:///etc/rates/sheet.json",
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := load(t, "prod")
			for k, v := range tt.config {
				if v == "" {
					dropConfig(m, "fx", k)
				} else {
					setConfig(m, "fx", k, v)
				}
			}
			pod := &m.Deployment("fx").Spec.Template.Spec
			pod.Volumes = append(pod.Volumes, corev1.Volume{Name: "rates", VolumeSource: corev1.VolumeSource{
				ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "fx-rates"}}}})
			pod.Containers[0].VolumeMounts = append(pod.Containers[0].VolumeMounts,
				corev1.VolumeMount{Name: "rates", MountPath: "/etc/rates", ReadOnly: true})
			for _, p := range m.Validate(specFor("prod")) {
				if p.Object == "Deployment fx" {
					t.Error(p.Msg)
				}
			}
		})
	}
}

// narrowMerchantEgress does what README.md asks operators to do once the
// merchant networks' addresses are known.
func narrowMerchantEgress(m *deploy.Manifests) {
	merchantPort := intstr.FromInt32(8443)
	m.NetworkPolicy("merchant-network-egress").Spec.Egress = []networkingv1.NetworkPolicyEgressRule{{
		To:    []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "203.0.113.0/24"}}},
		Ports: []networkingv1.NetworkPolicyPort{{Port: &merchantPort}},
	}}
}

// TestNarrowedMerchantEgress checks that the acquirer still reaches its
// four services and its own replicas, and the router etcd, once the
// merchant networks' open egress is narrowed.
func TestNarrowedMerchantEgress(t *testing.T) {
	m := load(t, "prod")
	narrowMerchantEgress(m)
	for _, p := range m.Validate(specFor("prod")) {
		t.Error(p)
	}
	acq, _ := m.Pod("acquirer")
	if m.Reachable(acq, deploy.Outside, 443, corev1.ProtocolTCP) {
		t.Error("narrowing changed nothing: the acquirer still reaches any outside port")
	}
	if !m.Reachable(acq, deploy.Outside, 8443, corev1.ProtocolTCP) {
		t.Error("the acquirer no longer reaches the merchant networks")
	}
	if !m.Reachable(acq, acq, 7000, corev1.ProtocolTCP) {
		t.Error("the acquirer's standbys no longer reach the leader")
	}
}

// A Deployment to break in the decoding tests; it decodes cleanly as is.
const deploymentYAML = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: fx
  namespace: unigate
spec:
  replicas: 3
  selector:
    matchLabels:
      app.kubernetes.io/name: fx
  template:
    metadata:
      labels:
        app.kubernetes.io/name: fx
    spec:
      containers:
        - name: unigate
          image: unigate:latest
          readinessProbe:
            grpc:
              port: 7002
`

// TestDecodeRejects feeds documents that a lenient decoder would accept
// and checks that the strict one does not.
func TestDecodeRejects(t *testing.T) {
	var m deploy.Manifests
	if err := m.Decode("ok.yaml", []byte(deploymentYAML)); err != nil {
		t.Fatalf("the unbroken document does not decode: %v", err)
	}
	tests := []struct {
		name, old, new, want string
	}{
		{"field name in the wrong case", "readinessProbe:", "ReadinessProbe:", `unknown field "spec.template.spec.containers[0].ReadinessProbe"`},
		{"metadata field in the wrong case", "  namespace: unigate", "  Namespace: unigate", `unknown field "metadata.Namespace"`},
		{"unknown field", "readinessProbe:", "readinesProbe:", `unknown field "readinesProbe"`},
		{"duplicate key", "  replicas: 3\n", "  replicas: 3\n  replicas: 2\n", `"replicas" already set`},
		{"wrong type", "replicas: 3", "replicas: three", "cannot unmarshal"},
		{"port as a string", "port: 7002", `port: "7002"`, "cannot unmarshal"},
		{"old apiVersion", "apps/v1", "extensions/v1beta1", `unsupported apiVersion "extensions/v1beta1"`},
		{"misspelt kind", "kind: Deployment", "kind: Deploymnet", `kind "Deploymnet"`},
		{"tab in the indentation", "  replicas: 3", "\treplicas: 3", "found character that cannot start any token"},
		{"bad quantity", "image: unigate:latest", "image: unigate:latest\n          resources:\n            limits:\n              cpu: 1.5.3", "quantities must match the regular expression"},
		{"exec probe field in a gRPC probe", "port: 7002", "port: 7002\n              command: [unigate, health]", `unknown field "command"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := strings.Replace(deploymentYAML, tt.old, tt.new, 1)
			if doc == deploymentYAML {
				t.Fatalf("%q is not in the document", tt.old)
			}
			var m deploy.Manifests
			err := m.Decode("broken.yaml", []byte(doc))
			if err == nil {
				t.Fatalf("decoded without error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

// TestYAMLStrictAloneMissesWrongCase shows why DecodeStrict also runs
// sigs.k8s.io/json: sigs.k8s.io/yaml's strict mode matches field names
// case-insensitively.
func TestYAMLStrictAloneMissesWrongCase(t *testing.T) {
	doc := []byte(strings.Replace(deploymentYAML, "readinessProbe:", "ReadinessProbe:", 1))
	var d appsv1.Deployment
	if err := yaml.UnmarshalStrict(doc, &d); err != nil {
		t.Fatalf("sigs.k8s.io/yaml UnmarshalStrict now rejects the wrong case itself (%v): the second pass may be redundant", err)
	}
	if d.Spec.Template.Spec.Containers[0].ReadinessProbe == nil {
		t.Fatal("sigs.k8s.io/yaml did not map ReadinessProbe onto readinessProbe")
	}
	if _, err := deploy.DecodeStrict[appsv1.Deployment](doc); err == nil {
		t.Fatal("DecodeStrict accepted ReadinessProbe")
	}
}

// TestDecodeRejectsCrdbCluster: the CrdbCluster decodes strictly into the
// fields the checks know.
func TestDecodeRejectsCrdbCluster(t *testing.T) {
	doc := `apiVersion: crdb.cockroachlabs.com/v1alpha1
kind: CrdbCluster
metadata:
  name: cockroachdb
  namespace: unigate
spec:
  nodes: 3
  tlsEnabled: true
  image:
    name: cockroachdb/cockroach:v25.2.4
`
	var m deploy.Manifests
	if err := m.Decode("ok.yaml", []byte(doc)); err != nil {
		t.Fatalf("the unbroken document does not decode: %v", err)
	}
	for _, tt := range []struct{ name, old, new, want string }{
		{"a field not modelled", "  nodes: 3", "  nodes: 3\n  ingress: {}", `unknown field "ingress"`},
		{"TLS in the wrong case", "tlsEnabled", "TLSEnabled", `unknown field "spec.TLSEnabled"`},
		{"nodes as a string", "nodes: 3", `nodes: "3"`, "cannot unmarshal"},
		{"another apiVersion", "v1alpha1", "v1beta1", `unsupported apiVersion "crdb.cockroachlabs.com/v1beta1"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var m deploy.Manifests
			err := m.Decode("broken.yaml", []byte(strings.Replace(doc, tt.old, tt.new, 1)))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
