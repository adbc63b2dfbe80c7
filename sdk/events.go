package unigate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/grpc/codes"

	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"
)

// CursorStore keeps the sequence of the last event a consumer processed,
// durably, so that consuming resumes after it. Load returns 0 when nothing
// was saved yet.
type CursorStore interface {
	Load(ctx context.Context) (int64, error)
	Save(ctx context.Context, sequence int64) error
}

// MemoryCursor is a CursorStore in memory, for tests and for consumers that
// replay from the start on every run. The zero value starts at 0.
type MemoryCursor struct {
	mu  sync.Mutex
	seq int64
}

// Load implements CursorStore.
func (m *MemoryCursor) Load(context.Context) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.seq, nil
}

// Save implements CursorStore.
func (m *MemoryCursor) Save(_ context.Context, sequence int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seq = sequence
	return nil
}

// FileCursor is a CursorStore in the file it names, holding the sequence
// in decimal. Save writes a temporary file in the same directory, syncs it
// and renames it over the old one, so a crash leaves either the old cursor
// or the new one, never a torn file. A missing file loads as 0; a corrupt
// one is an error (rather than a silent replay from the start).
//
//	store := unigate.FileCursor("/var/lib/wallet/unigate-events.cursor")
type FileCursor string

// Load implements CursorStore.
func (f FileCursor) Load(context.Context) (int64, error) {
	b, err := os.ReadFile(string(f))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("unigate: load cursor: %w", err)
	}
	seq, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || seq < 0 {
		return 0, fmt.Errorf("unigate: load cursor: %s does not hold a sequence: %q", string(f), b)
	}
	return seq, nil
}

// Save implements CursorStore.
func (f FileCursor) Save(_ context.Context, sequence int64) (err error) {
	path := string(f)
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("unigate: save cursor: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.WriteString(strconv.FormatInt(sequence, 10) + "\n"); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("unigate: save cursor: %w", err)
	}
	// Make the rename itself durable; not every system can sync a directory.
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// ConsumeEvents follows the partner's event stream: it loads the cursor
// from store, streams the events after it and calls handle for each, in
// sequence order, one at a time. After handle returns nil it saves the
// event's sequence; events at or below the cursor (redeliveries) are
// skipped. Delivery is at least once: a crash between handle and Save
// hands the event over again, so make handle idempotent (by event_id or by
// the payment it is about).
//
// When the stream breaks (Unigate restarts, the connection drops, the
// server ends the stream) ConsumeEvents reconnects from the cursor with
// jittered exponential backoff (WithBackoff). It returns:
//   - nil when ctx ends;
//   - handle's error, wrapped, when handle fails: the event was not saved
//     and is delivered again by the next ConsumeEvents;
//   - the store's error when Load or Save fails;
//   - an *Error when Unigate refuses the stream for good (UNAUTHENTICATED,
//     PERMISSION_DENIED, NOT_FOUND, INVALID_ARGUMENT, FAILED_PRECONDITION,
//     UNIMPLEMENTED, …).
//
// The stream has no deadline; each reconnection carries the partner id.
func (c *Client) ConsumeEvents(ctx context.Context, store CursorStore, handle func(context.Context, *partnerv1.Event) error) error {
	cursor, err := store.Load(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	failures := 0
	for {
		progressed, err := c.consumeOnce(ctx, store, &cursor, handle)
		var streamErr *streamError
		if !errors.As(err, &streamErr) {
			// The handler's or the store's error.
			if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
				return nil
			}
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		if !reconnectable(streamErr.e) {
			return streamErr.e
		}
		if progressed {
			failures = 0
		}
		failures++
		wait := jittered(c.cfg.initialBackoff, c.cfg.maxBackoff, failures)
		if streamErr.e != nil && streamErr.e.RetryAfter > 0 {
			wait = streamErr.e.RetryAfter
		}
		if !sleep(ctx, wait) {
			return nil
		}
	}
}

// streamError marks an error of the stream itself (as opposed to one of
// the handler or the store).
type streamError struct{ e *Error }

func (s *streamError) Error() string { return s.e.Error() }

// consumeOnce runs one stream until it breaks. progressed reports whether
// the cursor moved.
func (c *Client) consumeOnce(ctx context.Context, store CursorStore, cursor *int64, handle func(context.Context, *partnerv1.Event) error) (progressed bool, err error) {
	sctx, cancel := context.WithCancel(c.outgoing(ctx))
	defer cancel()
	stream, err := c.pc.StreamEvents(sctx, &partnerv1.StreamEventsRequest{AfterSequence: *cursor})
	if err != nil {
		return false, &streamError{asError(err)}
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				// The server ended the stream; come back for more.
				return progressed, &streamError{&Error{Code: codes.Unavailable, Message: "event stream ended by the server"}}
			}
			return progressed, &streamError{asError(err)}
		}
		ev := resp.GetEvent()
		if ev == nil || ev.GetSequence() <= *cursor {
			continue // a redelivery of an event already processed
		}
		if err := handle(ctx, ev); err != nil {
			return progressed, fmt.Errorf("unigate: event %s (sequence %d) not handled: %w", ev.GetEventId(), ev.GetSequence(), err)
		}
		if err := store.Save(ctx, ev.GetSequence()); err != nil {
			return progressed, fmt.Errorf("unigate: event %s (sequence %d) handled but cursor not saved: %w", ev.GetEventId(), ev.GetSequence(), err)
		}
		*cursor = ev.GetSequence()
		progressed = true
	}
}

// reconnectable reports whether a broken stream is worth opening again.
func reconnectable(e *Error) bool {
	switch e.Code {
	case codes.InvalidArgument, codes.NotFound, codes.AlreadyExists, codes.PermissionDenied,
		codes.FailedPrecondition, codes.OutOfRange, codes.Unimplemented, codes.Unauthenticated:
		return false
	}
	return true
}
