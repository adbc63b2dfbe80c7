package acquirer

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/pkg/sqlstore/sqlstoretest"
	"github.com/unigate/unigate/services/settlement"
)

// The properties of a payment's life in the ledger: a payment, then
// partial refunds of random sizes in random order (perhaps a last one of
// the rest), or a cancel instead, each priced and posted as the acquirer
// does (Proportional, ledgerPosting, refundPosting) and built into
// postings by the ledger (settlement.PaymentPosting).

// propertyCurrencies have 0 (VND, JPY, KRW), 2 (CNY, USD) and 3 (KWD,
// BHD) minor digits.
var propertyCurrencies = []string{"VND", "JPY", "KRW", "CNY", "USD", "KWD", "BHD"}

// lifeOf is one random payment and what happens to it.
type lifeOf struct {
	payment Payment
	refunds []Refund // priced, in the order made
	cancel  bool     // reversed in full instead of refunded
}

// randomLife makes a payment whose merchant, wallet and settlement
// currencies are drawn from propertyCurrencies (the settlement currency
// often the wallet's or the merchant's), then refunds or cancels it.
func randomLife(rng *rand.Rand, run int) lifeOf {
	pick := func() string { return propertyCurrencies[rng.IntN(len(propertyCurrencies))] }
	upTo := func(n int64) int64 { return 1 + rng.Int64N(n) }
	scale := []int64{10, 1000, 1_000_000, 1_000_000_000}
	mc, wc := pick(), pick()
	var sc string
	switch rng.IntN(4) {
	case 0:
		sc = wc // today's partners: settlement = wallet
	case 1:
		sc = mc // nothing to convert: cost = merchant
	default:
		sc = pick()
	}
	m := upTo(scale[run%len(scale)])
	w := upTo(scale[rng.IntN(len(scale))])
	s := upTo(scale[rng.IntN(len(scale))])
	switch {
	case sc == wc:
		s = w
	case sc == mc:
		s = m + rng.Int64N(m/10+1)
	}
	if sc == wc && sc == mc {
		w = max(w, m)
		s = w
	}
	c := rng.Int64N(s + 1)
	if sc == mc {
		c = m
	}
	p := Payment{ID: fmt.Sprintf("pay-%d", run), PartnerID: "hipay", Status: Succeeded,
		Merchant:       Merchant{ID: "m-1", NetworkID: "unionpay", Currency: mc},
		MerchantAmount: money.Amount{Currency: mc, Minor: m}, WalletAmount: money.Amount{Currency: wc, Minor: w},
		SettlementAmount: money.Amount{Currency: sc, Minor: s}, CostAmount: money.Amount{Currency: sc, Minor: c}}
	life := lifeOf{payment: p}
	if rng.IntN(5) == 0 {
		life.cancel = true
		return life
	}
	// Cut the merchant amount at random points; the pieces, shuffled, are
	// the refunds, the last piece (the rest) kept or not.
	var cuts []int64
	for range rng.IntN(6) {
		cuts = append(cuts, upTo(m))
	}
	cuts = append(cuts, m)
	var sizes []int64
	prev := int64(0)
	slices.Sort(cuts)
	for _, cut := range slices.Compact(cuts) {
		sizes = append(sizes, cut-prev)
		prev = cut
	}
	if rng.IntN(2) == 0 {
		sizes = sizes[:len(sizes)-1] // the rest is never refunded
	}
	rng.Shuffle(len(sizes), func(i, j int) { sizes[i], sizes[j] = sizes[j], sizes[i] })
	var taken [4]int64
	for i, size := range sizes {
		wr, sr, cr := Proportional([4]int64{m, w, s, c}, taken, size)
		if wr <= 0 {
			continue // refused as too small (ErrRefundTooSmall), as InsertRefund does
		}
		r := Refund{ID: fmt.Sprintf("ref-%d-%d", run, i), PaymentID: p.ID, PartnerID: p.PartnerID, Status: Succeeded,
			MerchantAmount: money.Amount{Currency: mc, Minor: size}, WalletAmount: money.Amount{Currency: wc, Minor: wr},
			SettlementAmount: money.Amount{Currency: sc, Minor: sr}, CostAmount: money.Amount{Currency: sc, Minor: cr}}
		life.refunds = append(life.refunds, r)
		taken = [4]int64{taken[0] + size, taken[1] + wr, taken[2] + sr, taken[3] + cr}
	}
	return life
}

