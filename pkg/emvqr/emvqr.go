package emvqr

import (
	"errors"
	"fmt"
	"strings"
)

// MaxPayloadLen is the largest payload, in characters, that DecodeMPM
// accepts and EncodeMPM produces.
const MaxPayloadLen = 512

// Object is one TLV data object as it appears in the payload.
type Object struct {
	ID    string
	Value string
}

// MerchantAccount is a merchant account information template (IDs 02-51).
// For 02-25 (reserved for card schemes) the value is primitive: GUID empty, Value set.
// For 26-51 the value is nested TLV: GUID is sub-ID 00, Fields the other sub-objects in order.
type MerchantAccount struct {
	ID     string
	GUID   string
	Value  string
	Fields []Object
}

// Field returns the value of sub-object id of a nested (26-51) template.
// Sub-ID "00" returns the GUID.
func (a MerchantAccount) Field(id string) (string, bool) {
	if id == "00" {
		return a.GUID, a.GUID != ""
	}
	return lookup(a.Fields, id)
}

// MPM is a decoded merchant-presented mode payload.
//
// DecodeMPM fills every field; EncodeMPM reads all of them except CRC,
// Objects and Warnings, which it ignores (the CRC is always recomputed).
type MPM struct {
	PayloadFormat string // ID 00
	Initiation    string // ID 01 ("11" static, "12" dynamic), may be ""
	// MerchantAccounts are the templates 02-51 in ascending ID order
	// (the canonical order; Objects keeps the payload order).
	MerchantAccounts []MerchantAccount
	MCC              string   // 52
	Currency         string   // 53, numeric ISO 4217 as in the code, e.g. "156"
	Amount           string   // 54, as in the code, e.g. "12.50", "" if absent
	TipIndicator     string   // 55
	TipFixed         string   // 56
	TipPercent       string   // 57
	Country          string   // 58
	MerchantName     string   // 59
	MerchantCity     string   // 60
	PostalCode       string   // 61
	Additional       []Object // 62 sub-fields (nested TLV), in order
	Language         []Object // 64 sub-fields, in order
	// Reserved holds objects 65-79 (RFU for EMVCo) raw, in ascending ID
	// order. Decoding them produces an RFU_TAG warning.
	Reserved []Object
	// Unreserved holds templates 80-99 raw (value kept as-is; they are
	// not always nested TLV), in ascending ID order.
	Unreserved []Object
	CRC        string   // 63 value as in the code
	Objects    []Object // every top-level object in payload order
	Warnings   []string // accepted deviations, "PREFIX: detail"; see the Warn* constants
}

// AccountByGUID returns the first nested merchant account template (26-51)
// whose GUID matches guid case-insensitively.
func (m *MPM) AccountByGUID(guid string) (MerchantAccount, bool) {
	if m == nil || guid == "" {
		return MerchantAccount{}, false
	}
	for _, a := range m.MerchantAccounts {
		if a.GUID != "" && strings.EqualFold(a.GUID, guid) {
			return a, true
		}
	}
	return MerchantAccount{}, false
}

// Account returns the merchant account template with the given ID ("02"-"51").
func (m *MPM) Account(id string) (MerchantAccount, bool) {
	if m == nil {
		return MerchantAccount{}, false
	}
	for _, a := range m.MerchantAccounts {
		if a.ID == id {
			return a, true
		}
	}
	return MerchantAccount{}, false
}

// AdditionalField returns the value of sub-object id of the additional data
// field template (62), e.g. "05" for the reference label.
func (m *MPM) AdditionalField(id string) (string, bool) {
	if m == nil {
		return "", false
	}
	return lookup(m.Additional, id)
}

// HasWarning reports whether a warning with the given prefix (one of the
// Warn* constants) was recorded.
func (m *MPM) HasWarning(prefix string) bool {
	if m == nil {
		return false
	}
	for _, w := range m.Warnings {
		if strings.HasPrefix(w, prefix) && len(w) > len(prefix) && w[len(prefix)] == ':' {
			return true
		}
	}
	return false
}

