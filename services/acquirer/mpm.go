package acquirer

import (
	"context"
	"fmt"
	"time"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	fxv1 "github.com/unigate/unigate/proto/gen/unigate/fx/v1"
	merchantv1 "github.com/unigate/unigate/proto/gen/unigate/merchant/v1"
	riskv1 "github.com/unigate/unigate/proto/gen/unigate/risk/v1"
	routerv1 "github.com/unigate/unigate/proto/gen/unigate/router/v1"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/moneypb"
	"github.com/unigate/unigate/pkg/rpcerr"
)

// PayInput is an MPM payment request.
type PayInput struct {
	PartnerID        string
	PartnerPaymentID string
	Code             string
	Amount           money.Amount
	QuoteID          string
	UserRef          string
}

func (in PayInput) hash() string {
	return fingerprint(in.PartnerID, in.PartnerPaymentID, in.Code, in.Amount.Currency,
		fmt.Sprint(in.Amount.Minor), in.QuoteID, in.UserRef)
}

// Decode resolves a code for a partner.
func (s *Service) Decode(ctx context.Context, partnerID, code string) (*routerv1.ResolveCodeResponse, error) {
	res, err := s.c.Router.ResolveCode(ctx, &routerv1.ResolveCodeRequest{PartnerId: partnerID, Code: code})
	if err != nil {
		return nil, rpcerr.FromStatus(err)
	}
	return res, nil
}

// merchantAmount checks the amount a partner sent against the code: the
// merchant's currency, and the code's own amount if it has one. A nil
// amount is allowed only for a code with an amount.
func merchantAmount(res *routerv1.ResolveCodeResponse, sent *commonv1.Money) (money.Amount, error) {
	var inCode money.Amount
	if res.GetAmount() != nil {
		inCode = amountOf(res.GetAmount())
	}
	if sent == nil && inCode.Minor > 0 {
		return inCode, nil
	}
	a, err := moneypb.FromProto(sent, "amount")
	if err != nil {
		return money.Amount{}, err
	}
	if a.Currency != res.GetMerchant().GetCurrency() {
		return money.Amount{}, rpcerr.Field(rpcerr.InvalidAmount, "amount.currency", "the merchant is paid in %s, not %s", res.GetMerchant().GetCurrency(), a.Currency)
	}
	if inCode.Minor > 0 && a != inCode {
		return money.Amount{}, rpcerr.Field(rpcerr.AmountMismatch, "amount", "the code is for %s, the request for %s", inCode, a)
	}
	return a, nil
}

// CreateQuote quotes a code's payment in the partner's currency.
func (s *Service) CreateQuote(ctx context.Context, partnerID, code string, amount *commonv1.Money) (*fxv1.Quote, error) {
	res, err := s.Decode(ctx, partnerID, code)
	if err != nil {
		return nil, err
	}
	a, err := merchantAmount(res, amount)
	if err != nil {
		return nil, err
	}
	q, err := s.c.FX.CreateQuote(ctx, &fxv1.CreateQuoteRequest{PartnerId: partnerID,
		WalletCurrency: res.GetPartner().GetCurrency(), MerchantAmount: moneypb.ToProto(a)})
	if err != nil {
		return nil, rpcerr.FromStatus(err)
	}
	return q.GetQuote(), nil
}

