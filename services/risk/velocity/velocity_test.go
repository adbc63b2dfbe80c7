package velocity

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// event is one Add, as the reference keeps it.
type event struct{ sec, amount int64 }

// reference counts by scanning every event: the minute and hour windows
// exact to the second; the day window keeps a minute until all of it is
// older than the day, and an event goes to its minute once it is older than
// an hour.
func reference(evs []event, now int64) Stats {
	var st Stats
	for _, e := range evs {
		if e.sec > now-60 {
			st.Count1m++
			st.Sum1m += e.amount
		}
		if e.sec > now-hourSeconds {
			st.Count1h++
			st.Sum1h += e.amount
		}
		if e.sec > now-hourSeconds || (e.sec/60+1)*60 > now-daySeconds {
			st.Count24h++
			st.Sum24h += e.amount
		}
	}
	return st
}

// TestAgainstReference: random events, in and out of order (late by up to
// an hour and a half, sometimes by more than a day), random steps of time
// (sometimes jumps of hours), over six days: every lookup equals the
// reference.
func TestAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	c := New()
	keys := []string{"user:a", "user:b", "merchant:m"}
	evs := map[string][]event{}
	now := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC).Unix()
	end := now + 6*daySeconds
	lookups := 0
	for now < end {
		switch r := rng.IntN(100); {
		case r < 2:
			now += int64(rng.IntN(3 * hourSeconds)) // a quiet spell
		default:
			now += int64(rng.IntN(20))
		}
		k := keys[rng.IntN(len(keys))]
		late := int64(0)
		switch r := rng.IntN(100); {
		case r < 60:
		case r < 95:
			late = int64(rng.IntN(90 * 60))
		default:
			late = int64(daySeconds + rng.IntN(600))
		}
		amount := int64(1 + rng.IntN(100_000))
		sec := now - late
		c.Add(k, time.Unix(sec, 0), amount, time.Unix(now, 0))
		if sec > now-daySeconds {
			evs[k] = append(evs[k], event{sec, amount})
		}
		for _, k := range keys {
			if got, want := c.Get(k, time.Unix(now, 0)), reference(evs[k], now); got != want {
				t.Fatalf("%s at %s after %d lookups: %+v, want %+v", k, time.Unix(now, 0).UTC(), lookups, got, want)
			}
			lookups++
		}
	}
	if lookups < 10_000 {
		t.Fatalf("only %d lookups", lookups)
	}
}

// TestWindows: the edges of each window, and a peer's event from the
// future counting as now.
func TestWindows(t *testing.T) {
	c := New()
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	c.Add("k", t0, 100, t0)
	c.Add("k", t0.Add(time.Hour), 50, t0) // a clock ahead: counted at t0
	for _, tc := range []struct {
		after time.Duration
		want  Stats
	}{
		{0, Stats{2, 2, 2, 150, 150, 150}},
		{59 * time.Second, Stats{2, 2, 2, 150, 150, 150}},
		{60 * time.Second, Stats{0, 2, 2, 0, 150, 150}},
		{time.Hour - time.Second, Stats{0, 2, 2, 0, 150, 150}},
		{time.Hour, Stats{0, 0, 2, 0, 0, 150}},
		{24*time.Hour + 59*time.Second, Stats{0, 0, 2, 0, 0, 150}},
		{24*time.Hour + 60*time.Second, Stats{}},
	} {
		if got := c.Get("k", t0.Add(tc.after)); got != tc.want {
			t.Errorf("after %s: %+v, want %+v", tc.after, got, tc.want)
		}
	}
	if n := c.Sweep(t0.Add(25 * time.Hour)); n != 0 {
		t.Errorf("Sweep left %d keys", n)
	}
	if st := c.AddGet("k", 7, t0); st.Count1m != 1 || st.Sum24h != 7 {
		t.Errorf("AddGet on a swept key: %+v", st)
	}
}

// TestConcurrent: many goroutines on few keys lose nothing.
func TestConcurrent(t *testing.T) {
	c := New()
	now := time.Now()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5_000 {
				c.AddGet([]string{"merchant:hot", "user:" + string(rune('a'+g))}[i%2], 3, now)
			}
		}()
	}
	wg.Wait()
	if st := c.Get("merchant:hot", now); st.Count1m != 8*2_500 || st.Sum24h != 3*8*2_500 {
		t.Fatalf("the hot key: %+v", st)
	}
}

// BenchmarkAddGet is the decision path's cost per key: one event counted
// and the three windows read, on a hot key and across many users.
func BenchmarkAddGet(b *testing.B) {
	c := New()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			now := start.Add(time.Duration(i) * time.Millisecond)
			c.AddGet("merchant:hot", 100, now)
			c.AddGet("user:"+string(rune('a'+i%1000)), 100, now)
			i++
		}
	})
}
