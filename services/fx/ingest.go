package fx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/unigate/unigate/pkg/election"
	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/services/fx/feed"
)

// Where ingestion publishes in etcd. Every replica watches RatesPrefix and
// prices from what it holds in memory.
const (
	// Prefix holds everything of the FX service in etcd.
	Prefix = "/unigate/fx/"
	// RatesPrefix + provider holds the provider's latest rate per pair.
	RatesPrefix = Prefix + "rates/"
	// StatsKey holds the ingestion leader's rejection counts.
	StatsKey = Prefix + "stats"
	// FenceKey holds the newest ingestion leader's election revision;
	// publishing is conditional on it.
	FenceKey = Prefix + "fence"
	// IngestElection elects the one replica that ingests.
	IngestElection = "fx-ingest"
)

// published is a provider's rates as etcd holds them.
type published struct {
	Provider string          `json:"provider"`
	Rates    []publishedRate `json:"rates"`
}

type publishedRate struct {
	Base    string    `json:"base"`
	Quote   string    `json:"quote"`
	Bid     string    `json:"bid"`
	Ask     string    `json:"ask"`
	Source  time.Time `json:"source_time"`
	Receive time.Time `json:"receive_time"`
}

// Stats are the ingestion leader's counts of refused rates.
type Stats struct {
	Leader string `json:"leader"`
	// Rejected counts per provider and reason.
	Rejected map[string]map[string]int64 `json:"rejected"`
}

// Ingestor runs the feeds while its replica leads ingestion: it keeps
// every received rate in the history, judges it (stale on arrival, out of
// order, crossed, outlier), counts what it refuses, and publishes each
// provider's latest rates to etcd, fenced by its election revision.
type Ingestor struct {
	Feeds []feed.Feed
	Store *SQLStore
	Etcd  *clientv3.Client
	Book  BookConfig
	Log   *slog.Logger
	// Candidate names this replica in Stats.
	Candidate string
	// Flush is how often received rates are written and published
	// (100 ms when 0).
	Flush time.Duration
	Now   func() time.Time
}

type received struct {
	provider string
	rates    []feed.Rate
	reject   string
}

func fenceValue(rev int64) string { return fmt.Sprintf("%020d", rev) }

// claimEtcdFence raises FenceKey to rev; false if a newer leader holds it.
func claimEtcdFence(ctx context.Context, cli *clientv3.Client, rev int64) (bool, error) {
	v := fenceValue(rev)
	r, err := cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(FenceKey), "=", 0)).
		Then(clientv3.OpPut(FenceKey, v)).Commit()
	if err != nil {
		return false, err
	}
	if r.Succeeded {
		return true, nil
	}
	r, err = cli.Txn(ctx).If(clientv3.Compare(clientv3.Value(FenceKey), "<", v)).
		Then(clientv3.OpPut(FenceKey, v)).Else(clientv3.OpGet(FenceKey)).Commit()
	if err != nil {
		return false, err
	}
	if r.Succeeded {
		return true, nil
	}
	// Not below: ours already (a claim repeated), or a newer leader's.
	kvs := r.Responses[0].GetResponseRange().GetKvs()
	return len(kvs) == 1 && string(kvs[0].Value) == v, nil
}

