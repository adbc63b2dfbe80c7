package risk

import (
	"math"
	"strings"
	"sync"
	"time"

	riskv1 "github.com/unigate/unigate/proto/gen/unigate/risk/v1"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/services/risk/model"
	"github.com/unigate/unigate/services/risk/velocity"
)

// place is where a city is, for the model's travel features.
type place struct {
	lat, lon float64
	utc      int // hours ahead of UTC, for the local hour
}

// places are the cities whose merchants the model can place: those of
// the training simulation and the demo networks'. A merchant in a city
// not listed has no place: its travel features are those of a payment
// with no previous one, and its hour is the day zone's.
var places = map[string]place{
	"ulaanbaatar": {47.92, 106.92, 8}, "erenhot": {43.65, 111.98, 8}, "beijing": {39.90, 116.40, 8},
	"shanghai": {31.23, 121.47, 8}, "shenzhen": {22.54, 114.06, 8}, "guangzhou": {23.13, 113.26, 8},
	"hong kong": {22.32, 114.17, 8}, "macau": {22.20, 113.54, 8}, "bangkok": {13.76, 100.50, 7},
	"singapore": {1.35, 103.82, 8}, "kuala lumpur": {3.14, 101.69, 8}, "ho chi minh city": {10.82, 106.63, 7},
	"hanoi": {21.03, 105.85, 7}, "seoul": {37.57, 126.98, 9}, "tokyo": {35.68, 139.69, 9},
	"almaty": {43.24, 76.89, 5}, "kuwait city": {29.38, 47.99, 3},
}

// usdPerUnit is a reference value of one major unit of each currency in US
// dollars, for the model's amount features only: the model was trained on
// dollar amounts, and a feature off by a few percent changes nothing. It
// never prices money (the FX service does). An unlisted currency's amount
// features are taken as if it were dollars.
var usdPerUnit = map[string]float64{
	"USD": 1, "CNY": 0.14, "MNT": 0.00029, "VND": 0.000039, "SGD": 0.74, "HKD": 0.128, "KWD": 3.25,
	"THB": 0.029, "MYR": 0.22, "KRW": 0.00072, "JPY": 0.0067, "KZT": 0.0020, "EUR": 1.08, "MOP": 0.124,
}

// usdCents converts an amount to US cents for the features.
func usdCents(a money.Amount) float64 {
	digits := 2
	if c, err := money.LookupCurrency(a.Currency); err == nil {
		digits = c.Digits
	}
	rate, ok := usdPerUnit[a.Currency]
	if !ok {
		rate = 1
	}
	return float64(a.Minor) / math.Pow10(digits) * rate * 100
}

// profiles remembers what the model's behaviour features need beyond the
// velocity windows: each user's last payment (when and where) and devices
// (first use), and each merchant's users of the last day. It is kept in
// memory from the replica's own decisions and its peers' events, like the
// windows (ADR 0014).
type profiles struct {
	counter *velocity.Counter
	shards  [64]profileShard
}

type profileShard struct {
	mu     sync.Mutex
	users  map[string]*userProfile
	visits map[string]int64 // merchant + "|" + user -> last payment, unix seconds
}

type userProfile struct {
	first        int64 // the first payment this replica knows of, unix seconds
	last         int64 // unix seconds; 0: none yet
	hasPlace     bool
	latE4, lonE4 int32
	devices      map[string]int64 // device -> first payment, unix seconds
}

func newProfiles(c *velocity.Counter) *profiles {
	p := &profiles{counter: c}
	for i := range p.shards {
		p.shards[i].users = map[string]*userProfile{}
		p.shards[i].visits = map[string]int64{}
	}
	return p
}

func (p *profiles) shard(key string) *profileShard {
	var h uint32 = 2166136261
	for i := 0; i < len(key); i++ {
		h = (h ^ uint32(key[i])) * 16777619
	}
	return &p.shards[h%uint32(len(p.shards))]
}

// merchantUsersKey is the velocity key counting a merchant's users: one
// event per user's first payment there in 24 hours, so its 24-hour count
// is the merchant's distinct users of the day.
func merchantUsersKey(merchant string) string { return "mu:" + merchant }

// observe remembers a counted payment (this replica's or a peer's).
func (p *profiles) observe(e *riskv1.VelocityEvent, now time.Time) {
	t := e.GetUnixSeconds()
	if u := e.GetUser(); u != "" {
		s := p.shard(u)
		s.mu.Lock()
		up := s.users[u]
		if up == nil {
			up = &userProfile{first: t, devices: map[string]int64{}}
			s.users[u] = up
		}
		if t < up.first {
			up.first = t
		}
		if t >= up.last {
			up.last, up.hasPlace, up.latE4, up.lonE4 = t, e.GetHasPlace(), e.GetLatE4(), e.GetLonE4()
		}
		if d := e.GetDevice(); d != "" {
			if first, ok := up.devices[d]; !ok || t < first {
				up.devices[d] = t
			}
		}
		s.mu.Unlock()
	}
	if m, u := e.GetMerchant(), e.GetUser(); m != "" && u != "" {
		k := m + "|" + u
		s := p.shard(k)
		s.mu.Lock()
		last, ok := s.visits[k]
		first := !ok || t-last >= 86400
		if !ok || t > last {
			s.visits[k] = t
		}
		s.mu.Unlock()
		if first {
			p.counter.Add(merchantUsersKey(m), time.Unix(t, 0), 0, now)
		}
	}
}

// sweep forgets merchant visits over a day old.
func (p *profiles) sweep(now time.Time) {
	cut := now.Unix() - 86400
	for i := range p.shards {
		s := &p.shards[i]
		s.mu.Lock()
		for k, t := range s.visits {
			if t < cut {
				delete(s.visits, k)
			}
		}
		s.mu.Unlock()
	}
}

