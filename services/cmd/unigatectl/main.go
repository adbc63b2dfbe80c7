// Command unigatectl is the operator's tool: look payments up, read and
// change the routing table, read the ledger, decode payment codes.
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
	code, err := run(ctx, os.Args[1:], os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "unigatectl:", err)
	}
	os.Exit(code)
}
