package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"
	routerv1 "github.com/unigate/unigate/proto/gen/unigate/router/v1"
	settlementv1 "github.com/unigate/unigate/proto/gen/unigate/settlement/v1"

	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/election"
	"github.com/unigate/unigate/pkg/emvqr"
	"github.com/unigate/unigate/pkg/etcdx"
	"github.com/unigate/unigate/pkg/grpcx"
	"github.com/unigate/unigate/pkg/paycode"
	"github.com/unigate/unigate/pkg/pki"
	"github.com/unigate/unigate/pkg/walletcode"
	"github.com/unigate/unigate/services/acquirer/grpcapi"
	"github.com/unigate/unigate/services/app"
)

const usage = `usage: unigatectl [global flags] <command> [flags]

commands:
  payments get --partner ID (PAYMENT_ID | --key PARTNER_PAYMENT_ID)
  routes get                                   the routing table in force (from the router)
  routes put-partner --id [--name] [--currency] [--endpoint HOST:PORT] [--code-ranges PREFIX:LEN[/LEN],…] [--disabled]
                     [--signing-key V=PUBKEY] [--key-not-after V=RFC3339] [--remove-key V] [--dev-signing-key]
                     [--settlement-currency USD] [--fx-markup 0:150,…] [--settlement-cutoff HH:MM] [--time-zone ZONE]
                     [--fees FROM_MINOR:BPS[:FIXED_MINOR],…]
  routes put-network --id [--name] [--endpoint] [--guids G1,G2] [--country] [--currency] [--url-issuers wechat,…]
                     [--merchant-id-tag 01] [--signing-key V=PUBKEY] [--key-not-after V=RFC3339] [--remove-key V]
                     [--dev-signing-key] [--fees …]
                                               change a record through the router (admin operators; audited):
                                               the flags given change the record in force, the rest is kept
  etcd bootstrap [--operators operator:ID,…]   etcd's users, roles and auth (as service/etcd-admin of --pki)
  ledger balance                               the trial balance per account and currency
  ledger verify --dsn DSN [--cycle ID] [-o json]   prove the books (or one closed cycle) over the acquirer's and the ledger's database: postings
                                               balance, no money created or lost, statements are their cycles' sums,
                                               every movement posted once and in a cycle; names each violation
  settlement cycles [--limit 20] [-o json]     closed settlement cycles, newest first
  settlement close [--cutoff RFC3339] [--partner ID] [-o json]   close the cycle of a partner, or of every partner,
                                               at a cutoff (default now); its statements and network statements
  settlement statement [--after SEQUENCE] [-o json]   settlement statements in order
  settlement statement STATEMENT_ID [--dir DIR]   the statement's (or network statement's) CSV file (one row per
                                               payment, refund, cancel and fee, a trailer with counts and the total)
                                               and NAME.sha256 beside it
  settlement network-statements [--network ID] [--limit 20] [-o json]   what Unigate owes each network, per cycle
  settlement reconcile STATEMENT_ID FILE [-o json]   compare a counterparty's file with the statement: matched,
                                               mismatched and missing rows; a bad file names each bad row
  settlement breaks [--statement ID] [--all] [-o json]   reconciliation breaks, open ones unless --all
  settlement resolve BREAK_ID --reason TEXT    close a break with the reason it needs no further action
  (cycles list|close and statements list|file are the same commands under their earlier names)
  fx rates [--pair USD/CNY] [-o json]         every provider's latest rate per pair: age, verdict, the chosen
                                               one; the rejection counts; the ingestion leader
  fx quote --partner ID [--wallet] CODE AMOUNT [-o json]   price a code for a partner, storing nothing
                                               (AMOUNT in the merchant's currency, or the wallet's with --wallet)
  fx history PAIR [--since 5m] [--limit 100] [-o json]     the rates received for a pair, newest first
  leader NAME                                  who leads an election (acquirer, settlement-cutoff)
  leaders                                      every election: its leader, term and standbys
  certs dev [--dir DIR] [--partners ID,…] [--networks ID,…]   a development PKI: CAs and certificates
                                               for the services, the demo partners and network, operators
  risk rules check FILE [-o json]              compile a risk rule file as the risk service would; names every
                                               problem and exits 1 if the set would be refused (docs/risk.md)
  risk rules get [-o json]                     the rule set in force
  risk rules put FILE [-o json]                put a rule file in force on every replica (operators); a refused set
                                               names every problem and the set in force stays
  risk lists [--list L] [--kind K] [-o json]   block, allow and suspend list entries
  risk lists put LIST KIND VALUE [--note TEXT]   add a value to a list (or replace its note); KIND user|device
                                               (PARTNER/REF), merchant (NETWORK/ID), mcc (four digits), partner
  risk lists delete LIST KIND VALUE            remove a value from a list
  risk limits [-o json]                        every partner's limits ("*": the default), in major units
  risk limits put PARTNER --currency C [--per-payment N] [--user-per-payment N] [--user-daily N]
                  [--user-monthly N] [--merchant-daily N] [--partner-daily N] [--merchant-monthly N]
                  [--partner-monthly N] [-o json]
                                               set a partner's (or "*") limits in minor units, 0 none; limits not
                                               given keep their value when the currency stays
  risk decisions [--partner ID] [--user REF] [--decision approve|review|decline] [--limit 50]
                 [--before RFC3339] [-o json]  decisions, newest first
  risk decisions get PAYMENT_ID [-o json]      one payment's decision with every reason
  risk cases [--state S] [--assignee A] [--limit 50] [-o json]   review cases, oldest first
  risk cases get CASE_ID [-o json]             a case with its history
  risk cases assign CASE_ID ANALYST            give a case to an analyst (operators)
  risk cases resolve CASE_ID --label FRAUD|LEGITIMATE --note TEXT [--block]   label a case, final (operators);
                                               --block puts a fraud's user and device on the block list
  risk labels [--since RFC3339] [-o json]      resolved cases' payments, labelled, as training rows (CSV:
                                               label, then the model's features; make train-risk LABELS=FILE)
  risk model [-o json]                         the model in force: id, XGBoost version, trees, who put it
  risk model put FILE [--note TEXT] [-o json]  put a model (make train-risk's JSON) in force on every replica
                                               within a second (operators); a file that does not load is refused
  qr decode [--ranges P:PARTNER:LEN,...] PAYLOAD   classify and decode any payment code; one JSON object
  qr encode [flags] | qr encode --json FILE|-      build an EMVCo merchant-presented payload

global flags (or environment):
  --acquirer   UNIGATE_ACQUIRER   (127.0.0.1:7000)
  --router     UNIGATE_ROUTER     (127.0.0.1:7001)
  --fx         UNIGATE_FX         (127.0.0.1:7002)
  --risk       UNIGATE_RISK       (127.0.0.1:7003)
  --settlement UNIGATE_SETTLEMENT (127.0.0.1:7004)
  --etcd       UNIGATE_ETCD       (http://127.0.0.1:7006)
  --pki        UNIGATE_PKI        PKI directory (mutual TLS as an operator; empty: plaintext)
  --operator   UNIGATE_OPERATOR   (admin) the operator certificate presented: viewer, operator or admin
`

