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
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"

	acquiringv1 "github.com/unigate/unigate/proto/gen/unigate/acquiring/v1"
	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"
	settlementv1 "github.com/unigate/unigate/proto/gen/unigate/settlement/v1"

	"github.com/unigate/unigate/services/acquirer/grpcapi"
)

func newPaymentsCmd(g *globals) *cobra.Command {
	return group("payments", "look payments up and follow them", `Look a payment up by the partner's view of it (get), by any id it has
(find), and read everything that happened to it (timeline).`,
		newPaymentsGetCmd(g), newPaymentsFindCmd(g), newPaymentsTimelineCmd(g))
}

func newPaymentsGetCmd(g *globals) *cobra.Command {
	var partner, key string
	cmd := &cobra.Command{
		Use:   "get (PAYMENT_ID | --key PARTNER_PAYMENT_ID) --partner ID",
		Short: "a payment as its partner sees it",
		Long: `Print a payment as the partner API returns it to its partner: by the
payment id, or by the partner's own payment id (its idempotency key).
The payment must be the partner's. To look a payment up by any id it has,
without knowing its partner, use payments find.`,
		Example: `  unigatectl payments get --partner hipay 0f3c…
  unigatectl payments get --partner hipay --key order-1234 -o json`,
		Args: checkArgs(cobra.MaximumNArgs(1)),
	}
	cmd.Flags().StringVar(&partner, "partner", "", "the partner the payment belongs to (required)")
	cmd.Flags().StringVar(&key, "key", "", "the partner's payment id instead of the payment id")
	o := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		req := &partnerv1.GetPaymentRequest{}
		switch {
		case partner == "":
			return required(cmd, "partner")
		case key != "" && len(args) == 0:
			req.Id = &partnerv1.GetPaymentRequest_PartnerPaymentId{PartnerPaymentId: key}
		case key == "" && len(args) == 1:
			req.Id = &partnerv1.GetPaymentRequest_PaymentId{PaymentId: args[0]}
		default:
			return usageError{"give a payment id or --key, one of them (usage: " + cmd.UseLine() + ")"}
		}
		conn, err := g.dial(g.acquirer)
		if err != nil {
			return err
		}
		defer conn.Close()
		ctx := metadata.AppendToOutgoingContext(cmd.Context(), grpcapi.PartnerHeader, partner)
		resp, err := partnerv1.NewPartnerServiceClient(conn).GetPayment(ctx, req)
		if err != nil {
			return err
		}
		return o.print(cmd.OutOrStdout(), resp.GetPayment(), func() error { return paymentDetail(cmd.OutOrStdout(), resp.GetPayment()) })
	}
	return cmd
}

// paymentDetail prints a payment as "field: value" lines.
func paymentDetail(out io.Writer, p *partnerv1.Payment) error {
	m := p.GetMerchant()
	rows := [][2]string{
		{"payment", p.GetPaymentId()}, {"partner", p.GetPartnerId()}, {"partner payment id", p.GetPartnerPaymentId()},
		{"mode", strings.TrimPrefix(p.GetMode().String(), "PAYMENT_MODE_")},
		{"status", strings.TrimPrefix(p.GetStatus().String(), "PAYMENT_STATUS_")},
		{"merchant", fmt.Sprintf("%s/%s %s, %s", m.GetNetworkId(), m.GetMerchantId(), m.GetName(), m.GetCity())},
		{"merchant amount", major(p.GetMerchantAmount())}, {"wallet amount", major(p.GetWalletAmount())},
		{"settlement amount", major(p.GetSettlementAmount())}, {"rate", orDash(p.GetRate())}, {"quote", orDash(p.GetQuoteId())},
		{"network reference", orDash(p.GetNetworkReference())}, {"merchant order id", orDash(p.GetMerchantOrderId())},
	}
	if p.GetRefundedAmount() != nil {
		rows = append(rows, [2]string{"refunded", major(p.GetRefundedAmount())})
	}
	if p.GetCancelRequested() {
		rows = append(rows, [2]string{"cancel requested", "yes"})
	}
	if p.GetFailureReason() != "" {
		rows = append(rows, [2]string{"failure", p.GetFailureReason() + ": " + p.GetFailureMessage()})
	}
	rows = append(rows, [2]string{"created", when(p.GetCreateTime())}, [2]string{"updated", when(p.GetUpdateTime())})
	return fieldTable(out, rows)
}

// fieldTable prints "field: value" lines, aligned.
func fieldTable(out io.Writer, rows [][2]string) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintf(tw, "%s:\t%s\n", r[0], r[1])
	}
	return tw.Flush()
}

func (g globals) operatorClient() (acquiringv1.OperatorServiceClient, func(), error) {
	conn, err := g.dial(g.acquirer)
	if err != nil {
		return nil, nil, err
	}
	return acquiringv1.NewOperatorServiceClient(conn), func() { conn.Close() }, nil
}

func newPaymentsFindCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "find ID",
		Short: "find payments by any id they have",
		Long: `Find the payments that have ID as one of their ids: the payment id, the
partner's payment id (its idempotency key), the merchant network's order id
or reference, the quote id, the id, request id or partner reference of one
of its refunds, the id of one of its partner events, or the trace id of one
of its requests. Each match says which id it was. Exits 1 if none has it.`,
		Example: `  unigatectl payments find order-1234
  unigatectl payments find 4bf92f3577b34da6a3ce929d0e0e4736 -o json`,
		Args: exactArgs(1),
	}
	o := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, done, err := g.operatorClient()
		if err != nil {
			return err
		}
		defer done()
		resp, err := c.FindPayments(cmd.Context(), &acquiringv1.FindPaymentsRequest{Id: args[0]})
		if err != nil {
			return err
		}
		if len(resp.GetMatches()) == 0 {
			return fmt.Errorf("no payment has the id %q", args[0])
		}
		out := cmd.OutOrStdout()
		return o.print(out, resp, func() error {
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PAYMENT\tMATCHED\tPARTNER\tMODE\tSTATUS\tAMOUNT\tMERCHANT\tCREATED")
			for _, m := range resp.GetMatches() {
				p := m.GetPayment()
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s/%s\t%s\n", p.GetPaymentId(), m.GetMatched(), p.GetPartnerId(),
					strings.TrimPrefix(p.GetMode().String(), "PAYMENT_MODE_"), strings.TrimPrefix(p.GetStatus().String(), "PAYMENT_STATUS_"),
					major(p.GetMerchantAmount()), p.GetMerchant().GetNetworkId(), p.GetMerchant().GetMerchantId(), when(p.GetCreateTime()))
			}
			return tw.Flush()
		})
	}
	return cmd
}

// timelineRow is one line of a payment's timeline: the acquirer's entries
// and the ledger's postings, merged.
type timelineRow struct {
	Time     time.Time `json:"time"`
	Source   string    `json:"source"`
	Kind     string    `json:"kind"`
	RefundID string    `json:"refundId,omitempty"`
	ID       string    `json:"id,omitempty"`
	Detail   string    `json:"detail"`
}

func newPaymentsTimelineCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "timeline PAYMENT_ID",
		Short: "everything that happened to a payment, in time order",
		Long: `Print a payment's timeline, oldest first: from the acquirer, the payment's
creation and last change, each refund's, the partner events they caused
(the outbox, with their delivery sequence) and the audit entries of the
requests that created, cancelled or refunded it (with who made them and
their trace id); from the settlement service, every ledger posting of the
payment and its reversals, with its entries. If the settlement service
cannot be read, the acquirer's part is printed and the command fails.`,
		Example: `  unigatectl payments timeline 0f3c…
  unigatectl payments timeline "$(unigatectl payments find order-1234 -o json | jq -r '.matches[0].payment.paymentId')"`,
		Args: exactArgs(1),
	}
	o := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, done, err := g.operatorClient()
		if err != nil {
			return err
		}
		defer done()
		tl, err := c.GetPaymentTimeline(cmd.Context(), &acquiringv1.GetPaymentTimelineRequest{PaymentId: args[0]})
		if err != nil {
			return err
		}
		postings, ledgerErr := g.postings(cmd.Context(), args[0])
		rows := timelineRows(tl, postings)
		out := cmd.OutOrStdout()
		doc := map[string]any{"payment": protoValue(tl.GetPayment()), "entries": rows}
		var refunds, ps []any
		for _, r := range tl.GetRefunds() {
			refunds = append(refunds, protoValue(r))
		}
		for _, p := range postings {
			ps = append(ps, protoValue(p))
		}
		doc["refunds"], doc["postings"] = refunds, ps
		if ledgerErr != nil {
			doc["ledgerError"] = ledgerErr.Error()
		}
		err = o.printValue(out, doc, func() error {
			p := tl.GetPayment()
			fmt.Fprintf(out, "payment %s of %s: %s, %s\n", p.GetPaymentId(), p.GetPartnerId(),
				strings.TrimPrefix(p.GetStatus().String(), "PAYMENT_STATUS_"), major(p.GetMerchantAmount()))
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tSOURCE\tWHAT\tREFUND\tDETAIL")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Time.Format("2006-01-02T15:04:05.000000Z07:00"), r.Source, r.Kind, orDash(r.RefundID), r.Detail)
			}
			return tw.Flush()
		})
		if err != nil {
			return err
		}
		if ledgerErr != nil {
			return fmt.Errorf("the ledger's postings: %w", ledgerErr)
		}
		return nil
	}
	return cmd
}