func lookup(objs []Object, id string) (string, bool) {
	for _, o := range objs {
		if o.ID == id {
			return o.Value, true
		}
	}
	return "", false
}

// Warning prefixes. Every entry of MPM.Warnings is "PREFIX: detail".
const (
	WarnTagOrder         = "TAG_ORDER"         // a top-level tag follows a higher one (63 excepted)
	WarnPayloadFormat    = "PAYLOAD_FORMAT"    // 00 is not "01"
	WarnInitiation       = "INITIATION_METHOD" // 01 is neither "11" nor "12"
	WarnMissingMandatory = "MISSING_MANDATORY" // one of 52, 53, 58, 59, 60 is absent (one warning each)
	WarnMCC3Digit        = "MCC_3_DIGIT"       // 52 has 3 digits instead of 4
	WarnMCCFormat        = "MCC_FORMAT"        // 52 is not 3 or 4 digits
	WarnCRCLowercase     = "CRC_LOWERCASE"     // 63 uses lower-case hex
	WarnGUIDNotFirst     = "GUID_NOT_FIRST"    // sub-ID 00 is not the first object of a 26-51 template
	WarnRFUTag           = "RFU_TAG"           // a 65-79 object (reserved for EMVCo) is present
)

// Reason is a stable machine-readable rejection reason.
type Reason string

// Rejection reasons.
const (
	ReasonCRCMismatch   Reason = "CRC_MISMATCH"   // CRC value differs from the computed one, or is not hex
	ReasonCRCMissing    Reason = "CRC_MISSING"    // no 63 object
	ReasonCRCNotLast    Reason = "CRC_NOT_LAST"   // 63 is followed by further well-formed objects
	ReasonTruncated     Reason = "TRUNCATED"      // fewer than 4 characters left for an ID and length
	ReasonLengthOverrun Reason = "LENGTH_OVERRUN" // declared length runs past the end
	ReasonBadLength     Reason = "BAD_LENGTH"     // length not two digits, "00", or 63 not of length 04
	ReasonBadID         Reason = "BAD_ID"         // ID not two digits (or out of range, when encoding)
	ReasonDuplicateTag  Reason = "DUPLICATE_TAG"  // tag repeated at top level or inside a template
	ReasonTrailingData  Reason = "TRAILING_DATA"  // non-TLV data after the CRC object
	ReasonEmpty         Reason = "EMPTY"          // empty payload
	ReasonTooLong       Reason = "TOO_LONG"       // more than MaxPayloadLen characters
	ReasonBadTemplate   Reason = "BAD_TEMPLATE"   // 26-51, 62 or 64 is not nested TLV, or 26-51 has no GUID
	ReasonMissingField  Reason = "MISSING_FIELD"  // no 00, or no merchant account template
	ReasonBadEncoding   Reason = "BAD_ENCODING"   // payload is not valid UTF-8
)

// DecodeError describes why a payload was refused.
type DecodeError struct {
	Reason Reason
	Pos    int // character (code point) offset from the start of the payload
	Msg    string
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("emvqr: %s at %d: %s", e.Reason, e.Pos, e.Msg)
}

// EncodeError describes why an MPM could not be encoded.
type EncodeError struct {
	Reason Reason
	Field  string // e.g. "59", "26.01", "62.05"; "" for the payload as a whole
	Msg    string
}

func (e *EncodeError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("emvqr: encode: %s: %s", e.Reason, e.Msg)
	}
	return fmt.Sprintf("emvqr: encode %s: %s: %s", e.Field, e.Reason, e.Msg)
}

// ReasonOf returns the Reason of a *DecodeError or *EncodeError in err's
// chain, or "" if there is none.
func ReasonOf(err error) Reason {
	var de *DecodeError
	if errors.As(err, &de) {
		return de.Reason
	}
	var ee *EncodeError
	if errors.As(err, &ee) {
		return ee.Reason
	}
	return ""
}