type globals struct {
	acquirer, router, fx, risk, settlement string
	etcd                                   string
	pki, operator                          string
	timeout                                time.Duration
}

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// run returns the exit status: 0 success, 1 a failed command, 2 bad usage.
func run(ctx context.Context, args []string, out io.Writer) (int, error) {
	var g globals
	fs := flag.NewFlagSet("unigatectl", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, usage) }
	fs.StringVar(&g.acquirer, "acquirer", env("UNIGATE_ACQUIRER", "127.0.0.1:7000"), "acquirer address")
	fs.StringVar(&g.router, "router", env("UNIGATE_ROUTER", "127.0.0.1:7001"), "router address")
	fs.StringVar(&g.fx, "fx", env("UNIGATE_FX", "127.0.0.1:7002"), "fx address")
	fs.StringVar(&g.risk, "risk", env("UNIGATE_RISK", "127.0.0.1:7003"), "risk address")
	fs.StringVar(&g.settlement, "settlement", env("UNIGATE_SETTLEMENT", "127.0.0.1:7004"), "settlement address")
	fs.StringVar(&g.etcd, "etcd", env("UNIGATE_ETCD", "http://127.0.0.1:7006"), "etcd endpoints, comma-separated")
	fs.DurationVar(&g.timeout, "timeout", 10*time.Second, "deadline of the command")
	fs.StringVar(&g.pki, "pki", env("UNIGATE_PKI", ""), "PKI directory holding operator certificates (empty: plaintext)")
	fs.StringVar(&g.operator, "operator", env("UNIGATE_OPERATOR", "admin"), "operator whose certificate to present")
	if err := fs.Parse(args); err != nil {
		return 2, err
	}
	rest := fs.Args()
	if len(rest) == 1 && rest[0] == "leaders" {
		ctx, cancel := context.WithTimeout(ctx, g.timeout)
		defer cancel()
		if err := leaders(ctx, g, out); err != nil {
			return 1, err
		}
		return 0, nil
	}
	if len(rest) == 2 && rest[0] == "leader" {
		ctx, cancel := context.WithTimeout(ctx, g.timeout)
		defer cancel()
		if err := leader(ctx, g, rest[1], out); err != nil {
			return 1, err
		}
		return 0, nil
	}
	if len(rest) < 2 {
		fs.Usage()
		return 2, errors.New("a command is required")
	}
	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	var err error
	switch rest[0] + " " + rest[1] {
	case "settlement " + rest[1]:
		err = settlementCmd(ctx, g, rest[1], rest[2:], out)
	case "payments get":
		err = paymentsGet(ctx, g, rest[2:], out)
	case "routes get":
		err = routesGet(ctx, g, out)
	case "routes put-partner":
		err = putPartner(ctx, g, rest[2:], out)
	case "routes put-network":
		err = putNetwork(ctx, g, rest[2:], out)
	case "ledger balance":
		err = ledgerBalance(ctx, g, out)
	case "ledger verify":
		err = ledgerVerify(ctx, rest[2:], out)
	case "cycles list":
		err = cyclesList(ctx, g, rest[2:], out)
	case "cycles close": // the earlier names, which print JSON
		err = settlementClose(ctx, g, append([]string{"-o", "json"}, rest[2:]...), out)
	case "statements list":
		err = settlementStatements(ctx, g, append([]string{"-o", "json"}, rest[2:]...), out)
	case "statements file":
		err = statementFile(ctx, g, rest[2:], out)
	case "etcd bootstrap":
		err = etcdBootstrap(ctx, g, rest[2:], out)
	case "certs dev":
		err = certsDev(rest[2:], out)
	case "risk " + rest[1]:
		err = riskCmd(ctx, g, rest[1], rest[2:], out)
		var usage usageError
		if errors.As(err, &usage) {
			return 2, err
		}
	case "qr decode":
		err = qrDecode(rest[2:], out)
	case "qr encode":
		err = qrEncode(rest[2:], out)
	case "fx rates":
		err = fxRates(ctx, g, rest[2:], out)
	case "fx quote":
		err = fxQuote(ctx, g, rest[2:], out)
	case "fx history":
		err = fxHistory(ctx, g, rest[2:], out)
	case "audit verify", "audit list":
		err = auditCmd(ctx, rest[1], rest[2:], out)
	default:
		fs.Usage()
		return 2, fmt.Errorf("unknown command %q", strings.Join(rest[:2], " "))
	}
	if err != nil {
		return 1, err
	}
	return 0, nil
}