// userState is a user's profile as one decision reads it.
type userState struct {
	last         int64
	hasPlace     bool
	latE4, lonE4 int32
	deviceFirst  int64 // 0: the device is new to the user
	// knownSince: the user's device was in use when this replica first
	// saw the user; how long before is unknown.
	knownSince bool
	newToMerch bool // no payment at the merchant in 24 hours
}

func (p *profiles) read(user, device, merchant string, now int64) userState {
	var st userState
	if user == "" {
		st.newToMerch = true
		return st
	}
	s := p.shard(user)
	s.mu.Lock()
	if up := s.users[user]; up != nil {
		st.last, st.hasPlace, st.latE4, st.lonE4 = up.last, up.hasPlace, up.latE4, up.lonE4
		if device != "" {
			st.deviceFirst = up.devices[device]
			st.knownSince = st.deviceFirst != 0 && st.deviceFirst <= up.first
		}
	}
	s.mu.Unlock()
	k := merchant + "|" + user
	s = p.shard(k)
	s.mu.Lock()
	last, ok := s.visits[k]
	s.mu.Unlock()
	st.newToMerch = !ok || now-last >= 86400
	return st
}

// placeOf returns where a merchant's city is.
func placeOf(city string) (place, bool) {
	pl, ok := places[strings.ToLower(strings.TrimSpace(city))]
	return pl, ok
}

// noDeviceAgeDays is the device age a device of unknown age is scored
// with.
const noDeviceAgeDays = 30

// modelFeatures builds the model's feature vector (model.FeatureNames)
// for a payment, from the windows and the profile as they were before it.
func modelFeatures(p Payment, at time.Time, user, userSum velocity.Stats, merchantCount, merchantUsers velocity.Stats,
	st userState, pl place, hasPlace bool, day *time.Location) []float64 {
	f := make([]float64, model.NumFeatures)
	cents := usdCents(p.MerchantAmount)
	f[model.LogAmountUSD] = math.Log1p(cents)
	if hasPlace {
		f[model.Hour] = float64(at.UTC().Add(time.Duration(pl.utc) * time.Hour).Hour())
	} else {
		f[model.Hour] = float64(at.In(day).Hour())
	}
	// Windows include the payment being scored.
	f[model.UserCount1m] = float64(user.Count1m + 1)
	f[model.UserCount1h] = float64(user.Count1h + 1)
	f[model.UserCount24h] = float64(user.Count24h + 1)
	f[model.LogUserSum24hUSD] = math.Log1p(usdCents(money.Amount{Currency: p.MerchantAmount.Currency, Minor: userSum.Sum24h}) + cents)
	now := at.Unix()
	switch {
	case p.DeviceRef == "" || st.last == 0 || st.knownSince:
		// Every payment the model learnt from came from a device whose
		// age the simulation knew. A device is scored as established when
		// there is no evidence otherwise: the partner names none, the user
		// is new to this replica (its memory starts empty), or the device
		// was the user's when this replica first saw them.
		f[model.DeviceAgeDays] = max(noDeviceAgeDays, float64(now-st.deviceFirst)/86400)
		if st.deviceFirst == 0 {
			f[model.DeviceAgeDays] = noDeviceAgeDays
		}
	case st.deviceFirst > 0:
		f[model.DeviceAgeDays] = float64(now-st.deviceFirst) / 86400
	default:
		f[model.NewDevice] = 1
	}
	f[model.MinutesSinceLast], f[model.DaysSincePrev] = 1440, 365
	if st.last > 0 {
		gap := float64(max(now-st.last, 0))
		if hasPlace && st.hasPlace {
			f[model.KmFromLast] = model.Km(float64(st.latE4)/1e4, float64(st.lonE4)/1e4, pl.lat, pl.lon)
		}
		f[model.MinutesSinceLast] = math.Min(1440, gap/60)
		f[model.SpeedKmh] = f[model.KmFromLast] / (math.Max(gap/60, 5) / 60)
		f[model.DaysSincePrev] = math.Min(365, gap/86400)
	}
	f[model.MerchantUsers24h] = float64(merchantUsers.Count24h)
	if st.newToMerch {
		f[model.MerchantUsers24h]++
	}
	f[model.MerchantCount1h] = float64(merchantCount.Count1h + 1)
	if c := math.Round(cents); c > 0 && math.Mod(c, 1000) == 0 {
		f[model.RoundAmount] = 1
	}
	f[model.MCCRisk] = float64(model.MCCClass(p.MCC))
	return f
}

// monthTotals are the merchants' and partners' totals of each calendar
// month (in the day zone), kept like the windows: from this replica's
// decisions, its peers' events and, at start, the stored decisions.
type monthTotals struct {
	mu sync.Mutex
	m  map[string]int64 // key + "|" + YYYY-MM -> minor units
}

func (t *monthTotals) add(key, month string, amount int64) {
	t.mu.Lock()
	if t.m == nil {
		t.m = map[string]int64{}
	}
	t.m[key+"|"+month] += amount
	t.mu.Unlock()
}

func (t *monthTotals) get(key, month string) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m[key+"|"+month]
}

// sweep forgets months before keep.
func (t *monthTotals) sweep(keep string) {
	t.mu.Lock()
	for k := range t.m {
		if k[len(k)-7:] < keep {
			delete(t.m, k)
		}
	}
	t.mu.Unlock()
}

// Month total keys: a merchant's and a partner's, per currency.
func merchantMonthKey(merchant, cur string) string { return "mm:" + merchant + ":" + cur }
func partnerMonthKey(partner, cur string) string   { return "pm:" + partner + ":" + cur }
