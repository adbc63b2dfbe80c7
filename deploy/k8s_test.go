package deploy_test

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/unigate/unigate/deploy"
)

// root holds the manifests under test: a base and two overlays.
const root = "k8s"

// overlays are the directories Validate checks, each against its spec.
var overlays = []string{"dev", "prod"}

// supplied are the placeholders of the Secrets the operator supplies; the
// rendered objects refer to them.
var supplied = []string{root + "/base/secret-db.yaml", root + "/base/secret-pki.yaml"}

// specFor is what an overlay must deploy: the five services, etcd and its
// bootstrap, CockroachDB, Jaeger, what every pod reaches outside the
// namespace, and, in prod, high availability and the mesh.
func specFor(overlay string) deploy.Spec {
	prod := overlay == "prod"
	replicas, nodes := int32(1), int32(1)
	if prod {
		replicas, nodes = 3, 3
	}
	svc := func(s deploy.ServiceSpec) deploy.ServiceSpec {
		s.HealthPort, s.MetricsPort, s.Replicas, s.Autoscaled = 8086, 9090, replicas, true
		return s
	}
	common := []string{"UNIGATE_ETCD", "UNIGATE_PKI", "UNIGATE_LOG_LEVEL", "OTEL_EXPORTER_OTLP_ENDPOINT"}
	s := deploy.Spec{
		DrainSeconds: 5, // app.GracePeriod
		Services: []deploy.ServiceSpec{
			svc(deploy.ServiceSpec{Name: "acquirer", Port: 7000, Public: true,
				Env: append([]string{"UNIGATE_DSN", "UNIGATE_ROUTER", "UNIGATE_FX", "UNIGATE_RISK", "UNIGATE_SETTLEMENT"}, common...),
				// The acquirer signs its answers to signed requests (app.edgeOptions).
				PKIFiles: servicePKI("acquirer", true, "service/acquirer.sign.key"),
				// Its resolver, relay, poster and audit linker are elected
				// (app.RunAcquirer); it routes on the table it caches.
				Elects: true, RoutingCache: true}),
			svc(deploy.ServiceSpec{Name: "router", Port: 7001, Callers: []string{"acquirer"},
				Env: common, PKIFiles: servicePKI("router", false), RoutingCache: true}),
			svc(deploy.ServiceSpec{Name: "fx", Port: 7002, Callers: []string{"acquirer"},
				Env:      append([]string{"UNIGATE_DSN", "UNIGATE_FX_PROVIDERS"}, common...),
				PKIFiles: servicePKI("fx", true),
				// Its rate ingestion is elected (fx-ingest, app.RunFX); it
				// prices with the partners' FX terms of the table it caches.
				Elects: true, RoutingCache: true}),
			svc(deploy.ServiceSpec{Name: "risk", Port: 7003, Callers: []string{"acquirer"},
				Env: append([]string{"UNIGATE_DSN"}, common...), PKIFiles: servicePKI("risk", true),
				// Its replicas register in etcd and stream their velocity
				// events to each other (app.RunRisk).
				Peers: true}),
			svc(deploy.ServiceSpec{Name: "settlement", Port: 7004, Callers: []string{"acquirer"},
				Env: append([]string{"UNIGATE_DSN"}, common...), PKIFiles: servicePKI("settlement", true),
				// Its cycle close and audit linker are elected (app.RunSettlement);
				// it closes each partner's cycle at the cutoff of the table it caches.
				Elects: true, RoutingCache: true}),
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
		},
		HA:                  prod,
		MonitoringNamespace: "monitoring",
		Tracing:             deploy.TracingSpec{Name: "jaeger", Image: "jaegertracing/jaeger", Major: 2, OTLPPort: 4317, UIPort: 16686},
		Database:            deploy.CrdbSpec{Name: "cockroachdb", Nodes: nodes, OperatorNamespace: "cockroach-operator-system"},
	}
	if prod {
		s.Mesh = &deploy.MeshSpec{
			TrustDomain: "cluster.local",
			Gateway:     deploy.Principal{Namespace: "istio-ingress", ServiceAccount: "istio-ingressgateway"},
		}
	}
	return s
}

