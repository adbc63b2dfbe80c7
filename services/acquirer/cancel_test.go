package acquirer

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/unigate/unigate/pkg/money"
)

// TestCancelRefusedOutsideTheWindow: the window and refund checks refuse
// before anything is written (the store is not even consulted).
func TestCancelRefusedOutsideTheWindow(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	s := NewService(nil, Clients{}, DefaultConfig(), slog.New(slog.NewTextHandler(io.Discard, nil)), func() time.Time { return now })
	old := Payment{ID: "p", Status: Succeeded, CreateTime: now.Add(-25 * time.Hour), MerchantAmount: money.Amount{Currency: "CNY", Minor: 100}}
	if _, _, err := s.Cancel(context.Background(), old); !errors.Is(err, ErrCancelWindow) {
		t.Fatalf("cancel after 25 h: %v", err)
	}
	refunded := Payment{ID: "p", Status: Succeeded, CreateTime: now.Add(-time.Hour), RefundedMinor: 1}
	if _, _, err := s.Cancel(context.Background(), refunded); !errors.Is(err, ErrCancelNotAllowed) {
		t.Fatalf("cancel after a refund: %v", err)
	}
}