// ledgerPostings are what the poster sends for the life: the payment, and
// its cancel's full reversal or a reversal per refund.
func (l lifeOf) ledgerPostings() []LedgerPosting {
	ps := []LedgerPosting{ledgerPosting(l.payment, "")}
	if l.cancel {
		return append(ps, ledgerPosting(l.payment, cancelReversal(l.payment.ID)))
	}
	for _, r := range l.refunds {
		ps = append(ps, refundPosting(l.payment, r))
	}
	return ps
}

// returned is what the life gave back: merchant, wallet, settlement, cost.
func (l lifeOf) returned() [4]int64 {
	p := l.payment
	if l.cancel {
		return [4]int64{p.MerchantAmount.Minor, p.WalletAmount.Minor, p.SettlementAmount.Minor, p.CostAmount.Minor}
	}
	var sum [4]int64
	for _, r := range l.refunds {
		sum[0] += r.MerchantAmount.Minor
		sum[1] += r.WalletAmount.Minor
		sum[2] += r.SettlementAmount.Minor
		sum[3] += r.CostAmount.Minor
	}
	return sum
}

// expectedNets are the accounts' balances (debit-positive, by
// "account/currency", none at zero) that the life must leave: the
// payment's less what was given back.
func (l lifeOf) expectedNets() map[string]int64 {
	p := l.payment
	back := l.returned()
	m, s, c := p.MerchantAmount.Minor-back[0], p.SettlementAmount.Minor-back[2], p.CostAmount.Minor-back[3]
	mc, sc := p.MerchantAmount.Currency, p.SettlementAmount.Currency
	out := map[string]int64{}
	add := func(account, cur string, v int64) {
		if k := account + "/" + cur; v != 0 {
			out[k] += v
		}
	}
	add("partner_receivable:"+p.PartnerID, sc, s)
	add(settlement.FXRevenue, sc, -(s - c))
	if sc != mc {
		add("fx_position:"+sc, sc, -c)
		add("fx_position:"+mc, mc, m)
	}
	add("merchant_payable:"+p.Merchant.NetworkID, mc, -m)
	return out
}

// factsOf is a posting as the ledger receives it (what grpcapi and the
// settlement server carry over the wire).
func factsOf(lp LedgerPosting) settlement.PaymentFacts {
	return settlement.PaymentFacts{PaymentID: lp.PaymentID, PartnerID: lp.PartnerID, NetworkID: lp.NetworkID,
		WalletAmount: lp.Wallet, SettlementAmount: lp.Settlement, CostAmount: lp.Cost, MerchantAmount: lp.Merchant,
		ReversalID: lp.ReversalID}
}

// postingsOf builds the ledger's postings of the life, failing the test
// if the ledger refuses one or one does not balance in every currency.
func postingsOf(t *testing.T, l lifeOf, at time.Time) []settlement.Posting {
	t.Helper()
	var out []settlement.Posting
	for _, lp := range l.ledgerPostings() {
		p, err := settlement.PaymentPosting(factsOf(lp), at)
		if err != nil {
			t.Fatalf("%s: the ledger refuses %+v: %v", l.payment.ID, lp, err)
		}
		per := map[string]int64{}
		for _, e := range p.Entries() {
			if e.Side == settlement.Debit {
				per[e.Amount.Currency] += e.Amount.Minor
			} else {
				per[e.Amount.Currency] -= e.Amount.Minor
			}
		}
		for cur, n := range per {
			if n != 0 {
				t.Fatalf("%s: posting %s is off by %d in %s", l.payment.ID, p.Kind(), n, cur)
			}
		}
		out = append(out, p)
	}
	return out
}

// netsOf sums postings per account and currency, debit-positive, leaving
// out what nets to zero.
func netsOf(ps []settlement.Posting) map[string]int64 {
	out := map[string]int64{}
	for _, p := range ps {
		for _, e := range p.Entries() {
			k := e.Account + "/" + e.Amount.Currency
			if e.Side == settlement.Debit {
				out[k] += e.Amount.Minor
			} else {
				out[k] -= e.Amount.Minor
			}
		}
	}
	for k, v := range out {
		if v == 0 {
			delete(out, k)
		}
	}
	return out
}

