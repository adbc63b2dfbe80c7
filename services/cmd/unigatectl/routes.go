package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/protobuf/types/known/timestamppb"

	routerv1 "github.com/unigate/unigate/proto/gen/unigate/router/v1"

	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/pki"
	"github.com/unigate/unigate/services/app"
)

func newRoutesCmd(g *globals) *cobra.Command {
	return group("routes", "read and change the routing table", `Read the routing table in force (partners and merchant networks, from the
router), and change a record of it through the router (admin operators
only; every change is audited with its before and after).`,
		newRoutesGetCmd(g), newPutPartnerCmd(g), newPutNetworkCmd(g))
}

// routingTable reads the table in force from the router.
func (g globals) routingTable(ctx context.Context) (*routerv1.GetRoutingTableResponse, error) {
	conn, err := g.dial(g.router)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return routerv1.NewRouterServiceClient(conn).GetRoutingTable(ctx, &routerv1.GetRoutingTableRequest{})
}

func newRoutesGetCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get",
		Short: "the routing table in force",
		Long: `Print the routing table the router has in force: its partners (wallets) and
merchant networks. -o json prints the whole table as the API returns it,
signing keys, limits and fee tiers included.`,
		Example: `  unigatectl routes get
  unigatectl routes get -o json`,
		Args: noArgs,
	}
	o := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		t, err := g.routingTable(cmd.Context())
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		return o.print(out, t, func() error {
			if err := partnerTable(out, t.GetPartners()); err != nil {
				return err
			}
			fmt.Fprintln(out)
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NETWORK\tNAME\tCOUNTRY\tCURRENCY\tENDPOINT\tGUIDS\tURL ISSUERS\tKEYS")
			for _, n := range t.GetNetworks() {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.GetNetworkId(), n.GetName(), n.GetCountry(), n.GetCurrency(),
					orDash(n.GetEndpoint()), orDash(strings.Join(n.GetGuids(), ",")), orDash(strings.Join(n.GetUrlIssuers(), ",")),
					keyVersions(n.GetSigningKeys()))
			}
			return tw.Flush()
		})
	}
	return cmd
}

func partnerTable(out io.Writer, ps []*routerv1.Partner) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTNER\tNAME\tCURRENCY\tSTATE\tENDPOINT\tCODE RANGES\tKEYS")
	for _, p := range ps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.GetPartnerId(), p.GetName(), p.GetCurrency(), partnerState(p),
			orDash(p.GetEndpoint()), orDash(formatCodeRanges(p.GetCodeRanges())), keyVersions(p.GetSigningKeys()))
	}
	return tw.Flush()
}

func partnerState(p *routerv1.Partner) string {
	if p.GetDisabled() {
		return "suspended"
	}
	return "active"
}

func keyVersions(ks []*routerv1.SigningKey) string {
	var vs []string
	for _, k := range ks {
		v := k.GetVersion()
		if k.GetNotAfter() != nil {
			v += " (until " + when(k.GetNotAfter()) + ")"
		}
		vs = append(vs, v)
	}
	return orDash(strings.Join(vs, ","))
}

// formatCodeRanges writes code ranges as --code-ranges takes them.
func formatCodeRanges(rs []*routerv1.CodeRange) string {
	var out []string
	for _, r := range rs {
		var ls []string
		for _, l := range r.GetLengths() {
			ls = append(ls, strconv.Itoa(int(l)))
		}
		out = append(out, r.GetPrefix()+":"+strings.Join(ls, "/"))
	}
	return strings.Join(out, ",")
}