// dial connects to one of the switch's services as the operator whose
// certificate the PKI directory holds (--pki, --operator), or in plaintext
// without a PKI.
func (g globals) dial(target string) (*grpc.ClientConn, error) {
	if g.pki == "" {
		return grpcx.Dial(target, 0)
	}
	cfg, err := pki.Dev{Dir: g.pki}.ClientConfig(authn.Operator, g.operator, "unigate")
	if err != nil {
		return nil, fmt.Errorf("operator certificate: %w", err)
	}
	return grpcx.Dial(target, 0, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
}

func printProto(out io.Writer, m proto.Message) error {
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  ", EmitUnpopulated: false}.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, string(b))
	return err
}

func paymentsGet(ctx context.Context, g globals, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("payments get", flag.ContinueOnError)
	partner := fs.String("partner", "", "the partner the payment belongs to")
	key := fs.String("key", "", "the partner's payment key instead of the payment id")
	if err := fs.Parse(args); err != nil {
		return err
	}
	req := &partnerv1.GetPaymentRequest{}
	switch {
	case *partner == "":
		return errors.New("--partner is required")
	case *key != "":
		req.Id = &partnerv1.GetPaymentRequest_PartnerPaymentId{PartnerPaymentId: *key}
	case fs.NArg() == 1:
		req.Id = &partnerv1.GetPaymentRequest_PaymentId{PaymentId: fs.Arg(0)}
	default:
		return errors.New("give a payment id or --key")
	}
	conn, err := g.dial(g.acquirer)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx = metadata.AppendToOutgoingContext(ctx, grpcapi.PartnerHeader, *partner)
	resp, err := partnerv1.NewPartnerServiceClient(conn).GetPayment(ctx, req)
	if err != nil {
		return err
	}
	return printProto(out, resp.GetPayment())
}

func routesGet(ctx context.Context, g globals, out io.Writer) error {
	conn, err := g.dial(g.router)
	if err != nil {
		return err
	}
	defer conn.Close()
	resp, err := routerv1.NewRouterServiceClient(conn).GetRoutingTable(ctx, &routerv1.GetRoutingTableRequest{})
	if err != nil {
		return err
	}
	return printProto(out, resp)
}

// keyFlags edit a record's request-signing keys: add or replace a
// version, end one, remove one.
type keyFlags struct {
	set, notAfter map[string]string
	remove        []string
	dev           bool
}

func (k *keyFlags) register(fs *flag.FlagSet) {
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

// startPut checks a routing change's id, adds the development signing
// key if asked, connects to the router and reads the table in force.
func (g globals) startPut(ctx context.Context, keys *keyFlags, kind authn.Kind, id string) (*grpc.ClientConn, *routerv1.GetRoutingTableResponse, error) {
	if id == "" {
		return nil, nil, errors.New("--id is required")
	}
	if err := keys.addDev(g, kind, id); err != nil {
		return nil, nil, err
	}
	conn, err := g.dial(g.router)
	if err != nil {
		return nil, nil, err
	}
	table, err := routerv1.NewRouterServiceClient(conn).GetRoutingTable(ctx, &routerv1.GetRoutingTableRequest{})
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, table, nil
}

// putPartner changes a partner's record through the router (admin
// operators only): the flags given change the record in force, the rest
// of it is kept.
func putPartner(ctx context.Context, g globals, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("routes put-partner", flag.ContinueOnError)
	id := fs.String("id", "", "partner id")
	name := fs.String("name", "", "display name")
	currency := fs.String("currency", "", "wallet currency (ISO 4217)")
	disabled := fs.Bool("disabled", false, "refuse the partner's requests (--disabled=false enables it)")
	endpoint := fs.String("endpoint", "", "gRPC target of the partner's WalletPartnerService")
	ranges := fs.String("code-ranges", "", "one-time code ranges PREFIX:LENGTH[/LENGTH…], comma-separated")
	settle := fs.String("settlement-currency", "", "currency the partner settles in (ISO 4217; empty: its wallet's)")
	markup := fs.String("fx-markup", "", "FX markup tiers FROM_MINOR:BPS,… ascending from 0 (0:150,100000:80); empty: the FX default")
	cutoff := fs.String("settlement-cutoff", "", "daily settlement cutoff HH:MM in --time-zone (empty: the settlement service's interval)")
	zone := fs.String("time-zone", "", "IANA time zone of the settlement cutoff (Asia/Ulaanbaatar; empty: UTC)")
	fees := fs.String("fees", "", "settlement fee tiers FROM_MINOR:BPS[:FIXED_MINOR],… ascending from 0 (0:50:10,1000000:30); empty: none")
	var keys keyFlags
	keys.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	conn, table, err := g.startPut(ctx, &keys, authn.Partner, *id)
	if err != nil {
		return err
	}
	defer conn.Close()
	p := &routerv1.Partner{PartnerId: *id}
	for _, cur := range table.GetPartners() {
		if cur.GetPartnerId() == *id {
			p = cur
		}
	}
	var ferr error
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "name":
			p.Name = *name
		case "currency":
			p.Currency = *currency
		case "disabled":
			p.Disabled = *disabled
		case "endpoint":
			p.Endpoint = *endpoint
		case "code-ranges":
			p.CodeRanges, ferr = parseCodeRanges(*ranges)
		case "settlement-currency":
			p.SettlementCurrency = *settle
		case "fx-markup":
			p.FxMarkup, ferr = parseMarkup(*markup)
		case "settlement-cutoff":
			p.SettlementCutoff = *cutoff
		case "time-zone":
			p.SettlementTimeZone = *zone
		case "fees":
			p.SettlementFees, ferr = parseFees(*fees)
		}
	})
	if ferr != nil {
		return ferr
	}
	if p.SigningKeys, err = keys.apply(p.SigningKeys); err != nil {
		return err
	}
	resp, err := routerv1.NewRoutingAdminServiceClient(conn).PutPartner(ctx, &routerv1.PutPartnerRequest{Partner: p})
	if err != nil {
		return err
	}
	return printProto(out, resp)
}

