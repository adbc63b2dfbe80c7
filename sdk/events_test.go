package unigate_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"

	unigate "github.com/unigate/unigate/sdk"
)

type eventStream = grpc.ServerStreamingServer[partnerv1.StreamEventsResponse]

// sendThen sends the events with the given sequences, then ends the
// stream with err (nil: a clean end of stream), or waits for the client to
// go away when hold is true.
func sendThen(s eventStream, seqs []int64, hold bool, err error) error {
	for _, q := range seqs {
		if e := s.Send(event(q)); e != nil {
			return e
		}
	}
	if hold {
		<-s.Context().Done()
		return s.Context().Err()
	}
	return err
}

// resumeFrom answers like Unigate: the events after req.after_sequence up
// to last, then holds the stream open.
func resumeFrom(last int64) func(int, *partnerv1.StreamEventsRequest, eventStream) error {
	return func(_ int, req *partnerv1.StreamEventsRequest, s eventStream) error {
		var seqs []int64
		for q := req.GetAfterSequence() + 1; q <= last; q++ {
			seqs = append(seqs, q)
		}
		return sendThen(s, seqs, true, nil)
	}
}

func TestConsumeEvents(t *testing.T) {
	tests := []struct {
		name        string
		start       int64 // the stored cursor
		stream      func(conn int, req *partnerv1.StreamEventsRequest, s eventStream) error
		failOn      int64 // the handler fails on this sequence, once
		stopAfter   int64 // cancel the context after handling this sequence
		wantHandled []int64
		wantStreams []int64 // after_sequence of each stream opened
		wantCursor  int64
		wantErr     error // nil: ConsumeEvents returns nil (ctx ended)
	}{
		{name: "breaks, resumes from the cursor, skips a redelivered event",
			stream: func(conn int, req *partnerv1.StreamEventsRequest, s eventStream) error {
				if conn == 1 {
					return sendThen(s, []int64{1, 2, 3}, false, status.Error(codes.Unavailable, "acquirer restarting"))
				}
				return sendThen(s, []int64{3, 4, 5}, true, nil) // 3 again: at least once
			},
			stopAfter: 5, wantHandled: []int64{1, 2, 3, 4, 5}, wantStreams: []int64{0, 3}, wantCursor: 5},
		{name: "server ends the stream cleanly: reconnect",
			stream: func(conn int, req *partnerv1.StreamEventsRequest, s eventStream) error {
				if conn == 1 {
					return sendThen(s, []int64{1, 2}, false, nil)
				}
				return resumeFrom(3)(conn, req, s)
			},
			stopAfter: 3, wantHandled: []int64{1, 2, 3}, wantStreams: []int64{0, 2}, wantCursor: 3},
		{name: "starts after the stored cursor", start: 7, stream: resumeFrom(9),
			stopAfter: 9, wantHandled: []int64{8, 9}, wantStreams: []int64{7}, wantCursor: 9},
		{name: "stream refused before any event, then accepted",
			stream: func(conn int, req *partnerv1.StreamEventsRequest, s eventStream) error {
				if conn < 3 {
					return status.Error(codes.Unavailable, "no leader")
				}
				return resumeFrom(2)(conn, req, s)
			},
			stopAfter: 2, wantHandled: []int64{1, 2}, wantStreams: []int64{0, 0, 0}, wantCursor: 2},
		{name: "handler error stops; the event is not saved", stream: resumeFrom(3),
			failOn: 2, wantHandled: []int64{1}, wantStreams: []int64{0}, wantCursor: 1, wantErr: errHandler},
		{name: "permanent refusal is returned",
			stream: func(int, *partnerv1.StreamEventsRequest, eventStream) error {
				return unigateStatus(codes.Unauthenticated, "UNAUTHENTICATED", "", 0, "who are you")
			},
			wantStreams: []int64{0}, wantErr: unigate.ErrUnauthenticated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakePartner{stream: tc.stream}
			c := dial(t, f)
			store := &unigate.MemoryCursor{}
			_ = store.Save(context.Background(), tc.start)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var handled []int64
			err := c.ConsumeEvents(ctx, store, func(ctx context.Context, ev *partnerv1.Event) error {
				if ev.GetSequence() == tc.failOn {
					return errHandler
				}
				handled = append(handled, ev.GetSequence())
				if ev.GetSequence() == tc.stopAfter {
					cancel()
				}
				return nil
			})
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("ConsumeEvents = %v, want %v", err, tc.wantErr)
			}
			if ctx.Err() == context.DeadlineExceeded {
				t.Fatal("the test timed out")
			}
			if !slices.Equal(handled, tc.wantHandled) {
				t.Errorf("handled %v, want %v", handled, tc.wantHandled)
			}
			if got := f.Streams(); !slices.Equal(got, tc.wantStreams) {
				t.Errorf("streams opened after %v, want %v", got, tc.wantStreams)
			}
			if got, _ := store.Load(context.Background()); got != tc.wantCursor {
				t.Errorf("cursor %d, want %d", got, tc.wantCursor)
			}
			for i, md := range f.streamMD {
				if got := md.Get(unigate.PartnerIDHeader); !slices.Equal(got, []string{"hipay"}) {
					t.Errorf("stream %d: partner id %q", i+1, got)
				}
			}
		})
	}
}

