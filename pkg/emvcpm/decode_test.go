package emvcpm

import (
	"encoding/base64"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestSpecExample(t *testing.T) {
	if got := b64(specExampleHex); got != specExample {
		t.Fatalf("hex and base64 of the spec example disagree:\n%s\n%s", got, specExample)
	}
	c := mustDecode(t, specExample)
	if c.PayloadFormat != "CPV01" || len(c.Applications) != 2 || len(c.Warnings) != 0 {
		t.Fatalf("got %+v", c)
	}
	for i, want := range []struct{ aid, label string }{{"A0000000555555", "Product1"}, {"A0000000666666", "Product2"}} {
		a := c.Applications[i]
		if asHex(a.AID) != want.aid || a.Label != want.label || a.PAN != "" || a.Track2 != nil || len(a.Fields) != 2 {
			t.Errorf("application %d = %+v", i, a)
		}
	}
	var tags []string
	for _, o := range c.Common {
		tags = append(tags, o.TagHex())
	}
	if got := strings.Join(tags, " "); got != "5A 5F20 5F2D 64" {
		t.Errorf("common tags = %s", got)
	}
	if pan, _ := find(c.Common, TagPAN); asHex(pan.Value) != "1234567890123458" {
		t.Errorf("common PAN = %X", pan.Value)
	}
	if name, _ := find(c.Common, TagCardholderName); string(name.Value) != "CARDHOLDER/EMV" {
		t.Errorf("cardholder name = %q", name.Value)
	}
	want := []TLV{
		{Tag: 0x9F10, Value: fromHex("06010A03000000")},
		{Tag: 0x9F26, Value: fromHex("584FD385FA234BCC")},
		{Tag: 0x9F36, Value: fromHex("0001")},
		{Tag: 0x9F37, Value: fromHex("6D58EF13")},
	}
	if !reflect.DeepEqual(c.Transparent, want) {
		t.Errorf("transparent = %+v", c.Transparent)
	}
	if tt, _ := find(c.Common, TagCommonTransparent); !reflect.DeepEqual(tt.Children, want) {
		t.Errorf("64 children = %+v", tt.Children)
	}
	if len(c.Objects) != 4 {
		t.Errorf("%d top-level objects, want 4", len(c.Objects))
	}
	// The example is canonical: it re-encodes to itself.
	if out, err := Encode(c); err != nil || out != specExample {
		t.Errorf("Encode = %q, %v", out, err)
	}
}

func TestDecodeValid(t *testing.T) {
	type app struct {
		aid, label, track2, pan string
		tags                    string
	}
	tests := []struct {
		name        string
		hex         string
		apps        []app
		common      string // tags of Common
		transparent string // tags of Transparent
		warnings    []string
	}{
		{
			name: "minimal",
			hex:  "85 05 4350563031  61 09 4F 07 A0000000031010",
			apps: []app{{aid: "A0000000031010", tags: "4F"}},
		},
		{
			name: "two applications",
			hex:  twoAppsHex,
			apps: []app{
				{aid: "A0000000031010", label: "VISA", pan: "4761739001010010", tags: "4F 50 5A 5F20 63"},
				{aid: "A0000000041010", label: "MASTERCARD", track2: "5413330089010434D25122010000000000", tags: "4F 50 57 9F25 9F24"},
			},
			common:      "5F2D 64",
			transparent: "9F10 9F37",
		},
		{
			name: "long-form lengths and 3- and 4-byte tags",
			hex:  longFormHex(),
			apps: []app{{aid: "A0000000031010", tags: "4F 5F50 63 DF818203"}},
		},
		{
			name: "odd PAN with F padding",
			hex:  "85 05 4350563031  61 11 4F 07 A0000000031010 5A 06 12345678901F",
			apps: []app{{aid: "A0000000031010", pan: "12345678901", tags: "4F 5A"}},
		},
		{
			name: "every application field of the spec",
			hex: "85 05 4350563031" +
				"61 66" +
				"   4F 07 A0000000031010" +
				"   50 04 56495341" +
				"   57 08 4761739001010010" +
				"   5A 08 4761739001010010" +
				"   5F20 03 4A2F53" + //                "J/S"
				"   5F2D 02 656E" + //                  "en"
				"   5F50 0B 68747470733A2F2F692E65" + // "https://i.e"
				"   9F08 02 0002" +
				"   9F19 06 123456789012" +
				"   9F24 04 50415231" + //              "PAR1"
				"   9F25 02 0010" +
				"   63 0E" +
				"      9F74 06 564C50313233" + //        "VLP123"
				"      9F10 02 0102",
			apps: []app{{aid: "A0000000031010", label: "VISA", track2: "4761739001010010", pan: "4761739001010010",
				tags: "4F 50 57 5A 5F20 5F2D 5F50 9F08 9F19 9F24 9F25 63"}},
		},
		{
			name: "empty primitive values",
			hex:  "85 05 4350563031  61 0B 4F 07 A0000000031010 50 00",
			apps: []app{{aid: "A0000000031010", tags: "4F 50"}},
		},
		{
			name: "empty constructed value",
			hex:  "85 05 4350563031  61 0B 4F 07 A0000000031010 63 00",
			apps: []app{{aid: "A0000000031010", tags: "4F 63"}},
		},
		{
			name: "nested eight levels deep",
			hex: "85 05 4350563031" +
				"61 17 4F 07 A0000000031010" + //  level 1; 4F at level 2
				"   70 0C 70 0A 70 08 70 06 70 04 70 02" + // levels 2-7
				"   50 00", //                                level 8
			apps: []app{{aid: "A0000000031010", tags: "4F 70"}},
		},
		{
			name:     "padding between objects",
			hex:      "00 85 05 4350563031 0000  61 0A 4F 07 A0000000031010 00  00",
			apps:     []app{{aid: "A0000000031010", tags: "4F"}},
			warnings: []string{WarnPadding, WarnPadding, WarnPadding, WarnPadding},
		},
		{
			name:     "non-minimal lengths",
			hex:      "85 81 05 4350563031  61 82 0009 4F 07 A0000000031010",
			apps:     []app{{aid: "A0000000031010", tags: "4F"}},
			warnings: []string{WarnNonMinimalLength, WarnNonMinimalLength},
		},
		{
			name:     "common before application",
			hex:      "85 05 4350563031  62 04 5F2D 01 41  61 09 4F 07 A0000000031010",
			apps:     []app{{aid: "A0000000031010", tags: "4F"}},
			common:   "5F2D",
			warnings: []string{WarnTagOrder},
		},
		{
			name:        "64 at the top level",
			hex:         "85 05 4350563031  61 09 4F 07 A0000000031010  64 06 9F37 03 010203  9F26 01 00",
			apps:        []app{{aid: "A0000000031010", tags: "4F"}},
			transparent: "9F37",
			warnings:    []string{WarnPlacement, WarnUnexpectedTag},
		},
		{
			name:     "duplicate tag in a template",
			hex:      "85 05 4350563031  61 0F 4F 07 A0000000031010 50 01 41 50 01 42",
			apps:     []app{{aid: "A0000000031010", label: "A", tags: "4F 50 50"}},
			warnings: []string{WarnDuplicateTag},
		},
		{
			name:     "empty common template",
			hex:      "85 05 4350563031  61 09 4F 07 A0000000031010  62 00",
			apps:     []app{{aid: "A0000000031010", tags: "4F"}},
			warnings: []string{WarnEmptyTemplate},
		},
		{
			name:     "short AID, non-ASCII label, PAN not BCD",
			hex:      "85 05 4350563031  61 0D 4F 02 A000 50 02 41FF 5A 03 12A45F",
			apps:     []app{{aid: "A000", label: "A\xff", tags: "4F 50 5A"}},
			warnings: []string{WarnAIDLength, WarnLabelFormat, WarnPANFormat},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload := b64(tt.hex)
			c := mustDecode(t, payload)
			if len(c.Applications) != len(tt.apps) {
				t.Fatalf("%d applications, want %d", len(c.Applications), len(tt.apps))
			}
			for i, w := range tt.apps {
				a := c.Applications[i]
				got := app{asHex(a.AID), a.Label, asHex(a.Track2), a.PAN, tags(a.Fields)}
				if got != w {
					t.Errorf("application %d = %+v, want %+v", i, got, w)
				}
			}
			if got := tags(c.Common); got != tt.common {
				t.Errorf("common tags %q, want %q", got, tt.common)
			}
			if got := tags(c.Transparent); got != tt.transparent {
				t.Errorf("transparent tags %q, want %q", got, tt.transparent)
			}
			var prefixes []string
			for _, w := range c.Warnings {
				prefixes = append(prefixes, w[:strings.IndexByte(w, ':')])
			}
			if !reflect.DeepEqual(prefixes, tt.warnings) {
				t.Errorf("warnings %q, want prefixes %q", c.Warnings, tt.warnings)
			}
			checkRoundTrip(t, c)
		})
	}
}