// servicePKI lists what a service reads from its PKI directory: every
// server accepts callers of the three CAs (pki.Dev.ServerConfig) and
// presents its own certificate; with a database, its CA; then the extra
// files.
func servicePKI(name string, db bool, extra ...string) []string {
	files := []string{"ca/unigate.crt", "ca/partners.crt", "ca/networks.crt", "service/" + name + ".crt", "service/" + name + ".key"}
	if db {
		files = append(files, "ca/cockroachdb.crt")
	}
	return append(files, extra...)
}

// rendered caches each overlay's render: the tests that break one thing
// at a time decode it afresh, which is much faster than rendering again.
var rendered sync.Map

// load renders an overlay of the manifests on disk (once) and decodes it,
// with the placeholders of the Secrets the operator supplies.
func load(t *testing.T, overlay string) *deploy.Manifests {
	t.Helper()
	dir := filepath.Join(root, "overlays", overlay)
	y, ok := rendered.Load(dir)
	if !ok {
		out, err := deploy.Build(filesys.MakeFsOnDisk(), dir)
		if err != nil {
			t.Fatal(err)
		}
		y, _ = rendered.LoadOrStore(dir, out)
	}
	m := &deploy.Manifests{Overlay: dir}
	if err := m.Decode(dir, y.([]byte)); err != nil {
		t.Fatalf("decoding %s: %v", overlay, err)
	}
	for _, f := range supplied {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Decode(f, data); err != nil {
			t.Fatalf("decoding %s: %v", f, err)
		}
	}
	return m
}

// TestRender renders each overlay with Render, as a user of the package
// would.
func TestRender(t *testing.T) {
	for _, o := range overlays {
		m, err := deploy.Render(filepath.Join(root, "overlays", o), supplied...)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(m.Objects()), len(load(t, o).Objects()); got != want || got == 0 {
			t.Errorf("%s: Render gives %d objects, the cached render %d", o, got, want)
		}
	}
}

// TestManifests renders both overlays, decodes every object strictly and
// validates each overlay against its spec, one subtest per object.
func TestManifests(t *testing.T) {
	for _, o := range overlays {
		t.Run(o, func(t *testing.T) {
			m := load(t, o)
			if len(m.Deployments) == 0 || len(m.NetworkPolicies) == 0 || len(m.CrdbClusters) == 0 {
				t.Fatalf("rendered %d Deployments, %d NetworkPolicies and %d CrdbClusters", len(m.Deployments), len(m.NetworkPolicies), len(m.CrdbClusters))
			}
			byObject := map[string][]string{}
			for _, p := range m.Validate(specFor(o)) {
				byObject[p.Object] = append(byObject[p.Object], p.Msg)
			}
			objects := m.Objects()
			for obj := range byObject {
				if !slices.Contains(objects, obj) {
					objects = append(objects, obj)
				}
			}
			for _, obj := range objects {
				t.Run(obj, func(t *testing.T) {
					for _, msg := range byObject[obj] {
						t.Error(msg)
					}
				})
			}
		})
	}
}

