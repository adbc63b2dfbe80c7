package velocity

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	riskv1 "github.com/unigate/unigate/proto/gen/unigate/risk/v1"
)

// MaxOutbox bounds what a Sharer keeps for one unreachable peer; older
// events beyond it are dropped (and counted): a peer away that long
// rebuilds its day from the stored decisions when it comes back.
const MaxOutbox = 200_000

// sendChunk is how many events one stream message carries at most.
const sendChunk = 1_000

// Sharer counts a replica's own decisions at once and streams them to its
// peers, which count them too (ADR 0014); its ShareEvents method is the
// receiving half. A peer's events reach this replica's counter one flush
// interval after they were decided, plus the network. Delivery is best
// effort: what a stream accepted just before it broke may never reach the
// peer (a restarted replica rebuilds its day from the stored decisions).
type Sharer struct {
	riskv1.UnimplementedRiskPeerServiceServer
	c       *Counter
	replica string
	now     func() time.Time

	mu      sync.Mutex
	pending []*riskv1.VelocityEvent

	received, dropped atomic.Int64

	// Observe, when set (before Run or ShareEvents start), sees every
	// peer event once it is counted: the risk service keeps its
	// behaviour profiles from them.
	Observe func(e *riskv1.VelocityEvent)
}

// NewSharer returns a sharer counting into c, named replica to its peers.
func NewSharer(c *Counter, replica string, now func() time.Time) *Sharer {
	if now == nil {
		now = time.Now
	}
	return &Sharer{c: c, replica: replica, now: now}
}

// Record counts one decision under keys at now and queues it for the
// peers; it returns each key's stats including it.
func (s *Sharer) Record(keys []string, amount int64, now time.Time) []Stats {
	out := make([]Stats, len(keys))
	for i, k := range keys {
		out[i] = s.c.AddGet(k, amount, now)
	}
	s.mu.Lock()
	s.pending = append(s.pending, &riskv1.VelocityEvent{Keys: keys, UnixSeconds: now.Unix(), Amount: amount})
	s.mu.Unlock()
	return out
}

// RecordEvent counts e under its keys at its time and queues it for the
// peers: Record for a caller that read the windows beforehand (Get) and
// decided whether the payment counts.
func (s *Sharer) RecordEvent(e *riskv1.VelocityEvent, now time.Time) {
	at := time.Unix(e.GetUnixSeconds(), 0)
	for _, k := range e.GetKeys() {
		s.c.Add(k, at, e.GetAmount(), now)
	}
	s.mu.Lock()
	s.pending = append(s.pending, e)
	s.mu.Unlock()
}

// ShareEvents implements riskv1.RiskPeerServiceServer: a peer's events are
// counted as they arrive.
func (s *Sharer) ShareEvents(stream riskv1.RiskPeerService_ShareEventsServer) error {
	var n int64
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return stream.SendAndClose(&riskv1.ShareEventsResponse{Events: n})
		}
		if err != nil {
			return err
		}
		now := s.now()
		for _, e := range req.GetEvents() {
			at := time.Unix(e.GetUnixSeconds(), 0)
			for _, k := range e.GetKeys() {
				s.c.Add(k, at, e.GetAmount(), now)
			}
			if s.Observe != nil {
				s.Observe(e)
			}
			n++
		}
		s.received.Add(int64(len(req.GetEvents())))
	}
}

// Received returns how many peer events were counted; Dropped how many of
// this replica's events an unreachable peer never got.
func (s *Sharer) Received() int64 { return s.received.Load() }

// Dropped returns how many events were dropped for unreachable peers.
func (s *Sharer) Dropped() int64 { return s.dropped.Load() }

// Dialer opens a client of a peer's RiskPeerService at addr, and what
// closes its connection once the peer is forgotten (nil: nothing).
type Dialer func(ctx context.Context, addr string) (riskv1.RiskPeerServiceClient, io.Closer, error)

// peer is one peer's stream and what it has yet to receive.
type peer struct {
	client riskv1.RiskPeerServiceClient
	conn   io.Closer
	stream riskv1.RiskPeerService_ShareEventsClient
	outbox []*riskv1.VelocityEvent
}

// Run (one per Sharer) sends the queued events every interval to every peer that peers
// lists (their addresses, this replica's own left out by the caller), over
// one stream each, until ctx ends. A peer that cannot be reached keeps its
// events (up to MaxOutbox) and gets them once it answers; a peer no longer
// listed is forgotten.
func (s *Sharer) Run(ctx context.Context, interval time.Duration, peers func() []string, dial Dialer) error {
	ps := map[string]*peer{}
	t := time.NewTicker(interval)
	defer t.Stop()
	defer func() {
		for _, p := range ps {
			p.close()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		s.mu.Lock()
		batch := s.pending
		s.pending = nil
		s.mu.Unlock()
		listed := map[string]bool{}
		for _, addr := range peers() {
			listed[addr] = true
			p := ps[addr]
			if p == nil {
				p = &peer{}
				ps[addr] = p
			}
			p.outbox = append(p.outbox, batch...)
			if over := len(p.outbox) - MaxOutbox; over > 0 {
				s.dropped.Add(int64(over))
				p.outbox = append(p.outbox[:0], p.outbox[over:]...)
			}
			s.send(ctx, addr, p, dial)
		}
		for addr, p := range ps {
			if !listed[addr] {
				p.close()
				delete(ps, addr)
			}
		}
	}
}

// close ends a forgotten peer's stream and connection.
func (p *peer) close() {
	if p.stream != nil {
		_, _ = p.stream.CloseAndRecv()
	}
	if p.conn != nil {
		_ = p.conn.Close()
	}
}

// send delivers a peer's outbox, opening its stream if need be; on a
// failure the stream is dropped, to be opened again at the next flush, and
// the outbox kept.
func (s *Sharer) send(ctx context.Context, addr string, p *peer, dial Dialer) {
	if len(p.outbox) == 0 {
		return
	}
	if p.stream == nil {
		if p.client == nil {
			c, conn, err := dial(ctx, addr)
			if err != nil {
				return
			}
			p.client, p.conn = c, conn
		}
		st, err := p.client.ShareEvents(ctx)
		if err != nil {
			return
		}
		p.stream = st
	}
	for len(p.outbox) > 0 {
		n := min(len(p.outbox), sendChunk)
		if err := p.stream.Send(&riskv1.ShareEventsRequest{Replica: s.replica, Events: p.outbox[:n]}); err != nil {
			_, _ = p.stream.CloseAndRecv()
			p.stream = nil
			return
		}
		p.outbox = p.outbox[n:]
	}
	p.outbox = nil
}
