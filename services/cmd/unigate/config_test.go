package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/unigate/unigate/services/app"
	"github.com/unigate/unigate/services/fx"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite docs/configuration.md's tables from the services' settings")

var services = []string{"acquirer", "router", "fx", "risk", "settlement", "merchantsim", "walletsim"}

// envMap is an environment for load.
type envMap map[string]string

func (e envMap) lookup(k string) (string, bool) { v, ok := e[k]; return v, ok }

// loaded returns service's settings loaded from args and env.
func loaded(t *testing.T, service string, args []string, env envMap) *settings {
	t.Helper()
	s := mustSettings(t, service)
	if err := s.load(args, env.lookup); err != nil {
		t.Fatalf("%s %v: %v", service, args, err)
	}
	return s
}

func mustSettings(t *testing.T, service string) *settings {
	t.Helper()
	s, ok := newSettings(service)
	if !ok {
		t.Fatalf("no service %q", service)
	}
	var quiet bytes.Buffer
	s.fs.SetOutput(&quiet)
	return s
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "unigate.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigDefaults(t *testing.T) {
	for _, svc := range services {
		s := loaded(t, svc, nil, nil)
		if s.common.Listen != "127.0.0.1:0" || s.level.String() != "INFO" {
			t.Errorf("%s: listen %q, level %v", svc, s.common.Listen, s.level)
		}
	}
	f := loaded(t, "fx", nil, nil).config.(*app.FXConfig)
	want := app.DefaultFXConfig()
	want.RoutingCache = app.DefaultRoutingCache(want.Etcd)
	if !reflect.DeepEqual(*f, want) {
		t.Errorf("fx defaults:\n got %+v\nwant %+v", *f, want)
	}
	if f.FX != fx.DefaultConfig() || f.Providers[0].URL != "static" || len(f.StaticRates) != len(app.DefaultStaticRates()) {
		t.Errorf("fx: %+v", f)
	}
	if c := loaded(t, "settlement", nil, nil).config.(*app.SettlementConfig); c.CycleInterval != 24*time.Hour || c.Etcd[0] != "http://127.0.0.1:2379" {
		t.Errorf("settlement: cycle %v, etcd %v", c.CycleInterval, c.Etcd)
	}
	if c := loaded(t, "risk", nil, nil).config.(*app.RiskConfig); c.Seed != nil || c.Peers != nil || c.ModelFile != "" {
		t.Errorf("risk: %+v", c)
	}
}

func TestConfigEnv(t *testing.T) {
	s := loaded(t, "fx", nil, envMap{
		"UNIGATE_QUOTE_TTL":      "30s",
		"UNIGATE_LISTEN":         "0.0.0.0:7002",
		"UNIGATE_ETCD":           "https://a:2379,https://b:2379",
		"UNIGATE_FX_PROVIDERS":   "alpha=grpc://127.0.0.1:7090", // today's name
		"UNIGATE_METRICS_LISTEN": "0.0.0.0:9090",
		"UNIGATE_LOG_LEVEL":      "warn",
		"UNIGATE_ROUTER":         "ignored: not an fx setting",
	})
	c := s.config.(*app.FXConfig)
	if c.FX.QuoteTTL != 30*time.Second || c.Listen != "0.0.0.0:7002" || !slices.Equal(c.Etcd, []string{"https://a:2379", "https://b:2379"}) ||
		len(c.Providers) != 1 || c.Providers[0].Name != "alpha" || c.MetricsListen != "0.0.0.0:9090" || s.level.String() != "WARN" {
		t.Errorf("fx from the environment: %+v, level %v", c, s.level)
	}
	// The mechanical name wins over an older one.
	c = loaded(t, "fx", nil, envMap{"UNIGATE_PROVIDERS": "new=static", "UNIGATE_FX_PROVIDERS": "old=static"}).config.(*app.FXConfig)
	if c.Providers[0].Name != "new" {
		t.Errorf("UNIGATE_PROVIDERS and UNIGATE_FX_PROVIDERS: got %v", c.Providers)
	}
	r := loaded(t, "risk", nil, envMap{"UNIGATE_RISK_PEERS": "10.0.0.1:7003,10.0.0.2:7003", "UNIGATE_RISK_MODEL": "m.json", "UNIGATE_DEMO_POLICY": "true"}).config.(*app.RiskConfig)
	if len(r.Peers) != 2 || r.ModelFile != "m.json" || r.Seed == nil {
		t.Errorf("risk from the environment: %+v", r)
	}
	if err := mustSettings(t, "fx").load(nil, envMap{"UNIGATE_QUOTE_TTL": "soon"}.lookup); err == nil || !strings.Contains(err.Error(), "UNIGATE_QUOTE_TTL") {
		t.Errorf("a malformed UNIGATE_QUOTE_TTL: %v", err)
	}
}

