package quota

import (
	"errors"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"github.com/unigate/unigate/pkg/rpcerr"
)

// clock is a test clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// refusedBy returns the budget and retry delay of a refusal, failing the
// test if err is not one.
func refusedBy(t *testing.T, err error) (Budget, time.Duration) {
	t.Helper()
	var e *rpcerr.Error
	if !errors.As(err, &e) || e.Reason != rpcerr.QuotaExceeded || len(e.Details) != 1 {
		t.Fatalf("not a quota refusal: %#v", err)
	}
	qf, ok := e.Details[0].(*errdetails.QuotaFailure)
	if !ok || len(qf.GetViolations()) != 1 {
		t.Fatalf("detail %v, want one QuotaFailure violation", e.Details[0])
	}
	return Budget(qf.GetViolations()[0].GetDescription()), e.RetryAfter
}

// step is one call at the clock's time after advancing it by after.
type step struct {
	after time.Duration
	wait  time.Duration // 0 if the call is admitted, else the RetryAfter of its refusal
}

func runSteps(t *testing.T, l *Limiter, c *clock, caller string, steps []step) {
	t.Helper()
	for i, s := range steps {
		c.Advance(s.after)
		_, err := l.AcquireCall(caller)
		switch {
		case s.wait == 0 && err != nil:
			t.Fatalf("step %d: refused: %v", i, err)
		case s.wait > 0 && err == nil:
			t.Fatalf("step %d: admitted, want a wait of %v", i, s.wait)
		case s.wait > 0:
			if budget, wait := refusedBy(t, err); budget != Rate || wait != s.wait {
				t.Fatalf("step %d: refused by %s after %v, want rate after %v", i, budget, wait, s.wait)
			}
		}
	}
}

func TestRateBucket(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name   string
		limits Limits
		steps  []step
	}{
		{"burst then one token per interval", Limits{RatePerSecond: 2, Burst: 2}, []step{
			{0, 0}, {0, 0}, {0, 500 * ms}, {499 * ms, ms}, {ms, 0}, {0, 500 * ms},
		}},
		{"idle time fills up to the burst only", Limits{RatePerSecond: 10, Burst: 3}, []step{
			{0, 0}, {0, 0}, {0, 0}, {0, 100 * ms}, {time.Hour, 0}, {0, 0}, {0, 0}, {0, 100 * ms},
		}},
		{"burst defaults to a second's worth, rounded up", Limits{RatePerSecond: 2.5}, []step{
			{0, 0}, {0, 0}, {0, 0}, {0, 400 * ms},
		}},
		{"slow rate defaults to a burst of one", Limits{RatePerSecond: 0.5}, []step{
			{0, 0}, {0, 2 * time.Second}, {1500 * ms, 500 * ms}, {500 * ms, 0},
		}},
		{"a clock that goes back earns nothing", Limits{RatePerSecond: 1, Burst: 1}, []step{
			{0, 0}, {-time.Hour, time.Second}, {time.Hour + 500*ms, 500 * ms},
		}},
		{"absurdly slow rate does not overflow", Limits{RatePerSecond: 1e-300}, []step{
			{0, 0}, {0, maxCredit}, {100 * 365 * 24 * time.Hour, maxCredit - 100*365*24*time.Hour},
		}},
		{"absurdly fast rate does not overflow", Limits{RatePerSecond: 1e300}, []step{
			{0, 0}, {0, 0}, {time.Hour, 0},
		}},
		{"no rate is unlimited", Limits{MaxStreams: 1}, []step{
			{0, 0}, {0, 0}, {0, 0},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			l := NewLimiter(c.Now)
			l.SetDefault(tc.limits)
			runSteps(t, l, c, "partner:a", tc.steps)
		})
	}
}

