// Package emvqr decodes and encodes EMVCo merchant-presented mode (MPM) QR
// payloads, as specified by EMV QR Code Specification for Payment Systems,
// Merchant-Presented Mode, v1.1.
//
// A payload is a sequence of data objects, each a two-digit ID, a two-digit
// decimal length and a value of that many characters. Lengths count
// characters (Unicode code points), not bytes, so a merchant name such as
// "北京烤鸭店" has length 05. Every position reported by this package
// (DecodeError.Pos and the offsets in warnings) is a 0-based character
// offset into the payload. The payload ends with the CRC object "6304" and
// four hex digits: CRC-16/CCITT-FALSE (see CRC16) over the UTF-8 bytes from
// the start of the payload up to and including "6304".
//
// Templates 26-51 (merchant account information), 62 (additional data) and
// 64 (merchant information, language template) are nested TLV and are
// parsed; 02-25 are primitive; 65-79 (reserved for EMVCo) and 80-99
// (unreserved templates) are kept raw because their content is not always
// nested TLV. Values are never trimmed or otherwise normalised.
//
// # Rejection reasons
//
// DecodeMPM refuses a payload with a *DecodeError whose Reason is one of:
//
//   - EMPTY: the payload is the empty string.
//   - TOO_LONG: more than MaxPayloadLen (512) characters; Pos is 512.
//   - BAD_ENCODING: the payload is not valid UTF-8; Pos is the bad byte.
//   - TRUNCATED: fewer than the 4 characters of an ID and a length are left
//     where an object should start; Pos is that start.
//   - BAD_ID: an ID is not two ASCII digits; Pos is the ID.
//   - BAD_LENGTH: a length is not two ASCII digits, is 00 (values have 1-99
//     characters), or the CRC object's length is not 04; Pos is the length.
//   - LENGTH_OVERRUN: a value would run past the end of the payload (or of
//     its template); Pos is the length.
//   - CRC_MISSING: there is no CRC object (63); Pos is the end of the payload.
//   - CRC_NOT_LAST: the CRC object is followed by further well-formed
//     objects; Pos is the CRC object's ID.
//   - TRAILING_DATA: the CRC object is followed by anything that is not a
//     sequence of well-formed objects (a newline, padding, garbage); Pos is
//     just after the CRC object.
//   - CRC_MISMATCH: the CRC is wrong or not four hex digits; Pos is the CRC
//     value.
//   - DUPLICATE_TAG: a top-level ID appears twice, or a sub-ID appears twice
//     in one template; Pos is the second occurrence.
//   - BAD_TEMPLATE: a 26-51, 62 or 64 value is not nested TLV (Pos is where
//     the nested parse failed), or a 26-51 template has no GUID (sub-ID 00;
//     Pos is the template).
//   - MISSING_FIELD: the payload format indicator (00) is absent, or there
//     is no merchant account information (02-51) at all; Pos is 0.
//
// Checks run in that order of stages: text (EMPTY, TOO_LONG, BAD_ENCODING),
// top-level structure up to the CRC object, CRC value, then content, so a
// payload damaged in transit reports a structural error or CRC_MISMATCH
// rather than a content error.
//
// # Accepted deviations
//
// These are accepted and reported in MPM.Warnings, each warning being
// "PREFIX: detail" with a stable prefix (the Warn* constants):
//
//   - TAG_ORDER: top-level tags are not in ascending order (the CRC object,
//     which must be last, is exempt). One warning per out-of-order tag.
//   - PAYLOAD_FORMAT: the payload format indicator is not "01".
//   - INITIATION_METHOD: the point of initiation method is neither "11"
//     nor "12".
//   - MISSING_MANDATORY: a spec-mandatory field is absent: 52 (merchant
//     category code), 53 (currency), 58 (country), 59 (merchant name) or
//     60 (merchant city); one warning per absent field.
//   - MCC_3_DIGIT: the merchant category code has 3 digits; MCC_FORMAT if
//     it is not 3 or 4 digits at all.
//   - CRC_LOWERCASE: the CRC is written in lower-case hex (it is compared
//     case-insensitively).
//   - GUID_NOT_FIRST: a 26-51 template has its GUID after other sub-objects.
//   - RFU_TAG: an object with ID 65-79 (reserved for EMVCo) is present; it is
//     kept raw in MPM.Reserved.
//
// # Encoding
//
// EncodeMPM produces the canonical form: top-level objects in ascending ID
// order with the CRC last in upper-case hex, a 26-51 template's GUID first,
// other sub-objects in the order given. It refuses exactly what DecodeMPM
// would refuse, so for any payload p that decodes, EncodeMPM of the result
// decodes to the same fields (only Objects, CRC and Warnings can differ).
//
// The package uses only the standard library, never panics, and allocates
// in proportion to the input.
package emvqr