// TestPANNotInWarnings: a malformed PAN is card data all the same; its
// warning gives the length, not the bytes.
func TestPANNotInWarnings(t *testing.T) {
	c := mustDecode(t, b64("85 05 4350563031  61 0E 4F 07 A0000000031010 5A 03 12A45F"))
	if len(c.Warnings) != 1 || !strings.HasPrefix(c.Warnings[0], WarnPANFormat+":") {
		t.Fatalf("warnings %q, want one %s", c.Warnings, WarnPANFormat)
	}
	if strings.Contains(strings.ToUpper(c.Warnings[0]), "12A45F") {
		t.Errorf("warning repeats the PAN: %q", c.Warnings[0])
	}
}

func tags(objs []TLV) string {
	s := make([]string, len(objs))
	for i, o := range objs {
		s[i] = o.TagHex()
	}
	return strings.Join(s, " ")
}

func TestDecodeLongForm(t *testing.T) {
	c := mustDecode(t, b64(longFormHex()))
	a := c.Applications[0]
	url, _ := a.Field(TagIssuerURL)
	if len(url.Value) != 140 || !strings.HasPrefix(string(url.Value), "https://issuer.example/cpm/xxx") {
		t.Errorf("5F50 = %q", url.Value)
	}
	tmpl, _ := a.Field(TagAppTransparent)
	inner, ok := tmpl.Child(0xDF8101)
	if !ok || len(inner.Value) != 256 || inner.Value[0] != 0xAB || inner.Value[255] != 0xAB || len(tmpl.Value) != 262 {
		t.Errorf("63 = %d bytes, DF8101 = %d bytes", len(tmpl.Value), len(inner.Value))
	}
	if last := a.Fields[len(a.Fields)-1]; last.Tag != 0xDF818203 || last.TagHex() != "DF818203" || asHex(last.Value) != "01" {
		t.Errorf("last field = %s %X", last.TagHex(), last.Value)
	}
	if out, err := Encode(c); err != nil || out != b64(longFormHex()) {
		t.Errorf("long-form payload does not re-encode to itself: %v", err)
	}
}

