package emvcpm

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

var knownReasons = map[Reason]bool{
	ReasonBadBase64: true, ReasonEmpty: true, ReasonTooLong: true, ReasonMissingFormat: true,
	ReasonBadFormat: true, ReasonDuplicateFormat: true, ReasonTruncated: true, ReasonLengthOverrun: true,
	ReasonBadLength: true, ReasonBadTag: true, ReasonNoApplication: true, ReasonBadTemplate: true,
	ReasonTooDeep: true,
}

// checkDecoded decodes s and checks the invariants: a refusal is a
// well-formed *DecodeError with a Pos inside the input; an accepted
// payload satisfies the Encode contract (checkRoundTrip).
func checkDecoded(t *testing.T, s string) {
	t.Helper()
	c, err := Decode(s)
	if err != nil {
		var de *DecodeError
		if !errors.As(err, &de) {
			t.Fatalf("Decode(%q): error %T %v is not a *DecodeError", s, err, err)
		}
		if c != nil {
			t.Fatalf("Decode(%q): CPM returned with error %v", s, err)
		}
		if !knownReasons[de.Reason] || de.Msg == "" {
			t.Fatalf("Decode(%q): unknown reason or empty message: %v", s, err)
		}
		limit := len(s) // BAD_BASE64: offset into the text
		if de.Reason != ReasonBadBase64 {
			limit = max(MaxLen, len(s)*3/4)
		}
		if de.Pos < 0 || de.Pos > limit {
			t.Fatalf("Decode(%q): Pos %d outside the payload: %v", s, de.Pos, err)
		}
		return
	}
	if c.PayloadFormat != FormatCPV01 || len(c.Applications) == 0 || len(c.Objects) == 0 || c.Objects[0].Tag != TagPayloadFormat {
		t.Fatalf("Decode(%q) accepted %+v", s, c)
	}
	if len(c.Warnings) > MaxWarnings+1 {
		t.Fatalf("%d warnings", len(c.Warnings))
	}
	checkRoundTrip(t, c)
}

func seeds() []string {
	return []string{
		specExample, b64(twoAppsHex), b64(longFormHex()),
		b64("85 05 4350563031  61 09 4F 07 A0000000031010"),
		b64("00 85 81 05 4350563031 0000  62 04 5F2D 01 41  61 82 000A 4F 07 A0000000031010 00  64 02 9F37 00  62 00"),
		b64("85 05 4350563031 61 10 70 0E 70 0C 70 0A 70 08 70 06 70 04 70 02 50 00"),
		b64("85 05 4350563031 61 0D 4F 02 A000 50 02 41FF 5A 03 12A45F"),
		b64("85 05 4350563031 61 09 4F 07 A0000000031010 DF 81 82 83 04 01 00"),
		b64("85 05 4350563031 61 80 4F 07 A0000000031010 0000"),
		strings.TrimRight(specExample, "="), specExample[:40], "hQVDUFYwMQ==", "hQVDUFYwMR==",
		"", "=", "SGVsbG8=", "hQ==hQ==",
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range seeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkDecoded(t, s)
	})
}

// FuzzDecodeTLV fuzzes the decoded bytes directly, which reaches the
// BER-TLV parser far more often than mutating base64 text does.
func FuzzDecodeTLV(f *testing.F) {
	for _, s := range seeds() {
		if b, err := base64.StdEncoding.DecodeString(s); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDecoded(t, base64.StdEncoding.EncodeToString(b))
	})
}
