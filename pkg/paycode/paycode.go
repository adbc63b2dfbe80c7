package paycode

import (
	"errors"
	"fmt"
	"strings"

	"github.com/unigate/unigate/pkg/emvcpm"
	"github.com/unigate/unigate/pkg/emvqr"
	"github.com/unigate/unigate/pkg/walletcode"
)

// Kind says what a payload is, and which decoder handled it.
type Kind string

// Kinds.
const (
	KindMPM    Kind = "emvco_mpm"   // EMVCo merchant-presented mode (package emvqr)
	KindCPM    Kind = "emvco_cpm"   // EMVCo consumer-presented mode (package emvcpm)
	KindURL    Kind = "url"         // wallet merchant URL (walletcode.ParseURL)
	KindWallet Kind = "wallet_code" // numeric one-time payment code (walletcode.Classify)
)

// Code is a classified and decoded payload. Exactly one of MPM, CPM, URL
// and Wallet is set, the one Kind names.
type Code struct {
	Kind   Kind
	MPM    *emvqr.MPM
	CPM    *emvcpm.CPM
	URL    *walletcode.URLCode
	Wallet *walletcode.WalletCode
	// Warnings are the decoder's warnings ("PREFIX: detail"), plus this
	// package's DIGITS_AS_MPM; nil when there are none.
	Warnings []string
}

// WarnDigitsAsMPM is recorded when an all-digit payload matched no wallet
// code range but decoded as an EMVCo MPM payload.
const WarnDigitsAsMPM = "DIGITS_AS_MPM"

// Reasons of this package's own; a decoder's refusal keeps the decoder's
// reason (e.g. "CRC_MISMATCH", "BAD_BASE64", "UNKNOWN_RANGE").
const (
	ReasonEmpty        = "EMPTY"        // empty payload
	ReasonUnrecognized = "UNRECOGNIZED" // no decoder applies
)

