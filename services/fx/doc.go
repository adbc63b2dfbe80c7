// Package fx is Unigate's FX service: live rates from several providers,
// best execution, quotes priced per partner in exact decimals, and
// single-use quote locks.
//
// One replica, elected through etcd and fenced (Ingestor), runs the
// providers' feeds (package feed), keeps every rate received in the
// history (fx_rate_history) and publishes each provider's latest rates to
// etcd. Every replica watches them into a Book and prices from memory: a
// quote is one INSERT and reads no rate from the database.
//
// The Book judges each provider's latest rate when it is used: stale
// (older than the staleness limit), crossed (bid above ask) and outlier
// (too far from the median of the fresh providers) rates are never used;
// of the rest, the best price for the side Unigate trades wins; with no
// usable direct pair, a cross through the reference currency, both legs
// named.
//
// Service.Price documents the rounding rule of each step; docs/fx.md and
// ADR 0012 the whole design. The locked quote is the rate of record for
// the payment, its refunds and cancels, and its settlement.
package fx
