package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/unigate/unigate/services/app"
	"github.com/unigate/unigate/services/fx/feed"
	"github.com/unigate/unigate/services/risk"
)

// A service's configuration comes from four places; the first that sets a
// setting wins:
//
//  1. its flag (--quote-ttl 30s);
//  2. its environment variable: UNIGATE_ and the flag's name in upper
//     snake case (UNIGATE_QUOTE_TTL), or an older name it also answers to
//     (UNIGATE_FX_PROVIDERS for --providers);
//  3. the config file of --config or UNIGATE_CONFIG: YAML whose keys are
//     the flag names (quote-ttl: 30s);
//  4. the service's default (app.DefaultFXConfig, …).
//
// Every layer sets a setting through its flag's parser, so a value means
// the same wherever it is written.

// option is one setting of a service: a flag, bound to a field of the
// service's typed configuration, that is also an environment variable and
// a config file key.
type option struct {
	name  string // flag and config file key: "quote-ttl"
	usage string
	// aliases are older environment variables read when the option's own
	// is unset.
	aliases []string
	// defText, if set, describes the default for -h and the docs instead
	// of the value (a default computed from other settings).
	defText string
}

// envName is the environment variable of a flag: UNIGATE_QUOTE_TTL for
// quote-ttl.
func envName(flagName string) string {
	return "UNIGATE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// envNames are the variables an option is read from, its own first.
func (o option) envNames() []string { return append([]string{envName(o.name)}, o.aliases...) }

// settings are one service's options and the typed configuration they
// fill.
type settings struct {
	service string
	about   string
	fs      *flag.FlagSet
	opts    []option
	// config is the typed configuration (*app.FXConfig, …; *app.Common
	// for the wallet simulator), Common the part of it every service has.
	config any
	common *app.Common
	level  slog.Level
	// etcd is the service's etcd endpoints, if it has them; routingCache
	// says whether it has the --routing-cache option, whose default
	// depends on them.
	etcd         *[]string
	routingCache bool
	validate     func() error
	run          func(context.Context) error
	// configFile and printConfig are the two options that are not
	// settings: where the file is, and whether to print instead of run.
	configFile  string
	printConfig bool
}

// shared selects the options a service has among those several have
// (listen, pki, log-level, metrics-listen and health-listen are
// everyone's).
type shared struct {
	dsn, advertise, routingCache, callTimeout bool
	etcd                                      *[]string // the service's etcd endpoints
}

// newSettings returns the settings of service, with its defaults, or false
// if there is no such service.
func newSettings(service string) (*settings, bool) {
	s := &settings{service: service, fs: flag.NewFlagSet(service, flag.ContinueOnError), level: slog.LevelInfo}
	s.fs.StringVar(&s.configFile, "config", "", "YAML file of settings, keyed by flag name (env UNIGATE_CONFIG)")
	s.fs.BoolVar(&s.printConfig, "print-config", false, "print the configuration in force as YAML and exit without starting (status 1 if it is invalid)")
	s.fs.Usage = func() { s.usage(s.fs.Output()) }
	switch service {
	case "acquirer":
		cfg := app.DefaultAcquirerConfig()
		s.about = "the partner API and payment orchestration"
		s.addCommon(&cfg.Common, shared{dsn: true, advertise: true, routingCache: true, callTimeout: true, etcd: &cfg.Etcd})
		s.str(&cfg.Router, "router", "router target: host:port, dns:///name:port, or several comma-separated")
		s.str(&cfg.FX, "fx", "fx target")
		s.str(&cfg.Risk, "risk", "risk target")
		s.str(&cfg.Settlement, "settlement", "settlement target")
		s.finish(&cfg, func(ctx context.Context) error { return app.RunAcquirer(ctx, cfg) })
	case "router":
		cfg := app.DefaultRouterConfig()
		s.about = "code classification and the routing table (etcd)"
		s.addCommon(&cfg.Common, shared{routingCache: true, callTimeout: true, etcd: &cfg.Etcd})
		s.finish(&cfg, func(ctx context.Context) error { return app.RunRouter(ctx, cfg) })
	case "fx":
		cfg := app.DefaultFXConfig()
		s.about = "rates, quotes and quote locks"
		s.addCommon(&cfg.Common, shared{dsn: true, advertise: true, routingCache: true, etcd: &cfg.Etcd})
		s.add(option{name: "providers", aliases: []string{"UNIGATE_FX_PROVIDERS"},
			usage: "rate providers NAME=URL,… with URL grpc://HOST:PORT (unigate fxsim), http(s)://… or file:///… (a JSON rate sheet), or static"},
			providersValue{&cfg.Providers})
		s.add(option{name: "rates", defText: "the demo rates (also when empty)",
			usage: "rates of a static provider BASE/QUOTE=MID[:SPREAD_BPS],…"}, ratesValue{&cfg.StaticRates})
		s.fs.DurationVar(&cfg.FX.QuoteTTL, "quote-ttl", cfg.FX.QuoteTTL, "how long a quote holds")
		s.opt("quote-ttl")
		s.fs.DurationVar(&cfg.FX.Book.Staleness, "rate-staleness", cfg.FX.Book.Staleness, "age beyond which a provider's rate is never used")
		s.opt("rate-staleness")
		s.fs.Int64Var(&cfg.FX.Book.OutlierBandBps, "outlier-band-bps", cfg.FX.Book.OutlierBandBps,
			"a rate further than this from the median of a pair's fresh providers is rejected")
		s.opt("outlier-band-bps")
		s.fs.IntVar(&cfg.FX.DefaultMarkupBps, "default-markup-bps", cfg.FX.DefaultMarkupBps, "FX markup of a partner without markup tiers")
		s.opt("default-markup-bps")
		s.str(&cfg.FX.Book.Reference, "reference-currency", "currency a cross rate goes through")
		s.finish(&cfg, func(ctx context.Context) error { return app.RunFX(ctx, cfg) })
	case "risk":
		cfg := app.DefaultRiskConfig()
		s.about = "pre-transaction checks"
		s.addCommon(&cfg.Common, shared{dsn: true, advertise: true, etcd: &cfg.Etcd})
		s.add(option{name: "peers", aliases: []string{"UNIGATE_RISK_PEERS"},
			usage: "comma-separated addresses of the other risk replicas, to share velocity with, instead of those registered in etcd"},
			listValue{&cfg.Peers})
		s.add(option{name: "model", aliases: []string{"UNIGATE_RISK_MODEL"}, usage: "risk model file to load instead of the committed one"},
			stringValue{&cfg.ModelFile})
		s.add(option{name: "demo-policy", usage: "seed the demo's risk policy when none was ever configured (the demo cluster)"},
			demoPolicyValue{&cfg.Seed})
		s.finish(&cfg, func(ctx context.Context) error { return app.RunRisk(ctx, cfg) })
	case "settlement":
		cfg := app.DefaultSettlementConfig()
		s.about = "the double-entry ledger"
		s.addCommon(&cfg.Common, shared{dsn: true, advertise: true, routingCache: true, etcd: &cfg.Etcd})
		s.fs.DurationVar(&cfg.CycleInterval, "cycle", cfg.CycleInterval,
			"the cycle of each partner without a daily cutoff of its own closes at every multiple of it, UTC (0: only on request)")
		s.opt("cycle")
		s.finish(&cfg, func(ctx context.Context) error { return app.RunSettlement(ctx, cfg) })
	case "merchantsim":
		cfg := app.DefaultMerchantSimConfig()
		s.about = "a merchant-network simulator"
		s.addCommon(&cfg.Common, shared{})
		s.finish(&cfg, func(ctx context.Context) error { return app.RunMerchantSim(ctx, cfg) })
	case "walletsim":
		cfg := app.DefaultCommon()
		s.about = "a wallet-partner simulator: WalletPartnerService for the demo partners"
		s.addCommon(&cfg, shared{})
		s.finish(&cfg, func(ctx context.Context) error { return app.RunWalletSim(ctx, cfg) })
	default:
		return nil, false
	}
	return s, true
}

// finish records the typed configuration (a pointer to the variable run
// reads, so that both see what load sets) and how to run it.
func (s *settings) finish(cfg any, run func(context.Context) error) {
	s.config = cfg
	s.validate = func() error { return cfg.(interface{ Validate() error }).Validate() }
	s.run = run
}

// addCommon adds the options every service, or those sh names, has.
func (s *settings) addCommon(c *app.Common, sh shared) {
	s.common = c
	s.str(&c.Listen, "listen", "gRPC listen address")
	if sh.advertise {
		s.str(&c.Advertise, "advertise",
			"host:port other replicas reach this one at (default: the listen address, unless its host is unspecified); standbys follow the leader there to replace it at once if it dies")
	}
	if sh.dsn {
		s.str(&c.DSN, "dsn", "SQL back end: postgres://… or sqlite:///path")
		s.fs.IntVar(&c.DBMaxConns, "db-max-conns", c.DBMaxConns,
			"connections to PostgreSQL or CockroachDB at most (0: 32); every replica's pool counts against the server's max_connections")
		s.opt("db-max-conns")
	}
	if sh.etcd != nil {
		s.etcd = sh.etcd
		s.add(option{name: "etcd", usage: "etcd endpoints, comma-separated"}, listValue{sh.etcd})
	}
	s.str(&c.PKI, "pki",
		"PKI directory (ca/*.crt, service/NAME.crt|key; see unigatectl certs dev): mutual TLS on every call; empty: plaintext, for local experiments only")
	if sh.routingCache {
		s.routingCache = true
		s.add(option{name: "routing-cache", defText: "in the user's cache directory, per etcd cluster",
			usage: "file keeping the last routing table read, to start on it while etcd is unreachable"}, stringValue{&c.RoutingCache})
	}
	if sh.callTimeout {
		s.fs.DurationVar(&c.CallTimeout, "call-timeout", c.CallTimeout, "deadline of each outbound call")
		s.opt("call-timeout")
	}
	s.add(option{name: "log-level", usage: "debug, info, warn or error"}, levelValue{&s.level})
	s.str(&c.MetricsListen, "metrics-listen", "HTTP address serving Prometheus metrics at /metrics; empty: none")
	s.fs.BoolVar(&c.Pprof, "pprof", c.Pprof, "also serve Go's profiles (net/http/pprof) at /debug/pprof/ on the metrics-listen address")
	s.opt("pprof")
	s.str(&c.HealthListen, "health-listen",
		"plaintext gRPC address serving only the standard health service, for probes that cannot present a client certificate; empty: none")
}

// add registers an option whose flag parses into v.
func (s *settings) add(o option, v flag.Value) {
	s.fs.Var(v, o.name, o.usage)
	s.opts = append(s.opts, o)
}

// str adds a string option.
func (s *settings) str(p *string, name, usage string) {
	s.add(option{name: name, usage: usage}, stringValue{p})
}

// opt records as an option the flag name just registered on s.fs.
func (s *settings) opt(name string) {
	s.opts = append(s.opts, option{name: name, usage: s.fs.Lookup(name).Usage})
}

// lookupEnv reads an environment variable (os.LookupEnv, or a test's).
type lookupEnv func(string) (string, bool)

// load sets the configuration from args, the environment and the config
// file, over the defaults. It returns flag.ErrHelp after printing the
// usage for -h.
func (s *settings) load(args []string, env lookupEnv) error {
	if err := s.fs.Parse(args); err != nil {
		return err
	}
	if s.fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", s.fs.Arg(0))
	}
	// The command line is applied last: remember it, and start again
	// from the defaults.
	explicit := map[string]string{}
	s.fs.Visit(func(f *flag.Flag) { explicit[f.Name] = f.Value.String() })
	for _, o := range s.opts {
		if err := s.fs.Set(o.name, s.fs.Lookup(o.name).DefValue); err != nil {
			return fmt.Errorf("default of %s: %w", o.name, err)
		}
	}
	if _, ok := explicit["config"]; !ok {
		if v, ok := env("UNIGATE_CONFIG"); ok {
			s.configFile = v
		}
	}
	if s.configFile != "" {
		if err := s.loadFile(s.configFile); err != nil {
			return err
		}
	}
	for _, o := range s.opts {
		for _, name := range o.envNames() {
			v, ok := env(name)
			if !ok || v == "" {
				continue
			}
			if err := s.fs.Set(o.name, v); err != nil {
				return fmt.Errorf("%s=%q: %w", name, redact(v), err)
			}
			break
		}
	}
	for _, o := range s.opts {
		if v, ok := explicit[o.name]; ok {
			if err := s.fs.Set(o.name, v); err != nil {
				return fmt.Errorf("--%s: %w", o.name, err)
			}
		}
	}
	if s.routingCache && s.common.RoutingCache == "" {
		s.common.RoutingCache = app.DefaultRoutingCache(*s.etcd)
	}
	return nil
}