// Pay runs an MPM payment; see the package documentation for the steps.
func (s *Service) Pay(ctx context.Context, in PayInput, amount *commonv1.Money) (Payment, error) {
	if err := ValidateKey("partner_payment_id", in.PartnerPaymentID); err != nil {
		return Payment{}, err
	}
	if in.Code == "" {
		return Payment{}, rpcerr.Field(rpcerr.InvalidCode, "code", "is required")
	}
	if in.QuoteID == "" {
		return Payment{}, rpcerr.Field(rpcerr.InvalidArgument, "quote_id", "is required")
	}
	if in.UserRef == "" || len(in.UserRef) > 128 {
		return Payment{}, rpcerr.Field(rpcerr.InvalidArgument, "user_ref", "must be 1 to 128 characters")
	}
	a, err := moneypb.FromProto(amount, "amount")
	if err != nil {
		return Payment{}, err
	}
	in.Amount = a
	hash := in.hash()

	// 1. A repeat returns the payment as it stands.
	if p, err := s.store.GetByKey(ctx, in.PartnerID, in.PartnerPaymentID); err == nil {
		return sameRequest(p, hash)
	} else if rpcerr.ReasonOf(err) != rpcerr.PaymentNotFound {
		return Payment{}, err
	}

	// 2-3. Resolve and lock: refusals here write nothing of ours.
	res, err := s.Decode(ctx, in.PartnerID, in.Code)
	if err != nil {
		return Payment{}, err
	}
	if _, err := merchantAmount(res, amount); err != nil {
		return Payment{}, err
	}
	id := PaymentID(in.PartnerID, in.PartnerPaymentID)
	locked, err := s.c.FX.LockQuote(ctx, &fxv1.LockQuoteRequest{QuoteId: in.QuoteID, PaymentId: id,
		PartnerId: in.PartnerID, MerchantAmount: amount})
	if err != nil {
		return Payment{}, rpcerr.FromStatus(err)
	}
	q := locked.GetQuote()

	// 4. Record the payment.
	now := s.now().UTC().Truncate(time.Microsecond)
	p := Payment{
		ID: id, PartnerID: in.PartnerID, PartnerPaymentID: in.PartnerPaymentID, RequestHash: hash,
		Mode: MPM, Status: Processing, UserRef: in.UserRef, Merchant: res.GetMerchant(),
		MerchantAmount: a, WalletAmount: amountOf(q.GetWalletAmount()), CostAmount: amountOf(q.GetCostAmount()),
		QuoteID: q.GetQuoteId(), Rate: q.GetRate(), CreateTime: now, UpdateTime: now,
		NetworkEndpoint: res.GetNetwork().GetEndpoint(), PartnerEndpoint: res.GetPartner().GetEndpoint(),
	}
	stored, inserted, err := s.store.Insert(ctx, p)
	if err != nil {
		return Payment{}, err
	}
	if !inserted {
		return sameRequest(stored, hash) // a concurrent duplicate got there first
	}
	ctx, cancel := detach(ctx)
	defer cancel()
	return s.processMPM(ctx, p)
}

// evaluate runs risk; ok=false means the payment ended F.
func (s *Service) evaluate(ctx context.Context, p Payment) (Payment, bool, error) {
	dec, err := s.c.Risk.Evaluate(ctx, &riskv1.EvaluateRequest{PaymentId: p.ID, PartnerId: p.PartnerID,
		UserRef: p.UserRef, Merchant: p.Merchant, MerchantAmount: moneypb.ToProto(p.MerchantAmount),
		WalletAmount: moneypb.ToProto(p.WalletAmount)})
	if err != nil {
		// Nothing has moved: the payment can fail safely.
		done, err := s.fail(ctx, p, rpcerr.FromStatus(err).Reason, "risk check unavailable")
		return done, false, err
	}
	if dec.GetDecision() != riskv1.Decision_DECISION_APPROVE {
		reason := rpcerr.Reason(dec.GetReason())
		if reason == "" {
			reason = rpcerr.RiskDeclined
		}
		done, err := s.fail(ctx, p, reason, dec.GetMessage())
		return done, false, err
	}
	return p, true, nil
}

// processMPM runs risk and the merchant credit for a recorded payment.
func (s *Service) processMPM(ctx context.Context, p Payment) (Payment, error) {
	p, ok, err := s.evaluate(ctx, p)
	if err != nil || !ok {
		return p, err
	}
	conn, err := s.c.Conns.Get(p.NetworkEndpoint)
	if err != nil {
		return Payment{}, err
	}
	credit, err := merchantv1.NewMerchantNetworkServiceClient(conn).Credit(ctx, &merchantv1.CreditRequest{
		CreditId: p.ID, MerchantId: p.Merchant.GetMerchantId(), Amount: moneypb.ToProto(p.MerchantAmount)})
	if err != nil {
		return s.unknown(ctx, p, err) // the credit may or may not have happened: U, never F
	}
	switch credit.GetResult() {
	case commonv1.Result_RESULT_SUCCESS:
		return s.succeed(ctx, p, credit.GetNetworkReference(), "")
	case commonv1.Result_RESULT_FAILURE:
		return s.fail(ctx, p, rpcerr.MerchantCreditFailed,
			fmt.Sprintf("merchant network declined: %s %s", credit.GetFailureReason(), credit.GetFailureMessage()))
	}
	return s.unknown(ctx, p, fmt.Errorf("network answered %s", credit.GetResult()))
}
