package model

import (
	"math"
	"math/rand/v2"
	"sort"
)

// Pattern is the behaviour that made a simulated payment.
type Pattern uint8

// The behaviours Simulate draws payments from: ordinary travellers, and the
// five fraud patterns (docs/risk-model.md gives each pattern's share of
// the payments).
const (
	// Normal is an ordinary payment: a traveller paying a merchant of the
	// city they are in (or, now and then, an online merchant registered
	// elsewhere), with the occasional legitimate oddity: a new phone, a
	// large purchase, a few small payments in a row at a ticket machine,
	// a return after months away.
	Normal Pattern = iota
	// ProbeBurst is a stolen account tested with 4-12 payments of 0.50-3
	// dollars, seconds apart, at digital-goods or top-up merchants, from
	// the fraudster's device (70%) or the victim's, followed half the
	// time by one cash-out of 150-1,500 dollars.
	ProbeBurst
	// NewDeviceHighAmount is 1-3 payments, minutes apart, from a device
	// the user never paid with, of 4-20 times the user's typical amount
	// (at least 150 dollars), mostly at medium- or high-risk merchants.
	NewDeviceHighAmount
	// ImpossibleTravel is 1-2 payments 2-45 minutes after a genuine
	// payment of the same user, at a merchant at least 1,000 km away,
	// from the user's device (a cloned token) or a new one.
	ImpossibleTravel
	// MerchantCollusion is a merchant paid only by a ring of 3-6 accounts
	// (young devices, little other activity): 20-80 round payments of
	// 50-500 dollars over 1-3 days of business hours.
	MerchantCollusion
	// DormantTakeover is an account silent for 30-365 days that suddenly
	// makes 2-6 payments of 80-1,600 dollars within hours, from a new
	// device (90%), in its old city or another.
	DormantTakeover

	// NumPatterns is the number of patterns.
	NumPatterns
)

var patternNames = [NumPatterns]string{
	Normal:              "normal",
	ProbeBurst:          "probe_burst",
	NewDeviceHighAmount: "new_device_high_amount",
	ImpossibleTravel:    "impossible_travel",
	MerchantCollusion:   "merchant_collusion",
	DormantTakeover:     "dormant_takeover",
}

// String returns the pattern's name, as docs/risk-model.md spells it.
func (p Pattern) String() string {
	if p < NumPatterns {
		return patternNames[p]
	}
	return "unknown"
}

// Example is one simulated payment: its features and whether it is fraud.
type Example struct {
	// Features has NumFeatures values, in the order of FeatureNames.
	Features []float64
	// Fraud is the label: Pattern != Normal.
	Fraud bool
	// Pattern is the behaviour that made the payment.
	Pattern Pattern
}

// The simulated world. The sizes scale with the number of users, so the
// density of payments per merchant, and so the distribution of every
// feature, does not depend on how many examples are asked for.
const (
	daySeconds = 86400
	// simDays is the simulated period; payments of its first warmupDays
	// only fill the 24-hour windows and are not returned.
	simDays    = 15
	warmupDays = 1
	// usersPerMerchant sets the number of merchants from the number of
	// ordinary users.
	usersPerMerchant = 12
	// Fraud episodes per ordinary user over the period.
	probeEpisodesPerUser     = 0.035
	newDeviceEpisodesPerUser = 0.09
	travelEpisodesPerUser    = 0.09
	collusionRingsPerUser    = 0.007
	takeoversPerUser         = 0.035
	// Legitimate returners after 30-365 days, per ordinary user: what
	// makes a dormant takeover hard to tell from a customer coming back.
	returnersPerUser = 0.05
)

type city struct {
	name     string
	lat, lon float64
	utc      int     // hours ahead of UTC
	weight   float64 // share of merchants and visitors
}