// parseMarkup parses FX markup tiers "0:150,100000:80".
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

// putNetwork changes a merchant network's record through the router, as
// putPartner does a partner's.
func putNetwork(ctx context.Context, g globals, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("routes put-network", flag.ContinueOnError)
	id := fs.String("id", "", "network id")
	name := fs.String("name", "", "display name")
	endpoint := fs.String("endpoint", "", "gRPC target of its MerchantNetworkService")
	guids := fs.String("guids", "", "EMVCo merchant account GUIDs, comma-separated")
	country := fs.String("country", "", "ISO 3166-1 alpha-2 country")
	currency := fs.String("currency", "", "ISO 4217 currency")
	tag := fs.String("merchant-id-tag", "", "sub-tag holding the merchant id (default 01)")
	issuers := fs.String("url-issuers", "", "issuers of URL codes the network resolves (wechat, alipay), comma-separated")
	fees := fs.String("fees", "", "the network's settlement fee tiers FROM_MINOR:BPS[:FIXED_MINOR],… (what Unigate keeps); empty: none")
	var keys keyFlags
	keys.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	conn, table, err := g.startPut(ctx, &keys, authn.Network, *id)
	if err != nil {
		return err
	}
	defer conn.Close()
	n := &routerv1.MerchantNetwork{NetworkId: *id}
	for _, cur := range table.GetNetworks() {
		if cur.GetNetworkId() == *id {
			n = cur
		}
	}
	list := func(s string) []string {
		if s == "" {
			return nil
		}
		return strings.Split(s, ",")
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "name":
			n.Name = *name
		case "endpoint":
			n.Endpoint = *endpoint
		case "guids":
			n.Guids = list(*guids)
		case "country":
			n.Country = *country
		case "currency":
			n.Currency = *currency
		case "merchant-id-tag":
			n.MerchantIdTag = *tag
		case "url-issuers":
			n.UrlIssuers = list(*issuers)
		case "fees":
			n.SettlementFees, err = parseFees(*fees)
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
	return printProto(out, resp)
}

func ledgerBalance(ctx context.Context, g globals, out io.Writer) error {
	conn, err := g.dial(g.settlement)
	if err != nil {
		return err
	}
	defer conn.Close()
	resp, err := settlementv1.NewSettlementServiceClient(conn).GetTrialBalance(ctx, &settlementv1.GetTrialBalanceRequest{})
	if err != nil {
		return err
	}
	return printProto(out, resp)
}

// qrDecode prints one JSON object describing the code. A code it cannot
// decode exits 1 with a one-line reason on stderr.
func qrDecode(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("qr decode", flag.ContinueOnError)
	rangesFlag := fs.String("ranges", "", "wallet code ranges PREFIX:PARTNER:LENGTH[/LENGTH…], comma-separated")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: unigatectl qr decode [--ranges …] PAYLOAD")
	}
	ranges, err := parseRanges(*rangesFlag)
	if err != nil {
		return err
	}
	c, err := paycode.Decode(fs.Arg(0), ranges)
	if err != nil {
		return err
	}
	b, err := c.JSON()
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, string(b))
	return err
}