// TestOverlays pins what tells the overlays apart.
func TestOverlays(t *testing.T) {
	dev, prod := load(t, "dev"), load(t, "prod")
	if len(dev.Mesh.AuthorizationPolicies)+len(dev.Mesh.PeerAuthentications) != 0 {
		t.Error("dev has Istio objects: it runs without a mesh")
	}
	if pa := prod.Mesh.PeerAuthentication("default"); pa == nil || pa.Spec.MTLS == nil || pa.Spec.MTLS.Mode != "STRICT" {
		t.Error("prod has no PeerAuthentication default in STRICT mode")
	}
	for _, tt := range []struct {
		m                *deploy.Manifests
		logLevel         string
		replicas, hpaMin int32
		zone             corev1.UnsatisfiableConstraintAction
		crdbNodes        int32
	}{
		{dev, "debug", 1, 1, corev1.ScheduleAnyway, 1},
		{prod, "info", 3, 3, corev1.DoNotSchedule, 3},
	} {
		t.Run(tt.m.Overlay, func(t *testing.T) {
			if got := tt.m.Generated("unigate-config").Data["UNIGATE_LOG_LEVEL"]; got != tt.logLevel {
				t.Errorf("log level %q, want %q", got, tt.logLevel)
			}
			for _, s := range specFor("prod").Services {
				d := tt.m.Deployment(s.Name)
				if *d.Spec.Replicas != tt.replicas {
					t.Errorf("%s: %d replicas, want %d", s.Name, *d.Spec.Replicas, tt.replicas)
				}
				if h := tt.m.HPA(s.Name); h == nil || *h.Spec.MinReplicas != tt.hpaMin {
					t.Errorf("%s: HPA floor is not %d", s.Name, tt.hpaMin)
				}
				if got := d.Spec.Template.Spec.TopologySpreadConstraints[0]; got.TopologyKey != deploy.ZoneKey || got.WhenUnsatisfiable != tt.zone {
					t.Errorf("%s: zone spread %s %s, want %s", s.Name, got.TopologyKey, got.WhenUnsatisfiable, tt.zone)
				}
				pdb := tt.m.PDB(s.Name)
				switch {
				case tt.replicas == 1 && (pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 || pdb.Spec.MinAvailable != nil):
					t.Errorf("%s: a single pod's budget is not maxUnavailable 1", s.Name)
				case tt.replicas == 3 && (pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 2):
					t.Errorf("%s: budget is not minAvailable 2", s.Name)
				}
			}
			if cr := tt.m.CrdbClusters[0]; cr.Spec.Nodes != tt.crdbNodes || !cr.Spec.TLSEnabled {
				t.Errorf("CockroachDB: %d nodes, TLS %v; want %d, TLS", cr.Spec.Nodes, cr.Spec.TLSEnabled, tt.crdbNodes)
			}
		})
	}
	devCPU := dev.Deployment("fx").Spec.Template.Spec.Containers[0].Resources.Limits[corev1.ResourceCPU]
	prodCPU := prod.Deployment("fx").Spec.Template.Spec.Containers[0].Resources.Limits[corev1.ResourceCPU]
	if devCPU.Cmp(prodCPU) >= 0 {
		t.Errorf("dev's CPU limit %s is not below prod's %s", devCPU.String(), prodCPU.String())
	}
}