var cities = []city{
	{"Ulaanbaatar", 47.92, 106.92, 8, 1.0},
	{"Erenhot", 43.65, 111.98, 8, 0.4},
	{"Beijing", 39.90, 116.40, 8, 2.0},
	{"Shanghai", 31.23, 121.47, 8, 2.0},
	{"Hong Kong", 22.32, 114.17, 8, 1.5},
	{"Bangkok", 13.76, 100.50, 7, 1.5},
	{"Singapore", 1.35, 103.82, 8, 1.2},
	{"Kuala Lumpur", 3.14, 101.69, 8, 0.8},
	{"Ho Chi Minh City", 10.82, 106.63, 7, 0.8},
	{"Seoul", 37.57, 126.98, 9, 1.2},
	{"Tokyo", 35.68, 139.69, 9, 1.5},
	{"Almaty", 43.24, 76.89, 5, 0.6},
}

type category struct {
	mcc       string
	risk      int     // the MCCRisk feature
	medianUSD float64 // median amount, dollars
	sigma     float64 // of ln(amount)
	weight    float64 // share of merchants
	round     float64 // share of payments of a round amount
}

var categories = []category{
	{"5411", 0, 18, 0.7, 0.20, 0.03},  // groceries
	{"5812", 0, 25, 0.6, 0.24, 0.03},  // restaurants
	{"4111", 0, 3, 0.5, 0.08, 0.02},   // transit
	{"4121", 0, 12, 0.5, 0.08, 0.20},  // taxis
	{"5311", 1, 60, 0.8, 0.12, 0.04},  // department stores
	{"5732", 1, 220, 0.9, 0.06, 0.05}, // electronics
	{"7011", 1, 140, 0.6, 0.08, 0.05}, // hotels
	{"5944", 2, 450, 0.9, 0.03, 0.10}, // jewellery
	{"5816", 2, 15, 0.9, 0.06, 0.05},  // digital goods
	{"6540", 2, 50, 0.7, 0.05, 0.50},  // stored-value top-ups
}

// hourWeight is how active travellers are at each local hour.
var hourWeight = [24]float64{
	0.15, 0.08, 0.05, 0.04, 0.04, 0.08, 0.3, 0.6, 0.9, 1.0, 1.0, 1.1,
	1.4, 1.3, 1.0, 1.0, 1.0, 1.1, 1.4, 1.5, 1.3, 1.0, 0.7, 0.35,
}

type merchant struct {
	city     int
	cat      int
	lat, lon float64
	pop      float64 // popularity: the odds of being chosen
	online   bool
}

type stay struct {
	city     int
	from, to int64
}

type deviceUse struct {
	id   int
	from int64
}

type user struct {
	rate  float64 // ordinary payments a day
	spend float64 // multiplier of a category's median amount
	// start is when the user's ordinary payments begin (0, or the day a
	// returner comes back; never, for a dormant account).
	start int64
	stays []stay
	// devices is the device of ordinary payments from each time on;
	// second, when not 0, takes a quarter of them.
	devices []deviceUse
	second  int
	// The history before the simulated period.
	lastT      int64
	lastCity   int
	knownSince map[int]int64 // device -> first payment
}

type payment struct {
	t        int64 // seconds since the start of the simulated period
	seq      int
	user     int
	merchant int
	device   int
	cents    int64
	pattern  Pattern
}

type world struct {
	rng        *rand.Rand
	merchants  []merchant
	byCity     [][]int     // merchants of each city
	cumByCity  [][]float64 // their cumulative popularity
	online     []int       // merchants also paid from other cities
	cumOnline  []float64
	users      []user
	ordinary   int // users[:ordinary] are ordinary users
	pays       []payment
	nextDevice int
}

// Simulate returns n payments of a simulated world made from seed: the
// same seed and n give the same examples. The world is a population of
// travellers paying merchants in twelve cities over 14 days (after a day
// that only fills the windows), with the five fraud patterns injected;
// Pattern says which behaviour made each payment. The features are those
// of FeatureNames, computed in time order over every payment of the world,
// so windows include payments that were not sampled into the n returned.
func Simulate(seed int64, n int) []Example {
	if n <= 0 {
		return nil
	}
	users := n/35 + 10
	for {
		w := newWorld(seed, users)
		out := w.examples()
		if len(out) >= n {
			return sample(rand.New(rand.NewPCG(uint64(seed), 0x5a3b1e)), out, n)
		}
		users = int(float64(users)*float64(n)/float64(len(out))*1.1) + 1
	}
}

