package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"
	simulatorv1 "github.com/unigate/unigate/proto/gen/unigate/simulator/v1"

	"github.com/unigate/unigate/pkg/authn"
	unigate "github.com/unigate/unigate/sdk"
	"github.com/unigate/unigate/services/merchantsim"
)

// This file is the load of `unigate bench`: wallets paying merchant-
// presented codes through the SDK (decode, quote, pay), driven in a
// closed loop (each wallet pays again as soon as it is answered) or an
// open loop (payments start on a fixed schedule whatever the answers),
// and what a run measured.

// latencies collects the durations of a run.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
	// lowerBounds counts the durations that are only lower bounds: open-
	// loop payments the switch had not started by the end of the run.
	lowerBounds int
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// summary is a distribution's figures.
type summary struct {
	n                  int
	p50, p95, p99, max time.Duration
	// atLeast says the figures include lower bounds (a payment never
	// started): the true ones are as large or larger.
	atLeast bool
}

func (l *latencies) summary() summary {
	l.mu.Lock()
	d := slices.Clone(l.d)
	lower := l.lowerBounds
	l.mu.Unlock()
	slices.Sort(d)
	return summary{n: len(d), p50: percentile(d, 50), p95: percentile(d, 95), p99: percentile(d, 99),
		max: percentile(d, 100), atLeast: lower > 0}
}

// percentile returns the p-th percentile (0 < p ≤ 100) of sorted by the
// nearest-rank method: the smallest value that at least p% of the values
// are less than or equal to. Zero for no values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(float64(len(sorted))*p/100 + 0.999999999)
	return sorted[min(max(rank, 1), len(sorted))-1]
}

func (s summary) String() string {
	if s.n == 0 {
		return "no samples"
	}
	ge := ""
	if s.atLeast {
		ge = "≥"
	}
	return fmt.Sprintf("p50 %s%s  p95 %s%s  p99 %s%s  max %s%s", ge, ms(s.p50), ge, ms(s.p95), ge, ms(s.p99), ge, ms(s.max))
}

// ms prints a duration in milliseconds.
func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/1e6) }

// tally counts errors by what failed.
type tally struct {
	mu sync.Mutex
	m  map[string]int
}

func (t *tally) add(what string) {
	t.mu.Lock()
	if t.m == nil {
		t.m = map[string]int{}
	}
	t.m[what]++
	t.mu.Unlock()
}

func (t *tally) total() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, c := range t.m {
		n += c
	}
	return n
}

// lines returns the counts, the most frequent first.
func (t *tally) lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	keys := make([]string, 0, len(t.m))
	for k := range t.m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if t.m[keys[i]] != t.m[keys[j]] {
			return t.m[keys[i]] > t.m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = fmt.Sprintf("%6d  %s", t.m[k], k)
	}
	return out
}

// errorName names a failed call for the tally: the step, the gRPC code
// and Unigate's reason.
func errorName(step string, err error) string {
	code := status.Code(err)
	var e *unigate.Error
	if errors.As(err, &e) {
		code = e.Code
	}
	if r := unigate.ReasonOf(err); r != "" {
		return fmt.Sprintf("%s: %s %s", step, code, r)
	}
	return fmt.Sprintf("%s: %s", step, code)
}

// record is what one run measured.
type record struct {
	// ok counts the calls that succeeded (payments paid, no-op calls
	// answered).
	ok   atomic.Int64
	flow latencies // the whole flow (decode, quote, pay), or the call
	pay  latencies // Pay alone
	errs tally
	// elapsed is the run's length, from the first start to the last answer.
	elapsed time.Duration
	// scheduled and notStarted count an open loop's payments: those due
	// within the run, and those the switch was too far behind to start.
	scheduled, notStarted int
}

func (r *record) perSecond() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ok.Load()) / r.elapsed.Seconds()
}

// closedLoop runs workers goroutines, each calling run again as soon as
// it returns, until d has passed; it returns once every call has.
func closedLoop(ctx context.Context, workers int, d time.Duration, run func(ctx context.Context, worker int)) time.Duration {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	begin := time.Now()
	end := begin.Add(d)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(end) {
				run(ctx, w)
			}
		})
	}
	wg.Wait()
	return time.Since(begin)
}

