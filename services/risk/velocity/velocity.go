// Package velocity counts events per key over sliding windows of a
// minute, an hour and a day: how many and how much. It is the local
// building block of the risk service's velocity features; each replica
// feeds it its own decisions and those its peers send, in any order.
//
// Each key keeps one-second buckets for the last hour and one-minute
// buckets for the rest of the day, with running totals per window, so a
// lookup costs the same for a user with one payment and a merchant with
// ten thousand: the minute and hour windows are exact to the second, the
// day window to the minute at its old end. Keys hash into shards, each with
// its own lock: no lock is shared by all traffic.
package velocity

import (
	"hash/maphash"
	"sync"
	"time"
)

// Stats are one key's counts and sums over the three windows, up to and
// including the time asked about.
type Stats struct {
	Count1m, Count1h, Count24h int64
	Sum1m, Sum1h, Sum24h       int64
}

const (
	hourSeconds = 3600
	daySeconds  = 86400
	shards      = 64
)

// Counter is a set of keyed windows, safe for concurrent use.
type Counter struct {
	seed   maphash.Seed
	shards [shards]shard
}

type shard struct {
	mu   sync.Mutex
	keys map[string]*series
}

// New returns an empty counter.
func New() *Counter {
	c := &Counter{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].keys = map[string]*series{}
	}
	return c
}

func (c *Counter) shard(key string) *shard {
	return &c.shards[maphash.String(c.seed, key)%shards]
}

// Add counts an event of amount for key at time at, as seen at now (at
// after now counts as now: a peer's clock may run ahead). An event older
// than a day is dropped.
func (c *Counter) Add(key string, at time.Time, amount int64, now time.Time) {
	sec, nowSec := at.Unix(), now.Unix()
	if sec > nowSec {
		sec = nowSec
	}
	if sec <= nowSec-daySeconds {
		return
	}
	sh := c.shard(key)
	sh.mu.Lock()
	s := sh.keys[key]
	if s == nil {
		s = &series{}
		sh.keys[key] = s
	}
	s.advance(nowSec)
	s.add(sec, amount)
	sh.mu.Unlock()
}

// Get returns key's stats at now.
func (c *Counter) Get(key string, now time.Time) Stats {
	sh := c.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	s := sh.keys[key]
	if s == nil {
		return Stats{}
	}
	s.advance(now.Unix())
	return s.stats()
}

// AddGet counts an event at now and returns key's stats including it: the
// decision path's one lock per key.
func (c *Counter) AddGet(key string, amount int64, now time.Time) Stats {
	nowSec := now.Unix()
	sh := c.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	s := sh.keys[key]
	if s == nil {
		s = &series{}
		sh.keys[key] = s
	}
	s.advance(nowSec)
	s.add(nowSec, amount)
	return s.stats()
}

// Sweep forgets keys with no event in the last day and returns how many
// keys remain.
func (c *Counter) Sweep(now time.Time) int {
	nowSec, n := now.Unix(), 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		for k, s := range sh.keys {
			s.advance(nowSec)
			if len(s.fine) == 0 && len(s.coarse) == 0 {
				delete(sh.keys, k)
			}
		}
		n += len(sh.keys)
		sh.mu.Unlock()
	}
	return n
}

// bucket is the count and sum of one second (fine) or minute (coarse).
type bucket struct {
	at     int64 // Unix second, or Unix minute
	n, sum int64
}

// series is one key's buckets: fine holds the last hour in seconds,
// oldest first; minute holds its first index inside the last minute;
// coarse holds the rest of the day in minutes, oldest first. The running
// totals are kept as buckets enter and leave.
type series struct {
	fine, coarse       []bucket
	minute             int
	n1m, s1m, n1h, s1h int64
	nDay, sDay         int64 // the coarse buckets' totals
	now                int64 // the newest time advanced to
}

// advance moves the windows to nowSec (never backwards).
func (s *series) advance(nowSec int64) {
	if nowSec <= s.now {
		return
	}
	s.now = nowSec
	// Seconds leaving the minute, then the hour (folding into their
	// minute of the day): in that order, so a jump of more than an hour
	// takes them out of the minute's totals too.
	for s.minute < len(s.fine) && s.fine[s.minute].at <= nowSec-60 {
		s.n1m -= s.fine[s.minute].n
		s.s1m -= s.fine[s.minute].sum
		s.minute++
	}
	drop := 0
	for drop < len(s.fine) && s.fine[drop].at <= nowSec-hourSeconds {
		b := s.fine[drop]
		s.n1h -= b.n
		s.s1h -= b.sum
		s.toCoarse(b.at, b.n, b.sum)
		drop++
	}
	if drop > 0 {
		s.fine = append(s.fine[:0], s.fine[drop:]...)
		s.minute -= drop // every dropped second was before the minute
	}
	drop = 0
	for drop < len(s.coarse) && (s.coarse[drop].at+1)*60 <= nowSec-daySeconds {
		s.nDay -= s.coarse[drop].n
		s.sDay -= s.coarse[drop].sum
		drop++
	}
	if drop > 0 {
		s.coarse = append(s.coarse[:0], s.coarse[drop:]...)
	}
}

// toCoarse adds to the minute of second sec, keeping the minutes in order.
func (s *series) toCoarse(sec, n, sum int64) {
	m := sec / 60
	i := len(s.coarse)
	for i > 0 && s.coarse[i-1].at > m {
		i--
	}
	if i > 0 && s.coarse[i-1].at == m {
		s.coarse[i-1].n += n
		s.coarse[i-1].sum += sum
	} else {
		s.coarse = append(s.coarse, bucket{})
		copy(s.coarse[i+1:], s.coarse[i:])
		s.coarse[i] = bucket{at: m, n: n, sum: sum}
	}
	s.nDay += n
	s.sDay += sum
}

// add counts an event at sec, within the day and not after s.now.
func (s *series) add(sec, amount int64) {
	if sec <= s.now-daySeconds {
		return // older than the day another caller has advanced to
	}
	if sec <= s.now-hourSeconds {
		s.toCoarse(sec, 1, amount)
		return
	}
	i := len(s.fine)
	for i > 0 && s.fine[i-1].at > sec {
		i--
	}
	if i > 0 && s.fine[i-1].at == sec {
		s.fine[i-1].n++
		s.fine[i-1].sum += amount
	} else {
		s.fine = append(s.fine, bucket{})
		copy(s.fine[i+1:], s.fine[i:])
		s.fine[i] = bucket{at: sec, n: 1, sum: amount}
		if sec <= s.now-60 {
			s.minute++ // a second before the minute went in at or before its first
		}
	}
	s.n1h++
	s.s1h += amount
	if sec > s.now-60 {
		s.n1m++
		s.s1m += amount
	}
}

func (s *series) stats() Stats {
	return Stats{Count1m: s.n1m, Sum1m: s.s1m, Count1h: s.n1h, Sum1h: s.s1h,
		Count24h: s.n1h + s.nDay, Sum24h: s.s1h + s.sDay}
}
