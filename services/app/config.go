package app

import (
	"crypto/sha256"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/unigate/unigate/pkg/grpcx"
	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/services/acquirer"
	"github.com/unigate/unigate/services/fx"
	"github.com/unigate/unigate/services/merchantsim"
)

// The defaults of every service's configuration, and Validate methods that
// check a configuration before it runs. Validate names a setting as
// `unigate <service>` spells it (its flag, environment variable and config
// file key): "INVALID_ARGUMENT: quote-ttl: must be positive".

// DefaultEtcd is the etcd of a service not told otherwise: one member on
// this machine.
func DefaultEtcd() []string { return []string{"http://127.0.0.1:2379"} }

// DefaultCommon is what every service starts from: a free port on the
// loopback interface, grpcx's call deadline, plaintext.
func DefaultCommon() Common {
	return Common{Listen: "127.0.0.1:0", CallTimeout: grpcx.DefaultCallTimeout}
}

// DefaultRoutingCache is the routing-table cache file of the etcd cluster
// at endpoints, in the user's cache directory ("" if there is none).
func DefaultRoutingCache(endpoints []string) string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	sum := sha256.Sum256([]byte(strings.Join(endpoints, ",")))
	return filepath.Join(dir, "unigate", "routing-"+hex.EncodeToString(sum[:6])+".json")
}

// DefaultAcquirerConfig is the acquirer's default configuration; the four
// targets have none.
func DefaultAcquirerConfig() AcquirerConfig {
	return AcquirerConfig{Common: DefaultCommon(), Etcd: DefaultEtcd(), PosterInterval: 5 * time.Second,
		Lifecycle: acquirer.DefaultConfig(), Limits: DefaultLimits()}
}

// DefaultRouterConfig is the router's default configuration.
func DefaultRouterConfig() RouterConfig {
	return RouterConfig{Common: DefaultCommon(), Etcd: DefaultEtcd()}
}

// DefaultFXConfig is the FX service's default configuration: fx's
// defaults, priced from one static provider of the demo's rates.
func DefaultFXConfig() FXConfig {
	return FXConfig{Common: DefaultCommon(), FX: fx.DefaultConfig(), Etcd: DefaultEtcd(),
		Providers: []Provider{{Name: "static", URL: "static"}}, StaticRates: DefaultStaticRates()}
}

// DefaultRiskConfig is the risk service's default configuration: no
// seeded policy, replicas found in etcd, the committed model.
func DefaultRiskConfig() RiskConfig {
	return RiskConfig{Common: DefaultCommon(), Etcd: DefaultEtcd(), PolicyPoll: time.Second}
}

// DefaultSettlementConfig is the settlement service's default
// configuration: daily cycles at midnight UTC.
func DefaultSettlementConfig() SettlementConfig {
	return SettlementConfig{Common: DefaultCommon(), Etcd: DefaultEtcd(), CycleInterval: 24 * time.Hour}
}

// DefaultMerchantSimConfig is the simulator's default configuration: the
// demo's network.
func DefaultMerchantSimConfig() MerchantSimConfig {
	return MerchantSimConfig{Common: DefaultCommon(), Sim: merchantsim.DefaultConfig()}
}

// invalid is a refused setting.
func invalid(field, reason string) error {
	return rpcerr.Field(rpcerr.InvalidArgument, field, "%s", reason)
}

// Validate checks the settings every service has: the addresses it
// listens and advertises on, and the call deadline. (The DSN and etcd are
// checked by the services that use them.)
func (c Common) Validate() error {
	if c.Listen == "" {
		return invalid("listen", "required")
	}
	for _, a := range []struct{ field, addr string }{{"listen", c.Listen}, {"advertise", c.Advertise},
		{"metrics-listen", c.MetricsListen}, {"health-listen", c.HealthListen}} {
		if a.addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			return invalid(a.field, "want host:port, got "+a.addr)
		}
	}
	if c.CallTimeout <= 0 {
		return invalid("call-timeout", "must be positive")
	}
	if c.DBMaxConns < 0 || c.DBMaxConns > 1000 {
		return invalid("db-max-conns", "must be 0 (the default) to 1000")
	}
	return nil
}

