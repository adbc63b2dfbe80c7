package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// Manifests are the objects an overlay renders to, by kind, and the
// Secrets the operator supplies (their placeholders, decoded alongside).
type Manifests struct {
	// Overlay is the directory rendered.
	Overlay string

	Namespaces      []*corev1.Namespace
	ServiceAccounts []*corev1.ServiceAccount
	ConfigMaps      []*corev1.ConfigMap
	Secrets         []*corev1.Secret
	Services        []*corev1.Service
	Deployments     []*appsv1.Deployment
	StatefulSets    []*appsv1.StatefulSet
	Jobs            []*batchv1.Job
	PDBs            []*policyv1.PodDisruptionBudget
	HPAs            []*autoscalingv2.HorizontalPodAutoscaler
	NetworkPolicies []*networkingv1.NetworkPolicy
	CrdbClusters    []*CrdbCluster
	// Mesh holds the Istio objects, if the overlay has any.
	Mesh *Mesh
}

// Load renders the kustomization in the directory overlay of fsys with
// kustomize (krusty, as `kubectl kustomize` does), decodes every object it
// renders strictly into its type, then decodes the files supplied: the
// placeholders of what the operator creates out of band (the Secrets),
// which the rendered objects refer to. It reports every error, not only
// the first.
func Load(fsys filesys.FileSystem, overlay string, supplied ...string) (*Manifests, error) {
	out, err := Build(fsys, overlay)
	if err != nil {
		return nil, err
	}
	m := &Manifests{Overlay: overlay, Mesh: &Mesh{}}
	errs := []error{m.Decode(overlay, out)}
	for _, f := range supplied {
		data, err := fsys.ReadFile(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, m.Decode(f, data))
	}
	return m, errors.Join(errs...)
}

// Build renders the kustomization in the directory overlay of fsys, as
// `kubectl kustomize` does, into one multi-document YAML stream.
func Build(fsys filesys.FileSystem, overlay string) ([]byte, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(fsys, overlay)
	if err != nil {
		return nil, fmt.Errorf("kustomize %s: %w", overlay, err)
	}
	out, err := res.AsYaml()
	if err != nil {
		return nil, fmt.Errorf("kustomize %s: %w", overlay, err)
	}
	return out, nil
}

// Render is Load from the disk.
func Render(overlay string, supplied ...string) (*Manifests, error) {
	return Load(filesys.MakeFsOnDisk(), overlay, supplied...)
}

// Decode adds the objects of one multi-document YAML file to m. Documents
// with nothing but comments are skipped. A document of a kind that Decode
// does not know, or under another apiVersion than the one k8s/ uses, is an
// error: a typo there would otherwise go unchecked.
func (m *Manifests) Decode(file string, data []byte) error {
	if m.Mesh == nil {
		m.Mesh = &Mesh{}
	}
	_, err := decodeFile(file, data, m.decodeDocument)
	return err
}

