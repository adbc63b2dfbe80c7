// Package walletsim is a wallet-partner simulator: it plays a foreign
// wallet's server calling Unigate's partner API, as the demo and the
// tests use it. Demo runs the scripted MPM flow and checks every answer.
package walletsim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"

	acquiringv1 "github.com/unigate/unigate/proto/gen/unigate/acquiring/v1"
	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"
	settlementv1 "github.com/unigate/unigate/proto/gen/unigate/settlement/v1"
	simulatorv1 "github.com/unigate/unigate/proto/gen/unigate/simulator/v1"

	unigate "github.com/unigate/unigate/sdk"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/paycode"
	"github.com/unigate/unigate/pkg/rpcerr"
)

// PartnerHeader names the calling partner (see acquirer.PartnerHeader).
const PartnerHeader = "unigate-partner-id"

// Wallet is one partner's client of the partner API, built on the SDK.
type Wallet struct {
	PartnerID string
	// SDK is the partner SDK's client: what a wallet integrates with.
	SDK *unigate.Client
	// Client is the bare generated client, for tests that need to send
	// what the SDK would not (no partner identity, malformed requests).
	Client partnerv1.PartnerServiceClient
	// Backend, if set, is the partner's own wallet: ScanAndPay records
	// each successful payment in it, as a wallet debits its user, so that
	// Unigate's refunds of the payment can be credited back.
	Backend *unigate.MemoryWallet
}

// New returns a wallet for partnerID on conn (the acquirer).
func New(partnerID string, conn grpc.ClientConnInterface) *Wallet {
	return &Wallet{PartnerID: partnerID, SDK: unigate.NewClient(conn, partnerID),
		Client: partnerv1.NewPartnerServiceClient(conn)}
}

// Context returns ctx carrying the partner's identity.
func (w *Wallet) Context(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, PartnerHeader, w.PartnerID)
}

// ScanAndPay runs decode, quote and pay for a code, as a wallet does when
// its user scans a merchant's code and confirms. amount may be nil for a
// code that carries its amount.
func (w *Wallet) ScanAndPay(ctx context.Context, code string, amount *commonv1.Money, key, userRef string) (*partnerv1.DecodeCodeResponse, *partnerv1.Quote, *partnerv1.Payment, error) {
	dec, err := w.SDK.DecodeCode(ctx, &partnerv1.DecodeCodeRequest{Code: code})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("decode: %w", err)
	}
	q, err := w.SDK.CreateQuote(ctx, &partnerv1.CreateQuoteRequest{Code: code, Amount: amount})
	if err != nil {
		return dec, nil, nil, fmt.Errorf("quote: %w", err)
	}
	pay, err := w.SDK.Pay(ctx, &partnerv1.PayRequest{PartnerPaymentId: key, Code: code,
		Amount: q.GetQuote().GetMerchantAmount(), QuoteId: q.GetQuote().GetQuoteId(), UserRef: userRef, DeviceRef: DeviceRef(userRef)})
	if err != nil {
		return dec, q.GetQuote(), nil, fmt.Errorf("pay: %w", err)
	}
	if w.Backend != nil && pay.GetPayment().GetResult() == commonv1.Result_RESULT_SUCCESS {
		if err := w.Backend.RecordPayment(pay.GetPayment().GetPaymentId(), userRef, pay.GetPayment().GetWalletAmount().GetMinorUnits()); err != nil {
			return dec, q.GetQuote(), pay.GetPayment(), fmt.Errorf("record payment in the wallet: %w", err)
		}
	}
	return dec, q.GetQuote(), pay.GetPayment(), nil
}

// DeviceRef is the simulated wallet's pseudonymous reference of a user's
// phone, as a wallet would send it: derived (never a hardware id in
// clear), stable per user, within [A-Za-z0-9._:-]{0,64}.
func DeviceRef(userRef string) string {
	sum := sha256.Sum256([]byte("device:" + userRef))
	return "dev:" + hex.EncodeToString(sum[:8])
}