// TestLifeInTheLedger checks, for many random payments and their refunds
// or cancels: (a) the refunds never give back more than the payment in
// any of its four amounts, and a full set gives back each exactly; (b)
// every posting balances in every currency, and together they leave each
// account at exactly the payment less what was given back, not a minor
// unit created or lost; (c) a payment refunded in full or cancelled leaves
// every account at zero.
func TestLifeInTheLedger(t *testing.T) {
	rng := rand.New(rand.NewPCG(20250302, 2))
	at := time.Date(2025, 3, 2, 10, 0, 0, 0, time.UTC)
	full, partial, cancels := 0, 0, 0
	for run := range 5000 {
		l := randomLife(rng, run)
		p := l.payment
		paid := [4]int64{p.MerchantAmount.Minor, p.WalletAmount.Minor, p.SettlementAmount.Minor, p.CostAmount.Minor}
		back := l.returned()
		for i, name := range []string{"merchant", "wallet", "settlement", "cost"} {
			if back[i] > paid[i] || back[i] < 0 {
				t.Fatalf("run %d %v: gave back %d of %d %s units", run, paid, back[i], paid[i], name)
			}
		}
		done := back[0] == paid[0]
		if done && back != paid {
			t.Fatalf("run %d: a full refund gives back %v of %v (refunds %+v)", run, back, paid, l.refunds)
		}
		got := netsOf(postingsOf(t, l, at))
		if want := l.expectedNets(); !maps.Equal(got, want) {
			t.Fatalf("run %d %+v, refunds %+v, cancel %v: the ledger nets %v, want %v", run, p, l.refunds, l.cancel, got, want)
		}
		switch {
		case done && len(got) != 0:
			t.Fatalf("run %d: given back in full, the ledger still nets %v", run, got)
		case l.cancel:
			cancels++
		case done:
			full++
		default:
			partial++
		}
	}
	// The runs cover every ending.
	if full < 500 || partial < 500 || cancels < 500 {
		t.Fatalf("%d full refunds, %d partial, %d cancels: too few of one", full, partial, cancels)
	}
}

// TestLifeInTheLedgerStore posts random lives through the real ledger
// store (InsertPostings), on every back end, and checks the trial balance
// is exactly what the lives leave.
func TestLifeInTheLedgerStore(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		if err := settlement.Migrate(ctx, db); err != nil {
			t.Fatal(err)
		}
		st := settlement.NewSQLStore(db)
		rng := rand.New(rand.NewPCG(20250303, 3))
		at := time.Date(2025, 3, 3, 10, 0, 0, 0, time.UTC)
		want := map[string]int64{}
		var lives []lifeOf
		for len(lives) < 40 {
			l := randomLife(rng, len(lives))
			if !l.cancel && len(l.refunds) < 2 && len(lives)%2 == 0 {
				continue // mostly lives with several refunds
			}
			lives = append(lives, l)
			for k, v := range l.expectedNets() {
				want[k] += v
			}
		}
		for _, l := range lives {
			if _, err := st.InsertPostings(ctx, postingsOf(t, l, at)); err != nil {
				t.Fatal(err)
			}
		}
		bs, err := st.TrialBalance(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		perCurrency := map[string]int64{}
		for _, b := range bs {
			if n := b.Debit - b.Credit; n != 0 {
				got[b.Account+"/"+b.Currency] = n
			}
			perCurrency[b.Currency] += b.Debit - b.Credit
		}
		for k, v := range want {
			if v == 0 {
				delete(want, k)
			}
		}
		if !maps.Equal(got, want) {
			t.Fatalf("trial balance %v, want %v", got, want)
		}
		for cur, n := range perCurrency {
			if n != 0 {
				t.Fatalf("the ledger is off by %d in %s", n, cur)
			}
		}
		if v, err := st.CheckInvariants(ctx); err != nil || len(v) != 0 {
			t.Fatalf("CheckInvariants = %v, %v", v, err)
		}
	})
}
