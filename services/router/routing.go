package router

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/quota"
	"github.com/unigate/unigate/pkg/reqsign"
	"github.com/unigate/unigate/pkg/walletcode"
)

// Prefix is where the routing table lives in etcd:
//
//	/unigate/routing/partners/<partner_id>   JSON Partner
//	/unigate/routing/networks/<network_id>   JSON Network
const Prefix = "/unigate/routing/"

// AuditPrefix is where the router writes the audit entry of each change
// to the table, in the etcd transaction that makes the change; the
// acquirer moves the entries into the audit log (ImportAudit).
const AuditPrefix = "/unigate/audit/pending/"

// Partner is a wallet partner.
type Partner struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Currency string `json:"currency"`
	Disabled bool   `json:"disabled,omitempty"`
	// Endpoint is the gRPC target of the partner's WalletPartnerService.
	Endpoint string `json:"endpoint,omitempty"`
	// CodeRanges are the partner's one-time payment code ranges.
	CodeRanges []CodeRange `json:"code_ranges,omitempty"`
	// Limits are the partner's quotas at the acquirer (the acquirer's
	// defaults when absent); changed live.
	Limits *quota.Limits `json:"limits,omitempty"`
	// SigningKeys verify the partner's signed money-moving requests; two
	// versions overlap during a rotation.
	SigningKeys []SigningKey `json:"signing_keys,omitempty"`
	// SettlementCurrency is the currency the partner settles in (its
	// wallet's when empty).
	SettlementCurrency string `json:"settlement_currency,omitempty"`
	// FXMarkup is the partner's FX markup in tiers by amount (the FX
	// service's default when empty).
	FXMarkup []MarkupTier `json:"fx_markup,omitempty"`
	// SettlementCutoff is the partner's daily cycle cutoff, "HH:MM" in
	// SettlementTimeZone (UTC when empty); when empty its cycles close at
	// the settlement service's interval.
	SettlementCutoff   string `json:"settlement_cutoff,omitempty"`
	SettlementTimeZone string `json:"settlement_time_zone,omitempty"`
	// SettlementFees is the partner's fee agreement (none when empty).
	SettlementFees []FeeTier `json:"settlement_fees,omitempty"`
}

// FeeTier is a settlement fee for statements whose gross is at least
// FromMinor: Bps of the gross (rounded half up) plus FixedMinor per
// payment, in minor units of the statement's currency.
type FeeTier struct {
	FromMinor  int64 `json:"from_minor"`
	Bps        int   `json:"bps"`
	FixedMinor int64 `json:"fixed_minor,omitempty"`
}

// ValidateFees checks a fee agreement: tiers from 0, ascending, bps in
// 0..1000, a fixed part in 0..1,000,000 minor units.
func ValidateFees(ts []FeeTier) error {
	for i, t := range ts {
		switch {
		case t.Bps < 0 || t.Bps > 1000:
			return fmt.Errorf("fee tier %d: %d bps outside 0..1000", i, t.Bps)
		case t.FixedMinor < 0 || t.FixedMinor > 1_000_000:
			return fmt.Errorf("fee tier %d: fixed %d outside 0..1000000 minor units", i, t.FixedMinor)
		}
	}
	return ascendingFromZero("fee", len(ts), func(i int) int64 { return ts[i].FromMinor })
}

// MarkupTier is an FX markup for payments worth at least FromMinor minor
// units of the partner's settlement currency.
type MarkupTier struct {
	FromMinor int64 `json:"from_minor"`
	Bps       int   `json:"bps"`
}

// ValidateMarkup checks a tier list: ascending, the first from 0, each
// markup within 0..2000 bps.
func ValidateMarkup(ts []MarkupTier) error {
	for i, t := range ts {
		if t.Bps < 0 || t.Bps > 2000 {
			return fmt.Errorf("fx markup tier %d: %d bps outside 0..2000", i, t.Bps)
		}
	}
	return ascendingFromZero("fx markup", len(ts), func(i int) int64 { return ts[i].FromMinor })
}

