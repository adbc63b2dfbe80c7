// Package grpcapi is the acquirer's gRPC face: the partner API
// (PartnerService) and the merchant-side API (AcquiringService) as thin
// handlers over the acquirer domain, the conversions between protobuf and
// domain types, and the domain's clients of the other services (router,
// fx, risk, settlement, merchant networks, partners' wallets) over gRPC.
package grpcapi
