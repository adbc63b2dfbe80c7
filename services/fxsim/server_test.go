package fxsim

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	simulatorv1 "github.com/unigate/unigate/proto/gen/unigate/simulator/v1"

	"github.com/unigate/unigate/services/fx/feed"
)

// serve starts a simulator with a fast tick on loopback ports and returns
// its addresses, and stop, which stops it and returns what Serve returned;
// it stops at the latest when the test ends.
func serve(t *testing.T) (grpcAddr, httpAddr string, stop func() error) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Tick = 10 * time.Millisecond
	cfg.OutageEvery = 0
	s := newSim(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		errc <- s.Serve(ctx, ServeConfig{GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
			Ready: func(g, h string) { grpcAddr, httpAddr = g, h; close(ready) }})
	}()
	select {
	case <-ready:
	case err := <-errc:
		cancel()
		t.Fatal(err)
	}
	var result error
	stopped := false
	stop = func() error {
		if !stopped {
			cancel()
			select {
			case result = <-errc:
			case <-time.After(10 * time.Second):
				result = errors.New("Serve did not return within 10 s of its context's end")
			}
			stopped = true
		}
		return result
	}
	t.Cleanup(func() { _ = stop() })
	return grpcAddr, httpAddr, stop
}

func TestServe(t *testing.T) {
	grpcAddr, httpAddr, stop := serve(t)
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := simulatorv1.NewRateFeedServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	stream, err := client.StreamRates(ctx, &simulatorv1.StreamRatesRequest{Provider: "beta"})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		b, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if b.GetProvider() != "beta" || len(b.GetRates()) != len(DefaultConfig().Pairs) {
			t.Fatalf("streamed %s with %d rates", b.GetProvider(), len(b.GetRates()))
		}
	}
	snap, err := client.GetRates(ctx, &simulatorv1.GetRatesRequest{Provider: "alpha"})
	if err != nil {
		t.Fatal(err)
	}
	if snap.GetProvider() != "alpha" || len(snap.GetRates()) == 0 || snap.GetRates()[0].GetBaseCurrency() != "USD" {
		t.Fatalf("GetRates = %v", snap)
	}
	_, err = client.GetRates(ctx, &simulatorv1.GetRatesRequest{Provider: "omega"})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("GetRates(omega): %v, want NOT_FOUND", err)
	}
	s2, err := client.StreamRates(ctx, &simulatorv1.StreamRatesRequest{Provider: "omega"})
	if err == nil {
		_, err = s2.Recv()
	}
	if status.Code(err) != codes.NotFound {
		t.Fatalf("StreamRates(omega): %v, want NOT_FOUND", err)
	}

	resp, err := http.Get("http://" + httpAddr + "/rates?provider=gamma")
	if err != nil {
		t.Fatal(err)
	}
	var sheet feed.Sheet
	err = json.NewDecoder(resp.Body).Decode(&sheet)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || sheet.Provider != "gamma" || len(sheet.Rates) != len(DefaultConfig().Pairs) {
		t.Fatalf("GET /rates?provider=gamma: %d %v %+v", resp.StatusCode, err, sheet)
	}
	resp, err = http.Get("http://" + httpAddr + "/rates?provider=omega")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /rates?provider=omega: %d, want 404", resp.StatusCode)
	}

	// Stopping ends the open stream and Serve returns nil.
	if err := stop(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	for {
		if _, err := stream.Recv(); err != nil {
			if status.Code(err) != codes.Unavailable {
				t.Fatalf("stream ended with %v, want UNAVAILABLE", err)
			}
			break
		}
	}
}
