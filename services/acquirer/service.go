package acquirer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/google/uuid"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	fxv1 "github.com/unigate/unigate/proto/gen/unigate/fx/v1"
	merchantv1 "github.com/unigate/unigate/proto/gen/unigate/merchant/v1"
	riskv1 "github.com/unigate/unigate/proto/gen/unigate/risk/v1"
	routerv1 "github.com/unigate/unigate/proto/gen/unigate/router/v1"
	settlementv1 "github.com/unigate/unigate/proto/gen/unigate/settlement/v1"

	"github.com/unigate/unigate/pkg/grpcx"
	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/moneypb"
	"github.com/unigate/unigate/pkg/rpcerr"
)

// Clients are the services the acquirer calls.
type Clients struct {
	Router     routerv1.RouterServiceClient
	FX         fxv1.FxServiceClient
	Risk       riskv1.RiskServiceClient
	Settlement settlementv1.SettlementServiceClient
	// Networks reaches merchant networks at the endpoints the router names.
	Networks *grpcx.Pool
}

// Service orchestrates payments.
type Service struct {
	store Store
	c     Clients
	log   *slog.Logger
	now   func() time.Time
	kick  chan struct{} // wakes the poster
}

// NewService returns a Service.
func NewService(store Store, c Clients, log *slog.Logger, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, c: c, log: log, now: now, kick: make(chan struct{}, 1)}
}

// processTimeout bounds the steps after a payment is recorded.
const processTimeout = 15 * time.Second

// paymentNamespace derives payment ids from partner keys (UUID v5).
var paymentNamespace = uuid.MustParse("5b0f7a2e-8f1c-4d1e-9a57-0c6f3b1d2e40")

// PaymentID is the id of partner's payment with key: the same key always
// names the same payment, so every step keyed by it is idempotent.
func PaymentID(partnerID, key string) string {
	return uuid.NewSHA1(paymentNamespace, []byte(partnerID+"\x00"+key)).String()
}

var keyPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// PayInput is a validated MPM payment request.
type PayInput struct {
	PartnerID        string
	PartnerPaymentID string
	Code             string
	Amount           money.Amount
	QuoteID          string
	UserRef          string
}

