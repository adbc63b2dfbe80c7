package sqlstore_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/unigate/unigate/pkg/sqlstore"
)

// recorder stands in for a statement: it records the batches it was given
// and holds the first one until released, so that a crowd queues behind it.
type recorder struct {
	mu      sync.Mutex
	batches [][]string
	alone   []string
	gate    chan struct{}
	failIf  string // a batch holding this request fails whole
}

func (r *recorder) many(_ context.Context, reqs []string) ([]string, error) {
	<-r.gate
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = append(r.batches, append([]string(nil), reqs...))
	out := make([]string, len(reqs))
	for i, q := range reqs {
		if q == r.failIf {
			return nil, errors.New("bad row")
		}
		out[i] = "ok:" + q
	}
	return out, nil
}

func (r *recorder) one(_ context.Context, q string) (string, error) {
	<-r.gate
	r.mu.Lock()
	defer r.mu.Unlock()
	r.alone = append(r.alone, q)
	if q == r.failIf {
		return "", errors.New("bad row")
	}
	return "alone:" + q, nil
}

func newRecorder(ctx context.Context, max int, failIf string) (*recorder, *sqlstore.Batcher[string, string]) {
	r := &recorder{gate: make(chan struct{}), failIf: failIf}
	b := sqlstore.NewBatcher(ctx, sqlstore.BatchConfig[string, string]{
		Max: max, Bound: time.Minute, Many: r.many, Alone: r.one,
		Keys: func(q string) []string { return []string{q[:1]} }, // requests sharing a first letter never share a statement
	})
	return r, b
}

func TestBatcher(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	t.Run("a crowd shares statements, each answered with its own result", func(t *testing.T) {
		r, b := newRecorder(ctx, 4, "")
		var wg sync.WaitGroup
		got := make([]string, 9)
		reqs := []string{"a1", "b1", "c1", "d1", "e1", "f1", "g1", "h1", "i1"}
		for i, q := range reqs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := b.Do(context.Background(), q)
				if err != nil {
					t.Error(err)
				}
				got[i] = res
			}()
			if i == 0 {
				time.Sleep(20 * time.Millisecond) // the first is taken alone and holds the worker
			}
		}
		time.Sleep(50 * time.Millisecond) // the rest queue behind it
		close(r.gate)
		wg.Wait()
		for i, q := range reqs {
			if got[i] != "ok:"+q && got[i] != "alone:"+q {
				t.Errorf("%s answered %q", q, got[i])
			}
		}
		var largest int
		for _, batch := range r.batches {
			largest = max(largest, len(batch))
			if len(batch) > 4 {
				t.Errorf("a batch of %d, above Max 4", len(batch))
			}
		}
		if largest != 4 {
			t.Errorf("batches %v, alone %v: want a full batch of 4 from the queued crowd", r.batches, r.alone)
		}
		st := b.Stats()
		if st.Requests != 9 || st.Statements >= 9 {
			t.Errorf("stats %+v: want 9 requests in fewer statements", st)
		}
	})

	t.Run("one request per key in a statement", func(t *testing.T) {
		r, b := newRecorder(ctx, 8, "")
		var wg sync.WaitGroup
		for i, q := range []string{"x0", "a1", "a2", "a3", "b1", "b2"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := b.Do(context.Background(), q); err != nil {
					t.Error(err)
				}
			}()
			if i == 0 {
				time.Sleep(20 * time.Millisecond)
			}
		}
		time.Sleep(50 * time.Millisecond)
		close(r.gate)
		wg.Wait()
		written := len(r.alone)
		for _, batch := range r.batches {
			written += len(batch)
			seen := map[byte]bool{}
			for _, q := range batch {
				if seen[q[0]] {
					t.Errorf("batch %v holds two requests of key %c", batch, q[0])
				}
				seen[q[0]] = true
			}
		}
		if written != 6 {
			t.Errorf("%d written, want 6 (batches %v, alone %v)", written, r.batches, r.alone)
		}
	})

	t.Run("a failing batch is written alone: only the bad request fails", func(t *testing.T) {
		r, b := newRecorder(ctx, 8, "c-bad")
		var wg sync.WaitGroup
		errs := map[string]error{}
		var mu sync.Mutex
		for i, q := range []string{"x0", "a1", "b1", "c-bad", "d1"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := b.Do(context.Background(), q)
				mu.Lock()
				errs[q] = err
				mu.Unlock()
			}()
			if i == 0 {
				time.Sleep(20 * time.Millisecond)
			}
		}
		time.Sleep(50 * time.Millisecond)
		close(r.gate)
		wg.Wait()
		for q, err := range errs {
			if (err != nil) != (q == "c-bad") {
				t.Errorf("%s: %v", q, err)
			}
		}
		if len(r.batches) == 0 {
			t.Fatal("no batch was tried")
		}
	})

	t.Run("stopped, each is written alone", func(t *testing.T) {
		sctx, stop := context.WithCancel(ctx)
		r, b := newRecorder(sctx, 8, "")
		close(r.gate)
		stop()
		time.Sleep(10 * time.Millisecond)
		for i := range 5 {
			q := strconv.Itoa(i)
			if res, err := b.Do(context.Background(), q); err != nil || res != "alone:"+q {
				t.Fatalf("after stop: %q, %v", res, err)
			}
		}
		if len(r.batches) != 0 {
			t.Fatalf("batches after stop: %v", r.batches)
		}
	})
}