func TestConfigFile(t *testing.T) {
	path := writeFile(t, `# fx in production
listen: 0.0.0.0:7000
quote-ttl: 45s
outlier-band-bps: 50
etcd:
  - https://etcd-0:2379
  - https://etcd-1:2379
providers: a=https://rates.example.com/a.json,b=grpc://10.0.0.9:7090
advertise:
`)
	for _, how := range []struct {
		args []string
		env  envMap
	}{{[]string{"--config", path}, nil}, {nil, envMap{"UNIGATE_CONFIG": path}}} {
		c := loaded(t, "fx", how.args, how.env).config.(*app.FXConfig)
		if c.Listen != "0.0.0.0:7000" || c.FX.QuoteTTL != 45*time.Second || c.FX.Book.OutlierBandBps != 50 ||
			!slices.Equal(c.Etcd, []string{"https://etcd-0:2379", "https://etcd-1:2379"}) || len(c.Providers) != 2 || c.Advertise != "" {
			t.Errorf("fx from %v %v: %+v", how.args, how.env, c)
		}
	}
}

func TestConfigPrecedence(t *testing.T) {
	path := writeFile(t, "quote-ttl: 10s\nrate-staleness: 5s\ndefault-markup-bps: 50\n")
	env := envMap{"UNIGATE_CONFIG": path, "UNIGATE_QUOTE_TTL": "20s", "UNIGATE_RATE_STALENESS": "6s"}
	c := loaded(t, "fx", []string{"--quote-ttl", "30s"}, env).config.(*app.FXConfig)
	def := fx.DefaultConfig()
	for _, x := range []struct {
		what      string
		got, want any
	}{
		{"quote-ttl: the flag over the environment and the file", c.FX.QuoteTTL, 30 * time.Second},
		{"rate-staleness: the environment over the file", c.FX.Book.Staleness, 6 * time.Second},
		{"default-markup-bps: the file over the default", c.FX.DefaultMarkupBps, 50},
		{"outlier-band-bps: the default", c.FX.Book.OutlierBandBps, def.Book.OutlierBandBps},
	} {
		if x.got != x.want {
			t.Errorf("%s: got %v, want %v", x.what, x.got, x.want)
		}
	}
	// A flag set to its default still wins.
	if c := loaded(t, "fx", []string{"--quote-ttl", def.QuoteTTL.String()}, env).config.(*app.FXConfig); c.FX.QuoteTTL != def.QuoteTTL {
		t.Errorf("--quote-ttl %v under UNIGATE_QUOTE_TTL=20s: got %v", def.QuoteTTL, c.FX.QuoteTTL)
	}
	// --config on the command line over UNIGATE_CONFIG.
	other := writeFile(t, "quote-ttl: 1m\n")
	if c := loaded(t, "fx", []string{"--config", other}, envMap{"UNIGATE_CONFIG": path}).config.(*app.FXConfig); c.FX.QuoteTTL != time.Minute {
		t.Errorf("--config over UNIGATE_CONFIG: quote-ttl %v", c.FX.QuoteTTL)
	}
}

func TestConfigFileRefused(t *testing.T) {
	for _, tc := range []struct{ service, file, want string }{
		{"router", "listen: 127.0.0.1:7001\nquote-ttl: 30s\n", `line 2: unknown key "quote-ttl"`},
		{"fx", "quote_ttl: 30s\n", `unknown key "quote_ttl"`},
		{"fx", "config: other.yaml\n", `unknown key "config"`},
		{"fx", "quote-ttl: soon\n", "line 1: quote-ttl"},
		{"fx", "quote-ttl: 1s\nquote-ttl: 2s\n", "quote-ttl set twice"},
		{"fx", "- listen\n", "want a mapping"},
		{"fx", "etcd: {a: b}\n", "want a value or a list"},
	} {
		err := mustSettings(t, tc.service).load([]string{"--config", writeFile(t, tc.file)}, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s with %q: %v, want %q", tc.service, tc.file, err, tc.want)
		}
	}
	if err := mustSettings(t, "fx").load([]string{"--config", filepath.Join(t.TempDir(), "none.yaml")}, nil); err == nil {
		t.Error("a missing config file: no error")
	}
}

