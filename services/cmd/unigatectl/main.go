// Command unigatectl is the operator's tool, in the conventions of kubectl
// and etcdctl: nested commands (cobra) with --help and shell completion,
// tables by default and -o json|yaml. It finds payments and refunds by
// any id and follows a payment from the acquirer's rows to the ledger's
// postings, reads and changes the routing table (partners, networks, code
// ranges), reads and proves the ledger, closes and reconciles settlement
// cycles, manages risk, checks every service's health and the elections,
// and decodes payment codes. The command tree is built in root.go.
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
