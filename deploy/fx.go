package deploy

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// fxProviders: UNIGATE_FX_PROVIDERS, fx's rate providers, parses as
// app.ParseProviders parses it (NAME=URL,… with URL grpc://host:port,
// http(s)://…, file:///path or static, each name once), names at least
// one, and the NetworkPolicies let the pod reach each provider that is
// reached over the network; a sheet on disk is on a volume the container
// mounts, where the kubelet updates it.
func (c *checker) fxProviders(obj string, ct *corev1.Container, src Endpoint, v string) {
	const name = "UNIGATE_FX_PROVIDERS"
	if strings.TrimSpace(v) == "" {
		// The flag's default then applies.
		c.containerf(obj, ct, "%s is empty: fx falls back to static=static, its fixed demo rates", name)
		return
	}
	seen := map[string]bool{}
	n := 0
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		n++
		pname, raw, ok := strings.Cut(item, "=")
		if !ok || pname == "" || raw == "" {
			c.containerf(obj, ct, "%s: provider %q is not NAME=URL", name, item)
			continue
		}
		if seen[pname] {
			c.containerf(obj, ct, "%s: provider %s is named twice: fx would not start", name, pname)
		}
		seen[pname] = true
		what := fmt.Sprintf("container %s: %s %s", ct.Name, name, pname)
		if raw == "static" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil {
			c.containerf(obj, ct, "%s: provider %s: %v", name, pname, err)
			continue
		}
		switch u.Scheme {
		case "grpc":
			host, port, err := splitTarget(u.Host)
			if err != nil || host == "" {
				c.containerf(obj, ct, "%s: provider %s: %q is not grpc://host:port", name, pname, raw)
				continue
			}
			c.reach(obj, what, src, host, port)
		case "http", "https":
			port := int32(80)
			if u.Scheme == "https" {
				port = 443
			}
			if p := u.Port(); p != "" {
				pn, err := strconv.ParseUint(p, 10, 16)
				if err != nil || pn == 0 {
					c.containerf(obj, ct, "%s: provider %s: bad port %q", name, pname, p)
					continue
				}
				port = int32(pn)
			}
			if u.Hostname() == "" {
				c.containerf(obj, ct, "%s: provider %s: %q names no host", name, pname, raw)
				continue
			}
			c.reach(obj, what, src, u.Hostname(), port)
		case "file":
			c.fxSheet(obj, ct, pname, u.Path)
		default:
			c.containerf(obj, ct, "%s: provider %s: %q: want grpc://, http(s)://, file:// or static: fx would not start", name, pname, raw)
		}
	}
	if n == 0 {
		c.containerf(obj, ct, "%s=%q names no provider: fx would not start", name, v)
	}
}

// fxSheet: a rate sheet fx reads from disk (file:///path) is on a volume
// the container mounts, not in the image, and the volume is not mounted
// with subPath, which the kubelet never updates: fx re-reads the sheet
// when it changes.
func (c *checker) fxSheet(obj string, ct *corev1.Container, provider, file string) {
	what := "UNIGATE_FX_PROVIDERS: provider " + provider
	if !path.IsAbs(file) {
		c.containerf(obj, ct, "%s: %q is not an absolute path (file:///path)", what, file)
		return
	}
	file = path.Clean(file)
	var vm *corev1.VolumeMount
	for i := range ct.VolumeMounts {
		mp := path.Clean(ct.VolumeMounts[i].MountPath)
		if (file == mp || strings.HasPrefix(file, mp+"/")) && (vm == nil || len(mp) > len(path.Clean(vm.MountPath))) {
			vm = &ct.VolumeMounts[i]
		}
	}
	switch {
	case vm == nil:
		c.containerf(obj, ct, "%s: %s is on no volume it mounts, so in the image, where no one can update it: mount the sheet (from a ConfigMap, say)", what, file)
	case vm.SubPath != "" || vm.SubPathExpr != "":
		c.containerf(obj, ct, "%s: volume %s is mounted with a subPath, which the kubelet never updates: fx would keep pricing from the first sheet", what, vm.Name)
	case file == path.Clean(vm.MountPath):
		c.containerf(obj, ct, "%s: %s is where volume %s is mounted, a directory, not a file in it", what, file, vm.Name)
	}
}

// settings are variables a service reads with a fallback: a malformed
// value is ignored (envDuration, envInt in cmd/unigate) and one out of
// range stops the service at start (fx.Config.Validate). Each is checked
// wherever a container sets it.
var settings = []struct {
	env   string
	check func(string) error
}{
	{"UNIGATE_RATE_STALENESS", positiveDuration},
	{"UNIGATE_QUOTE_TTL", positiveDuration},
	{"UNIGATE_OUTLIER_BAND_BPS", intIn(1, math.MaxInt32)},
	{"UNIGATE_DEFAULT_MARKUP_BPS", intIn(0, 2000)},
	{"UNIGATE_REFERENCE_CURRENCY", currencyCode},
}

// errIgnored marks a value the service would ignore, keeping its default.
type errIgnored struct{ msg string }

func (e errIgnored) Error() string { return e.msg }

func positiveDuration(v string) error {
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		return errIgnored{"not a Go duration (10s, 1m30s)"}
	case d <= 0:
		return fmt.Errorf("not positive")
	}
	return nil
}

func intIn(lo, hi int) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil:
			return errIgnored{"not an integer"}
		case n < lo || n > hi:
			return fmt.Errorf("outside %d..%d", lo, hi)
		}
		return nil
	}
}

// currencyCode: an ISO 4217 alphabetic code's shape; whether the service
// knows the currency is for its own tests.
func currencyCode(v string) error {
	if len(v) != 3 || strings.Trim(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		return fmt.Errorf("not an ISO 4217 code (three capital letters, USD)")
	}
	return nil
}

// settingValues: each setting a container sets (an empty value is the
// default) parses and is in range.
func (c *checker) settingValues(obj string, ct *corev1.Container) {
	for _, s := range settings {
		v, ok := c.m.envValue(ct, s.env)
		if !ok || v == "" {
			continue
		}
		if err := s.check(v); err != nil {
			if _, ignored := err.(errIgnored); ignored {
				c.containerf(obj, ct, "%s=%q: %v: the service would ignore it and keep its default", s.env, v, err)
			} else {
				c.containerf(obj, ct, "%s=%q: %v: the service would not start", s.env, v, err)
			}
		}
	}
}

// ipBlock: a peer's CIDR parses, and each exception is a CIDR of the same
// family strictly inside it, as the API server requires.
func (c *checker) ipBlock(obj, where string, b *networkingv1.IPBlock) {
	_, block, err := net.ParseCIDR(b.CIDR)
	if err != nil {
		c.errorf(obj, "%s: ipBlock cidr %q is not a CIDR", where, b.CIDR)
		return
	}
	ones, bits := block.Mask.Size()
	for _, e := range b.Except {
		_, ex, err := net.ParseCIDR(e)
		if err != nil {
			c.errorf(obj, "%s: ipBlock except %q is not a CIDR", where, e)
			continue
		}
		eOnes, eBits := ex.Mask.Size()
		if eBits != bits || eOnes <= ones || !block.Contains(ex.IP) {
			c.errorf(obj, "%s: ipBlock except %s is not a strict subset of cidr %s", where, e, b.CIDR)
		}
	}
}