// loadFile applies a config file: a YAML mapping of flag names to values
// (a list stands for its items joined by commas).
func (s *settings) loadFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	kv, err := parseConfigFile(b)
	if err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	for _, e := range kv {
		if !s.has(e.key) {
			return fmt.Errorf("config file %s: line %d: unknown key %q (unigate %s -h lists the settings)",
				path, e.line, e.key, s.service)
		}
		if err := s.fs.Set(e.key, e.value); err != nil {
			return fmt.Errorf("config file %s: line %d: %s: %w", path, e.line, e.key, err)
		}
	}
	return nil
}

// has reports whether name is one of the service's settings.
func (s *settings) has(name string) bool {
	for _, o := range s.opts {
		if o.name == name {
			return true
		}
	}
	return false
}

// fileEntry is one key of a config file.
type fileEntry struct {
	key, value string
	line       int
}

// parseConfigFile parses a config file's YAML mapping, keeping each value's
// text as written.
func parseConfigFile(b []byte) ([]fileEntry, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 { // empty, or only comments
		return nil, nil
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: want a mapping of setting: value", m.Line)
	}
	var out []fileEntry
	seen := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("line %d: a key must be a setting's name", k.Line)
		}
		if seen[k.Value] {
			return nil, fmt.Errorf("line %d: %s set twice", k.Line, k.Value)
		}
		seen[k.Value] = true
		value, err := scalarText(v)
		if err != nil {
			return nil, fmt.Errorf("line %d: %s: %w", v.Line, k.Value, err)
		}
		out = append(out, fileEntry{key: k.Value, value: value, line: k.Line})
	}
	return out, nil
}

