// Package paycode is the one entry point for whatever a camera or scanner
// read at a till: it classifies the payload and hands it to the decoder
// for its kind.
//
//	kind         looks like                          decoded by
//	wallet_code  ASCII digits only                   walletcode.Classify
//	emvco_mpm    "00" + two digits, e.g. "000201..." emvqr.DecodeMPM
//	url          letters + "://", "weixin:",         walletcode.ParseURL
//	             "alipays:"
//	emvco_cpm    "hQVDUFYwM..." (base64 of           emvcpm.Decode
//	             85 05 "CPV01"), or padded base64
//	             whose first byte is 85
//
// The rules are tried in that order and the first that matches decides:
// a payload is never handed to a second decoder after the first refused
// it, so the error names the decoder that had a claim on the payload and
// why it refused (an *Error wrapping the decoder's own error, so that
// errors.As finds *emvqr.DecodeError, *emvcpm.DecodeError,
// *walletcode.URLError or *walletcode.CodeError). The single exception is
// an all-digit payload that no wallet range takes but that decodes as an
// MPM payload, which is returned as MPM with a DIGITS_AS_MPM warning.
// A payload no rule matches is refused with Reason UNRECOGNIZED.
//
// Code.JSON renders the result as the single JSON object printed by
// `unigatectl qr decode`; see its documentation for the shape.
//
// A one-time code is a bearer credential, so no error of this package
// repeats one's digits, and Mask is the form in which any payload may go
// into a log line, a span or an error message ("2899…34").
//
// The package uses only the standard library and the decoders above, never
// panics, and never trims or rewrites the payload.
package paycode
