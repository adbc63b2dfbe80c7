package emvcpm

import (
	"errors"
	"fmt"
	"strings"
)

const (
	// MaxLen is the largest payload, in decoded bytes, that Decode accepts
	// and Encode produces.
	MaxLen = 512
	// MaxTextLen is the longest base64 text that can hold MaxLen bytes.
	MaxTextLen = (MaxLen + 2) / 3 * 4 // 684
	// MaxDepth is the deepest nesting accepted: top-level objects are at
	// depth 1, the objects inside a top-level template at depth 2, and so
	// on. The specification needs 3 (85/61/62, then 63/64, then their
	// contents).
	MaxDepth = 8
	// MaxWarnings caps CPM.Warnings; further warnings are counted in a
	// final TOO_MANY_WARNINGS entry.
	MaxWarnings = 32
	// FormatCPV01 is the only payload format indicator (tag 85) defined.
	FormatCPV01 = "CPV01"
)

// Tags of the data objects this package gives a meaning to. A tag is held
// as its bytes read big-endian, so the two-byte tag 5F 20 is 0x5F20.
const (
	TagPayloadFormat       uint32 = 0x85   // Payload Format Indicator, "CPV01"
	TagApplication         uint32 = 0x61   // Application Template
	TagCommon              uint32 = 0x62   // Common Data Template
	TagAppTransparent      uint32 = 0x63   // Application Specific Transparent Template (inside 61)
	TagCommonTransparent   uint32 = 0x64   // Common Data Transparent Template (inside 62)
	TagAID                 uint32 = 0x4F   // Application Definition File (ADF) Name
	TagLabel               uint32 = 0x50   // Application Label
	TagTrack2              uint32 = 0x57   // Track 2 Equivalent Data
	TagPAN                 uint32 = 0x5A   // Application PAN (BCD)
	TagCardholderName      uint32 = 0x5F20 // Cardholder Name
	TagLanguagePreference  uint32 = 0x5F2D // Language Preference
	TagIssuerURL           uint32 = 0x5F50 // Issuer URL
	TagAppVersion          uint32 = 0x9F08 // Application Version Number
	TagTokenRequestorID    uint32 = 0x9F19 // Token Requestor ID
	TagPaymentAccountRef   uint32 = 0x9F24 // Payment Account Reference
	TagLast4PAN            uint32 = 0x9F25 // Last 4 Digits of PAN
	TagIssuerAppData       uint32 = 0x9F10 // Issuer Application Data
	TagAppCryptogram       uint32 = 0x9F26 // Application Cryptogram
	TagAppTxnCounter       uint32 = 0x9F36 // Application Transaction Counter
	TagUnpredictableNumber uint32 = 0x9F37 // Unpredictable Number
)

// TLV is one BER-TLV data object.
//
// Value is the value field exactly as in the payload, for constructed
// objects too (where it is the encoding of Children). Children holds the
// parsed contents of a constructed object (bit 6 of the first tag byte
// set), in payload order; it is nil for primitive objects. Values of
// decoded objects share storage with each other; do not modify them.
type TLV struct {
	Tag      uint32
	Value    []byte
	Children []TLV
}

// TagHex returns the tag bytes in upper-case hex, e.g. "61", "9F26".
func (t TLV) TagHex() string { return TagHex(t.Tag) }

// Constructed reports whether bit 6 of the first tag byte is set, i.e.
// whether the value is itself a sequence of data objects.
func (t TLV) Constructed() bool { return constructed(t.Tag) }

// Child returns the first child object with the given tag.
func (t TLV) Child(tag uint32) (TLV, bool) { return find(t.Children, tag) }

// TagHex returns the bytes of tag in upper-case hex ("00" for 0).
func TagHex(tag uint32) string {
	if tag == 0 {
		return "00"
	}
	var b [8]byte
	n := 0
	for i := tagLen(tag) - 1; i >= 0; i-- {
		c := byte(tag >> (8 * i))
		b[n], b[n+1] = upperHex[c>>4], upperHex[c&0xF]
		n += 2
	}
	return string(b[:n])
}

// Application is a decoded Application Template (61).
type Application struct {
	AID    []byte // 4F, binary
	Label  string // 50, as in the payload
	Track2 []byte // 57, binary
	// PAN is 5A as decimal digits, the trailing F padding nibble removed;
	// "" if absent or not BCD (a PAN_FORMAT warning is then recorded).
	PAN string
	// Fields is every object inside the template, in payload order,
	// including the ones above and the Application Specific Transparent
	// Template (63) with its Children.
	Fields []TLV
}

// Field returns the first object with the given tag inside the template.
func (a Application) Field(tag uint32) (TLV, bool) { return find(a.Fields, tag) }

// CPM is a decoded consumer-presented mode payload.
//
// Decode fills every field. Encode reads PayloadFormat, Applications,
// Common, Transparent and the top-level objects of Objects that have no
// field of their own; see Encode.
type CPM struct {
	PayloadFormat string        // 85, "CPV01"
	Applications  []Application // every 61, in payload order
	// Common is the contents of the Common Data Template (62), in order;
	// a Common Data Transparent Template (64) appears here with its
	// Children. Nil if there is no 62.
	Common []TLV
	// Transparent is the contents of the Common Data Transparent
	// Template (64): the one inside 62 (where the specification puts it),
	// else one at the top level. It shares storage with Common or Objects.
	Transparent []TLV
	// Objects is every top-level object in payload order; Applications,
	// Common and Transparent share storage with it.
	Objects  []TLV
	Warnings []string // accepted deviations, "PREFIX: detail"; see the Warn* constants
}