var errHandler = errors.New("ledger unavailable")

// TestConsumeEventsRedeliversAfterHandlerError runs the consumer twice
// over one durable cursor: the event the first run failed on comes again.
func TestConsumeEventsRedeliversAfterHandlerError(t *testing.T) {
	f := &fakePartner{stream: resumeFrom(4)}
	c := dial(t, f)
	store := unigate.FileCursor(filepath.Join(t.TempDir(), "cursor"))
	var (
		mu      sync.Mutex
		handled []int64
	)
	fail := true
	err := c.ConsumeEvents(context.Background(), store, func(_ context.Context, ev *partnerv1.Event) error {
		if ev.GetSequence() == 3 && fail {
			return errHandler
		}
		mu.Lock()
		handled = append(handled, ev.GetSequence())
		mu.Unlock()
		return nil
	})
	if !errors.Is(err, errHandler) {
		t.Fatalf("first run: %v, want the handler's error", err)
	}
	fail = false
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = c.ConsumeEvents(ctx, store, func(_ context.Context, ev *partnerv1.Event) error {
		mu.Lock()
		handled = append(handled, ev.GetSequence())
		mu.Unlock()
		if ev.GetSequence() == 4 {
			cancel()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int64{1, 2, 3, 4}; !slices.Equal(handled, want) {
		t.Errorf("handled %v, want %v", handled, want)
	}
	if got := f.Streams(); !slices.Equal(got, []int64{0, 2}) {
		t.Errorf("streams after %v, want [0 2]", got)
	}
}

func TestFileCursor(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		content *string // nil: no file
		save    []int64
		want    int64
		wantErr bool
	}{
		{name: "missing file loads 0", want: 0},
		{name: "save then load", save: []int64{42}, want: 42},
		{name: "overwrite", save: []int64{1, 2, 1000000000000}, want: 1000000000000},
		{name: "written by hand", content: ptr(" 17\n"), want: 17},
		{name: "corrupt file is an error", content: ptr("seventeen"), wantErr: true},
		{name: "negative is an error", content: ptr("-3"), wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "events.cursor")
			if tc.content != nil {
				if err := os.WriteFile(path, []byte(*tc.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			store := unigate.FileCursor(path)
			for _, s := range tc.save {
				if err := store.Save(ctx, s); err != nil {
					t.Fatal(err)
				}
			}
			got, err := store.Load(ctx)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("Load = %d, %v; want %d, error %v", got, err, tc.want, tc.wantErr)
			}
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if e.Name() != "events.cursor" {
					t.Errorf("left behind %s", e.Name())
				}
			}
		})
	}
	t.Run("save into a missing directory fails", func(t *testing.T) {
		if err := unigate.FileCursor(filepath.Join(t.TempDir(), "no", "such", "cursor")).Save(ctx, 1); err == nil {
			t.Error("Save succeeded")
		}
	})
}

func ptr[T any](v T) *T { return &v }