// Demo is the scripted demo of `make run` and `make demo`.
type Demo struct {
	Wallet     *Wallet
	Simulator  simulatorv1.MerchantSimulatorServiceClient
	Settlement settlementv1.SettlementServiceClient
	// Network is the merchant network's side of the acquirer (its POS and
	// back office), called with the network's identity.
	Network   acquiringv1.AcquiringServiceClient
	NetworkID string
	// Backend is the partner's own wallet (issues one-time codes). Without
	// it the consumer-presented steps are skipped.
	Backend *unigate.MemoryWallet
	Out     io.Writer
}

func fmtMoney(m *commonv1.Money) string {
	if m == nil {
		return "(none)"
	}
	return money.Amount{Currency: m.GetCurrency(), Minor: m.GetMinorUnits()}.String()
}

func (d *Demo) printf(format string, args ...any) { fmt.Fprintf(d.Out, format, args...) }

// Run runs the demo and returns an error if any step did not give the
// expected answer.
func (d *Demo) Run(ctx context.Context) error {
	w := d.Wallet
	merchants, err := d.Simulator.ListMerchants(ctx, &simulatorv1.ListMerchantsRequest{})
	if err != nil || len(merchants.GetMerchants()) < 2 {
		return fmt.Errorf("list simulated merchants: %v", err)
	}
	shop, market := merchants.GetMerchants()[0], merchants.GetMerchants()[1]
	run := time.Now().UTC().Format("20060102T150405.000")

	d.printf("\n== 1. A %s user scans the static code of %s (%s)\n", w.PartnerID, shop.GetMerchant().GetName(), shop.GetMerchant().GetCity())
	d.printf("   code: %s\n", shop.GetStaticCode())
	amount := &commonv1.Money{Currency: "CNY", MinorUnits: 12850}
	dec, q, p, err := w.ScanAndPay(ctx, shop.GetStaticCode(), amount, "demo-"+run+"-1", "u-demo-1")
	if err != nil {
		return err
	}
	d.printf("   decoded: %s, %s, MCC %s, paid in %s; wallet pays in %s\n", dec.GetMerchant().GetName(),
		dec.GetMerchant().GetCity(), dec.GetMerchant().GetMcc(), dec.GetMerchant().GetCurrency(), dec.GetWalletCurrency())
	d.printf("   quote %s: merchant gets %s, user pays %s (rate %s %s/CNY, expires %s)\n", q.GetQuoteId(),
		fmtMoney(q.GetMerchantAmount()), fmtMoney(q.GetWalletAmount()), q.GetRate(), dec.GetWalletCurrency(),
		q.GetExpireTime().AsTime().Format(time.RFC3339))
	for _, l := range q.GetLegs() {
		d.printf("   priced from %s's %s/%s (bid %s, ask %s), mid %s, markup %d bps; the partner owes %s\n", l.GetProvider(),
			l.GetBaseCurrency(), l.GetQuoteCurrency(), l.GetBid(), l.GetAsk(), q.GetMidRate(), q.GetMarkupBps(), fmtMoney(q.GetSettlementAmount()))
	}
	d.printf("   pay: payment %s -> %s (%s)\n", p.GetPaymentId(), p.GetResult(), p.GetStatus())
	paid := []string{p.GetPaymentId()}
	if p.GetResult() != commonv1.Result_RESULT_SUCCESS {
		return fmt.Errorf("payment 1 answered %s (%s), want S", p.GetResult(), p.GetFailureReason())
	}

	d.printf("\n== 2. The wallet looks the payment up, then retries Pay with the same key\n")
	got, err := w.Client.GetPayment(w.Context(ctx), &partnerv1.GetPaymentRequest{Id: &partnerv1.GetPaymentRequest_PartnerPaymentId{PartnerPaymentId: p.GetPartnerPaymentId()}})
	if err != nil {
		return fmt.Errorf("get payment: %w", err)
	}
	d.printf("   get: %s %s, network reference %s\n", got.GetPayment().GetPaymentId(), got.GetPayment().GetStatus(), got.GetPayment().GetNetworkReference())
	again, err := w.Client.Pay(w.Context(ctx), &partnerv1.PayRequest{PartnerPaymentId: p.GetPartnerPaymentId(), Code: shop.GetStaticCode(),
		Amount: amount, QuoteId: q.GetQuoteId(), UserRef: "u-demo-1"})
	if err != nil {
		return fmt.Errorf("repeat pay: %w", err)
	}
	if again.GetPayment().GetPaymentId() != p.GetPaymentId() || again.GetPayment().GetResult() != p.GetResult() {
		return fmt.Errorf("repeat pay returned %s/%s, want %s/%s", again.GetPayment().GetPaymentId(), again.GetPayment().GetResult(), p.GetPaymentId(), p.GetResult())
	}
	d.printf("   repeat pay: same payment %s, %s — nothing paid twice\n", again.GetPayment().GetPaymentId(), again.GetPayment().GetResult())

	d.printf("\n== 3. A dynamic code with the amount in it, at %s (%s), paid by a traveller there\n", market.GetMerchant().GetName(), market.GetMerchant().GetCity())
	dyn, err := d.Simulator.CreateDynamicCode(ctx, &simulatorv1.CreateDynamicCodeRequest{MerchantId: market.GetMerchant().GetMerchantId(),
		Amount: &commonv1.Money{Currency: "CNY", MinorUnits: 239900}})
	if err != nil {
		return fmt.Errorf("dynamic code: %w", err)
	}
	dec, q, p, err = w.ScanAndPay(ctx, dyn.GetCode(), nil, "demo-"+run+"-2", "u-demo-3")
	if err != nil {
		return err
	}
	d.printf("   decoded amount %s; user pays %s; payment %s -> %s\n", fmtMoney(dec.GetAmount()), fmtMoney(q.GetWalletAmount()), p.GetPaymentId(), p.GetResult())
	paid = append(paid, p.GetPaymentId())
	if p.GetResult() != commonv1.Result_RESULT_SUCCESS {
		return fmt.Errorf("payment 2 answered %s (%s), want S", p.GetResult(), p.GetFailureReason())
	}
	// The first traveller paid in Erenhot a moment ago: the same wallet
	// paying in Shenzhen now would have flown 1,900 km in minutes.
	risky, err := d.Simulator.CreateDynamicCode(ctx, &simulatorv1.CreateDynamicCodeRequest{MerchantId: market.GetMerchant().GetMerchantId(),
		Amount: &commonv1.Money{Currency: "CNY", MinorUnits: 239900}})
	if err != nil {
		return fmt.Errorf("dynamic code: %w", err)
	}
	_, _, p, err = w.ScanAndPay(ctx, risky.GetCode(), nil, "demo-"+run+"-2b", "u-demo-1")
	if err != nil {
		return err
	}
	switch p.GetResult() {
	case commonv1.Result_RESULT_FAILURE:
		d.printf("   the Erenhot traveller's wallet pays there too, minutes later: %s (%s): %s\n", p.GetResult(), p.GetFailureReason(), p.GetFailureMessage())
		if p.GetFailureReason() != string(rpcerr.RiskDeclined) {
			return fmt.Errorf("the impossible journey failed with %s, want %s", p.GetFailureReason(), rpcerr.RiskDeclined)
		}
	case commonv1.Result_RESULT_SUCCESS:
		d.printf("   the Erenhot traveller's wallet pays there too, minutes later: %s, in review: an analyst's case is open\n", p.GetResult())
		paid = append(paid, p.GetPaymentId())
	default:
		return fmt.Errorf("the impossible journey answered %s", p.GetResult())
	}

	d.printf("\n== 4. Bad input is refused with a stable reason and writes nothing\n")
	_, err = w.Client.Pay(w.Context(ctx), &partnerv1.PayRequest{PartnerPaymentId: "demo-" + run + "-3", Code: shop.GetStaticCode(),
		Amount: amount, QuoteId: "no-such-quote", UserRef: "u-demo-1"})
	if rpcerr.ReasonOf(err) != rpcerr.QuoteNotFound {
		return fmt.Errorf("pay with an unknown quote: got %v, want %s", err, rpcerr.QuoteNotFound)
	}
	d.printf("   unknown quote -> %s\n", rpcerr.ReasonOf(err))
	corrupt := shop.GetStaticCode()[:len(shop.GetStaticCode())-4] + "0000"
	_, err = w.Client.DecodeCode(w.Context(ctx), &partnerv1.DecodeCodeRequest{Code: corrupt})
	if rpcerr.ReasonOf(err) != rpcerr.InvalidCode {
		return fmt.Errorf("decode a corrupt code: got %v, want %s", err, rpcerr.InvalidCode)
	}
	d.printf("   corrupt code -> %s (%s)\n", rpcerr.ReasonOf(err), rpcerr.FromStatus(err).Message)

	more, err := d.lifecycle(ctx, shop, market, run)
	if err != nil {
		return err
	}
	paid = append(paid, more...)

	d.printf("\n== 9. The ledger balances in every currency\n")
	if err := d.waitPosted(ctx, paid...); err != nil {
		return err
	}
	tb, err := d.Settlement.GetTrialBalance(ctx, &settlementv1.GetTrialBalanceRequest{})
	if err != nil {
		return fmt.Errorf("trial balance: %w", err)
	}
	for _, a := range tb.GetAccounts() {
		d.printf("   %-32s %s  debit %14s  credit %14s\n", a.GetAccount(), a.GetCurrency(),
			money.Amount{Currency: a.GetCurrency(), Minor: a.GetDebitMinorUnits()}.Major(),
			money.Amount{Currency: a.GetCurrency(), Minor: a.GetCreditMinorUnits()}.Major())
	}
	for _, c := range tb.GetCurrencies() {
		if c.GetDebitMinorUnits() != c.GetCreditMinorUnits() {
			return fmt.Errorf("ledger does not balance in %s: debits %d, credits %d", c.GetCurrency(), c.GetDebitMinorUnits(), c.GetCreditMinorUnits())
		}
		d.printf("   %s: debits = credits = %s\n", c.GetCurrency(), money.Amount{Currency: c.GetCurrency(), Minor: c.GetDebitMinorUnits()}.Major())
	}
	d.printf("\n== 10. Settlement closes the cycle; each partner gets its statement\n")
	closed, err := d.Settlement.CloseCycle(ctx, &settlementv1.CloseCycleRequest{Cutoff: timestamppb.Now()})
	if err != nil {
		return fmt.Errorf("close cycle: %w", err)
	}
	d.printf("   %s: %d postings\n", closed.GetCycle().GetCycleId(), closed.GetCycle().GetPostings())
	for _, st := range closed.GetStatements() {
		d.printf("   statement for %-10s owes %s over %d postings\n", st.GetPartnerId(), fmtMoney(st.GetNetReceivable()), st.GetPostings())
	}
	if err := d.statementFile(ctx, closed.GetStatements()); err != nil {
		return err
	}
	return nil
}