func TestConfigValidate(t *testing.T) {
	acq := []string{"--dsn", "postgres://localhost/u", "--router", "r:1", "--fx", "f:1", "--risk", "k:1", "--settlement", "s:1"}
	dsn := []string{"--dsn", "sqlite:///tmp/u.db"}
	for _, tc := range []struct {
		service string
		args    []string
		want    string // "" : valid
	}{
		{"acquirer", acq, ""},
		{"router", nil, ""},
		{"fx", dsn, ""},
		{"risk", dsn, ""},
		{"settlement", dsn, ""},
		{"merchantsim", nil, ""},
		{"walletsim", nil, ""},
		{"router", []string{"--listen", ""}, "listen: required"},
		{"walletsim", []string{"--listen", "7007"}, "listen: want host:port"},
		{"router", []string{"--etcd", ""}, "etcd: required"},
		{"router", []string{"--call-timeout", "0s"}, "call-timeout: must be positive"},
		{"router", []string{"--metrics-listen", "9090"}, "metrics-listen: want host:port"},
		{"merchantsim", []string{"--health-listen", "nowhere"}, "health-listen: want host:port"},
		{"fx", nil, "dsn: required"},
		{"fx", []string{"--dsn", "mysql://x"}, "dsn: must start with"},
		{"acquirer", append(slices.Clone(acq), "--risk", ""), "risk: required"},
		{"fx", append(slices.Clone(dsn), "--quote-ttl", "0s"), "quote-ttl: must be positive"},
		{"fx", append(slices.Clone(dsn), "--rate-staleness", "-1s"), "rate-staleness: must be positive"},
		{"fx", append(slices.Clone(dsn), "--outlier-band-bps", "0"), "outlier-band-bps: must be positive"},
		{"fx", append(slices.Clone(dsn), "--default-markup-bps", "2001"), "default-markup-bps: must be within 0..2000"},
		{"fx", append(slices.Clone(dsn), "--reference-currency", "XYZ"), "reference-currency"},
		{"fx", append(slices.Clone(dsn), "--providers", ""), "providers: at least one"},
		{"risk", append(slices.Clone(dsn), "--peers", "10.0.0.1"), "peers: want host:port"},
		{"settlement", append(slices.Clone(dsn), "--advertise", "10.0.0.1"), "advertise: want host:port"},
		{"settlement", append(slices.Clone(dsn), "--cycle", "-1h"), "cycle: must not be negative"},
	} {
		s := loaded(t, tc.service, tc.args, nil)
		err := s.validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s %q: %v", tc.service, tc.args, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "INVALID_ARGUMENT")):
			t.Errorf("%s %q: %v, want INVALID_ARGUMENT … %q", tc.service, tc.args, err, tc.want)
		}
	}
	// Malformed values are refused as they are parsed.
	for _, args := range [][]string{{"--log-level", "loud"}, {"--quote-ttl", "soon"}, {"--providers", "x=ftp://h"}, {"--rates", "CNY/MNT"}} {
		if err := mustSettings(t, "fx").load(args, nil); err == nil {
			t.Errorf("fx %q: no error", args)
		}
	}
	if err := mustSettings(t, "risk").load([]string{"--demo-policy=maybe"}, nil); err == nil {
		t.Error("risk --demo-policy=maybe: no error")
	}
}

func TestConfigOtherServiceFlagRefused(t *testing.T) {
	for _, tc := range []struct {
		service string
		args    []string
	}{
		{"router", []string{"--quote-ttl", "1s"}},
		{"router", []string{"--dsn", "postgres://h/db"}},
		{"merchantsim", []string{"--etcd", "http://127.0.0.1:2379"}},
		{"acquirer", []string{"--peers", "a:1"}},
		{"fx", []string{"--cycle", "1h"}},
		{"walletsim", []string{"--call-timeout", "1s"}},
		{"settlement", []string{"stray"}},
	} {
		err := mustSettings(t, tc.service).load(tc.args, nil)
		if err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(tc.args[0], "--")) {
			t.Errorf("%s %q: %v", tc.service, tc.args, err)
		}
	}
}