func TestRateChangesKeepTokens(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name          string
		before, after Limits
		used          int // calls made under before
		steps         []step
	}{
		{"faster rate keeps the tokens left", Limits{RatePerSecond: 1, Burst: 4}, Limits{RatePerSecond: 2, Burst: 4}, 3, []step{
			{0, 0}, {0, 500 * ms}, {500 * ms, 0},
		}},
		{"empty bucket stays empty at a new rate", Limits{RatePerSecond: 1, Burst: 1}, Limits{RatePerSecond: 10, Burst: 1}, 1, []step{
			{0, 100 * ms}, {100 * ms, 0},
		}},
		{"smaller burst caps the tokens", Limits{RatePerSecond: 1, Burst: 4}, Limits{RatePerSecond: 1, Burst: 2}, 0, []step{
			{0, 0}, {0, 0}, {0, time.Second},
		}},
		{"larger burst does not add tokens", Limits{RatePerSecond: 1, Burst: 1}, Limits{RatePerSecond: 1, Burst: 5}, 1, []step{
			{0, time.Second}, {time.Second, 0}, {0, time.Second},
		}},
		{"limited after unlimited starts full", Limits{}, Limits{RatePerSecond: 1, Burst: 2}, 10, []step{
			{0, 0}, {0, 0}, {0, time.Second},
		}},
		{"unlimited after limited", Limits{RatePerSecond: 1, Burst: 1}, Limits{}, 1, []step{
			{0, 0}, {0, 0},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			l := NewLimiter(c.Now)
			l.SetLimits("partner:a", tc.before)
			for i := range tc.used {
				if _, err := l.AcquireCall("partner:a"); err != nil {
					t.Fatalf("call %d before the change: %v", i, err)
				}
			}
			l.SetLimits("partner:a", tc.after)
			runSteps(t, l, c, "partner:a", tc.steps)
		})
	}
}

func TestOwnLimitsAndDefault(t *testing.T) {
	l := NewLimiter(nil)
	def, own := Limits{MaxConcurrent: 1}, Limits{MaxConcurrent: 5}
	l.SetDefault(def)
	l.SetLimits("partner:a", own)
	if l.Limits("partner:a") != own || l.Limits("partner:b") != def {
		t.Fatalf("Limits: a %+v, b %+v", l.Limits("partner:a"), l.Limits("partner:b"))
	}
	l.ClearLimits("partner:a")
	if l.Limits("partner:a") != def {
		t.Fatalf("after ClearLimits: %+v", l.Limits("partner:a"))
	}
}

func TestSlots(t *testing.T) {
	l := NewLimiter(nil)
	l.SetDefault(Limits{MaxConcurrent: 2, MaxStreams: 1})
	c1, err1 := l.AcquireCall("partner:a")
	_, err2 := l.AcquireCall("partner:a")
	s1, err3 := l.AcquireStream("partner:a")
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	_, err := l.AcquireCall("partner:a")
	if budget, wait := refusedBy(t, err); budget != Concurrency || wait != 0 {
		t.Fatalf("third call refused by %s with %v", budget, wait)
	}
	_, err = l.AcquireStream("partner:a")
	if budget, _ := refusedBy(t, err); budget != Streams {
		t.Fatalf("second stream refused by %s", budget)
	}
	if _, err := l.AcquireCall("partner:b"); err != nil {
		t.Fatalf("another caller: %v", err)
	}
	// Releasing twice frees one slot, not two.
	c1()
	c1()
	if _, err := l.AcquireCall("partner:a"); err != nil {
		t.Fatalf("after release: %v", err)
	}
	if _, err := l.AcquireCall("partner:a"); err == nil {
		t.Fatal("a double release freed two slots")
	}
	s1()
	if _, err := l.AcquireStream("partner:a"); err != nil {
		t.Fatalf("stream after release: %v", err)
	}
	// Lowering a maximum below what is held refuses new calls only.
	l.SetDefault(Limits{MaxConcurrent: 1, MaxStreams: 1})
	if _, err := l.AcquireCall("partner:a"); err == nil {
		t.Fatal("admitted over a lowered maximum")
	}
}
