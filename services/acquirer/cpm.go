package acquirer

import (
	"context"
	"errors"
	"fmt"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/pkg/telemetry"
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
// WalletPartnerService.Authorize debits the user. Once the authorization
// names the user, risk moves the amount to that user's limits (NameUser)
// and may still refuse it: the authorization is then given back (see
// authorized). Idempotent per (network, order id); like Pay, the row is
// born scheduled for the resolver.
func (s *Service) Submit(ctx context.Context, in SubmitInput) (Payment, error) {
	if err := in.validate(); err != nil {
		return Payment{}, err
	}
	a := *in.Amount
	hash := fingerprint("cpm", in.NetworkID, in.OrderID, in.MerchantID, in.Code, a.Currency, fmt.Sprint(a.Minor))
	telemetry.Annotate(ctx, telemetry.PaymentIDKey.String(OrderPaymentID(in.NetworkID, in.OrderID)))
	if p, err := s.d.Store.PaymentByOrder(ctx, in.NetworkID, in.OrderID); err == nil {
		return sameRequest(p, hash)
	} else if rpcerr.ReasonOf(err) != rpcerr.PaymentNotFound {
		return Payment{}, err
	}

	partnerID, err := s.d.Router.WalletCodePartner(ctx, in.Code)
	if err != nil {
		return Payment{}, err
	}
	telemetry.Annotate(ctx, telemetry.PartnerIDKey.String(partnerID))
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
		TraceParent: telemetry.TraceParent(ctx),
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

// authorized carries on a CPM payment whose authorization succeeded (on
// the request path, or found by the resolver's inquiry): the user was
// debited, and risk has yet to count the payment against that user.
//
// Any process can die between two lines, so the steps are:
//
//  1. record the authorization and its user (MarkAuthorized): the row
//     stays PROCESSING and scheduled, now credited with a named user;
//  2. NameUser: risk moves the amount to the user's limits;
//  3. approve or review: S. Decline: the acquirer requests the cancel
//     itself, with risk's reason (RefuseAuthorized), and cancels the
//     authorization; a confirmed cancel makes the payment F with that
//     reason, an unconfirmed one is retried by the resolver (the row is
//     scheduled, cancel requested) until it is confirmed.
//
// Dying after 1 leaves a credited, named row: the resolver calls NameUser
// (which answers the same for the same user) and goes on from 2. Dying
// between the Authorize answer and 1 leaves an uncredited row: the
// resolver inquires, finds the authorization succeeded and learns its
// user from the inquiry (InquireAuthorizationResponse.user_ref), and
// goes on from 1 as if Authorize had answered. The same holds whenever
// Authorize's answer is lost (a timeout resolved by inquiry), so a user
// over their limits is refused either way.
//
// A partner that names no user (in Authorize's answer, or in an inquiry's
// when that is how the authorization was learnt — a partner built before
// the inquiry carried user_ref) leaves nobody to name: the payment
// succeeds with the amount where Evaluate counted it (the code's one-time
// pseudo-user, so the per-payment checks held and the user's cumulative
// limits miss this one payment), logged and counted in
// Stats.UnnamedUsers. Reversing a payment that moved money only because
// the partner did not say whose it was would turn it into F for a reason
// that is not the user's.
func (s *Service) authorized(ctx context.Context, p Payment, out Outcome, f *Fence) (Payment, error) {
	ref, user := Clean(out.Reference, MaxReference), Clean(out.UserRef, MaxReference)
	if user == "" {
		s.stats.unnamed.Add(1)
		s.log.WarnContext(ctx, "CPM payment authorized without a named user: its user's limits do not count it", "payment_id", p.ID)
		return s.succeed(ctx, p, out, f)
	}
	cur, applied, err := s.d.Store.MarkAuthorized(ctx, p.ID, ref, user, s.at(), f)
	switch {
	case errors.Is(err, ErrFenced):
		return p, err
	case err != nil:
		// Not recorded. Go on with what is known: the write that finishes
		// the payment carries the same facts (credited, reference, user).
		// If this process dies first, the resolver inquires (see above).
		s.log.WarnContext(ctx, "recording an authorization failed; going on", "payment_id", p.ID, "err", err)
		cur = p
		cur.Credited, cur.NetworkReference, cur.UserRef = true, ref, user
	case !applied:
		return s.overtaken(ctx, cur, ref, f)
	}
	return s.name(ctx, cur, f)
}

// name tells risk who paid an authorized CPM payment (p is credited and
// carries its user) and finishes the payment on risk's word: approved or
// in review, S; declined, the authorization is given back and the payment
// ends F with risk's reason.
//
// Without an answer from risk the payment stays U: the request path hands
// it to the resolver, which asks again on its schedule and, if risk never
// answers within it, gives the payment up (reversed, F with
// PAYMENT_TIMED_OUT). Money that moved stands only once the user's limits
// were checked — as a payment risk cannot evaluate fails — except when
// risk does not implement NameUser at all (a risk service older than the
// acquirer, mid-deploy): then there are no user limits to apply, and the
// payment succeeds, counted in Stats.UnnamedUsers.
func (s *Service) name(ctx context.Context, p Payment, f *Fence) (Payment, error) {
	dec, err := s.d.Risk.NameUser(ctx, p.ID, p.UserRef)
	authorized := Outcome{Result: Success, Reference: p.NetworkReference, UserRef: p.UserRef}
	switch {
	case errors.Is(err, ErrNameUserUnsupported):
		s.stats.unnamed.Add(1)
		s.log.WarnContext(ctx, "risk cannot name users: the CPM payment succeeds without its user's limits", "payment_id", p.ID)
		return s.succeed(ctx, p, authorized, f)
	case err != nil:
		// On the request path (no attempts yet) this brings the resolver's
		// first attempt forward, as for any U; on the resolver's, it is the
		// next step of its schedule.
		s.stats.deferred.Add(1)
		s.log.WarnContext(ctx, "naming the user to risk failed; the resolver asks again", "payment_id", p.ID, "err", err)
		return s.later(ctx, p, f, "risk did not check the user's limits within the resolution window; reversed")
	case !dec.Verdict.Proceeds():
		return s.refuse(ctx, p, declineReason(dec), dec.Message, f)
	case dec.Verdict == Review:
		s.stats.reviews.Add(1)
		s.log.InfoContext(ctx, "risk review of the named user: the payment proceeds, a case is open", "payment_id", p.ID,
			"rule_id", dec.RuleID, "score_bp", dec.ScoreBP)
	}
	return s.succeed(ctx, p, authorized, f)
}

// refuse gives back an authorization risk refused: the cancel is
// requested by the acquirer itself, with risk's reason, and the
// authorization cancelled (reverse). A cancel that fails stays requested
// and scheduled: the resolver retries it until it is confirmed, and only
// then is the payment F.
func (s *Service) refuse(ctx context.Context, p Payment, reason rpcerr.Reason, msg string, f *Fence) (Payment, error) {
	s.log.InfoContext(ctx, "risk refused the named user; cancelling the authorization", "payment_id", p.ID, "reason", reason)
	cur, applied, err := s.d.Store.RefuseAuthorized(ctx, p.ID, p.NetworkReference, p.UserRef, reason, Clean(msg, MaxMessage),
		s.now().Add(s.cfg.ReverseRetry), s.at(), f)
	if err != nil {
		// The row is still PROCESSING and scheduled; if it was recorded as
		// authorized, the resolver names the user again, gets the same
		// decline and comes back here.
		return s.keep(ctx, p, "recording risk's refusal", err)
	}
	if !applied {
		return s.overtaken(ctx, cur, p.NetworkReference, f)
	}
	return s.reverse(ctx, cur, f)
}
