// Package acquirer is the domain of Unigate's acquirer: the payment
// lifecycle — MPM payments (Pay), CPM payments (Submit), inquiry, cancels,
// refunds — and the singleton jobs that finish what requests leave
// unfinished (the resolver), number partner events (the relays) and feed
// the ledger (the poster).
//
// It knows no protobuf and no SQL: it calls the other services through
// the small interfaces in ports.go (Router, FX, Risk, Ledger, Networks,
// Wallets), implemented over gRPC in package grpcapi, and keeps its rows
// through Store, implemented in package store.
//
// The rules it keeps:
//
//   - Every payment, cancel and refund row is born scheduled for the
//     resolver (NextAttempt). The request path only finishes ahead of it,
//     through a conditional transition; if a write fails or the process
//     dies between two lines, the resolver inquires and finishes the row.
//     Nothing depends on a goroutine surviving.
//   - Money-moving answers are S, F or U; a timeout is U, never F; U is
//     resolved by inquiry on a schedule and, at its end, by a reversal —
//     only a confirmed reversal makes a payment F.
//   - The resolver never credits or debits: it only inquires, reverses and
//     refunds what was accepted, so nothing moves twice.
//   - Singleton writes carry the leader's fence; the store refuses a stale
//     one in the same transaction.
package acquirer