// openLoop starts run at start + i/rate for each i whose time falls
// within d, each in a goroutine of its own, whether or not earlier ones
// have been answered: a schedule, not a reaction. At most maxInFlight
// run at once; a start that waits for a free slot keeps its scheduled
// time, which run measures from, so a switch that falls behind shows in
// the latencies (no coordinated omission). Starts still waiting at the
// end are not made: their scheduled times are returned. openLoop returns
// once every started run has.
func openLoop(ctx context.Context, rate float64, d time.Duration, maxInFlight int, run func(ctx context.Context, i int, at time.Time)) (started int, missed []time.Time, elapsed time.Duration) {
	begin := time.Now()
	end := begin.Add(d)
	interval := time.Duration(float64(time.Second) / rate)
	slots := make(chan struct{}, maxInFlight)
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(0)
	defer timer.Stop()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	i := 0
	for ; ; i++ {
		at := begin.Add(time.Duration(i) * interval)
		if !at.Before(end) {
			break
		}
		if wait := time.Until(at); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return i, nil, time.Since(begin)
			case <-timer.C:
			}
		}
		select {
		case slots <- struct{}{}:
		default:
			// Behind: wait for a slot, or for the end.
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return i, nil, time.Since(begin)
			case <-deadline.C:
				// The end came first: this start and every later one due
				// within the run are missed.
				for j := i; ; j++ {
					t := begin.Add(time.Duration(j) * interval)
					if !t.Before(end) {
						break
					}
					missed = append(missed, t)
				}
				wg.Wait()
				return i, missed, time.Since(begin)
			}
		}
		n := i // i outlives the iteration
		wg.Go(func() {
			defer func() { <-slots }()
			run(ctx, n, at)
		})
	}
	wg.Wait()
	return i, nil, time.Since(begin)
}

// benchLoad pays through the switch as the demo partners.
type benchLoad struct {
	run       string // this bench's prefix of every key and user
	partners  []*unigate.Client
	health    []healthpb.HealthClient // the same connections' health services
	conns     []*grpc.ClientConn
	merchants []*simulatorv1.SimulatedMerchant // those that accept at once
	seq       atomic.Int64
}

// benchCallTimeout bounds each attempt of the load's calls: the SDK's
// defaults (5 s; Pay 10 s) apply within it.
const benchCallTimeout = 30 * time.Second

// newBenchLoad connects the demo partners to both acquirers with their
// certificates, signing Pay (the harness's dial), and wraps each
// connection in the SDK's client, which does not retry: every failure
// is counted.
func newBenchLoad(ctx context.Context, h *harness, run string) (_ *benchLoad, err error) {
	l := &benchLoad{run: run}
	defer func() {
		if err != nil {
			l.Close()
		}
	}()
	for _, p := range chaosPartners {
		conn, err := h.dial("acquirer", authn.Partner, p, benchCallTimeout)
		if err != nil {
			return nil, err
		}
		l.conns = append(l.conns, conn)
		l.partners = append(l.partners, unigate.NewClient(conn, p, unigate.WithRetries(1)))
		l.health = append(l.health, healthpb.NewHealthClient(conn))
	}
	ms, err := h.merchants(ctx)
	if err != nil {
		return nil, err
	}
	accept := map[string]bool{}
	for _, m := range merchantsim.DefaultConfig().Merchants {
		accept[m.ID] = m.Behavior == merchantsim.Accept
	}
	for _, m := range ms {
		if accept[m.GetMerchant().GetMerchantId()] && m.GetStaticCode() != "" {
			l.merchants = append(l.merchants, m)
		}
	}
	if len(l.merchants) == 0 {
		return nil, fmt.Errorf("the merchant simulator has no merchant that accepts at once")
	}
	return l, nil
}

func (l *benchLoad) Close() {
	for _, c := range l.conns {
		c.Close()
	}
}

// benchAmount is a payment's amount in minor units: 10.00 to 50.00 in
// the merchant's currency, far below every risk limit.
func benchAmount() int64 { return 1000 + rand.Int64N(4001) }

