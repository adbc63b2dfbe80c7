package deploy

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// Namespace is the namespace of every object.
const Namespace = "unigate"

// Well-known topology keys a workload must spread its pods across.
const (
	ZoneKey     = "topology.kubernetes.io/zone"
	HostnameKey = "kubernetes.io/hostname"
)

// Spec is what the manifests must hold beyond the rules every workload
// follows.
type Spec struct {
	// DrainSeconds is how long a stopping server lets calls finish
	// (app.GracePeriod). A pod's terminationGracePeriodSeconds must exceed
	// it plus any preStop sleep.
	DrainSeconds int64
	Services     []ServiceSpec
	Etcd         EtcdSpec
	Jobs         []JobSpec
	// IngressNamespace is the namespace of the mesh's ingress gateway: the
	// only way in for a Public service (required if there is one).
	IngressNamespace string
	// OutsideEgress are ports outside the namespace that every workload
	// must be able to reach (DNS).
	OutsideEgress []PortSpec
	// HA says the overlay runs for production: every service and data
	// store spreads its pods across zones hard (DoNotSchedule), keeps a
	// floor of 2 or more pods and a disruption budget that keeps some.
	HA bool
	// MonitoringNamespace is Prometheus's: it must reach every pod's
	// metrics port (prometheus.io/port).
	MonitoringNamespace string
	// Tracing is the trace collector the services send their traces to.
	Tracing TracingSpec
	// Database is the CockroachDB cluster of the SQL services.
	Database CrdbSpec
	// Mesh is what the Istio objects are checked against; nil, the overlay
	// has none.
	Mesh *MeshSpec
}

// TracingSpec is the Jaeger Deployment.
type TracingSpec struct {
	// Name names the Deployment.
	Name string
	// Image is the image's repository (jaegertracing/jaeger) and Major the
	// major version of its tag (2, for Jaeger v2).
	Image string
	Major int
	// OTLPPort receives OTLP/gRPC; UIPort serves the web UI.
	OTLPPort, UIPort int32
}

// CrdbSpec is the CrdbCluster the CockroachDB operator runs.
type CrdbSpec struct {
	Name  string
	Nodes int32
	// OperatorNamespace is where the operator runs: it must reach the SQL
	// port.
	OperatorNamespace string
}

// ServiceSpec is one `unigate <Name>` Deployment and its Service.
type ServiceSpec struct {
	// Name names the Deployment, its Service, its PDB and its HPA, and is
	// the unigate subcommand.
	Name string
	// Port is its gRPC port (mutual TLS); HealthPort serves grpc.health.v1
	// in plaintext (--health-listen) and MetricsPort Prometheus's metrics
	// (--metrics-listen).
	Port, HealthPort, MetricsPort int32
	Replicas                      int32
	// Autoscaled says whether an HPA scales it.
	Autoscaled bool
	// Env lists settings its container must set, by their variable's
	// name: as a variable, a flag or a key of its config file (--config).
	Env []string
	// Callers are the workloads that must reach its port; no other
	// workload of the namespace may.
	Callers []string
	// Public says whether the ingress gateway's namespace (and only it)
	// may reach its port from outside; if not, nothing outside may.
	Public bool
	// PKIFiles are the files its server and clients read from the
	// directory UNIGATE_PKI names (pki.Dev's layout, "ca/unigate.crt",
	// "service/fx.key", …): mounted read-only from Secrets, readable by the
	// container's user and no other.
	PKIFiles []string
	// Elects says whether its replicas run elections (app.electionConfig):
	// each campaigns in etcd (UNIGATE_ETCD), advertises its pod's own IP
	// and gRPC port (UNIGATE_ADVERTISE), and its pods may connect to each
	// other on Port, so that standbys follow the leader's process. Pods of
	// a service that neither elects nor has Peers may not connect to each
	// other.
	Elects bool
	// Peers says whether its replicas find each other in etcd and call
	// each other (risk's velocity streams, app.RunRisk): each registers
	// its pod's own IP and gRPC port (UNIGATE_ADVERTISE) in etcd
	// (UNIGATE_ETCD), and its pods may connect to each other on Port.
	Peers bool
	// RoutingCache says whether it keeps the routing table it reads from
	// etcd (UNIGATE_ETCD) in a file (UNIGATE_ROUTING_CACHE), to start on
	// it while etcd is unreachable: the file must be on a volume the
	// container may write.
	RoutingCache bool
}

// JobSpec is a Job run once, e.g. etcd's bootstrap.
type JobSpec struct {
	Name string
	// Argv is the command line its container runs, but for the flags
	// that may follow.
	Argv []string
	// Env and PKIFiles are as for a ServiceSpec.
	Env      []string
	PKIFiles []string
}

// EtcdSpec is the etcd StatefulSet.
type EtcdSpec struct {
	// Name names the StatefulSet; its serviceName is checked separately.
	Name     string
	Replicas int32
	// HeartbeatMS and ElectionMS are the flags --heartbeat-interval and
	// --election-timeout.
	HeartbeatMS, ElectionMS int
	// LeaseMS is the shortest lease its clients take: an election must end
	// well before a lease expires.
	LeaseMS int
	// TLS says that clients and peers connect over https with client
	// certificates: every URL is https, every workload's UNIGATE_ETCD too,
	// and the certificate files are mounted read-only from Secrets.
	TLS bool
}

// PortSpec is a port and protocol.
type PortSpec struct {
	Port     int32
	Protocol corev1.Protocol
	What     string
}

// Problem is one thing Validate found wrong.
type Problem struct {
	// Object is "Kind name", or a file name.
	Object string
	Msg    string
}

func (p Problem) Error() string { return p.Object + ": " + p.Msg }

// Validate checks the manifests against each other and against spec and
// returns every problem found.
func (m *Manifests) Validate(spec Spec) []Problem {
	c := &checker{m: m, spec: spec}
	c.metadata(m.all())
	for _, w := range m.workloads() {
		if w.kind != crdbKind {
			c.workload(w)
			c.configFile(w)
		}
	}
	c.services()
	c.pdbs()
	c.hpas()
	c.statefulSets()
	c.networkPolicies()
	for _, w := range m.workloads() {
		if w.kind != crdbKind {
			c.targets(w)
		}
	}
	for _, s := range spec.Services {
		c.service(s)
	}
	for _, d := range m.Deployments {
		if d.Name != spec.Tracing.Name && !slices.ContainsFunc(spec.Services, func(s ServiceSpec) bool { return s.Name == d.Name }) {
			c.errorf("Deployment "+d.Name, "is not in the spec")
		}
	}
	for _, j := range spec.Jobs {
		c.job(j)
	}
	for _, j := range m.Jobs {
		if !slices.ContainsFunc(spec.Jobs, func(s JobSpec) bool { return s.Name == j.Name }) {
			c.errorf("Job "+j.Name, "is not in the spec")
		}
	}
	c.etcd()
	c.database()
	c.tracing()
	c.metrics()
	c.outside()
	c.mesh()
	return c.problems
}

type checker struct {
	m        *Manifests
	spec     Spec
	problems []Problem
}

// errorf records a problem once, however many checks find it.
