// Package settlement is Unigate's settlement service: a double-entry
// ledger in which every money movement is a Posting that balances in each
// currency. An unbalanced posting cannot be built (NewPosting refuses it)
// and so cannot be written: the store accepts only a Posting.
//
// A partner settles with Unigate in its settlement currency (USD, HKD,
// SGD, CNY or its wallet's own). A payment whose merchant receives M
// (merchant currency, e.g. CNY), for which the partner owes S (settlement
// currency, e.g. USD) — both fixed by the payment's quote — with C the
// part of S that buys M at Unigate's cost rate, is posted as:
//
//	USD  debit  partner_receivable:<partner>  S   the partner owes us S
//	USD  credit fx_position:USD               C   what buying M costs us
//	USD  credit fx_revenue                    S−C our FX margin (if any)
//	CNY  debit  fx_position:CNY               M   the conversion delivers M
//	CNY  credit merchant_payable:<network>    M   we owe the network M
//
// What the wallet user paid (the wallet amount W, e.g. in MNT) is between
// the partner and its user and is not posted; a partner that settles in
// its wallet's currency owes S = W (a payment without a settlement amount
// is such a payment). In every currency debits equal credits, so partner
// receivables less merchant payables equal FX revenue plus the FX
// position's credit balance in that currency. When the settlement
// currency is the merchant's (a partner settling in CNY at a CNY
// merchant) nothing is converted: there are no FX position legs, C must
// equal M, and the receivable is credited to the merchant payable (and
// any margin to fx_revenue).
//
// A reversal — a refund, or the cancel of a whole payment — posts the
// amounts it reverses, at the payment's locked rates, with every entry
// mirrored.
package settlement

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/rpcerr"
)

// Domain errors.
var (
	ErrUnbalanced = rpcerr.New(rpcerr.UnbalancedPosting, "posting does not balance")
	ErrConflict   = rpcerr.New(rpcerr.PostingConflict, "payment already posted with different entries")
)

// Side is the side of an entry.
type Side string

// Sides.
const (
	Debit  Side = "D"
	Credit Side = "C"
)

// Entry is one line of a posting.
type Entry struct {
	Account string
	Side    Side
	Amount  money.Amount
}

// Posting is a balanced set of entries. Build it with NewPosting.
type Posting struct {
	id         string
	paymentID  string
	kind       string
	entries    []Entry
	createTime time.Time
	// partnerID and networkID name the partner and the network whose
	// receivable and payable the posting moves (from its entries): a
	// partner's cycle takes its postings.
	partnerID, networkID string
}

// unbalanced is ErrUnbalanced saying why, in a message that reaches the
// caller (errors.Is matches it with ErrUnbalanced).
func unbalanced(format string, args ...any) error {
	return rpcerr.New(rpcerr.UnbalancedPosting, "posting does not balance: "+format, args...)
}

// conflicting is ErrConflict naming the postings at fault, in a message
// that reaches the caller (errors.Is matches it with ErrConflict).
func conflicting(postings []string) error {
	return rpcerr.New(rpcerr.PostingConflict, "posted before with other entries: %s", strings.Join(postings, "; "))
}

// NewPosting checks that entries balance in every currency, that each is
// positive and names an account, and returns the posting.
func NewPosting(paymentID, kind string, entries []Entry, at time.Time) (Posting, error) {
	if paymentID == "" || kind == "" {
		return Posting{}, unbalanced("payment id and kind are required")
	}
	if len(entries) < 2 {
		return Posting{}, unbalanced("a posting needs at least two entries")
	}
	net := map[string]int64{}
	for i, e := range entries {
		if e.Account == "" || (e.Side != Debit && e.Side != Credit) {
			return Posting{}, unbalanced("entry %d has no account or side", i)
		}
		if _, err := money.New(e.Amount.Currency, e.Amount.Minor); err != nil {
			return Posting{}, unbalanced("entry %d: %v", i, err)
		}
		if e.Side == Debit {
			net[e.Amount.Currency] += e.Amount.Minor
		} else {
			net[e.Amount.Currency] -= e.Amount.Minor
		}
	}
	for cur, n := range net {
		if n != 0 {
			return Posting{}, unbalanced("%s debits exceed credits by %d minor units", cur, n)
		}
	}
	p := Posting{id: uuid.NewString(), paymentID: paymentID, kind: kind,
		entries: append([]Entry(nil), entries...), createTime: at.UTC().Truncate(time.Microsecond)}
	for _, e := range entries {
		if id, ok := strings.CutPrefix(e.Account, PartnerReceivablePrefix); ok && p.partnerID == "" {
			p.partnerID = id
		}
		if id, ok := strings.CutPrefix(e.Account, MerchantPayablePrefix); ok && p.networkID == "" {
			p.networkID = id
		}
	}
	return p, nil
}

// ID returns the posting id.
func (p Posting) ID() string { return p.id }

// PaymentID returns the payment the posting records.
func (p Posting) PaymentID() string { return p.paymentID }

