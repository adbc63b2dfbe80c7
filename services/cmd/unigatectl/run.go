package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"

	settlementv1 "github.com/unigate/unigate/proto/gen/unigate/settlement/v1"

	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/election"
	"github.com/unigate/unigate/pkg/emvqr"
	"github.com/unigate/unigate/pkg/etcdx"
	"github.com/unigate/unigate/pkg/paycode"
	"github.com/unigate/unigate/pkg/pki"
	"github.com/unigate/unigate/pkg/walletcode"
	"github.com/unigate/unigate/services/app"
)

func newLedgerCmd(g *globals) *cobra.Command {
	return group("ledger", "read and prove the ledger", `Read the double-entry ledger's trial balance (balance), or prove the books
over the databases (verify).`, newLedgerBalanceCmd(g), newLedgerVerifyCmd())
}

func newLedgerBalanceCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "balance",
		Short: "the trial balance per account and currency",
		Long: `Print the ledger's trial balance: the debits and credits of every account
per currency, then each currency's totals, which balance.`,
		Example: "  unigatectl ledger balance\n  unigatectl ledger balance -o json",
		Args:    noArgs,
	}
	o := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		conn, err := g.dial(g.settlement)
		if err != nil {
			return err
		}
		defer conn.Close()
		resp, err := settlementv1.NewSettlementServiceClient(conn).GetTrialBalance(cmd.Context(), &settlementv1.GetTrialBalanceRequest{})
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		return o.print(out, resp, func() error {
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ACCOUNT\tCURRENCY\tDEBIT\tCREDIT")
			for _, a := range resp.GetAccounts() {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.GetAccount(), a.GetCurrency(), minor(a.GetCurrency(), a.GetDebitMinorUnits()),
					minor(a.GetCurrency(), a.GetCreditMinorUnits()))
			}
			for _, c := range resp.GetCurrencies() {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", "(total)", c.GetCurrency(), minor(c.GetCurrency(), c.GetDebitMinorUnits()),
					minor(c.GetCurrency(), c.GetCreditMinorUnits()))
			}
			return tw.Flush()
		})
	}
	return cmd
}

func newQRCmd() *cobra.Command {
	return group("qr", "decode and encode payment codes", `Decode any payment code the switch takes (EMVCo merchant- and
consumer-presented QR, wallet one-time codes, URL codes), or build an EMVCo
merchant-presented payload.`, newQRDecodeCmd(), newQREncodeCmd())
}

func newQRDecodeCmd() *cobra.Command {
	var ranges string
	cmd := &cobra.Command{
		Use:   "decode [--ranges PREFIX:PARTNER:LENGTH,…] PAYLOAD",
		Short: "classify and decode a payment code",
		Long: `Classify and decode a payment code and print it as one JSON object (the
decoder's output, docs/codes.md), or as YAML with -o yaml. A code that does
not decode exits 1 with a one-line reason. --ranges gives the wallet code
ranges to recognise one-time codes by.`,
		Example: `  unigatectl qr decode '000201010211…6304ABCD'
  unigatectl qr decode --ranges 2899:hipay:18 289912345678901234`,
		Args: exactArgs(1),
	}
	cmd.Flags().StringVar(&ranges, "ranges", "", "wallet code ranges PREFIX:PARTNER:LENGTH[/LENGTH…], comma-separated")
	o := addOutputOf(cmd, "json", "json", "yaml")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		rs, err := parseRanges(ranges)
		if err != nil {
			return err
		}
		c, err := paycode.Decode(args[0], rs)
		if err != nil {
			return err
		}
		b, err := c.JSON()
		if err != nil {
			return err
		}
		return writeAs(cmd.OutOrStdout(), o.v, b)
	}
	return cmd
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

