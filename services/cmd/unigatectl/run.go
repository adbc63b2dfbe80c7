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
	"time"

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
	"github.com/unigate/unigate/services/router"
)

const usage = `usage: unigatectl [global flags] <command> [flags]

commands:
  payments get --partner ID (PAYMENT_ID | --key PARTNER_PAYMENT_ID)
  routes get                                   the routing table in force (from the router)
  routes put-partner --id --name --currency [--endpoint HOST:PORT] [--code-ranges PREFIX:LEN[/LEN],…] [--disabled]
  routes put-network --id --name --endpoint --guids G1,G2 --country --currency [--url-issuers wechat,…] [--merchant-id-tag 01]
  ledger balance                               the trial balance per account and currency
  cycles close [--cutoff RFC3339]              close the settlement cycle at a cutoff (default now)
  statements list [--after SEQUENCE]           settlement statements in order
  leader NAME                                  who leads an election (acquirer, settlement-cutoff)
  certs dev [--dir DIR] [--partners ID,…] [--networks ID,…]   a development PKI: CAs and certificates
                                               for the services, the demo partners and network, operators
  qr decode [--ranges P:PARTNER:LEN,...] PAYLOAD   classify and decode any payment code; one JSON object
  qr encode [flags] | qr encode --json FILE|-      build an EMVCo merchant-presented payload

global flags (or environment):
  --acquirer   UNIGATE_ACQUIRER   (127.0.0.1:7000)
  --router     UNIGATE_ROUTER     (127.0.0.1:7001)
  --settlement UNIGATE_SETTLEMENT (127.0.0.1:7004)
  --etcd       UNIGATE_ETCD       (http://127.0.0.1:7006)
  --pki        UNIGATE_PKI        PKI directory (mutual TLS as an operator; empty: plaintext)
  --operator   UNIGATE_OPERATOR   (admin) the operator certificate presented: viewer, operator or admin
`