// hash is the fingerprint of the request, to tell a repeat from a reuse
// of the key.
func (in PayInput) hash() string {
	h := sha256.New()
	for _, f := range []string{in.PartnerID, in.PartnerPaymentID, in.Code, in.Amount.Currency,
		fmt.Sprint(in.Amount.Minor), in.QuoteID, in.UserRef} {
		fmt.Fprintf(h, "%d:%s;", len(f), f)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ValidateKey checks a partner idempotency key.
func ValidateKey(field, key string) error {
	if !keyPattern.MatchString(key) {
		return rpcerr.Field(rpcerr.InvalidArgument, field, "must be 1 to 64 characters of [A-Za-z0-9._:-]")
	}
	return nil
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
		inCode = money.Amount{Currency: res.GetAmount().GetCurrency(), Minor: res.GetAmount().GetMinorUnits()}
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
		MerchantAmount: a,
		WalletAmount:   money.Amount{Currency: q.GetWalletAmount().GetCurrency(), Minor: q.GetWalletAmount().GetMinorUnits()},
		CostAmount:     money.Amount{Currency: q.GetCostAmount().GetCurrency(), Minor: q.GetCostAmount().GetMinorUnits()},
		QuoteID:        q.GetQuoteId(), Rate: q.GetRate(), CreateTime: now, UpdateTime: now,
	}
	stored, inserted, err := s.store.Insert(ctx, p)
	if err != nil {
		return Payment{}, err
	}
	if !inserted {
		// A concurrent duplicate got there first.
		return sameRequest(stored, hash)
	}
	return s.process(ctx, p, res.GetNetwork().GetEndpoint())
}

func sameRequest(p Payment, hash string) (Payment, error) {
	if p.RequestHash != hash {
		return Payment{}, rpcerr.New(rpcerr.RepeatRequestInconsistent,
			"partner_payment_id was used for payment %s with a different request", p.ID)
	}
	return p, nil
}

// process runs steps 5-7 for a recorded PROCESSING payment.
func (s *Service) process(ctx context.Context, p Payment, endpoint string) (Payment, error) {
	// Once recorded, the payment is driven on even if the partner hangs up:
	// a half-run payment would only leave more to resolve.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), processTimeout)
	defer cancel()
	// 5. Risk.
	dec, err := s.c.Risk.Evaluate(ctx, &riskv1.EvaluateRequest{PaymentId: p.ID, PartnerId: p.PartnerID,
		UserRef: p.UserRef, Merchant: p.Merchant, MerchantAmount: moneypb.ToProto(p.MerchantAmount),
		WalletAmount: moneypb.ToProto(p.WalletAmount)})
	if err != nil {
		// Nothing has moved: the payment can fail safely.
		return s.finish(ctx, p, Outcome{Status: Failed, FailureReason: rpcerr.FromStatus(err).Reason,
			FailureMessage: "risk check unavailable"})
	}
	if dec.GetDecision() != riskv1.Decision_DECISION_APPROVE {
		reason := rpcerr.Reason(dec.GetReason())
		if reason == "" {
			reason = rpcerr.RiskDeclined
		}
		return s.finish(ctx, p, Outcome{Status: Failed, FailureReason: reason, FailureMessage: dec.GetMessage()})
	}

	// 6. Credit the merchant.
	conn, err := s.c.Networks.Get(endpoint)
	if err != nil {
		return Payment{}, err
	}
	credit, err := merchantv1.NewMerchantNetworkServiceClient(conn).Credit(ctx, &merchantv1.CreditRequest{
		CreditId: p.ID, MerchantId: p.Merchant.GetMerchantId(), Amount: moneypb.ToProto(p.MerchantAmount)})
	switch {
	case err != nil:
		// Timeout, unavailable or anything else: the credit may or may not
		// have happened. U, never F.
		s.log.WarnContext(ctx, "merchant credit outcome unknown", "payment_id", p.ID, "err", err)
		return p, nil
	case credit.GetResult() == commonv1.Result_RESULT_FAILURE:
		s.release(ctx, p.ID)
		return s.finish(ctx, p, Outcome{Status: Failed, FailureReason: rpcerr.MerchantCreditFailed,
			FailureMessage: fmt.Sprintf("merchant network declined: %s %s", credit.GetFailureReason(), credit.GetFailureMessage())})
	case credit.GetResult() != commonv1.Result_RESULT_SUCCESS:
		return p, nil // U
	}

	// 7. Record S; the poster takes the ledger posting from here.
	done, err := s.finish(ctx, p, Outcome{Status: Succeeded, NetworkReference: credit.GetNetworkReference()})
	if err == nil {
		s.kickPoster()
	}
	return done, err
}

func (s *Service) release(ctx context.Context, id string) {
	if _, err := s.c.Risk.Release(ctx, &riskv1.ReleaseRequest{PaymentId: id}); err != nil {
		s.log.WarnContext(ctx, "risk release failed", "payment_id", id, "err", err)
	}
}

func postRequest(p Payment) *settlementv1.PostPaymentRequest {
	return &settlementv1.PostPaymentRequest{
		PaymentId: p.ID, PartnerId: p.PartnerID, NetworkId: p.Merchant.GetNetworkId(), MerchantId: p.Merchant.GetMerchantId(),
		WalletAmount: moneypb.ToProto(p.WalletAmount), CostAmount: moneypb.ToProto(p.CostAmount),
		MerchantAmount: moneypb.ToProto(p.MerchantAmount),
	}
}

func (s *Service) finish(ctx context.Context, p Payment, o Outcome) (Payment, error) {
	return s.store.Finish(ctx, p.ID, o, s.now())
}

// Get returns a partner's payment by id or key. Another partner's payment
// is reported as not found.
func (s *Service) Get(ctx context.Context, partnerID, id, key string) (Payment, error) {
	var (
		p   Payment
		err error
	)
	if id != "" {
		p, err = s.store.Get(ctx, id)
	} else {
		p, err = s.store.GetByKey(ctx, partnerID, key)
	}
	if err != nil {
		return Payment{}, err
	}
	if p.PartnerID != partnerID {
		return Payment{}, ErrPaymentNotFound
	}
	return p, nil
}

// postBatch is how many postings the poster sends per call.
const postBatch = 500

func (s *Service) kickPoster() {
	select {
	case s.kick <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// PostPending delivers the ledger postings of succeeded payments, up to
// postBatch per settlement call and transaction, until none is left. It
// returns how many it delivered.
func (s *Service) PostPending(ctx context.Context) (int, error) {
	total := 0
	for {
		ps, err := s.store.Unposted(ctx, postBatch)
		if err != nil || len(ps) == 0 {
			return total, err
		}
		req := &settlementv1.PostPaymentsRequest{Payments: make([]*settlementv1.PostPaymentRequest, len(ps))}
		ids := make([]string, len(ps))
		for i, p := range ps {
			req.Payments[i], ids[i] = postRequest(p), p.ID
		}
		if _, err := s.c.Settlement.PostPayments(ctx, req); err != nil {
			if rpcerr.ReasonOf(err) != rpcerr.PostingConflict {
				return total, rpcerr.FromStatus(err)
			}
			// The batch is posted except the conflicting payments (a bug
			// elsewhere); find them one by one so the rest are marked.
			ids = ids[:0]
			for _, p := range ps {
				if _, err := s.c.Settlement.PostPayment(ctx, postRequest(p)); err != nil {
					s.log.ErrorContext(ctx, "ledger posting refused", "payment_id", p.ID, "err", err)
					continue
				}
				ids = append(ids, p.ID)
			}
		}
		if err := s.store.MarkPosted(ctx, ids); err != nil {
			return total, err
		}
		total += len(ids)
		if len(ps) < postBatch {
			return total, nil
		}
	}
}

// RunPoster posts succeeded payments to the ledger until ctx ends: at
// once when a payment succeeds (batching whatever accumulated meanwhile),
// and every interval to retry what failed. Postings are idempotent per
// payment, so several replicas may run it at once.
func (s *Service) RunPoster(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.kick:
		case <-t.C:
		}
		if n, err := s.PostPending(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "ledger posting deferred", "posted", n, "err", err)
		}
	}
}