// ascendingFromZero checks that n tiers start at 0 and ascend.
func ascendingFromZero(what string, n int, from func(int) int64) error {
	for i := range n {
		switch {
		case i == 0 && from(0) != 0:
			return fmt.Errorf("%s tier 0 must start at 0, not %d", what, from(0))
		case i > 0 && from(i) <= from(i-1):
			return fmt.Errorf("%s tier %d: from %d is not above tier %d's %d", what, i, from(i), i-1, from(i-1))
		}
	}
	return nil
}

// SigningKey is one version of a partner's or network's request-signing
// key (Ed25519, see package reqsign).
type SigningKey struct {
	Version string `json:"version"`
	// PublicKey is the Ed25519 public key, standard base64.
	PublicKey string `json:"public_key"`
	// NotAfter, if set, ends the version (the end of a rotation window).
	NotAfter *time.Time `json:"not_after,omitempty"`
}

// Key returns the key for verification.
func (k SigningKey) Key() (reqsign.Key, error) {
	pub, err := base64.StdEncoding.DecodeString(k.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return reqsign.Key{}, fmt.Errorf("signing key %q: want a base64 Ed25519 public key", k.Version)
	}
	if k.Version == "" || len(k.Version) > 32 {
		return reqsign.Key{}, fmt.Errorf("signing key version %q: want 1-32 characters", k.Version)
	}
	out := reqsign.Key{Version: k.Version, Public: pub}
	if k.NotAfter != nil {
		out.NotAfter = *k.NotAfter
	}
	return out, nil
}

// Keys returns the verification keys of a list (invalid ones left out:
// Validate refuses them on write).
func Keys(ks []SigningKey) []reqsign.Key {
	var out []reqsign.Key
	for _, k := range ks {
		if v, err := k.Key(); err == nil {
			out = append(out, v)
		}
	}
	return out
}

// NewSigningKey returns the registration of an Ed25519 public key.
func NewSigningKey(version string, pub ed25519.PublicKey) SigningKey {
	return SigningKey{Version: version, PublicKey: base64.StdEncoding.EncodeToString(pub)}
}

// CodeRange is a range of one-time payment codes: a decimal prefix and the
// allowed code lengths.
type CodeRange struct {
	Prefix  string `json:"prefix"`
	Lengths []int  `json:"lengths"`
}

// Validate checks a partner record.
func (p Partner) Validate() error {
	for _, k := range p.SigningKeys {
		if _, err := k.Key(); err != nil {
			return fmt.Errorf("partner %s: %w", p.ID, err)
		}
	}
	if p.Limits != nil {
		if err := p.Limits.Validate(); err != nil {
			return fmt.Errorf("partner %s: limits: %w", p.ID, err)
		}
	}
	if !validID(p.ID) {
		return fmt.Errorf("partner id %q: want 1-64 of [a-z0-9_-]", p.ID)
	}
	if _, err := money.LookupCurrency(p.Currency); err != nil {
		return fmt.Errorf("partner %s: %w", p.ID, err)
	}
	if p.SettlementCurrency != "" {
		if _, err := money.LookupCurrency(p.SettlementCurrency); err != nil {
			return fmt.Errorf("partner %s: settlement currency: %w", p.ID, err)
		}
	}
	if err := ValidateMarkup(p.FXMarkup); err != nil {
		return fmt.Errorf("partner %s: %w", p.ID, err)
	}
	if _, _, err := ParseCutoff(p.SettlementCutoff, p.SettlementTimeZone); err != nil {
		return fmt.Errorf("partner %s: %w", p.ID, err)
	}
	if err := ValidateFees(p.SettlementFees); err != nil {
		return fmt.Errorf("partner %s: %w", p.ID, err)
	}
	ranges := make([]walletcode.Range, len(p.CodeRanges))
	for i, r := range p.CodeRanges {
		ranges[i] = walletcode.Range{Prefix: r.Prefix, PartnerID: p.ID, Lengths: r.Lengths}
	}
	if err := walletcode.ValidateRanges(ranges); err != nil {
		return fmt.Errorf("partner %s: code ranges: %w", p.ID, err)
	}
	return nil
}