// Lead ingests until ctx ends or the fence is lost; it is the lead
// function of the IngestElection.
func (in *Ingestor) Lead(ctx context.Context, term election.Term) error {
	log := in.Log.With("election", IngestElection, "revision", term.Revision)
	// Publishing needs the etcd fence; the history needs the database's,
	// claimed at the first write (and retried while the database is
	// down: rates keep flowing to the replicas meanwhile).
	if ok, err := claimEtcdFence(ctx, in.Etcd, term.Revision); err != nil || !ok {
		return errors.Join(fmt.Errorf("%w: etcd fence", ErrFenced), err)
	}
	dbFenced := false
	now := in.Now
	if now == nil {
		now = time.Now
	}
	flush := in.Flush
	if flush <= 0 {
		flush = 100 * time.Millisecond
	}
	// Start from what is published, so judging and ordering continue
	// across leaders.
	book := NewBook(in.Book)
	latest := map[string]map[Pair]feed.Rate{}
	if err := loadPublished(ctx, in.Etcd, book, latest); err != nil {
		return err
	}
	stats := Stats{Leader: in.Candidate, Rejected: map[string]map[string]int64{}}
	if err := loadStats(ctx, in.Etcd, &stats); err != nil {
		log.WarnContext(ctx, "reading the rejection counts", "err", err)
	}
	stats.Leader = in.Candidate

	ch := make(chan received, 256)
	fctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for _, f := range in.Feeds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := f.Provider()
			send := func(r received) {
				select {
				case ch <- r:
				case <-fctx.Done():
				}
			}
			err := f.Run(fctx, func(rs []feed.Rate) { send(received{provider: p, rates: rs}) },
				func(reason string) { send(received{provider: p, reject: reason}) })
			if err != nil && fctx.Err() == nil {
				log.ErrorContext(ctx, "feed stopped", "provider", p, "err", err)
			}
		}()
	}
	log.InfoContext(ctx, "ingesting", "providers", len(in.Feeds))

	var (
		pending []HistoricRate
		changed = map[string]bool{}
		tick    = time.NewTicker(flush)
		lastPub time.Time
		// retryHistory holds history writes back after a failure;
		// the last warnings keep a database or etcd outage from
		// writing a log line every tick.
		retryHistory, lastHistoryWarn, lastPublishWarn time.Time
	)
	defer tick.Stop()
	count := func(provider, reason string) {
		m := stats.Rejected[provider]
		if m == nil {
			m = map[string]int64{}
			stats.Rejected[provider] = m
		}
		m[reason]++
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case r := <-ch:
			if r.reject != "" {
				count(r.provider, r.reject)
				continue
			}
			for _, rate := range r.rates {
				rate.Provider = r.provider
				p := Pair{rate.Base, rate.Quote}
				prev, seen := latest[r.provider][p]
				switch {
				case seen && rate.SourceTime.Equal(prev.SourceTime) && rate.Bid.Cmp(prev.Bid) == 0 && rate.Ask.Cmp(prev.Ask) == 0:
					continue // the same rate again (a polled source)
				case seen && rate.SourceTime.Before(prev.SourceTime):
					count(r.provider, "out of order")
					pending = append(pending, HistoricRate{Rate: rate, Rejected: "out of order"})
					continue
				}
				if latest[r.provider] == nil {
					latest[r.provider] = map[Pair]feed.Rate{}
				}
				latest[r.provider][p] = rate
				changed[r.provider] = true
				book.Replace(r.provider, []feed.Rate{rate})
				verdict := ""
				for _, j := range book.Judge(p, now()) {
					if j.Provider == r.provider {
						switch j.Verdict {
						case Stale:
							verdict = "stale"
						case Crossed:
							verdict = "crossed"
						case Outlier:
							verdict = "outlier"
						}
					}
				}
				if verdict != "" {
					count(r.provider, verdict)
				}
				pending = append(pending, HistoricRate{Rate: rate, Rejected: verdict})
			}
		case <-tick.C:
			if len(changed) > 0 {
				// A short bound: an etcd without a leader answers after its
				// own request timeout (seconds), and the next tick tries
				// again with newer rates.
				pctx, cancel := context.WithTimeout(ctx, time.Second)
				err := in.publish(pctx, term.Revision, latest, changed)
				cancel()
				if err != nil {
					if errors.Is(err, ErrFenced) {
						return err
					}
					if now().After(lastPublishWarn.Add(5 * time.Second)) {
						log.WarnContext(ctx, "publishing rates", "err", err)
						lastPublishWarn = now()
					}
				} else {
					changed = map[string]bool{}
				}
			}
			if len(pending) > 0 && !now().Before(retryHistory) {
				hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				err := error(nil)
				if !dbFenced {
					var ok bool
					if ok, err = in.Store.ClaimFence(hctx, IngestFence, term.Revision); err == nil && !ok {
						cancel()
						return fmt.Errorf("%w: database fence", ErrFenced)
					}
					dbFenced = err == nil
				}
				if err == nil {
					err = in.Store.AppendHistory(hctx, term.Revision, pending)
				}
				cancel()
				if err != nil {
					if errors.Is(err, ErrFenced) {
						return err
					}
					// Try again in a second, without holding up publishing
					// meanwhile; say so every few seconds, not every tick.
					retryHistory = now().Add(time.Second)
					if now().After(lastHistoryWarn.Add(5 * time.Second)) {
						log.WarnContext(ctx, "writing the rate history", "err", err, "pending", len(pending))
						lastHistoryWarn = now()
					}
					if len(pending) > 100_000 { // the database is down for long: keep the newest
						pending = append(pending[:0], pending[len(pending)-50_000:]...)
						count("", "history dropped")
					}
				} else {
					pending = pending[:0]
				}
			}
			if now().Sub(lastPub) >= time.Second {
				if b, err := json.Marshal(stats); err == nil {
					sctx, cancel := context.WithTimeout(ctx, time.Second)
					_, err := in.Etcd.Txn(sctx).If(clientv3.Compare(clientv3.Value(FenceKey), "=", fenceValue(term.Revision))).
						Then(clientv3.OpPut(StatsKey, string(b))).Commit()
					cancel()
					if err == nil {
						lastPub = now()
					}
				}
			}
		}
	}
}

