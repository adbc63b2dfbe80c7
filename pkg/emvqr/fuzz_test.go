package emvqr

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

var knownReasons = map[Reason]bool{
	ReasonCRCMismatch: true, ReasonCRCMissing: true, ReasonCRCNotLast: true, ReasonTruncated: true,
	ReasonLengthOverrun: true, ReasonBadLength: true, ReasonBadID: true, ReasonDuplicateTag: true,
	ReasonTrailingData: true, ReasonEmpty: true, ReasonTooLong: true, ReasonBadTemplate: true,
	ReasonMissingField: true, ReasonBadEncoding: true,
}

// checkDecoded decodes s and checks the invariants: a refusal is a
// well-formed *DecodeError; an accepted payload re-encodes to a canonical
// payload of the same length that decodes to the same fields.
func checkDecoded(t *testing.T, s string) {
	t.Helper()
	m, err := DecodeMPM(s)
	if err != nil {
		var de *DecodeError
		if !errors.As(err, &de) {
			t.Fatalf("DecodeMPM(%q): error %T %v is not a *DecodeError", s, err, err)
		}
		if m != nil {
			t.Fatalf("DecodeMPM(%q): MPM returned with error %v", s, err)
		}
		if !knownReasons[de.Reason] {
			t.Fatalf("DecodeMPM(%q): unknown reason %q", s, de.Reason)
		}
		if de.Pos < 0 || de.Pos > utf8.RuneCountInString(s) {
			t.Fatalf("DecodeMPM(%q): Pos %d outside the payload", s, de.Pos)
		}
		return
	}
	out, err := EncodeMPM(m)
	if err != nil {
		t.Fatalf("DecodeMPM(%q) succeeded but EncodeMPM fails: %v\nMPM %+v", s, err, m)
	}
	if utf8.RuneCountInString(out) != utf8.RuneCountInString(s) {
		t.Fatalf("re-encoding changed the length: %q -> %q", s, out)
	}
	m2, err := DecodeMPM(out)
	if err != nil {
		t.Fatalf("re-encoded payload %q (from %q) does not decode: %v", out, s, err)
	}
	if a, b := fieldsOf(m), fieldsOf(m2); !reflect.DeepEqual(a, b) {
		t.Fatalf("fields differ after re-encoding\n  in %q\n out %q\n%+v\n%+v", s, out, a, b)
	}
	if out2, err := EncodeMPM(m2); err != nil || out2 != out {
		t.Fatalf("canonical form is not a fixed point: %q -> %q (%v)", out, out2, err)
	}
	if m2.HasWarning(WarnTagOrder) || m2.HasWarning(WarnCRCLowercase) || m2.HasWarning(WarnGUIDNotFirst) {
		t.Fatalf("canonical payload %q still warns: %q", out, m2.Warnings)
	}
}

// fixCRC makes the CRC of s right so the fuzzer can reach past the CRC
// check: it replaces a trailing "6304xxxx" or else appends one.
func fixCRC(s string) string {
	if i := len(s) - 8; i >= 0 && strings.HasPrefix(s[i:], "6304") {
		return withCRC(s[:i])
	}
	return withCRC(s)
}

func FuzzDecodeMPM(f *testing.F) {
	for _, s := range []string{
		goldenCUP, goldenPayNow, goldenPromptPay, goldenKhmer,
		withCRC(base), base,
		withCRC(base + tlv("62", tlv("05", "R1")) + tlv("64", tlv("00", "ZH")+tlv("01", "烤鸭")) + tlv("80", "raw") + tlv("65", "x")),
		withCRC(tlv("00", "01") + tlv("26", tlv("01", "2")+tlv("00", "SG.PAYNOW")) + tail),
		strings.ToLower(goldenPayNow),
		goldenPayNow + "\n",
		goldenPayNow[:100],
		withCRC(head) + tail,
		withCRC(base + "6100"),
		withCRC(base + tlv("62", "0199x")),
		withCRC(base + "6105AB\xffCD"),
		"", "0", "6304", "63041D3A", "000201",
	} {
		f.Add(s)
	}
	// Real published payloads of the national schemes (schemes_test.go),
	// accepted and refused ones.
	for _, c := range schemeCases {
		f.Add(c.payload)
	}
	for _, r := range schemeRejections {
		f.Add(r.payload)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkDecoded(t, s)
		checkDecoded(t, fixCRC(s))
	})
}