type globals struct {
	acquirer, router, settlement, etcd string
	pki, operator                      string
	timeout                            time.Duration
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
	fs.StringVar(&g.settlement, "settlement", env("UNIGATE_SETTLEMENT", "127.0.0.1:7004"), "settlement address")
	fs.StringVar(&g.etcd, "etcd", env("UNIGATE_ETCD", "http://127.0.0.1:7006"), "etcd endpoints, comma-separated")
	fs.DurationVar(&g.timeout, "timeout", 10*time.Second, "deadline of the command")
	fs.StringVar(&g.pki, "pki", env("UNIGATE_PKI", ""), "PKI directory holding operator certificates (empty: plaintext)")
	fs.StringVar(&g.operator, "operator", env("UNIGATE_OPERATOR", "admin"), "operator whose certificate to present")
	if err := fs.Parse(args); err != nil {
		return 2, err
	}
	rest := fs.Args()
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
	case "payments get":
		err = paymentsGet(ctx, g, rest[2:], out)
	case "routes get":
		err = routesGet(ctx, g, out)
	case "routes put-partner":
		err = putPartner(ctx, g, rest[2:])
	case "routes put-network":
		err = putNetwork(ctx, g, rest[2:])
	case "ledger balance":
		err = ledgerBalance(ctx, g, out)
	case "cycles close":
		err = cyclesClose(ctx, g, rest[2:], out)
	case "statements list":
		err = statementsList(ctx, g, rest[2:], out)
	case "certs dev":
		err = certsDev(rest[2:], out)
	case "qr decode":
		err = qrDecode(rest[2:], out)
	case "qr encode":
		err = qrEncode(rest[2:], out)
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

func putPartner(ctx context.Context, g globals, args []string) error {
	fs := flag.NewFlagSet("routes put-partner", flag.ContinueOnError)
	var p router.Partner
	fs.StringVar(&p.ID, "id", "", "partner id")
	fs.StringVar(&p.Name, "name", "", "display name")
	fs.StringVar(&p.Currency, "currency", "", "wallet currency (ISO 4217)")
	fs.BoolVar(&p.Disabled, "disabled", false, "refuse the partner's requests")
	fs.StringVar(&p.Endpoint, "endpoint", "", "gRPC target of the partner's WalletPartnerService")
	ranges := fs.String("code-ranges", "", "one-time code ranges PREFIX:LENGTH[/LENGTH…], comma-separated")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *ranges != "" {
		for _, item := range strings.Split(*ranges, ",") {
			prefix, lens, ok := strings.Cut(item, ":")
			if !ok {
				return fmt.Errorf("code range %q: want PREFIX:LENGTH[/LENGTH…]", item)
			}
			r := router.CodeRange{Prefix: prefix}
			for _, l := range strings.Split(lens, "/") {
				n, err := strconv.Atoi(l)
				if err != nil {
					return fmt.Errorf("code range %q: %w", item, err)
				}
				r.Lengths = append(r.Lengths, n)
			}
			p.CodeRanges = append(p.CodeRanges, r)
		}
	}
	cli, err := etcdx.Connect(strings.Split(g.etcd, ","))
	if err != nil {
		return err
	}
	defer cli.Close()
	return router.PutPartner(ctx, cli, p)
}

func putNetwork(ctx context.Context, g globals, args []string) error {
	fs := flag.NewFlagSet("routes put-network", flag.ContinueOnError)
	var n router.Network
	guids := fs.String("guids", "", "EMVCo merchant account GUIDs, comma-separated")
	fs.StringVar(&n.ID, "id", "", "network id")
	fs.StringVar(&n.Name, "name", "", "display name")
	fs.StringVar(&n.Endpoint, "endpoint", "", "gRPC target of its MerchantNetworkService")
	fs.StringVar(&n.Country, "country", "", "ISO 3166-1 alpha-2 country")
	fs.StringVar(&n.Currency, "currency", "", "ISO 4217 currency")
	fs.StringVar(&n.MerchantIDTag, "merchant-id-tag", "", "sub-tag holding the merchant id (default 01)")
	issuers := fs.String("url-issuers", "", "issuers of URL codes the network resolves (wechat, alipay), comma-separated")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *issuers != "" {
		n.URLIssuers = strings.Split(*issuers, ",")
	}
	if *guids != "" {
		n.GUIDs = strings.Split(*guids, ",")
	}
	cli, err := etcdx.Connect(strings.Split(g.etcd, ","))
	if err != nil {
		return err
	}
	defer cli.Close()
	return router.PutNetwork(ctx, cli, n)
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

func cyclesClose(ctx context.Context, g globals, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("cycles close", flag.ContinueOnError)
	cutoff := fs.String("cutoff", "", "the cutoff, RFC 3339 (default now)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	at := time.Now()
	if *cutoff != "" {
		var err error
		if at, err = time.Parse(time.RFC3339Nano, *cutoff); err != nil {
			return fmt.Errorf("--cutoff: %w", err)
		}
	}
	conn, err := g.dial(g.settlement)
	if err != nil {
		return err
	}
	defer conn.Close()
	resp, err := settlementv1.NewSettlementServiceClient(conn).CloseCycle(ctx, &settlementv1.CloseCycleRequest{Cutoff: timestamppb.New(at)})
	if err != nil {
		return err
	}
	return printProto(out, resp)
}

func statementsList(ctx context.Context, g globals, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("statements list", flag.ContinueOnError)
	after := fs.Int64("after", 0, "list statements after this sequence")
	if err := fs.Parse(args); err != nil {
		return err
	}
	conn, err := g.dial(g.settlement)
	if err != nil {
		return err
	}
	defer conn.Close()
	resp, err := settlementv1.NewSettlementServiceClient(conn).ListStatements(ctx, &settlementv1.ListStatementsRequest{AfterSequence: *after})
	if err != nil {
		return err
	}
	return printProto(out, resp)
}

func leader(ctx context.Context, g globals, name string, out io.Writer) error {
	cli, err := etcdx.Connect(strings.Split(g.etcd, ","))
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
