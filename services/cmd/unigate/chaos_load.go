package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	acquiringv1 "github.com/unigate/unigate/proto/gen/unigate/acquiring/v1"
	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"
	routerv1 "github.com/unigate/unigate/proto/gen/unigate/router/v1"
	settlementv1 "github.com/unigate/unigate/proto/gen/unigate/settlement/v1"
	simulatorv1 "github.com/unigate/unigate/proto/gen/unigate/simulator/v1"

	unigate "github.com/unigate/unigate/sdk"

	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/pki"
	"github.com/unigate/unigate/services/app"
	"github.com/unigate/unigate/services/merchantsim"
	"github.com/unigate/unigate/services/walletsim"
)

// This file is the load of `unigate chaos`: workers that pay (MPM, as the
// wallet partners), submit (CPM, as the merchant network's POS), cancel
// and refund through the acquirers' real APIs, each request under its own
// idempotency key and retried, unchanged, until it gets a final answer;
// and the record of every answer per key.

// Request kinds, as the final line counts them.
const (
	kindPay    = "pay"    // PartnerService.Pay, keyed by (partner, partner_payment_id)
	kindSubmit = "submit" // AcquiringService.SubmitPayment, keyed by (network, order id)
	kindCancel = "cancel" // PartnerService or AcquiringService CancelPayment, keyed by payment id
	kindRefund = "refund" // AcquiringService.RefundPayment, keyed by (network, refund request id)
	kindClose  = "close"  // SettlementService.CloseCycle as an operator, keyed by cutoff
)

var requestKinds = []string{kindPay, kindSubmit, kindCancel, kindRefund, kindClose}

// chaosPartners are the demo partners the load pays as: two wallets that
// convert (MNT, VND) and a domestic one that does not (CNY).
var chaosPartners = []string{"hipay", "zalopay", "cnbank"}

// keyRecord is everything the workers heard for one idempotency key.
type keyRecord struct {
	kind, key string
	partner   string // pay: the partner; submit, refund: the network
	sent      int    // attempts
	// finals counts each distinct final answer (its summary); more than
	// one is an inconsistent retry.
	finals map[string]int
	// firstFinal is the summary of the first final answer.
	firstFinal string
	// paymentID is the payment any answer named (pay, submit, cancel,
	// refund's payment); refundID the refund's.
	paymentID, refundID string
	// status is the payment or refund status of the first final answer
	// ("" for a refusal).
	status string
	// refused is the reason of a final refusal (an error that is no
	// transport or availability problem), "" otherwise.
	refused string
	// cancel is the cancel key's record of this payment, if one was sent.
	cancel *keyRecord
	// loose: the payment's status may change after its final answer (a
	// cancel was sent while it was in flight), so only its id and amounts
	// must repeat.
	loose bool
	// looseSummaries are the summaries without status, for loose keys.
	looseFinals map[string]int
}

// records are the answers of a run, per kind and key.
type records struct {
	mu   sync.Mutex
	keys map[string]*keyRecord // by kind + "|" + key
	// order keeps keys in the order they were first sent.
	order []*keyRecord
	// Tallies for progress and the final line.
	attempts, retried                  atomic.Int64
	success, failure, refusal, unknown atomic.Int64
	reasons                            map[string]int // why attempts were retried or refused, by reason
}

func newRecords() *records {
	return &records{keys: map[string]*keyRecord{}, reasons: map[string]int{}}
}

func (r *records) get(kind, key, party string) *keyRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := kind + "|" + key
	rec, ok := r.keys[k]
	if !ok {
		rec = &keyRecord{kind: kind, key: key, partner: party, finals: map[string]int{}, looseFinals: map[string]int{}}
		r.keys[k] = rec
		r.order = append(r.order, rec)
	}
	return rec
}

// sentCount returns how many distinct keys of kind were sent.
func (r *records) sentCount(kind string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, rec := range r.order {
		if rec.kind == kind && rec.sent > 0 {
			n++
		}
	}
	return n
}

