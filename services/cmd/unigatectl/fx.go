package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	fxv1 "github.com/unigate/unigate/proto/gen/unigate/fx/v1"
	routerv1 "github.com/unigate/unigate/proto/gen/unigate/router/v1"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/moneypb"
)

func newFxCmd(g *globals) *cobra.Command {
	return group("fx", "exchange rates and quotes", `Read the FX service's rates (every provider's latest, its age and verdict,
the chosen one), price a code for a partner without storing a quote, and
read the rates received for a pair.`, newFxRatesCmd(g, "rates"), newFxQuoteCmd(g), newFxHistoryCmd(g))
}

// newRatesCmd is fx rates under its own name.
func newRatesCmd(g *globals) *cobra.Command {
	cmd := newFxRatesCmd(g, "rates")
	cmd.Short += " (fx rates)"
	return cmd
}

func newFxRatesCmd(g *globals, use string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   use + " [--pair USD/CNY]",
		Short: "every provider's latest rate per pair, its age and verdict",
		Long: `Print every provider's latest rate per currency pair with its age and the
FX service's verdict (CHOSEN, STALE, OUTLIER, …), the staleness limit and
outlier band, the ingestion leader, and the rejection counts per provider.`,
		Example: "  unigatectl fx rates\n  unigatectl fx rates --pair USD/KWD -o json",
		Args:    noArgs,
	}
	pair := cmd.Flags().String("pair", "", "only this pair (USD/CNY)")
	o := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return fxRates(cmd.Context(), *g, *pair, o, cmd.OutOrStdout())
	}
	return cmd
}

func newFxQuoteCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "quote --partner ID [--wallet] CODE AMOUNT",
		Short: "price a code for a partner, storing nothing",
		Long: `Price a payment code for a partner's user as a payment would be priced,
without storing a quote: the router resolves the code to its merchant
currency, the FX service prices it with the partner's markup and settlement
currency. AMOUNT is in the merchant's currency, or in the wallet's with
--wallet (what the user pays).`,
		Example: `  unigatectl fx quote --partner hipay '000201…' 100.00
  unigatectl fx quote --partner zalopay --wallet '000201…' 1000 -o json`,
		Args: exactArgs(2),
	}
	partner := cmd.Flags().String("partner", "", "the partner whose user pays (its wallet currency, settlement currency and markup; required)")
	wallet := cmd.Flags().Bool("wallet", false, "AMOUNT is what the user pays, in the wallet currency (the merchant amount is computed)")
	o := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if *partner == "" {
			return required(cmd, "partner")
		}
		return fxQuote(cmd.Context(), *g, *partner, *wallet, args[0], args[1], o, cmd.OutOrStdout())
	}
	return cmd
}

func newFxHistoryCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "history PAIR [--since 5m] [--limit 100]",
		Short:   "the rates received for a pair, newest first",
		Example: "  unigatectl fx history CNY/MNT --since 1h",
		Args:    exactArgs(1),
	}
	since := cmd.Flags().Duration("since", 5*time.Minute, "how far back")
	limit := cmd.Flags().Int("limit", 100, "at most this many rates")
	o := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return fxHistory(cmd.Context(), *g, args[0], *since, *limit, o, cmd.OutOrStdout())
	}
	return cmd
}

// fxRates prints every provider's latest rate per pair with its age and
// verdict, the chosen provider, and the rejection counts.
func fxRates(ctx context.Context, g globals, pair string, o *output, out io.Writer) error {
	conn, err := g.dial(g.fx)
	if err != nil {
		return err
	}
	defer conn.Close()
	resp, err := fxv1.NewFxServiceClient(conn).ListRates(ctx, &fxv1.ListRatesRequest{Pair: pair})
	if err != nil {
		return err
	}
	if !o.table() {
		return printProtoAs(out, o.v, resp)
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
func fxQuote(ctx context.Context, g globals, partner string, wallet bool, code, amount string, o *output, out io.Writer) error {
	rconn, err := g.dial(g.router)
	if err != nil {
		return err
	}
	defer rconn.Close()
	res, err := routerv1.NewRouterServiceClient(rconn).ResolveCode(ctx, &routerv1.ResolveCodeRequest{PartnerId: partner, Code: code})
	if err != nil {
		return err
	}
	merchantCur := res.GetMerchant().GetCurrency()
	if merchantCur == "" {
		merchantCur = res.GetNetwork().GetCurrency()
	}
	req := &fxv1.CreateQuoteRequest{PartnerId: partner, WalletCurrency: res.GetPartner().GetCurrency()}
	if wallet {
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
	if !o.table() {
		return printProtoAs(out, o.v, q)
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
func fxHistory(ctx context.Context, g globals, pair string, since time.Duration, limit int, o *output, out io.Writer) error {
	conn, err := g.dial(g.fx)
	if err != nil {
		return err
	}
	defer conn.Close()
	resp, err := fxv1.NewFxServiceClient(conn).RateHistory(ctx, &fxv1.RateHistoryRequest{Pair: pair,
		Since: timestamppb.New(time.Now().Add(-since)), Limit: int32(limit)})
	if err != nil {
		return err
	}
	if !o.table() {
		return printProtoAs(out, o.v, resp)
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