// validateDSN checks a service's database: required, of a back end
// sqlstore opens.
func validateDSN(dsn string) error {
	switch {
	case dsn == "":
		return invalid("dsn", "required")
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"), strings.HasPrefix(dsn, "sqlite:"):
		return nil
	}
	return invalid("dsn", "must start with postgres://, postgresql:// or sqlite:")
}

// validateEtcd checks a list of etcd endpoints.
func validateEtcd(endpoints []string) error {
	if len(endpoints) == 0 {
		return invalid("etcd", "required")
	}
	for _, e := range endpoints {
		if strings.TrimSpace(e) == "" {
			return invalid("etcd", "an endpoint is empty")
		}
	}
	return nil
}

// Validate checks the acquirer's configuration.
func (c AcquirerConfig) Validate() error {
	if err := c.Common.Validate(); err != nil {
		return err
	}
	if err := validateDSN(c.DSN); err != nil {
		return err
	}
	if err := validateEtcd(c.Etcd); err != nil {
		return err
	}
	for _, t := range []struct{ field, target string }{{"router", c.Router}, {"fx", c.FX}, {"risk", c.Risk}, {"settlement", c.Settlement}} {
		if t.target == "" {
			return invalid(t.field, "required (the "+t.field+" service's address)")
		}
	}
	if c.PosterInterval <= 0 {
		return invalid("poster-interval", "must be positive")
	}
	return c.Lifecycle.WithDefaults().Validate()
}

// Validate checks the router's configuration.
func (c RouterConfig) Validate() error {
	if err := c.Common.Validate(); err != nil {
		return err
	}
	return validateEtcd(c.Etcd)
}

// Validate checks the FX service's configuration.
func (c FXConfig) Validate() error {
	if err := c.Common.Validate(); err != nil {
		return err
	}
	if err := validateDSN(c.DSN); err != nil {
		return err
	}
	if err := validateEtcd(c.Etcd); err != nil {
		return err
	}
	if len(c.Providers) == 0 {
		return invalid("providers", "at least one rate provider is required")
	}
	for _, p := range c.Providers {
		if _, err := p.scheme(); err != nil {
			return invalid("providers", err.Error())
		}
		if p.URL == "static" && len(c.StaticRates) == 0 {
			return invalid("rates", "the static provider "+p.Name+" has no rates")
		}
	}
	switch {
	case c.FX.QuoteTTL <= 0:
		return invalid("quote-ttl", "must be positive")
	case c.FX.Book.Staleness <= 0:
		return invalid("rate-staleness", "must be positive")
	case c.FX.Book.OutlierBandBps <= 0:
		return invalid("outlier-band-bps", "must be positive")
	case c.FX.DefaultMarkupBps < 0 || c.FX.DefaultMarkupBps > 2000:
		return invalid("default-markup-bps", "must be within 0..2000")
	}
	if c.FX.Book.Reference != "" {
		if _, err := money.LookupCurrency(c.FX.Book.Reference); err != nil {
			return invalid("reference-currency", err.Error())
		}
	}
	return c.FX.Validate()
}

// Validate checks the risk service's configuration.
func (c RiskConfig) Validate() error {
	if err := c.Common.Validate(); err != nil {
		return err
	}
	if err := validateDSN(c.DSN); err != nil {
		return err
	}
	if len(c.Etcd) > 0 {
		if err := validateEtcd(c.Etcd); err != nil {
			return err
		}
	}
	for _, p := range c.Peers {
		if _, _, err := net.SplitHostPort(p); err != nil {
			return invalid("peers", "want host:port, got "+p)
		}
	}
	if c.PolicyPoll < 0 {
		return invalid("policy-poll", "must not be negative")
	}
	return nil
}

// Validate checks the settlement service's configuration.
func (c SettlementConfig) Validate() error {
	if err := c.Common.Validate(); err != nil {
		return err
	}
	if err := validateDSN(c.DSN); err != nil {
		return err
	}
	if err := validateEtcd(c.Etcd); err != nil {
		return err
	}
	if c.CycleInterval < 0 {
		return invalid("cycle", "must not be negative (0: cycles close only on request)")
	}
	return nil
}

// Validate checks the merchant-network simulator's configuration.
func (c MerchantSimConfig) Validate() error {
	if err := c.Common.Validate(); err != nil {
		return err
	}
	if c.Sim.NetworkID == "" {
		return invalid("network-id", "required")
	}
	return nil
}