// all returns a snapshot of the records.
func (r *records) all() []*keyRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*keyRecord(nil), r.order...)
}

// outcome is how a worker reads one attempt.
type outcome int

const (
	outcomeRetry   outcome = iota // no answer about the request: send it again
	outcomeUnknown                // U: in flight, send it again (or inquire) later
	outcomeFinal                  // S, F, or a refusal
)

// retryable reports whether an error says nothing about the request's
// outcome, so the same request must be sent again: the switch or the way
// to it was unavailable, slow, or failed inside (INTERNAL is masked), or
// the signature's request id had been used by an attempt gRPC itself
// retried.
func retryable(err error) bool {
	switch unigate.ReasonOf(err) {
	case "REQUEST_REPLAYED", "REQUEST_EXPIRED", "DOWNSTREAM_UNAVAILABLE", "DEADLINE_EXCEEDED", "QUOTA_EXCEEDED", "INTERNAL":
		return true
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Internal, codes.Unknown, codes.Aborted, codes.ResourceExhausted, codes.Canceled:
		return true
	}
	return false
}

// reasonOf names an error for the tallies.
func reasonOf(err error) string {
	if r := unigate.ReasonOf(err); r != "" {
		return r
	}
	return status.Code(err).String()
}

func moneyString(m *commonv1.Money) string {
	return fmt.Sprintf("%s:%d", m.GetCurrency(), m.GetMinorUnits())
}

// paymentSummary is what must repeat in every final answer about a
// payment; statusless leaves out what a cancel may change later.
func paymentSummary(p *partnerv1.Payment, statusless bool) string {
	s := fmt.Sprintf("payment=%s merchant=%s wallet=%s", p.GetPaymentId(), moneyString(p.GetMerchantAmount()), moneyString(p.GetWalletAmount()))
	if statusless {
		return s
	}
	return fmt.Sprintf("%s result=%s status=%s reason=%s", s, p.GetResult(), p.GetStatus(), p.GetFailureReason())
}

func refundSummary(r *partnerv1.Refund) string {
	return fmt.Sprintf("refund=%s payment=%s merchant=%s wallet=%s result=%s status=%s reason=%s", r.GetRefundId(), r.GetPaymentId(),
		moneyString(r.GetMerchantAmount()), moneyString(r.GetWalletAmount()), r.GetResult(), r.GetStatus(), r.GetFailureReason())
}

// note records one attempt's answer for rec and says what to do next.
// summary and result describe a successful call; err a failed one.
func (r *records) note(rec *keyRecord, result commonv1.Result, summary, loose, statusName, paymentID, refundID string, err error) outcome {
	r.attempts.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	rec.sent++
	if paymentID != "" {
		rec.paymentID = paymentID
	}
	if refundID != "" {
		rec.refundID = refundID
	}
	if err != nil {
		reason := reasonOf(err)
		if retryable(err) {
			r.retried.Add(1)
			r.reasons["retry:"+reason]++
			return outcomeRetry
		}
		r.refusal.Add(1)
		r.reasons["refused:"+reason]++
		summary, statusName = "refused "+reason, ""
		if rec.firstFinal == "" {
			rec.refused = reason
		}
	} else {
		switch result {
		case commonv1.Result_RESULT_SUCCESS:
			r.success.Add(1)
		case commonv1.Result_RESULT_FAILURE:
			r.failure.Add(1)
		default:
			r.unknown.Add(1)
			return outcomeUnknown
		}
	}
	if rec.firstFinal == "" {
		rec.firstFinal, rec.status = summary, statusName
	}
	rec.finals[summary]++
	if loose != "" {
		rec.looseFinals[loose]++
	}
	return outcomeFinal
}

