package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"
	routerv1 "github.com/unigate/unigate/proto/gen/unigate/router/v1"
	settlementv1 "github.com/unigate/unigate/proto/gen/unigate/settlement/v1"

	"github.com/unigate/unigate/pkg/emvqr"
	"github.com/unigate/unigate/pkg/etcdx"
	"github.com/unigate/unigate/pkg/grpcx"
	"github.com/unigate/unigate/services/acquirer"
	"github.com/unigate/unigate/services/router"
)

const usage = `usage: unigatectl [global flags] <command> [flags]

commands:
  payments get --partner ID (PAYMENT_ID | --key PARTNER_PAYMENT_ID)
  routes get                                   the routing table in force (from the router)
  routes put-partner --id --name --currency [--disabled]
  routes put-network --id --name --endpoint --guids G1,G2 --country --currency [--merchant-id-tag 01]
  ledger balance                               the trial balance per account and currency
  qr decode PAYLOAD                            decode an EMVCo merchant-presented code

global flags (or environment):
  --acquirer   UNIGATE_ACQUIRER   (127.0.0.1:7000)
  --router     UNIGATE_ROUTER     (127.0.0.1:7001)
  --settlement UNIGATE_SETTLEMENT (127.0.0.1:7004)
  --etcd       UNIGATE_ETCD       (http://127.0.0.1:7006)
`

type globals struct {
	acquirer, router, settlement, etcd string
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
	if err := fs.Parse(args); err != nil {
		return 2, err
	}
	rest := fs.Args()
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
	case "qr decode":
		err = qrDecode(rest[2:], out)
	default:
		fs.Usage()
		return 2, fmt.Errorf("unknown command %q", strings.Join(rest[:2], " "))
	}
	if err != nil {
		return 1, err
	}
	return 0, nil
}

func dial(target string) (*grpc.ClientConn, error) { return grpcx.Dial(target, 0) }

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
	conn, err := dial(g.acquirer)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx = metadata.AppendToOutgoingContext(ctx, acquirer.PartnerHeader, *partner)
	resp, err := partnerv1.NewPartnerServiceClient(conn).GetPayment(ctx, req)
	if err != nil {
		return err
	}
	return printProto(out, resp.GetPayment())
}

func routesGet(ctx context.Context, g globals, out io.Writer) error {
	conn, err := dial(g.router)
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
	if err := fs.Parse(args); err != nil {
		return err
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
	if err := fs.Parse(args); err != nil {
		return err
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
	conn, err := dial(g.settlement)
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

func qrDecode(args []string, out io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: unigatectl qr decode PAYLOAD")
	}
	m, err := emvqr.DecodeMPM(args[0])
	if err != nil {
		return err
	}
	m.Objects = nil
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(m)
}
