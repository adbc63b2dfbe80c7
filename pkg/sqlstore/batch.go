package sqlstore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Batcher group-commits one kind of write: concurrent calls of Do are
// written together by one worker, many in one statement, each caller
// answered only once that statement committed. The worker takes whatever
// is queued when it is free, so a lone write waits for nobody and a crowd
// shares round trips, plans and commits; the number of statements in
// flight stays one per Batcher, however many callers there are.
//
// Guarantees are those of the single write: Many must write its batch in
// one statement (or one transaction), all or nothing, and answer for every
// request. If it fails, each request is written alone, so one bad row
// fails only itself. At most one request per key is in a statement; the
// others wait for the next.
type Batcher[Req, Res any] struct {
	queue   chan *batchCall[Req, Res]
	stopped <-chan struct{}
	exited  chan struct{} // closed when the workers stop taking batches
	cfg     BatchConfig[Req, Res]

	statements, requests atomic.Int64
}

// BatchStats count a Batcher's work since it started.
type BatchStats struct {
	// Requests written, and the statements that wrote them (a batch that
	// failed and was written alone counts each lone write).
	Requests, Statements int64
}

// Add returns the sum of two counts.
func (s BatchStats) Add(o BatchStats) BatchStats {
	return BatchStats{s.Requests + o.Requests, s.Statements + o.Statements}
}

// Stats returns the counts so far; a nil Batcher has none.
func (b *Batcher[Req, Res]) Stats() BatchStats {
	if b == nil {
		return BatchStats{}
	}
	return BatchStats{Requests: b.requests.Load(), Statements: b.statements.Load()}
}

// BatchConfig says how a Batcher writes.
type BatchConfig[Req, Res any] struct {
	// Max is the most requests in one statement.
	Max int
	// Workers write batches concurrently (default 1): each takes what is
	// queued when it is free.
	Workers int
	// Bound bounds each statement (a batch or a lone write): the worker
	// runs detached from its callers, which wait for its answer.
	Bound time.Duration
	// Keys name what a request writes; two requests sharing a key are
	// never in one statement. Nil: every request is its own.
	Keys func(Req) []string
	// Many writes requests in one statement and returns one result per
	// request, in order.
	Many func(ctx context.Context, reqs []Req) ([]Res, error)
	// Alone writes one request.
	Alone func(ctx context.Context, r Req) (Res, error)
}

type batchCall[Req, Res any] struct {
	ctx  context.Context
	req  Req
	done chan batchResult[Res]
}

type batchResult[Res any] struct {
	res Res
	err error
}

// NewBatcher starts a Batcher's workers, which run until ctx ends; after
// that, Do writes each request alone.
func NewBatcher[Req, Res any](ctx context.Context, cfg BatchConfig[Req, Res]) *Batcher[Req, Res] {
	cfg.Max, cfg.Workers = max(cfg.Max, 1), max(cfg.Workers, 1)
	if cfg.Bound <= 0 {
		cfg.Bound = 30 * time.Second
	}
	b := &Batcher[Req, Res]{queue: make(chan *batchCall[Req, Res], cfg.Workers*cfg.Max), stopped: ctx.Done(),
		exited: make(chan struct{}), cfg: cfg}
	var wg sync.WaitGroup
	for range cfg.Workers {
		wg.Go(func() { b.work(ctx) })
	}
	go func() { wg.Wait(); close(b.exited) }()
	return b
}

// Do writes r, in a batch with whatever else is queued, and returns its
// result. Once queued, the answer comes, whatever happens to ctx: the
// caller learns what was written.
func (b *Batcher[Req, Res]) Do(ctx context.Context, r Req) (Res, error) {
	c := &batchCall[Req, Res]{ctx: ctx, req: r, done: make(chan batchResult[Res], 1)}
	select {
	case <-b.stopped:
		return b.alone(ctx, r)
	default:
	}
	select {
	case b.queue <- c:
	case <-b.stopped:
		return b.alone(ctx, r)
	case <-ctx.Done():
		var zero Res
		return zero, ctx.Err()
	}
	var res batchResult[Res]
	select {
	case res = <-c.done:
	case <-b.exited:
		// The workers stopped, perhaps before taking c: whoever takes c
		// from the queue answers it, and this answers all it finds.
		b.drain()
		res = <-c.done
	}
	return res.res, res.err
}

func (b *Batcher[Req, Res]) alone(ctx context.Context, r Req) (Res, error) {
	b.requests.Add(1)
	b.statements.Add(1)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.cfg.Bound)
	defer cancel()
	return b.cfg.Alone(ctx, r)
}

func (b *Batcher[Req, Res]) work(ctx context.Context) {
	var carry []*batchCall[Req, Res]
	for {
		batch := carry
		carry = nil
		if len(batch) == 0 {
			select {
			case c := <-b.queue:
				batch = append(batch, c)
			case <-ctx.Done():
				b.drain()
				return
			}
		}
		keys := map[string]bool{}
		keep := batch[:0]
		for _, c := range batch {
			if b.admit(c, keys) && len(keep) < b.cfg.Max {
				keep = append(keep, c)
			} else {
				carry = append(carry, c)
			}
		}
		batch = keep
	fill:
		for len(batch) < b.cfg.Max {
			select {
			case c := <-b.queue:
				if b.admit(c, keys) {
					batch = append(batch, c)
				} else {
					carry = append(carry, c)
				}
			default:
				break fill
			}
		}
		b.write(batch)
	}
}

func (b *Batcher[Req, Res]) admit(c *batchCall[Req, Res], taken map[string]bool) bool {
	if b.cfg.Keys == nil {
		return true
	}
	keys := b.cfg.Keys(c.req)
	for _, k := range keys {
		if taken[k] {
			return false
		}
	}
	for _, k := range keys {
		taken[k] = true
	}
	return true
}

// drain answers what is still queued, each alone.
func (b *Batcher[Req, Res]) drain() {
	for {
		select {
		case c := <-b.queue:
			res, err := b.alone(c.ctx, c.req)
			c.done <- batchResult[Res]{res, err}
		default:
			return
		}
	}
}

// write writes a batch in one statement, in the first caller's trace (a
// statement has one parent), or each alone if that fails.
func (b *Batcher[Req, Res]) write(batch []*batchCall[Req, Res]) {
	if len(batch) == 1 {
		res, err := b.alone(batch[0].ctx, batch[0].req)
		batch[0].done <- batchResult[Res]{res, err}
		return
	}
	reqs := make([]Req, len(batch))
	for i, c := range batch {
		reqs[i] = c.req
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(batch[0].ctx), b.cfg.Bound)
	results, err := b.cfg.Many(ctx, reqs)
	cancel()
	b.statements.Add(1)
	if err == nil && len(results) != len(reqs) {
		err = fmt.Errorf("sqlstore: a batch of %d answered %d", len(reqs), len(results))
	}
	if err == nil {
		b.requests.Add(int64(len(reqs)))
	} else {
		// One bad request must not fail the others: each is written alone
		// and gets its own answer. A statement that failed wrote nothing.
		for _, c := range batch {
			res, err := b.alone(c.ctx, c.req)
			c.done <- batchResult[Res]{res, err}
		}
		return
	}
	for i, c := range batch {
		c.done <- batchResult[Res]{results[i], nil}
	}
}
