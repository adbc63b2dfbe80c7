// Command unigate runs Unigate's services: one per process in a cluster
// (`unigate acquirer`, `router`, `fx`, `risk`, `settlement`), the
// merchant-network simulator, or the whole switch in one process with
// `unigate dev`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// gcPercent is the garbage collector's target unless GOGC says otherwise.
// Every call allocates (protobuf messages, metadata, spans, log records,
// pgx rows): at Go's default of 100 the collector took about a tenth of
// the acquirer's CPU under make bench. 400 lets the heap grow to five
// times what is live between cycles, a few tens of MiB more per process,
// for a quarter of the cycles; GOMEMLIMIT (set in the Kubernetes
// manifests below the container's limit) makes the collector run sooner
// whenever memory, not CPU, is short (ADR 0019).
const gcPercent = 400

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:])
	if errors.Is(err, flag.ErrHelp) { // -h: the usage is printed
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "unigate:", err)
		os.Exit(1)
	}
}