// Kind returns what the posting records ("payment").
func (p Posting) Kind() string { return p.kind }

// Entries returns a copy of the entries.
func (p Posting) Entries() []Entry { return append([]Entry(nil), p.entries...) }

// CreateTime returns when the posting was made.
func (p Posting) CreateTime() time.Time { return p.createTime }

// sameEntries reports whether two postings record the same movement.
func sameEntries(a, b []Entry) bool {
	if len(a) != len(b) {
		return false
	}
	key := func(es []Entry) []string {
		out := make([]string, len(es))
		for i, e := range es {
			out[i] = fmt.Sprintf("%s|%s|%s|%d", e.Account, e.Side, e.Amount.Currency, e.Amount.Minor)
		}
		sort.Strings(out)
		return out
	}
	ka, kb := key(a), key(b)
	for i := range ka {
		if ka[i] != kb[i] {
			return false
		}
	}
	return true
}

// PaymentFacts are what a successful payment posts.
type PaymentFacts struct {
	PaymentID string
	PartnerID string
	NetworkID string
	// WalletAmount is what the wallet user paid, in the wallet's currency.
	WalletAmount money.Amount
	// SettlementAmount is what the partner owes, in its settlement
	// currency; the zero Amount means WalletAmount (a partner that settles
	// in its wallet's currency).
	SettlementAmount money.Amount
	// CostAmount is the part of the settlement amount that buys
	// MerchantAmount, in the settlement currency; the rest is FX revenue.
	CostAmount     money.Amount
	MerchantAmount money.Amount
	// ReversalID, when set, makes this the reversal of (part of) the
	// payment — a refund or a cancel — posted once per reversal id: the
	// amounts are what is reversed and the entries are mirrored.
	ReversalID string
}

// settlement is what the partner owes for the facts, in its settlement
// currency.
func (f PaymentFacts) settlement() money.Amount {
	if f.SettlementAmount == (money.Amount{}) {
		return f.WalletAmount
	}
	return f.SettlementAmount
}

// kind is the posting kind of the facts: "payment" or "reversal:<id>".
func (f PaymentFacts) kind() string {
	if f.ReversalID != "" {
		return "reversal:" + f.ReversalID
	}
	return "payment"
}

// Account names.
// Account name prefixes of the partners' receivables and the merchant
// networks' payables.
const (
	PartnerReceivablePrefix = "partner_receivable:"
	MerchantPayablePrefix   = "merchant_payable:"
)

func partnerReceivable(partner string) string { return PartnerReceivablePrefix + partner }
func merchantPayable(network string) string   { return MerchantPayablePrefix + network }
func fxPosition(currency string) string       { return "fx_position:" + currency }

// FXRevenue is the account of FX margin.
const FXRevenue = "fx_revenue"

// PaymentPosting builds the posting of a successful payment, or of a
// reversal (the same entries, mirrored), in the settlement currency.
func PaymentPosting(f PaymentFacts, at time.Time) (Posting, error) {
	settle := f.settlement()
	if f.CostAmount.Currency != settle.Currency {
		return Posting{}, rpcerr.Field(rpcerr.InvalidArgument, "cost_amount.currency", "must be the settlement currency %s, not %q", settle.Currency, f.CostAmount.Currency)
	}
	if f.CostAmount.Minor > settle.Minor && f.ReversalID == "" {
		// A payment's cost never exceeds what the partner owes. A
		// reversal's may: its settlement and cost shares are each rounded
		// down from the payment's, and after a failed refund gives its
		// share back they can land a few minor units apart. The difference
		// reverses FX revenue, the posting still balances, and the
		// acquirer's invariants bound every total by the payment's.
		return Posting{}, rpcerr.Field(rpcerr.InvalidAmount, "cost_amount.minor_units", "%d exceeds the settlement amount %d", f.CostAmount.Minor, settle.Minor)
	}
	var entries []Entry
	if settle.Minor > 0 {
		entries = append(entries, Entry{Account: partnerReceivable(f.PartnerID), Side: Debit, Amount: settle})
	}
	switch rev := settle.Minor - f.CostAmount.Minor; {
	case rev > 0:
		entries = append(entries, Entry{Account: FXRevenue, Side: Credit, Amount: money.Amount{Currency: settle.Currency, Minor: rev}})
	case rev < 0:
		entries = append(entries, Entry{Account: FXRevenue, Side: Debit, Amount: money.Amount{Currency: settle.Currency, Minor: -rev}})
	}
	if settle.Currency == f.MerchantAmount.Currency {
		// No conversion: the cost is the merchant amount itself.
		if f.CostAmount != f.MerchantAmount {
			return Posting{}, rpcerr.Field(rpcerr.InvalidAmount, "cost_amount", "must equal the merchant amount when the partner settles in the merchant's currency")
		}
	} else {
		if f.CostAmount.Minor > 0 {
			entries = append(entries, Entry{Account: fxPosition(settle.Currency), Side: Credit, Amount: f.CostAmount})
		}
		entries = append(entries, Entry{Account: fxPosition(f.MerchantAmount.Currency), Side: Debit, Amount: f.MerchantAmount})
	}
	entries = append(entries, Entry{Account: merchantPayable(f.NetworkID), Side: Credit, Amount: f.MerchantAmount})
	if f.ReversalID != "" {
		for i := range entries {
			if entries[i].Side == Debit {
				entries[i].Side = Credit
			} else {
				entries[i].Side = Debit
			}
		}
	}
	return NewPosting(f.PaymentID, f.kind(), entries, at)
}

