// Package unigate is the Go SDK for wallet partners of Unigate, the
// cross-border QR payment switch.
//
// It has four parts:
//
//   - [Client] calls Unigate's PartnerService: [Client.DecodeCode],
//     [Client.CreateQuote], [Client.Pay], [Client.GetPayment],
//     [Client.GetPaymentByPartnerKey] and [Client.CancelPayment]. Every call
//     goes over mutual TLS with the partner's certificate ([MutualTLS]),
//     names the partner (the "unigate-partner-id" metadata key, which must
//     match the certificate), has a deadline, and is retried when retrying is safe. Pay and CancelPayment
//     are idempotent by key, so they are retried with the same key; Pay
//     makes the key itself when the request has none. When the outcome of a
//     Pay cannot be known (the connection broke, the deadline passed), Pay
//     returns an error that matches [ErrOutcomeUnknown] and carries the key:
//     inquire with GetPaymentByPartnerKey, never pay again with a new key.
//   - [Error] is every error a Client method returns: the gRPC code, the
//     stable reason from docs/errors.md, the request field at fault and how
//     long to wait before retrying. Switch on it with errors.Is and the
//     sentinels ([ErrQuoteExpired], [ErrInvalidCode], …) or with [ReasonOf].
//   - [ServeWalletPartner] and [RegisterWalletPartner] serve the
//     WalletPartnerService that Unigate calls for consumer-presented (CPM)
//     payments and refunds: implement [WalletPartner]. [MemoryWallet] is a
//     small, complete in-memory implementation to read and to test with.
//   - [Client.ConsumeEvents] follows the partner's event stream with a
//     durable cursor ([CursorStore], [FileCursor], [MemoryCursor]):
//     at-least-once delivery, duplicates skipped, reconnects handled.
//
// The SDK depends only on gRPC, protobuf and Unigate's generated contracts
// (github.com/unigate/unigate/proto). docs/integrate-a-wallet.md walks
// through an integration.
package unigate