// sample keeps n of the examples, chosen at random, in their time order.
func sample(rng *rand.Rand, ex []Example, n int) []Example {
	idx := rng.Perm(len(ex))[:n]
	sort.Ints(idx)
	out := make([]Example, n)
	for i, j := range idx {
		out[i] = ex[j]
	}
	return out
}

func newWorld(seed int64, ordinary int) *world {
	w := &world{rng: rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15)), nextDevice: 1}
	w.makeMerchants(ordinary/usersPerMerchant + 30)
	for range ordinary {
		w.users = append(w.users, w.newUser(0))
	}
	w.ordinary = ordinary
	for range w.count(returnersPerUser) {
		u := w.newUser(w.uniform(0.5*daySeconds, (simDays-1)*daySeconds))
		u.lastT = -w.uniform(30*daySeconds, 365*daySeconds)
		if w.rng.Float64() < 0.3 { // a new phone since the last trip
			u.devices = append(u.devices, deviceUse{w.device(), u.start})
		}
		w.users = append(w.users, u)
	}
	for i := range w.users {
		w.ordinaryPayments(i)
	}
	w.probeBursts()
	w.newDeviceHighAmounts()
	w.impossibleTravel()
	w.collusion()
	w.dormantTakeovers()
	return w
}

func (w *world) count(perUser float64) int {
	return int(math.Round(perUser * float64(w.ordinary)))
}

func (w *world) uniform(lo, hi float64) int64 {
	return int64(lo + (hi-lo)*w.rng.Float64())
}

func (w *world) device() int {
	w.nextDevice++
	return w.nextDevice
}

func (w *world) pickCity() int {
	var total float64
	for _, c := range cities {
		total += c.weight
	}
	x := w.rng.Float64() * total
	for i, c := range cities {
		if x -= c.weight; x < 0 {
			return i
		}
	}
	return len(cities) - 1
}

func (w *world) makeMerchants(m int) {
	w.byCity = make([][]int, len(cities))
	w.cumByCity = make([][]float64, len(cities))
	add := func(c, cat int, online bool) {
		id := len(w.merchants)
		m := w.merchantAt(c, cat)
		m.pop, m.online = math.Exp(1.2*w.rng.NormFloat64()), online
		w.merchants = append(w.merchants, m)
		pop := m.pop
		if online {
			w.online = append(w.online, id)
			w.cumOnline = appendCum(w.cumOnline, pop)
		} else {
			w.byCity[c] = append(w.byCity[c], id)
			w.cumByCity[c] = appendCum(w.cumByCity[c], pop)
		}
	}
	for c := range cities { // every city has a grocery and a restaurant
		add(c, 0, false)
		add(c, 1, false)
	}
	for cat := range categories { // and the web one merchant of each kind
		add(w.pickCity(), cat, true)
	}
	var total float64
	for _, c := range categories {
		total += c.weight
	}
	for range m {
		x, cat := w.rng.Float64()*total, 0
		for i, c := range categories {
			if x -= c.weight; x < 0 {
				cat = i
				break
			}
		}
		add(w.pickCity(), cat, w.rng.Float64() < 0.03)
	}
}

// merchantAt places a merchant of category cat in city c, a few km from
// its centre.
func (w *world) merchantAt(c, cat int) merchant {
	lat := cities[c].lat + 0.05*w.rng.NormFloat64()
	lon := cities[c].lon + 0.05*w.rng.NormFloat64()/math.Cos(cities[c].lat*math.Pi/180)
	return merchant{city: c, cat: cat, lat: lat, lon: lon}
}

func appendCum(cum []float64, v float64) []float64 {
	if len(cum) > 0 {
		v += cum[len(cum)-1]
	}
	return append(cum, v)
}

func (w *world) pickFrom(ids []int, cum []float64) int {
	x := w.rng.Float64() * cum[len(cum)-1]
	return ids[sort.SearchFloat64s(cum, x)]
}

