package deploy_test

import (
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/unigate/unigate/deploy"
)

// dir holds the manifests under test.
const dir = "k8s"

// spec is what the manifests must deploy: the five services, etcd and its
// bootstrap, what every pod reaches outside the namespace, and the mesh.
var spec = deploy.Spec{
	DrainSeconds: 5, // app.GracePeriod
	Services: []deploy.ServiceSpec{
		{Name: "acquirer", Port: 7000, Replicas: 3, Autoscaled: true, Public: true,
			Env: []string{"UNIGATE_DSN", "UNIGATE_ROUTER", "UNIGATE_FX", "UNIGATE_RISK", "UNIGATE_SETTLEMENT", "UNIGATE_ETCD", "UNIGATE_PKI", "UNIGATE_LOG_LEVEL", "OTEL_EXPORTER_OTLP_ENDPOINT"},
			// The acquirer signs its answers to signed requests (app.edgeOptions).
			PKIFiles: servicePKI("acquirer", "service/acquirer.sign.key"),
			// Its resolver, relay, poster and audit linker are elected
			// (app.RunAcquirer); it routes on the table it caches.
			Elects: true, RoutingCache: true},
		{Name: "router", Port: 7001, Replicas: 3, Autoscaled: true, Callers: []string{"acquirer"},
			Env:          []string{"UNIGATE_ETCD", "UNIGATE_PKI", "UNIGATE_LOG_LEVEL", "OTEL_EXPORTER_OTLP_ENDPOINT"},
			PKIFiles:     servicePKI("router"),
			RoutingCache: true},
		{Name: "fx", Port: 7002, Replicas: 3, Autoscaled: true, Callers: []string{"acquirer"},
			Env:      []string{"UNIGATE_DSN", "UNIGATE_ETCD", "UNIGATE_FX_PROVIDERS", "UNIGATE_PKI", "UNIGATE_LOG_LEVEL", "OTEL_EXPORTER_OTLP_ENDPOINT"},
			PKIFiles: servicePKI("fx"),
			// Its rate ingestion is elected (fx-ingest, app.RunFX); it
			// prices with the partners' FX terms of the table it caches.
			Elects: true, RoutingCache: true},
		{Name: "risk", Port: 7003, Replicas: 3, Autoscaled: true, Callers: []string{"acquirer"},
			Env:      []string{"UNIGATE_DSN", "UNIGATE_ETCD", "UNIGATE_PKI", "UNIGATE_LOG_LEVEL", "OTEL_EXPORTER_OTLP_ENDPOINT"},
			PKIFiles: servicePKI("risk"),
			// Its replicas register in etcd and stream their velocity
			// events to each other (app.RunRisk).
			Peers: true},
		{Name: "settlement", Port: 7004, Replicas: 2, Autoscaled: false, Callers: []string{"acquirer"},
			Env:      []string{"UNIGATE_DSN", "UNIGATE_ETCD", "UNIGATE_PKI", "UNIGATE_LOG_LEVEL", "OTEL_EXPORTER_OTLP_ENDPOINT"},
			PKIFiles: servicePKI("settlement"),
			// Its cycle close and audit linker are elected (app.RunSettlement);
			// it closes each partner's cycle at the cutoff of the table it caches.
			Elects: true, RoutingCache: true},
	},
	Etcd: deploy.EtcdSpec{Name: "etcd", Replicas: 3, HeartbeatMS: 50, ElectionMS: 500, LeaseMS: 1000, TLS: true},
	Jobs: []deploy.JobSpec{
		// Connects to etcd as app.EtcdAdmin, trusting Unigate's CA only
		// (pki.Dev.ClientConfig).
		{Name: "etcd-bootstrap", Argv: []string{"unigatectl", "etcd", "bootstrap"}, Env: []string{"UNIGATE_ETCD", "UNIGATE_PKI"},
			PKIFiles: []string{"ca/unigate.crt", "service/etcd-admin.crt", "service/etcd-admin.key"}},
	},
	IngressNamespace: "istio-ingress",
	OutsideEgress: []deploy.PortSpec{
		{Port: 53, Protocol: corev1.ProtocolUDP, What: "DNS"},
		{Port: 53, Protocol: corev1.ProtocolTCP, What: "DNS"},
		{Port: 26257, Protocol: corev1.ProtocolTCP, What: "CockroachDB"},
	},
	Mesh: deploy.MeshSpec{
		TrustDomain: "cluster.local",
		Gateway:     deploy.Principal{Namespace: "istio-ingress", ServiceAccount: "istio-ingressgateway"},
	},
}

// servicePKI lists what a service reads from its PKI directory: every
// server accepts callers of the three CAs (pki.Dev.ServerConfig) and
// presents its own certificate, then the extra files.
func servicePKI(name string, extra ...string) []string {
	return append([]string{"ca/unigate.crt", "ca/partners.crt", "ca/networks.crt", "service/" + name + ".crt", "service/" + name + ".key"}, extra...)
}

func load(t *testing.T, fsys fs.FS) *deploy.Manifests {
	t.Helper()
	m, err := deploy.Load(fsys)
	if err != nil {
		t.Fatalf("decoding the manifests: %v", err)
	}
	return m
}

// TestManifests decodes every manifest strictly and validates the whole
// set, one subtest per object.
func TestManifests(t *testing.T) {
	m := load(t, os.DirFS(dir))
	if len(m.Deployments) == 0 || len(m.NetworkPolicies) == 0 {
		t.Fatalf("loaded %d Deployments and %d NetworkPolicies: is %s/ empty?", len(m.Deployments), len(m.NetworkPolicies), dir)
	}
	byObject := map[string][]string{}
	for _, p := range m.Validate(spec) {
		byObject[p.Object] = append(byObject[p.Object], p.Msg)
	}
	objects := append(m.Objects(), deploy.KustomizationFile)
	for o := range byObject {
		if !slices.Contains(objects, o) {
			objects = append(objects, o)
		}
	}
	for _, o := range objects {
		t.Run(o, func(t *testing.T) {
			for _, msg := range byObject[o] {
				t.Error(msg)
			}
		})
	}
}

// TestServices pins what each service's manifests say beyond the rules
// Validate applies to every workload.
func TestServices(t *testing.T) {
	m := load(t, os.DirFS(dir))
	for _, s := range spec.Services {
		t.Run(s.Name, func(t *testing.T) {
			d := m.Deployment(s.Name)
			if d == nil {
				t.Fatal("no Deployment")
			}
			ct := d.Spec.Template.Spec.Containers[0]
			if ct.Image != "unigate:latest" {
				t.Errorf("image %q, want the documented placeholder unigate:latest", ct.Image)
			}
			// The server requires a client certificate, which kubelet's
			// gRPC probe cannot present: `unigate health` presents the
			// service's own and verifies the server's for a DNS name of
			// its certificate, with the thresholds of README.md's table.
			wantProbe := []string{"unigate", "health", "--service=" + s.Name, "--server-name=" + s.Name + ".unigate.svc", "--timeout=3s"}
			for _, p := range []struct {
				name                    string
				pr                      *corev1.Probe
				period, timeout, failed int32
			}{
				{"startup", ct.StartupProbe, 2, 5, 30},
				{"readiness", ct.ReadinessProbe, 5, 5, 2},
				{"liveness", ct.LivenessProbe, 10, 5, 3},
			} {
				if p.pr == nil || p.pr.Exec == nil || !slices.Equal(p.pr.Exec.Command, wantProbe) {
					t.Errorf("%s probe is not an exec probe running %q", p.name, wantProbe)
					continue
				}
				if p.pr.PeriodSeconds != p.period || p.pr.TimeoutSeconds != p.timeout || p.pr.FailureThreshold != p.failed {
					t.Errorf("%s probe: period %d s, timeout %d s, %d failures; want %d s, %d s, %d",
						p.name, p.pr.PeriodSeconds, p.pr.TimeoutSeconds, p.pr.FailureThreshold, p.period, p.timeout, p.failed)
				}
			}
			pki := slices.ContainsFunc(ct.Env, func(e corev1.EnvVar) bool { return e.Name == "UNIGATE_PKI" && e.Value == "/etc/unigate/pki" })
			mounted := slices.ContainsFunc(ct.VolumeMounts, func(vm corev1.VolumeMount) bool {
				return vm.Name == "pki" && vm.MountPath == "/etc/unigate/pki" && vm.ReadOnly
			})
			if !pki || !mounted {
				t.Errorf("UNIGATE_PKI=/etc/unigate/pki: %v, volume pki mounted there read-only: %v", pki, mounted)
			}
			for _, v := range d.Spec.Template.Spec.Volumes {
				if v.Name == "pki" && (v.Projected == nil || v.Projected.DefaultMode == nil || *v.Projected.DefaultMode != 0o440) {
					t.Errorf("volume pki is not projected with mode 0440 (YAML's 0440 is octal)")
				}
			}
			dsn := slices.ContainsFunc(ct.Env, func(e corev1.EnvVar) bool {
				r := e.ValueFrom
				return e.Name == "UNIGATE_DSN" && r != nil && r.SecretKeyRef != nil && r.SecretKeyRef.Name == "unigate-db" && r.SecretKeyRef.Key == "UNIGATE_DSN"
			})
			if wantDSN := slices.Contains(s.Env, "UNIGATE_DSN"); dsn != wantDSN {
				t.Errorf("UNIGATE_DSN from Secret unigate-db: %v, want %v", dsn, wantDSN)
			}

			svc := m.Service(s.Name)
			if svc == nil || len(svc.Spec.Ports) != 1 {
				t.Fatal("no Service with one port")
			}
			if svc.Spec.Type != corev1.ServiceTypeClusterIP {
				t.Errorf("Service type %q, want ClusterIP", svc.Spec.Type)
			}
			if sp := svc.Spec.Ports[0]; sp.Name != "grpc" || sp.Port != s.Port || sp.AppProtocol == nil || *sp.AppProtocol != "tls" {
				t.Errorf("Service port %+v, want grpc %d with appProtocol tls", sp, s.Port)
			}

			pdb := m.PDB(s.Name)
			if pdb == nil || pdb.Spec.MinAvailable == nil {
				t.Fatal("no PDB with minAvailable")
			}
			// One pod may go at a time at the fewest replicas.
			if got, want := pdb.Spec.MinAvailable.IntValue(), int(s.Replicas)-1; got != want {
				t.Errorf("PDB minAvailable %d, want %d", got, want)
			}

			hpa := m.HPA(s.Name)
			if (hpa != nil) != s.Autoscaled {
				t.Fatalf("HPA present: %v, want %v", hpa != nil, s.Autoscaled)
			}
			if hpa != nil {
				if hpa.Spec.MaxReplicas%3 != 0 {
					t.Errorf("HPA maxReplicas %d is not a multiple of the 3 zones", hpa.Spec.MaxReplicas)
				}
				if len(hpa.Spec.Metrics) != 1 || hpa.Spec.Metrics[0].Resource == nil || hpa.Spec.Metrics[0].Resource.Name != corev1.ResourceCPU {
					t.Errorf("HPA metrics %+v, want CPU only", hpa.Spec.Metrics)
				}
			}
		})
	}
}

