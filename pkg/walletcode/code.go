package walletcode

import (
	"errors"
	"fmt"
	"slices"
)

// Code lengths a Range may declare.
const (
	MinCodeLen = 8
	MaxCodeLen = 32
)

// Range is a block of one-time payment codes issued by one wallet partner:
// every code starting with Prefix and having one of Lengths digits (WeChat
// Pay and Alipay user codes, for example, are 18 digits).
type Range struct {
	Prefix    string // ASCII digits, e.g. "13"
	PartnerID string // the partner the codes are routed to
	Lengths   []int  // allowed code lengths, MinCodeLen-MaxCodeLen
}

// WalletCode is a classified one-time payment code.
type WalletCode struct {
	// Code is the code as given. It is a bearer credential: this package
	// never puts it in an error message, and paycode's JSON leaves it out.
	Code      string
	PartnerID string // of the matching range
	Prefix    string // of the matching range
	Length    int    // len(Code)
}

// Reason is a stable machine-readable reason.
type Reason string

// Reasons.
const (
	// Classify.
	ReasonNotNumeric   Reason = "NOT_NUMERIC"   // empty, or a character that is not an ASCII digit
	ReasonUnknownRange Reason = "UNKNOWN_RANGE" // no range's prefix matches
	ReasonBadLength    Reason = "BAD_LENGTH"    // length not in the range's Lengths (also ValidateRanges)
	// ValidateRanges.
	ReasonBadPrefix       Reason = "BAD_PREFIX"       // empty or not all ASCII digits
	ReasonDuplicatePrefix Reason = "DUPLICATE_PREFIX" // two ranges with the same prefix
	ReasonBadPartner      Reason = "BAD_PARTNER"      // empty partner ID
	// ParseURL.
	ReasonEmpty      Reason = "EMPTY"       // empty URL
	ReasonTooLong    Reason = "TOO_LONG"    // over MaxURLLen bytes
	ReasonBadChar    Reason = "BAD_CHAR"    // control character, space, DEL or non-ASCII byte
	ReasonUserinfo   Reason = "USERINFO"    // '@' in the authority
	ReasonUnknownURL Reason = "UNKNOWN_URL" // not a wallet scheme or host
	ReasonBadURL     Reason = "BAD_URL"     // wallet scheme and host, but malformed
)

// CodeError describes why Classify refused a code. Its message never
// contains the code's digits beyond a matched prefix.
type CodeError struct {
	Reason Reason
	Pos    int // byte offset into the code
	Msg    string
}

func (e *CodeError) Error() string {
	return fmt.Sprintf("walletcode: %s at %d: %s", e.Reason, e.Pos, e.Msg)
}

// RangeError describes why ValidateRanges refused a range table.
type RangeError struct {
	Index  int // of the offending range
	Reason Reason
	Msg    string
}

func (e *RangeError) Error() string {
	return fmt.Sprintf("walletcode: range %d: %s: %s", e.Index, e.Reason, e.Msg)
}

// ReasonOf returns the Reason of a *CodeError, *URLError or *RangeError in
// err's chain, or "" if there is none.
func ReasonOf(err error) Reason {
	var ce *CodeError
	if errors.As(err, &ce) {
		return ce.Reason
	}
	var ue *URLError
	if errors.As(err, &ue) {
		return ue.Reason
	}
	var re *RangeError
	if errors.As(err, &re) {
		return re.Reason
	}
	return ""
}

// Classify finds the partner of a numeric one-time payment code. The code
// must be ASCII digits only (NOT_NUMERIC otherwise; an empty code too).
// Among the ranges whose Prefix starts the code, the one with the longest
// prefix wins (the first of equal ones; ranges with an empty prefix never
// match); with none, UNKNOWN_RANGE. The code's length must then be one of
// that range's Lengths (BAD_LENGTH otherwise; a shorter prefix that would
// accept the length is not tried). Errors are *CodeError.
//
// Classify does not validate ranges; call ValidateRanges when loading them.
func Classify(code string, ranges []Range) (WalletCode, error) {
	if code == "" {
		return WalletCode{}, &CodeError{ReasonNotNumeric, 0, "code is empty"}
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return WalletCode{}, &CodeError{ReasonNotNumeric, i, fmt.Sprintf("character %d of the code is not an ASCII digit", i)}
		}
	}
	best := -1
	for i := range ranges {
		p := ranges[i].Prefix
		if p != "" && len(p) <= len(code) && code[:len(p)] == p && (best < 0 || len(p) > len(ranges[best].Prefix)) {
			best = i
		}
	}
	if best < 0 {
		return WalletCode{}, &CodeError{ReasonUnknownRange, 0, fmt.Sprintf("no range matches this %d-digit code", len(code))}
	}
	r := &ranges[best]
	if !slices.Contains(r.Lengths, len(code)) {
		return WalletCode{}, &CodeError{ReasonBadLength, 0,
			fmt.Sprintf("code has %d digits; range %s (partner %s) takes %v", len(code), r.Prefix, r.PartnerID, r.Lengths)}
	}
	return WalletCode{Code: code, PartnerID: r.PartnerID, Prefix: r.Prefix, Length: len(code)}, nil
}

// ValidateRanges checks a range table: every prefix is 1 or more ASCII
// digits (BAD_PREFIX) and unique (DUPLICATE_PREFIX); every partner ID is
// non-empty (BAD_PARTNER); every range lists at least one length, each in
// MinCodeLen-MaxCodeLen, none twice, and each longer than the prefix
// (BAD_LENGTH). Prefixes may nest ("28" and "2800"): the longest wins. The
// first problem found is returned as a *RangeError.
func ValidateRanges(ranges []Range) error {
	for i, r := range ranges {
		if r.Prefix == "" {
			return &RangeError{i, ReasonBadPrefix, "prefix is empty"}
		}
		for k := 0; k < len(r.Prefix); k++ {
			if r.Prefix[k] < '0' || r.Prefix[k] > '9' {
				return &RangeError{i, ReasonBadPrefix, fmt.Sprintf("prefix %q is not all ASCII digits", r.Prefix)}
			}
		}
		for j := 0; j < i; j++ {
			if ranges[j].Prefix == r.Prefix {
				return &RangeError{i, ReasonDuplicatePrefix, fmt.Sprintf("prefix %s is also range %d's", r.Prefix, j)}
			}
		}
		if r.PartnerID == "" {
			return &RangeError{i, ReasonBadPartner, fmt.Sprintf("range %s has no partner ID", r.Prefix)}
		}
		if len(r.Lengths) == 0 {
			return &RangeError{i, ReasonBadLength, fmt.Sprintf("range %s lists no code length", r.Prefix)}
		}
		for k, n := range r.Lengths {
			switch {
			case n < MinCodeLen || n > MaxCodeLen:
				return &RangeError{i, ReasonBadLength, fmt.Sprintf("length %d of range %s is outside %d-%d", n, r.Prefix, MinCodeLen, MaxCodeLen)}
			case len(r.Prefix) >= n:
				return &RangeError{i, ReasonBadLength, fmt.Sprintf("prefix %s is not shorter than length %d", r.Prefix, n)}
			case slices.Contains(r.Lengths[:k], n):
				return &RangeError{i, ReasonBadLength, fmt.Sprintf("length %d of range %s is listed twice", n, r.Prefix)}
			}
		}
	}
	return nil
}