// Network is a merchant network.
type Network struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Endpoint string   `json:"endpoint"`
	GUIDs    []string `json:"guids"`
	Country  string   `json:"country"`
	Currency string   `json:"currency"`
	// MerchantIDTag is the sub-tag of the merchant account template that
	// holds the merchant id; "01" when empty.
	MerchantIDTag string `json:"merchant_id_tag,omitempty"`
	// URLIssuers are the issuers of URL-style codes ("wechat", "alipay")
	// this network resolves.
	URLIssuers []string `json:"url_issuers,omitempty"`
	// SigningKeys verify the network's signed money-moving requests.
	SigningKeys []SigningKey `json:"signing_keys,omitempty"`
	// SettlementFees is the network's fee agreement (none when empty).
	SettlementFees []FeeTier `json:"settlement_fees,omitempty"`
}

// Validate checks a network record.
func (n Network) Validate() error {
	for _, k := range n.SigningKeys {
		if _, err := k.Key(); err != nil {
			return fmt.Errorf("network %s: %w", n.ID, err)
		}
	}
	if !validID(n.ID) {
		return fmt.Errorf("network id %q: want 1-64 of [a-z0-9_-]", n.ID)
	}
	if n.Endpoint == "" {
		return fmt.Errorf("network %s: endpoint is required", n.ID)
	}
	if len(n.GUIDs) == 0 {
		return fmt.Errorf("network %s: at least one GUID is required", n.ID)
	}
	if _, err := money.LookupCurrency(n.Currency); err != nil {
		return fmt.Errorf("network %s: %w", n.ID, err)
	}
	if err := ValidateFees(n.SettlementFees); err != nil {
		return fmt.Errorf("network %s: %w", n.ID, err)
	}
	return nil
}

func (n Network) merchantIDTag() string {
	if n.MerchantIDTag == "" {
		return "01"
	}
	return n.MerchantIDTag
}

func validID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// Table is one immutable snapshot of the routing table.
type Table struct {
	Revision int64
	Partners map[string]Partner
	Networks map[string]Network
	byGUID   map[string]string // upper-case GUID -> network id
	byIssuer map[string]string // URL code issuer -> network id
	// Ranges are every partner's one-time code ranges.
	Ranges []walletcode.Range
	// Problems lists records that were skipped as invalid.
	Problems []string
}

// NetworkByIssuer returns the network that resolves an issuer's URL codes.
func (t *Table) NetworkByIssuer(issuer string) (Network, bool) {
	id, ok := t.byIssuer[issuer]
	if !ok {
		return Network{}, false
	}
	return t.Networks[id], true
}

// NetworkByGUID returns the network that owns a merchant account GUID.
func (t *Table) NetworkByGUID(guid string) (Network, bool) {
	id, ok := t.byGUID[strings.ToUpper(guid)]
	if !ok {
		return Network{}, false
	}
	return t.Networks[id], true
}