// waitPosted waits until the ledger holds the payments' postings: the
// acquirer posts them just after answering S.
func (d *Demo) waitPosted(ctx context.Context, ids ...string) error {
	deadline := time.Now().Add(10 * time.Second)
	for _, id := range ids {
		for {
			ps, err := d.Settlement.ListPostings(ctx, &settlementv1.ListPostingsRequest{PaymentId: id})
			if err == nil && len(ps.GetPostings()) >= 1 {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("payment %s not in the ledger after 10s (%v)", id, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return nil
}

// lifecycle runs the demo's CPM payment, partial refund, cancel and the
// payment that goes U and is resolved. It returns the payments it made
// that post to the ledger.
func (d *Demo) lifecycle(ctx context.Context, shop, market *simulatorv1.SimulatedMerchant, run string) ([]string, error) {
	w := d.Wallet
	var posted []string
	nctx := metadata.AppendToOutgoingContext(ctx, "unigate-network-id", d.NetworkID)
	if d.Backend != nil && d.Network != nil {
		d.printf("\n== 5. Consumer-presented: %s's POS scans the code in the user's wallet\n", shop.GetMerchant().GetName())
		d.Backend.SetBalance("u-demo-2", 20_000_000)
		code := d.Backend.IssueCode("u-demo-2")
		d.printf("   wallet shows one-time code %s (the code range names the partner)\n", paycode.Mask(code))
		sub, err := d.Network.SubmitPayment(nctx, &acquiringv1.SubmitPaymentRequest{OrderId: "demo-" + run + "-cpm",
			MerchantId: shop.GetMerchant().GetMerchantId(), Code: code, Amount: &commonv1.Money{Currency: "CNY", MinorUnits: 8800}})
		if err != nil {
			return nil, fmt.Errorf("submit CPM payment: %w", err)
		}
		p := sub.GetPayment()
		d.printf("   payment %s: %s CNY from %s -> %s; the user was debited %s\n", p.GetPaymentId(),
			money.Amount{Currency: "CNY", Minor: 8800}.Major(), p.GetPartnerId(), p.GetResult(), fmtMoney(p.GetWalletAmount()))
		if p.GetResult() != commonv1.Result_RESULT_SUCCESS {
			return nil, fmt.Errorf("CPM payment answered %s (%s)", p.GetResult(), p.GetFailureReason())
		}
		posted = append(posted, p.GetPaymentId())

		d.printf("\n== 6. The merchant refunds part of it\n")
		ref, err := d.Network.RefundPayment(nctx, &acquiringv1.RefundPaymentRequest{RefundRequestId: "demo-" + run + "-refund",
			PaymentId: p.GetPaymentId(), Amount: &commonv1.Money{Currency: "CNY", MinorUnits: 3000}, Reason: "one dish returned"})
		if err != nil {
			return nil, fmt.Errorf("refund: %w", err)
		}
		r := ref.GetRefund()
		d.printf("   refund %s of 30.00 CNY -> %s; the user gets back %s at the payment's rate %s\n",
			r.GetRefundId(), r.GetResult(), fmtMoney(r.GetWalletAmount()), p.GetRate())
		if r.GetResult() != commonv1.Result_RESULT_SUCCESS {
			return nil, fmt.Errorf("refund answered %s (%s)", r.GetResult(), r.GetFailureReason())
		}
	}

	d.printf("\n== 7. A wallet user pays, then the wallet cancels\n")
	_, _, p, err := w.ScanAndPay(ctx, market.GetStaticCode(), &commonv1.Money{Currency: "CNY", MinorUnits: 1500}, "demo-"+run+"-cancel", "u-demo-3")
	if err != nil {
		return nil, err
	}
	if p.GetResult() != commonv1.Result_RESULT_SUCCESS {
		return nil, fmt.Errorf("the payment to cancel answered %s (%s: %s), want S", p.GetResult(), p.GetFailureReason(), p.GetFailureMessage())
	}
	c, err := w.SDK.CancelPayment(ctx, p.GetPaymentId())
	if err != nil {
		return nil, fmt.Errorf("cancel: %w", err)
	}
	d.printf("   payment %s %s, cancel -> %s (%s): the merchant's credit was reversed\n", p.GetPaymentId(), p.GetResult(), c.GetResult(), c.GetPayment().GetStatus())
	if c.GetPayment().GetStatus() != partnerv1.PaymentStatus_PAYMENT_STATUS_CANCELLED {
		return nil, fmt.Errorf("cancel left the payment %s", c.GetPayment().GetStatus())
	}
	posted = append(posted, p.GetPaymentId())

	ms, err := d.Simulator.ListMerchants(ctx, &simulatorv1.ListMerchantsRequest{})
	if err != nil {
		return nil, err
	}
	var slow *simulatorv1.SimulatedMerchant
	for _, m := range ms.GetMerchants() {
		if m.GetMerchant().GetMerchantId() == "M10004" {
			slow = m
		}
	}
	if slow == nil {
		return posted, nil
	}
	d.printf("\n== 8. %s's network credits but answers too late: U, then the resolver finds out\n", slow.GetMerchant().GetName())
	_, _, u, err := w.ScanAndPay(ctx, slow.GetStaticCode(), &commonv1.Money{Currency: "CNY", MinorUnits: 2600}, "demo-"+run+"-slow", "u-demo-3")
	if err != nil {
		return nil, err
	}
	d.printf("   payment %s -> %s (in flight: never shown as failed)\n", u.GetPaymentId(), u.GetResult())
	deadline := time.Now().Add(60 * time.Second)
	for {
		got, err := w.SDK.GetPayment(ctx, u.GetPaymentId())
		if err == nil && got.GetPayment().GetResult() != commonv1.Result_RESULT_UNKNOWN {
			d.printf("   resolved -> %s (%s)\n", got.GetPayment().GetResult(), got.GetPayment().GetStatus())
			if got.GetPayment().GetResult() != commonv1.Result_RESULT_SUCCESS {
				return nil, fmt.Errorf("slow payment resolved to %s", got.GetPayment().GetResult())
			}
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("payment %s still unknown after 60s", u.GetPaymentId())
		}
		time.Sleep(200 * time.Millisecond)
	}
	return append(posted, u.GetPaymentId()), nil
}

// statementFile downloads the demo partner's statement file, shows its
// head and trailer, and reconciles it as the partner would send it back:
// every row must match.
func (d *Demo) statementFile(ctx context.Context, sts []*settlementv1.Statement) error {
	var st *settlementv1.Statement
	for _, s := range sts {
		if s.GetPartnerId() == d.Wallet.PartnerID {
			st = s
			break
		}
	}
	// A scheduled cutoff may have taken the payments first: then the
	// partner's latest statement.
	var latest *settlementv1.Statement
	for after := int64(0); st == nil; {
		page, err := d.Settlement.ListStatements(ctx, &settlementv1.ListStatementsRequest{AfterSequence: after, Limit: 500})
		if err != nil {
			return fmt.Errorf("list statements: %w", err)
		}
		for _, s := range page.GetStatements() {
			if s.GetPartnerId() == d.Wallet.PartnerID {
				latest = s
			}
			after = s.GetSequence()
		}
		if len(page.GetStatements()) < 500 {
			st = latest
			break
		}
	}
	if st == nil {
		return fmt.Errorf("no statement for %s", d.Wallet.PartnerID)
	}
	d.printf("\n== 11. %s's statement file, and the partner reconciles it\n", d.Wallet.PartnerID)
	stream, err := d.Settlement.StreamStatementFile(ctx, &settlementv1.StreamStatementFileRequest{StatementId: st.GetStatementId()})
	if err != nil {
		return fmt.Errorf("statement file: %w", err)
	}
	var (
		file      bytes.Buffer
		name, sum string
	)
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("statement file: %w", err)
		}
		if chunk.GetFileName() != "" {
			name = chunk.GetFileName()
		}
		file.Write(chunk.GetData())
		if chunk.GetSha256() != "" {
			sum = chunk.GetSha256()
		}
	}
	got := sha256.Sum256(file.Bytes())
	if hex.EncodeToString(got[:]) != sum {
		return fmt.Errorf("statement file %s: SHA-256 %x, the server's %q", name, got, sum)
	}
	lines := strings.Split(strings.TrimSpace(file.String()), "\n")
	d.printf("   %s (%d bytes, SHA-256 %s…)\n", name, file.Len(), sum[:16])
	for i, l := range lines {
		if i < 3 || i == len(lines)-1 {
			d.printf("     %s\n", l)
		} else if i == 3 {
			d.printf("     …\n")
		}
	}
	rec, err := d.Settlement.Reconcile(ctx, &settlementv1.ReconcileRequest{StatementId: st.GetStatementId(), FileName: name, File: file.Bytes()})
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	r := rec.GetRun()
	d.printf("   reconciled: %d rows, %d matched, %d breaks\n", r.GetRows(), r.GetMatched(), len(rec.GetBreaks()))
	if r.GetMatched() != r.GetRows() || len(rec.GetBreaks()) > 0 {
		return fmt.Errorf("the statement's own file reconciled with breaks: %v", rec.GetBreaks())
	}
	return nil
}
