package acquirer

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/paycode"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/pkg/telemetry"
)

// PayInput is an MPM payment request.
type PayInput struct {
	PartnerID        string
	PartnerPaymentID string
	Code             string
	// Amount is what the partner sent; nil for a code that carries one.
	Amount  *money.Amount
	QuoteID string
	UserRef string
	// DeviceRef is optional: the partner's pseudonymous id of the user's
	// device, for risk.
	DeviceRef string
}

// devicePattern is what a device reference may be: like a key, but
// optional.
var devicePattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{0,64}$`)

// ValidateDeviceRef checks an optional device reference.
func ValidateDeviceRef(field, v string) error {
	if !devicePattern.MatchString(v) {
		return rpcerr.Field(rpcerr.InvalidArgument, field, "must be at most 64 characters of [A-Za-z0-9._:-]")
	}
	return nil
}

func (in PayInput) validate() error {
	if err := ValidateKey("partner_payment_id", in.PartnerPaymentID); err != nil {
		return err
	}
	if err := checkCode(in.Code); err != nil {
		return err
	}
	if err := CheckText("quote_id", in.QuoteID, 64, true); err != nil {
		return err
	}
	if err := CheckText("user_ref", in.UserRef, MaxUserRef, true); err != nil {
		return err
	}
	if err := ValidateDeviceRef("device_ref", in.DeviceRef); err != nil {
		return err
	}
	if in.Amount == nil {
		return rpcerr.Field(rpcerr.InvalidAmount, "amount", "is required")
	}
	return nil
}

func checkCode(code string) error {
	if code == "" {
		return rpcerr.Field(rpcerr.InvalidCode, "code", "is required")
	}
	var e *rpcerr.Error
	if err := CheckText("code", code, MaxCode, true); errors.As(err, &e) {
		return rpcerr.Field(rpcerr.InvalidCode, "code", "%s", e.Message)
	}
	return nil
}

// hash is the request's fingerprint. DeviceRef is left out on purpose: it
// says where the user paid from, not what is paid — a retry of the same
// payment from another device (the app reinstalled, the user switched
// phones while the answer was lost) is the same payment and gets the
// stored one back, unchanged (the row keeps the first request's device;
// a repeat writes nothing). Leaving it out also keeps the hashes of
// payments stored before device references existed.
func (in PayInput) hash() string {
	return fingerprint(in.PartnerID, in.PartnerPaymentID, in.Code, in.Amount.Currency,
		fmt.Sprint(in.Amount.Minor), in.QuoteID, in.UserRef)
}

// Decode resolves a code for a partner.
func (s *Service) Decode(ctx context.Context, partnerID, code string) (Resolution, error) {
	if err := checkCode(code); err != nil {
		return Resolution{}, err
	}
	return s.d.Router.ResolveCode(ctx, partnerID, code)
}

// merchantAmount checks the amount a partner sent against the code: the
// merchant's currency, and the code's own amount if it has one. A nil
// amount is allowed only for a code with an amount.
func merchantAmount(res Resolution, sent *money.Amount) (money.Amount, error) {
	var inCode money.Amount
	if res.Amount != nil {
		inCode = *res.Amount
	}
	if sent == nil {
		if inCode.Minor > 0 {
			return inCode, nil
		}
		return money.Amount{}, rpcerr.Field(rpcerr.InvalidAmount, "amount", "is required: the code carries none")
	}
	a := *sent
	if a.Currency != res.Merchant.Currency {
		return money.Amount{}, rpcerr.Field(rpcerr.InvalidAmount, "amount.currency", "the merchant is paid in %s, not %s", res.Merchant.Currency, a.Currency)
	}
	if inCode.Minor > 0 && a != inCode {
		return money.Amount{}, rpcerr.Field(rpcerr.AmountMismatch, "amount", "the code is for %s, the request for %s", inCode, a)
	}
	return a, nil
}

// QuoteInput asks for a quote of a code's payment. With Amount (or a
// code that carries one) the merchant receives exactly that and the
// wallet amount is computed; with WalletAmount instead — only for a
// static code, in the wallet's currency — the user pays exactly that and
// the merchant amount is computed.
type QuoteInput struct {
	PartnerID    string
	Code         string
	Amount       *money.Amount // in the merchant's currency
	WalletAmount *money.Amount // in the wallet's currency
}

// CreateQuote quotes a code's payment in the partner's currency, and what
// the partner will owe in its settlement currency.
func (s *Service) CreateQuote(ctx context.Context, in QuoteInput) (Quote, error) {
	if in.Amount != nil && in.WalletAmount != nil {
		return Quote{}, rpcerr.Field(rpcerr.InvalidArgument, "wallet_amount", "set amount or wallet_amount, not both")
	}
	res, err := s.Decode(ctx, in.PartnerID, in.Code)
	if err != nil {
		return Quote{}, err
	}
	req := QuoteRequest{PartnerID: in.PartnerID, WalletCurrency: res.Partner.Currency}
	if in.WalletAmount != nil {
		w := *in.WalletAmount
		if res.Amount != nil && res.Amount.Minor > 0 {
			return Quote{}, rpcerr.Field(rpcerr.InvalidArgument, "wallet_amount", "the code is for %s: only a code without an amount can be quoted by the wallet amount", *res.Amount)
		}
		if w.Currency != res.Partner.Currency {
			return Quote{}, rpcerr.Field(rpcerr.InvalidAmount, "wallet_amount.currency", "the wallet pays in %s, not %s", res.Partner.Currency, w.Currency)
		}
		req.Merchant, req.Wallet = money.Amount{Currency: res.Merchant.Currency}, &w
		return s.d.FX.CreateQuote(ctx, req)
	}
	if req.Merchant, err = merchantAmount(res, in.Amount); err != nil {
		return Quote{}, err
	}
	return s.d.FX.CreateQuote(ctx, req)
}

// Pay runs an MPM payment:
//
//  1. validate every field; look up the partner's key — a repeat with the
//     same request returns the payment, with another request
//     REPEAT_REQUEST_INCONSISTENT;
//  2. router: resolve the code to its merchant and network;
//  3. fx: lock the quote to the payment (the payment id is derived from the
//     partner and its key, so a retried lock is the same lock);
//  4. record the payment PROCESSING and already scheduled for the resolver
//     (every failure before this point is a refusal that wrote nothing);
//  5. risk: evaluate; a decline ends the payment F;
//  6. merchant network: credit the merchant; S, F, or U when the answer is
//     not known (timeout, unavailable): U is never F;
//  7. record S through a conditional transition that also writes the
//     partner's event and leaves the row owing its ledger posting (the
//     poster posts it in a batch). If this process dies anywhere after 4,
//     the resolver finishes the payment.
func (s *Service) Pay(ctx context.Context, in PayInput) (Payment, error) {
	if err := in.validate(); err != nil {
		return Payment{}, err
	}
	hash := in.hash()
	id := PaymentID(in.PartnerID, in.PartnerPaymentID)
	telemetry.Annotate(ctx, telemetry.PaymentIDKey.String(id), telemetry.PartnerIDKey.String(in.PartnerID))

	if p, err := s.d.Store.PaymentByKey(ctx, in.PartnerID, in.PartnerPaymentID); err == nil {
		return sameRequest(p, hash)
	} else if rpcerr.ReasonOf(err) != rpcerr.PaymentNotFound {
		return Payment{}, err
	}

	res, err := s.d.Router.ResolveCode(Fresh(ctx), in.PartnerID, in.Code)
	if err != nil {
		return Payment{}, err
	}
	a, err := merchantAmount(res, in.Amount)
	if err != nil {
		return Payment{}, err
	}
	q, err := s.d.FX.LockQuote(ctx, in.QuoteID, id, in.PartnerID, a)
	if err != nil {
		return Payment{}, err
	}

	now := s.at()
	next := now.Add(s.cfg.ProcessBound)
	p := Payment{
		ID: id, PartnerID: in.PartnerID, PartnerPaymentID: in.PartnerPaymentID, RequestHash: hash,
		Mode: MPM, Status: Processing, UserRef: in.UserRef, DeviceRef: in.DeviceRef, Merchant: res.Merchant,
		MerchantAmount: a, WalletAmount: q.Wallet, SettlementAmount: q.Settlement, CostAmount: q.Cost,
		QuoteID: q.ID, Rate: q.Rate, CreateTime: now, UpdateTime: now, NextAttempt: &next,
		NetworkEndpoint: res.NetworkEndpoint, PartnerEndpoint: res.Partner.Endpoint,
		TraceParent: telemetry.TraceParent(ctx),
	}
	stored, inserted, err := s.d.Store.InsertPayment(ctx, p)
	if err != nil {
		return Payment{}, err
	}
	if !inserted {
		return sameRequest(stored, hash) // a concurrent duplicate got there first
	}
	pctx, done, ok := s.begin(ctx)
	if !ok {
		return p, nil // stopping: the resolver takes it from here
	}
	defer done()
	return s.processMPM(pctx, p)
}

// evaluate runs risk; ok=false means the payment ended F (or is left to
// the resolver). A review proceeds exactly as an approval: risk opens the
// analyst's case on its side.
func (s *Service) evaluate(ctx context.Context, p Payment) (Payment, bool, error) {
	dec, err := s.d.Risk.Evaluate(ctx, p)
	if err != nil {
		// Nothing has moved: the payment can fail safely.
		done, err := s.fail(ctx, p, rpcerr.ReasonOf(err), "risk check unavailable", nil)
		return done, false, err
	}
	if !dec.Verdict.Proceeds() {
		done, err := s.fail(ctx, p, declineReason(dec), dec.Message, nil)
		return done, false, err
	}
	if dec.Verdict == Review {
		s.stats.reviews.Add(1)
		s.log.InfoContext(ctx, "risk review: the payment proceeds, a case is open", "payment_id", p.ID,
			"rule_id", dec.RuleID, "score_bp", dec.ScoreBP)
	}
	return p, true, nil
}

// declineReason is a decline's stable reason.
func declineReason(dec Decision) rpcerr.Reason {
	if dec.Reason == "" {
		return rpcerr.RiskDeclined
	}
	return dec.Reason
}

// processMPM runs risk and the merchant credit for a recorded payment.
func (s *Service) processMPM(ctx context.Context, p Payment) (Payment, error) {
	p, ok, err := s.evaluate(ctx, p)
	if err != nil || !ok {
		return p, err
	}
	out, err := s.d.Networks.Credit(ctx, p.NetworkEndpoint, p)
	if err != nil {
		return s.unknown(ctx, p, err) // the credit may or may not have happened: U, never F
	}
	return s.finish(ctx, p, out, nil)
}

// finish records a downstream's S or F, or leaves U to the resolver.
func (s *Service) finish(ctx context.Context, p Payment, out Outcome, f *Fence) (Payment, error) {
	switch out.Result {
	case Success:
		if p.Mode == CPM {
			return s.authorized(ctx, p, out, f)
		}
		return s.succeed(ctx, p, out, f)
	case Failure:
		reason, who := rpcerr.MerchantCreditFailed, "merchant network"
		if p.Mode == CPM {
			reason, who = rpcerr.WalletDeclined, "wallet"
		}
		// The other party's words are stored and returned: any code it
		// echoed is masked first.
		return s.fail(ctx, p, reason, paycode.Redact(fmt.Sprintf("%s declined: %s %s", who, out.FailureReason, out.FailureMessage)), f)
	}
	if f != nil {
		return p, nil // the resolver reschedules
	}
	return s.unknown(ctx, p, fmt.Errorf("downstream answered U"))
}
