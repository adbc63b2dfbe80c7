package acquirer

import (
	"context"
	"fmt"
	"time"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	fxv1 "github.com/unigate/unigate/proto/gen/unigate/fx/v1"
	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"
	routerv1 "github.com/unigate/unigate/proto/gen/unigate/router/v1"

	"github.com/unigate/unigate/pkg/moneypb"
	"github.com/unigate/unigate/pkg/rpcerr"
)

// SubmitInput is a CPM payment submitted by a merchant network.
type SubmitInput struct {
	NetworkID  string
	OrderID    string
	MerchantID string
	Code       string
}

// Submit runs a CPM payment: the merchant's POS scanned a wallet's
// one-time code. The router finds the partner by the code's range, risk
// runs, FX prices the amount in the wallet's currency, and the partner's
// WalletPartnerService.Authorize debits the user. Idempotent per
// (network, order id).
func (s *Service) Submit(ctx context.Context, in SubmitInput, amount *commonv1.Money) (Payment, error) {
	if err := ValidateKey("order_id", in.OrderID); err != nil {
		return Payment{}, err
	}
	if in.MerchantID == "" {
		return Payment{}, rpcerr.Field(rpcerr.InvalidArgument, "merchant_id", "is required")
	}
	if in.Code == "" || len(in.Code) > 512 {
		return Payment{}, rpcerr.Field(rpcerr.InvalidCode, "code", "must be 1 to 512 characters")
	}
	a, err := moneypb.FromProto(amount, "amount")
	if err != nil {
		return Payment{}, err
	}
	hash := fingerprint("cpm", in.NetworkID, in.OrderID, in.MerchantID, in.Code, a.Currency, fmt.Sprint(a.Minor))
	if p, err := s.store.GetByOrder(ctx, in.NetworkID, in.OrderID); err == nil {
		return sameRequest(p, hash)
	} else if rpcerr.ReasonOf(err) != rpcerr.PaymentNotFound {
		return Payment{}, err
	}

	cls, err := s.c.Router.ClassifyCode(ctx, &routerv1.ClassifyCodeRequest{Code: in.Code})
	if err != nil {
		return Payment{}, rpcerr.FromStatus(err)
	}
	if cls.GetKind() != commonv1.CodeKind_CODE_KIND_WALLET_CODE || cls.GetPartnerId() == "" {
		return Payment{}, rpcerr.Field(rpcerr.UnsupportedCode, "code", "a %s is not a wallet's payment code", cls.GetKind())
	}
	partner, err := s.c.Router.GetPartner(ctx, &routerv1.GetPartnerRequest{PartnerId: cls.GetPartnerId()})
	if err != nil {
		return Payment{}, rpcerr.FromStatus(err)
	}
	if partner.GetPartner().GetEndpoint() == "" {
		return Payment{}, rpcerr.New(rpcerr.UnsupportedCode, "partner %s does not accept consumer-presented payments", cls.GetPartnerId())
	}
	m, err := s.c.Router.GetMerchant(ctx, &routerv1.GetMerchantRequest{NetworkId: in.NetworkID, MerchantId: in.MerchantID})
	if err != nil {
		return Payment{}, rpcerr.FromStatus(err)
	}
	if a.Currency != m.GetMerchant().GetCurrency() {
		return Payment{}, rpcerr.Field(rpcerr.InvalidAmount, "amount.currency", "the merchant is paid in %s, not %s", m.GetMerchant().GetCurrency(), a.Currency)
	}

	id := OrderPaymentID(in.NetworkID, in.OrderID)
	q, err := s.c.FX.CreateQuote(ctx, &fxv1.CreateQuoteRequest{PartnerId: cls.GetPartnerId(),
		WalletCurrency: partner.GetPartner().GetCurrency(), MerchantAmount: amount})
	if err != nil {
		return Payment{}, rpcerr.FromStatus(err)
	}
	locked, err := s.c.FX.LockQuote(ctx, &fxv1.LockQuoteRequest{QuoteId: q.GetQuote().GetQuoteId(), PaymentId: id,
		PartnerId: cls.GetPartnerId(), MerchantAmount: amount})
	if err != nil {
		return Payment{}, rpcerr.FromStatus(err)
	}
	quote := locked.GetQuote()
	now := s.now().UTC().Truncate(time.Microsecond)
	p := Payment{
		ID: id, PartnerID: cls.GetPartnerId(), PartnerPaymentID: "order:" + in.NetworkID + ":" + in.OrderID, RequestHash: hash,
		Mode: CPM, Status: Processing,
		// The user is known only to the partner; until Authorize names them,
		// per-user checks key on the code (one-time, so effectively per payment).
		UserRef:  "code:" + fingerprint(in.Code)[:16],
		Merchant: m.GetMerchant(), MerchantAmount: a,
		WalletAmount: amountOf(quote.GetWalletAmount()), CostAmount: amountOf(quote.GetCostAmount()),
		QuoteID: quote.GetQuoteId(), Rate: quote.GetRate(), CreateTime: now, UpdateTime: now,
		MerchantOrderID: in.OrderID, NetworkEndpoint: m.GetNetwork().GetEndpoint(), PartnerEndpoint: partner.GetPartner().GetEndpoint(),
	}
	stored, inserted, err := s.store.Insert(ctx, p)
	if err != nil {
		return Payment{}, err
	}
	if !inserted {
		return sameRequest(stored, hash)
	}
	ctx, cancel := detach(ctx)
	defer cancel()
	p, ok, err := s.evaluate(ctx, p)
	if err != nil || !ok {
		return p, err
	}
	wallet, err := s.wallet(p)
	if err != nil {
		return s.unknown(ctx, p, err)
	}
	auth, err := wallet.Authorize(ctx, &partnerv1.AuthorizeRequest{PaymentId: p.ID, Code: in.Code,
		WalletAmount: moneypb.ToProto(p.WalletAmount), MerchantAmount: moneypb.ToProto(p.MerchantAmount),
		Rate: p.Rate, Merchant: p.Merchant})
	if err != nil {
		return s.unknown(ctx, p, err)
	}
	switch auth.GetResult() {
	case commonv1.Result_RESULT_SUCCESS:
		return s.succeed(ctx, p, auth.GetPartnerReference(), auth.GetUserRef())
	case commonv1.Result_RESULT_FAILURE:
		return s.fail(ctx, p, rpcerr.WalletDeclined, fmt.Sprintf("%s %s", auth.GetFailureReason(), auth.GetFailureMessage()))
	}
	return s.unknown(ctx, p, fmt.Errorf("partner answered %s", auth.GetResult()))
}

// wallet returns a client of the payment's partner's WalletPartnerService.
func (s *Service) wallet(p Payment) (partnerv1.WalletPartnerServiceClient, error) {
	conn, err := s.c.Conns.Get(p.PartnerEndpoint)
	if err != nil {
		return nil, err
	}
	return partnerv1.NewWalletPartnerServiceClient(conn), nil
}

// GetByOrder returns a network's CPM payment by order id.
func (s *Service) GetByOrder(ctx context.Context, networkID, orderID string) (Payment, error) {
	return s.store.GetByOrder(ctx, networkID, orderID)
}

// GetForNetwork returns a payment by id if it is one of the network's.
func (s *Service) GetForNetwork(ctx context.Context, networkID, id string) (Payment, error) {
	p, err := s.store.Get(ctx, id)
	if err != nil {
		return Payment{}, err
	}
	if p.Merchant.GetNetworkId() != networkID {
		return Payment{}, ErrPaymentNotFound
	}
	return p, nil
}