// partnerDetail prints one partner's record as "field: value" lines.
func partnerDetail(out io.Writer, p *routerv1.Partner) error {
	var markup, fees []string
	for _, m := range p.GetFxMarkup() {
		markup = append(markup, fmt.Sprintf("%d:%d", m.GetFromMinorUnits(), m.GetMarkupBps()))
	}
	for _, f := range p.GetSettlementFees() {
		fees = append(fees, fmt.Sprintf("%d:%d:%d", f.GetFromMinorUnits(), f.GetBps(), f.GetFixedMinorUnits()))
	}
	return fieldTable(out, [][2]string{
		{"partner", p.GetPartnerId()}, {"name", p.GetName()}, {"state", partnerState(p)}, {"wallet currency", p.GetCurrency()},
		{"endpoint", orDash(p.GetEndpoint())}, {"code ranges", orDash(formatCodeRanges(p.GetCodeRanges()))},
		{"signing keys", keyVersions(p.GetSigningKeys())}, {"settlement currency", orDash(p.GetSettlementCurrency())},
		{"fx markup", orDash(strings.Join(markup, ","))}, {"settlement cutoff", orDash(p.GetSettlementCutoff())},
		{"time zone", orDash(p.GetSettlementTimeZone())}, {"fees", orDash(strings.Join(fees, ","))},
	})
}

// keyFlags edit a record's request-signing keys: add or replace a
// version, end one, remove one.
type keyFlags struct {
	set, notAfter map[string]string
	remove        []string
	dev           bool
}

func (k *keyFlags) register(fs *pflag.FlagSet) {
	k.set, k.notAfter = map[string]string{}, map[string]string{}
	pair := func(m map[string]string) func(string) error {
		return func(v string) error {
			name, val, ok := strings.Cut(v, "=")
			if !ok || name == "" || val == "" {
				return fmt.Errorf("%q: want VERSION=VALUE", v)
			}
			m[name] = val
			return nil
		}
	}
	fs.Func("signing-key", "add or replace a request-signing key version: VERSION=BASE64_ED25519_PUBLIC_KEY (repeatable)", pair(k.set))
	fs.Func("key-not-after", "end a key version at a time: VERSION=RFC3339 (repeatable)", pair(k.notAfter))
	fs.Func("remove-key", "remove a key version (repeatable)", func(v string) error { k.remove = append(k.remove, v); return nil })
	fs.BoolVar(&k.dev, "dev-signing-key", false, "register the development PKI's signing key of this partner or network (--pki) as version v1")
}

// addDev adds the development PKI's signing key of kind/id as v1.
func (k *keyFlags) addDev(g globals, kind authn.Kind, id string) error {
	if !k.dev {
		return nil
	}
	if g.pki == "" {
		return errors.New("--dev-signing-key needs --pki")
	}
	sk, err := app.DevSigningKey(pki.Dev{Dir: g.pki}, kind, id)
	if err != nil {
		return err
	}
	k.set[app.DevKeyVersion] = sk.PublicKey
	return nil
}

func (k *keyFlags) apply(keys []*routerv1.SigningKey) ([]*routerv1.SigningKey, error) {
	byVersion := map[string]*routerv1.SigningKey{}
	var order []string
	for _, key := range keys {
		byVersion[key.GetVersion()] = key
		order = append(order, key.GetVersion())
	}
	for v, pub := range k.set {
		if _, ok := byVersion[v]; !ok {
			order = append(order, v)
		}
		byVersion[v] = &routerv1.SigningKey{Version: v, PublicKey: pub}
	}
	for v, at := range k.notAfter {
		key, ok := byVersion[v]
		if !ok {
			return nil, fmt.Errorf("--key-not-after: no key version %q", v)
		}
		t, err := time.Parse(time.RFC3339, at)
		if err != nil {
			return nil, fmt.Errorf("--key-not-after %s: %w", v, err)
		}
		key.NotAfter = timestamppb.New(t)
	}
	for _, v := range k.remove {
		if _, ok := byVersion[v]; !ok {
			return nil, fmt.Errorf("--remove-key: no key version %q", v)
		}
		delete(byVersion, v)
	}
	var out []*routerv1.SigningKey
	for _, v := range order {
		if key, ok := byVersion[v]; ok {
			out = append(out, key)
			delete(byVersion, v)
		}
	}
	return out, nil
}