func parseRanges(s string) ([]walletcode.Range, error) {
	var out []walletcode.Range
	for _, item := range strings.Split(s, ",") {
		if item == "" {
			continue
		}
		parts := strings.Split(item, ":")
		if len(parts) != 3 {
			return nil, fmt.Errorf("range %q: want PREFIX:PARTNER:LENGTH[/LENGTH…]", item)
		}
		r := walletcode.Range{Prefix: parts[0], PartnerID: parts[1]}
		for _, l := range strings.Split(parts[2], "/") {
			n, err := strconv.Atoi(l)
			if err != nil {
				return nil, fmt.Errorf("range %q: length %q: %w", item, l, err)
			}
			r.Lengths = append(r.Lengths, n)
		}
		out = append(out, r)
	}
	return out, walletcode.ValidateRanges(out)
}

// encodeInput is the JSON form of `qr encode --json`: the fields of
// `qr decode`'s MPM output that make a payload.
type encodeInput struct {
	PayloadFormat    string `json:"payload_format"`
	Initiation       string `json:"initiation"`
	MerchantAccounts []struct {
		ID     string            `json:"id"`
		GUID   string            `json:"guid"`
		Value  string            `json:"value"`
		Fields map[string]string `json:"fields"`
	} `json:"merchant_accounts"`
	MCC          string            `json:"mcc"`
	Currency     string            `json:"currency"`
	Amount       string            `json:"amount"`
	Country      string            `json:"country"`
	MerchantName string            `json:"merchant_name"`
	MerchantCity string            `json:"merchant_city"`
	PostalCode   string            `json:"postal_code"`
	Additional   map[string]string `json:"additional"`
	Language     map[string]string `json:"language"`
}

