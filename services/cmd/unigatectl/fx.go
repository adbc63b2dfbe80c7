package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	fxv1 "github.com/unigate/unigate/proto/gen/unigate/fx/v1"
	routerv1 "github.com/unigate/unigate/proto/gen/unigate/router/v1"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/moneypb"
)

// outputFlag registers -o table|json.
func outputFlag(fs *flag.FlagSet) *string {
	return fs.String("o", "table", "output: table or json")
}

func checkOutput(o string) error {
	if o != "table" && o != "json" {
		return fmt.Errorf("-o %q: want table or json", o)
	}
	return nil
}

// fxRates prints every provider's latest rate per pair with its age and
// verdict, the chosen provider, and the rejection counts.
func fxRates(ctx context.Context, g globals, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("fx rates", flag.ContinueOnError)
	o := outputFlag(fs)
	pair := fs.String("pair", "", "only this pair (USD/CNY)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := checkOutput(*o); err != nil {
		return err
	}
	conn, err := g.dial(g.fx)
	if err != nil {
		return err
	}
	defer conn.Close()
	resp, err := fxv1.NewFxServiceClient(conn).ListRates(ctx, &fxv1.ListRatesRequest{Pair: *pair})
	if err != nil {
		return err
	}
	if *o == "json" {
		return printProto(out, resp)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PAIR\tPROVIDER\tBID\tASK\tAGE\tVERDICT")
	for _, p := range resp.GetPairs() {
		for _, r := range p.GetRates() {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.GetPair(), r.GetProvider(), r.GetBid(), r.GetAsk(),
				(time.Duration(r.GetAgeMs()) * time.Millisecond).String(), strings.TrimPrefix(r.GetVerdict().String(), "RATE_VERDICT_"))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nstaleness limit %s, outlier band %d bps, ingestion leader %s\n",
		time.Duration(resp.GetStalenessMs())*time.Millisecond, resp.GetOutlierBandBps(), orNone(resp.GetIngestionLeader()))
	if len(resp.GetRejections()) > 0 {
		fmt.Fprintln(out, "\nrejected since the counts began:")
		tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PROVIDER\tREASON\tCOUNT")
		for _, r := range resp.GetRejections() {
			reasons := make([]string, 0, len(r.GetCounts()))
			for k := range r.GetCounts() {
				reasons = append(reasons, k)
			}
			sort.Strings(reasons)
			for _, k := range reasons {
				fmt.Fprintf(tw, "%s\t%s\t%d\n", orNone(r.GetProvider()), k, r.GetCounts()[k])
			}
		}
		return tw.Flush()
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// fxQuote prices a code for a partner without storing a quote: the router
// resolves the code to its merchant currency, the FX service prices it.
func fxQuote(ctx context.Context, g globals, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("fx quote", flag.ContinueOnError)
	o := outputFlag(fs)
	partner := fs.String("partner", "", "the partner whose user pays (its wallet currency, settlement currency and markup)")
	wallet := fs.Bool("wallet", false, "AMOUNT is what the user pays, in the wallet currency (the merchant amount is computed)")
	if err := fs.Parse(reorder(args)); err != nil {
		return err
	}
	if err := checkOutput(*o); err != nil {
		return err
	}
	if *partner == "" || fs.NArg() != 2 {
		return errors.New("usage: fx quote --partner ID [--wallet] CODE AMOUNT")
	}
	code, amount := fs.Arg(0), fs.Arg(1)
	rconn, err := g.dial(g.router)
	if err != nil {
		return err
	}
	defer rconn.Close()
	res, err := routerv1.NewRouterServiceClient(rconn).ResolveCode(ctx, &routerv1.ResolveCodeRequest{PartnerId: *partner, Code: code})
	if err != nil {
		return err
	}
	merchantCur := res.GetMerchant().GetCurrency()
	if merchantCur == "" {
		merchantCur = res.GetNetwork().GetCurrency()
	}
	req := &fxv1.CreateQuoteRequest{PartnerId: *partner, WalletCurrency: res.GetPartner().GetCurrency()}
	if *wallet {
		w, err := money.ParseMajor(res.GetPartner().GetCurrency(), amount)
		if err != nil {
			return fmt.Errorf("AMOUNT: %w", err)
		}
		req.Direction = fxv1.QuoteDirection_QUOTE_DIRECTION_FIX_WALLET
		req.WalletAmount = moneypb.ToProto(w)
		req.MerchantAmount = &commonv1.Money{Currency: merchantCur}
	} else {
		m, err := money.ParseMajor(merchantCur, amount)
		if err != nil {
			return fmt.Errorf("AMOUNT: %w", err)
		}
		req.Direction = fxv1.QuoteDirection_QUOTE_DIRECTION_FIX_MERCHANT
		req.MerchantAmount = moneypb.ToProto(m)
	}
	conn, err := g.dial(g.fx)
	if err != nil {
		return err
	}
	defer conn.Close()
	resp, err := fxv1.NewFxServiceClient(conn).PreviewQuote(ctx, &fxv1.PreviewQuoteRequest{Request: req})
	if err != nil {
		return err
	}
	q := resp.GetQuote()
	if *o == "json" {
		return printProto(out, q)
	}
	major := func(m *commonv1.Money) string {
		a := money.Amount{Currency: m.GetCurrency(), Minor: m.GetMinorUnits()}
		return a.String()
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "merchant receives\t%s\n", major(q.GetMerchantAmount()))
	fmt.Fprintf(tw, "user pays\t%s\n", major(q.GetWalletAmount()))
	fmt.Fprintf(tw, "partner owes\t%s\n", major(q.GetSettlementAmount()))
	fmt.Fprintf(tw, "cost\t%s (FX revenue %s)\n", major(q.GetCostAmount()),
		money.Amount{Currency: q.GetCostAmount().GetCurrency(), Minor: q.GetSettlementAmount().GetMinorUnits() - q.GetCostAmount().GetMinorUnits()})
	fmt.Fprintf(tw, "rate\t%s %s per %s (mid %s, markup %d bps)\n", q.GetRate(), q.GetWalletAmount().GetCurrency(),
		q.GetMerchantAmount().GetCurrency(), q.GetMidRate(), q.GetSpreadBps())
	fmt.Fprintf(tw, "cost rate\t%s %s per %s\n", q.GetCostRate(), q.GetSettlementAmount().GetCurrency(), q.GetMerchantAmount().GetCurrency())
	printLegs(tw, "legs", q.GetLegs())
	printLegs(tw, "settlement legs", q.GetSettlementLegs())
	return tw.Flush()
}

func printLegs(w io.Writer, title string, legs []*commonv1.RateLeg) {
	for i, l := range legs {
		if i > 0 {
			title = ""
		}
		fmt.Fprintf(w, "%s\t%s/%s from %s: bid %s ask %s at %s\n", title, l.GetBaseCurrency(), l.GetQuoteCurrency(), l.GetProvider(),
			l.GetBid(), l.GetAsk(), l.GetSourceTime().AsTime().Format(time.RFC3339Nano))
	}
}

// fxHistory prints the rates received for a pair.
func fxHistory(ctx context.Context, g globals, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("fx history", flag.ContinueOnError)
	o := outputFlag(fs)
	since := fs.Duration("since", 5*time.Minute, "how far back")
	limit := fs.Int("limit", 100, "at most this many rates")
	if err := fs.Parse(reorder(args)); err != nil {
		return err
	}
	if err := checkOutput(*o); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: fx history PAIR [--since 5m] [--limit 100]")
	}
	conn, err := g.dial(g.fx)
	if err != nil {
		return err
	}
	defer conn.Close()
	resp, err := fxv1.NewFxServiceClient(conn).RateHistory(ctx, &fxv1.RateHistoryRequest{Pair: fs.Arg(0),
		Since: timestamppb.New(time.Now().Add(-*since)), Limit: int32(*limit)})
	if err != nil {
		return err
	}
	if *o == "json" {
		return printProto(out, resp)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RECEIVED\tPROVIDER\tBID\tASK\tSOURCE AGE\tREJECTED")
	for _, h := range resp.GetRates() {
		r := h.GetRate()
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.GetReceiveTime().AsTime().Format("15:04:05.000"), r.GetProvider(),
			r.GetBid(), r.GetAsk(), (time.Duration(r.GetAgeMs()) * time.Millisecond).String(), orNone(h.GetRejected()))
	}
	return tw.Flush()
}

// reorder puts flags before positional arguments, so that
// "fx quote CODE 12.50 --partner hipay" parses as the user meant.
func reorder(args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			pos = append(pos, args[i+1:]...)
			i = len(args)
		case strings.HasPrefix(a, "-") && len(a) > 1:
			flags = append(flags, a)
			if !strings.Contains(a, "=") && i+1 < len(args) && !isBoolFlag(a) {
				flags = append(flags, args[i+1])
				i++
			}
		default:
			pos = append(pos, a)
		}
	}
	return append(flags, pos...)
}

func isBoolFlag(a string) bool {
	return strings.TrimLeft(a, "-") == "wallet"
}