// TestReplicas pins how the manifests give the services' replicas what
// docs/failover.md needs: targets that name every pod, the pod's own
// address for the services that elect, the routing table on a writable
// volume.
func TestReplicas(t *testing.T) {
	m := load(t, os.DirFS(dir))
	env := func(t *testing.T, name string) map[string]corev1.EnvVar {
		d := m.Deployment(name)
		if d == nil {
			t.Fatalf("no Deployment %s", name)
		}
		out := map[string]corev1.EnvVar{}
		for _, e := range d.Spec.Template.Spec.Containers[0].Env {
			out[e.Name] = e
		}
		return out
	}
	for _, s := range spec.Services {
		t.Run(s.Name, func(t *testing.T) {
			h := m.Service(s.Name + "-headless")
			if h == nil || h.Spec.ClusterIP != corev1.ClusterIPNone || len(h.Spec.Ports) != 1 {
				t.Fatalf("no headless Service %s-headless with one port", s.Name)
			}
			if sp := h.Spec.Ports[0]; sp.Name != "grpc" || sp.Port != s.Port || sp.AppProtocol == nil || *sp.AppProtocol != "tls" {
				t.Errorf("Service %s-headless port %+v, want grpc %d with appProtocol tls", s.Name, sp, s.Port)
			}
			if h.Spec.PublishNotReadyAddresses {
				t.Errorf("Service %s-headless publishes pods that are not Ready: callers would dial them", s.Name)
			}
			if s.Name != "acquirer" {
				key := "UNIGATE_" + strings.ToUpper(s.Name)
				want := "dns:///" + s.Name + "-headless.unigate.svc:" + itoa(s.Port)
				if got := m.ConfigMap("unigate-config").Data[key]; got != want {
					t.Errorf("unigate-config %s = %q, want %q", key, got, want)
				}
			}
			e := env(t, s.Name)
			adv, ok := e["UNIGATE_ADVERTISE"]
			if want := s.Elects || s.Peers; ok != want {
				t.Errorf("UNIGATE_ADVERTISE set: %v, want %v (it runs elections: %v, has peers: %v)", ok, want, s.Elects, s.Peers)
			}
			if ok && adv.Value != "$(POD_IP):"+itoa(s.Port) {
				t.Errorf("UNIGATE_ADVERTISE = %q, want $(POD_IP):%d", adv.Value, s.Port)
			}
			cache, ok := e["UNIGATE_ROUTING_CACHE"]
			if ok != s.RoutingCache {
				t.Errorf("UNIGATE_ROUTING_CACHE set: %v, want %v", ok, s.RoutingCache)
			}
			if !s.RoutingCache {
				return
			}
			if cache.Value != "/var/cache/unigate/routing.json" {
				t.Errorf("UNIGATE_ROUTING_CACHE = %q, want /var/cache/unigate/routing.json", cache.Value)
			}
			pod := m.Deployment(s.Name).Spec.Template.Spec
			if !slices.ContainsFunc(pod.Containers[0].VolumeMounts, func(vm corev1.VolumeMount) bool {
				return vm.Name == "routing-cache" && vm.MountPath == "/var/cache/unigate" && !vm.ReadOnly
			}) {
				t.Error("volume routing-cache is not mounted writable at /var/cache/unigate")
			}
			if !slices.ContainsFunc(pod.Volumes, func(v corev1.Volume) bool {
				return v.Name == "routing-cache" && v.EmptyDir != nil && v.EmptyDir.SizeLimit != nil
			}) {
				t.Error("volume routing-cache is not an emptyDir with a sizeLimit")
			}
		})
	}
}

// TestAdvertiseForms checks that Validate takes other spellings of the
// pod's own address: IPv6 brackets, another variable name.
func TestAdvertiseForms(t *testing.T) {
	for _, tt := range []struct{ name, ipVar, value string }{
		{"IPv6 brackets", "POD_IP", "[$(POD_IP)]:7000"},
		{"another variable", "MY_IP", "$(MY_IP):7000"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := load(t, os.DirFS(dir))
			ct := &m.Deployment("acquirer").Spec.Template.Spec.Containers[0]
			for i := range ct.Env {
				switch ct.Env[i].Name {
				case "POD_IP":
					ct.Env[i].Name = tt.ipVar
				case "UNIGATE_ADVERTISE":
					ct.Env[i].Value = tt.value
				}
			}
			for _, p := range m.Validate(spec) {
				if p.Object == "Deployment acquirer" {
					t.Error(p.Msg)
				}
			}
		})
	}
}

func TestEtcd(t *testing.T) {
	m := load(t, os.DirFS(dir))
	st := m.StatefulSet("etcd")
	if st == nil {
		t.Fatal("no etcd StatefulSet")
	}
	ct := st.Spec.Template.Spec.Containers[0]
	tests := []struct {
		name string
		ok   bool
	}{
		{"image quay.io/coreos/etcd:v3.7.3", ct.Image == "quay.io/coreos/etcd:v3.7.3"},
		{"3 replicas", st.Spec.Replicas != nil && *st.Spec.Replicas == 3},
		{"--heartbeat-interval=50", slices.Contains(ct.Args, "--heartbeat-interval=50")},
		{"--election-timeout=500", slices.Contains(ct.Args, "--election-timeout=500")},
		{"headless Service etcd", st.Spec.ServiceName == "etcd" && m.Service("etcd") != nil && m.Service("etcd").Spec.ClusterIP == corev1.ClusterIPNone},
		{"PVC template", len(st.Spec.VolumeClaimTemplates) == 1},
		{"PDB keeps quorum", m.PDB("etcd") != nil && m.PDB("etcd").Spec.MinAvailable != nil && m.PDB("etcd").Spec.MinAvailable.IntValue() == 2},
		{"--client-cert-auth=true", slices.Contains(ct.Args, "--client-cert-auth=true")},
		{"--peer-client-cert-auth=true", slices.Contains(ct.Args, "--peer-client-cert-auth=true")},
		{"clients over https", slices.Contains(ct.Args, "--listen-client-urls=https://0.0.0.0:2379")},
		{"peers over https", slices.Contains(ct.Args, "--listen-peer-urls=https://0.0.0.0:2380")},
		{"only etcd's certificate joins", slices.Contains(ct.Args, "--peer-cert-allowed-cn=service:etcd")},
		{"TLS 1.3, as the services", slices.Contains(ct.Args, "--tls-min-version=TLS1.3")},
		{"clients trust Unigate's CA", slices.Contains(ct.Args, "--trusted-ca-file=/etc/etcd/tls/ca.crt")},
		{"certificates from Secret etcd-tls", slices.ContainsFunc(st.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool {
			return v.Secret != nil && v.Secret.SecretName == "etcd-tls"
		})},
		{"clients told https", m.ConfigMap("unigate-config") != nil &&
			m.ConfigMap("unigate-config").Data["UNIGATE_ETCD"] == "https://etcd-0.etcd:2379,https://etcd-1.etcd:2379,https://etcd-2.etcd:2379"},
		{"bootstrapped once by a Job", m.Job("etcd-bootstrap") != nil && m.Job("etcd-bootstrap").Spec.TTLSecondsAfterFinished == nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.ok {
				t.Errorf("etcd: not %s", tt.name)
			}
		})
	}
}