// pickWhere picks, by popularity, one of the merchants of city c (any
// city when c < 0) or online that keep says to keep. There is always one
// for the kinds asked: every category has an online merchant.
func (w *world) pickWhere(c int, keep func(merchant) bool) int {
	var ids []int
	var cum []float64
	for id, m := range w.merchants {
		if m.pop > 0 && (c < 0 || m.city == c || m.online) && keep(m) {
			ids = append(ids, id)
			cum = appendCum(cum, m.pop)
		}
	}
	return w.pickFrom(ids, cum)
}

// merchantIn picks a merchant by popularity: one of the city's, or 0.5%
// of the time an online one (QR payments are mostly made in shops).
func (w *world) merchantIn(c int) int {
	if w.rng.Float64() < 0.005 {
		return w.pickFrom(w.online, w.cumOnline)
	}
	return w.pickFrom(w.byCity[c], w.cumByCity[c])
}

// riskyMerchant picks by popularity a medium- or high-risk merchant of
// city c or online.
func (w *world) riskyMerchant(c int) int {
	return w.pickWhere(c, func(m merchant) bool { return categories[m.cat].risk >= 1 })
}

func (w *world) newUser(start int64) user {
	u := user{
		rate:       math.Min(15, math.Max(0.3, 2.5*math.Exp(0.6*w.rng.NormFloat64()))),
		spend:      math.Exp(0.5 * w.rng.NormFloat64()),
		start:      start,
		knownSince: map[int]int64{},
	}
	primary := w.device()
	u.knownSince[primary] = -w.uniform(20*daySeconds, 900*daySeconds)
	u.devices = []deviceUse{{primary, math.MinInt64}}
	if w.rng.Float64() < 0.15 {
		u.second = w.device()
		u.knownSince[u.second] = -w.uniform(5*daySeconds, 400*daySeconds)
	}
	if w.rng.Float64() < 0.04 { // a new phone during the period
		u.devices = append(u.devices, deviceUse{w.device(), w.uniform(0, simDays*daySeconds)})
	}
	// The itinerary: stays of 1.5-6 days, then a flight to another city
	// (750 km/h, plus 1.5 hours at airports).
	c := w.pickCity()
	t := -w.uniform(0, 3*daySeconds)
	for t < simDays*daySeconds {
		end := t + w.uniform(1.5*daySeconds, 6*daySeconds)
		u.stays = append(u.stays, stay{c, t, end})
		next := w.pickCity()
		for next == c {
			next = w.pickCity()
		}
		t = end + int64((km(cities[c].lat, cities[c].lon, cities[next].lat, cities[next].lon)/750+1.5)*3600)
		c = next
	}
	u.lastCity = u.stays[0].city
	u.lastT = -int64(w.rng.ExpFloat64() / u.rate * daySeconds)
	return u
}

// cityAt is where the user is at t, or -1 in flight.
func (u *user) cityAt(t int64) int {
	for _, s := range u.stays {
		if t >= s.from && t < s.to {
			return s.city
		}
	}
	return -1
}

func (u *user) deviceAt(w *world, t int64) int {
	d := u.devices[0].id
	for _, du := range u.devices[1:] {
		if t >= du.from {
			d = du.id
		}
	}
	if u.second != 0 && w.rng.Float64() < 0.25 {
		d = u.second
	}
	return d
}

func localHour(t int64, c int) int {
	s := (t + int64(cities[c].utc)*3600) % daySeconds
	if s < 0 {
		s += daySeconds
	}
	return int(s / 3600)
}

func (w *world) amount(cat int, spend float64) int64 {
	c := categories[cat]
	usd := math.Max(0.3, c.medianUSD*spend*math.Exp(c.sigma*w.rng.NormFloat64()))
	if w.rng.Float64() < c.round {
		return int64(math.Max(1, math.Round(usd/10))) * 1000
	}
	return int64(math.Round(usd * 100))
}

func (w *world) pay(p payment) {
	p.seq = len(w.pays)
	w.pays = append(w.pays, p)
}

