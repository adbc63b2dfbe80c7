package acquirer

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/unigate/unigate/pkg/telemetry"
)

// relayBatch is how many events the relay numbers per transaction.
const relayBatch = 500

// relayEvents gives new events their per-partner sequence, every
// RelayTick, until ctx ends or the fence is lost.
//
// A batch that numbered events gets a span after the fact, continuing the
// trace of its first event's payment and linking the others' (the
// payments' stored traceparents, ADR 0017): a payment's trace shows when
// its events became readable on the partner's stream.
func (s *Service) relayEvents(ctx context.Context, f Fence) error {
	return s.every(ctx, s.cfg.RelayTick, "event relay", func(ctx context.Context) error {
		for {
			start := time.Now()
			parents, err := s.d.Store.SequenceEvents(ctx, f, relayBatch)
			if len(parents) > 0 {
				_, span := telemetry.StartBatch(ctx, parents, "acquirer.relay-events", trace.WithTimestamp(start),
					trace.WithAttributes(attribute.Int("unigate.batch_size", len(parents))))
				span.End()
			}
			if err != nil || len(parents) < relayBatch {
				return err
			}
		}
	})
}

// relayStatements turns settlement's new statements into STATEMENT_READY
// events for their partners, every Tick.
func (s *Service) relayStatements(ctx context.Context, f Fence) error {
	return s.every(ctx, s.cfg.Tick, "statement relay", func(ctx context.Context) error {
		cursor, err := s.d.Store.StatementCursor(ctx)
		if err != nil {
			return err
		}
		sts, err := s.d.Ledger.Statements(ctx, cursor, 200)
		if err != nil || len(sts) == 0 {
			return err
		}
		events := make([]Event, 0, len(sts))
		for _, st := range sts {
			at := s.now().UTC()
			id := "statement-" + st.ID
			body, err := s.d.Statements(id, st, at)
			if err != nil {
				return err
			}
			events = append(events, Event{ID: id, PartnerID: st.PartnerID, Type: EventStatementReady, Body: body, Time: at})
			cursor = st.Sequence
		}
		return s.d.Store.AddStatementEvents(ctx, f, events, cursor)
	})
}

// every runs step now and then every interval until ctx ends. A fenced
// write ends the loop (and so the term) with ErrFenced; other errors are
// logged and retried on the next tick.
func (s *Service) every(ctx context.Context, interval time.Duration, name string, step func(context.Context) error) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := step(ctx); err != nil && ctx.Err() == nil {
			if isFenced(err) {
				return err
			}
			s.log.WarnContext(ctx, name, "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
