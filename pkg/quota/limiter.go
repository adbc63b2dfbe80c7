package quota

import (
	"fmt"
	"math"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/protoadapt"

	"github.com/unigate/unigate/pkg/rpcerr"
)

// Budget names one of a caller's budgets; it is the description of the
// QuotaFailure violation in a refusal.
type Budget string

// The budgets.
const (
	Rate        Budget = "rate"
	Concurrency Budget = "concurrency"
	Streams     Budget = "streams"
)

// Limiter holds every caller's limits and what each caller is using. It is
// safe for concurrent use.
type Limiter struct {
	now func() time.Time

	mu      sync.Mutex
	def     Limits
	own     map[string]Limits
	callers map[string]*usage
}

// usage is what one caller is using.
type usage struct {
	bucket  *bucket // nil while the caller's rate is unlimited
	calls   int     // unary calls in flight
	streams int     // streams open
}

// NewLimiter returns a Limiter with no limits, reading the time from now
// (time.Now if nil).
func NewLimiter(now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{now: now, own: map[string]Limits{}, callers: map[string]*usage{}}
}

// SetDefault sets the limits of every caller without limits of its own.
// lim should pass Validate; a negative field counts as zero, a non-finite
// rate as unlimited.
func (l *Limiter) SetDefault(lim Limits) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.def = lim
}

// SetLimits gives caller limits of its own, replacing the default for it.
// lim should pass Validate; a negative field counts as zero, a non-finite
// rate as unlimited.
func (l *Limiter) SetLimits(caller string, lim Limits) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.own[caller] = lim
}

// ClearLimits returns caller to the default limits.
func (l *Limiter) ClearLimits(caller string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.own, caller)
}

// Limits returns the limits that apply to caller.
func (l *Limiter) Limits(caller string) Limits {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.limitsLocked(caller)
}

func (l *Limiter) limitsLocked(caller string) Limits {
	if lim, ok := l.own[caller]; ok {
		return lim
	}
	return l.def
}

// AcquireCall admits one unary call of caller, taking a token and a
// concurrency slot; release (safe to call more than once) frees the slot
// when the call ends. Over a budget it takes nothing and returns an
// *rpcerr.Error with reason QUOTA_EXCEEDED, a QuotaFailure naming the
// budget, and the delay after which a retry may succeed.
func (l *Limiter) AcquireCall(caller string) (release func(), err error) {
	return l.acquire(caller, false)
}

// AcquireStream admits one stream of caller, taking a token and a stream
// slot; release frees the slot when the stream ends. Its errors are
// AcquireCall's.
func (l *Limiter) AcquireStream(caller string) (release func(), err error) {
	return l.acquire(caller, true)
}

func (l *Limiter) acquire(caller string, stream bool) (func(), error) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.limitsLocked(caller)
	u := l.callers[caller]
	if u == nil {
		u = &usage{}
		l.callers[caller] = u
	}
	u.bucket = u.bucket.adjust(lim, now)
	if wait := u.bucket.wait(now); wait > 0 {
		return nil, refusal(caller, Rate, wait, fmt.Sprintf("%v calls a second, burst %d", lim.RatePerSecond, u.bucket.burst()))
	}
	held, most, budget, what := &u.calls, lim.MaxConcurrent, Concurrency, "calls in flight"
	if stream {
		held, most, budget, what = &u.streams, lim.MaxStreams, Streams, "open streams"
	}
	if most > 0 && *held >= most {
		return nil, refusal(caller, budget, 0, fmt.Sprintf("%d %s", most, what))
	}
	u.bucket.take()
	*held++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			*held--
			l.mu.Unlock()
		})
	}, nil
}

// refusal is the error for caller over budget; retryAfter zero leaves
// rpcerr's delay for the reason.
func refusal(caller string, budget Budget, retryAfter time.Duration, limit string) *rpcerr.Error {
	return &rpcerr.Error{
		Reason:     rpcerr.QuotaExceeded,
		Message:    fmt.Sprintf("over the %s quota (%s)", budget, limit),
		RetryAfter: retryAfter,
		Details: []protoadapt.MessageV1{&errdetails.QuotaFailure{Violations: []*errdetails.QuotaFailure_Violation{{
			Subject: caller, Description: string(budget),
		}}}},
	}
}

// maxCredit bounds a bucket's credit so that sums of durations cannot
// overflow; it is 146 years.
const maxCredit = time.Duration(1 << 62)

// bucket is a token bucket kept in time rather than tokens, so it is
// exact: a token is worth interval of credit, credit grows by the time
// that passes, and it holds at most capacity (burst tokens' worth).
type bucket struct {
	interval time.Duration
	capacity time.Duration
	credit   time.Duration
	last     time.Time
}

// bucketShape returns the interval and capacity for lim; ok is false if
// its rate is unlimited.
func bucketShape(lim Limits) (interval, capacity time.Duration, ok bool) {
	r := lim.RatePerSecond
	if !(r > 0) || math.IsInf(r, 0) {
		return 0, 0, false
	}
	per := math.Round(float64(time.Second) / r)
	switch {
	case per < 1:
		interval = 1
	case per >= float64(maxCredit):
		interval = maxCredit
	default:
		interval = time.Duration(per)
	}
	burst := float64(lim.Burst)
	if burst <= 0 {
		burst = max(1, math.Ceil(r))
	}
	capacity = maxCredit
	if burst < float64(maxCredit/interval) {
		capacity = time.Duration(burst) * interval
	}
	return interval, capacity, true
}

// adjust returns the bucket for lim at now: nil for an unlimited rate, a
// full bucket if there was none, b itself if lim has the same shape, and
// otherwise b reshaped keeping its tokens (at most the new burst).
func (b *bucket) adjust(lim Limits, now time.Time) *bucket {
	interval, capacity, ok := bucketShape(lim)
	if !ok {
		return nil
	}
	if b == nil {
		return &bucket{interval: interval, capacity: capacity, credit: capacity, last: now}
	}
	if b.interval == interval && b.capacity == capacity {
		return b
	}
	b.refill(now)
	credit := math.Round(float64(b.credit) / float64(b.interval) * float64(interval))
	b.interval, b.capacity = interval, capacity
	b.credit = capacity
	if credit < float64(capacity) {
		b.credit = time.Duration(credit)
	}
	return b
}

// refill adds the credit earned since the last refill. A clock that went
// back earns nothing.
func (b *bucket) refill(now time.Time) {
	if !now.After(b.last) {
		return
	}
	if earned := now.Sub(b.last); earned >= b.capacity-b.credit {
		b.credit = b.capacity
	} else {
		b.credit += earned
	}
	b.last = now
}

// wait refills b and returns how long until it holds a token: zero if it
// holds one now (and for a nil, unlimited bucket).
func (b *bucket) wait(now time.Time) time.Duration {
	if b == nil {
		return 0
	}
	b.refill(now)
	if b.credit >= b.interval {
		return 0
	}
	return b.interval - b.credit
}

// take takes a token that wait said is there.
func (b *bucket) take() {
	if b != nil {
		b.credit -= b.interval
	}
}

// burst is how many tokens b holds when full.
func (b *bucket) burst() int64 {
	return int64(b.capacity / b.interval)
}