// scalarText is a YAML value as a flag's text: a scalar as written (null
// as empty), a list of scalars joined by commas.
func scalarText(n *yaml.Node) (string, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "", nil
		}
		return n.Value, nil
	case yaml.SequenceNode:
		items := make([]string, 0, len(n.Content))
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return "", errors.New("want a value or a list of values")
			}
			items = append(items, c.Value)
		}
		return strings.Join(items, ","), nil
	}
	return "", errors.New("want a value or a list of values")
}

// print writes the configuration in force as a config file: every
// setting, keyed by its flag name, passwords redacted.
func (s *settings) print(w io.Writer) error {
	m := &yaml.Node{Kind: yaml.MappingNode}
	for _, o := range s.opts {
		v := &yaml.Node{Kind: yaml.ScalarNode, Value: redact(s.fs.Lookup(o.name).Value.String())}
		if v.Value == "" {
			v.Style = yaml.DoubleQuotedStyle // "", not null
		}
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: o.name}, v)
	}
	doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{m},
		HeadComment: fmt.Sprintf("unigate %s: the configuration in force (flags, environment, config file, defaults)", s.service)}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return err
	}
	return enc.Close()
}

// Passwords in a printed value: a URL's user:password@ (a PostgreSQL
// DSN, a rate provider's URL) and password= parameters.
var (
	urlPassword   = regexp.MustCompile(`(://[^/@:\s]*:)[^/@\s]*@`)
	paramPassword = regexp.MustCompile(`(?i)((?:^|[?&\s])password=)[^&\s]*`)
)