// HasWarning reports whether a warning with the given prefix (one of the
// Warn* constants) was recorded.
func (c *CPM) HasWarning(prefix string) bool {
	if c == nil {
		return false
	}
	for _, w := range c.Warnings {
		if strings.HasPrefix(w, prefix) && len(w) > len(prefix) && w[len(prefix)] == ':' {
			return true
		}
	}
	return false
}

// Warning prefixes. Every entry of CPM.Warnings is "PREFIX: detail".
const (
	WarnPadding          = "PADDING"            // 00 bytes before, between or after objects (skipped)
	WarnNonMinimalLength = "NON_MINIMAL_LENGTH" // a long-form length that fits a shorter form
	WarnTagOrder         = "TAG_ORDER"          // top level not in the order 85, 61..., 62, others
	WarnUnexpectedTag    = "UNEXPECTED_TAG"     // top-level tag other than 85, 61, 62, 64
	WarnPlacement        = "TEMPLATE_PLACEMENT" // 64 at the top level instead of inside 62
	WarnDuplicateTag     = "DUPLICATE_TAG"      // a tag repeats inside one template (the first is used)
	WarnEmptyTemplate    = "EMPTY_TEMPLATE"     // a 62 template holds no objects
	WarnAIDLength        = "AID_LENGTH"         // 4F is not 5-16 bytes
	WarnPANFormat        = "PAN_FORMAT"         // 5A is not BCD digits with optional trailing F padding
	WarnLabelFormat      = "LABEL_FORMAT"       // 50 is not printable ASCII
	WarnTooMany          = "TOO_MANY_WARNINGS"  // more than MaxWarnings warnings; the rest are counted
)

// Reason is a stable machine-readable rejection reason.
type Reason string

// Rejection reasons.
const (
	ReasonBadBase64       Reason = "BAD_BASE64"       // not standard, padded base64
	ReasonEmpty           Reason = "EMPTY"            // empty payload
	ReasonTooLong         Reason = "TOO_LONG"         // more than MaxLen decoded bytes
	ReasonMissingFormat   Reason = "MISSING_FORMAT"   // first object is not 85
	ReasonBadFormat       Reason = "BAD_FORMAT"       // 85 is not "CPV01"
	ReasonDuplicateFormat Reason = "DUPLICATE_FORMAT" // 85 more than once at the top level
	ReasonTruncated       Reason = "TRUNCATED"        // a tag or length is cut short
	ReasonLengthOverrun   Reason = "LENGTH_OVERRUN"   // a value runs past its enclosing object or the payload
	ReasonBadLength       Reason = "BAD_LENGTH"       // indefinite length (80) or a length of more than 2 bytes
	ReasonBadTag          Reason = "BAD_TAG"          // a tag of more than 4 bytes (or, encoding, not a valid BER tag)
	ReasonNoApplication   Reason = "NO_APPLICATION"   // no 61 template at the top level
	ReasonBadTemplate     Reason = "BAD_TEMPLATE"     // 61 without AID, second 62, or (encoding) an inconsistent object
	ReasonTooDeep         Reason = "TOO_DEEP"         // nesting deeper than MaxDepth
)

// DecodeError describes why a payload was refused.
type DecodeError struct {
	Reason Reason
	// Pos is a 0-based byte offset into the decoded bytes, except for
	// BAD_BASE64, where it is an offset into the base64 text.
	Pos int
	Msg string
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("emvcpm: %s at %d: %s", e.Reason, e.Pos, e.Msg)
}

// EncodeError describes why a CPM could not be encoded.
type EncodeError struct {
	Reason Reason
	Field  string // e.g. "85", "61[1].5A", "62.64.9F26"; "" for the payload as a whole
	Msg    string
}

func (e *EncodeError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("emvcpm: encode: %s: %s", e.Reason, e.Msg)
	}
	return fmt.Sprintf("emvcpm: encode %s: %s: %s", e.Field, e.Reason, e.Msg)
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

func find(objs []TLV, tag uint32) (TLV, bool) {
	for _, o := range objs {
		if o.Tag == tag {
			return o, true
		}
	}
	return TLV{}, false
}

const upperHex = "0123456789ABCDEF"

// tagLen is the number of bytes of tag (tags never start with a 00 byte).
func tagLen(tag uint32) int {
	switch {
	case tag > 0xFFFFFF:
		return 4
	case tag > 0xFFFF:
		return 3
	case tag > 0xFF:
		return 2
	}
	return 1
}

// firstByte is the first byte of the tag's encoding.
func firstByte(tag uint32) byte { return byte(tag >> (8 * (tagLen(tag) - 1))) }

func constructed(tag uint32) bool { return firstByte(tag)&0x20 != 0 }

// validTag reports whether tag is the encoding of a BER tag: one byte whose
// low 5 bits are not all 1 (and that is not 00), or a first byte with the
// low 5 bits all 1 followed by bytes with bit 8 set except the last.
func validTag(tag uint32) bool {
	if tag == 0 {
		return false
	}
	n := tagLen(tag)
	first := firstByte(tag)
	if n == 1 {
		return first&0x1F != 0x1F
	}
	if first&0x1F != 0x1F {
		return false
	}
	for i := n - 2; i >= 0; i-- {
		b := byte(tag >> (8 * i))
		more := b&0x80 != 0
		if more != (i > 0) {
			return false
		}
	}
	return true
}
