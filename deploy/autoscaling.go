package deploy

import (
	corev1 "k8s.io/api/core/v1"
)

// hpas: each targets an existing Deployment, with a sane range that holds
// the Deployment's replicas, on CPU utilization.
// hpas: each targets an existing Deployment, with a sane range that holds
// the Deployment's replicas (a floor of 2 or more with HA), on CPU
// utilization.
func (c *checker) hpas() {
	targets := map[string]string{}
	for _, h := range c.m.HPAs {
		obj := "HorizontalPodAutoscaler " + h.Name
		ref := h.Spec.ScaleTargetRef
		if ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" {
			c.errorf(obj, "scaleTargetRef is %s %s, not apps/v1 Deployment", ref.APIVersion, ref.Kind)
			continue
		}
		d := c.m.Deployment(ref.Name)
		if d == nil {
			c.errorf(obj, "targets Deployment %q, which does not exist", ref.Name)
			continue
		}
		if prev, ok := targets[ref.Name]; ok {
			c.errorf(obj, "targets Deployment %s, as HorizontalPodAutoscaler %s does", ref.Name, prev)
		}
		targets[ref.Name] = h.Name
		floor := int32(1)
		if c.spec.HA {
			floor = 2
		}
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < floor {
			c.errorf(obj, "minReplicas is not set to %d or more", floor)
		} else {
			if h.Spec.MaxReplicas <= *h.Spec.MinReplicas {
				c.errorf(obj, "maxReplicas %d is not above minReplicas %d", h.Spec.MaxReplicas, *h.Spec.MinReplicas)
			}
			if r := d.Spec.Replicas; r != nil && (*r < *h.Spec.MinReplicas || *r > h.Spec.MaxReplicas) {
				c.errorf(obj, "Deployment %s's replicas %d is outside [%d, %d]", d.Name, *r, *h.Spec.MinReplicas, h.Spec.MaxReplicas)
			}
		}
		cpu := false
		for _, ms := range h.Spec.Metrics {
			if r := ms.Resource; ms.Type == "Resource" && r != nil && r.Name == corev1.ResourceCPU && r.Target.Type == "Utilization" &&
				r.Target.AverageUtilization != nil && *r.Target.AverageUtilization > 0 && *r.Target.AverageUtilization <= 100 {
				cpu = true
			}
		}
		if !cpu {
			c.errorf(obj, "has no CPU utilization target between 1 and 100 %%")
		}
	}
}

// statefulSets: each is governed by a headless Service that selects its
