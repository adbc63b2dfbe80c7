package settlement

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/pkg/sqlstore/sqlstoretest"
)

// TestFee: the tier is chosen by the gross; the percentage rounds half up
// to a minor unit; the fixed part is per payment.
func TestFee(t *testing.T) {
	tiers := []FeeTier{{FromMinor: 0, Bps: 50, FixedMinor: 10}, {FromMinor: 100_000, Bps: 30}}
	for _, tc := range []struct {
		tiers           []FeeTier
		gross, payments int64
		want            int64
	}{
		{nil, 100_000, 3, 0},
		{tiers, 0, 0, 0},
		{tiers, 1_000, 2, 5 + 20},    // 50 bps of 10.00 is 0.05, plus 2 × 0.10
		{tiers, 1_099, 1, 5 + 10},    // 5.495 rounds down
		{tiers, 1_100, 1, 6 + 10},    // 5.5 rounds up
		{tiers, 99_999, 1, 500 + 10}, // 499.995 rounds up; still the first tier
		{tiers, 100_000, 7, 300},     // the second tier: 30 bps, no fixed part
		{tiers, -500, 0, 0},          // refunds outweigh payments: nothing
		{tiers, 1, 1 << 62, 0},       // see the error below
	} {
		got, err := Fee(tc.tiers, tc.gross, tc.payments)
		if tc.payments == 1<<62 {
			if err == nil {
				t.Errorf("Fee on %d payments: no overflow error (%d)", tc.payments, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Fee(%v, %d, %d) = %d, %v; want %d", tc.tiers, tc.gross, tc.payments, got, err, tc.want)
		}
	}
}

type fixedFees struct{ partners, networks map[string][]FeeTier }

func (f fixedFees) PartnerFees(id string) []FeeTier { return f.partners[id] }
func (f fixedFees) NetworkFees(id string) []FeeTier { return f.networks[id] }

// TestCycleFees: a close charges each partner statement its agreement's fee
// (tiered, per settlement currency, a cancel undoing its payment's fee, a
// refund not) and each network statement the network's, as postings in
// the cycle; the statement file shows the fee row and reconciles; the
// books stay proved, and a tampered fee is named.
func TestCycleFees(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		clk := &clock{t: time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)}
		svc := testLedger(t, db, clk)
		svc.SetFees(fixedFees{
			partners: map[string][]FeeTier{"hipay": {{FromMinor: 0, Bps: 100, FixedMinor: 3}, {FromMinor: 50_000, Bps: 50}}},
			networks: map[string][]FeeTier{"cnsim": {{FromMinor: 0, Bps: 1000}}},
		})
		usd := payment("p-usd", 40_000, "")
		usd.SettlementAmount, usd.CostAmount = money.Amount{Currency: "USD", Minor: 1_250}, money.Amount{Currency: "USD", Minor: 1_240}
		refund := payment("p-1", 4_000, "refund-1")
		refund.CostAmount.Minor, refund.MerchantAmount.Minor = 3_960, 10
		p3 := payment("p-3", 8_000, "")
		mustPost(t, svc, payment("p-1", 40_000, ""), payment("p-2", 20_000, ""), usd, p3)
		clk.set(clk.now().Add(time.Second))
		mustPost(t, svc, refund, cancelOf(p3))
		clk.set(clk.now().Add(time.Minute))
		c, sts, err := svc.ClosePartnerCycle(ctx, "hipay", clk.now(), nil)
		if err != nil || len(sts) != 2 {
			t.Fatalf("close: %+v %+v %v", c, sts, err)
		}
		// MNT: payments 400.00 + 200.00 (+ 80.00 cancelled), gross 600.00,
		// reaches the second tier: 0.5% is 3.00, no fixed part. USD: 12.50
		// in the first tier at 1% is 0.125, rounded half up to 0.13, plus
		// 0.03 for its one payment.
		want := map[string]struct{ gross, fee, net, postings int64 }{
			"MNT": {60_000, 300, 40_000 + 20_000 - 4_000 + 300, 6},
			"USD": {1_250, 13 + 3, 1_250 + 16, 2},
		}
		for _, st := range sts {
			w := want[st.NetReceivable.Currency]
			if st.Gross != w.gross || st.Fee != w.fee || st.NetReceivable.Minor != w.net || st.Postings != w.postings {
				t.Errorf("statement %+v, want %+v", st, w)
			}
		}
		// cnsim is owed 100 + 50 + 100 (the USD payment's CNY) - 10 CNY
		// cents; 10% of the 250 gross is kept.
		nets, err := svc.NetworkStatements(ctx, c.ID)
		if err != nil || len(nets) != 1 || nets[0].Gross != 250 || nets[0].Fee != 25 || nets[0].NetPayable.Minor != 250-10-25 {
			t.Fatalf("network statements %+v %v", nets, err)
		}
		if c.Postings != 6+1+1+1 { // six movements, three fees
			t.Fatalf("cycle %+v", c)
		}
		mustHoldInvariants(t, svc)

		// The MNT statement's file ends with its fee row and reconciles
		// against itself.
		var mnt Statement
		for _, st := range sts {
			if st.NetReceivable.Currency == "MNT" {
				mnt = st
			}
		}
		var file bytes.Buffer
		if _, err := svc.WriteStatementFile(ctx, mnt, &file); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(file.String(), "\nD,FEE,"+c.ID+",,") || !strings.Contains(file.String(), ",MNT,3.00,,,\n") ||
			!strings.Contains(file.String(), "\nT,payments=3 refunds=1 cancels=1 fees=1,rows=6,") {
			t.Fatalf("statement file:\n%s", file.String())
		}
		run, breaks, _, err := svc.Reconcile(ctx, mnt.ID, "own.csv", file.Bytes())
		if err != nil || run.Matched != 6 || len(breaks) != 0 {
			t.Fatalf("reconcile the file with its fee: %+v %+v %v", run, breaks, err)
		}

		// The network statement's file: what Unigate owes cnsim per row,
		// less its fee; it reconciles against itself, and a network's
		// file that disagrees breaks.
		nst, err := svc.Statement(ctx, nets[0].ID)
		if err != nil || nst.NetworkID != "cnsim" || nst.NetReceivable.Minor != 215 {
			t.Fatalf("the network statement as a statement: %+v %v", nst, err)
		}
		var nfile bytes.Buffer
		if _, err := svc.WriteStatementFile(ctx, nst, &nfile); err != nil {
			t.Fatal(err)
		}
		if StatementFileName(nst) != "unigate-network-statement_cnsim_CNY_"+c.ID+".csv" ||
			!strings.HasPrefix(nfile.String(), "record,type,payment_id,reversal_id,posted_at,partner_id,currency,amount\n") ||
			!strings.Contains(nfile.String(), ",hipay,CNY,1.00\n") || !strings.Contains(nfile.String(), ",CNY,-0.25\n") ||
			!strings.Contains(nfile.String(), "\nT,payments=4 refunds=1 cancels=1 fees=1,rows=7,,,,CNY,2.15\n") {
			t.Fatalf("network statement file %s:\n%s", StatementFileName(nst), nfile.String())
		}
		if run, breaks, _, err := svc.Reconcile(ctx, nst.ID, "cnsim-own.csv", nfile.Bytes()); err != nil || run.Matched != 7 || len(breaks) != 0 {
			t.Fatalf("reconcile the network file: %+v %+v %v", run, breaks, err)
		}
		theirs := strings.Replace(nfile.String(), ",hipay,CNY,1.00\n", ",hipay,CNY,1.10\n", 1)
		if run, breaks, _, err := svc.Reconcile(ctx, nst.ID, "cnsim.csv", []byte(theirs)); err != nil || run.Mismatched != 1 ||
			len(breaks) != 1 || breaks[0].Kind != BreakAmount || breaks[0].Detail != "amount: Unigate 1.00 CNY, counterparty 1.10 CNY" {
			t.Fatalf("reconcile the network's own view: %+v %+v %v", run, breaks, err)
		}

		// A fee tampered with in the database is named.
		sqlstoretest.MustExec(t, db, `UPDATE settlement_statements SET fee_minor = fee_minor + 1 WHERE statement_id = $1`, mnt.ID)
		vs, err := svc.CheckInvariants(ctx)
		if err != nil || !strings.Contains(strings.Join(vs, "\n"), "statement "+mnt.ID+" charged a fee of 301 but its fee posting credits 300") {
			t.Fatalf("a tampered fee: %v %v", vs, err)
		}
	})
}