// partnerFlags are the fields of a partner's record a command may change:
// those given change the record in force, the rest of it is kept.
type partnerFlags struct {
	name, currency, endpoint, ranges, settle, markup, cutoff, zone, fees string
	disabled                                                             bool
	keys                                                                 keyFlags
}

func (f *partnerFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.name, "name", "", "display name")
	fs.StringVar(&f.currency, "currency", "", "wallet currency (ISO 4217)")
	fs.BoolVar(&f.disabled, "disabled", false, "refuse the partner's requests (--disabled=false enables it)")
	fs.StringVar(&f.endpoint, "endpoint", "", "gRPC target of the partner's WalletPartnerService (HOST:PORT)")
	fs.StringVar(&f.ranges, "code-ranges", "", "one-time code ranges PREFIX:LENGTH[/LENGTH…], comma-separated")
	fs.StringVar(&f.settle, "settlement-currency", "", "currency the partner settles in (ISO 4217; empty: its wallet's)")
	fs.StringVar(&f.markup, "fx-markup", "", "FX markup tiers FROM_MINOR:BPS,… ascending from 0 (0:150,100000:80); empty: the FX default")
	fs.StringVar(&f.cutoff, "settlement-cutoff", "", "daily settlement cutoff HH:MM in --time-zone (empty: the settlement service's interval)")
	fs.StringVar(&f.zone, "time-zone", "", "IANA time zone of the settlement cutoff (Asia/Ulaanbaatar; empty: UTC)")
	fs.StringVar(&f.fees, "fees", "", "settlement fee tiers FROM_MINOR:BPS[:FIXED_MINOR],… ascending from 0 (0:50:10,1000000:30); empty: none")
	f.keys.register(fs)
}

// apply changes p by the flags given on fs.
func (f *partnerFlags) apply(fs *pflag.FlagSet, p *routerv1.Partner) error {
	var err error
	fs.Visit(func(fl *pflag.Flag) {
		if err != nil {
			return
		}
		switch fl.Name {
		case "name":
			p.Name = f.name
		case "currency":
			p.Currency = f.currency
		case "disabled":
			p.Disabled = f.disabled
		case "endpoint":
			p.Endpoint = f.endpoint
		case "code-ranges":
			p.CodeRanges, err = parseCodeRanges(f.ranges)
		case "settlement-currency":
			p.SettlementCurrency = f.settle
		case "fx-markup":
			p.FxMarkup, err = parseMarkup(f.markup)
		case "settlement-cutoff":
			p.SettlementCutoff = f.cutoff
		case "time-zone":
			p.SettlementTimeZone = f.zone
		case "fees":
			p.SettlementFees, err = parseFees(f.fees)
		}
	})
	if err != nil {
		return err
	}
	p.SigningKeys, err = f.keys.apply(p.SigningKeys)
	return err
}

// putPartner changes a partner's record through the router (admin
// operators only): change edits the record in force (a new one if
// exists is false) before it is put.
func (g globals) putPartner(ctx context.Context, id string, keys *keyFlags, change func(p *routerv1.Partner, exists bool) error) (*routerv1.PutPartnerResponse, error) {
	if err := keys.addDev(g, authn.Partner, id); err != nil {
		return nil, err
	}
	conn, err := g.dial(g.router)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	table, err := routerv1.NewRouterServiceClient(conn).GetRoutingTable(ctx, &routerv1.GetRoutingTableRequest{})
	if err != nil {
		return nil, err
	}
	p, exists := &routerv1.Partner{PartnerId: id}, false
	for _, cur := range table.GetPartners() {
		if cur.GetPartnerId() == id {
			p, exists = cur, true
		}
	}
	if err := change(p, exists); err != nil {
		return nil, err
	}
	return routerv1.NewRoutingAdminServiceClient(conn).PutPartner(ctx, &routerv1.PutPartnerRequest{Partner: p})
}