// postings reads a payment's ledger postings from the settlement service.
func (g globals) postings(ctx context.Context, paymentID string) ([]*settlementv1.Posting, error) {
	conn, err := g.dial(g.settlement)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	resp, err := settlementv1.NewSettlementServiceClient(conn).ListPostings(ctx, &settlementv1.ListPostingsRequest{PaymentId: paymentID})
	if err != nil {
		return nil, err
	}
	return resp.GetPostings(), nil
}

// timelineRows merges the acquirer's timeline and the ledger's postings
// in time order (the acquirer's order kept among equal times).
func timelineRows(tl *acquiringv1.GetPaymentTimelineResponse, postings []*settlementv1.Posting) []timelineRow {
	var rows []timelineRow
	for _, e := range tl.GetEntries() {
		rows = append(rows, timelineRow{Time: e.GetTime().AsTime(), Source: strings.ToLower(strings.TrimPrefix(e.GetSource().String(), "TIMELINE_SOURCE_")),
			Kind: e.GetKind(), RefundID: e.GetRefundId(), ID: e.GetId(), Detail: e.GetDetail()})
	}
	for _, p := range postings {
		var es []string
		for _, e := range p.GetEntries() {
			es = append(es, fmt.Sprintf("%s %s %s", strings.ToLower(strings.TrimPrefix(e.GetSide().String(), "SIDE_")), e.GetAccount(), major(e.GetAmount())))
		}
		rows = append(rows, timelineRow{Time: p.GetCreateTime().AsTime(), Source: "ledger", Kind: "posting " + p.GetKind(), ID: p.GetPostingId(),
			Detail: p.GetPostingId() + ": " + strings.Join(es, "; ")})
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Time.Before(rows[j].Time) })
	return rows
}

func newRefundsCmd(g *globals) *cobra.Command {
	return group("refunds", "look refunds up", `Look a refund up by any id it has (get), or list a payment's refunds (list).`,
		newRefundsGetCmd(g), newRefundsListCmd(g))
}

func newRefundsGetCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get ID",
		Short: "a refund by its id, its request id or the partner's reference",
		Long: `Print a refund found by its id, by the request id its merchant network gave
it (any network's), or by the reference the partner returned for it.`,
		Example: `  unigatectl refunds get refund-7a1…
  unigatectl refunds get NETWORK_REFUND_REQUEST_ID -o yaml`,
		Args: exactArgs(1),
	}
	o := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return callPrint(cmd, o, g.operatorClient, acquiringv1.OperatorServiceClient.FindRefund, &acquiringv1.FindRefundRequest{Id: args[0]},
			func(out io.Writer, resp *acquiringv1.FindRefundResponse) error {
				r := resp.GetRefund()
				rows := [][2]string{
					{"refund", r.GetRefundId()}, {"matched", resp.GetMatched()}, {"payment", r.GetPaymentId()},
					{"network", resp.GetNetworkId()}, {"request id", r.GetRequestId()},
					{"status", strings.TrimPrefix(r.GetStatus().String(), "REFUND_STATUS_")},
					{"merchant amount", major(r.GetMerchantAmount())}, {"wallet amount", major(r.GetWalletAmount())},
					{"settlement amount", major(r.GetSettlementAmount())},
				}
				if r.GetFailureReason() != "" {
					rows = append(rows, [2]string{"failure", r.GetFailureReason() + ": " + r.GetFailureMessage()})
				}
				rows = append(rows, [2]string{"created", when(r.GetCreateTime())}, [2]string{"updated", when(r.GetUpdateTime())})
				return fieldTable(out, rows)
			})
	}
	return cmd
}

func newRefundsListCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "list PAYMENT_ID",
		Short:   "a payment's refunds, oldest first",
		Example: `  unigatectl refunds list 0f3c…`,
		Args:    exactArgs(1),
	}
	o := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return callPrint(cmd, o, g.operatorClient, acquiringv1.OperatorServiceClient.ListRefunds, &acquiringv1.ListRefundsRequest{PaymentId: args[0]},
			func(out io.Writer, resp *acquiringv1.ListRefundsResponse) error {
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "REFUND\tREQUEST\tSTATUS\tAMOUNT\tWALLET AMOUNT\tFAILURE\tCREATED")
				for _, r := range resp.GetRefunds() {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.GetRefundId(), r.GetRequestId(),
						strings.TrimPrefix(r.GetStatus().String(), "REFUND_STATUS_"), major(r.GetMerchantAmount()), major(r.GetWalletAmount()),
						orDash(r.GetFailureReason()), when(r.GetCreateTime()))
				}
				return tw.Flush()
			})
	}
	return cmd
}

// whenTime formats a time like when does a timestamp.
func whenTime(t time.Time) string { return when(timestamppb.New(t)) }