// TestServices pins what each service's manifests say beyond the rules
// Validate applies to every workload.
func TestServices(t *testing.T) {
	m := load(t, "prod")
	for _, s := range specFor("prod").Services {
		t.Run(s.Name, func(t *testing.T) {
			d := m.Deployment(s.Name)
			if d == nil {
				t.Fatal("no Deployment")
			}
			ct := d.Spec.Template.Spec.Containers[0]
			if ct.Image != "unigate:latest" {
				t.Errorf("image %q, want the documented placeholder unigate:latest", ct.Image)
			}
			wantArgs := []string{"--config=/etc/unigate/" + s.Name + ".yaml", "--health-listen=0.0.0.0:8086", "--metrics-listen=0.0.0.0:9090"}
			if !slices.Equal(ct.Command, []string{"unigate", s.Name}) || !slices.Equal(ct.Args, wantArgs) {
				t.Errorf("runs %q %q, want unigate %s %q", ct.Command, ct.Args, s.Name, wantArgs)
			}
			// The kubelet's own gRPC probes on the plaintext health port,
			// with the thresholds of README.md.
			for _, p := range []struct {
				name                    string
				pr                      *corev1.Probe
				period, timeout, failed int32
			}{
				{"startup", ct.StartupProbe, 2, 2, 30},
				{"readiness", ct.ReadinessProbe, 5, 2, 2},
				{"liveness", ct.LivenessProbe, 10, 2, 3},
			} {
				if p.pr == nil || p.pr.GRPC == nil || p.pr.GRPC.Port != 8086 || p.pr.Exec != nil {
					t.Errorf("%s probe is not a gRPC probe of port 8086", p.name)
					continue
				}
				if p.pr.PeriodSeconds != p.period || p.pr.TimeoutSeconds != p.timeout || p.pr.FailureThreshold != p.failed {
					t.Errorf("%s probe: period %d s, timeout %d s, %d failures; want %d s, %d s, %d",
						p.name, p.pr.PeriodSeconds, p.pr.TimeoutSeconds, p.pr.FailureThreshold, p.period, p.timeout, p.failed)
				}
			}
			ann := d.Spec.Template.Annotations
			if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != "9090" || ann["prometheus.io/path"] != "/metrics" {
				t.Errorf("scrape annotations %v", ann)
			}
			if e := env(ct)["OTEL_EXPORTER_OTLP_ENDPOINT"]; e.Value != "http://jaeger-collector:4317" {
				t.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT = %q", e.Value)
			}
			cfg := config(t, m, s.Name)
			if cfg["pki"] != "/etc/unigate/pki" || cfg["listen"] != "0.0.0.0:"+itoa(s.Port) {
				t.Errorf("config file: pki %q, listen %q", cfg["pki"], cfg["listen"])
			}
			mounted := slices.ContainsFunc(ct.VolumeMounts, func(vm corev1.VolumeMount) bool {
				return vm.Name == "etc" && vm.MountPath == "/etc/unigate" && vm.ReadOnly
			})
			if !mounted {
				t.Error("volume etc is not mounted read-only at /etc/unigate")
			}
			for _, v := range d.Spec.Template.Spec.Volumes {
				if v.Name == "etc" && (v.Projected == nil || v.Projected.DefaultMode == nil || *v.Projected.DefaultMode != 0o440) {
					t.Errorf("volume etc is not projected with mode 0440 (YAML's 0440 is octal)")
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
			if sp := svc.Spec.Ports[0]; sp.Name != "grpc" || sp.Port != s.Port || sp.AppProtocol == nil || *sp.AppProtocol != "tls" {
				t.Errorf("Service port %+v, want grpc %d with appProtocol tls", sp, s.Port)
			}
			hpa := m.HPA(s.Name)
			if hpa == nil {
				t.Fatal("no HPA")
			}
			if hpa.Spec.MaxReplicas%3 != 0 {
				t.Errorf("HPA maxReplicas %d is not a multiple of the 3 zones", hpa.Spec.MaxReplicas)
			}
			if len(hpa.Spec.Metrics) != 1 || hpa.Spec.Metrics[0].Resource == nil || hpa.Spec.Metrics[0].Resource.Name != corev1.ResourceCPU {
				t.Errorf("HPA metrics %+v, want CPU only", hpa.Spec.Metrics)
			}
		})
	}
}

func env(ct corev1.Container) map[string]corev1.EnvVar {
	out := map[string]corev1.EnvVar{}
	for _, e := range ct.Env {
		out[e.Name] = e
	}
	return out
}

// config returns a service's config file, from the ConfigMap.
func config(t *testing.T, m *deploy.Manifests, service string) map[string]string {
	t.Helper()
	cm := m.Generated("unigate-config")
	if cm == nil {
		t.Fatal("no ConfigMap unigate-config-HASH")
	}
	out := map[string]string{}
	if err := yaml.UnmarshalStrict([]byte(cm.Data[service+".yaml"]), &out); err != nil {
		t.Fatalf("%s.yaml: %v", service, err)
	}
	return out
}

// setConfig sets (or, with drop, removes) a key of a service's config file.
func setConfig(m *deploy.Manifests, service, key, value string, drop ...bool) {
	cm := m.Generated("unigate-config")
	cfg := map[string]any{}
	if err := yaml.Unmarshal([]byte(cm.Data[service+".yaml"]), &cfg); err != nil {
		panic(err)
	}
	if len(drop) > 0 {
		delete(cfg, key)
	} else {
		cfg[key] = value
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		panic(err)
	}
	cm.Data[service+".yaml"] = string(out)
}

func dropConfig(m *deploy.Manifests, service, key string) { setConfig(m, service, key, "", true) }

// TestReplicas pins how the manifests give the services' replicas what
// docs/failover.md needs: targets that name every pod, the pod's own
// address for the services that elect, the routing table on a writable
// volume.
func TestReplicas(t *testing.T) {
	m := load(t, "prod")
	for _, s := range specFor("prod").Services {
		t.Run(s.Name, func(t *testing.T) {
			h := m.Service(s.Name + "-headless")
			if h == nil || h.Spec.ClusterIP != corev1.ClusterIPNone || len(h.Spec.Ports) != 1 {
				t.Fatalf("no headless Service %s-headless with one port", s.Name)
			}
			if h.Spec.PublishNotReadyAddresses {
				t.Errorf("Service %s-headless publishes pods that are not Ready: callers would dial them", s.Name)
			}
			if s.Name != "acquirer" {
				want := "dns:///" + s.Name + "-headless.unigate.svc:" + itoa(s.Port)
				if got := config(t, m, "acquirer")[s.Name]; got != want {
					t.Errorf("acquirer's %s target = %q, want %q", s.Name, got, want)
				}
			}
			e := env(m.Deployment(s.Name).Spec.Template.Spec.Containers[0])
			adv, ok := e["UNIGATE_ADVERTISE"]
			if want := s.Elects || s.Peers; ok != want {
				t.Errorf("UNIGATE_ADVERTISE set: %v, want %v", ok, want)
			}
			if ok && adv.Value != "$(POD_IP):"+itoa(s.Port) {
				t.Errorf("UNIGATE_ADVERTISE = %q, want $(POD_IP):%d", adv.Value, s.Port)
			}
			cache, ok := config(t, m, s.Name)["routing-cache"]
			if ok != s.RoutingCache {
				t.Errorf("routing-cache set: %v, want %v", ok, s.RoutingCache)
			}
			if !s.RoutingCache {
				return
			}
			if cache != "/var/cache/unigate/routing.json" {
				t.Errorf("routing-cache = %q", cache)
			}
			pod := m.Deployment(s.Name).Spec.Template.Spec
			if !slices.ContainsFunc(pod.Containers[0].VolumeMounts, func(vm corev1.VolumeMount) bool {
				return vm.Name == "routing-cache" && vm.MountPath == "/var/cache/unigate" && !vm.ReadOnly
			}) {
				t.Error("volume routing-cache is not mounted writable at /var/cache/unigate")
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
			m := load(t, "prod")
			ct := &m.Deployment("acquirer").Spec.Template.Spec.Containers[0]
			for i := range ct.Env {
				switch ct.Env[i].Name {
				case "POD_IP":
					ct.Env[i].Name = tt.ipVar
				case "UNIGATE_ADVERTISE":
					ct.Env[i].Value = tt.value
				}
			}
			for _, p := range m.Validate(specFor("prod")) {
				if p.Object == "Deployment acquirer" {
					t.Error(p.Msg)
				}
			}
		})
	}
}

func TestEtcd(t *testing.T) {
	m := load(t, "prod")
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
		{"only etcd's certificate joins", slices.Contains(ct.Args, "--peer-cert-allowed-cn=service:etcd")},
		{"TLS 1.3, as the services", slices.Contains(ct.Args, "--tls-min-version=TLS1.3")},
		{"certificates from Secret etcd-tls", slices.ContainsFunc(st.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool {
			return v.Secret != nil && v.Secret.SecretName == "etcd-tls"
		})},
		{"clients told https", config(t, m, "router")["etcd"] == "https://etcd-0.etcd:2379,https://etcd-1.etcd:2379,https://etcd-2.etcd:2379"},
		{"one member per zone", st.Spec.Template.Spec.TopologySpreadConstraints[0].WhenUnsatisfiable == corev1.DoNotSchedule},
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

func itoa(n int32) string { return strconv.Itoa(int(n)) }

// TestKustomizations checks that every manifest file is listed by its
// kustomization, and that the check notices one that is not.
func TestKustomizations(t *testing.T) {
	for _, p := range deploy.CheckKustomizations(root, supplied...) {
		t.Error(p)
	}
	tmp := t.TempDir()
	if err := os.CopyFS(tmp, os.DirFS(root)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "base", "redis.yaml"), []byte("apiVersion: v1\nkind: Service\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var sup []string
	for _, s := range supplied {
		sup = append(sup, filepath.Join(tmp, strings.TrimPrefix(s, root+"/")))
	}
	problems := deploy.CheckKustomizations(tmp, sup...)
	wantProblem(t, problems, filepath.Join(tmp, "base", "kustomization.yaml"), "does not list redis.yaml")
	problems = deploy.CheckKustomizations(tmp)
	wantProblem(t, problems, filepath.Join(tmp, "base", "kustomization.yaml"), "does not list secret-db.yaml")
}

// memFS is the manifests on disk, copied into memory with some files
// changed as text, the way an editor would.
func memFS(t *testing.T, replace map[string]func(string) string) filesys.FileSystem {
	t.Helper()
	fs := filesys.MakeFsInMemory()
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		s := string(data)
		if f, ok := replace[p]; ok {
			if s2 := f(s); s2 != s {
				s = s2
			} else {
				t.Fatalf("replacing in %s changed nothing", p)
			}
		}
		return fs.WriteFile(p, []byte(s))
	})
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// TestBrokenFiles breaks the real files as text and renders them.
func TestBrokenFiles(t *testing.T) {
	prod := filepath.Join(root, "overlays", "prod")
	t.Run("ReadinessProbe in the wrong case", func(t *testing.T) {
		fs := memFS(t, map[string]func(string) string{
			root + "/base/acquirer.yaml": func(s string) string { return strings.Replace(s, "readinessProbe:", "ReadinessProbe:", 1) },
		})
		_, err := deploy.Load(fs, prod, supplied...)
		if err == nil || !strings.Contains(err.Error(), "Deployment acquirer") || !strings.Contains(err.Error(), "ReadinessProbe") {
			t.Fatalf("Load error %v, want one naming Deployment acquirer and ReadinessProbe", err)
		}
	})
	t.Run("no readiness probe", func(t *testing.T) {
		fs := memFS(t, map[string]func(string) string{
			root + "/base/fx.yaml": func(s string) string {
				i := strings.Index(s, "          readinessProbe:")
				j := strings.Index(s, "          livenessProbe:")
				return s[:i] + s[j:]
			},
		})
		m, err := deploy.Load(fs, prod, supplied...)
		if err != nil {
			t.Fatal(err)
		}
		wantProblem(t, m.Validate(specFor("prod")), "Deployment fx", "container unigate: has no readiness probe")
	})
	t.Run("a patch of prod gone", func(t *testing.T) {
		fs := memFS(t, map[string]func(string) string{
			prod + "/kustomization.yaml": func(s string) string {
				return strings.Replace(s, "value: DoNotSchedule\n  - target:\n      kind: StatefulSet", "value: ScheduleAnyway\n  - target:\n      kind: StatefulSet", 1)
			},
		})
		m, err := deploy.Load(fs, prod, supplied...)
		if err != nil {
			t.Fatal(err)
		}
		wantProblem(t, m.Validate(specFor("prod")), "Deployment risk", "topology spread over topology.kubernetes.io/zone is ScheduleAnyway, not DoNotSchedule")
	})
	t.Run("kustomization naming a missing file", func(t *testing.T) {
		fs := memFS(t, map[string]func(string) string{
			root + "/base/kustomization.yaml": func(s string) string { return strings.Replace(s, "  - jaeger.yaml\n", "  - jaegr.yaml\n", 1) },
		})
		if _, err := deploy.Load(fs, prod, supplied...); err == nil || !strings.Contains(err.Error(), "jaegr.yaml") {
			t.Fatalf("Load error %v, want one naming jaegr.yaml", err)
		}
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