// TestNetworkPolicies walks who may connect to whom.
func TestNetworkPolicies(t *testing.T) {
	m := load(t, os.DirFS(dir))
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
		{"risk", "outside", 26257, tcp, true},
		{"acquirer", "outside", 443, tcp, true},
		{"router", "outside", 7005, tcp, true},
		// fx to its rate providers' HTTPS sheets, and only there.
		{"fx", "outside", 443, tcp, true},
		{"fx", "outside", 80, tcp, false},
		{"fx", "outside", 8443, tcp, false},
		{"fx", "outside", 443, udp, false},
		{"risk", "outside", 443, tcp, false},
		{"settlement", "outside", 443, tcp, false},
		{"settlement", "outside", 4317, tcp, true},
		{"etcd", "outside", 4317, tcp, false},
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
			return deploy.OutsideNamespace(spec.IngressNamespace)
		case "elsewhere":
			return deploy.OutsideNamespace("default")
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

// TestFX pins how fx.yaml takes its providers and settings from
// unigate-config, and checks that Validate accepts what config.yaml's
// comments tell operators they may set.
func TestFX(t *testing.T) {
	m := load(t, os.DirFS(dir))
	env := map[string]corev1.EnvVar{}
	for _, e := range m.Deployment("fx").Spec.Template.Spec.Containers[0].Env {
		env[e.Name] = e
	}
	fromConfig := func(name string) *corev1.ConfigMapKeySelector {
		if e, ok := env[name]; ok && e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil &&
			e.ValueFrom.ConfigMapKeyRef.Name == "unigate-config" && e.ValueFrom.ConfigMapKeyRef.Key == name {
			return e.ValueFrom.ConfigMapKeyRef
		}
		return nil
	}
	if r := fromConfig("UNIGATE_FX_PROVIDERS"); r == nil || r.Optional != nil && *r.Optional {
		t.Error("UNIGATE_FX_PROVIDERS is not read, required, from unigate-config")
	}
	// The documented placeholder: HTTPS rate sheets on example.com hosts,
	// which an operator must replace.
	providers := m.ConfigMap("unigate-config").Data["UNIGATE_FX_PROVIDERS"]
	items := strings.Split(providers, ",")
	if len(items) < 2 {
		t.Errorf("UNIGATE_FX_PROVIDERS = %q: want at least two placeholder providers", providers)
	}
	for _, item := range items {
		_, u, _ := strings.Cut(item, "=")
		host, _, _ := strings.Cut(strings.TrimPrefix(u, "https://"), "/")
		if !strings.HasPrefix(u, "https://") || !strings.HasSuffix(host, ".example.com") {
			t.Errorf("UNIGATE_FX_PROVIDERS: %q is not an https:// placeholder on an example.com host", item)
		}
	}
	knobs := map[string]string{
		"UNIGATE_RATE_STALENESS": "10s", "UNIGATE_OUTLIER_BAND_BPS": "100",
		"UNIGATE_DEFAULT_MARKUP_BPS": "100", "UNIGATE_REFERENCE_CURRENCY": "USD",
	}
	for name := range knobs {
		if r := fromConfig(name); r == nil || r.Optional == nil || !*r.Optional {
			t.Errorf("%s is not read from unigate-config as an optional key (its default applies without it)", name)
		}
	}

	for _, tt := range []struct {
		name   string
		config map[string]string
	}{
		{"the defaults, spelt out", knobs},
		{"other values in range", map[string]string{
			"UNIGATE_RATE_STALENESS": "1m30s", "UNIGATE_OUTLIER_BAND_BPS": "25",
			"UNIGATE_DEFAULT_MARKUP_BPS": "0", "UNIGATE_REFERENCE_CURRENCY": "EUR",
		}},
		{"three providers", map[string]string{
			"UNIGATE_FX_PROVIDERS": "a=https://a.example.com/r.json,b=https://b.example.com:443/r.json, c=https://c.example.com/r.json",
		}},
		{"a sheet mounted from a ConfigMap", map[string]string{
			"UNIGATE_FX_PROVIDERS": "a=https://a.example.com/r.json,manual=file:///etc/unigate/rates/sheet.json",
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := load(t, os.DirFS(dir))
			for k, v := range tt.config {
				m.ConfigMap("unigate-config").Data[k] = v
			}
			pod := &m.Deployment("fx").Spec.Template.Spec
			pod.Volumes = append(pod.Volumes, corev1.Volume{Name: "rates", VolumeSource: corev1.VolumeSource{
				ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "unigate-config"}}}})
			pod.Containers[0].VolumeMounts = append(pod.Containers[0].VolumeMounts,
				corev1.VolumeMount{Name: "rates", MountPath: "/etc/unigate/rates", ReadOnly: true})
			for _, p := range m.Validate(spec) {
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
// merchant networks' open egress is narrowed: acquirer-egress and
// allow-datastore-egress carry that traffic, not merchant-network-egress.
func TestNarrowedMerchantEgress(t *testing.T) {
	m := load(t, os.DirFS(dir))
	narrowMerchantEgress(m)
	for _, p := range m.Validate(spec) {
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

func itoa(n int32) string { return strconv.Itoa(int(n)) }

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

// overlay is the manifests directory with some files replaced.
func overlay(t *testing.T, replace map[string]func(string) string) fs.FS {
	t.Helper()
	out := fstest.MapFS{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(dir + "/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		s := string(data)
		if f, ok := replace[e.Name()]; ok {
			if s2 := f(s); s2 != s {
				s = s2
			} else {
				t.Fatalf("replacing in %s changed nothing", e.Name())
			}
		}
		out[e.Name()] = &fstest.MapFile{Data: []byte(s)}
	}
	return out
}

// TestBrokenFiles breaks the real files as text: what an editor would do.
func TestBrokenFiles(t *testing.T) {
	t.Run("ReadinessProbe in the wrong case", func(t *testing.T) {
		fsys := overlay(t, map[string]func(string) string{
			"acquirer.yaml": func(s string) string { return strings.Replace(s, "readinessProbe:", "ReadinessProbe:", 1) },
		})
		_, err := deploy.Load(fsys)
		if err == nil || !strings.Contains(err.Error(), "acquirer.yaml") || !strings.Contains(err.Error(), "ReadinessProbe") {
			t.Fatalf("Load error %v, want one naming acquirer.yaml and ReadinessProbe", err)
		}
	})
	t.Run("no readiness probe", func(t *testing.T) {
		fsys := overlay(t, map[string]func(string) string{
			"fx.yaml": func(s string) string {
				i := strings.Index(s, "          readinessProbe:")
				j := strings.Index(s, "          livenessProbe:")
				return s[:i] + s[j:]
			},
		})
		problems := load(t, fsys).Validate(spec)
		wantProblem(t, problems, "Deployment fx", "container unigate: has no readiness probe")
	})
}

func wantProblem(t *testing.T, problems []deploy.Problem, object, msg string) {
	t.Helper()
	for _, p := range problems {
		if p.Object == object && strings.Contains(p.Msg, msg) {
			return
		}
	}
	var all []string
	for _, p := range problems {
		all = append(all, p.Error())
	}
	t.Errorf("no problem %q on %s; got:\n  %s", msg, object, strings.Join(all, "\n  "))
}

// TestHealthProbeForms checks that Validate takes any command line
// `unigate health` parses to the same check, not only the manifests' own.
func TestHealthProbeForms(t *testing.T) {
	for _, tt := range []struct {
		name    string
		argv    []string
		timeout int32
	}{
		{"single dashes and separate values", []string{"unigate", "health", "-service", "acquirer", "-server-name", "acquirer.unigate.svc"}, 3},
		{"every flag, explicit", []string{"unigate", "health", "--service=acquirer", "--addr=127.0.0.1:7000", "--pki=/etc/unigate/pki/",
			"--server-name=acquirer.unigate.svc.cluster.local", "--name=", "--timeout=1s"}, 3},
		{"an unspecified IPv6 host", []string{"unigate", "health", "--service=acquirer", "--addr=[::]:7000", "--server-name=acquirer", "--timeout=4s"}, 5},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := load(t, os.DirFS(dir))
			ct := &m.Deployment("acquirer").Spec.Template.Spec.Containers[0]
			for _, pr := range []*corev1.Probe{ct.StartupProbe, ct.ReadinessProbe, ct.LivenessProbe} {
				pr.Exec.Command, pr.TimeoutSeconds = tt.argv, tt.timeout
			}
			for _, p := range m.Validate(spec) {
				if p.Object == "Deployment acquirer" {
					t.Error(p.Msg)
				}
			}
		})
	}
}

// TestValidateCatches breaks one thing at a time in the decoded manifests
// and checks that Validate reports it.
func TestValidateCatches(t *testing.T) {
	container := func(m *deploy.Manifests, name string) *corev1.Container {
		if d := m.Deployment(name); d != nil {
			return &d.Spec.Template.Spec.Containers[0]
		}
		if j := m.Job(name); j != nil {
			return &j.Spec.Template.Spec.Containers[0]
		}
		return &m.StatefulSet(name).Spec.Template.Spec.Containers[0]
	}
	setEnv := func(ct *corev1.Container, name, value string) {
		for i := range ct.Env {
			if ct.Env[i].Name == name {
				ct.Env[i] = corev1.EnvVar{Name: name, Value: value}
			}
		}
	}
	setIn := func(argv []string, prefix, arg string) {
		for i, a := range argv {
			if strings.HasPrefix(a, prefix) {
				argv[i] = arg
			}
		}
	}
	setArg := func(ct *corev1.Container, prefix, arg string) { setIn(ct.Args, prefix, arg) }
	dropArg := func(ct *corev1.Container, prefix string) {
		ct.Args = slices.DeleteFunc(ct.Args, func(a string) bool { return strings.HasPrefix(a, prefix) })
	}
	// The command line of an exec probe (`unigate health …`).
	setFlag := func(pr *corev1.Probe, prefix, arg string) { setIn(pr.Exec.Command, prefix, arg) }
	dropFlag := func(pr *corev1.Probe, prefix string) {
		pr.Exec.Command = slices.DeleteFunc(pr.Exec.Command, func(a string) bool { return strings.HasPrefix(a, prefix) })
	}
	addFlag := func(pr *corev1.Probe, arg string) { pr.Exec.Command = append(pr.Exec.Command, arg) }
	dropEnv := func(ct *corev1.Container, name string) {
		ct.Env = slices.DeleteFunc(ct.Env, func(e corev1.EnvVar) bool { return e.Name == name })
	}
	removeNP := func(m *deploy.Manifests, name string) {
		m.NetworkPolicies = slices.DeleteFunc(m.NetworkPolicies, func(o *networkingv1.NetworkPolicy) bool { return o.Name == name })
	}
	ptr := func(b bool) *bool { return &b }
	i32 := func(n int32) *int32 { return &n }
	tests := []struct {
		name   string
		break_ func(m *deploy.Manifests)
		object string
		want   string
	}{
		// Probes.
		{"no readiness probe", func(m *deploy.Manifests) { container(m, "acquirer").ReadinessProbe = nil },
			"Deployment acquirer", "has no readiness probe"},
		{"readiness probe over HTTP", func(m *deploy.Manifests) {
			container(m, "acquirer").ReadinessProbe.ProbeHandler = corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(7000)}}
		}, "Deployment acquirer", "readiness probe cannot present a client certificate"},
		{"gRPC probe of a mutual TLS server", func(m *deploy.Manifests) {
			container(m, "fx").StartupProbe.ProbeHandler = corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 7002}}
		}, "Deployment fx", "startup probe cannot present a client certificate, which the server requires (UNIGATE_PKI)"},
		{"TCP probe of a mutual TLS server", func(m *deploy.Manifests) {
			container(m, "router").LivenessProbe.ProbeHandler = corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("grpc")}}
		}, "Deployment router", "liveness probe is a TCP probe, which checks neither the server's TLS nor its health status: exec `unigate health --service router`"},
		{"health probe of another command", func(m *deploy.Manifests) {
			container(m, "router").ReadinessProbe.Exec.Command = []string{"unigatectl", "health", "--service=router"}
		}, "Deployment router", `readiness probe: runs ["unigatectl" "health" "--service=router"], not unigate health --service router`},
		{"health probe as another service", func(m *deploy.Manifests) {
			setFlag(container(m, "fx").ReadinessProbe, "--service", "--service=acquirer")
		}, "Deployment fx", "readiness probe: checks as --service acquirer, not fx"},
		{"health probe without --service", func(m *deploy.Manifests) {
			dropFlag(container(m, "fx").LivenessProbe, "--service")
		}, "Deployment fx", "liveness probe: does not name --service fx"},
		{"health probe verifying 127.0.0.1", func(m *deploy.Manifests) {
			dropFlag(container(m, "risk").StartupProbe, "--server-name")
		}, "Deployment risk", "startup probe: has no --server-name"},
		{"health probe verifying a name the certificate lacks", func(m *deploy.Manifests) {
			setFlag(container(m, "risk").ReadinessProbe, "--server-name", "--server-name=fx.unigate.svc")
		}, "Deployment risk", "readiness probe: --server-name fx.unigate.svc is not one of the DNS names of risk's certificate"},
		{"health probe of another port", func(m *deploy.Manifests) {
			addFlag(container(m, "settlement").LivenessProbe, "--addr=127.0.0.1:7000")
		}, "Deployment settlement", "liveness probe: checks 127.0.0.1:7000, not the container's grpc port on the loopback"},
		{"health probe of another host", func(m *deploy.Manifests) {
			addFlag(container(m, "settlement").LivenessProbe, "--addr=settlement.unigate.svc:7004")
		}, "Deployment settlement", "liveness probe: checks settlement.unigate.svc:7004, not the container's grpc port on the loopback"},
		{"health probe in plaintext", func(m *deploy.Manifests) {
			addFlag(container(m, "acquirer").StartupProbe, "--pki=")
		}, "Deployment acquirer", "startup probe: --pki is empty"},
		{"health probe with an unknown flag", func(m *deploy.Manifests) {
			addFlag(container(m, "acquirer").ReadinessProbe, "--port=7000")
		}, "Deployment acquirer", "readiness probe: unigate health would fail on its flags: flag provided but not defined: -port"},
		{"health probe of a named health service", func(m *deploy.Manifests) {
			addFlag(container(m, "acquirer").LivenessProbe, "--name=unigate.acquiring.v1.AcquiringService")
		}, "Deployment acquirer", `liveness probe: asks for the health of "unigate.acquiring.v1.AcquiringService"`},
		{"health probe timing out before its check", func(m *deploy.Manifests) { container(m, "fx").StartupProbe.TimeoutSeconds = 3 },
			"Deployment fx", "startup probe: timeoutSeconds 3 leaves no room to start the process and shake hands within the check's 3s deadline: want 4 at least"},
		{"health probe on kubelet's 1 s default", func(m *deploy.Manifests) {
			pr := container(m, "fx").ReadinessProbe
			pr.TimeoutSeconds = 0
			setFlag(pr, "--timeout", "--timeout=500ms")
		}, "Deployment fx", "readiness probe: timeoutSeconds 1 leaves no room to start the process and shake hands within the check's 500ms deadline: want 3 at least"},
		{"plaintext server without a gRPC probe", func(m *deploy.Manifests) {
			ct := container(m, "risk")
			ct.Env = slices.DeleteFunc(ct.Env, func(e corev1.EnvVar) bool { return e.Name == "UNIGATE_PKI" })
		}, "Deployment risk", "readiness probe is not a gRPC probe"},
		{"no startup probe", func(m *deploy.Manifests) { container(m, "risk").StartupProbe = nil },
			"Deployment risk", "has no startup probe"},
		{"etcd readiness on an unknown port", func(m *deploy.Manifests) {
			container(m, "etcd").ReadinessProbe.HTTPGet.Port = intstr.FromString("metricz")
		}, "StatefulSet etcd", "readiness probe: port metricz is not a container port"},

		// Resources.
		{"no memory limit", func(m *deploy.Manifests) { delete(container(m, "fx").Resources.Limits, corev1.ResourceMemory) },
			"Deployment fx", "no memory limit"},
		{"no cpu request", func(m *deploy.Manifests) { delete(container(m, "fx").Resources.Requests, corev1.ResourceCPU) },
			"Deployment fx", "no cpu request"},
		{"request above limit", func(m *deploy.Manifests) {
			container(m, "fx").Resources.Requests[corev1.ResourceCPU] = resource.MustParse("2")
		}, "Deployment fx", "cpu request 2 exceeds its limit 500m"},
		{"GOMEMLIMIT above the limit", func(m *deploy.Manifests) { setEnv(container(m, "risk"), "GOMEMLIMIT", "300MiB") },
			"Deployment risk", "GOMEMLIMIT 300MiB is not below the memory limit 256Mi"},

		// Security.
		{"root allowed", func(m *deploy.Manifests) {
			d := m.Deployment("settlement")
			d.Spec.Template.Spec.SecurityContext.RunAsNonRoot = nil
			d.Spec.Template.Spec.Containers[0].SecurityContext.RunAsNonRoot = nil
		}, "Deployment settlement", "runAsNonRoot is not true"},
		{"writable root file system", func(m *deploy.Manifests) {
			container(m, "settlement").SecurityContext.ReadOnlyRootFilesystem = ptr(false)
		}, "Deployment settlement", "readOnlyRootFilesystem is not true"},
		{"capabilities kept", func(m *deploy.Manifests) { container(m, "settlement").SecurityContext.Capabilities.Drop = nil },
			"Deployment settlement", "does not drop ALL capabilities"},
		{"privilege escalation", func(m *deploy.Manifests) { container(m, "settlement").SecurityContext.AllowPrivilegeEscalation = nil },
			"Deployment settlement", "allowPrivilegeEscalation is not false"},
		{"no seccomp profile", func(m *deploy.Manifests) {
			m.StatefulSet("etcd").Spec.Template.Spec.SecurityContext.SeccompProfile = nil
		}, "StatefulSet etcd", "seccompProfile is not RuntimeDefault"},
		{"service account token mounted", func(m *deploy.Manifests) {
			m.Deployment("fx").Spec.Template.Spec.AutomountServiceAccountToken = ptr(true)
		}, "Deployment fx", "mounts a service account token"},
		{"service account missing", func(m *deploy.Manifests) {
			m.ServiceAccounts = slices.DeleteFunc(m.ServiceAccounts, func(o *corev1.ServiceAccount) bool { return o.Name == "fx" })
		}, "Deployment fx", `ServiceAccount "fx" does not exist`},

		// Shutdown and placement.
		{"grace period equal to the drain", func(m *deploy.Manifests) {
			d := m.Deployment("router")
			d.Spec.Template.Spec.TerminationGracePeriodSeconds = new(int64)
			*d.Spec.Template.Spec.TerminationGracePeriodSeconds = 5
			d.Spec.Template.Spec.Containers[0].Lifecycle = nil
		}, "Deployment router", "terminationGracePeriodSeconds 5 does not exceed the 5 s drain plus the 0 s preStop sleep"},
		{"grace period eaten by the preStop sleep", func(m *deploy.Manifests) {
			*m.Deployment("router").Spec.Template.Spec.TerminationGracePeriodSeconds = 10
		}, "Deployment router", "terminationGracePeriodSeconds 10 does not exceed the 5 s drain plus the 5 s preStop sleep"},
		{"no zone spread", func(m *deploy.Manifests) {
			p := &m.Deployment("acquirer").Spec.Template.Spec
			p.TopologySpreadConstraints = slices.DeleteFunc(p.TopologySpreadConstraints, func(c corev1.TopologySpreadConstraint) bool { return c.TopologyKey == deploy.ZoneKey })
		}, "Deployment acquirer", "no topology spread constraint over topology.kubernetes.io/zone"},
		{"spread over another workload's pods", func(m *deploy.Manifests) {
			m.Deployment("acquirer").Spec.Template.Spec.TopologySpreadConstraints[1].LabelSelector.MatchLabels["app.kubernetes.io/name"] = "router"
		}, "Deployment acquirer", "topology spread over kubernetes.io/hostname does not select the workload's own pods"},

		// Selectors, Services, budgets, autoscalers.
		{"selector not matching the template", func(m *deploy.Manifests) {
			m.Deployment("fx").Spec.Template.Labels["app.kubernetes.io/name"] = "fx2"
		}, "Deployment fx", "does not match the pod template's labels"},
		{"Service selecting nothing", func(m *deploy.Manifests) { m.Service("fx").Spec.Selector["app.kubernetes.io/name"] = "fxx" },
			"Service fx", "selects no pods of any Deployment or StatefulSet"},
		{"Service selecting two workloads", func(m *deploy.Manifests) { delete(m.Service("fx").Spec.Selector, "app.kubernetes.io/name") },
			"Service fx", "selects the pods of several workloads"},
		{"Service to a missing port", func(m *deploy.Manifests) { m.Service("risk").Spec.Ports[0].TargetPort = intstr.FromString("http") },
			"Service risk", "targetPort http is not a TCP container port of Deployment risk"},
		{"Service without appProtocol", func(m *deploy.Manifests) { m.Service("risk").Spec.Ports[0].AppProtocol = nil },
			"Service risk", "must be named grpc and declare appProtocol tls"},
		{"NodePort Service", func(m *deploy.Manifests) { m.Service("acquirer").Spec.Type = corev1.ServiceTypeNodePort },
			"Service acquirer", "exposes it outside the cluster"},
		{"no Service", func(m *deploy.Manifests) {
			m.Services = slices.DeleteFunc(m.Services, func(o *corev1.Service) bool { return o.Name == "risk" || o.Name == "risk-headless" })
		}, "Deployment risk", "no Service selects its pods"},
		{"no PDB", func(m *deploy.Manifests) {
			m.PDBs = slices.DeleteFunc(m.PDBs, func(o *policyv1.PodDisruptionBudget) bool { return o.Name == "fx" })
		}, "Deployment fx", "no PodDisruptionBudget covers its pods"},
		{"PDB blocking drains", func(m *deploy.Manifests) { *m.PDB("settlement").Spec.MinAvailable = intstr.FromInt32(2) },
			"PodDisruptionBudget settlement", "blocks every eviction"},
		{"PDB letting every pod go", func(m *deploy.Manifests) { *m.PDB("router").Spec.MinAvailable = intstr.FromInt32(0) },
			"PodDisruptionBudget router", "lets every pod of Deployment router be evicted"},
		{"etcd PDB allowing quorum loss", func(m *deploy.Manifests) { *m.PDB("etcd").Spec.MinAvailable = intstr.FromString("0%") },
			"PodDisruptionBudget etcd", "lets every pod of StatefulSet etcd be evicted"},
		{"no HPA", func(m *deploy.Manifests) {
			m.HPAs = slices.DeleteFunc(m.HPAs, func(o *autoscalingv2.HorizontalPodAutoscaler) bool { return o.Name == "router" })
		}, "Deployment router", "no HorizontalPodAutoscaler targets it"},
		{"HPA targeting a missing Deployment", func(m *deploy.Manifests) { m.HPA("risk").Spec.ScaleTargetRef.Name = "riskk" },
			"HorizontalPodAutoscaler risk", `targets Deployment "riskk", which does not exist`},
		{"HPA on settlement", func(m *deploy.Manifests) {
			h := *m.HPA("fx")
			h.Name, h.Spec.ScaleTargetRef.Name, h.Spec.MinReplicas = "settlement", "settlement", i32(2)
			m.HPAs = append(m.HPAs, &h)
		}, "Deployment settlement", "targets it, but it is not to be autoscaled"},
		{"HPA on memory", func(m *deploy.Manifests) { m.HPA("fx").Spec.Metrics[0].Resource.Name = corev1.ResourceMemory },
			"HorizontalPodAutoscaler fx", "has no CPU utilization target"},
		{"HPA floor under the replicas", func(m *deploy.Manifests) { m.HPA("fx").Spec.MinReplicas = i32(2) },
			"Deployment fx", "minReplicas 2 is not its 3 replicas"},

		// The services themselves.
		{"wrong replica count", func(m *deploy.Manifests) { m.Deployment("acquirer").Spec.Replicas = i32(2) },
			"Deployment acquirer", "replicas is not 3"},
		{"wrong subcommand", func(m *deploy.Manifests) { container(m, "risk").Command = []string{"unigate", "fx"} },
			"Deployment risk", `runs ["unigate" "fx"], not unigate risk`},
		{"listening on another port", func(m *deploy.Manifests) { setEnv(container(m, "risk"), "UNIGATE_LISTEN", "0.0.0.0:9000") },
			"Deployment risk", `UNIGATE_LISTEN="0.0.0.0:9000" does not listen on port 7003`},
		{"required variable missing", func(m *deploy.Manifests) {
			ct := container(m, "router")
			ct.Env = slices.DeleteFunc(ct.Env, func(e corev1.EnvVar) bool { return e.Name == "UNIGATE_ETCD" })
		}, "Deployment router", "does not set UNIGATE_ETCD"},
		{"ConfigMap key missing", func(m *deploy.Manifests) { delete(m.ConfigMap("unigate-config").Data, "UNIGATE_FX") },
			"Deployment acquirer", `ConfigMap "unigate-config" has no key "UNIGATE_FX"`},
		{"Secret missing", func(m *deploy.Manifests) { m.Secrets = nil },
			"Deployment fx", `Secret "unigate-db" does not exist`},
		{"target naming no Service", func(m *deploy.Manifests) { m.ConfigMap("unigate-config").Data["UNIGATE_FX"] = "fxx:7002" },
			"Deployment acquirer", "fxx:7002 names no Service"},
		{"target on the wrong port", func(m *deploy.Manifests) { m.ConfigMap("unigate-config").Data["UNIGATE_RISK"] = "risk:7002" },
			"Deployment acquirer", "Service risk has no port 7002"},
		{"etcd endpoints missing a member", func(m *deploy.Manifests) {
			m.ConfigMap("unigate-config").Data["UNIGATE_ETCD"] = "http://etcd-0.etcd:2379,http://etcd-1.etcd:2379"
		}, "Deployment router", "UNIGATE_ETCD lists 2 of the 3 members"},
		{"etcd endpoint of no member", func(m *deploy.Manifests) {
			m.ConfigMap("unigate-config").Data["UNIGATE_ETCD"] = "http://etcd-0.etcd:2379,http://etcd-1.etcd:2379,http://etcd-3.etcd:2379"
		}, "Deployment router", "etcd-3.etcd is not one of the 3 pods of StatefulSet etcd"},
		{"Deployment not in the spec", func(m *deploy.Manifests) {
			d := *m.Deployment("fx")
			d.Name = "merchantsim"
			m.Deployments = append(m.Deployments, &d)
		}, "Deployment merchantsim", "is not in the spec"},

		// Network policies.
		{"no default deny", func(m *deploy.Manifests) { removeNP(m, "default-deny-ingress") },
			"Namespace unigate", "no NetworkPolicy denies ingress by default"},
		{"router closed to the acquirer", func(m *deploy.Manifests) { removeNP(m, "router-ingress") },
			"Deployment router", "Deployment acquirer, a caller, cannot reach it on 7001"},
		{"acquirer not allowed out to fx", func(m *deploy.Manifests) {
			narrowMerchantEgress(m)
			np := m.NetworkPolicy("acquirer-egress")
			np.Spec.Egress = slices.Delete(np.Spec.Egress, 1, 2)
		}, "Deployment acquirer", "UNIGATE_FX: no NetworkPolicy lets it reach Deployment fx on 7002"},
		{"backend open to everyone", func(m *deploy.Manifests) { m.NetworkPolicy("risk-ingress").Spec.Ingress[0].From = nil },
			"Deployment risk", "is reachable from outside the namespace on 7003"},
		{"backend open to a non-caller", func(m *deploy.Manifests) {
			np := m.NetworkPolicy("risk-ingress")
			np.Spec.Ingress[0].From[0].PodSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/component": "grpc-server"}}
			m.NetworkPolicy("merchant-network-egress").Spec.PodSelector.MatchExpressions[0].Values = []string{"acquirer", "router", "fx"}
		}, "Deployment risk", "Deployment fx may reach it on 7003, but is not a caller"},
		{"policy selecting no pods", func(m *deploy.Manifests) {
			m.NetworkPolicy("fx-ingress").Spec.PodSelector.MatchLabels["app.kubernetes.io/name"] = "fx-old"
		}, "NetworkPolicy fx-ingress", "selects no pods"},
		{"peer selecting no pods", func(m *deploy.Manifests) {
			m.NetworkPolicy("router-ingress").Spec.Ingress[0].From[0].PodSelector.MatchLabels["app.kubernetes.io/name"] = "acquirerr"
		}, "NetworkPolicy router-ingress", "ingress rule 1: peer podSelector"},
		{"policy port the pods do not have", func(m *deploy.Manifests) {
			p := intstr.FromInt32(7009)
			m.NetworkPolicy("fx-ingress").Spec.Ingress[0].Ports[0].Port = &p
		}, "NetworkPolicy fx-ingress", "ingress rule 1: port 7009/TCP is no container port of Deployment fx"},
		{"egress port the peer does not have", func(m *deploy.Manifests) {
			p := intstr.FromInt32(2390)
			m.NetworkPolicy("allow-datastore-egress").Spec.Egress[0].Ports[0].Port = &p
		}, "NetworkPolicy allow-datastore-egress", "egress rule 1: port 2390/TCP is no container port of StatefulSet etcd"},
		{"no DNS", func(m *deploy.Manifests) { removeNP(m, "allow-dns-egress") },
			"Deployment fx", "cannot reach DNS (53/UDP) outside the namespace"},
		{"no database egress", func(m *deploy.Manifests) { removeNP(m, "allow-datastore-egress") },
			"Deployment settlement", "UNIGATE_DSN: no NetworkPolicy lets it reach cockroachdb-public.example.invalid:26257"},
		{"etcd closed to a workload", func(m *deploy.Manifests) {
			m.NetworkPolicy("etcd").Spec.Ingress[0].From[0].PodSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "router"}}
		}, "StatefulSet etcd", "Deployment fx cannot reach it on 2379"},
		{"etcd peers cut off", func(m *deploy.Manifests) { m.NetworkPolicy("etcd").Spec.Egress = nil },
			"StatefulSet etcd", "members cannot reach each other on the peer port 2380"},
		{"no traces", func(m *deploy.Manifests) { removeNP(m, "telemetry-egress") },
			"Deployment fx", "OTEL_EXPORTER_OTLP_ENDPOINT: no NetworkPolicy lets it reach jaeger-collector.observability.svc:4317"},

		// etcd.
		{"etcd with two members", func(m *deploy.Manifests) { m.StatefulSet("etcd").Spec.Replicas = i32(2) },
			"StatefulSet etcd", "--initial-cluster lists 3 members for 2 replicas"},
		{"etcd with an even member count", func(m *deploy.Manifests) { m.StatefulSet("etcd").Spec.Replicas = i32(4) },
			"StatefulSet etcd", "replicas 4 is not an odd number"},
		{"slow etcd elections", func(m *deploy.Manifests) {
			setArg(container(m, "etcd"), "--election-timeout", "--election-timeout=1500")
		}, "StatefulSet etcd", "--election-timeout 1500 ms does not end an election before a 1000 ms lease expires"},
		{"etcd election under 5 heartbeats", func(m *deploy.Manifests) {
			setArg(container(m, "etcd"), "--heartbeat-interval", "--heartbeat-interval=200")
		}, "StatefulSet etcd", "--election-timeout 500 is under 5 heartbeats of 200 ms"},
		{"etcd default timing", func(m *deploy.Manifests) { dropArg(container(m, "etcd"), "--heartbeat-interval") },
			"StatefulSet etcd", "--heartbeat-interval and --election-timeout must both be set"},
		{"etcd started in order", func(m *deploy.Manifests) { m.StatefulSet("etcd").Spec.PodManagementPolicy = "OrderedReady" },
			"StatefulSet etcd", "podManagementPolicy is not Parallel"},
		{"etcd data off the volume", func(m *deploy.Manifests) { setArg(container(m, "etcd"), "--data-dir", "--data-dir=/tmp/etcd") },
			"StatefulSet etcd", `--data-dir "/tmp/etcd" is not on a volume claim`},
		{"etcd member misnamed", func(m *deploy.Manifests) {
			setArg(container(m, "etcd"), "--initial-cluster=", "--initial-cluster=etcd-0=http://etcd-0.etcd.x.svc:2380,etcd-1=http://etcd-1.etcd.x.svc:2380,etcd2=http://etcd-2.etcd.x.svc:2380")
		}, "StatefulSet etcd", `--initial-cluster member 2 is "etcd2=`},
		{"etcd clients over http", func(m *deploy.Manifests) {
			setArg(container(m, "etcd"), "--listen-client-urls=", "--listen-client-urls=http://0.0.0.0:2379")
		}, "StatefulSet etcd", `--listen-client-urls: "http://0.0.0.0:2379" is not https`},
		{"etcd peers over http", func(m *deploy.Manifests) {
			setArg(container(m, "etcd"), "--initial-cluster=", "--initial-cluster=etcd-0=http://etcd-0.etcd.x.svc:2380,etcd-1=https://etcd-1.etcd.x.svc:2380,etcd-2=https://etcd-2.etcd.x.svc:2380")
		}, "StatefulSet etcd", `--initial-cluster member 0 is "etcd-0=http://etcd-0.etcd.x.svc:2380", not etcd-0=https://`},
		{"etcd without client certificates", func(m *deploy.Manifests) { dropArg(container(m, "etcd"), "--client-cert-auth") },
			"StatefulSet etcd", "--client-cert-auth is not set"},
		{"etcd open to any peer of the CA", func(m *deploy.Manifests) { dropArg(container(m, "etcd"), "--peer-cert-allowed-cn") },
			"StatefulSet etcd", "any certificate of the trusted CA, a service's too, could join the cluster as a peer"},
		{"etcd key not mounted", func(m *deploy.Manifests) {
			setArg(container(m, "etcd"), "--key-file=", "--key-file=/var/lib/etcd/tls.key")
		}, "StatefulSet etcd", "--key-file: volume data is mounted writable at /var/lib/etcd"},
		{"etcd CA missing from its Secret", func(m *deploy.Manifests) { delete(m.Secret("etcd-tls").StringData, "ca.crt") },
			"StatefulSet etcd", `--trusted-ca-file: Secret "etcd-tls" has no key "ca.crt"`},
		{"etcd told over http", func(m *deploy.Manifests) {
			m.ConfigMap("unigate-config").Data["UNIGATE_ETCD"] = "http://etcd-0.etcd:2379,https://etcd-1.etcd:2379,https://etcd-2.etcd:2379"
		}, "Deployment settlement", `UNIGATE_ETCD: "http://etcd-0.etcd:2379" is not https`},
		{"etcd client without a certificate", func(m *deploy.Manifests) {
			ct := container(m, "router")
			ct.Env = slices.DeleteFunc(ct.Env, func(e corev1.EnvVar) bool { return e.Name == "UNIGATE_PKI" })
		}, "Deployment router", "sets UNIGATE_ETCD but not UNIGATE_PKI"},
		{"etcd Service not headless", func(m *deploy.Manifests) { m.Service("etcd").Spec.ClusterIP = "" },
			"StatefulSet etcd", "Service etcd is not headless"},
		{"etcd Service hiding booting members", func(m *deploy.Manifests) { m.Service("etcd").Spec.PublishNotReadyAddresses = false },
			"StatefulSet etcd", "does not publish not-ready addresses"},
		{"etcd claim too small", func(m *deploy.Manifests) {
			m.StatefulSet("etcd").Spec.VolumeClaimTemplates[0].Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("100Mi")
		}, "StatefulSet etcd", "volume claim data asks for less than 1Gi"},

		// More of the rules every workload follows.
		{"selector reaching other workloads", func(m *deploy.Manifests) {
			delete(m.Deployment("acquirer").Spec.Selector.MatchLabels, "app.kubernetes.io/name")
		}, "Deployment acquirer", "selector also selects the pods of Deployment router"},
		{"no image", func(m *deploy.Manifests) { container(m, "fx").Image = "" },
			"Deployment fx", "has no image"},
		{"privileged container", func(m *deploy.Manifests) { container(m, "fx").SecurityContext.Privileged = ptr(true) },
			"Deployment fx", "is privileged"},
		{"capability added back", func(m *deploy.Manifests) {
			container(m, "fx").SecurityContext.Capabilities.Add = []corev1.Capability{"NET_ADMIN"}
		}, "Deployment fx", "adds capabilities [NET_ADMIN]"},
		{"variable set twice", func(m *deploy.Manifests) {
			ct := container(m, "fx")
			ct.Env = append(ct.Env, corev1.EnvVar{Name: "GOMEMLIMIT", Value: "100MiB"})
		}, "Deployment fx", "sets GOMEMLIMIT twice"},
		{"mount of a missing volume", func(m *deploy.Manifests) { m.Deployment("fx").Spec.Template.Spec.Volumes = nil },
			"Deployment fx", `mounts volume "tmp", which the pod does not have`},
		{"no grpc port name", func(m *deploy.Manifests) { container(m, "fx").Ports[0].Name = "api" },
			"Deployment fx", "has no container port named grpc"},
		{"zero skew", func(m *deploy.Manifests) {
			m.Deployment("fx").Spec.Template.Spec.TopologySpreadConstraints[0].MaxSkew = 0
		}, "Deployment fx", "has maxSkew 0"},
		{"two PDBs over one workload", func(m *deploy.Manifests) {
			b := *m.PDB("fx")
			b.Name = "fx-extra"
			m.PDBs = append(m.PDBs, &b)
		}, "Deployment fx", "its pods are under several PodDisruptionBudgets: fx, fx-extra"},
		{"PDB with both bounds", func(m *deploy.Manifests) {
			one := intstr.FromInt32(1)
			m.PDB("fx").Spec.MaxUnavailable = &one
		}, "PodDisruptionBudget fx", "sets neither or both of minAvailable and maxUnavailable"},
		{"HPA on a StatefulSet", func(m *deploy.Manifests) { m.HPA("fx").Spec.ScaleTargetRef.Kind = "StatefulSet" },
			"HorizontalPodAutoscaler fx", "scaleTargetRef is apps/v1 StatefulSet, not apps/v1 Deployment"},
		{"HPA with no room", func(m *deploy.Manifests) { m.HPA("fx").Spec.MaxReplicas = 3 },
			"HorizontalPodAutoscaler fx", "maxReplicas 3 is not above minReplicas 3"},
		{"two HPAs on one Deployment", func(m *deploy.Manifests) {
			h := *m.HPA("fx")
			h.Name = "fx-extra"
			m.HPAs = append(m.HPAs, &h)
		}, "HorizontalPodAutoscaler fx-extra", "targets Deployment fx, as HorizontalPodAutoscaler fx does"},
		{"StatefulSet without its Service", func(m *deploy.Manifests) { m.StatefulSet("etcd").Spec.ServiceName = "etcd-peers" },
			"StatefulSet etcd", `serviceName "etcd-peers" names no Service`},
		{"policy without policyTypes", func(m *deploy.Manifests) { m.NetworkPolicy("fx-ingress").Spec.PolicyTypes = nil },
			"NetworkPolicy fx-ingress", "policyTypes is not set"},
		{"acquirer closed to partners", func(m *deploy.Manifests) { removeNP(m, "acquirer-ingress") },
			"Deployment acquirer", "nothing outside the namespace can reach it on 7000"},
		{"Service port renamed", func(m *deploy.Manifests) { m.Service("router").Spec.Ports[0].Name = "api" },
			"Deployment router", "Service router has no port grpc 7001"},
		{"Deployment missing", func(m *deploy.Manifests) {
			m.Deployments = slices.DeleteFunc(m.Deployments, func(d *appsv1.Deployment) bool { return d.Name == "fx" })
		}, "Deployment fx", "missing"},
		{"target without a port", func(m *deploy.Manifests) { m.ConfigMap("unigate-config").Data["UNIGATE_FX"] = "fx" },
			"Deployment acquirer", `UNIGATE_FX="fx": address fx: missing port in address`},
		{"DSN not a postgres URL", func(m *deploy.Manifests) {
			m.Secret("unigate-db").StringData["UNIGATE_DSN"] = "sqlite:///data/unigate.db"
		}, "Deployment fx", "UNIGATE_DSN is not a postgres:// URL with a host"},
		{"etcd member name not the pod's", func(m *deploy.Manifests) { setArg(container(m, "etcd"), "--name=", "--name=etcd") },
			"StatefulSet etcd", "--name must be $(POD_NAME)"},
		{"etcd advertising the wrong peer URL", func(m *deploy.Manifests) {
			setArg(container(m, "etcd"), "--initial-advertise-peer-urls=", "--initial-advertise-peer-urls=http://0.0.0.0:2380")
		}, "StatefulSet etcd", "--initial-advertise-peer-urls is not the pod's own name under Service etcd"},

		// Replicas and failover: the address standbys follow the leader at.
		{"leader's address not advertised", func(m *deploy.Manifests) { dropEnv(container(m, "acquirer"), "UNIGATE_ADVERTISE") },
			"Deployment acquirer", "does not set UNIGATE_ADVERTISE: listening on an unspecified address, it advertises none"},
		{"advertising the unspecified listen address", func(m *deploy.Manifests) {
			setEnv(container(m, "settlement"), "UNIGATE_ADVERTISE", "0.0.0.0:7004")
		}, "Deployment settlement", `UNIGATE_ADVERTISE="0.0.0.0:7004" is not the pod's own IP: set it to $(POD_IP):7004`},
		{"advertising one address for every pod", func(m *deploy.Manifests) {
			m.ConfigMap("unigate-config").Data["UNIGATE_ADVERTISE"] = "acquirer:7000"
			for i, e := range container(m, "acquirer").Env {
				if e.Name == "UNIGATE_ADVERTISE" {
					container(m, "acquirer").Env[i] = corev1.EnvVar{Name: e.Name, ValueFrom: &corev1.EnvVarSource{
						ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "unigate-config"}, Key: e.Name}}}
				}
			}
		}, "Deployment acquirer", "UNIGATE_ADVERTISE is read from a ConfigMap, Secret or field, not made of the pod's own IP"},
		{"advertising another port", func(m *deploy.Manifests) { setEnv(container(m, "acquirer"), "UNIGATE_ADVERTISE", "$(POD_IP):7001") },
			"Deployment acquirer", `UNIGATE_ADVERTISE="$(POD_IP):7001": port 7001 is not its gRPC port 7000`},
		{"POD_IP defined after UNIGATE_ADVERTISE", func(m *deploy.Manifests) {
			ct := container(m, "settlement")
			i := slices.IndexFunc(ct.Env, func(e corev1.EnvVar) bool { return e.Name == "POD_IP" })
			podIP := ct.Env[i]
			ct.Env = append(slices.Delete(ct.Env, i, i+1), podIP)
		}, "Deployment settlement", `UNIGATE_ADVERTISE="$(POD_IP):7004": POD_IP is defined after it, so $(POD_IP) is not expanded`},
		{"POD_IP not defined", func(m *deploy.Manifests) { dropEnv(container(m, "settlement"), "POD_IP") },
			"Deployment settlement", "no variable POD_IP is defined, so $(POD_IP) stays as it is"},
		{"POD_IP from the pod's name", func(m *deploy.Manifests) {
			for _, e := range container(m, "acquirer").Env {
				if e.Name == "POD_IP" {
					e.ValueFrom.FieldRef.FieldPath = "metadata.name"
				}
			}
		}, "Deployment acquirer", "POD_IP is not the pod's IP (fieldRef status.podIP)"},
		{"acquirer replicas cut off from each other", func(m *deploy.Manifests) {
			np := m.NetworkPolicy("acquirer-ingress")
			np.Spec.Ingress = np.Spec.Ingress[:1]
		}, "Deployment acquirer", "its pods cannot reach each other on 7000: standbys cannot follow the elected leader"},
		{"settlement standbys without egress to the leader", func(m *deploy.Manifests) { removeNP(m, "settlement-egress") },
			"Deployment settlement", "its pods cannot reach each other on 7004"},
		{"router replicas open to each other", func(m *deploy.Manifests) {
			r := &m.NetworkPolicy("router-ingress").Spec.Ingress[0]
			r.From = append(r.From, networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "router"}}})
		}, "Deployment router", "its pods may reach each other on 7001, but it runs no elections"},
		{"risk replicas cut off from each other", func(m *deploy.Manifests) { removeNP(m, "risk-egress") },
			"Deployment risk", "its pods cannot reach each other on 7003: its replicas cannot call their peers"},
		{"risk's address not advertised", func(m *deploy.Manifests) { dropEnv(container(m, "risk"), "UNIGATE_ADVERTISE") },
			"Deployment risk", "does not set UNIGATE_ADVERTISE: listening on an unspecified address, it registers no address in etcd"},
		{"risk without etcd", func(m *deploy.Manifests) { dropEnv(container(m, "risk"), "UNIGATE_ETCD") },
			"Deployment risk", "does not set UNIGATE_ETCD: it finds its peers through etcd"},

		// Replicas and failover: the routing table kept on a writable volume.
		{"no routing cache", func(m *deploy.Manifests) { dropEnv(container(m, "router"), "UNIGATE_ROUTING_CACHE") },
			"Deployment router", "does not set UNIGATE_ROUTING_CACHE: the default is in the user's cache directory, on the read-only root filesystem"},
		{"routing cache on the root filesystem", func(m *deploy.Manifests) {
			setEnv(container(m, "acquirer"), "UNIGATE_ROUTING_CACHE", "/var/lib/unigate/routing.json")
		}, "Deployment acquirer", "UNIGATE_ROUTING_CACHE: /var/lib/unigate/routing.json is on no volume it mounts, and the root filesystem is read-only"},
		{"routing cache among the certificates", func(m *deploy.Manifests) {
			setEnv(container(m, "router"), "UNIGATE_ROUTING_CACHE", "/etc/unigate/pki/routing.json")
		}, "Deployment router", "UNIGATE_ROUTING_CACHE: volume pki is mounted read-only at /etc/unigate/pki"},
		{"routing cache volume mounted read-only", func(m *deploy.Manifests) {
			for i := range container(m, "router").VolumeMounts {
				if vm := &container(m, "router").VolumeMounts[i]; vm.Name == "routing-cache" {
					vm.ReadOnly = true
				}
			}
		}, "Deployment router", "UNIGATE_ROUTING_CACHE: volume routing-cache is mounted read-only at /var/cache/unigate"},
		{"routing cache volume filled by the kubelet", func(m *deploy.Manifests) {
			for i := range m.Deployment("acquirer").Spec.Template.Spec.Volumes {
				if v := &m.Deployment("acquirer").Spec.Template.Spec.Volumes[i]; v.Name == "routing-cache" {
					v.VolumeSource = corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "unigate-config"}}}
				}
			}
		}, "Deployment acquirer", "UNIGATE_ROUTING_CACHE: /var/cache/unigate/routing.json is on volume routing-cache, which the kubelet fills and which cannot be written"},
		{"routing cache naming the mount point", func(m *deploy.Manifests) {
			setEnv(container(m, "router"), "UNIGATE_ROUTING_CACHE", "/var/cache/unigate/")
		}, "Deployment router", "UNIGATE_ROUTING_CACHE: /var/cache/unigate is where volume routing-cache is mounted, a directory, not a file in it"},
		{"relative routing cache", func(m *deploy.Manifests) { setEnv(container(m, "router"), "UNIGATE_ROUTING_CACHE", "routing.json") },
			"Deployment router", `UNIGATE_ROUTING_CACHE="routing.json" is not an absolute path`},

		// Replicas and failover: targets that name every replica.
		{"target through the ClusterIP Service", func(m *deploy.Manifests) { m.ConfigMap("unigate-config").Data["UNIGATE_ROUTER"] = "router:7001" },
			"Deployment acquirer", `UNIGATE_ROUTER="router:7001" is not a dns:/// target: it would resolve to one address, so one connection to one pod; name the headless Service (dns:///router-headless.unigate.svc:7001)`},
		{"dns target of the ClusterIP Service", func(m *deploy.Manifests) {
			m.ConfigMap("unigate-config").Data["UNIGATE_RISK"] = "dns:///risk.unigate.svc.cluster.local:7003"
		}, "Deployment acquirer", `UNIGATE_RISK="dns:///risk.unigate.svc.cluster.local:7003": Service risk is not headless (clusterIP: None)`},
		{"headless Service missing", func(m *deploy.Manifests) {
			m.Services = slices.DeleteFunc(m.Services, func(o *corev1.Service) bool { return o.Name == "fx-headless" })
		}, "Deployment acquirer", "UNIGATE_FX: fx-headless.unigate.svc:7002 names no Service"},
		{"headless Service made a ClusterIP one", func(m *deploy.Manifests) { m.Service("settlement-headless").Spec.ClusterIP = "" },
			"Deployment acquirer", "Service settlement-headless is not headless (clusterIP: None)"},
		{"target naming another service", func(m *deploy.Manifests) {
			m.ConfigMap("unigate-config").Data["UNIGATE_FX"] = "dns:///risk-headless.unigate.svc:7003"
		}, "Deployment acquirer", `UNIGATE_FX="dns:///risk-headless.unigate.svc:7003": Service risk-headless selects the pods of Deployment risk, not of fx`},
		{"target a name the certificate lacks", func(m *deploy.Manifests) {
			m.Service("settlement-headless").Name = "ledger"
			m.ConfigMap("unigate-config").Data["UNIGATE_SETTLEMENT"] = "dns:///ledger.unigate.svc:7004"
		}, "Deployment acquirer", "the caller verifies settlement's certificate for ledger.unigate.svc, which is not one of the DNS names it carries"},
		{"target a pod", func(m *deploy.Manifests) {
			m.ConfigMap("unigate-config").Data["UNIGATE_ROUTER"] = "dns:///router-0.router-headless:7001"
		}, "Deployment acquirer", `UNIGATE_ROUTER="dns:///router-0.router-headless:7001" names no Service of namespace unigate`},

		// fx: its election, its routing table, its rate providers and its
		// settings.
		{"fx standbys cut off from the leader", func(m *deploy.Manifests) { removeNP(m, "fx-egress") },
			"Deployment fx", "its pods cannot reach each other on 7002: standbys cannot follow the elected leader"},
		{"fx closed to its own pods", func(m *deploy.Manifests) {
			r := &m.NetworkPolicy("fx-ingress").Spec.Ingress[0]
			r.From = r.From[:1]
		}, "Deployment fx", "its pods cannot reach each other on 7002"},
		{"fx leader's address not advertised", func(m *deploy.Manifests) { dropEnv(container(m, "fx"), "UNIGATE_ADVERTISE") },
			"Deployment fx", "does not set UNIGATE_ADVERTISE: listening on an unspecified address, it advertises none"},
		{"fx advertising the acquirer's port", func(m *deploy.Manifests) { setEnv(container(m, "fx"), "UNIGATE_ADVERTISE", "$(POD_IP):7000") },
			"Deployment fx", `UNIGATE_ADVERTISE="$(POD_IP):7000": port 7000 is not its gRPC port 7002`},
		{"fx without etcd", func(m *deploy.Manifests) { dropEnv(container(m, "fx"), "UNIGATE_ETCD") },
			"Deployment fx", "does not set UNIGATE_ETCD: it campaigns in elections and reads the routing table through etcd"},
		{"settlement with an empty etcd", func(m *deploy.Manifests) { setEnv(container(m, "settlement"), "UNIGATE_ETCD", "") },
			"Deployment settlement", "does not set UNIGATE_ETCD: it campaigns in elections and reads the routing table through etcd"},
		{"fx without its routing cache", func(m *deploy.Manifests) { dropEnv(container(m, "fx"), "UNIGATE_ROUTING_CACHE") },
			"Deployment fx", "does not set UNIGATE_ROUTING_CACHE"},
		{"settlement without its routing cache", func(m *deploy.Manifests) { dropEnv(container(m, "settlement"), "UNIGATE_ROUTING_CACHE") },
			"Deployment settlement", "does not set UNIGATE_ROUTING_CACHE"},
		{"fx routing cache volume missing", func(m *deploy.Manifests) {
			ct := container(m, "fx")
			ct.VolumeMounts = slices.DeleteFunc(ct.VolumeMounts, func(vm corev1.VolumeMount) bool { return vm.Name == "routing-cache" })
		}, "Deployment fx", "UNIGATE_ROUTING_CACHE: /var/cache/unigate/routing.json is on no volume it mounts, and the root filesystem is read-only"},
		{"fx without providers", func(m *deploy.Manifests) { dropEnv(container(m, "fx"), "UNIGATE_FX_PROVIDERS") },
			"Deployment fx", "does not set UNIGATE_FX_PROVIDERS"},
		{"providers empty", func(m *deploy.Manifests) { m.ConfigMap("unigate-config").Data["UNIGATE_FX_PROVIDERS"] = "" },
			"Deployment fx", "UNIGATE_FX_PROVIDERS is empty: fx falls back to static=static, its fixed demo rates"},
		{"providers naming none", func(m *deploy.Manifests) { m.ConfigMap("unigate-config").Data["UNIGATE_FX_PROVIDERS"] = " , " },
			"Deployment fx", `UNIGATE_FX_PROVIDERS=" , " names no provider: fx would not start`},
		{"provider without a name", func(m *deploy.Manifests) {
			m.ConfigMap("unigate-config").Data["UNIGATE_FX_PROVIDERS"] = "https://rates.example.com/a.json"
		}, "Deployment fx", `UNIGATE_FX_PROVIDERS: provider "https://rates.example.com/a.json" is not NAME=URL`},
		{"provider named twice", func(m *deploy.Manifests) {
			m.ConfigMap("unigate-config").Data["UNIGATE_FX_PROVIDERS"] = "a=https://rates.example.com/a.json,a=static"
		}, "Deployment fx", "UNIGATE_FX_PROVIDERS: provider a is named twice: fx would not start"},
		{"provider of an unknown scheme", func(m *deploy.Manifests) {
			m.ConfigMap("unigate-config").Data["UNIGATE_FX_PROVIDERS"] = "a=ftp://rates.example.com/a.json"
		}, "Deployment fx", `UNIGATE_FX_PROVIDERS: provider a: "ftp://rates.example.com/a.json": want grpc://, http(s)://, file:// or static: fx would not start`},
		{"gRPC provider without a port", func(m *deploy.Manifests) {
			m.ConfigMap("unigate-config").Data["UNIGATE_FX_PROVIDERS"] = "a=grpc://feed.example.com"
		}, "Deployment fx", `UNIGATE_FX_PROVIDERS: provider a: "grpc://feed.example.com" is not grpc://host:port`},
		{"providers cut off", func(m *deploy.Manifests) { removeNP(m, "fx-rate-provider-egress") },
			"Deployment fx", "container unigate: UNIGATE_FX_PROVIDERS refinitiv: no NetworkPolicy lets it reach rates.example.com:443 outside the namespace"},
		{"provider on another port", func(m *deploy.Manifests) {
			m.ConfigMap("unigate-config").Data["UNIGATE_FX_PROVIDERS"] = "a=https://rates.example.com:8443/a.json"
		}, "Deployment fx", "UNIGATE_FX_PROVIDERS a: no NetworkPolicy lets it reach rates.example.com:8443 outside the namespace"},
		{"provider over plain http", func(m *deploy.Manifests) {
			m.ConfigMap("unigate-config").Data["UNIGATE_FX_PROVIDERS"] = "a=http://rates.example.com/a.json"
		}, "Deployment fx", "UNIGATE_FX_PROVIDERS a: no NetworkPolicy lets it reach rates.example.com:80 outside the namespace"},
		{"gRPC provider in the namespace without a Service", func(m *deploy.Manifests) {
			m.ConfigMap("unigate-config").Data["UNIGATE_FX_PROVIDERS"] = "sim=grpc://fxsim:7090"
		}, "Deployment fx", "UNIGATE_FX_PROVIDERS sim: fxsim:7090 names no Service"},
		{"gRPC provider at a service fx may not reach", func(m *deploy.Manifests) {
			m.ConfigMap("unigate-config").Data["UNIGATE_FX_PROVIDERS"] = "sim=grpc://risk:7003"
		}, "Deployment fx", "UNIGATE_FX_PROVIDERS sim: no NetworkPolicy lets it reach Deployment risk on 7003"},
		{"rate sheet in the image", func(m *deploy.Manifests) {
			m.ConfigMap("unigate-config").Data["UNIGATE_FX_PROVIDERS"] = "sheet=file:///srv/rates.json"
		}, "Deployment fx", "UNIGATE_FX_PROVIDERS: provider sheet: /srv/rates.json is on no volume it mounts, so in the image"},
		{"rate sheet mounted by subPath", func(m *deploy.Manifests) {
			m.ConfigMap("unigate-config").Data["UNIGATE_FX_PROVIDERS"] = "sheet=file:///srv/rates/rates.json"
			ct := container(m, "fx")
			ct.VolumeMounts = append(ct.VolumeMounts, corev1.VolumeMount{Name: "rates", MountPath: "/srv/rates/rates.json", SubPath: "rates.json", ReadOnly: true})
			pod := &m.Deployment("fx").Spec.Template.Spec
			pod.Volumes = append(pod.Volumes, corev1.Volume{Name: "rates", VolumeSource: corev1.VolumeSource{
				ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "unigate-config"}}}})
		}, "Deployment fx", "UNIGATE_FX_PROVIDERS: provider sheet: volume rates is mounted with a subPath, which the kubelet never updates"},
		{"staleness not a duration", func(m *deploy.Manifests) { m.ConfigMap("unigate-config").Data["UNIGATE_RATE_STALENESS"] = "10" },
			"Deployment fx", `UNIGATE_RATE_STALENESS="10": not a Go duration (10s, 1m30s): the service would ignore it and keep its default`},
		{"staleness negative", func(m *deploy.Manifests) { m.ConfigMap("unigate-config").Data["UNIGATE_RATE_STALENESS"] = "-1s" },
			"Deployment fx", `UNIGATE_RATE_STALENESS="-1s": not positive: the service would not start`},
		{"outlier band zero", func(m *deploy.Manifests) { m.ConfigMap("unigate-config").Data["UNIGATE_OUTLIER_BAND_BPS"] = "0" },
			"Deployment fx", `UNIGATE_OUTLIER_BAND_BPS="0": outside 1..`},
		{"outlier band a percentage", func(m *deploy.Manifests) { m.ConfigMap("unigate-config").Data["UNIGATE_OUTLIER_BAND_BPS"] = "1%" },
			"Deployment fx", `UNIGATE_OUTLIER_BAND_BPS="1%": not an integer: the service would ignore it`},
		{"markup above 20 %", func(m *deploy.Manifests) { m.ConfigMap("unigate-config").Data["UNIGATE_DEFAULT_MARKUP_BPS"] = "2500" },
			"Deployment fx", `UNIGATE_DEFAULT_MARKUP_BPS="2500": outside 0..2000: the service would not start`},
		{"reference currency in lower case", func(m *deploy.Manifests) { m.ConfigMap("unigate-config").Data["UNIGATE_REFERENCE_CURRENCY"] = "usd" },
			"Deployment fx", `UNIGATE_REFERENCE_CURRENCY="usd": not an ISO 4217 code`},
		{"provider egress except outside its block", func(m *deploy.Manifests) {
			m.NetworkPolicy("fx-rate-provider-egress").Spec.Egress[0].To[0].IPBlock.CIDR = "203.0.113.0/24"
		}, "NetworkPolicy fx-rate-provider-egress", "egress rule 1: ipBlock except 10.0.0.0/8 is not a strict subset of cidr 203.0.113.0/24"},
		{"provider egress except of the other family", func(m *deploy.Manifests) {
			b := m.NetworkPolicy("fx-rate-provider-egress").Spec.Egress[0].To[1].IPBlock
			b.Except = append(b.Except, "10.0.0.0/8")
		}, "NetworkPolicy fx-rate-provider-egress", "egress rule 1: ipBlock except 10.0.0.0/8 is not a strict subset of cidr ::/0"},
		{"provider egress to no CIDR", func(m *deploy.Manifests) {
			m.NetworkPolicy("fx-rate-provider-egress").Spec.Egress[0].To[0].IPBlock.CIDR = "0.0.0.0"
		}, "NetworkPolicy fx-rate-provider-egress", `egress rule 1: ipBlock cidr "0.0.0.0" is not a CIDR`},

		// Certificates.
		{"no PKI", func(m *deploy.Manifests) {
			ct := container(m, "fx")
			ct.Env = slices.DeleteFunc(ct.Env, func(e corev1.EnvVar) bool { return e.Name == "UNIGATE_PKI" })
		}, "Deployment fx", "does not set UNIGATE_PKI: it would serve and call in plaintext"},
		{"PKI mounted writable", func(m *deploy.Manifests) { container(m, "fx").VolumeMounts[1].ReadOnly = false },
			"Deployment fx", "UNIGATE_PKI: volume pki is mounted writable at /etc/unigate/pki"},
		{"PKI elsewhere than mounted", func(m *deploy.Manifests) { setEnv(container(m, "risk"), "UNIGATE_PKI", "/etc/pki") },
			"Deployment risk", "UNIGATE_PKI: /etc/pki/ca/unigate.crt is on no volume it mounts"},
		{"no response-signing key", func(m *deploy.Manifests) {
			v := m.Deployment("acquirer").Spec.Template.Spec.Volumes[1].Projected
			v.Sources = v.Sources[:2]
		}, "Deployment acquirer", "UNIGATE_PKI: volume pki provides no file service/acquirer.sign.key"},
		{"another service's certificate", func(m *deploy.Manifests) {
			m.Deployment("router").Spec.Template.Spec.Volumes[1].Projected.Sources[1].Secret.Items[0].Path = "service/fx.crt"
		}, "Deployment router", "UNIGATE_PKI: volume pki provides no file service/router.crt"},
		{"PKI Secret missing", func(m *deploy.Manifests) {
			m.Secrets = slices.DeleteFunc(m.Secrets, func(o *corev1.Secret) bool { return o.Name == "unigate-pki-settlement" })
		}, "Deployment settlement", `UNIGATE_PKI: Secret "unigate-pki-settlement" does not exist`},
		{"keys readable by anyone", func(m *deploy.Manifests) {
			mode := int32(0o444)
			m.Deployment("fx").Spec.Template.Spec.Volumes[1].Projected.DefaultMode = &mode
		}, "Deployment fx", "UNIGATE_PKI: /etc/unigate/pki/service/fx.key is readable by any user (mode 0444)"},
		{"keys unreadable without fsGroup", func(m *deploy.Manifests) { m.Deployment("fx").Spec.Template.Spec.SecurityContext.FSGroup = nil },
			"Deployment fx", "UNIGATE_PKI: the pod sets no fsGroup, so its user cannot read /etc/unigate/pki/ca/unigate.crt"},
		{"appProtocol grpc on a TLS port", func(m *deploy.Manifests) { grpc := "grpc"; m.Service("router").Spec.Ports[0].AppProtocol = &grpc },
			"Service router", "must be named grpc and declare appProtocol tls"},
		{"OTLP CA not mounted", func(m *deploy.Manifests) {
			setEnv(container(m, "risk"), "OTEL_EXPORTER_OTLP_CERTIFICATE", "/etc/ssl/otlp.crt")
		}, "Deployment risk", "OTEL_EXPORTER_OTLP_CERTIFICATE: /etc/ssl/otlp.crt is on no volume it mounts"},
		{"OTLP endpoint of another scheme", func(m *deploy.Manifests) {
			m.ConfigMap("unigate-config").Data["OTEL_EXPORTER_OTLP_ENDPOINT"] = "grpcs://jaeger-collector.observability.svc:4317"
		}, "Deployment fx", `scheme "grpcs" is neither https nor http`},

		// The ingress gateway.
		{"acquirer open to every namespace", func(m *deploy.Manifests) {
			m.NetworkPolicy("acquirer-ingress").Spec.Ingress[0].From = nil
		}, "Deployment acquirer", "any namespace, not only the ingress gateway's istio-ingress, may reach it on 7000"},
		{"acquirer open to the namespace's pods", func(m *deploy.Manifests) {
			np := m.NetworkPolicy("acquirer-ingress")
			np.Spec.Ingress[0].From = append(np.Spec.Ingress[0].From, networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{}})
		}, "Deployment acquirer", "Deployment router may reach it on 7000, but is not a caller"},
		{"gateway in another namespace", func(m *deploy.Manifests) {
			m.NetworkPolicy("acquirer-ingress").Spec.Ingress[0].From[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] = "istio-system"
		}, "Deployment acquirer", "the ingress gateway's namespace istio-ingress cannot reach it on 7000"},

		// The bootstrap Job.
		{"Job not in the spec", func(m *deploy.Manifests) {
			j := *m.Job("etcd-bootstrap")
			j.Name = "etcd-restore"
			m.Jobs = append(m.Jobs, &j)
		}, "Job etcd-restore", "is not in the spec"},
		{"Job missing", func(m *deploy.Manifests) { m.Jobs = nil },
			"Job etcd-bootstrap", "missing"},
		{"Job running another command", func(m *deploy.Manifests) {
			container(m, "etcd-bootstrap").Command = []string{"unigatectl", "routes", "get"}
		}, "Job etcd-bootstrap", `runs ["unigatectl" "routes" "get"], not ["unigatectl" "etcd" "bootstrap"]`},
		{"Job retried for ever", func(m *deploy.Manifests) { m.Job("etcd-bootstrap").Spec.BackoffLimit = nil },
			"Job etcd-bootstrap", "backoffLimit is not set"},
		{"Job without the admin key", func(m *deploy.Manifests) {
			v := m.Job("etcd-bootstrap").Spec.Template.Spec.Volumes[0].Projected
			v.Sources = v.Sources[:1]
		}, "Job etcd-bootstrap", "UNIGATE_PKI: volume pki provides no file service/etcd-admin.crt"},
		{"Job cut off from etcd", func(m *deploy.Manifests) {
			m.NetworkPolicy("etcd").Spec.Ingress[0].From = m.NetworkPolicy("etcd").Spec.Ingress[0].From[:1]
		}, "StatefulSet etcd", "Job etcd-bootstrap cannot reach it on 2379"},
		{"Job as root", func(m *deploy.Manifests) {
			m.Job("etcd-bootstrap").Spec.Template.Spec.SecurityContext.RunAsNonRoot = nil
			container(m, "etcd-bootstrap").SecurityContext.RunAsNonRoot = nil
		}, "Job etcd-bootstrap", "runAsNonRoot is not true"},

		// Metadata and the kustomization.
		{"object in another namespace", func(m *deploy.Manifests) { m.ConfigMap("unigate-config").Namespace = "default" },
			"ConfigMap unigate-config", `metadata.namespace is "default"`},
		{"object defined twice", func(m *deploy.Manifests) { m.Services = append(m.Services, m.Service("fx")) },
			"Service fx", "defined more than once"},
		{"file left out of the kustomization", func(m *deploy.Manifests) {
			m.Kustomization.Resources = slices.DeleteFunc(m.Kustomization.Resources, func(r string) bool { return r == "acquirer.yaml" })
		}, deploy.KustomizationFile, "does not list acquirer.yaml"},
		{"no Namespace", func(m *deploy.Manifests) { m.Namespaces = nil },
			"Namespace unigate", "no manifest creates the namespace"},
		{"kustomization into another namespace", func(m *deploy.Manifests) { m.Kustomization.Namespace = "default" },
			deploy.KustomizationFile, `namespace is "default", not "unigate"`},
		{"kustomization listing a missing file", func(m *deploy.Manifests) {
			m.Kustomization.Resources = append(m.Kustomization.Resources, "ghost.yaml")
		}, deploy.KustomizationFile, "lists ghost.yaml, which is not a manifest here"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := load(t, os.DirFS(dir))
			tt.break_(m)
			wantProblem(t, m.Validate(spec), tt.object, tt.want)
		})
	}
}