// qrEncode builds an EMVCo MPM payload from flags or from JSON.
func qrEncode(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("qr encode", flag.ContinueOnError)
	jsonFile := fs.String("json", "", "read the fields from this JSON file (- for standard input), in qr decode's shape")
	in := encodeInput{PayloadFormat: "01", Initiation: "11"}
	account := fs.String("account", "", "merchant account template ID:GUID:SUBTAG=VALUE[;SUBTAG=VALUE…], e.g. 26:CN.UNIGATE.SIM:01=M10001")
	fs.StringVar(&in.Initiation, "initiation", in.Initiation, "11 static, 12 dynamic")
	fs.StringVar(&in.MCC, "mcc", "", "merchant category code")
	fs.StringVar(&in.Currency, "currency", "", "ISO 4217 numeric currency, e.g. 156")
	fs.StringVar(&in.Amount, "amount", "", "amount in major units, e.g. 12.50")
	fs.StringVar(&in.Country, "country", "", "ISO 3166-1 alpha-2 country")
	fs.StringVar(&in.MerchantName, "name", "", "merchant name")
	fs.StringVar(&in.MerchantCity, "city", "", "merchant city")
	fs.StringVar(&in.PostalCode, "postal-code", "", "postal code")
	if err := fs.Parse(args); err != nil {
		return err
	}
	m := &emvqr.MPM{}
	if *jsonFile != "" {
		var r io.Reader = os.Stdin
		if *jsonFile != "-" {
			f, err := os.Open(*jsonFile)
			if err != nil {
				return err
			}
			defer f.Close()
			r = f
		}
		dec := json.NewDecoder(r)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			return fmt.Errorf("qr encode: %w", err)
		}
	} else if *account != "" {
		id, rest, _ := strings.Cut(*account, ":")
		guid, subs, _ := strings.Cut(rest, ":")
		acc := emvqr.MerchantAccount{ID: id, GUID: guid}
		for _, kv := range strings.Split(subs, ";") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				acc.Fields = append(acc.Fields, emvqr.Object{ID: k, Value: v})
			}
		}
		m.MerchantAccounts = append(m.MerchantAccounts, acc)
	}
	m.PayloadFormat, m.Initiation, m.MCC, m.Currency, m.Amount = in.PayloadFormat, in.Initiation, in.MCC, in.Currency, in.Amount
	m.Country, m.MerchantName, m.MerchantCity, m.PostalCode = in.Country, in.MerchantName, in.MerchantCity, in.PostalCode
	for _, a := range in.MerchantAccounts {
		acc := emvqr.MerchantAccount{ID: a.ID, GUID: a.GUID, Value: a.Value, Fields: sortedObjects(a.Fields)}
		m.MerchantAccounts = append(m.MerchantAccounts, acc)
	}
	m.Additional, m.Language = sortedObjects(in.Additional), sortedObjects(in.Language)
	payload, err := emvqr.EncodeMPM(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, payload)
	return err
}

