// Package deploy holds Unigate's Kubernetes manifests (k8s/: a kustomize
// base and the overlays dev and prod) and checks them offline. Load renders
// an overlay with kustomize's own library, as `kubectl kustomize` does, and
// decodes every object strictly into its k8s.io/api type (the CockroachDB
// operator's CrdbCluster and Istio's objects into local structs of the
// fields they use). Validate then checks the objects against each other
// and against a Spec of what the overlay must run: selectors, ports,
// names and labels (with k8s.io/apimachinery's validation), quantities,
// gRPC probes on the plaintext health port, security context, config
// files and certificate mounts, disruption budgets, autoscalers, zone
// spread, etcd's TLS, CockroachDB, the Jaeger collector and Prometheus's
// scrape, what failover needs (the address each replica advertises, the
// routing cache on a writable volume, targets that name a headless
// Service), fx's rate providers and settings, which pod may reach which
// through the NetworkPolicies, and, where the overlay has a mesh, who may
// connect to whom by mesh identity and the gateway's TLS passthrough.
//
// The checks are split by concern: workloads.go (every pod), probes.go,
// config.go (settings and config files), services.go, ha.go (replicas,
// failover, spread, budgets), autoscaling.go, network.go, targets.go,
// tls.go (certificate mounts), etcd.go, crdb.go, observability.go
// (metrics, traces), mesh.go and metadata.go.
package deploy