// AccountBalance sums one account in one currency.
type AccountBalance struct {
	Account       string
	Currency      string
	Debit, Credit int64
}

// Store keeps the ledger. Implemented by *SQLStore.
type Store interface {
	// InsertPostings writes, in one transaction, each posting unless one of
	// the same payment and kind exists; it returns, in order, what the
	// ledger holds for each: the new posting or the existing one. All or
	// nothing: if a posting of the same payment and kind exists with other
	// entries it writes none of ps and returns ErrConflict naming every
	// such payment and kind.
	InsertPostings(ctx context.Context, ps []Posting) ([]Posting, error)
	// ListPostings returns a payment's postings, oldest first.
	ListPostings(ctx context.Context, paymentID string) ([]Posting, error)
	// TrialBalance sums every account per currency.
	TrialBalance(ctx context.Context) ([]AccountBalance, error)
	// CheckInvariants returns a description of every violated ledger
	// invariant, none when the ledger is sound.
	CheckInvariants(ctx context.Context) ([]string, error)
	CycleStore
	ReconStore
}

// Service is the ledger domain.
type Service struct {
	store Store
	now   func() time.Time
	fees  Fees
}

// SetFees sets the fee agreements closes charge (none when nil); call it
// before the service serves.
func (s *Service) SetFees(f Fees) { s.fees = f }

// NewService returns a Service.
func NewService(store Store, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, now: now}
}

// PostPayment posts a successful payment, once.
func (s *Service) PostPayment(ctx context.Context, f PaymentFacts) (Posting, error) {
	ps, err := s.postPayments(ctx, []PaymentFacts{f}, func(int) string { return "" })
	if err != nil {
		return Posting{}, err
	}
	return ps[0], nil
}

// MaxBatch bounds PostPayments.
const MaxBatch = 500

// PostPayments posts payments, each once, in one transaction, all or
// nothing: an invalid payment fails the batch with an error whose field
// starts with its index (payments[3].cost_amount), one posted before with
// other amounts fails it with ErrConflict naming its payment id and kind,
// and a failed batch writes nothing. Each error depends only on the
// payments at fault, so a caller can find them by splitting the batch.
func (s *Service) PostPayments(ctx context.Context, fs []PaymentFacts) ([]Posting, error) {
	if len(fs) > MaxBatch {
		return nil, rpcerr.Field(rpcerr.InvalidArgument, "payments", "at most %d payments per call", MaxBatch)
	}
	return s.postPayments(ctx, fs, func(i int) string { return fmt.Sprintf("payments[%d].", i) })
}

// postPayments builds and stores the postings of fs; prefix(i) prefixes
// the field names of an error about fs[i].
func (s *Service) postPayments(ctx context.Context, fs []PaymentFacts, prefix func(int) string) ([]Posting, error) {
	at := s.now()
	ps := make([]Posting, len(fs))
	seen := make(map[string]bool, len(fs))
	for i, f := range fs {
		key := f.PaymentID + "/" + f.kind()
		if seen[key] {
			return nil, rpcerr.Field(rpcerr.InvalidArgument, prefix(i)+"payment_id", "payment %s (%s) appears twice", f.PaymentID, f.kind())
		}
		seen[key] = true
		p, err := PaymentPosting(f, at)
		if err != nil {
			return nil, inItem(prefix(i), err)
		}
		ps[i] = p
	}
	return s.store.InsertPostings(ctx, ps)
}

// inItem names the batch item an error is about: the field of a field
// error gets the item's prefix, another error's message starts with it.
func inItem(prefix string, err error) error {
	var e *rpcerr.Error
	if prefix == "" || !errors.As(err, &e) {
		return err
	}
	if e.Field != "" {
		return rpcerr.Field(e.Reason, prefix+e.Field, "%s", e.Message)
	}
	return rpcerr.New(e.Reason, "%s: %s", strings.TrimSuffix(prefix, "."), e.Message)
}

// ListPostings returns a payment's postings.
func (s *Service) ListPostings(ctx context.Context, paymentID string) ([]Posting, error) {
	return s.store.ListPostings(ctx, paymentID)
}

// TrialBalance sums the ledger.
func (s *Service) TrialBalance(ctx context.Context) ([]AccountBalance, error) {
	return s.store.TrialBalance(ctx)
}
