package deploy

import (
	"fmt"
	"path"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// serviceFlags are the flags of `unigate NAME` (services/cmd/unigate),
// each with the variable that sets it ("" if none). A service's config file
// (--config) has these as its keys.
var serviceFlags = map[string]string{
	"listen":             "UNIGATE_LISTEN",
	"dsn":                "UNIGATE_DSN",
	"etcd":               "UNIGATE_ETCD",
	"router":             "UNIGATE_ROUTER",
	"fx":                 "UNIGATE_FX",
	"risk":               "UNIGATE_RISK",
	"settlement":         "UNIGATE_SETTLEMENT",
	"peers":              "UNIGATE_RISK_PEERS",
	"model":              "UNIGATE_RISK_MODEL",
	"demo-policy":        "UNIGATE_DEMO_POLICY",
	"rates":              "UNIGATE_RATES",
	"providers":          "UNIGATE_FX_PROVIDERS",
	"quote-ttl":          "UNIGATE_QUOTE_TTL",
	"rate-staleness":     "UNIGATE_RATE_STALENESS",
	"outlier-band-bps":   "UNIGATE_OUTLIER_BAND_BPS",
	"default-markup-bps": "UNIGATE_DEFAULT_MARKUP_BPS",
	"reference-currency": "UNIGATE_REFERENCE_CURRENCY",
	"cycle":              "",
	"call-timeout":       "",
	"log-level":          "UNIGATE_LOG_LEVEL",
	"pki":                "UNIGATE_PKI",
	"advertise":          "UNIGATE_ADVERTISE",
	"routing-cache":      "UNIGATE_ROUTING_CACHE",
	"health-listen":      "UNIGATE_HEALTH_LISTEN",
	"metrics-listen":     "UNIGATE_METRICS_LISTEN",
	"config":             "UNIGATE_CONFIG",
}

// flagOf returns the flag a variable sets.
func flagOf(env string) string {
	for f, e := range serviceFlags {
		if e == env && e != "" {
			return f
		}
	}
	return ""
}

// unigateService returns the service a container runs as `unigate NAME`.
func unigateService(ct *corev1.Container) (string, bool) {
	argv := append(slices.Clone(ct.Command), ct.Args...)
	if len(argv) < 2 || argv[0] != "unigate" || strings.HasPrefix(argv[1], "-") {
		return "", false
	}
	return argv[1], true
}

// cmdFlags returns the flags on a `unigate NAME` container's command line.
func cmdFlags(ct *corev1.Container) map[string]string {
	argv := append(slices.Clone(ct.Command), ct.Args...)
	if _, ok := unigateService(ct); !ok {
		return nil
	}
	return parseFlags(argv[2:])
}

// setting is one setting of a container and where it is set.
type setting struct {
	value string
	where string // "--flag", "variable NAME" or "config file PATH"
}

// settings returns where a container sets the setting of variable env:
// as the variable, as a flag on its command line, or as a key of its
// config file. A problem reading the config file is for configFile to
// report.
func (m *Manifests) settings(ct *corev1.Container, env string) []setting {
	var out []setting
	if v, ok := m.envVar(ct, env); ok {
		out = append(out, setting{v, "variable " + env})
	}
	f := flagOf(env)
	if f == "" {
		return out
	}
	if v, ok := cmdFlags(ct)[f]; ok {
		out = append(out, setting{v, "--" + f})
	}
	if cfg, file, err := m.config(ct); err == nil && cfg != nil {
		if v, ok := cfg[f]; ok {
			out = append(out, setting{v, "config file " + file})
		}
	}
	return out
}

// envValue returns the value of a container's setting named by its
// variable, however it is set, and whether it is set.
func (m *Manifests) envValue(ct *corev1.Container, env string) (string, bool) {
	s := m.settings(ct, env)
	if len(s) == 0 {
		return "", false
	}
	return s[0].value, true
}

// config reads the config file a `unigate NAME` container is given
// (--config or UNIGATE_CONFIG): the file of a ConfigMap's key on a volume
// it mounts. It returns nil without one.
func (m *Manifests) config(ct *corev1.Container) (map[string]string, string, error) {
	if _, ok := unigateService(ct); !ok {
		return nil, "", nil
	}
	file, ok := cmdFlags(ct)["config"]
	if !ok {
		if file, ok = m.envVar(ct, "UNIGATE_CONFIG"); !ok {
			return nil, "", nil
		}
	}
	w, ok := m.workloadOf(ct)
	if !ok {
		return nil, file, fmt.Errorf("no workload runs the container")
	}
	data, err := m.fileContent(w, ct, file)
	if err != nil {
		return nil, file, err
	}
	raw := map[string]any{}
	if err := yaml.UnmarshalStrict([]byte(data), &raw); err != nil {
		return nil, file, err
	}
	out := map[string]string{}
	for k, v := range raw {
		switch v.(type) {
		case map[string]any, []any:
			return nil, file, fmt.Errorf("key %s: not a single value, as a flag takes", k)
		case nil:
			out[k] = ""
		default:
			out[k] = fmt.Sprint(v)
		}
	}
	return out, file, nil
}

// fileContent returns what a container reads at file: the key of a
// ConfigMap projected there by a volume it mounts.
func (m *Manifests) fileContent(w workload, ct *corev1.Container, file string) (string, error) {
	vm := mountOf(ct, file)
	if vm == nil {
		return "", fmt.Errorf("%s is on no volume it mounts", file)
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(path.Clean(file), path.Clean(vm.MountPath)), "/")
	for _, s := range volumeSources(w, vm.Name) {
		if s.kind != "ConfigMap" {
			continue
		}
		cm := m.ConfigMap(s.name)
		if cm == nil {
			continue
		}
		keys := map[string]bool{}
		for k := range cm.Data {
			keys[k] = true
		}
		if key, _, ok := s.key(rel, keys); ok {
			if v, ok := cm.Data[key]; ok {
				return v, nil
			}
		}
	}
	return "", fmt.Errorf("volume %s provides no file %s from a ConfigMap", vm.Name, rel)
}

// mountOf returns the volume mount a file is on: the one with the longest
// mount path that holds it.
func mountOf(ct *corev1.Container, file string) *corev1.VolumeMount {
	file = path.Clean(file)
	var vm *corev1.VolumeMount
	for i := range ct.VolumeMounts {
		mp := path.Clean(ct.VolumeMounts[i].MountPath)
		if (file == mp || strings.HasPrefix(file, mp+"/")) && (vm == nil || len(mp) > len(path.Clean(vm.MountPath))) {
			vm = &ct.VolumeMounts[i]
		}
	}
	return vm
}

// configFile: a `unigate NAME` container given a config file reads it
// from a read-only volume, only it may read it, the file parses, each key
// is a flag of `unigate NAME`, and no setting is made in two places
// (which one wins would depend on the order the service reads them in).
func (c *checker) configFile(w workload) {
	obj := w.object()
	for i := range w.template.Spec.Containers {
		ct := &w.template.Spec.Containers[i]
		cfg, file, err := c.m.config(ct)
		if file != "" {
			c.mountedFile(obj, w, ct, "--config", file)
		}
		if err != nil {
			c.containerf(obj, ct, "config file %s: %v", file, err)
			continue
		}
		for k := range cfg {
			if _, ok := serviceFlags[k]; !ok || k == "config" {
				c.containerf(obj, ct, "config file %s: %s is not a flag of unigate: the service would not start", file, k)
			}
		}
		for f, env := range serviceFlags {
			if env == "" {
				continue
			}
			if s := c.m.settings(ct, env); len(s) > 1 {
				var where []string
				for _, x := range s {
					where = append(where, x.where)
				}
				c.containerf(obj, ct, "sets %s twice, in %s: one place only", f, strings.Join(where, " and "))
			}
		}
	}
}
