package settlement

import (
	"context"
	"testing"
	"time"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/pkg/sqlstore/sqlstoretest"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestScheduleLastCutoff: a daily cutoff is wall-clock time in the
// partner's zone, across a day change and daylight saving; an interval is
// UTC multiples.
func TestScheduleLastCutoff(t *testing.T) {
	ub, ny := mustZone(t, "Asia/Ulaanbaatar"), mustZone(t, "America/New_York")
	utc := func(s string) time.Time {
		at, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return at
	}
	for _, tc := range []struct {
		name string
		sc   Schedule
		now  string
		want string
	}{
		// 18:00 in Ulaanbaatar (UTC+8) is 10:00 UTC.
		{"a microsecond before", Schedule{Location: ub, Daily: 18 * time.Hour}, "2026-12-02T09:59:59.999999Z", "2026-12-01T10:00:00Z"},
		{"at the cutoff", Schedule{Location: ub, Daily: 18 * time.Hour}, "2026-12-02T10:00:00Z", "2026-12-02T10:00:00Z"},
		{"a microsecond after", Schedule{Location: ub, Daily: 18 * time.Hour}, "2026-12-02T10:00:00.000001Z", "2026-12-02T10:00:00Z"},
		// 01:30 in Ulaanbaatar is 17:30 UTC the day before: at 17:00 UTC on
		// the 2nd it is already the 3rd there, and the cutoff passed was
		// that of the 3rd's 01:30 minus a day.
		{"the zone's day is ahead of UTC's", Schedule{Location: ub, Daily: 90 * time.Minute}, "2026-12-02T17:00:00Z", "2026-12-01T17:30:00Z"},
		{"and just after", Schedule{Location: ub, Daily: 90 * time.Minute}, "2026-12-02T17:30:00.000001Z", "2026-12-02T17:30:00Z"},
		// 23:00 in New York is 04:00 UTC the next day (EST, UTC-5).
		{"the zone's day is behind UTC's", Schedule{Location: ny, Daily: 23 * time.Hour}, "2026-12-03T03:00:00Z", "2026-12-02T04:00:00Z"},
		// New York springs forward on 2026-03-08 (EST to EDT): 23:00 EDT
		// is 03:00 UTC; the day before it was 04:00 UTC.
		{"after daylight saving begins", Schedule{Location: ny, Daily: 23 * time.Hour}, "2026-03-09T03:00:00Z", "2026-03-09T03:00:00Z"},
		{"before it", Schedule{Location: ny, Daily: 23 * time.Hour}, "2026-03-08T02:59:59Z", "2026-03-07T04:00:00Z"},
		{"an interval", Schedule{Interval: 24 * time.Hour}, "2026-12-02T10:00:00Z", "2026-12-02T00:00:00Z"},
		{"no interval", Schedule{}, "2026-12-02T10:00:00Z", "0001-01-01T00:00:00Z"},
	} {
		if got := tc.sc.LastCutoff(utc(tc.now)); !got.Equal(utc(tc.want)) {
			t.Errorf("%s: LastCutoff(%s) = %s, want %s", tc.name, tc.now, got.Format(time.RFC3339Nano), tc.want)
		}
	}
}

// TestPartnerCycles: each partner's cycle takes only its own postings made
// before its cutoff — a microsecond before joins, at the cutoff waits —
// with its statement per settlement currency and a network statement per
// network; a refund joins a later cycle than its payment; cycles of one
// partner close in order, those of others independently; a close of every
// partner takes the rest; the books stay proved throughout.
func TestPartnerCycles(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		cutoff := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC) // 18:00 in Ulaanbaatar
		clk := &clock{t: cutoff.Add(-time.Hour)}
		svc := testLedger(t, db, clk)
		post := func(at time.Time, f PaymentFacts) {
			t.Helper()
			clk.set(at)
			mustPost(t, svc, f)
		}
		usd := func(f PaymentFacts, settle int64) PaymentFacts {
			f.SettlementAmount = money.Amount{Currency: "USD", Minor: settle}
			f.CostAmount = money.Amount{Currency: "USD", Minor: settle - 1}
			return f
		}
		zalo := func(id string, settle int64) PaymentFacts {
			f := usd(payment(id, settle*100, ""), settle)
			f.PartnerID, f.WalletAmount.Currency = "zalopay", "VND"
			return f
		}
		post(cutoff.Add(-time.Microsecond), payment("h-before", 1000, ""))
		post(cutoff.Add(-time.Microsecond), usd(payment("h-usd", 2000, ""), 300))
		post(cutoff.Add(-time.Microsecond), zalo("z-before", 500))
		post(cutoff, payment("h-at", 4000, ""))

		clk.set(cutoff.Add(time.Second))
		c, sts, err := svc.ClosePartnerCycle(ctx, "hipay", cutoff, nil)
		if err != nil || c.PartnerID != "hipay" || c.ID != "cycle-20261202T100000.000000Z-hipay" || c.Postings != 2 {
			t.Fatalf("hipay's cycle: %+v %v", c, err)
		}
		want := map[string]int64{"MNT": 1000, "USD": 300}
		if len(sts) != 2 {
			t.Fatalf("statements %+v", sts)
		}
		for _, st := range sts {
			if st.PartnerID != "hipay" || st.NetReceivable.Minor != want[st.NetReceivable.Currency] || st.Postings != 1 {
				t.Errorf("statement %+v", st)
			}
		}
		nets, err := svc.NetworkStatements(ctx, c.ID)
		// cnsim is owed both payments' CNY: 1000/400 + 2000/400.
		if err != nil || len(nets) != 1 || nets[0].NetworkID != "cnsim" || nets[0].NetPayable != (money.Amount{Currency: "CNY", Minor: 2 + 5}) ||
			nets[0].Postings != 2 || nets[0].ID != c.ID+"/network:cnsim/CNY" {
			t.Fatalf("network statements %+v %v", nets, err)
		}
		mustCycle(t, svc, "h-before", c.ID)
		mustCycle(t, svc, "h-at", "")     // at the cutoff: the next cycle
		mustCycle(t, svc, "z-before", "") // another partner's: not taken
		mustHoldInvariants(t, svc)

		// h-before is refunded after its cycle closed: the refund waits for
		// hipay's next cycle, whose cutoff must come after the first.
		refund := payment("h-before", 250, "refund-1")
		refund.CostAmount.Minor, refund.MerchantAmount.Minor = 247, 1
		post(cutoff.Add(2*time.Second), refund)
		clk.set(cutoff.Add(24 * time.Hour))
		if _, _, err := svc.ClosePartnerCycle(ctx, "hipay", cutoff.Add(-time.Minute), nil); rpcerr.ReasonOf(err) != rpcerr.CutoffOutOfOrder {
			t.Fatalf("hipay cutoff before its newest: %v", err)
		}
		if _, _, err := svc.ClosePartnerCycle(ctx, "hipay", clk.now().Add(time.Second), nil); rpcerr.ReasonOf(err) != rpcerr.InvalidArgument {
			t.Fatalf("a future cutoff: %v", err)
		}
		// zalopay's cutoff is its own: earlier than hipay's is fine (its
		// 23:00 in Ho Chi Minh City, UTC+7, is 16:00 UTC the day before).
		zc, zsts, err := svc.ClosePartnerCycle(ctx, "zalopay", cutoff.Add(-18*time.Hour), nil)
		if err != nil || zc.Postings != 0 || len(zsts) != 0 {
			t.Fatalf("zalopay's earlier cycle: %+v %+v %v", zc, zsts, err)
		}
		zc, zsts, err = svc.ClosePartnerCycle(ctx, "zalopay", cutoff.Add(6*time.Hour), nil)
		if err != nil || zc.Postings != 1 || len(zsts) != 1 || zsts[0].NetReceivable != (money.Amount{Currency: "USD", Minor: 500}) {
			t.Fatalf("zalopay's cycle: %+v %+v %v", zc, zsts, err)
		}
		next, sts, err := svc.ClosePartnerCycle(ctx, "hipay", cutoff.Add(24*time.Hour), nil)
		if err != nil || next.Postings != 2 || len(sts) != 1 || sts[0].NetReceivable.Minor != 4000-250 {
			t.Fatalf("hipay's next cycle: %+v %+v %v", next, sts, err)
		}
		if again, _, err := svc.ClosePartnerCycle(ctx, "hipay", cutoff, nil); err != nil || again != c {
			t.Fatalf("closing hipay's first cutoff again: %+v %v", again, err)
		}
		// A close of every partner takes whatever is left, and after it no
		// partner's cycle may close earlier.
		post(cutoff.Add(25*time.Hour), zalo("z-late", 70))
		clk.set(cutoff.Add(26 * time.Hour))
		all, sts, err := svc.CloseCycle(ctx, clk.now(), nil)
		if err != nil || all.PartnerID != "" || all.Postings != 1 || len(sts) != 1 || sts[0].PartnerID != "zalopay" {
			t.Fatalf("close of every partner: %+v %+v %v", all, sts, err)
		}
		if _, _, err := svc.ClosePartnerCycle(ctx, "hipay", clk.now().Add(-time.Minute), nil); rpcerr.ReasonOf(err) != rpcerr.CutoffOutOfOrder {
			t.Fatalf("a partner cutoff before a close of every partner: %v", err)
		}
		if latest, err := svc.store.LatestCutoff(ctx, "hipay"); err != nil || !latest.Equal(all.Cutoff) {
			t.Fatalf("LatestCutoff(hipay) = %s %v, want %s", latest, err, all.Cutoff)
		}
		mustHoldInvariants(t, svc)
	})
}