// inconsistent returns a description of rec's differing final answers,
// or "" when they agree. For a loose key only the payment's id and
// amounts must agree (and a refusal, which has no such form, must be the
// only answer).
func (rec *keyRecord) inconsistent() string {
	finals := rec.finals
	if rec.loose {
		finals = map[string]int{}
		for s, n := range rec.looseFinals {
			finals[s] += n
		}
		for s, n := range rec.finals {
			if strings.HasPrefix(s, "refused ") {
				finals[s] += n
			}
		}
	}
	if len(finals) <= 1 {
		return ""
	}
	var parts []string
	for s, n := range finals {
		parts = append(parts, fmt.Sprintf("%dx {%s}", n, s))
	}
	sort.Strings(parts)
	return fmt.Sprintf("%s %s: %s", rec.kind, rec.key, strings.Join(parts, " vs "))
}

// update changes records under their lock.
func (r *records) update(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f()
}

// load drives the switch.
type load struct {
	h         *harness
	run       string // this run's prefix of every key
	rec       *records
	partners  map[string]partnerv1.PartnerServiceClient
	network   acquiringv1.AcquiringServiceClient
	networkID string
	ledger    settlementv1.SettlementServiceClient
	wallets   *walletsim.Wallets
	merchants []*simulatorv1.SimulatedMerchant
	conns     []*grpc.ClientConn
	// restore puts the partners' endpoints back as they were.
	restore func(ctx context.Context) error
	// cpm are the consumer-presented payments' users and orders: the
	// users' balances in the wallets are checked against the switch's
	// records.
	mu  sync.Mutex
	cpm []cpmStory
}

// cpmStory is a consumer-presented payment's user and order.
type cpmStory struct{ partner, user, order string }

// chaosBalance is every simulated user's opening balance.
const chaosBalance = int64(1) << 50

// callTimeout bounds each call of the load: longer than the acquirer's
// own calls downstream (5 s), so a slow merchant answers U rather than
// the call timing out.
const chaosCallTimeout = 10 * time.Second

// newLoad connects the load: the partners and the network to both
// acquirers, an operator to settlement; and it serves the partners'
// wallets (WalletPartnerService) itself, pointing the demo partners'
// routes at them, so that it can issue one-time codes for consumer-
// presented payments and check every user's balance.
func newLoad(ctx context.Context, h *harness, run string) (_ *load, err error) {
	l := &load{h: h, run: run, rec: newRecords(), partners: map[string]partnerv1.PartnerServiceClient{},
		networkID: merchantsim.DefaultConfig().NetworkID}
	defer func() {
		if err != nil {
			l.Close()
		}
	}()
	for _, p := range chaosPartners {
		conn, err := h.dial("acquirer", authn.Partner, p, chaosCallTimeout)
		if err != nil {
			return nil, err
		}
		l.conns = append(l.conns, conn)
		l.partners[p] = partnerv1.NewPartnerServiceClient(conn)
	}
	conn, err := h.dial("acquirer", authn.Network, l.networkID, chaosCallTimeout)
	if err != nil {
		return nil, err
	}
	l.conns = append(l.conns, conn)
	l.network = acquiringv1.NewAcquiringServiceClient(conn)
	conn, err = h.dial("settlement", authn.Operator, "operator", chaosCallTimeout)
	if err != nil {
		return nil, err
	}
	l.conns = append(l.conns, conn)
	l.ledger = settlementv1.NewSettlementServiceClient(conn)
	if l.merchants, err = h.merchants(ctx); err != nil {
		return nil, err
	}
	if l.wallets, err = app.DefaultWallets(); err != nil {
		return nil, err
	}
	addr, err := l.serveWallets(ctx)
	if err != nil {
		return nil, err
	}
	if l.restore, err = l.pointPartners(ctx, addr); err != nil {
		return nil, err
	}
	return l, nil
}

// Close closes the load's connections.
func (l *load) Close() {
	for _, c := range l.conns {
		c.Close()
	}
}

