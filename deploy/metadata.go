package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"
)

// metadata: every object is in the namespace, one of them is the
// namespace, no two objects of a kind share a name, and names, label keys
// and label values are what the API server accepts.
func (c *checker) metadata(objects []objectMeta) {
	seen := map[string]bool{}
	hasNamespace := false
	for _, o := range objects {
		id := o.kind + " " + o.meta.Name
		if seen[id] {
			c.errorf(id, "defined more than once")
		}
		seen[id] = true
		nameErrs := validation.IsDNS1123Subdomain(o.meta.Name)
		if o.kind == "Service" || o.kind == "Namespace" {
			nameErrs = validation.IsDNS1123Label(o.meta.Name)
		}
		for _, e := range nameErrs {
			c.errorf(id, "name: %s", e)
		}
		c.labels(id, "metadata.labels", o.meta.Labels)
		if o.kind == "Namespace" {
			hasNamespace = hasNamespace || o.meta.Name == Namespace
			continue
		}
		if o.meta.Namespace != Namespace {
			c.errorf(id, "metadata.namespace is %q, not %q", o.meta.Namespace, Namespace)
		}
	}
	if !hasNamespace {
		c.errorf("Namespace "+Namespace, "no manifest creates the namespace")
	}
}

// labels: each key is a qualified name and each value a label value.
func (c *checker) labels(obj, where string, l map[string]string) {
	for k, v := range l {
		for _, e := range validation.IsQualifiedName(k) {
			c.errorf(obj, "%s: key %q: %s", where, k, e)
		}
		for _, e := range validation.IsValidLabelValue(v) {
			c.errorf(obj, "%s: %s=%q: %s", where, k, v, e)
		}
	}
}

// CheckKustomizations checks every kustomization.yaml under root: each
// *.yaml file beside it is one of its resources, but for the placeholders
// of Secrets the operator supplies (supplied), which none may list; and
// every resource exists. kustomize itself renders only what is listed, so
// a manifest forgotten there would silently not be deployed.
func CheckKustomizations(root string, supplied ...string) []Problem {
	var problems []Problem
	bad := func(file, format string, args ...any) {
		problems = append(problems, Problem{Object: file, Msg: fmt.Sprintf(format, args...)})
	}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "kustomization.yaml" {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var k types.Kustomization
		if err := yaml.Unmarshal(data, &k); err != nil {
			bad(p, "%v", err)
			return nil
		}
		dir := filepath.Dir(p)
		listed := map[string]bool{}
		for _, r := range k.Resources {
			if listed[r] {
				bad(p, "lists %s twice", r)
			}
			listed[filepath.Clean(r)] = true
			if _, err := os.Stat(filepath.Join(dir, r)); err != nil {
				bad(p, "lists %s, which does not exist", r)
			}
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || name == "kustomization.yaml" || (!strings.HasSuffix(name, ".yaml") && !strings.HasSuffix(name, ".yml")) {
				continue
			}
			placeholder := slices.Contains(supplied, filepath.Join(dir, name))
			switch {
			case placeholder && listed[name]:
				bad(p, "lists %s, the placeholder of a Secret the operator supplies: every apply would put it back over the real one", name)
			case !placeholder && !listed[name]:
				bad(p, "does not list %s", name)
			}
		}
		return nil
	})
	if err != nil {
		bad(root, "%v", err)
	}
	return problems
}
