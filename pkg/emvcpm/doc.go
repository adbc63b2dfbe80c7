// Package emvcpm decodes and encodes EMVCo consumer-presented mode (CPM) QR
// payloads, as specified by EMV QR Code Specification for Payment Systems,
// Consumer-Presented Mode, v1.0 (July 2017).
//
// A payload is the base64 encoding (standard alphabet, '=' padding
// required) of a sequence of BER-TLV data objects (EMV Book 3, Annex B):
//
//	85 05 "CPV01"                 Payload Format Indicator, first
//	61 ..                         Application Template, one or more:
//	   4F AID, 50 label, 57 track 2 equivalent data, 5A PAN (BCD),
//	   5F20, 5F2D, 5F50, 9F08, 9F19, 9F24, 9F25, ...,
//	   63 ..                      Application Specific Transparent Template
//	62 ..                         Common Data Template, optional:
//	   5A, 5F20, ..., 64 ..       Common Data Transparent Template
//
// Tags are one byte, or, when the low 5 bits of the first byte are all 1,
// continue while bit 8 of the following byte is set (up to 4 bytes in all;
// a tag is held as a uint32 of its bytes, so 5F 20 is 0x5F20). Lengths are
// one byte up to 127, or 81 xx, or 82 xx xx. An object whose first tag
// byte has bit 6 set is constructed: its value is parsed as nested objects,
// whatever its tag, down to MaxDepth levels. Every position reported by
// this package (DecodeError.Pos and the offsets in warnings) is a 0-based
// offset into the decoded bytes, except that BAD_BASE64 reports an offset
// into the base64 text. Values are never trimmed or otherwise normalised.
//
// # Rejection reasons
//
// Decode refuses a payload with a *DecodeError whose Reason is one of:
//
//   - EMPTY: the payload is the empty string.
//   - TOO_LONG: more than MaxTextLen (684) characters of text, or more than
//     MaxLen (512) decoded bytes; Pos is 512.
//   - BAD_BASE64: a character outside the standard alphabet (white space and
//     the URL-safe '-' and '_' are named as such), data after '=', more than
//     two '=', a length that is not a multiple of 4 (missing padding or a
//     cut-short text; Pos is the end), or non-zero unused bits before the
//     padding. Pos is an offset into the text.
//   - MISSING_FORMAT: the first object is not 85 (or there is no object);
//     Pos is its first byte.
//   - TRUNCATED: a multi-byte tag or a long-form length is cut short by the
//     end of its enclosing template or of the payload; Pos is the object.
//   - BAD_TAG: a tag of more than 4 bytes; Pos is the object.
//   - BAD_LENGTH: the indefinite length 80, or a length field of more than
//     2 bytes (83-FF); Pos is the length field.
//   - LENGTH_OVERRUN: a value runs past the end of its enclosing template
//     or of the payload; Pos is the length field.
//   - TOO_DEEP: an object is nested more than MaxDepth (8) levels deep
//     (top-level objects are at level 1); Pos is that object.
//   - BAD_FORMAT: 85 is not "CPV01" (compared exactly); Pos is its value.
//   - DUPLICATE_FORMAT: 85 appears twice at the top level; Pos is the second.
//   - BAD_TEMPLATE: an application template (61) holds no AID (4F), or the
//     common data template (62) appears twice; Pos is the template.
//   - NO_APPLICATION: there is no application template (61) at the top
//     level; Pos is the end of the payload.
//
// Checks run in stages: the text; the first tag (so that base64 that is
// not CPM at all is named MISSING_FORMAT rather than by the structural
// error its bytes happen to contain); the BER-TLV structure at every
// depth; the top-level content in payload order; then NO_APPLICATION.
//
// # Accepted deviations
//
// These are accepted and reported in CPM.Warnings, each warning being
// "PREFIX: detail" with a stable prefix (the Warn* constants). At most
// MaxWarnings are listed; a final TOO_MANY_WARNINGS entry counts the rest.
//
//   - PADDING: 00 bytes before, between or after objects (EMV Book 3 allows
//     them); they are skipped.
//   - NON_MINIMAL_LENGTH: a long-form length that fits a shorter form.
//   - TAG_ORDER: the top level is not in the order 85, 61..., 62, others.
//   - UNEXPECTED_TAG: a top-level tag other than 85, 61, 62 or 64; it is
//     kept in CPM.Objects.
//   - TEMPLATE_PLACEMENT: a 64 template at the top level rather than inside
//     62; CPM.Transparent uses it if 62 has none.
//   - DUPLICATE_TAG: a tag repeats inside one template; named fields use the
//     first.
//   - EMPTY_TEMPLATE: the 62 template holds no objects.
//   - AID_LENGTH: an AID that is not 5-16 bytes.
//   - PAN_FORMAT: a 5A in a 61 that is not BCD digits followed by optional F
//     padding; Application.PAN is left empty (the bytes stay in Fields).
//   - LABEL_FORMAT: a 50 that is not printable ASCII.
//
// # Encoding
//
// Encode produces the canonical form (shortest lengths, no padding bytes,
// 85, 61..., 62, others) and refuses exactly what Decode would refuse, so
// for any payload p that decodes to c, Encode(c) decodes to the same
// fields, and to c itself unless c has a PADDING, NON_MINIMAL_LENGTH,
// TAG_ORDER or EMPTY_TEMPLATE warning.
//
// The package uses only the standard library, never panics, and allocates
// in proportion to the decoded payload: at most MaxLen bytes, one block of
// TLVs, the applications and the warnings.
package emvcpm