// redact hides the passwords in a setting's value.
func redact(v string) string {
	v = urlPassword.ReplaceAllString(v, "${1}xxxxx@")
	return paramPassword.ReplaceAllString(v, "${1}xxxxx")
}

// usage prints the service's flags, each with its environment variables
// and default.
func (s *settings) usage(w io.Writer) {
	fmt.Fprintf(w, "usage: unigate %s [flags]\n\nunigate %s: %s.\n\n", s.service, s.service, s.about)
	fmt.Fprintf(w, "Each setting is a flag, an environment variable and a key of the --config file;\n")
	fmt.Fprintf(w, "a flag wins over the environment, which wins over the file.\n\n")
	for _, name := range []string{"config", "print-config"} {
		f := s.fs.Lookup(name)
		fmt.Fprintf(w, "  --%s\n    \t%s\n", name, f.Usage)
	}
	fmt.Fprintln(w)
	for _, o := range s.opts {
		f := s.fs.Lookup(o.name)
		typ, _ := flag.UnquoteUsage(f)
		if t, ok := f.Value.(interface{ Type() string }); ok {
			typ = t.Type()
		}
		fmt.Fprintf(w, "  --%s %s\n    \t%s", o.name, typ, o.usage)
		if d := s.defaultText(o); d != "" {
			fmt.Fprintf(w, " (default %s)", d)
		}
		fmt.Fprintf(w, "\n    \tenv %s\n", strings.Join(o.envNames(), ", "))
	}
}