// ordinaryPayments draws the user's payments as a Poisson process whose
// rate follows hourWeight at the local hour (by thinning), with none in
// flight.
func (w *world) ordinaryPayments(i int) {
	u := &w.users[i]
	if u.start == math.MaxInt64 {
		return
	}
	var maxW, sumW float64
	for _, h := range hourWeight {
		maxW = math.Max(maxW, h)
		sumW += h
	}
	perSecond := u.rate * maxW / (sumW / 24) / daySeconds
	t := float64(u.start)
	for {
		t += w.rng.ExpFloat64() / perSecond
		if t >= simDays*daySeconds {
			return
		}
		ts := int64(t)
		c := u.cityAt(ts)
		if c < 0 || w.rng.Float64()*maxW > hourWeight[localHour(ts, c)] {
			continue
		}
		m := w.merchantIn(c)
		p := payment{t: ts, user: i, merchant: m, device: u.deviceAt(w, ts), pattern: Normal}
		p.cents = w.amount(w.merchants[m].cat, u.spend)
		w.pay(p)
		// A few small payments in a row (ticket machines, game credits),
		// or a bill split in two.
		follow := 0
		switch categories[w.merchants[m].cat].mcc {
		case "4111", "5816":
			if w.rng.Float64() < 0.08 {
				follow = 1 + w.rng.IntN(3)
			}
		case "5812":
			if w.rng.Float64() < 0.03 {
				follow = 1
			}
		}
		for range follow {
			p.t += w.uniform(15, 120)
			p.cents = w.amount(w.merchants[m].cat, u.spend)
			w.pay(p)
		}
	}
}

// victim picks an ordinary user.
func (w *world) victim() int { return w.rng.IntN(w.ordinary) }

// fraudTime picks a time in the returned part of the period, leaving
// margin hours after it.
func (w *world) fraudTime(margin float64) int64 {
	return w.uniform(warmupDays*daySeconds, simDays*daySeconds-margin*3600)
}

func (w *world) probeBursts() {
	small := func(m merchant) bool { // digital goods and top-ups
		mcc := categories[m.cat].mcc
		return mcc == "5816" || mcc == "6540"
	}
	highRisk := func(m merchant) bool { return categories[m.cat].risk == 2 }
	for range w.count(probeEpisodesPerUser) {
		v := w.victim()
		t := w.fraudTime(1)
		dev := w.users[v].deviceAt(w, t)
		if w.rng.Float64() < 0.7 {
			dev = w.device()
		}
		m := w.pickWhere(-1, small)
		for range 4 + w.rng.IntN(9) {
			if w.rng.Float64() < 0.2 {
				m = w.pickWhere(-1, small)
			}
			w.pay(payment{t: t, user: v, merchant: m, device: dev, cents: 50 + w.rng.Int64N(251), pattern: ProbeBurst})
			t += w.uniform(4, 25)
		}
		if w.rng.Float64() < 0.5 {
			t += w.uniform(60, 600)
			m := w.pickWhere(-1, highRisk)
			usd := 150 * math.Exp(w.rng.Float64()*math.Log(10))
			w.pay(payment{t: t, user: v, merchant: m, device: dev, cents: int64(usd * 100), pattern: ProbeBurst})
		}
	}
}

func (w *world) newDeviceHighAmounts() {
	for range w.count(newDeviceEpisodesPerUser) {
		v := w.victim()
		u := &w.users[v]
		t := w.fraudTime(3)
		c := u.cityAt(t)
		if c < 0 || w.rng.Float64() < 0.2 {
			c = w.pickCity()
		}
		dev := w.device()
		for range 1 + w.rng.IntN(3) {
			m := w.riskyMerchant(c)
			if w.rng.Float64() < 0.2 {
				m = w.merchantIn(c)
			}
			usd := math.Max(150+100*w.rng.Float64(), 40*u.spend*(4+16*w.rng.Float64()))
			w.pay(payment{t: t, user: v, merchant: m, device: dev, cents: int64(usd * 100), pattern: NewDeviceHighAmount})
			t += w.uniform(120, 2400)
		}
	}
}

