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
	"syscall"
)

func main() {
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