// defaultText describes an option's default ("" if it has none).
func (s *settings) defaultText(o option) string {
	if o.defText != "" {
		return o.defText
	}
	return s.fs.Lookup(o.name).DefValue
}

// runService runs one service with the configuration in force, or prints
// it (--print-config).
func runService(ctx context.Context, name string, args []string) error {
	s, ok := newSettings(name)
	if !ok {
		return fmt.Errorf("unknown service %q", name)
	}
	if err := s.load(args, os.LookupEnv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	if s.printConfig {
		if err := s.print(os.Stdout); err != nil {
			return err
		}
	}
	if err := s.validate(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if s.printConfig {
		return nil
	}
	return runWith(ctx, s)
}

// flag.Value implementations for the settings that are not a plain
// string, number or duration. Each String is the text its Set parses, so
// a printed configuration reads back the same.

type stringValue struct{ p *string }

func (v stringValue) String() string {
	if v.p == nil {
		return ""
	}
	return *v.p
}
func (v stringValue) Set(s string) error { *v.p = s; return nil }
func (v stringValue) Type() string       { return "string" }

// listValue is a comma-separated list; empty items are dropped.
type listValue struct{ p *[]string }

func (v listValue) String() string {
	if v.p == nil {
		return ""
	}
	return strings.Join(*v.p, ",")
}

func (v listValue) Type() string { return "list" }

func (v listValue) Set(s string) error {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	*v.p = out
	return nil
}

// levelValue is a log level: debug, info, warn or error.
type levelValue struct{ p *slog.Level }

func (v levelValue) String() string {
	if v.p == nil {
		return ""
	}
	return strings.ToLower(v.p.String())
}

func (v levelValue) Type() string { return "level" }

func (v levelValue) Set(s string) error {
	if err := v.p.UnmarshalText([]byte(s)); err != nil {
		return errors.New("want debug, info, warn or error")
	}
	return nil
}

// providersValue is fx's rate providers, NAME=URL,….
type providersValue struct{ p *[]app.Provider }

func (v providersValue) String() string {
	if v.p == nil {
		return ""
	}
	items := make([]string, len(*v.p))
	for i, p := range *v.p {
		items[i] = p.Name + "=" + p.URL
	}
	return strings.Join(items, ",")
}

func (v providersValue) Type() string { return "list" }

func (v providersValue) Set(s string) error {
	ps, err := app.ParseProviders(s)
	if err == nil {
		*v.p = ps
	}
	return err
}

// ratesValue is a static provider's rates, BASE/QUOTE=MID[:SPREAD_BPS],…;
// empty means the demo's.
type ratesValue struct{ p *[]feed.StaticRate }

func (v ratesValue) String() string {
	if v.p == nil {
		return ""
	}
	items := make([]string, len(*v.p))
	for i, r := range *v.p {
		items[i] = r.Base + "/" + r.Quote + "=" + r.Mid.String()
		if r.SpreadBps != 0 {
			items[i] += ":" + strconv.Itoa(r.SpreadBps)
		}
	}
	return strings.Join(items, ",")
}

func (v ratesValue) Type() string { return "list" }

func (v ratesValue) Set(s string) error {
	if strings.TrimSpace(s) == "" {
		*v.p = app.DefaultStaticRates()
		return nil
	}
	rs, err := app.ParseStaticRates(s)
	if err == nil {
		*v.p = rs
	}
	return err
}

// demoPolicyValue is a boolean flag that seeds risk with the demo's
// policy.
type demoPolicyValue struct{ p **risk.Policy }

func (v demoPolicyValue) IsBoolFlag() bool { return true }
func (v demoPolicyValue) Type() string     { return "" }

func (v demoPolicyValue) String() string {
	return strconv.FormatBool(v.p != nil && *v.p != nil)
}

func (v demoPolicyValue) Set(s string) error {
	on, err := strconv.ParseBool(s)
	if err != nil {
		return errors.New("want true or false")
	}
	*v.p = nil
	if on {
		demo := app.DemoRisk()
		*v.p = &demo
	}
	return nil
}