func (w *world) impossibleTravel() {
	byUser := make([][]int, w.ordinary)
	for i, p := range w.pays {
		if p.user < w.ordinary && p.pattern == Normal && p.t >= warmupDays*daySeconds {
			byUser[p.user] = append(byUser[p.user], i)
		}
	}
	for range w.count(travelEpisodesPerUser) {
		v := w.victim()
		if len(byUser[v]) == 0 {
			continue
		}
		genuine := w.pays[byUser[v][w.rng.IntN(len(byUser[v]))]]
		from := w.merchants[genuine.merchant]
		var far []int
		for c, ci := range cities {
			if km(from.lat, from.lon, ci.lat, ci.lon) >= 1000 {
				far = append(far, c)
			}
		}
		c := far[w.rng.IntN(len(far))]
		dev := genuine.device
		if w.rng.Float64() < 0.5 {
			dev = w.device()
		}
		t := genuine.t + w.uniform(120, 2700)
		for range 1 + w.rng.IntN(2) {
			m := w.merchantIn(c)
			if w.rng.Float64() < 0.6 {
				m = w.riskyMerchant(c)
			}
			usd := 40 * w.users[v].spend * (0.8 + 5.2*w.rng.Float64())
			w.pay(payment{t: t, user: v, merchant: m, device: dev, cents: int64(usd * 100), pattern: ImpossibleTravel})
			t += w.uniform(60, 600)
		}
	}
}

func (w *world) collusion() {
	kinds := []int{4, 5, 7, 9} // department store, electronics, jewellery, top-ups
	for range max(1, w.count(collusionRingsPerUser)) {
		c := w.pickCity()
		m := len(w.merchants)
		// Not in any popularity list: only the ring pays it.
		w.merchants = append(w.merchants, w.merchantAt(c, kinds[w.rng.IntN(len(kinds))]))
		start := w.fraudTime(30)
		end := min(start+w.uniform(1*daySeconds, 3*daySeconds), simDays*daySeconds)
		var ring []int
		for range 3 + w.rng.IntN(4) {
			u := w.newUser(0)
			u.rate = 0.7
			u.second = 0
			dev := w.device()
			u.devices = []deviceUse{{dev, math.MinInt64}}
			u.knownSince = map[int]int64{dev: -w.uniform(2*daySeconds, 60*daySeconds)}
			u.stays = []stay{{c, -daySeconds, simDays * daySeconds}}
			u.lastCity = c
			ring = append(ring, len(w.users))
			w.users = append(w.users, u)
			w.ordinaryPayments(len(w.users) - 1)
		}
		for range 20 + w.rng.IntN(61) {
			t := w.uniform(float64(start), float64(end))
			for h := localHour(t, c); h < 9 || h >= 22; h = localHour(t, c) {
				t = w.uniform(float64(start), float64(end))
			}
			v := ring[w.rng.IntN(len(ring))]
			w.pay(payment{t: t, user: v, merchant: m, device: w.users[v].devices[0].id,
				cents: 5000 * (1 + w.rng.Int64N(10)), pattern: MerchantCollusion})
		}
	}
}

func (w *world) dormantTakeovers() {
	for range w.count(takeoversPerUser) {
		u := w.newUser(math.MaxInt64)
		u.lastT = -w.uniform(30*daySeconds, 365*daySeconds)
		v := len(w.users)
		w.users = append(w.users, u)
		t := w.fraudTime(5)
		c := u.lastCity
		if w.rng.Float64() < 0.5 {
			c = w.pickCity()
		}
		dev := u.devices[0].id
		if w.rng.Float64() < 0.9 {
			dev = w.device()
		}
		for range 2 + w.rng.IntN(5) {
			m := w.merchantIn(c)
			if w.rng.Float64() < 0.7 {
				m = w.riskyMerchant(c)
			}
			usd := 80 * math.Exp(3*w.rng.Float64())
			w.pay(payment{t: t, user: v, merchant: m, device: dev, cents: int64(usd * 100), pattern: DormantTakeover})
			t += w.uniform(180, 3000)
		}
	}
}