// pay makes one payment as a fresh user of a random partner at a random
// accepting merchant: DecodeCode, CreateQuote, Pay. The flow's latency is
// measured from start (its scheduled time in an open loop).
func (l *benchLoad) pay(ctx context.Context, rec *record, start time.Time) {
	n := l.seq.Add(1)
	c := l.partners[rand.IntN(len(l.partners))]
	m := l.merchants[rand.IntN(len(l.merchants))]
	code := m.GetStaticCode()
	if _, err := c.DecodeCode(ctx, &partnerv1.DecodeCodeRequest{Code: code}); err != nil {
		l.failed(ctx, rec, "decode", err)
		return
	}
	q, err := c.CreateQuote(ctx, &partnerv1.CreateQuoteRequest{Code: code,
		Amount: &commonv1.Money{Currency: m.GetMerchant().GetCurrency(), MinorUnits: benchAmount()}})
	if err != nil {
		l.failed(ctx, rec, "quote", err)
		return
	}
	key := fmt.Sprintf("b-%s-%d", l.run, n)
	payStart := time.Now()
	resp, err := c.Pay(ctx, &partnerv1.PayRequest{PartnerPaymentId: key, Code: code, Amount: q.GetQuote().GetMerchantAmount(),
		QuoteId: q.GetQuote().GetQuoteId(), UserRef: "bench-" + key})
	if err != nil {
		l.failed(ctx, rec, "pay", err)
		return
	}
	done := time.Now()
	rec.pay.add(done.Sub(payStart))
	rec.flow.add(done.Sub(start))
	switch p := resp.GetPayment(); p.GetResult() {
	case commonv1.Result_RESULT_SUCCESS:
		rec.ok.Add(1)
	case commonv1.Result_RESULT_FAILURE:
		rec.errs.add("pay: answered F " + p.GetFailureReason())
	default:
		rec.errs.add("pay: answered U (in flight)")
	}
}

// failed counts a failed call, unless the run's end cancelled it.
func (l *benchLoad) failed(ctx context.Context, rec *record, step string, err error) {
	if ctx.Err() != nil && status.Code(err) == codes.Canceled {
		return
	}
	rec.errs.add(errorName(step, err))
}

// noop makes one no-op call through the same connections and
// credentials: the acquirer's standard health check.
func (l *benchLoad) noop(ctx context.Context, rec *record) {
	hc := l.health[rand.IntN(len(l.health))]
	begin := time.Now()
	_, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		if ctx.Err() == nil {
			rec.errs.add(errorName("health check", err))
		}
		return
	}
	rec.flow.add(time.Since(begin))
	rec.ok.Add(1)
}

// closedPayments runs a closed loop of payments.
func (l *benchLoad) closedPayments(ctx context.Context, workers int, d time.Duration) *record {
	rec := &record{}
	rec.elapsed = closedLoop(ctx, workers, d, func(ctx context.Context, _ int) { l.pay(ctx, rec, time.Now()) })
	return rec
}

// openPayments runs an open loop of payments at rate a second.
func (l *benchLoad) openPayments(ctx context.Context, rate float64, d time.Duration, maxInFlight int) *record {
	rec := &record{}
	started, missed, elapsed := openLoop(ctx, rate, d, maxInFlight, func(ctx context.Context, _ int, at time.Time) { l.pay(ctx, rec, at) })
	rec.elapsed = elapsed
	rec.scheduled, rec.notStarted = started+len(missed), len(missed)
	// A payment never started waited at least until the end.
	end := time.Now()
	rec.flow.mu.Lock()
	for _, at := range missed {
		rec.flow.d = append(rec.flow.d, end.Sub(at))
	}
	rec.flow.lowerBounds = len(missed)
	rec.flow.mu.Unlock()
	return rec
}

// closedNoops runs a closed loop of no-op calls.
func (l *benchLoad) closedNoops(ctx context.Context, workers int, d time.Duration) *record {
	rec := &record{}
	rec.elapsed = closedLoop(ctx, workers, d, func(ctx context.Context, _ int) { l.noop(ctx, rec) })
	return rec
}

// errorsLine is a record's errors on one line.
func (r *record) errorsLine() string {
	if r.errs.total() == 0 {
		return "none"
	}
	var parts []string
	for _, l := range r.errs.lines() {
		parts = append(parts, strings.TrimSpace(l))
	}
	return strings.Join(parts, "; ")
}