// serveWallets serves the partners' simulated wallets, with the wallet
// simulator's certificate, until ctx ends, and returns their address.
func (l *load) serveWallets(ctx context.Context) (string, error) {
	cfg, err := pki.Dev{Dir: l.h.f.PKI}.ServerConfig(authn.Partner, app.WalletSimID)
	if err != nil {
		return "", err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	go func() { _ = unigate.ServeWalletPartner(ctx, lis, l.wallets, grpc.Creds(credentials.NewTLS(cfg))) }()
	return lis.Addr().String(), nil
}

// pointPartners routes the load's partners' WalletPartnerService to addr,
// through the router's admin API as an administrator, and waits until
// every router replica answers with it. It returns what puts the old
// endpoints back.
func (l *load) pointPartners(ctx context.Context, addr string) (func(context.Context) error, error) {
	admin, err := l.h.dial("router", authn.Operator, "admin", chaosCallTimeout)
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	routes, adm := routerv1.NewRouterServiceClient(admin), routerv1.NewRoutingAdminServiceClient(admin)
	old := map[string]*routerv1.Partner{}
	put := func(ctx context.Context, p *routerv1.Partner) error {
		_, err := adm.PutPartner(ctx, &routerv1.PutPartnerRequest{Partner: p})
		return err
	}
	for _, id := range chaosPartners {
		got, err := routes.GetPartner(ctx, &routerv1.GetPartnerRequest{PartnerId: id})
		if err != nil {
			return nil, fmt.Errorf("partner %s: %w", id, err)
		}
		p := got.GetPartner()
		old[id] = p
		moved := proto.Clone(p).(*routerv1.Partner)
		moved.Endpoint = addr
		if err := put(ctx, moved); err != nil {
			return nil, fmt.Errorf("route partner %s to the load's wallets: %w", id, err)
		}
	}
	// Every router replica must route there before the load starts.
	for _, target := range strings.Split(l.h.addrs("router"), ",") {
		conn, err := l.h.dialTarget(target, "unigate", authn.Operator, "admin", 2*time.Second)
		if err != nil {
			return nil, err
		}
		rc := routerv1.NewRouterServiceClient(conn)
		deadline := time.Now().Add(30 * time.Second)
		for _, id := range chaosPartners {
			for {
				got, err := rc.GetPartner(ctx, &routerv1.GetPartnerRequest{PartnerId: id})
				if err == nil && got.GetPartner().GetEndpoint() == addr {
					break
				}
				if time.Now().After(deadline) {
					conn.Close()
					return nil, fmt.Errorf("router %s still routes %s elsewhere after 30s (%v)", target, id, err)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		conn.Close()
	}
	return func(ctx context.Context) error {
		admin, err := l.h.dial("router", authn.Operator, "admin", chaosCallTimeout)
		if err != nil {
			return err
		}
		defer admin.Close()
		adm = routerv1.NewRoutingAdminServiceClient(admin)
		var errs []error
		for _, id := range chaosPartners {
			errs = append(errs, put(ctx, old[id]))
		}
		return errors.Join(errs...)
	}, nil
}

// merchantWeights say how often the load pays each simulated merchant,
// by behaviour: mostly merchants that accept, and some of each kind of
// trouble (a decline, a late answer, a black hole, a dropped line, a
// garbled reference).
var merchantWeights = map[merchantsim.Behavior]int{
	merchantsim.Accept: 30, merchantsim.Decline: 4, merchantsim.Slow: 4, merchantsim.BlackHole: 2,
	merchantsim.Drop: 4, merchantsim.Garbled: 3,
}

// pickMerchant chooses a merchant for an MPM payment; a CPM payment
// (which does not credit through the network) goes to one that accepts.
func (l *load) pickMerchant(rng *rand.Rand, mpm bool) *simulatorv1.SimulatedMerchant {
	behavior := map[string]merchantsim.Behavior{}
	for _, m := range merchantsim.DefaultConfig().Merchants {
		behavior[m.ID] = m.Behavior
	}
	total := 0
	for _, m := range l.merchants {
		w := merchantWeights[behavior[m.GetMerchant().GetMerchantId()]]
		if !mpm && behavior[m.GetMerchant().GetMerchantId()] != merchantsim.Accept {
			w = 0
		}
		total += w
	}
	n := rng.Intn(total)
	for _, m := range l.merchants {
		w := merchantWeights[behavior[m.GetMerchant().GetMerchantId()]]
		if !mpm && behavior[m.GetMerchant().GetMerchantId()] != merchantsim.Accept {
			w = 0
		}
		if n < w {
			return m
		}
		n -= w
	}
	return l.merchants[0]
}

// pause waits before the next attempt of a request: a jittered back-off
// from 100 ms to 2 s. It reports false when ctx ended.
func pause(ctx context.Context, rng *rand.Rand, attempt int) bool {
	d := min(100*time.Millisecond<<min(attempt, 5), 2*time.Second)
	d = d/2 + time.Duration(rng.Int63n(int64(d)))
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// worker runs stories (a payment, then perhaps a repeat, a cancel or
// refunds) one after the other until ctx ends.
func (l *load) worker(ctx context.Context, w int, rng *rand.Rand) {
	for n := 0; ctx.Err() == nil; n++ {
		l.story(ctx, w, n, rng)
	}
}

func (l *load) story(ctx context.Context, w, n int, rng *rand.Rand) {
	mpm := rng.Float64() < 0.6
	partner := chaosPartners[rng.Intn(len(chaosPartners))]
	m := l.pickMerchant(rng, mpm)
	amount := &commonv1.Money{Currency: m.GetMerchant().GetCurrency(), MinorUnits: 100 + rng.Int63n(29_900)}
	user := fmt.Sprintf("chaos-%s-w%d-%d", l.run, w, n)
	key := fmt.Sprintf("%s-w%d-%d", l.run, w, n)
	wallet := l.wallets.Wallet(partner)
	wallet.SetBalance(user, chaosBalance)

	var (
		rec *keyRecord
		p   *partnerv1.Payment
	)
	if mpm {
		rec, p = l.pay(ctx, rng, partner, key, user, m, amount)
	} else {
		l.mu.Lock()
		l.cpm = append(l.cpm, cpmStory{partner: partner, user: user, order: key})
		l.mu.Unlock()
		// Some wallets are in trouble too (the next Authorize the wallet
		// gets, this payment's or another's): an answer of U, or a call
		// that hangs until the switch gives up, after or before the debit.
		switch x := rng.Float64(); {
		case x < 0.05:
			wallet.AnswerUnknownNextAuthorizes(1)
		case x < 0.08:
			wallet.HangNextAuthorizes(1, unigate.HangAfterDebit)
		case x < 0.11:
			wallet.HangNextAuthorizes(1, unigate.HangBeforeDebit)
		}
		rec, p = l.submit(ctx, rng, key, wallet.IssueCode(user), m, amount)
	}
	if p == nil || p.GetResult() != commonv1.Result_RESULT_SUCCESS || rec.loose {
		return
	}
	if mpm {
		// The wallet debits its user as it pays; a refund credits them back.
		if err := wallet.RecordPayment(p.GetPaymentId(), user, p.GetWalletAmount().GetMinorUnits()); err != nil {
			fmt.Fprintf(l.h.out, "chaos: harness: record payment %s in the wallet: %v\n", p.GetPaymentId(), err)
		}
	}
	switch x := rng.Float64(); {
	case x < 0.25:
		l.cancel(ctx, rng, rec, p, mpm, partner)
	case x < 0.6:
		left := p.GetMerchantAmount().GetMinorUnits()
		for i := range 1 + rng.Intn(2) {
			part := left
			if rng.Float64() < 0.6 && left > 1 {
				part = 1 + rng.Int63n(left-1)
			}
			r := l.refund(ctx, rng, fmt.Sprintf("%s-r%d", key, i), p, &commonv1.Money{Currency: amount.GetCurrency(), MinorUnits: part})
			if r == nil || r.GetResult() != commonv1.Result_RESULT_SUCCESS {
				return
			}
			if left -= part; left == 0 {
				return
			}
		}
	}
}

// quote gets a quote for an MPM payment, trying until it gets one; nil
// when ctx ends or the switch refuses to quote.
func (l *load) quote(ctx context.Context, rng *rand.Rand, partner, code string, amount *commonv1.Money) *partnerv1.Quote {
	for attempt := 0; ; attempt++ {
		q, err := l.partners[partner].CreateQuote(ctx, &partnerv1.CreateQuoteRequest{Code: code, Amount: amount})
		if err == nil {
			return q.GetQuote()
		}
		if ctx.Err() != nil {
			return nil
		}
		if !retryable(err) {
			fmt.Fprintf(l.h.out, "chaos: quote refused: %v\n", err)
			return nil
		}
		if !pause(ctx, rng, attempt) {
			return nil
		}
	}
}

// pay runs an MPM payment: a quote, then Pay with one key and one body
// until a final answer. While it is in flight the partner sometimes
// cancels it.
func (l *load) pay(ctx context.Context, rng *rand.Rand, partner, key, user string, m *simulatorv1.SimulatedMerchant, amount *commonv1.Money) (*keyRecord, *partnerv1.Payment) {
	q := l.quote(ctx, rng, partner, m.GetStaticCode(), amount)
	if q == nil {
		return nil, nil
	}
	req := &partnerv1.PayRequest{PartnerPaymentId: key, Code: m.GetStaticCode(), Amount: q.GetMerchantAmount(), QuoteId: q.GetQuoteId(), UserRef: user}
	rec := l.rec.get(kindPay, partner+"/"+key, partner)
	send := func() (outcome, *partnerv1.Payment) {
		resp, err := l.partners[partner].Pay(ctx, req)
		if err != nil && ctx.Err() != nil {
			return outcomeRetry, nil
		}
		p := resp.GetPayment()
		return l.rec.note(rec, p.GetResult(), paymentSummary(p, false), paymentSummary(p, true), p.GetStatus().String(), p.GetPaymentId(), "", err), p
	}
	for attempt := 0; ; attempt++ {
		out, p := send()
		if out == outcomeFinal {
			if rng.Float64() < 0.2 && !rec.loose {
				send() // the same request once more: the same answer
			}
			return rec, p
		}
		if out == outcomeUnknown && rec.cancel == nil && rng.Float64() < 0.15 {
			l.rec.update(func() { rec.loose = true })
			l.cancel(ctx, rng, rec, p, true, partner)
		}
		if !pause(ctx, rng, attempt) {
			return rec, nil
		}
	}
}

// submit runs a CPM payment: the network's POS submits the wallet's
// one-time code under one order id until a final answer. While it is in
// flight the network sometimes cancels it.
func (l *load) submit(ctx context.Context, rng *rand.Rand, order, code string, m *simulatorv1.SimulatedMerchant, amount *commonv1.Money) (*keyRecord, *partnerv1.Payment) {
	req := &acquiringv1.SubmitPaymentRequest{OrderId: order, MerchantId: m.GetMerchant().GetMerchantId(), Code: code, Amount: amount}
	rec := l.rec.get(kindSubmit, order, l.networkID)
	send := func() (outcome, *partnerv1.Payment) {
		resp, err := l.network.SubmitPayment(ctx, req)
		if err != nil && ctx.Err() != nil {
			return outcomeRetry, nil
		}
		p := resp.GetPayment()
		return l.rec.note(rec, p.GetResult(), paymentSummary(p, false), paymentSummary(p, true), p.GetStatus().String(), p.GetPaymentId(), "", err), p
	}
	for attempt := 0; ; attempt++ {
		out, p := send()
		if out == outcomeFinal {
			if rng.Float64() < 0.2 && !rec.loose {
				send()
			}
			return rec, p
		}
		if out == outcomeUnknown && rec.cancel == nil && rng.Float64() < 0.15 {
			l.rec.update(func() { rec.loose = true })
			l.cancel(ctx, rng, rec, p, false, l.networkID)
		}
		if !pause(ctx, rng, attempt) {
			return rec, nil
		}
	}
}

// cancel cancels payment p — an MPM payment as its partner, a CPM one as
// the network — until a final answer.
func (l *load) cancel(ctx context.Context, rng *rand.Rand, payRec *keyRecord, p *partnerv1.Payment, mpm bool, partner string) {
	rec := l.rec.get(kindCancel, p.GetPaymentId(), partner)
	l.rec.update(func() { payRec.cancel = rec })
	send := func() outcome {
		var (
			result commonv1.Result
			cp     *partnerv1.Payment
			err    error
		)
		if mpm {
			var resp *partnerv1.CancelPaymentResponse
			resp, err = l.partners[partner].CancelPayment(ctx, &partnerv1.CancelPaymentRequest{Id: &partnerv1.CancelPaymentRequest_PaymentId{PaymentId: p.GetPaymentId()}})
			result, cp = resp.GetResult(), resp.GetPayment()
		} else {
			var resp *acquiringv1.CancelPaymentResponse
			resp, err = l.network.CancelPayment(ctx, &acquiringv1.CancelPaymentRequest{Id: &acquiringv1.CancelPaymentRequest_PaymentId{PaymentId: p.GetPaymentId()}})
			result, cp = resp.GetResult(), resp.GetPayment()
		}
		if err != nil && ctx.Err() != nil {
			return outcomeRetry
		}
		summary := fmt.Sprintf("cancel=%s %s", result, paymentSummary(cp, false))
		return l.rec.note(rec, result, summary, "", cp.GetStatus().String(), cp.GetPaymentId(), "", err)
	}
	for attempt := 0; ; attempt++ {
		if send() == outcomeFinal {
			if rng.Float64() < 0.2 {
				send()
			}
			return
		}
		if !pause(ctx, rng, attempt) {
			return
		}
	}
}

// refund refunds part of payment p as the merchant network, under one
// request id, until a final answer.
func (l *load) refund(ctx context.Context, rng *rand.Rand, id string, p *partnerv1.Payment, amount *commonv1.Money) *partnerv1.Refund {
	req := &acquiringv1.RefundPaymentRequest{RefundRequestId: id, PaymentId: p.GetPaymentId(), Amount: amount, Reason: "chaos"}
	rec := l.rec.get(kindRefund, id, l.networkID)
	l.rec.update(func() { rec.paymentID = p.GetPaymentId() })
	send := func() (outcome, *partnerv1.Refund) {
		resp, err := l.network.RefundPayment(ctx, req)
		if err != nil && ctx.Err() != nil {
			return outcomeRetry, nil
		}
		r := resp.GetRefund()
		return l.rec.note(rec, r.GetResult(), refundSummary(r), "", r.GetStatus().String(), r.GetPaymentId(), r.GetRefundId(), err), r
	}
	for attempt := 0; ; attempt++ {
		out, r := send()
		if out == outcomeFinal {
			if rng.Float64() < 0.2 {
				send()
			}
			return r
		}
		if !pause(ctx, rng, attempt) {
			return nil
		}
	}
}

// closer closes a settlement cycle every interval as an operator, each
// cutoff retried until the ledger answers, so that statements are made
// (and relayed to partners as events) while faults happen.
func (l *load) closer(ctx context.Context, rng *rand.Rand, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cutoff := time.Now().UTC().Truncate(time.Microsecond)
		rec := l.rec.get(kindClose, cutoff.Format(time.RFC3339Nano), "operator")
		req := &settlementv1.CloseCycleRequest{Cutoff: timestamppb.New(cutoff)}
		for attempt := 0; ; attempt++ {
			resp, err := l.ledger.CloseCycle(ctx, req)
			if err != nil && ctx.Err() != nil {
				break
			}
			c := resp.GetCycle()
			summary := fmt.Sprintf("cycle=%s postings=%d statements=%d", c.GetCycleId(), c.GetPostings(), len(resp.GetStatements()))
			result := commonv1.Result_RESULT_SUCCESS
			if l.rec.note(rec, result, summary, "", "CLOSED", "", "", err) == outcomeFinal {
				break
			}
			if !pause(ctx, rng, attempt) {
				break
			}
		}
	}
}
