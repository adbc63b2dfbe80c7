package deploy_test

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/unigate/unigate/deploy"
)

// TestValidateCatches breaks one thing at a time in the rendered prod
// overlay and checks that Validate reports it.
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
		// Probes: the kubelet's gRPC probes on the plaintext health port.
		{"no readiness probe", func(m *deploy.Manifests) { container(m, "acquirer").ReadinessProbe = nil },
			"Deployment acquirer", "has no readiness probe"},
		{"no startup probe", func(m *deploy.Manifests) { container(m, "risk").StartupProbe = nil },
			"Deployment risk", "has no startup probe"},
		{"exec probe instead of grpc", func(m *deploy.Manifests) {
			container(m, "router").LivenessProbe.ProbeHandler = corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"unigate", "health", "--service=router"}}}
		}, "Deployment router", "liveness probe is an exec probe: use a grpc probe of the health port"},
		{"readiness probe over HTTP", func(m *deploy.Manifests) {
			container(m, "acquirer").ReadinessProbe.ProbeHandler = corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(8086)}}
		}, "Deployment acquirer", "readiness probe is not a gRPC probe"},
		{"TCP probe", func(m *deploy.Manifests) {
			container(m, "router").LivenessProbe.ProbeHandler = corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("grpc-health")}}
		}, "Deployment router", "liveness probe is not a gRPC probe"},
		{"gRPC probe of the mutual TLS port", func(m *deploy.Manifests) { container(m, "fx").StartupProbe.GRPC.Port = 7002 },
			"Deployment fx", "startup probe asks the mutual TLS port 7002, which requires a client certificate the kubelet cannot present"},
		{"gRPC probe of another port", func(m *deploy.Manifests) { container(m, "fx").ReadinessProbe.GRPC.Port = 8087 },
			"Deployment fx", "readiness probe: gRPC port 8087 is not the container port grpc-health"},
		{"gRPC probe of a named service", func(m *deploy.Manifests) {
			name := "unigate.acquiring.v1.AcquiringService"
			container(m, "acquirer").LivenessProbe.GRPC.Service = &name
		}, "Deployment acquirer", `liveness probe asks for the health of "unigate.acquiring.v1.AcquiringService"`},
		{"health port on the loopback", func(m *deploy.Manifests) {
			ct := container(m, "settlement")
			ct.Args = []string{"--config=/etc/unigate/settlement.yaml", "--health-listen=127.0.0.1:8086", "--metrics-listen=0.0.0.0:9090"}
		}, "Deployment settlement", `--health-listen="127.0.0.1:8086" listens on 127.0.0.1 only`},
		{"no health port", func(m *deploy.Manifests) {
			ct := container(m, "settlement")
			ct.Args = []string{"--config=/etc/unigate/settlement.yaml", "--metrics-listen=0.0.0.0:9090"}
		}, "Deployment settlement", "does not set --health-listen"},
		{"health port not the container port", func(m *deploy.Manifests) {
			ct := container(m, "risk")
			ct.Args = []string{"--config=/etc/unigate/risk.yaml", "--health-listen=0.0.0.0:8087", "--metrics-listen=0.0.0.0:9090"}
		}, "Deployment risk", `--health-listen="0.0.0.0:8087" is not its container port grpc-health (8086)`},
		{"etcd readiness on an unknown port", func(m *deploy.Manifests) {
			container(m, "etcd").ReadinessProbe.HTTPGet.Port = intstr.FromString("metricz")
		}, "StatefulSet etcd", "readiness probe: port metricz is not a container port"},

		// Resources.
		{"no memory limit", func(m *deploy.Manifests) { delete(container(m, "fx").Resources.Limits, corev1.ResourceMemory) },
			"Deployment fx", "no memory limit"},
		{"no cpu request", func(m *deploy.Manifests) { delete(container(m, "fx").Resources.Requests, corev1.ResourceCPU) },
			"Deployment fx", "no cpu request"},
		{"request above limit", func(m *deploy.Manifests) {
			container(m, "fx").Resources.Requests[corev1.ResourceCPU] = resource.MustParse("2500m")
		}, "Deployment fx", "cpu request 2500m exceeds its limit 2"},
		{"zero request", func(m *deploy.Manifests) {
			container(m, "fx").Resources.Requests[corev1.ResourceMemory] = resource.MustParse("0")
		}, "Deployment fx", "memory request 0 is not positive"},
		{"GOMEMLIMIT above the limit", func(m *deploy.Manifests) { setEnv(container(m, "risk"), "GOMEMLIMIT", "1GiB") },
			"Deployment risk", "GOMEMLIMIT 1GiB is not below the memory limit 1Gi"},

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
		{"zone spread soft in prod", func(m *deploy.Manifests) {
			m.Deployment("fx").Spec.Template.Spec.TopologySpreadConstraints[0].WhenUnsatisfiable = corev1.ScheduleAnyway
		}, "Deployment fx", "topology spread over topology.kubernetes.io/zone is ScheduleAnyway, not DoNotSchedule"},
		{"etcd zone spread soft in prod", func(m *deploy.Manifests) {
			m.StatefulSet("etcd").Spec.Template.Spec.TopologySpreadConstraints[0].WhenUnsatisfiable = corev1.ScheduleAnyway
		}, "StatefulSet etcd", "is ScheduleAnyway, not DoNotSchedule"},
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
		{"PDB blocking drains", func(m *deploy.Manifests) { *m.PDB("settlement").Spec.MinAvailable = intstr.FromInt32(3) },
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
		{"HPA floor of one in prod", func(m *deploy.Manifests) { m.HPA("settlement").Spec.MinReplicas = i32(1) },
			"HorizontalPodAutoscaler settlement", "minReplicas is not set to 2 or more"},
		{"PDB with an invalid selector", func(m *deploy.Manifests) {
			m.PDB("risk").Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "app.kubernetes.io/name", Operator: "Equals", Values: []string{"risk"}}}
		}, "PodDisruptionBudget risk", "selector: "},
		{"HPA on memory", func(m *deploy.Manifests) { m.HPA("fx").Spec.Metrics[0].Resource.Name = corev1.ResourceMemory },
			"HorizontalPodAutoscaler fx", "has no CPU utilization target"},
		{"HPA floor under the replicas", func(m *deploy.Manifests) { m.HPA("fx").Spec.MinReplicas = i32(2) },
			"Deployment fx", "minReplicas 2 is not its 3 replicas"},

		// The services themselves.
		{"wrong replica count", func(m *deploy.Manifests) { m.Deployment("acquirer").Spec.Replicas = i32(2) },
			"Deployment acquirer", "replicas is not 3"},
		{"wrong subcommand", func(m *deploy.Manifests) { container(m, "risk").Command = []string{"unigate", "fx"} },
			"Deployment risk", `runs ["unigate" "fx"], not unigate risk`},
		{"listening on another port", func(m *deploy.Manifests) { setConfig(m, "risk", "listen", "0.0.0.0:9000") },
			"Deployment risk", `UNIGATE_LISTEN="0.0.0.0:9000" does not listen on port 7003`},
		{"required variable missing", func(m *deploy.Manifests) {
			dropConfig(m, "router", "etcd")
		}, "Deployment router", "does not set UNIGATE_ETCD"},
		{"ConfigMap key missing", func(m *deploy.Manifests) { delete(m.Generated("unigate-config").Data, "UNIGATE_LOG_LEVEL") },
			"Deployment acquirer", `has no key "UNIGATE_LOG_LEVEL"`},
		{"config file missing", func(m *deploy.Manifests) { delete(m.Generated("unigate-config").Data, "fx.yaml") },
			"Deployment fx", `--config: ConfigMap "unigate-config-`},
		{"config file key not a flag", func(m *deploy.Manifests) { setConfig(m, "fx", "provider", "static=static") },
			"Deployment fx", "config file /etc/unigate/fx.yaml: provider is not a flag of unigate"},
		{"config file not YAML", func(m *deploy.Manifests) { m.Generated("unigate-config").Data["risk.yaml"] = "listen: [0.0.0.0:7003" },
			"Deployment risk", "config file /etc/unigate/risk.yaml: "},
		{"config file with a duplicate key", func(m *deploy.Manifests) {
			m.Generated("unigate-config").Data["risk.yaml"] += "listen: 0.0.0.0:7005\n"
		}, "Deployment risk", `config file /etc/unigate/risk.yaml: `},
		{"config file off the mounted volume", func(m *deploy.Manifests) {
			container(m, "router").Args[0] = "--config=/srv/router.yaml"
		}, "Deployment router", "--config: /srv/router.yaml is on no volume it mounts"},
		{"setting made twice", func(m *deploy.Manifests) {
			ct := container(m, "risk")
			ct.Env = append(ct.Env, corev1.EnvVar{Name: "UNIGATE_LISTEN", Value: "0.0.0.0:7003"})
		}, "Deployment risk", "sets listen twice, in variable UNIGATE_LISTEN and config file /etc/unigate/risk.yaml"},
		{"setting made as a flag and in the file", func(m *deploy.Manifests) {
			ct := container(m, "fx")
			ct.Args = append(ct.Args, "--pki=/etc/unigate/pki")
		}, "Deployment fx", "sets pki twice, in --pki and config file /etc/unigate/fx.yaml"},
		{"Secret missing", func(m *deploy.Manifests) { m.Secrets = nil },
			"Deployment fx", `Secret "unigate-db" does not exist`},
		{"target naming no Service", func(m *deploy.Manifests) { setConfig(m, "acquirer", "fx", "fxx:7002") },
			"Deployment acquirer", "fxx:7002 names no Service"},
		{"target on the wrong port", func(m *deploy.Manifests) { setConfig(m, "acquirer", "risk", "risk:7002") },
			"Deployment acquirer", "Service risk has no port 7002"},
		{"etcd endpoints missing a member", func(m *deploy.Manifests) {
			setConfig(m, "router", "etcd", "https://etcd-0.etcd:2379,https://etcd-1.etcd:2379")
		}, "Deployment router", "UNIGATE_ETCD lists 2 of the 3 members"},
		{"etcd endpoint of no member", func(m *deploy.Manifests) {
			setConfig(m, "router", "etcd", "https://etcd-0.etcd:2379,https://etcd-1.etcd:2379,https://etcd-3.etcd:2379")
		}, "Deployment router", "etcd-3.etcd is not one of the 3 pods of StatefulSet etcd"},
		{"Deployment not in the spec", func(m *deploy.Manifests) {
			d := *m.Deployment("fx")
			d.Name = "merchantsim"
			m.Deployments = append(m.Deployments, &d)
		}, "Deployment merchantsim", "is not in the spec"},

		// Network policies.
		{"no default deny", func(m *deploy.Manifests) { removeNP(m, "default-deny-ingress") },
			"Namespace unigate", "no NetworkPolicy denies ingress by default"},
		{"no default deny of egress", func(m *deploy.Manifests) { removeNP(m, "default-deny-egress") },
			"Namespace unigate", "no NetworkPolicy denies egress by default"},
		{"default deny of egress that allows", func(m *deploy.Manifests) {
			m.NetworkPolicy("default-deny-egress").Spec.Egress = []networkingv1.NetworkPolicyEgressRule{{}}
		}, "Namespace unigate", "no NetworkPolicy denies egress by default"},
		{"policy port out of range", func(m *deploy.Manifests) {
			p := intstr.FromInt32(70000)
			m.NetworkPolicy("fx-ingress").Spec.Ingress[0].Ports[0].Port = &p
		}, "NetworkPolicy fx-ingress", "ingress rule 1: port 70000: must be between 1 and 65535"},
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
			m.NetworkPolicy("etcd-client-egress").Spec.Egress[0].Ports[0].Port = &p
		}, "NetworkPolicy etcd-client-egress", "egress rule 1: port 2390/TCP is no container port of StatefulSet etcd"},
		{"no DNS", func(m *deploy.Manifests) { removeNP(m, "allow-dns-egress") },
			"Deployment fx", "cannot reach DNS (53/UDP) outside the namespace"},
		{"no database egress", func(m *deploy.Manifests) { removeNP(m, "database-egress") },
			"Deployment settlement", "UNIGATE_DSN: no NetworkPolicy lets it reach CrdbCluster cockroachdb on 26257"},
		{"etcd closed to a workload", func(m *deploy.Manifests) {
			m.NetworkPolicy("etcd").Spec.Ingress[0].From[0].PodSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "router"}}
		}, "StatefulSet etcd", "Deployment fx cannot reach it on 2379"},
		{"etcd peers cut off", func(m *deploy.Manifests) { m.NetworkPolicy("etcd").Spec.Egress = nil },
			"StatefulSet etcd", "members cannot reach each other on the peer port 2380"},
		{"no traces", func(m *deploy.Manifests) { removeNP(m, "telemetry-egress") },
			"Deployment fx", "OTEL_EXPORTER_OTLP_ENDPOINT: no NetworkPolicy lets it reach Deployment jaeger on 4317"},
		{"Jaeger closed to the services", func(m *deploy.Manifests) { removeNP(m, "jaeger") },
			"Deployment risk", "OTEL_EXPORTER_OTLP_ENDPOINT: no NetworkPolicy lets it reach Deployment jaeger on 4317"},
		{"etcd open to a non-client", func(m *deploy.Manifests) {
			m.NetworkPolicy("etcd").Spec.Ingress[0].From[0].PodSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/part-of": "unigate"}}
			m.NetworkPolicy("etcd-client-egress").Spec.PodSelector = metav1.LabelSelector{}
		}, "StatefulSet etcd", "Deployment jaeger may reach it on 2379, but sets no UNIGATE_ETCD"},

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
			setConfig(m, "settlement", "etcd", "http://etcd-0.etcd:2379,https://etcd-1.etcd:2379,https://etcd-2.etcd:2379")
		}, "Deployment settlement", `UNIGATE_ETCD: "http://etcd-0.etcd:2379" is not https`},
		{"etcd client without a certificate", func(m *deploy.Manifests) {
			dropConfig(m, "router", "pki")
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
		{"target without a port", func(m *deploy.Manifests) { setConfig(m, "acquirer", "fx", "fx") },
			"Deployment acquirer", `UNIGATE_FX="fx": address fx: missing port in address`},
		{"DSN not a postgres URL", func(m *deploy.Manifests) {
			m.Secret("unigate-db").StringData["UNIGATE_DSN"] = "sqlite:///data/unigate.db"
		}, "Deployment fx", "UNIGATE_DSN is not a postgres:// URL with a host"},
		{"DSN without certificate checks", func(m *deploy.Manifests) {
			m.Secret("unigate-db").StringData["UNIGATE_DSN"] = "postgres://unigate:x@cockroachdb-public:26257/unigate?sslmode=require"
		}, "Deployment risk", `UNIGATE_DSN: sslmode is "require", not verify-full`},
		{"DSN's CA not mounted", func(m *deploy.Manifests) {
			v := m.Deployment("settlement").Spec.Template.Spec.Volumes[1].Projected
			items := &v.Sources[1].Secret.Items
			*items = slices.DeleteFunc(*items, func(k corev1.KeyToPath) bool { return k.Key == "cockroachdb.crt" })
		}, "Deployment settlement", "UNIGATE_DSN sslrootcert: volume etc provides no file pki/ca/cockroachdb.crt"},
		{"DSN naming another database", func(m *deploy.Manifests) {
			m.Secret("unigate-db").StringData["UNIGATE_DSN"] = "postgres://unigate:x@crdb-public:26257/unigate?sslmode=verify-full"
		}, "Deployment fx", "UNIGATE_DSN: crdb-public:26257 names no Service"},
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
			cm := m.Generated("unigate-config")
			cm.Data["UNIGATE_ADVERTISE"] = "acquirer:7000"
			for i, e := range container(m, "acquirer").Env {
				if e.Name == "UNIGATE_ADVERTISE" {
					container(m, "acquirer").Env[i] = corev1.EnvVar{Name: e.Name, ValueFrom: &corev1.EnvVarSource{
						ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: cm.Name}, Key: e.Name}}}
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
		{"risk without etcd", func(m *deploy.Manifests) { dropConfig(m, "risk", "etcd") },
			"Deployment risk", "does not set UNIGATE_ETCD: it finds its peers through etcd"},

		// Replicas and failover: the routing table kept on a writable volume.
		{"no routing cache", func(m *deploy.Manifests) { dropConfig(m, "router", "routing-cache") },
			"Deployment router", "does not set UNIGATE_ROUTING_CACHE: the default is in the user's cache directory, on the read-only root filesystem"},
		{"routing cache on the root filesystem", func(m *deploy.Manifests) {
			setConfig(m, "acquirer", "routing-cache", "/var/lib/unigate/routing.json")
		}, "Deployment acquirer", "UNIGATE_ROUTING_CACHE: /var/lib/unigate/routing.json is on no volume it mounts, and the root filesystem is read-only"},
		{"routing cache among the certificates", func(m *deploy.Manifests) {
			setConfig(m, "router", "routing-cache", "/etc/unigate/pki/routing.json")
		}, "Deployment router", "UNIGATE_ROUTING_CACHE: volume etc is mounted read-only at /etc/unigate"},
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
			setConfig(m, "router", "routing-cache", "/var/cache/unigate/")
		}, "Deployment router", "UNIGATE_ROUTING_CACHE: /var/cache/unigate is where volume routing-cache is mounted, a directory, not a file in it"},
		{"relative routing cache", func(m *deploy.Manifests) { setConfig(m, "router", "routing-cache", "routing.json") },
			"Deployment router", `UNIGATE_ROUTING_CACHE="routing.json" is not an absolute path`},

		// Replicas and failover: targets that name every replica.
		{"target through the ClusterIP Service", func(m *deploy.Manifests) { setConfig(m, "acquirer", "router", "router:7001") },
			"Deployment acquirer", `UNIGATE_ROUTER="router:7001" is not a dns:/// target: it would resolve to one address, so one connection to one pod; name the headless Service (dns:///router-headless.unigate.svc:7001)`},
		{"dns target of the ClusterIP Service", func(m *deploy.Manifests) {
			setConfig(m, "acquirer", "risk", "dns:///risk.unigate.svc.cluster.local:7003")
		}, "Deployment acquirer", `UNIGATE_RISK="dns:///risk.unigate.svc.cluster.local:7003": Service risk is not headless (clusterIP: None)`},
		{"headless Service missing", func(m *deploy.Manifests) {
			m.Services = slices.DeleteFunc(m.Services, func(o *corev1.Service) bool { return o.Name == "fx-headless" })
		}, "Deployment acquirer", "UNIGATE_FX: fx-headless.unigate.svc:7002 names no Service"},
		{"headless Service made a ClusterIP one", func(m *deploy.Manifests) { m.Service("settlement-headless").Spec.ClusterIP = "" },
			"Deployment acquirer", "Service settlement-headless is not headless (clusterIP: None)"},
		{"target naming another service", func(m *deploy.Manifests) {
			setConfig(m, "acquirer", "fx", "dns:///risk-headless.unigate.svc:7003")
		}, "Deployment acquirer", `UNIGATE_FX="dns:///risk-headless.unigate.svc:7003": Service risk-headless selects the pods of Deployment risk, not of fx`},
		{"target a name the certificate lacks", func(m *deploy.Manifests) {
			m.Service("settlement-headless").Name = "ledger"
			setConfig(m, "acquirer", "settlement", "dns:///ledger.unigate.svc:7004")
		}, "Deployment acquirer", "the caller verifies settlement's certificate for ledger.unigate.svc, which is not one of the DNS names it carries"},
		{"target a pod", func(m *deploy.Manifests) {
			setConfig(m, "acquirer", "router", "dns:///router-0.router-headless:7001")
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
		{"fx without etcd", func(m *deploy.Manifests) { dropConfig(m, "fx", "etcd") },
			"Deployment fx", "does not set UNIGATE_ETCD: it campaigns in elections and reads the routing table through etcd"},
		{"settlement with an empty etcd", func(m *deploy.Manifests) { setConfig(m, "settlement", "etcd", "") },
			"Deployment settlement", "does not set UNIGATE_ETCD: it campaigns in elections and reads the routing table through etcd"},
		{"fx without its routing cache", func(m *deploy.Manifests) { dropConfig(m, "fx", "routing-cache") },
			"Deployment fx", "does not set UNIGATE_ROUTING_CACHE"},
		{"settlement without its routing cache", func(m *deploy.Manifests) { dropConfig(m, "settlement", "routing-cache") },
			"Deployment settlement", "does not set UNIGATE_ROUTING_CACHE"},
		{"fx routing cache volume missing", func(m *deploy.Manifests) {
			ct := container(m, "fx")
			ct.VolumeMounts = slices.DeleteFunc(ct.VolumeMounts, func(vm corev1.VolumeMount) bool { return vm.Name == "routing-cache" })
		}, "Deployment fx", "UNIGATE_ROUTING_CACHE: /var/cache/unigate/routing.json is on no volume it mounts, and the root filesystem is read-only"},
		{"fx without providers", func(m *deploy.Manifests) { dropConfig(m, "fx", "providers") },
			"Deployment fx", "does not set UNIGATE_FX_PROVIDERS"},
		{"providers empty", func(m *deploy.Manifests) { setConfig(m, "fx", "providers", "") },
			"Deployment fx", "UNIGATE_FX_PROVIDERS is empty: fx falls back to static=static, its fixed demo rates"},
		{"providers naming none", func(m *deploy.Manifests) { setConfig(m, "fx", "providers", " , ") },
			"Deployment fx", `UNIGATE_FX_PROVIDERS=" , " names no provider: fx would not start`},
		{"provider without a name", func(m *deploy.Manifests) {
			setConfig(m, "fx", "providers", "https://rates.example.com/a.json")
		}, "Deployment fx", `UNIGATE_FX_PROVIDERS: provider "https://rates.example.com/a.json" is not NAME=URL`},
		{"provider named twice", func(m *deploy.Manifests) {
			setConfig(m, "fx", "providers", "a=https://rates.example.com/a.json,a=static")
		}, "Deployment fx", "UNIGATE_FX_PROVIDERS: provider a is named twice: fx would not start"},
		{"provider of an unknown scheme", func(m *deploy.Manifests) {
			setConfig(m, "fx", "providers", "a=ftp://rates.example.com/a.json")
		}, "Deployment fx", `UNIGATE_FX_PROVIDERS: provider a: "ftp://rates.example.com/a.json": want grpc://, http(s)://, file:// or static: fx would not start`},
		{"gRPC provider without a port", func(m *deploy.Manifests) {
			setConfig(m, "fx", "providers", "a=grpc://feed.example.com")
		}, "Deployment fx", `UNIGATE_FX_PROVIDERS: provider a: "grpc://feed.example.com" is not grpc://host:port`},
		{"providers cut off", func(m *deploy.Manifests) { removeNP(m, "fx-rate-provider-egress") },
			"Deployment fx", "container unigate: UNIGATE_FX_PROVIDERS refinitiv: no NetworkPolicy lets it reach rates.example.com:443 outside the namespace"},
		{"provider on another port", func(m *deploy.Manifests) {
			setConfig(m, "fx", "providers", "a=https://rates.example.com:8443/a.json")
		}, "Deployment fx", "UNIGATE_FX_PROVIDERS a: no NetworkPolicy lets it reach rates.example.com:8443 outside the namespace"},
		{"provider over plain http", func(m *deploy.Manifests) {
			setConfig(m, "fx", "providers", "a=http://rates.example.com/a.json")
		}, "Deployment fx", "UNIGATE_FX_PROVIDERS a: no NetworkPolicy lets it reach rates.example.com:80 outside the namespace"},
		{"gRPC provider in the namespace without a Service", func(m *deploy.Manifests) {
			setConfig(m, "fx", "providers", "sim=grpc://fxsim:7090")
		}, "Deployment fx", "UNIGATE_FX_PROVIDERS sim: fxsim:7090 names no Service"},
		{"gRPC provider at a service fx may not reach", func(m *deploy.Manifests) {
			setConfig(m, "fx", "providers", "sim=grpc://risk:7003")
		}, "Deployment fx", "UNIGATE_FX_PROVIDERS sim: no NetworkPolicy lets it reach Deployment risk on 7003"},
		{"rate sheet in the image", func(m *deploy.Manifests) {
			setConfig(m, "fx", "providers", "sheet=file:///srv/rates.json")
		}, "Deployment fx", "UNIGATE_FX_PROVIDERS: provider sheet: /srv/rates.json is on no volume it mounts, so in the image"},
		{"rate sheet mounted by subPath", func(m *deploy.Manifests) {
			setConfig(m, "fx", "providers", "sheet=file:///srv/rates/rates.json")
			ct := container(m, "fx")
			ct.VolumeMounts = append(ct.VolumeMounts, corev1.VolumeMount{Name: "rates", MountPath: "/srv/rates/rates.json", SubPath: "rates.json", ReadOnly: true})
			pod := &m.Deployment("fx").Spec.Template.Spec
			pod.Volumes = append(pod.Volumes, corev1.Volume{Name: "rates", VolumeSource: corev1.VolumeSource{
				ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "fx-rates"}}}})
		}, "Deployment fx", "UNIGATE_FX_PROVIDERS: provider sheet: volume rates is mounted with a subPath, which the kubelet never updates"},
		{"staleness not a duration", func(m *deploy.Manifests) { setConfig(m, "fx", "rate-staleness", "10") },
			"Deployment fx", `UNIGATE_RATE_STALENESS="10": not a Go duration (10s, 1m30s): the service would ignore it and keep its default`},
		{"staleness negative", func(m *deploy.Manifests) { setConfig(m, "fx", "rate-staleness", "-1s") },
			"Deployment fx", `UNIGATE_RATE_STALENESS="-1s": not positive: the service would not start`},
		{"outlier band zero", func(m *deploy.Manifests) { setConfig(m, "fx", "outlier-band-bps", "0") },
			"Deployment fx", `UNIGATE_OUTLIER_BAND_BPS="0": outside 1..`},
		{"outlier band a percentage", func(m *deploy.Manifests) { setConfig(m, "fx", "outlier-band-bps", "1%") },
			"Deployment fx", `UNIGATE_OUTLIER_BAND_BPS="1%": not an integer: the service would ignore it`},
		{"markup above 20 %", func(m *deploy.Manifests) { setConfig(m, "fx", "default-markup-bps", "2500") },
			"Deployment fx", `UNIGATE_DEFAULT_MARKUP_BPS="2500": outside 0..2000: the service would not start`},
		{"reference currency in lower case", func(m *deploy.Manifests) { setConfig(m, "fx", "reference-currency", "usd") },
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
		{"no PKI", func(m *deploy.Manifests) { dropConfig(m, "fx", "pki") }, "Deployment fx", "does not set UNIGATE_PKI: it would serve and call in plaintext"},
		{"PKI mounted writable", func(m *deploy.Manifests) { container(m, "fx").VolumeMounts[1].ReadOnly = false },
			"Deployment fx", "UNIGATE_PKI: volume etc is mounted writable at /etc/unigate"},
		{"PKI elsewhere than mounted", func(m *deploy.Manifests) { setConfig(m, "risk", "pki", "/etc/pki") },
			"Deployment risk", "UNIGATE_PKI: /etc/pki/ca/unigate.crt is on no volume it mounts"},
		{"no response-signing key", func(m *deploy.Manifests) {
			v := m.Deployment("acquirer").Spec.Template.Spec.Volumes[1].Projected
			v.Sources = v.Sources[:3]
		}, "Deployment acquirer", "UNIGATE_PKI: volume etc provides no file pki/service/acquirer.sign.key"},
		{"another service's certificate", func(m *deploy.Manifests) {
			m.Deployment("router").Spec.Template.Spec.Volumes[1].Projected.Sources[2].Secret.Items[0].Path = "pki/service/fx.crt"
		}, "Deployment router", "UNIGATE_PKI: volume etc provides no file pki/service/router.crt"},
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
		{"OTLP endpoint of another scheme", func(m *deploy.Manifests) {
			setEnv(container(m, "fx"), "OTEL_EXPORTER_OTLP_ENDPOINT", "grpcs://jaeger-collector:4317")
		}, "Deployment fx", `scheme "grpcs" is neither https nor http`},
		{"traces to Jaeger's UI", func(m *deploy.Manifests) {
			setEnv(container(m, "fx"), "OTEL_EXPORTER_OTLP_ENDPOINT", "http://jaeger-query:16686")
		}, "Deployment fx", `OTEL_EXPORTER_OTLP_ENDPOINT="http://jaeger-query:16686" does not send its traces to Deployment jaeger's OTLP port 4317`},
		{"no traces at all", func(m *deploy.Manifests) { dropEnv(container(m, "risk"), "OTEL_EXPORTER_OTLP_ENDPOINT") },
			"Deployment risk", "does not set OTEL_EXPORTER_OTLP_ENDPOINT"},
		{"Jaeger v1", func(m *deploy.Manifests) { container(m, "jaeger").Image = "jaegertracing/jaeger:1.76.0" },
			"Deployment jaeger", "image jaegertracing/jaeger:1.76.0 is not of Jaeger's v2 line"},
		{"Jaeger UI without a Service", func(m *deploy.Manifests) {
			m.Services = slices.DeleteFunc(m.Services, func(o *corev1.Service) bool { return o.Name == "jaeger-query" })
		}, "Deployment jaeger", "no Service sends to its port 16686"},

		// Metrics.
		{"no scrape annotation", func(m *deploy.Manifests) {
			delete(m.Deployment("router").Spec.Template.Annotations, "prometheus.io/scrape")
		},
			"Deployment router", "its pods do not ask Prometheus to scrape port 9090"},
		{"scrape of a port the pods lack", func(m *deploy.Manifests) {
			m.StatefulSet("etcd").Spec.Template.Annotations["prometheus.io/port"] = "2382"
		},
			"StatefulSet etcd", "annotation prometheus.io/port=2382 is no container port of its pods"},
		{"scrape port out of range", func(m *deploy.Manifests) { m.StatefulSet("etcd").Spec.Template.Annotations["prometheus.io/port"] = "0" },
			"StatefulSet etcd", `annotation prometheus.io/port="0": must be between 1 and 65535`},
		{"Prometheus shut out", func(m *deploy.Manifests) { removeNP(m, "metrics-scrape") },
			"Deployment settlement", "Prometheus's namespace monitoring cannot reach its metrics port 9090"},
		{"metrics on the loopback", func(m *deploy.Manifests) {
			container(m, "fx").Args[2] = "--metrics-listen=127.0.0.1:9090"
		}, "Deployment fx", `--metrics-listen="127.0.0.1:9090" listens on 127.0.0.1 only`},
		{"no metrics", func(m *deploy.Manifests) { container(m, "fx").Args = container(m, "fx").Args[:2] },
			"Deployment fx", "does not set --metrics-listen"},

		// CockroachDB.
		{"CockroachDB without TLS", func(m *deploy.Manifests) { m.CrdbClusters[0].Spec.TLSEnabled = false },
			"CrdbCluster cockroachdb", "tlsEnabled is not true"},
		{"CockroachDB of one node in prod", func(m *deploy.Manifests) { m.CrdbClusters[0].Spec.Nodes = 1 },
			"CrdbCluster cockroachdb", "nodes is 1, not 3"},
		{"CockroachDB of two nodes", func(m *deploy.Manifests) { m.CrdbClusters[0].Spec.Nodes = 2 },
			"CrdbCluster cockroachdb", "nodes 2 is neither 1 nor an odd number of 3 or more"},
		{"CockroachDB nodes sharing a zone", func(m *deploy.Manifests) {
			m.CrdbClusters[0].Spec.TopologySpreadConstraints[0].WhenUnsatisfiable = corev1.ScheduleAnyway
		}, "CrdbCluster cockroachdb", "its nodes are not one per zone"},
		{"CockroachDB spread over another's pods", func(m *deploy.Manifests) {
			m.CrdbClusters[0].Spec.TopologySpreadConstraints[0].LabelSelector.MatchLabels["app.kubernetes.io/instance"] = "other"
		}, "CrdbCluster cockroachdb", "topology spread over topology.kubernetes.io/zone does not select its pods"},
		{"CockroachDB image not pinned", func(m *deploy.Manifests) { m.CrdbClusters[0].Spec.Image.Name = "cockroachdb/cockroach:latest" },
			"CrdbCluster cockroachdb", "is not pinned to a version"},
		{"CockroachDB request above limit", func(m *deploy.Manifests) {
			m.CrdbClusters[0].Spec.Resources.Requests[corev1.ResourceMemory] = resource.MustParse("8Gi")
		}, "CrdbCluster cockroachdb", "node: memory request 8Gi exceeds its limit 4Gi"},
		{"CockroachDB open to the router", func(m *deploy.Manifests) {
			np := m.NetworkPolicy("database-egress")
			np.Spec.PodSelector.MatchExpressions[0].Values = append(np.Spec.PodSelector.MatchExpressions[0].Values, "router")
			in := m.NetworkPolicy("cockroachdb").Spec.Ingress[0].From[0].PodSelector
			in.MatchExpressions[0].Values = append(in.MatchExpressions[0].Values, "router")
		}, "CrdbCluster cockroachdb", "Deployment router may reach it on 26257, but its UNIGATE_DSN does not name it"},
		{"CockroachDB nodes cut off from each other", func(m *deploy.Manifests) {
			m.NetworkPolicy("cockroachdb").Spec.Egress = nil
		}, "CrdbCluster cockroachdb", "its nodes cannot reach each other on 26257"},
		{"CockroachDB closed to its operator", func(m *deploy.Manifests) {
			from := &m.NetworkPolicy("cockroachdb").Spec.Ingress[0].From
			*from = (*from)[:2]
		}, "CrdbCluster cockroachdb", "the operator's namespace cockroach-operator-system cannot reach it on 26257"},
		{"CockroachDB missing", func(m *deploy.Manifests) { m.CrdbClusters = nil },
			"CrdbCluster cockroachdb", "missing"},

		// Names and labels.
		{"label value too long", func(m *deploy.Manifests) { m.Service("fx").Labels["app.kubernetes.io/name"] = strings.Repeat("fx", 40) },
			"Service fx", "metadata.labels: app.kubernetes.io/name="},
		{"label key not a qualified name", func(m *deploy.Manifests) { m.Deployment("fx").Spec.Template.Labels["tier/backend/x"] = "a" },
			"Deployment fx", `pod template labels: key "tier/backend/x"`},
		{"Service name not a DNS label", func(m *deploy.Manifests) { m.Service("jaeger-query").Name = "jaeger.query" },
			"Service jaeger.query", "name: "},
		{"port name too long", func(m *deploy.Manifests) { container(m, "fx").Ports[2].Name = "prometheus-metrics" },
			"Deployment fx", `port name "prometheus-metrics": must be no more than 15 characters`},

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
		{"object in another namespace", func(m *deploy.Manifests) { m.Service("fx").Namespace = "default" },
			"Service fx", `metadata.namespace is "default"`},
		{"object defined twice", func(m *deploy.Manifests) { m.Services = append(m.Services, m.Service("fx")) },
			"Service fx", "defined more than once"},
		{"no Namespace", func(m *deploy.Manifests) { m.Namespaces = nil },
			"Namespace unigate", "no manifest creates the namespace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := load(t, "prod")
			tt.break_(m)
			wantProblem(t, m.Validate(specFor("prod")), tt.object, tt.want)
		})
	}
}

// TestDevChecks breaks what is dev's own and checks that Validate reports
// it against dev's spec.
func TestDevChecks(t *testing.T) {
	for _, tt := range []struct {
		name   string
		break_ func(m *deploy.Manifests)
		object string
		want   string
	}{
		{"a mesh dev does not run", func(m *deploy.Manifests) {
			m.Mesh.PeerAuthentications = append(m.Mesh.PeerAuthentications, &deploy.PeerAuthentication{})
		}, "Namespace unigate", "the overlay has Istio objects, but the spec expects no mesh"},
		{"a budget that blocks every drain", func(m *deploy.Manifests) {
			one := intstr.FromInt32(1)
			b := m.PDB("router")
			b.Spec.MaxUnavailable, b.Spec.MinAvailable = nil, &one
		}, "PodDisruptionBudget router", "minAvailable 1 with 1 replicas of Deployment router blocks every eviction"},
		{"two replicas", func(m *deploy.Manifests) { *m.Deployment("risk").Spec.Replicas = 2 },
			"Deployment risk", "replicas is not 1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := load(t, "dev")
			tt.break_(m)
			wantProblem(t, m.Validate(specFor("dev")), tt.object, tt.want)
		})
	}
}