func newQREncodeCmd() *cobra.Command {
	var jsonFile, account string
	in := encodeInput{PayloadFormat: "01", Initiation: "11"}
	cmd := &cobra.Command{
		Use:   "encode [flags] | encode --json FILE|-",
		Short: "build an EMVCo merchant-presented payload",
		Long: `Build an EMVCo merchant-presented (MPM) payload from flags, or from the
fields of qr decode's output in a JSON file (--json FILE, or - for standard
input), and print it.`,
		Example: `  unigatectl qr encode --account 26:CN.UNIGATE.SIM:01=M10001 --mcc 5812 --currency 156 \
      --country CN --name 'Erenhot Dumpling House' --city Erenhot --amount 12.50 --initiation 12
  unigatectl qr decode PAYLOAD | unigatectl qr encode --json -`,
		Args: noArgs,
	}
	fs := cmd.Flags()
	fs.StringVar(&jsonFile, "json", "", "read the fields from this JSON file (- for standard input), in qr decode's shape")
	fs.StringVar(&account, "account", "", "merchant account template ID:GUID:SUBTAG=VALUE[;SUBTAG=VALUE…], e.g. 26:CN.UNIGATE.SIM:01=M10001")
	fs.StringVar(&in.Initiation, "initiation", in.Initiation, "11 static, 12 dynamic")
	fs.StringVar(&in.MCC, "mcc", "", "merchant category code")
	fs.StringVar(&in.Currency, "currency", "", "ISO 4217 numeric currency, e.g. 156")
	fs.StringVar(&in.Amount, "amount", "", "amount in major units, e.g. 12.50")
	fs.StringVar(&in.Country, "country", "", "ISO 3166-1 alpha-2 country")
	fs.StringVar(&in.MerchantName, "name", "", "merchant name")
	fs.StringVar(&in.MerchantCity, "city", "", "merchant city")
	fs.StringVar(&in.PostalCode, "postal-code", "", "postal code")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		m := &emvqr.MPM{}
		if jsonFile != "" {
			var r io.Reader = cmd.InOrStdin()
			if jsonFile != "-" {
				f, err := os.Open(jsonFile)
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
		} else if account != "" {
			id, rest, _ := strings.Cut(account, ":")
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
		_, err = fmt.Fprintln(cmd.OutOrStdout(), payload)
		return err
	}
	return cmd
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

func newEtcdCmd(g *globals) *cobra.Command {
	return group("etcd", "set up etcd's access control", `Set up etcd's users, roles and authentication for the switch.`, newEtcdBootstrapCmd(g))
}

func newEtcdBootstrapCmd(g *globals) *cobra.Command {
	var more string
	cmd := &cobra.Command{
		Use:   "bootstrap [--operators operator:ID,…]",
		Short: "etcd's users, roles and auth (idempotent)",
		Long: `Set up etcd's access control as the etcd administrator of the PKI
(service/etcd-admin): a user and role per service, read access for the PKI's
operators and those named, then authentication on. Running it again changes
nothing. Needs --pki: etcd's access control authenticates by certificate.`,
		Example: `  unigatectl --pki pki --etcd https://127.0.0.1:2379 etcd bootstrap
  unigatectl etcd bootstrap --operators operator:alice,operator:bob`,
		Args: noArgs,
	}
	cmd.Flags().StringVar(&more, "operators", "", "more operator identities to grant read access (operator:alice,…)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if g.pki == "" {
			return required(cmd, "pki")
		}
		ops, err := pki.Dev{Dir: g.pki}.Operators()
		if err != nil {
			return err
		}
		ops = append(ops, split(more)...)
		cli, err := app.ConnectEtcd(g.pki, authn.Service, app.EtcdAdmin, strings.Split(g.etcd, ","))
		if err != nil {
			return err
		}
		defer cli.Close()
		if err := etcdx.Bootstrap(cmd.Context(), cli, app.EtcdAccess(ops...)); err != nil {
			return err
		}
		_, err = fmt.Fprintf(cmd.OutOrStdout(), "etcd access control is on; operators with read access: %s\n", strings.Join(ops, ", "))
		return err
	}
	return cmd
}

func newLeadersCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "leaders",
		Short: "every election: its leader, term and standbys",
		Long: `Print every election in etcd (the acquirer's resolver, the settlement
cutoff, the FX ingestion, the audit linkers, …): the candidate leading it,
its term (the revision that fences the leader's writes) and how many
standbys wait.`,
		Example: "  unigatectl leaders\n  unigatectl leaders -o json",
		Args:    noArgs,
	}
	o := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cli, err := g.connectEtcd()
		if err != nil {
			return err
		}
		defer cli.Close()
		all, err := election.Leaders(cmd.Context(), cli)
		if err != nil {
			return err
		}
		type row struct {
			Election string `json:"election"`
			Leader   string `json:"leader"`
			Term     int64  `json:"term"`
			Standbys int    `json:"standbys"`
		}
		rows := []row{}
		for _, l := range all {
			rows = append(rows, row{l.Election, l.Candidate, l.Revision, int(l.Standbys)})
		}
		out := cmd.OutOrStdout()
		return o.printValue(out, rows, func() error {
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ELECTION\tLEADER\tTERM\tSTANDBYS")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\n", r.Election, r.Leader, r.Term, r.Standbys)
			}
			return tw.Flush()
		})
	}
	return cmd
}

func newLeaderCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "leader NAME",
		Short: "who leads one election",
		Long: `Print the candidate leading an election (acquirer, settlement-cutoff, …)
and its term; exits 1 if the election has no leader.`,
		Example: "  unigatectl leader acquirer",
		Args:    exactArgs(1),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			cli, err := g.connectEtcd()
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			defer cli.Close()
			all, _ := election.Leaders(cmd.Context(), cli)
			var names []string
			for _, l := range all {
				names = append(names, l.Election)
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		},
	}
	o := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		cli, err := g.connectEtcd()
		if err != nil {
			return err
		}
		defer cli.Close()
		who, rev, ok, err := election.Leader(cmd.Context(), cli, args[0])
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("election %q has no leader", args[0])
		}
		out := cmd.OutOrStdout()
		return o.printValue(out, map[string]any{"election": args[0], "leader": who, "term": rev}, func() error {
			_, err := fmt.Fprintf(out, "%s (revision %d)\n", who, rev)
			return err
		})
	}
	return cmd
}