// Error describes why Decode refused a payload.
type Error struct {
	// Decoder is the kind whose decoder refused the payload, or "" when
	// none applied (EMPTY, UNRECOGNIZED).
	Decoder Kind
	// Reason is the decoder's stable reason, or EMPTY or UNRECOGNIZED.
	Reason string
	Msg    string
	// Err is the decoder's error (*emvqr.DecodeError, *emvcpm.DecodeError,
	// *walletcode.URLError or *walletcode.CodeError), for errors.As.
	Err error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("paycode: %s: %s", e.Reason, e.Msg)
	}
	return fmt.Sprintf("paycode: %s decoder refused the payload: %v", e.Decoder, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// ReasonOf returns the Reason of the *Error in err's chain, or "".
func ReasonOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// cpmPrefix is how every CPM payload starts: base64 of 85 05 "CPV0" and
// the top 6 bits of "1". (The 10th character depends on the next byte:
// "hQVDUFYwMW" when, as always in practice, a 61 template follows;
// "hQVDUFYwMQ" only when nothing does.)
const cpmPrefix = "hQVDUFYwM"

// Decode classifies what a camera read and decodes it, trying in order:
//
//  1. all ASCII digits: a one-time payment code, classified against ranges
//     (walletcode.Classify). If no range takes it and it is shaped like an
//     MPM payload (below) that decodes, it is that MPM, with a
//     DIGITS_AS_MPM warning; otherwise the wallet code error is returned.
//  2. "00" and two more digits (the payload format indicator object, as in
//     "000201"): EMVCo MPM (emvqr.DecodeMPM).
//  3. a URL scheme: ASCII letters followed by "://", or "weixin:" or
//     "alipays:" (any case): a wallet URL (walletcode.ParseURL).
//  4. starts with "hQVDUFYwM" (base64 of 85 05 "CPV01"), or is valid
//     padded base64 whose first byte is 85: EMVCo CPM (emvcpm.Decode).
//
// Otherwise, and for an empty payload, it returns an *Error with Reason
// UNRECOGNIZED (EMPTY). A decoder's refusal is returned as an *Error naming
// the decoder and wrapping its error, so errors.As finds the decoder's
// *DecodeError (or walletcode error) too. The payload is never trimmed or
// otherwise altered.
func Decode(payload string, ranges []walletcode.Range) (*Code, error) {
	if payload == "" {
		return nil, &Error{Reason: ReasonEmpty, Msg: "payload is empty"}
	}
	switch {
	case allDigits(payload):
		w, err := walletcode.Classify(payload, ranges)
		if err == nil {
			return &Code{Kind: KindWallet, Wallet: &w}, nil
		}
		if looksMPM(payload) {
			if m, merr := emvqr.DecodeMPM(payload); merr == nil {
				warnings := make([]string, 0, len(m.Warnings)+1)
				warnings = append(warnings, fmt.Sprintf("%s: all-digit payload matched no wallet code range (%s) and decodes as EMVCo MPM",
					WarnDigitsAsMPM, walletcode.ReasonOf(err)))
				warnings = append(warnings, m.Warnings...)
				return &Code{Kind: KindMPM, MPM: m, Warnings: warnings}, nil
			}
		}
		return nil, refused(KindWallet, string(walletcode.ReasonOf(err)), err)
	case looksMPM(payload):
		m, err := emvqr.DecodeMPM(payload)
		if err != nil {
			return nil, refused(KindMPM, string(emvqr.ReasonOf(err)), err)
		}
		return &Code{Kind: KindMPM, MPM: m, Warnings: m.Warnings}, nil
	case looksURL(payload):
		u, err := walletcode.ParseURL(payload)
		if err != nil {
			return nil, refused(KindURL, string(walletcode.ReasonOf(err)), err)
		}
		return &Code{Kind: KindURL, URL: &u}, nil
	case strings.HasPrefix(payload, cpmPrefix) || (validBase64(payload) && payload[0] == 'h' && firstByte85(payload[1])):
		c, err := emvcpm.Decode(payload)
		if err != nil {
			return nil, refused(KindCPM, string(emvcpm.ReasonOf(err)), err)
		}
		return &Code{Kind: KindCPM, CPM: c, Warnings: c.Warnings}, nil
	}
	// The message shows the payload masked: a one-time code with a space or
	// a dash in it lands here, and the message goes back to the caller.
	return nil, &Error{Reason: ReasonUnrecognized,
		Msg: fmt.Sprintf("%d-byte payload %q is not a wallet code, EMVCo MPM, wallet URL or EMVCo CPM payload", len(payload), Mask(payload))}
}

func refused(k Kind, reason string, err error) *Error {
	return &Error{Decoder: k, Reason: reason, Msg: err.Error(), Err: err}
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func looksMPM(s string) bool {
	return len(s) >= 4 && s[0] == '0' && s[1] == '0' && isDigit(s[2]) && isDigit(s[3])
}

func looksURL(s string) bool {
	i := 0
	for i < len(s) && ('a' <= s[i]|0x20 && s[i]|0x20 <= 'z') {
		i++
	}
	if i == 0 {
		return false
	}
	if strings.HasPrefix(s[i:], "://") {
		return true
	}
	return i < len(s) && s[i] == ':' && (strings.EqualFold(s[:i], "weixin") || strings.EqualFold(s[:i], "alipays"))
}

// firstByte85 reports whether the second base64 character of a text that
// starts with 'h' makes the first decoded byte 85 ('h' is 100001, so the
// second character must be 01xxxx: 'Q' to 'f').
func firstByte85(c byte) bool {
	return ('Q' <= c && c <= 'Z') || ('a' <= c && c <= 'f')
}

// validBase64 reports whether s is standard, padded base64.
func validBase64(s string) bool {
	if len(s) == 0 || len(s)%4 != 0 {
		return false
	}
	body := strings.TrimRight(s, "=")
	if len(s)-len(body) > 2 {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/') {
			return false
		}
	}
	return true
}