func sortedObjects(m map[string]string) []emvqr.Object {
	out := make([]emvqr.Object, 0, len(m))
	for k, v := range m {
		out = append(out, emvqr.Object{ID: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// connectEtcd opens an etcd client as the operator (etcd grants operators
// read access), or in plaintext without a PKI.
func (g globals) connectEtcd() (*clientv3.Client, error) {
	return app.ConnectEtcd(g.pki, authn.Operator, g.operator, strings.Split(g.etcd, ","))
}

// etcdBootstrap sets up etcd's access control (users, roles, auth on) as
// the etcd administrator of the PKI (service/etcd-admin), with the PKI's
// operators, and those named, as readers. It is idempotent.
func etcdBootstrap(ctx context.Context, g globals, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("etcd bootstrap", flag.ContinueOnError)
	more := fs.String("operators", "", "more operator identities to grant read access (operator:alice,…)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if g.pki == "" {
		return errors.New("--pki is required: etcd's access control authenticates by certificate")
	}
	dev := pki.Dev{Dir: g.pki}
	ops, err := dev.Operators()
	if err != nil {
		return err
	}
	if *more != "" {
		ops = append(ops, strings.Split(*more, ",")...)
	}
	cli, err := app.ConnectEtcd(g.pki, authn.Service, app.EtcdAdmin, strings.Split(g.etcd, ","))
	if err != nil {
		return err
	}
	defer cli.Close()
	if err := etcdx.Bootstrap(ctx, cli, app.EtcdAccess(ops...)); err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "etcd access control is on; operators with read access: %s\n", strings.Join(ops, ", "))
	return err
}

func leaders(ctx context.Context, g globals, out io.Writer) error {
	cli, err := g.connectEtcd()
	if err != nil {
		return err
	}
	defer cli.Close()
	all, err := election.Leaders(ctx, cli)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ELECTION\tLEADER\tTERM\tSTANDBYS")
	for _, l := range all {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\n", l.Election, l.Candidate, l.Revision, l.Standbys)
	}
	return tw.Flush()
}

func leader(ctx context.Context, g globals, name string, out io.Writer) error {
	cli, err := g.connectEtcd()
	if err != nil {
		return err
	}
	defer cli.Close()
	who, rev, ok, err := election.Leader(ctx, cli, name)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("election %q has no leader", name)
	}
	_, err = fmt.Fprintf(out, "%s (revision %d)\n", who, rev)
	return err
}
