package acquirer

import (
	"context"
	"fmt"
	"time"
)

// Delivery is an event as a partner receives it: payment and refund
// events with their payment or refund as it stands (final by the time the
// event exists, or newer), statement events with their body.
type Delivery struct {
	Event   Event
	Payment *Payment
	Refund  *Refund
}

// StreamEvents sends a partner's events after cursor, in sequence order,
// then keeps sending new ones until ctx ends or send fails.
func (s *Service) StreamEvents(ctx context.Context, partnerID string, cursor int64, send func(Delivery) error) error {
	poll := min(s.cfg.RelayTick, 100*time.Millisecond)
	for {
		evs, err := s.d.Store.ListEvents(ctx, partnerID, cursor, 100)
		if err != nil {
			return err
		}
		for _, e := range evs {
			d := Delivery{Event: e}
			switch {
			case e.Body != nil:
			case e.RefundID != "":
				r, err := s.d.Store.Refund(ctx, e.RefundID)
				if err != nil {
					return fmt.Errorf("acquirer: event %s: %w", e.ID, err)
				}
				d.Refund = &r
			default:
				p, err := s.d.Store.Payment(ctx, e.PaymentID)
				if err != nil {
					return fmt.Errorf("acquirer: event %s: %w", e.ID, err)
				}
				d.Payment = &p
			}
			if err := send(d); err != nil {
				return err
			}
			cursor = e.Sequence
		}
		if len(evs) == 100 {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(poll):
		}
	}
}
