package settlement

import (
	"fmt"
	"math/big"
	"strings"
)

// FeeTier is one tier of a settlement fee agreement: for a statement whose
// gross is at least FromMinor (minor units of its currency), Bps of the
// gross plus FixedMinor per payment.
type FeeTier struct {
	FromMinor  int64
	Bps        int64
	FixedMinor int64
}

// Fees gives the fee agreements in force (the routing table's).
type Fees interface {
	PartnerFees(partnerID string) []FeeTier
	NetworkFees(networkID string) []FeeTier
}

// feeKindPrefix starts the kind of a fee posting: "fee:<statement id>".
// Its payment id is the cycle's id.
const feeKindPrefix = "fee:"

// FeeRevenueAccount is where Unigate's settlement fees are credited.
const FeeRevenueAccount = "fee_revenue"

// Fee is what a statement's agreement charges (docs/settlement.md,
// "Fees"): the tier is the last whose FromMinor is at most gross; the fee
// is gross × Bps / 10,000 rounded half up to a minor unit, plus FixedMinor
// for each payment. gross and payments count the cycle's payments less
// its cancels (a cancel undoes its payment's fee); refunds do not reduce
// the fee. No tiers, or nothing to charge, is no fee.
func Fee(tiers []FeeTier, gross, payments int64) (int64, error) {
	if len(tiers) == 0 || gross <= 0 && payments <= 0 {
		return 0, nil
	}
	t := tiers[0]
	for _, c := range tiers[1:] {
		if c.FromMinor <= gross {
			t = c
		}
	}
	fee := new(big.Int)
	if gross > 0 {
		fee.Mul(big.NewInt(gross), big.NewInt(t.Bps))
		fee.Add(fee, big.NewInt(5_000))
		fee.Quo(fee, big.NewInt(10_000))
	}
	if payments > 0 {
		fee.Add(fee, new(big.Int).Mul(big.NewInt(payments), big.NewInt(t.FixedMinor)))
	}
	if !fee.IsInt64() {
		return 0, fmt.Errorf("settlement: fee on gross %d over %d payments overflows", gross, payments)
	}
	return fee.Int64(), nil
}

// isFeeKind reports whether a posting kind is a settlement fee's.
func isFeeKind(kind string) bool { return strings.HasPrefix(kind, feeKindPrefix) }