// SortedPartners returns the partners by id.
func (t *Table) SortedPartners() []Partner {
	out := make([]Partner, 0, len(t.Partners))
	for _, p := range t.Partners {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// SortedNetworks returns the networks by id.
func (t *Table) SortedNetworks() []Network {
	out := make([]Network, 0, len(t.Networks))
	for _, n := range t.Networks {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// buildTable parses the key-values under Prefix. Invalid records are
// skipped and listed in Problems, so one bad record cannot take the whole
// table down.
func buildTable(rev int64, kvs map[string][]byte) *Table {
	t := &Table{Revision: rev, Partners: map[string]Partner{}, Networks: map[string]Network{},
		byGUID: map[string]string{}, byIssuer: map[string]string{}}
	keys := make([]string, 0, len(kvs))
	for k := range kvs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := kvs[k]
		rest := strings.TrimPrefix(k, Prefix)
		kind, id, _ := strings.Cut(rest, "/")
		switch kind {
		case "partners":
			var p Partner
			if err := json.Unmarshal(v, &p); err != nil || p.Validate() != nil || p.ID != id {
				t.Problems = append(t.Problems, fmt.Sprintf("%s: %v", k, firstErr(err, p.Validate(), idMismatch(p.ID, id))))
				continue
			}
			ranges := make([]walletcode.Range, 0, len(t.Ranges)+len(p.CodeRanges))
			ranges = append(ranges, t.Ranges...)
			for _, r := range p.CodeRanges {
				ranges = append(ranges, walletcode.Range{Prefix: r.Prefix, PartnerID: p.ID, Lengths: r.Lengths})
			}
			if err := walletcode.ValidateRanges(ranges); err != nil {
				t.Problems = append(t.Problems, fmt.Sprintf("%s: code ranges: %v", k, err))
				continue
			}
			t.Ranges = ranges
			t.Partners[p.ID] = p
		case "networks":
			var n Network
			if err := json.Unmarshal(v, &n); err != nil || n.Validate() != nil || n.ID != id {
				t.Problems = append(t.Problems, fmt.Sprintf("%s: %v", k, firstErr(err, n.Validate(), idMismatch(n.ID, id))))
				continue
			}
			dup := ""
			for _, g := range n.GUIDs {
				if other, ok := t.byGUID[strings.ToUpper(g)]; ok {
					dup = fmt.Sprintf("GUID %s already belongs to network %s", g, other)
				}
			}
			for _, iss := range n.URLIssuers {
				if other, ok := t.byIssuer[iss]; ok {
					dup = fmt.Sprintf("URL issuer %s already belongs to network %s", iss, other)
				}
			}
			if dup != "" {
				t.Problems = append(t.Problems, k+": "+dup)
				continue
			}
			for _, g := range n.GUIDs {
				t.byGUID[strings.ToUpper(g)] = n.ID
			}
			for _, iss := range n.URLIssuers {
				t.byIssuer[iss] = n.ID
			}
			t.Networks[n.ID] = n
		default:
			t.Problems = append(t.Problems, k+": unknown record kind")
		}
	}
	return t
}

func idMismatch(inRecord, inKey string) error {
	if inRecord != inKey {
		return fmt.Errorf("id %q does not match key %q", inRecord, inKey)
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// Watcher keeps the routing table current from etcd. Table never blocks
// and always returns a complete snapshot. While etcd is unreachable the
// last table read stays in force; with CacheFile set, every table read is
// also kept on disk, so that a process can start on it when etcd is down
// (Start).
type Watcher struct {
	cli   *clientv3.Client
	log   *slog.Logger
	table atomic.Pointer[Table]
	// CacheFile, if set, is where the last table read is kept.
	CacheFile string
}

// cached is the cache file's content: the raw records, as in etcd.
type cached struct {
	Revision int64             `json:"revision"`
	Records  map[string][]byte `json:"records"`
}

// Start loads the table from etcd or, if etcd cannot be read, from the
// cache file: a process then starts on the last table it knew and Run
// brings it up to date once etcd answers. It fails only if neither can
// be read.
func (w *Watcher) Start(ctx context.Context) error {
	err := w.Load(ctx)
	if err == nil || w.CacheFile == "" {
		return err
	}
	b, cerr := os.ReadFile(w.CacheFile)
	if cerr != nil {
		return fmt.Errorf("%w (and no cached table: %v)", err, cerr)
	}
	var c cached
	if cerr := json.Unmarshal(b, &c); cerr != nil {
		return fmt.Errorf("%w (and the cached table is unreadable: %v)", err, cerr)
	}
	w.table.Store(buildTable(c.Revision, c.Records))
	w.log.WarnContext(ctx, "etcd unreachable: starting on the cached routing table", "revision", c.Revision, "cache", w.CacheFile, "err", err)
	return nil
}

// save writes the table's records to the cache file, atomically.
func (w *Watcher) save(rev int64, kvs map[string][]byte) {
	if w.CacheFile == "" {
		return
	}
	b, err := json.Marshal(cached{Revision: rev, Records: kvs})
	if err == nil {
		err = os.MkdirAll(filepath.Dir(w.CacheFile), 0o700)
	}
	if err == nil {
		tmp := fmt.Sprintf("%s.%d.tmp", w.CacheFile, os.Getpid())
		if err = os.WriteFile(tmp, b, 0o600); err == nil {
			err = os.Rename(tmp, w.CacheFile)
		}
	}
	if err != nil {
		w.log.Warn("routing table not cached", "cache", w.CacheFile, "err", err)
	}
}

// NewWatcher returns a watcher; call Load, then Run.
func NewWatcher(cli *clientv3.Client, log *slog.Logger) *Watcher {
	w := &Watcher{cli: cli, log: log}
	w.table.Store(buildTable(0, nil))
	return w
}

// Table returns the table in force.
func (w *Watcher) Table() *Table { return w.table.Load() }

// Load reads the whole table.
func (w *Watcher) Load(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := w.cli.Get(ctx, Prefix, clientv3.WithPrefix())
	if err != nil {
		return fmt.Errorf("router: load routing table: %w", err)
	}
	kvs := make(map[string][]byte, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		kvs[string(kv.Key)] = kv.Value
	}
	t := buildTable(resp.Header.Revision, kvs)
	for _, p := range t.Problems {
		w.log.WarnContext(ctx, "routing record skipped", "problem", p)
	}
	if prev := w.table.Swap(t); prev == nil || prev.Revision != t.Revision {
		w.save(t.Revision, kvs)
	}
	return nil
}

// Run watches the prefix and reloads the table on every change until ctx
// ends. A broken watch (compaction, lost connection) reloads and resumes.
func (w *Watcher) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		ch := w.cli.Watch(wctx, Prefix, clientv3.WithPrefix(), clientv3.WithRev(w.Table().Revision+1))
		for resp := range ch {
			if err := resp.Err(); err != nil {
				w.log.WarnContext(ctx, "routing watch broke; reloading", "err", err)
				break
			}
			if len(resp.Events) == 0 {
				continue
			}
			if err := w.Load(ctx); err != nil {
				w.log.WarnContext(ctx, "routing reload failed", "err", err)
				break
			}
			w.log.InfoContext(ctx, "routing table reloaded", "revision", w.Table().Revision)
		}
		cancel()
		if ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
		if err := w.Load(ctx); err != nil && ctx.Err() == nil {
			w.log.WarnContext(ctx, "routing reload failed", "err", err)
		}
	}
	return nil
}

// GetPartner reads one partner's record from etcd, bypassing any
// watcher's table; ok=false if there is none (or it does not validate).
func GetPartner(ctx context.Context, cli *clientv3.Client, id string) (p Partner, ok bool, err error) {
	resp, err := cli.Get(ctx, Prefix+"partners/"+id)
	if err != nil || len(resp.Kvs) == 0 {
		return Partner{}, false, err
	}
	if err := json.Unmarshal(resp.Kvs[0].Value, &p); err != nil || p.ID != id || p.Validate() != nil {
		return Partner{}, false, nil
	}
	return p, true, nil
}

// PutPartner writes a partner record.
func PutPartner(ctx context.Context, cli *clientv3.Client, p Partner) error {
	if err := p.Validate(); err != nil {
		return err
	}
	return put(ctx, cli, Prefix+"partners/"+p.ID, p)
}

// PutNetwork writes a network record.
func PutNetwork(ctx context.Context, cli *clientv3.Client, n Network) error {
	if err := n.Validate(); err != nil {
		return err
	}
	return put(ctx, cli, Prefix+"networks/"+n.ID, n)
}

func put(ctx context.Context, cli *clientv3.Client, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := cli.Put(ctx, key, string(b)); err != nil {
		return fmt.Errorf("router: put %s: %w", key, err)
	}
	return nil
}
