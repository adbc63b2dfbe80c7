// Command unigate runs Unigate's services: one per process in a cluster
// (`unigate acquirer`, `router`, `fx`, `risk`, `settlement`), the
// merchant-network simulator, or the whole switch in one process with
// `unigate dev`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "unigate:", err)
		os.Exit(1)
	}
}