// printPut prints a changed partner's record, the table's revision and
// the change's audit entry.
func printPut(out io.Writer, o *output, resp *routerv1.PutPartnerResponse) error {
	return o.print(out, resp, func() error {
		if err := partnerDetail(out, resp.GetPartner()); err != nil {
			return err
		}
		_, err := fmt.Fprintf(out, "routing table revision %d, audit entry %s\n", resp.GetRevision(), resp.GetAuditEntryId())
		return err
	})
}

const putPartnerLong = `Change a partner's record through the router (admin operators only; the
change is audited with its before and after). The flags given change the
record in force; the rest of it is kept. A partner not in the table is
added.`

func newPutPartnerCmd(g *globals) *cobra.Command {
	var (
		id string
		f  partnerFlags
	)
	cmd := &cobra.Command{
		Use:   "put-partner --id ID [flags]",
		Short: "change a partner's record (admin)",
		Long:  putPartnerLong,
		Example: `  unigatectl routes put-partner --id hipay --name HiPay --currency MNT --code-ranges 2899:18 --endpoint 127.0.0.1:7010
  unigatectl routes put-partner --id hipay --signing-key v2=BASE64_PUBLIC_KEY
  unigatectl routes put-partner --id hipay --fees 0:100:5 --settlement-cutoff 18:00 --time-zone Asia/Ulaanbaatar`,
		Args: noArgs,
	}
	cmd.Flags().StringVar(&id, "id", "", "partner id (required)")
	f.register(cmd.Flags())
	o := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if id == "" {
			return required(cmd, "id")
		}
		resp, err := g.putPartner(cmd.Context(), id, &f.keys, func(p *routerv1.Partner, _ bool) error { return f.apply(cmd.Flags(), p) })
		if err != nil {
			return err
		}
		return printPut(cmd.OutOrStdout(), o, resp)
	}
	return cmd
}

// parseFees parses fee tiers FROM_MINOR:BPS[:FIXED_MINOR],…
func parseFees(s string) ([]*routerv1.FeeTier, error) {
	var out []*routerv1.FeeTier
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		parts := strings.Split(item, ":")
		if len(parts) == 2 {
			parts = append(parts, "0")
		}
		var n [3]int64
		var err error
		for i := 0; err == nil && i < 3 && len(parts) == 3; i++ {
			n[i], err = strconv.ParseInt(parts[i], 10, 64)
		}
		if len(parts) != 3 || err != nil || n[1] < 0 || n[1] > 1000 {
			return nil, fmt.Errorf("fee tier %q: want FROM_MINOR:BPS[:FIXED_MINOR], BPS 0..1000", item)
		}
		out = append(out, &routerv1.FeeTier{FromMinorUnits: n[0], Bps: int32(n[1]), FixedMinorUnits: n[2]})
	}
	return out, nil
}

// parseMarkup parses FX markup tiers "0:150,100000:80".
func parseMarkup(s string) ([]*routerv1.MarkupTier, error) {
	var out []*routerv1.MarkupTier
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		from, bps, ok := strings.Cut(item, ":")
		f, err1 := strconv.ParseInt(from, 10, 64)
		b, err2 := strconv.ParseInt(bps, 10, 32)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("fx markup tier %q: want FROM_MINOR:BPS", item)
		}
		out = append(out, &routerv1.MarkupTier{FromMinorUnits: f, MarkupBps: int32(b)})
	}
	return out, nil
}

// parseCodeRanges parses code ranges "PREFIX:LENGTH[/LENGTH…],…".
func parseCodeRanges(s string) ([]*routerv1.CodeRange, error) {
	var out []*routerv1.CodeRange
	for _, item := range strings.Split(s, ",") {
		prefix, lens, ok := strings.Cut(item, ":")
		if !ok {
			return nil, fmt.Errorf("code range %q: want PREFIX:LENGTH[/LENGTH…]", item)
		}
		r := &routerv1.CodeRange{Prefix: prefix}
		for _, l := range strings.Split(lens, "/") {
			n, err := strconv.ParseInt(l, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("code range %q: %w", item, err)
			}
			r.Lengths = append(r.Lengths, int32(n))
		}
		out = append(out, r)
	}
	return out, nil
}

