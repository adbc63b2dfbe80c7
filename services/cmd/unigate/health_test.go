package main

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/unigate/unigate/services/app"
)

// TestHealth checks the exec probe against a server with mutual TLS: it
// passes with the service's certificate and fails without one.
func TestHealth(t *testing.T) {
	ctx := context.Background()
	st, err := app.StartStack(ctx, app.StackConfig{DataDir: t.TempDir(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Stop()
	for _, svc := range []string{"acquirer", "router", "settlement"} {
		if err := runHealth(ctx, []string{"--pki", st.PKI.Dir, "--service", svc, "--addr", st.Addrs[svc]}); err != nil {
			t.Errorf("%s: %v", svc, err)
		}
	}
	if err := runHealth(ctx, []string{"--addr", st.Addrs["acquirer"]}); err == nil {
		t.Error("a plaintext check of a TLS server passed")
	}
	if err := runHealth(ctx, []string{"--pki", st.PKI.Dir, "--service", "acquirer", "--addr", st.Addrs["acquirer"],
		"--name", "no.such.Service"}); err == nil {
		t.Error("an unknown health service passed")
	}
}
