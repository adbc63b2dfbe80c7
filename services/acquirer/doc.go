// Package acquirer is Unigate's acquirer: the partner-facing API and the
// orchestration of a payment through the other services.
//
// A merchant-presented (MPM) payment runs:
//
//  1. validate the request; look up the partner's key — a repeat with the
//     same request returns the payment, with another request
//     REPEAT_REQUEST_INCONSISTENT;
//  2. router: resolve the code to its merchant and network;
//  3. fx: lock the quote to the payment (the payment id is derived from the
//     partner and its key, so a retried lock is the same lock);
//  4. record the payment PROCESSING — every failure before this point is a
//     refusal that writes nothing;
//  5. risk: evaluate; a decline ends the payment F;
//  6. merchant network: credit the merchant; S, F, or U when the answer is
//     not known (timeout, unavailable): U is never F;
//  7. record S. The ledger posting is not on the partner's critical path:
//     the payment row with ledger_posted = false is the posting's outbox,
//     written in the same statement as S, and the poster (RunPoster) sends
//     what accumulated to settlement in batches, one transaction each, then
//     marks the rows posted. Posting is idempotent per payment.
package acquirer