// TestConfigClusterArgs loads each service with the flags and environment
// `unigate cluster` gives its children (cluster.go, childEnv).
func TestConfigClusterArgs(t *testing.T) {
	env := envMap{"UNIGATE_DSN": "postgres://postgres@127.0.0.1:5432/unigate_cluster?sslmode=disable"}
	base := []string{"--listen", "127.0.0.1:7120", "--etcd", "https://127.0.0.1:7140", "--pki", "/p", "--log-level", "info"}
	for _, tc := range []struct {
		service string
		more    []string
	}{
		{"acquirer", []string{"--router", "a:1,b:1", "--fx", "c:1", "--risk", "d:1", "--settlement", "e:1"}},
		{"router", nil},
		{"fx", []string{"--providers", "alpha=grpc://127.0.0.1:7135,beta=grpc://127.0.0.1:7135"}},
		{"risk", []string{"--demo-policy"}},
		{"settlement", []string{"--cycle", "1m0s"}},
	} {
		s := loaded(t, tc.service, append(slices.Clone(base), tc.more...), env)
		if err := s.validate(); err != nil {
			t.Errorf("%s: %v", tc.service, err)
		}
	}
	for _, svc := range []string{"merchantsim", "walletsim"} {
		s := loaded(t, svc, []string{"--listen", "127.0.0.1:7130", "--pki", "/p", "--log-level", "error"}, env)
		if err := s.validate(); err != nil {
			t.Errorf("%s: %v", svc, err)
		}
	}
}

func TestConfigPrintRoundTrip(t *testing.T) {
	args := map[string][]string{
		"acquirer":   {"--dsn", "postgres://app@db:5432/unigate", "--router", "dns:///router:7001", "--fx", "f:1", "--risk", "k:1", "--settlement", "s:1", "--log-level", "debug"},
		"fx":         {"--dsn", "sqlite:///tmp/fx.db", "--quote-ttl", "45s", "--rates", "CNY/MNT=480.25:10,USD/CNY=7.1", "--providers", "static=static,a=file:///r.json", "--reference-currency", ""},
		"risk":       {"--dsn", "sqlite:///tmp/r.db", "--demo-policy", "--peers", "a:1,b:2", "--etcd", ""},
		"settlement": {"--dsn", "sqlite:///tmp/s.db", "--cycle", "0s", "--advertise", "10.0.0.1:7004"},
		"router":     {"--routing-cache", "", "--metrics-listen", "0.0.0.0:9090", "--health-listen", ":7011"},
	}
	for _, svc := range services {
		s := loaded(t, svc, args[svc], nil)
		var first bytes.Buffer
		if err := s.print(&first); err != nil {
			t.Fatal(err)
		}
		again := loaded(t, svc, []string{"--config", writeFile(t, first.String())}, nil)
		var second bytes.Buffer
		if err := again.print(&second); err != nil {
			t.Fatal(err)
		}
		if first.String() != second.String() {
			t.Errorf("%s: printed, read back and printed:\n%s\n---\n%s", svc, &first, &second)
		}
		if !reflect.DeepEqual(s.config, again.config) || s.level != again.level {
			t.Errorf("%s: the configuration read back differs:\n%+v\n%+v", svc, s.config, again.config)
		}
		for _, o := range s.opts {
			if !strings.Contains(first.String(), "\n"+o.name+":") {
				t.Errorf("%s: %s not printed:\n%s", svc, o.name, &first)
			}
		}
	}
}