func TestDecodeErrors(t *testing.T) {
	const pfi = "85 05 4350563031 " // 7 bytes
	app := "61 09 4F 07 A0000000031010 "
	tests := []struct {
		name    string
		payload string
		reason  Reason
		pos     int
	}{
		{"empty", "", ReasonEmpty, 0},
		{"text too long", strings.Repeat("A", MaxTextLen+4), ReasonTooLong, MaxLen},
		{"4 KB", strings.Repeat("hQVD", 1024), ReasonTooLong, MaxLen},
		{"decodes to 513 bytes", strings.Repeat("A", MaxTextLen), ReasonTooLong, MaxLen},
		{"space", "hQVD UFYw", ReasonBadBase64, 4},
		{"trailing newline", b64(pfi+app) + "\n", ReasonBadBase64, len(b64(pfi + app))},
		{"url-safe alphabet", strings.ReplaceAll(specExample, "+", "-"), ReasonBadBase64, strings.IndexByte(specExample, '+')},
		{"non-ascii", "hQVD\xc3\xa9", ReasonBadBase64, 4},
		{"missing padding", strings.TrimRight(specExample, "="), ReasonBadBase64, len(specExample) - 2},
		{"cut short", specExample[:len(specExample)-5], ReasonBadBase64, len(specExample) - 5},
		{"data after padding", "hQ==hQ==", ReasonBadBase64, 4},
		{"three padding characters", "h===", ReasonBadBase64, 1},
		{"non-zero unused bits", "hQVDUFYwMR==", ReasonBadBase64, 9},
		{"non-zero unused bits, one pad", "hQVDUFYwMTF=", ReasonBadBase64, 10},
		{"first object not 85", b64(app), ReasonMissingFormat, 0},
		{"plain text", "SGVsbG8=", ReasonMissingFormat, 0},
		{"only padding bytes", b64("00 00 00"), ReasonMissingFormat, 3},
		{"first object after padding not 85", b64("00 00 61 00"), ReasonMissingFormat, 2},
		{"bad format", b64("85 05 4350563032 " + app), ReasonBadFormat, 2},
		{"bad format lower case", b64("85 05 6370763031 " + app), ReasonBadFormat, 2},
		{"bad format short", b64("85 03 435056 " + app), ReasonBadFormat, 2},
		{"duplicate format", b64(pfi + app + pfi), ReasonDuplicateFormat, 18},
		{"truncated: no length", b64(pfi + "61"), ReasonTruncated, 7},
		{"truncated: multi-byte tag", b64(pfi + "9F"), ReasonTruncated, 7},
		{"truncated: multi-byte tag continues", b64(pfi + "DF 81"), ReasonTruncated, 7},
		{"truncated: long-form length", b64(pfi + "61 82 01"), ReasonTruncated, 7},
		{"truncated inside template", b64(pfi + "61 01 5F"), ReasonTruncated, 9},
		{"truncated length inside template", b64(pfi + "61 02 4F 81 07"), ReasonTruncated, 9},
		{"length overrun", b64(pfi + "61 10 4F 07 A0000000031010"), ReasonLengthOverrun, 8},
		{"length overrun, long form", b64(pfi + "61 81 80 4F 07 A0000000031010"), ReasonLengthOverrun, 8},
		{"length overrun inside template", b64(pfi + "61 05 4F 07 A0000000 " + app), ReasonLengthOverrun, 10},
		{"indefinite length", b64(pfi + "61 80 4F 07 A0000000031010 0000"), ReasonBadLength, 8},
		{"3-byte length", b64(pfi + "61 83 000009 4F 07 A0000000031010"), ReasonBadLength, 8},
		{"length byte FF", b64(pfi + "61 FF"), ReasonBadLength, 8},
		{"85 with long length field", b64("85 85 0000000005 4350563031"), ReasonBadLength, 1},
		{"5-byte tag", b64(pfi + app + "DF 81 82 83 04 01 00"), ReasonBadTag, 18},
		{"no application", b64(pfi + "62 03 5A 01 12"), ReasonNoApplication, 12},
		{"format only", b64(pfi), ReasonNoApplication, 7},
		{"application without AID", b64(pfi + "61 06 50 04 56495341"), ReasonBadTemplate, 7},
		{"empty application", b64(pfi + "61 00"), ReasonBadTemplate, 7},
		{"AID nested deeper", b64(pfi + "61 0B 63 09 4F 07 A0000000031010"), ReasonBadTemplate, 7},
		{"two common templates", b64(pfi + app + "62 00 62 00"), ReasonBadTemplate, 20},
		{"too deep", b64(pfi + "61 10 70 0E 70 0C 70 0A 70 08 70 06 70 04 70 02 50 00"), ReasonTooDeep, 23},
		{"structure before content", b64("85 05 4350563032 61 02 4F"), ReasonLengthOverrun, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			de := decodeErr(t, tt.payload)
			if de.Reason != tt.reason || de.Pos != tt.pos {
				t.Errorf("got %s at %d, want %s at %d (%v)", de.Reason, de.Pos, tt.reason, tt.pos, de)
			}
			if de.Msg == "" || !strings.HasPrefix(de.Error(), fmt.Sprintf("emvcpm: %s at %d: ", de.Reason, de.Pos)) {
				t.Errorf("bad message %q", de.Error())
			}
			if ReasonOf(de) != tt.reason {
				t.Errorf("ReasonOf = %q", ReasonOf(de))
			}
		})
	}
}