// decodeFile hands each document of a multi-document YAML file that is
// not empty to decode, with its type, and returns how many it decoded.
func decodeFile(file string, data []byte, decode func(doc []byte, tm metav1.TypeMeta) error) (int, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	n := 0
	var errs []error
	for i := 1; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: document %d: %w", file, i, err))
			break
		}
		var generic map[string]any
		if err := yaml.Unmarshal(doc, &generic); err != nil {
			errs = append(errs, fmt.Errorf("%s: document %d: %w", file, i, err))
			continue
		}
		if generic == nil {
			continue
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			errs = append(errs, fmt.Errorf("%s: document %d: %w", file, i, err))
			continue
		}
		if err := decode(doc, tm); err != nil {
			name, _, _ := unstructured.NestedString(generic, "metadata", "name")
			errs = append(errs, fmt.Errorf("%s: document %d (%s %s): %w", file, i, tm.Kind, name, err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// decodeDocument decodes one document of type tm into m.
func (m *Manifests) decodeDocument(doc []byte, tm metav1.TypeMeta) error {
	var err error
	switch tm.APIVersion + " " + tm.Kind {
	case "v1 Namespace":
		err = add(doc, &m.Namespaces)
	case "v1 ServiceAccount":
		err = add(doc, &m.ServiceAccounts)
	case "v1 ConfigMap":
		err = add(doc, &m.ConfigMaps)
	case "v1 Secret":
		err = add(doc, &m.Secrets)
	case "v1 Service":
		err = add(doc, &m.Services)
	case "apps/v1 Deployment":
		err = add(doc, &m.Deployments)
	case "apps/v1 StatefulSet":
		err = add(doc, &m.StatefulSets)
	case "batch/v1 Job":
		err = add(doc, &m.Jobs)
	case "policy/v1 PodDisruptionBudget":
		err = add(doc, &m.PDBs)
	case "autoscaling/v2 HorizontalPodAutoscaler":
		err = add(doc, &m.HPAs)
	case "networking.k8s.io/v1 NetworkPolicy":
		err = add(doc, &m.NetworkPolicies)
	case "crdb.cockroachlabs.com/v1alpha1 CrdbCluster":
		err = add(doc, &m.CrdbClusters)
	default:
		return m.Mesh.decodeDocument(doc, tm)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", tm.Kind, err)
	}
	return nil
}

func add[T any](doc []byte, list *[]*T) error {
	o, err := DecodeStrict[T](doc)
	if err != nil {
		return err
	}
	*list = append(*list, o)
	return nil
}

// DecodeStrict decodes one YAML document into a new T, twice over:
//
//   - sigs.k8s.io/yaml's UnmarshalStrict rejects duplicate keys (YAML) and
//     fields T does not have. Its JSON step matches names the way
//     encoding/json does, case-insensitively, so "ReadinessProbe" would
//     pass it as readinessProbe;
//   - the document converted to JSON (duplicate keys rejected again) then
//     goes through sigs.k8s.io/json's UnmarshalStrict, which matches names
//     case-sensitively like the API server and reports unknown and
//     duplicate fields.
func DecodeStrict[T any](doc []byte) (*T, error) {
	if err := yaml.UnmarshalStrict(doc, new(T)); err != nil {
		return nil, err
	}
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, err
	}
	out := new(T)
	strict, err := kjson.UnmarshalStrict(js, out, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return nil, err
	}
	if len(strict) > 0 {
		return nil, errors.Join(strict...)
	}
	return out, nil
}

// objectMeta is one object's kind and metadata.
type objectMeta struct {
	kind string
	meta *metav1.ObjectMeta
}

// all lists every object but the kustomization.
func (m *Manifests) all() []objectMeta {
	var out []objectMeta
	for _, o := range m.Namespaces {
		out = append(out, objectMeta{"Namespace", &o.ObjectMeta})
	}
	for _, o := range m.ServiceAccounts {
		out = append(out, objectMeta{"ServiceAccount", &o.ObjectMeta})
	}
	for _, o := range m.ConfigMaps {
		out = append(out, objectMeta{"ConfigMap", &o.ObjectMeta})
	}
	for _, o := range m.Secrets {
		out = append(out, objectMeta{"Secret", &o.ObjectMeta})
	}
	for _, o := range m.Services {
		out = append(out, objectMeta{"Service", &o.ObjectMeta})
	}
	for _, o := range m.Deployments {
		out = append(out, objectMeta{"Deployment", &o.ObjectMeta})
	}
	for _, o := range m.StatefulSets {
		out = append(out, objectMeta{"StatefulSet", &o.ObjectMeta})
	}
	for _, o := range m.Jobs {
		out = append(out, objectMeta{"Job", &o.ObjectMeta})
	}
	for _, o := range m.PDBs {
		out = append(out, objectMeta{"PodDisruptionBudget", &o.ObjectMeta})
	}
	for _, o := range m.HPAs {
		out = append(out, objectMeta{"HorizontalPodAutoscaler", &o.ObjectMeta})
	}
	for _, o := range m.NetworkPolicies {
		out = append(out, objectMeta{"NetworkPolicy", &o.ObjectMeta})
	}
	for _, o := range m.CrdbClusters {
		out = append(out, objectMeta{"CrdbCluster", &o.ObjectMeta})
	}
	if m.Mesh != nil {
		out = append(out, m.Mesh.all()...)
	}
	return out
}

// Objects names every object as "Kind name", sorted.
func (m *Manifests) Objects() []string {
	var out []string
	for _, o := range m.all() {
		out = append(out, o.kind+" "+o.meta.Name)
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// Deployment returns the Deployment called name, or nil.
func (m *Manifests) Deployment(name string) *appsv1.Deployment {
	return find(m.Deployments, name, func(o *appsv1.Deployment) string { return o.Name })
}

// StatefulSet returns the StatefulSet called name, or nil.
func (m *Manifests) StatefulSet(name string) *appsv1.StatefulSet {
	return find(m.StatefulSets, name, func(o *appsv1.StatefulSet) string { return o.Name })
}

// Job returns the Job called name, or nil.
func (m *Manifests) Job(name string) *batchv1.Job {
	return find(m.Jobs, name, func(o *batchv1.Job) string { return o.Name })
}

// Service returns the Service called name, or nil; that includes the
// Services the CockroachDB operator makes of a CrdbCluster.
func (m *Manifests) Service(name string) *corev1.Service {
	if s := find(m.Services, name, func(o *corev1.Service) string { return o.Name }); s != nil {
		return s
	}
	return find(m.crdbServices(), name, func(o *corev1.Service) string { return o.Name })
}

// ConfigMap returns the ConfigMap called name, or nil.
func (m *Manifests) ConfigMap(name string) *corev1.ConfigMap {
	return find(m.ConfigMaps, name, func(o *corev1.ConfigMap) string { return o.Name })
}

// Generated returns the ConfigMap a configMapGenerator called name made:
// name, a dash and the hash of its content.
func (m *Manifests) Generated(name string) *corev1.ConfigMap {
	for _, cm := range m.ConfigMaps {
		if h, ok := strings.CutPrefix(cm.Name, name+"-"); ok && h != "" && !strings.Contains(h, "-") {
			return cm
		}
	}
	return nil
}

// Secret returns the Secret called name, or nil.
func (m *Manifests) Secret(name string) *corev1.Secret {
	return find(m.Secrets, name, func(o *corev1.Secret) string { return o.Name })
}

// PDB returns the PodDisruptionBudget called name, or nil.
func (m *Manifests) PDB(name string) *policyv1.PodDisruptionBudget {
	return find(m.PDBs, name, func(o *policyv1.PodDisruptionBudget) string { return o.Name })
}

// HPA returns the HorizontalPodAutoscaler called name, or nil.
func (m *Manifests) HPA(name string) *autoscalingv2.HorizontalPodAutoscaler {
	return find(m.HPAs, name, func(o *autoscalingv2.HorizontalPodAutoscaler) string { return o.Name })
}

// NetworkPolicy returns the NetworkPolicy called name, or nil.
func (m *Manifests) NetworkPolicy(name string) *networkingv1.NetworkPolicy {
	return find(m.NetworkPolicies, name, func(o *networkingv1.NetworkPolicy) string { return o.Name })
}

func find[T any](list []*T, name string, nameOf func(*T) string) *T {
	for _, o := range list {
		if nameOf(o) == name {
			return o
		}
	}
	return nil
}