func TestConfigRedaction(t *testing.T) {
	s := loaded(t, "fx", []string{"--dsn", "postgres://unigate:s3cret@db:5432/unigate?sslmode=require",
		"--providers", "a=https://feed:t0ken@rates.example.com/a.json,b=https://rates.example.com/b.json?password=hunter2"}, nil)
	var out bytes.Buffer
	if err := s.print(&out); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"s3cret", "t0ken", "hunter2"} {
		if strings.Contains(out.String(), secret) {
			t.Errorf("printed %q:\n%s", secret, &out)
		}
	}
	for _, kept := range []string{"postgres://unigate:xxxxx@db:5432/unigate?sslmode=require", "a=https://feed:xxxxx@rates.example.com/a.json", "password=xxxxx"} {
		if !strings.Contains(out.String(), kept) {
			t.Errorf("want %q in:\n%s", kept, &out)
		}
	}
	for in, want := range map[string]string{
		"host=db user=u password=p dbname=x": "host=db user=u password=xxxxx dbname=x",
		"postgres://u@db/x":                  "postgres://u@db/x",
		"sqlite:///var/lib/unigate.db":       "sqlite:///var/lib/unigate.db",
		"127.0.0.1:7000":                     "127.0.0.1:7000",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestConfigEveryFlagHasEnv checks that every flag of every service is a
// setting with an environment variable derived from its name (but
// --config, read from UNIGATE_CONFIG, and --print-config, an action), and
// that -h lists exactly the service's flags with their variables.
func TestConfigEveryFlagHasEnv(t *testing.T) {
	all := map[string]bool{}
	for _, svc := range services {
		for _, o := range mustSettings(t, svc).opts {
			all[o.name] = true
		}
	}
	for _, svc := range services {
		s := mustSettings(t, svc)
		var help bytes.Buffer
		s.fs.SetOutput(&help)
		if err := s.load([]string{"-h"}, nil); err != flag.ErrHelp {
			t.Fatalf("%s -h: %v", svc, err)
		}
		s.fs.VisitAll(func(f *flag.Flag) {
			if f.Name != "config" && f.Name != "print-config" && !s.has(f.Name) {
				t.Errorf("%s: --%s is not a setting", svc, f.Name)
			}
		})
		for _, o := range s.opts {
			env := envName(o.name)
			if env != "UNIGATE_"+strings.ToUpper(strings.ReplaceAll(o.name, "-", "_")) || o.envNames()[0] != env {
				t.Errorf("%s: --%s: env %v", svc, o.name, o.envNames())
			}
			if !strings.Contains(help.String(), "--"+o.name+" ") || !strings.Contains(help.String(), "env "+strings.Join(o.envNames(), ", ")+"\n") {
				t.Errorf("%s -h lacks --%s or its env %v:\n%s", svc, o.name, o.envNames(), &help)
			}
			// Setting it by its variable alone changes what is printed,
			// unless the value is the default.
			v := s.fs.Lookup(o.name).DefValue
			fresh := loaded(t, svc, nil, envMap{env: v})
			if got := fresh.fs.Lookup(o.name).Value.String(); got != v && o.defText == "" {
				t.Errorf("%s: %s=%q gives %q", svc, env, v, got)
			}
		}
		for name := range all {
			if !s.has(name) && strings.Contains(help.String(), "--"+name+" ") {
				t.Errorf("%s -h lists another service's --%s", svc, name)
			}
		}
		if !strings.Contains(help.String(), "UNIGATE_CONFIG") {
			t.Errorf("%s -h does not say UNIGATE_CONFIG", svc)
		}
	}
}

// configDoc renders the table of every service's settings, as
// docs/configuration.md lists them.
func configDoc() string {
	var b strings.Builder
	cell := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	for _, svc := range services {
		s, _ := newSettings(svc)
		fmt.Fprintf(&b, "\n### unigate %s\n\n%s%s.\n\n", svc, strings.ToUpper(s.about[:1]), s.about[1:])
		b.WriteString("| Flag and file key | Environment | Default | |\n|---|---|---|---|\n")
		for _, o := range s.opts {
			env := make([]string, 0, 2)
			for _, e := range o.envNames() {
				env = append(env, "`"+e+"`")
			}
			def := s.defaultText(o)
			switch {
			case o.defText != "":
				def = o.defText
			case def == "":
				def = "(none)"
			default:
				def = "`" + def + "`"
			}
			fmt.Fprintf(&b, "| `--%s` | %s | %s | %s |\n", o.name, strings.Join(env, ", "), cell(def), cell(o.usage))
		}
	}
	return b.String()
}

// TestConfigDoc checks that docs/configuration.md lists every setting of
// every service as the code has it (-update-docs rewrites the tables).
func TestConfigDoc(t *testing.T) {
	const begin, end = "<!-- settings: generated by TestConfigDoc -->\n", "<!-- end of settings -->\n"
	path := filepath.Join("..", "..", "..", "docs", "configuration.md")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i < 0 || j < i {
		t.Fatalf("%s: no %q … %q section", path, begin, end)
	}
	want := doc[:i+len(begin)] + configDoc() + "\n" + doc[j:]
	if *updateDocs {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if doc != want {
		t.Errorf("%s is not the services' settings; run go test -run TestConfigDoc -update-docs ./cmd/unigate/", path)
	}
}

// TestConfigKubernetesFiles loads each service's config file of the
// Kubernetes base (deploy/k8s/base/config, mounted as --config) with the
// environment the manifests give it, and validates the result: the
// manifests' settings are ones the services take.
func TestConfigKubernetesFiles(t *testing.T) {
	files, err := filepath.Glob("../../../deploy/k8s/base/config/*.yaml")
	if err != nil || len(files) != 5 {
		t.Fatalf("config files %v (%v), want one per service", files, err)
	}
	env := envMap{"UNIGATE_DSN": "postgres://unigate@cockroachdb-public:26257/unigate?sslmode=verify-full", "UNIGATE_LOG_LEVEL": "info"}
	for _, f := range files {
		svc := strings.TrimSuffix(filepath.Base(f), ".yaml")
		s := loaded(t, svc, []string{"--config", f, "--health-listen", "0.0.0.0:8086", "--metrics-listen", "0.0.0.0:9090"}, env)
		if err := s.validate(); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		if s.common.Listen == "" || s.common.PKI == "" {
			t.Errorf("%s: listen %q, pki %q: want both from the file", f, s.common.Listen, s.common.PKI)
		}
	}
}