func TestBase64Messages(t *testing.T) {
	for _, tt := range []struct{ payload, want string }{
		{"hQVD_FYw", "URL-safe"},
		{"hQVD\nUFY", "white space"},
		{"hQVDUFYwMQ", "multiple of 4"},
		{"hQVDUFYwMR==", "non-zero unused bits"},
	} {
		t.Run(tt.payload, func(t *testing.T) {
			if de := decodeErr(t, tt.payload); !strings.Contains(de.Msg, tt.want) {
				t.Errorf("message %q does not mention %q", de.Msg, tt.want)
			}
		})
	}
}

func TestTooManyWarnings(t *testing.T) {
	// One 61 holding an AID and 100 copies of 50 00: 99 DUPLICATE_TAG
	// warnings, of which MaxWarnings are listed.
	h := "85 05 4350563031 61 81 D1 4F 07 A0000000031010" + strings.Repeat(" 50 00", 100)
	c := mustDecode(t, b64(h))
	if len(c.Warnings) != MaxWarnings+1 {
		t.Fatalf("%d warnings", len(c.Warnings))
	}
	if last := c.Warnings[MaxWarnings]; last != "TOO_MANY_WARNINGS: 67 more warning(s) not listed" {
		t.Errorf("last warning %q", last)
	}
	if !c.HasWarning(WarnTooMany) || !c.HasWarning(WarnDuplicateTag) || c.HasWarning("DUPLICATE") {
		t.Error("HasWarning")
	}
}

