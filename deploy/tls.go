package deploy

import (
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// pkiDir: the directory UNIGATE_PKI names holds files, each mounted as
// mountedFile requires.
func (c *checker) pkiDir(obj string, w workload, ct *corev1.Container, files []string) {
	dir, ok := c.m.envValue(ct, "UNIGATE_PKI")
	if !ok || dir == "" {
		c.containerf(obj, ct, "does not set UNIGATE_PKI: it would serve and call in plaintext")
		return
	}
	if !path.IsAbs(dir) {
		c.containerf(obj, ct, "UNIGATE_PKI=%q is not an absolute path", dir)
		return
	}
	for _, f := range files {
		c.mountedFile(obj, w, ct, "UNIGATE_PKI", path.Join(dir, f))
	}
}

// fileSource is one Secret or ConfigMap a volume projects files from.
type fileSource struct {
	kind, name  string
	items       []corev1.KeyToPath
	defaultMode *int32
}

// mountedFile: the file a setting (what) names is on a volume the
// container mounts read-only, projected from a key of a Secret or ConfigMap
// that exists here (Secrets supplied out of band as placeholders), and only
// the container's user (through the pod's fsGroup) may read it.
func (c *checker) mountedFile(obj string, w workload, ct *corev1.Container, what, file string) {
	file = path.Clean(file)
	vm := mountOf(ct, file)
	if vm == nil {
		c.containerf(obj, ct, "%s: %s is on no volume it mounts", what, file)
		return
	}
	if !vm.ReadOnly {
		c.containerf(obj, ct, "%s: volume %s is mounted writable at %s", what, vm.Name, vm.MountPath)
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(file, path.Clean(vm.MountPath)), "/")
	if vm.SubPath != "" {
		rel = path.Join(vm.SubPath, rel)
	}
	pod := &w.template.Spec
	sources := volumeSources(w, vm.Name)
	for _, v := range pod.Volumes {
		if v.Name == vm.Name && sources == nil {
			c.containerf(obj, ct, "%s: %s is on volume %s, which no Secret fills", what, file, vm.Name)
			return
		}
	}
	if sources == nil {
		return // reported as a mount of a missing volume
	}
	for _, s := range sources {
		keys := c.m.keys(s.kind, s.name)
		key, mode, ok := s.key(rel, keys)
		if !ok {
			continue
		}
		switch {
		case keys == nil:
			c.containerf(obj, ct, "%s: %s %q does not exist (supply its placeholder, as base/secret-pki.yaml)", what, s.kind, s.name)
		case !keys[key]:
			c.containerf(obj, ct, "%s: %s %q has no key %q", what, s.kind, s.name, key)
		}
		c.fileMode(obj, pod, ct, what, file, mode)
		return
	}
	c.containerf(obj, ct, "%s: volume %s provides no file %s", what, vm.Name, rel)
}

// volumeSources returns the Secrets and ConfigMaps a pod's volume
// projects files from; nil for a volume of another kind, or none.
func volumeSources(w workload, volume string) []fileSource {
	var sources []fileSource
	for _, v := range w.template.Spec.Volumes {
		if v.Name != volume {
			continue
		}
		switch {
		case v.Secret != nil:
			sources = append(sources, fileSource{"Secret", v.Secret.SecretName, v.Secret.Items, v.Secret.DefaultMode})
		case v.Projected != nil:
			for _, p := range v.Projected.Sources {
				switch {
				case p.Secret != nil:
					sources = append(sources, fileSource{"Secret", p.Secret.Name, p.Secret.Items, v.Projected.DefaultMode})
				case p.ConfigMap != nil:
					sources = append(sources, fileSource{"ConfigMap", p.ConfigMap.Name, p.ConfigMap.Items, v.Projected.DefaultMode})
				}
			}
		case v.ConfigMap != nil:
			sources = append(sources, fileSource{"ConfigMap", v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.DefaultMode})
		}
	}
	return sources
}

// key returns the key s projects to the file at rel and the file's mode.
func (s fileSource) key(rel string, keys map[string]bool) (string, int32, bool) {
	mode := int32(0o644) // the API server's default
	if s.defaultMode != nil {
		mode = *s.defaultMode
	}
	if len(s.items) == 0 {
		return rel, mode, keys[rel]
	}
	for _, it := range s.items {
		if path.Clean(it.Path) == rel {
			if it.Mode != nil {
				mode = *it.Mode
			}
			return it.Key, mode, true
		}
	}
	return "", 0, false
}

// keys returns the keys of a Secret or ConfigMap, nil if there is none.
func (m *Manifests) keys(kind, name string) map[string]bool {
	keys := map[string]bool{}
	switch kind {
	case "Secret":
		s := m.Secret(name)
		if s == nil {
			return nil
		}
		for k := range s.Data {
			keys[k] = true
		}
		for k := range s.StringData {
			keys[k] = true
		}
	case "ConfigMap":
		cm := m.ConfigMap(name)
		if cm == nil {
			return nil
		}
		for k := range cm.Data {
			keys[k] = true
		}
		for k := range cm.BinaryData {
			keys[k] = true
		}
	}
	return keys
}

// fileMode: the kubelet writes projected files as root; with an fsGroup
// it gives them that group and makes them group-readable. So the
// container's user reads them through fsGroup, and no one else may.
func (c *checker) fileMode(obj string, pod *corev1.PodSpec, ct *corev1.Container, what, file string, mode int32) {
	if mode&0o007 != 0 {
		c.containerf(obj, ct, "%s: %s is readable by any user (mode %04o): use 0440", what, file, mode)
	}
	psc := pod.SecurityContext
	if psc == nil || psc.FSGroup == nil {
		c.containerf(obj, ct, "%s: the pod sets no fsGroup, so its user cannot read %s, which the kubelet writes as root", what, file)
		return
	}
	group := psc.RunAsGroup
	if ct.SecurityContext != nil && ct.SecurityContext.RunAsGroup != nil {
		group = ct.SecurityContext.RunAsGroup
	}
	inGroup := group != nil && *group == *psc.FSGroup
	for _, g := range psc.SupplementalGroups {
		inGroup = inGroup || g == *psc.FSGroup
	}
	if !inGroup {
		c.containerf(obj, ct, "%s: fsGroup %d, the group of %s, is not a group of the container's user", what, *psc.FSGroup, file)
	}
}