// examples computes the features of every payment in time order and
// returns those after the warm-up day.
func (w *world) examples() []Example {
	sort.Slice(w.pays, func(i, j int) bool {
		if w.pays[i].t != w.pays[j].t {
			return w.pays[i].t < w.pays[j].t
		}
		return w.pays[i].seq < w.pays[j].seq
	})
	users := make([]userWindow, len(w.users))
	for i := range w.users {
		u := &w.users[i]
		users[i] = userWindow{lastT: u.lastT, hasLast: true, devices: map[int]int64{}}
		users[i].lastLat, users[i].lastLon = cities[u.lastCity].lat, cities[u.lastCity].lon
		for d, since := range u.knownSince {
			users[i].devices[d] = since
		}
	}
	merchants := make([]merchantWindow, len(w.merchants))
	var out []Example
	for _, p := range w.pays {
		m := w.merchants[p.merchant]
		f := make([]float64, NumFeatures)
		users[p.user].observe(p, m, f)
		merchants[p.merchant].observe(p, f)
		f[LogAmountUSD] = math.Log1p(float64(p.cents))
		f[Hour] = float64(localHour(p.t, m.city))
		if p.cents%1000 == 0 {
			f[RoundAmount] = 1
		}
		f[MCCRisk] = float64(categories[m.cat].risk)
		if p.t >= warmupDays*daySeconds && p.t < simDays*daySeconds {
			out = append(out, Example{Features: f, Fraud: p.pattern != Normal, Pattern: p.pattern})
		}
	}
	return out
}

// userWindow is what the feature pass keeps of one user: the payments of
// the last 24 hours, the previous payment and the devices seen.
type userWindow struct {
	times, cents     []int64
	head             int
	lastT            int64
	lastLat, lastLon float64
	hasLast          bool
	devices          map[int]int64
}

func (u *userWindow) observe(p payment, m merchant, f []float64) {
	u.times = append(u.times, p.t)
	u.cents = append(u.cents, p.cents)
	for u.times[u.head] <= p.t-daySeconds {
		u.head++
	}
	var sum int64
	for i := len(u.times) - 1; i >= u.head; i-- {
		age := p.t - u.times[i]
		if age < 60 {
			f[UserCount1m]++
		}
		if age < 3600 {
			f[UserCount1h]++
		}
		f[UserCount24h]++
		sum += u.cents[i]
	}
	f[LogUserSum24hUSD] = math.Log1p(float64(sum))

	if since, ok := u.devices[p.device]; ok {
		f[DeviceAgeDays] = float64(p.t-since) / daySeconds
	} else {
		f[NewDevice] = 1
		u.devices[p.device] = p.t
	}

	f[MinutesSinceLast], f[DaysSincePrev] = 1440, 365
	if u.hasLast {
		gap := float64(p.t - u.lastT)
		f[KmFromLast] = km(u.lastLat, u.lastLon, m.lat, m.lon)
		f[MinutesSinceLast] = math.Min(1440, gap/60)
		f[SpeedKmh] = f[KmFromLast] / (math.Max(gap/60, 5) / 60)
		f[DaysSincePrev] = math.Min(365, gap/daySeconds)
	}
	u.lastT, u.lastLat, u.lastLon, u.hasLast = p.t, m.lat, m.lon, true
}

// merchantWindow is what the feature pass keeps of one merchant: the
// payments of the last 24 hours and their users.
type merchantWindow struct {
	times []int64
	users []int
	head  int
	count map[int]int // user -> payments in the window
}

func (w *merchantWindow) observe(p payment, f []float64) {
	if w.count == nil {
		w.count = map[int]int{}
	}
	w.times = append(w.times, p.t)
	w.users = append(w.users, p.user)
	w.count[p.user]++
	for w.times[w.head] <= p.t-daySeconds {
		if w.count[w.users[w.head]]--; w.count[w.users[w.head]] == 0 {
			delete(w.count, w.users[w.head])
		}
		w.head++
	}
	f[MerchantUsers24h] = float64(len(w.count))
	for i := len(w.times) - 1; i >= w.head && p.t-w.times[i] < 3600; i-- {
		f[MerchantCount1h]++
	}
}

// km is the great-circle distance between two points, in km.
func km(lat1, lon1, lat2, lon2 float64) float64 {
	const r = 6371.0
	rad := math.Pi / 180
	dlat, dlon := (lat2-lat1)*rad, (lon2-lon1)*rad
	a := math.Sin(dlat/2)*math.Sin(dlat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dlon/2)*math.Sin(dlon/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(a)))
}