// TestRunCutoffsPerPartner: the elected writer closes each partner's cycle
// at its own cutoff in its own zone, once, and a partner whose cutoffs
// were missed gets one cycle at the latest.
func TestRunCutoffsPerPartner(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ub, hcm := mustZone(t, "Asia/Ulaanbaatar"), mustZone(t, "Asia/Ho_Chi_Minh")
		start := time.Date(2026, 12, 2, 9, 59, 59, 0, time.UTC) // 17:59:59 in Ulaanbaatar, 16:59:59 in Ho Chi Minh City
		clk := &clock{t: start}
		svc := testLedger(t, db, clk)
		mustPost(t, svc, payment("h-1", 1000, ""))
		defer func(tick time.Duration) { CutoffTick = tick }(CutoffTick)
		CutoffTick = 5 * time.Millisecond
		schedules := func() []Schedule {
			return []Schedule{{PartnerID: "hipay", Location: ub, Daily: 18 * time.Hour},
				{PartnerID: "zalopay", Location: hcm, Daily: 18 * time.Hour}}
		}
		errs := make(chan error, 10)
		done := make(chan error, 1)
		go func() { done <- svc.RunCutoffs(ctx, 1, schedules, func(err error) { errs <- err }) }()
		cycles := func() []Cycle {
			t.Helper()
			cs, err := svc.ListCycles(context.Background(), time.Time{}, 100)
			if err != nil {
				t.Fatal(err)
			}
			return cs
		}
		waitFor := func(n int) []Cycle {
			t.Helper()
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
				if cs := cycles(); len(cs) >= n {
					return cs
				}
				select {
				case err := <-errs:
					t.Fatal(err)
				default:
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d cycles after 10s, want %d: %+v", len(cycles()), n, cycles())
				}
			}
		}
		// At start both partners' latest cutoffs (yesterday's) are due.
		cs := waitFor(2)
		time.Sleep(50 * time.Millisecond)
		if cs = cycles(); len(cs) != 2 {
			t.Fatalf("cycles at start: %+v", cs)
		}
		for _, c := range cs {
			if c.Postings != 0 || !c.Cutoff.Before(start) {
				t.Fatalf("yesterday's cycles: %+v", cs)
			}
		}
		mustPost(t, svc, payment("h-2", 1000, ""))
		// 18:00 in Ulaanbaatar: hipay's cycle, not zalopay's.
		clk.set(start.Add(time.Second))
		cs = waitFor(3)
		if cs[0].PartnerID != "hipay" || !cs[0].Cutoff.Equal(start.Add(time.Second)) || cs[0].Postings != 2 {
			t.Fatalf("hipay's cutoff: %+v", cs)
		}
		mustCycle(t, svc, "h-1", "cycle-20261202T100000.000000Z-hipay")
		// An hour later it is 18:00 in Ho Chi Minh City.
		clk.set(start.Add(time.Hour + time.Second))
		cs = waitFor(4)
		if cs[0].PartnerID != "zalopay" || !cs[0].Cutoff.Equal(start.Add(time.Hour+time.Second)) {
			t.Fatalf("zalopay's cutoff: %+v", cs)
		}
		time.Sleep(50 * time.Millisecond)
		if n := len(cycles()); n != 4 {
			t.Fatalf("%d cycles: a cutoff closed twice", n)
		}
		// Three days pass with the writer away: one cycle each, at the latest.
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		clk.set(start.Add(72*time.Hour + 2*time.Hour))
		ctx2, cancel2 := context.WithCancel(context.Background())
		defer cancel2()
		go func() { done <- svc.RunCutoffs(ctx2, 2, schedules, func(err error) { errs <- err }) }()
		cs = waitFor(6)
		time.Sleep(50 * time.Millisecond)
		if cs = cycles(); len(cs) != 6 || !cs[0].Cutoff.Equal(start.Add(72*time.Hour+time.Hour+time.Second)) ||
			!cs[1].Cutoff.Equal(start.Add(72*time.Hour+time.Second)) {
			t.Fatalf("after three days away: %+v", cs)
		}
		cancel2()
		<-done
		mustHoldInvariants(t, svc)
	})
}
