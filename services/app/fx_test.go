package app_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"
	settlementv1 "github.com/unigate/unigate/proto/gen/unigate/settlement/v1"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/services/walletsim"
)

// testSettlementCurrencies pays, partly refunds and settles for partners
// that settle in another currency than their wallet's: zalopay (VND, no
// minor digits, settling in USD), kwallet (KWD, three digits, priced
// through USD) and hipay with a wallet-fixed quote. Every amount of the
// payment, the refund's reversal and the statement is checked to the
// minor unit against the quote.
func (e *env) testSettlementCurrencies(t *testing.T) {
	ctx := context.Background()
	drained := func() bool {
		var n int
		err := e.db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM acq_payments WHERE status IN ('SUCCEEDED', 'CANCELLED') AND ledger_posted = FALSE)
			+ (SELECT count(*) FROM acq_refunds WHERE status = 'SUCCEEDED' AND ledger_posted = FALSE)`).Scan(&n)
		return err == nil && n == 0
	}
	for i, tc := range []struct {
		partner, wallet, settle string
		legs                    int
		fixWallet               *commonv1.Money
	}{
		{partner: "zalopay", wallet: "VND", settle: "USD", legs: 1},
		{partner: "kwallet", wallet: "KWD", settle: "KWD", legs: 2},
		{partner: "hipay", wallet: "MNT", settle: "MNT", legs: 1, fixWallet: &commonv1.Money{Currency: "MNT", MinorUnits: 5_000_000}},
	} {
		t.Run(tc.partner, func(t *testing.T) {
			waitFor(t, "earlier postings delivered", drained)
			if _, err := e.settlement.CloseCycle(ctx, &settlementv1.CloseCycleRequest{Cutoff: timestamppb.Now()}); err != nil {
				t.Fatal(err)
			}
			w := walletsim.New(tc.partner, e.partner(tc.partner))
			code := e.staticCode(0)
			qreq := &partnerv1.CreateQuoteRequest{Code: code, Amount: cny(12345)}
			if tc.fixWallet != nil {
				qreq = &partnerv1.CreateQuoteRequest{Code: code, WalletAmount: tc.fixWallet}
			}
			qr, err := w.SDK.CreateQuote(ctx, qreq)
			if err != nil {
				t.Fatal(err)
			}
			q := qr.GetQuote()
			if q.GetWalletAmount().GetCurrency() != tc.wallet || q.GetSettlementAmount().GetCurrency() != tc.settle || len(q.GetLegs()) != tc.legs {
				t.Fatalf("quote %v: want wallet %s, settlement %s, %d legs", q, tc.wallet, tc.settle, tc.legs)
			}
			if tc.fixWallet != nil && q.GetWalletAmount().GetMinorUnits() != tc.fixWallet.GetMinorUnits() {
				t.Fatalf("wallet-fixed quote moved the wallet amount: %v", q)
			}
			m := q.GetMerchantAmount().GetMinorUnits()
			pay, err := w.SDK.Pay(ctx, &partnerv1.PayRequest{PartnerPaymentId: fmt.Sprintf("fx-settle-%d", i), Code: code,
				Amount: q.GetMerchantAmount(), QuoteId: q.GetQuoteId(), UserRef: "u-fx"})
			if err != nil || pay.GetPayment().GetResult() != commonv1.Result_RESULT_SUCCESS {
				t.Fatalf("pay: %v %v", pay, err)
			}
			p := pay.GetPayment()
			if p.GetSettlementAmount().GetMinorUnits() != q.GetSettlementAmount().GetMinorUnits() || p.GetSettlementAmount().GetCurrency() != tc.settle {
				t.Fatalf("payment settles %v, quote %v", p.GetSettlementAmount(), q.GetSettlementAmount())
			}
			// A quote is single-use.
			_, err = w.SDK.Pay(ctx, &partnerv1.PayRequest{PartnerPaymentId: fmt.Sprintf("fx-settle-%d-again", i), Code: code,
				Amount: q.GetMerchantAmount(), QuoteId: q.GetQuoteId(), UserRef: "u-fx"})
			if rpcerr.ReasonOf(err) != rpcerr.QuoteAlreadyUsed {
				t.Fatalf("second use of a quote: %v", err)
			}
			e.waitPosted(p.GetPaymentId())
			// The wallet debited its user for this MPM payment: its books
			// know the payment, so it can credit the refund back.
			e.stack.Wallets.Wallet(tc.partner).SetBalance("u-fx", p.GetWalletAmount().GetMinorUnits())
			if err := e.stack.Wallets.Wallet(tc.partner).RecordPayment(p.GetPaymentId(), "u-fx", p.GetWalletAmount().GetMinorUnits()); err != nil {
				t.Fatal(err)
			}

			// A refund of a third of the merchant amount reverses a third
			// of every amount, rounded down.
			third := m / 3
			ref, err := e.pos().refund(fmt.Sprintf("fx-refund-%d", i), p.GetPaymentId(), third)
			if err != nil {
				t.Fatal(err)
			}
			var (
				status, reason string
				posted         bool
			)
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				err := e.db.QueryRowContext(ctx, `SELECT status, failure_reason, ledger_posted FROM acq_refunds WHERE refund_id = $1`,
					ref.GetRefundId()).Scan(&status, &reason, &posted)
				if err == nil && status == "SUCCEEDED" && posted {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("refund %s: %s %s posted=%v (%v); want SUCCEEDED and posted", ref.GetRefundId(), status, reason, posted, err)
				}
			}
			postings, err := e.settlement.ListPostings(ctx, &settlementv1.ListPostingsRequest{PaymentId: p.GetPaymentId()})
			if err != nil || len(postings.GetPostings()) != 2 {
				t.Fatalf("postings %v, %v", postings, err)
			}
			settle := q.GetSettlementAmount().GetMinorUnits()
			share := func(total int64) int64 {
				n := new(big.Int).Mul(big.NewInt(total), big.NewInt(third))
				return n.Quo(n, big.NewInt(m)).Int64()
			}
			receivable := map[string]int64{}
			for _, ps := range postings.GetPostings() {
				net := map[string]int64{}
				for _, en := range ps.GetEntries() {
					v := en.GetAmount().GetMinorUnits()
					if en.GetSide() == settlementv1.Side_SIDE_CREDIT {
						v = -v
					}
					net[en.GetAmount().GetCurrency()] += v
					if en.GetAccount() == "partner_receivable:"+tc.partner {
						if en.GetAmount().GetCurrency() != tc.settle {
							t.Fatalf("receivable in %s, want %s", en.GetAmount().GetCurrency(), tc.settle)
						}
						receivable[ps.GetKind()] += v
					}
				}
				for cur, n := range net {
					if n != 0 {
						t.Fatalf("posting %s does not balance in %s: %d", ps.GetKind(), cur, n)
					}
				}
			}
			var reversed int64
			for k, v := range receivable {
				if k != "payment" {
					reversed += v
				}
			}
			if ref.GetSettlementAmount().GetMinorUnits() != share(settle) && ref.GetResult() == commonv1.Result_RESULT_SUCCESS {
				t.Fatalf("refund settles %v, want %d", ref.GetSettlementAmount(), share(settle))
			}
			if receivable["payment"] != settle || reversed != -share(settle) {
				t.Fatalf("receivable moved %v; want payment %d and a reversal of %d", receivable, settle, share(settle))
			}

			// The cycle's statement is what the partner owes, in its
			// settlement currency, exactly.
			closed, err := e.settlement.CloseCycle(ctx, &settlementv1.CloseCycleRequest{Cutoff: timestamppb.Now()})
			if err != nil {
				t.Fatal(err)
			}
			var st *settlementv1.Statement
			for _, s := range closed.GetStatements() {
				if s.GetPartnerId() == tc.partner {
					st = s
				}
			}
			if st == nil || st.GetNetReceivable().GetCurrency() != tc.settle || st.GetNetReceivable().GetMinorUnits() != settle-share(settle) {
				t.Fatalf("statement %v; want %d %s", st, settle-share(settle), tc.settle)
			}
			e.checkStatementFile(t, st, p.GetPaymentId(), ref.GetRefundId())
		})
	}
}

// checkStatementFile streams a statement's CSV file and checks its name,
// header, rows (the payment, then its refund), trailer and checksum.
func (e *env) checkStatementFile(t *testing.T, st *settlementv1.Statement, paymentID, refundID string) {
	t.Helper()
	stream, err := e.settlement.StreamStatementFile(context.Background(), &settlementv1.StreamStatementFileRequest{StatementId: st.GetStatementId()})
	if err != nil {
		t.Fatal(err)
	}
	var (
		file      bytes.Buffer
		name, sum string
	)
	for {
		c, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if c.GetFileName() != "" {
			name = c.GetFileName()
		}
		if c.GetSha256() != "" {
			sum = c.GetSha256()
		}
		file.Write(c.GetData())
	}
	cur := st.GetNetReceivable().GetCurrency()
	if want := "unigate-statement_" + st.GetPartnerId() + "_" + cur + "_" + st.GetCycleId() + ".csv"; name != want {
		t.Errorf("file name %q, want %q", name, want)
	}
	if h := sha256.Sum256(file.Bytes()); hex.EncodeToString(h[:]) != sum {
		t.Errorf("checksum %s, file hashes to %x", sum, h)
	}
	recs, err := csv.NewReader(&file).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	net := money.Amount{Currency: cur, Minor: st.GetNetReceivable().GetMinorUnits()}
	if len(recs) != 4 || recs[0][0] != "record" || recs[1][1] != "PAYMENT" || recs[1][2] != paymentID ||
		recs[2][1] != "REFUND" || recs[2][3] != refundID || !strings.HasPrefix(recs[2][6], "-") ||
		recs[3][0] != "T" || recs[3][1] != "payments=1 refunds=1 cancels=0 fees=0" || recs[3][2] != "rows=2" || recs[3][5] != cur || recs[3][6] != net.Major() {
		t.Errorf("statement file:\n%v", recs)
	}
}
