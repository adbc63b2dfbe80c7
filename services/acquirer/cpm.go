package acquirer

import (
	"context"
	"fmt"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/rpcerr"
)

// SubmitInput is a CPM payment submitted by a merchant network.
type SubmitInput struct {
	NetworkID  string
	OrderID    string
	MerchantID string
	Code       string
	Amount     *money.Amount
}

func (in SubmitInput) validate() error {
	if err := ValidateKey("order_id", in.OrderID); err != nil {
		return err
	}
	if err := CheckText("merchant_id", in.MerchantID, MaxMerchantID, true); err != nil {
		return err
	}
	if err := checkCode(in.Code); err != nil {
		return err
	}
	if in.Amount == nil {
		return rpcerr.Field(rpcerr.InvalidAmount, "amount", "is required")
	}
	return nil
}

// Submit runs a CPM payment: the merchant's POS scanned a wallet's
// one-time code. The router finds the partner by the code's range, risk
// runs, FX prices the amount in the wallet's currency, and the partner's
// WalletPartnerService.Authorize debits the user. Idempotent per
// (network, order id); like Pay, the row is born scheduled for the
// resolver.
func (s *Service) Submit(ctx context.Context, in SubmitInput) (Payment, error) {
	if err := in.validate(); err != nil {
		return Payment{}, err
	}
	a := *in.Amount
	hash := fingerprint("cpm", in.NetworkID, in.OrderID, in.MerchantID, in.Code, a.Currency, fmt.Sprint(a.Minor))
	if p, err := s.d.Store.PaymentByOrder(ctx, in.NetworkID, in.OrderID); err == nil {
		return sameRequest(p, hash)
	} else if rpcerr.ReasonOf(err) != rpcerr.PaymentNotFound {
		return Payment{}, err
	}

	partnerID, err := s.d.Router.WalletCodePartner(ctx, in.Code)
	if err != nil {
		return Payment{}, err
	}
	partner, err := s.d.Router.Partner(ctx, partnerID)
	if err != nil {
		return Payment{}, err
	}
	if partner.Endpoint == "" {
		return Payment{}, rpcerr.New(rpcerr.UnsupportedCode, "partner %s does not accept consumer-presented payments", partnerID)
	}
	m, networkEndpoint, err := s.d.Router.Merchant(ctx, in.NetworkID, in.MerchantID)
	if err != nil {
		return Payment{}, err
	}
	if a.Currency != m.Currency {
		return Payment{}, rpcerr.Field(rpcerr.InvalidAmount, "amount.currency", "the merchant is paid in %s, not %s", m.Currency, a.Currency)
	}

	id := OrderPaymentID(in.NetworkID, in.OrderID)
	q, err := s.d.FX.CreateQuote(ctx, QuoteRequest{PartnerID: partnerID, WalletCurrency: partner.Currency, Merchant: a})
	if err == nil {
		q, err = s.d.FX.LockQuote(ctx, q.ID, id, partnerID, a)
	}
	if err != nil {
		// A retry of this order may be refused here (no fresh rate a
		// moment ago) while its first attempt, still in flight, recorded
		// the payment: answer with that payment rather than a refusal.
		if p, perr := s.d.Store.PaymentByOrder(ctx, in.NetworkID, in.OrderID); perr == nil {
			return sameRequest(p, hash)
		}
		return Payment{}, err
	}
	now := s.at()
	next := now.Add(s.cfg.ProcessBound)
	p := Payment{
		ID: id, PartnerID: partnerID, PartnerPaymentID: "order:" + in.NetworkID + ":" + in.OrderID, RequestHash: hash,
		Mode: CPM, Status: Processing,
		// The user is known only to the partner; until Authorize names them,
		// per-user checks key on the code (one-time, so effectively per payment).
		UserRef:  "code:" + fingerprint(in.Code)[:16],
		Merchant: m, MerchantAmount: a, WalletAmount: q.Wallet, SettlementAmount: q.Settlement, CostAmount: q.Cost,
		QuoteID: q.ID, Rate: q.Rate, CreateTime: now, UpdateTime: now, NextAttempt: &next,
		MerchantOrderID: in.OrderID, NetworkEndpoint: networkEndpoint, PartnerEndpoint: partner.Endpoint,
	}
	stored, inserted, err := s.d.Store.InsertPayment(ctx, p)
	if err != nil {
		return Payment{}, err
	}
	if !inserted {
		return sameRequest(stored, hash)
	}
	pctx, done, ok := s.begin(ctx)
	if !ok {
		return p, nil
	}
	defer done()
	p, ok, err = s.evaluate(pctx, p)
	if err != nil || !ok {
		return p, err
	}
	out, err := s.d.Wallets.Authorize(pctx, p.PartnerEndpoint, p, in.Code)
	if err != nil {
		return s.unknown(pctx, p, err)
	}
	return s.finish(pctx, p, out, nil)
}
