// Package fx is Unigate's FX service: configured rates, quotes with a
// spread and an expiry, and single-use quote locks, all in exact decimals.
//
// A quote prices a merchant-currency amount M in a wallet currency at the
// mid rate R (wallet units per merchant unit) plus a spread of S basis
// points:
//
//	wallet_amount = ceil(M × R × (1 + S/10000))   (the user pays, rounded up)
//	cost_amount   = round_half_even(M × R)          (M at mid market)
//	fx revenue    = wallet_amount − cost_amount     (never negative)
//
// all rounded to the wallet currency's minor unit. The locked quote is the
// rate of record for the payment, its refunds and its settlement.
package fx