// publish writes the changed providers' latest rates in one transaction,
// if the fence holds.
func (in *Ingestor) publish(ctx context.Context, rev int64, latest map[string]map[Pair]feed.Rate, changed map[string]bool) error {
	var ops []clientv3.Op
	for provider := range changed {
		pub := published{Provider: provider}
		for _, r := range latest[provider] {
			pub.Rates = append(pub.Rates, publishedRate{Base: r.Base, Quote: r.Quote, Bid: r.Bid.String(), Ask: r.Ask.String(),
				Source: r.SourceTime.UTC(), Receive: r.ReceiveTime.UTC()})
		}
		sort.Slice(pub.Rates, func(i, j int) bool {
			return pub.Rates[i].Base+pub.Rates[i].Quote < pub.Rates[j].Base+pub.Rates[j].Quote
		})
		b, err := json.Marshal(pub)
		if err != nil {
			return err
		}
		ops = append(ops, clientv3.OpPut(RatesPrefix+provider, string(b)))
	}
	r, err := in.Etcd.Txn(ctx).If(clientv3.Compare(clientv3.Value(FenceKey), "=", fenceValue(rev))).Then(ops...).Commit()
	if err != nil {
		return err
	}
	if !r.Succeeded {
		return fmt.Errorf("%w (revision %d)", ErrFenced, rev)
	}
	return nil
}

func decodePublished(v []byte) (string, []feed.Rate, error) {
	var pub published
	if err := json.Unmarshal(v, &pub); err != nil {
		return "", nil, err
	}
	out := make([]feed.Rate, 0, len(pub.Rates))
	for _, r := range pub.Rates {
		bid, err1 := money.ParseRate(r.Bid)
		ask, err2 := money.ParseRate(r.Ask)
		if err := errors.Join(err1, err2); err != nil {
			return "", nil, err
		}
		out = append(out, feed.Rate{Provider: pub.Provider, Base: r.Base, Quote: r.Quote, Bid: bid, Ask: ask,
			SourceTime: r.Source, ReceiveTime: r.Receive})
	}
	return pub.Provider, out, nil
}

func loadPublished(ctx context.Context, cli *clientv3.Client, book *Book, latest map[string]map[Pair]feed.Rate) error {
	resp, err := cli.Get(ctx, RatesPrefix, clientv3.WithPrefix())
	if err != nil {
		return fmt.Errorf("fx: read published rates: %w", err)
	}
	for _, kv := range resp.Kvs {
		provider, rates, err := decodePublished(kv.Value)
		if err != nil {
			continue
		}
		book.Replace(provider, rates)
		if latest != nil {
			m := map[Pair]feed.Rate{}
			for _, r := range rates {
				m[Pair{r.Base, r.Quote}] = r
			}
			latest[provider] = m
		}
	}
	return nil
}

func loadStats(ctx context.Context, cli *clientv3.Client, s *Stats) error {
	resp, err := cli.Get(ctx, StatsKey)
	if err != nil || len(resp.Kvs) == 0 {
		return err
	}
	return json.Unmarshal(resp.Kvs[0].Value, s)
}

// Watcher keeps a Book (and the ingestion stats) current from etcd.
type Watcher struct {
	cli   *clientv3.Client
	book  *Book
	log   *slog.Logger
	mu    sync.Mutex
	stats Stats
}

// NewWatcher returns a watcher filling book.
func NewWatcher(cli *clientv3.Client, book *Book, log *slog.Logger) *Watcher {
	return &Watcher{cli: cli, book: book, log: log}
}

// Stats returns the ingestion leader's latest counts.
func (w *Watcher) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stats
}

// Run loads what is published and follows every change until ctx ends.
func (w *Watcher) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		resp, err := w.cli.Get(ctx, Prefix, clientv3.WithPrefix())
		if err != nil {
			w.log.WarnContext(ctx, "reading rates from etcd", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
			continue
		}
		for _, kv := range resp.Kvs {
			w.apply(kv.Key, kv.Value)
		}
		wch := w.cli.Watch(clientv3.WithRequireLeader(ctx), Prefix, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1))
		for wr := range wch {
			if err := wr.Err(); err != nil {
				w.log.WarnContext(ctx, "watching rates", "err", err)
				break
			}
			for _, ev := range wr.Events {
				if ev.Type == clientv3.EventTypePut {
					w.apply(ev.Kv.Key, ev.Kv.Value)
				}
			}
		}
	}
	return nil
}

func (w *Watcher) apply(key, value []byte) {
	k := string(key)
	switch {
	case k == StatsKey:
		var s Stats
		if json.Unmarshal(value, &s) == nil {
			w.mu.Lock()
			w.stats = s
			w.mu.Unlock()
		}
	case len(k) > len(RatesPrefix) && k[:len(RatesPrefix)] == RatesPrefix:
		provider, rates, err := decodePublished(value)
		if err != nil {
			w.log.Warn("undecodable published rates", "key", k, "err", err)
			return
		}
		w.book.Replace(provider, rates)
	}
}