func newPutNetworkCmd(g *globals) *cobra.Command {
	var (
		id, name, endpoint, guids, country, currency, tag, issuers, fees string
		keys                                                             keyFlags
	)
	cmd := &cobra.Command{
		Use:   "put-network --id ID [flags]",
		Short: "change a merchant network's record (admin)",
		Long: `Change a merchant network's record through the router, as put-partner does a
partner's: the flags given change the record in force, the rest is kept.`,
		Example: `  unigatectl routes put-network --id cnsim --name Sim --endpoint 127.0.0.1:7005 --guids CN.UNIGATE.SIM --country CN --currency CNY`,
		Args:    noArgs,
	}
	fs := cmd.Flags()
	fs.StringVar(&id, "id", "", "network id (required)")
	fs.StringVar(&name, "name", "", "display name")
	fs.StringVar(&endpoint, "endpoint", "", "gRPC target of its MerchantNetworkService")
	fs.StringVar(&guids, "guids", "", "EMVCo merchant account GUIDs, comma-separated")
	fs.StringVar(&country, "country", "", "ISO 3166-1 alpha-2 country")
	fs.StringVar(&currency, "currency", "", "ISO 4217 currency")
	fs.StringVar(&tag, "merchant-id-tag", "", "sub-tag holding the merchant id (default 01)")
	fs.StringVar(&issuers, "url-issuers", "", "issuers of URL codes the network resolves (wechat, alipay), comma-separated")
	fs.StringVar(&fees, "fees", "", "the network's settlement fee tiers FROM_MINOR:BPS[:FIXED_MINOR],… (what Unigate keeps); empty: none")
	keys.register(fs)
	o := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if id == "" {
			return required(cmd, "id")
		}
		if err := keys.addDev(*g, authn.Network, id); err != nil {
			return err
		}
		ctx := cmd.Context()
		conn, err := g.dial(g.router)
		if err != nil {
			return err
		}
		defer conn.Close()
		table, err := routerv1.NewRouterServiceClient(conn).GetRoutingTable(ctx, &routerv1.GetRoutingTableRequest{})
		if err != nil {
			return err
		}
		n := &routerv1.MerchantNetwork{NetworkId: id}
		for _, cur := range table.GetNetworks() {
			if cur.GetNetworkId() == id {
				n = cur
			}
		}
		fs.Visit(func(f *pflag.Flag) {
			switch f.Name {
			case "name":
				n.Name = name
			case "endpoint":
				n.Endpoint = endpoint
			case "guids":
				n.Guids = split(guids)
			case "country":
				n.Country = country
			case "currency":
				n.Currency = currency
			case "merchant-id-tag":
				n.MerchantIdTag = tag
			case "url-issuers":
				n.UrlIssuers = split(issuers)
			case "fees":
				if n.SettlementFees, err = parseFees(fees); err != nil {
					return
				}
			}
		})
		if err != nil {
			return err
		}
		if n.SigningKeys, err = keys.apply(n.SigningKeys); err != nil {
			return err
		}
		resp, err := routerv1.NewRoutingAdminServiceClient(conn).PutNetwork(ctx, &routerv1.PutNetworkRequest{Network: n})
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		return o.print(out, resp, func() error {
			n := resp.GetNetwork()
			return fieldTable(out, [][2]string{
				{"network", n.GetNetworkId()}, {"name", n.GetName()}, {"country", n.GetCountry()}, {"currency", n.GetCurrency()},
				{"endpoint", orDash(n.GetEndpoint())}, {"guids", orDash(strings.Join(n.GetGuids(), ","))},
				{"url issuers", orDash(strings.Join(n.GetUrlIssuers(), ","))}, {"signing keys", keyVersions(n.GetSigningKeys())},
				{"revision", fmt.Sprint(resp.GetRevision())}, {"audit entry", resp.GetAuditEntryId()},
			})
		})
	}
	return cmd
}