func TestTagHex(t *testing.T) {
	for _, tt := range []struct {
		tag  uint32
		want string
	}{{0, "00"}, {0x4F, "4F"}, {0x5F20, "5F20"}, {0xDF8101, "DF8101"}, {0xDF818203, "DF818203"}} {
		if got := (TLV{Tag: tt.tag}).TagHex(); got != tt.want {
			t.Errorf("TagHex(%X) = %s", tt.tag, got)
		}
	}
	for _, tt := range []struct {
		tag         uint32
		valid, cons bool
	}{
		{0x61, true, true}, {0x4F, true, false}, {0x9F26, true, false}, {0xBF0C, true, true},
		{0x1F, false, false}, {0x5F, false, false}, {0x9F80, false, false}, {0x9F8101, true, false},
		{0x9F0101, false, false}, {0, false, false},
	} {
		if validTag(tt.tag) != tt.valid || (tt.valid && constructed(tt.tag) != tt.cons) {
			t.Errorf("tag %X: valid %v constructed %v", tt.tag, validTag(tt.tag), constructed(tt.tag))
		}
	}
}

func TestBase64Boundaries(t *testing.T) {
	// Every length from 1 to MaxLen decodes to the same bytes as the
	// standard library's decoder (payload content aside).
	for n := 1; n <= MaxLen; n++ {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*7 + n)
		}
		s := base64.StdEncoding.EncodeToString(b)
		got, err := decodeText(s)
		if err != nil || string(got) != string(b) {
			t.Fatalf("n=%d: %v", n, err)
		}
	}
}
