package emvqr

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// Building blocks for hand-made payloads. tail contains a Chinese merchant
// name so that character and byte offsets differ after it.
var (
	acct = tlv("26", tlv("00", "SG.PAYNOW")+tlv("01", "2"))
	head = tlv("00", "01") + tlv("01", "12") + acct
	tail = tlv("52", "5812") + tlv("53", "156") + tlv("58", "CN") + tlv("59", "北京烤鸭店") + tlv("60", "北京")
	base = head + tail
)

func TestDecodeErrors(t *testing.T) {
	valid := withCRC(base)
	crcVal := valid[len(valid)-4:]
	flipped := fmt.Sprintf("%04X", CRC16([]byte(base+"6304"))^0x0101)
	nonGUIDHead := tlv("00", "01") + tlv("26", tlv("00", "SG.PAYNOW")+tlv("01", "2"))

	tests := []struct {
		name    string
		payload string
		reason  Reason
		pos     int
	}{
		{"empty", "", ReasonEmpty, 0},
		{"too long ascii", strings.Repeat("0", 513), ReasonTooLong, 512},
		{"too long counts characters", strings.Repeat("鸭", 513), ReasonTooLong, 512},
		{"bad utf-8", withCRC(base + "6105AB\xffCD"), ReasonBadEncoding, chars(base) + 6},
		{"truncated at start", "00", ReasonTruncated, 0},
		{"truncated header", base + "59", ReasonTruncated, chars(base)},
		{"truncated before crc", base + "630", ReasonTruncated, chars(base)},
		{"bad id", withCRC(base + "A102XY"), ReasonBadID, chars(base)},
		{"bad id first", "X002010102" + base[10:], ReasonBadID, 0},
		{"bad id multibyte", withCRC(base + "6鸭02XY"), ReasonBadID, chars(base)},
		{"bad length", withCRC(base + "611A12345"), ReasonBadLength, chars(base) + 2},
		{"zero length", withCRC(base + "6100"), ReasonBadLength, chars(base) + 2},
		{"crc length not 04", base + "6305ABCDE", ReasonBadLength, chars(base) + 2},
		{"length overrun", base + "6120ABC", ReasonLengthOverrun, chars(base) + 2},
		{"length overrun counts characters", head + "5906北京烤鸭店", ReasonLengthOverrun, chars(head) + 2},
		{"crc missing", base, ReasonCRCMissing, chars(base)},
		{"crc not last", withCRC(head) + tail, ReasonCRCNotLast, chars(head)},
		{"trailing newline", valid + "\r\n", ReasonTrailingData, chars(base) + 8},
		{"trailing partial object", valid + "6105AB", ReasonTrailingData, chars(base) + 8},
		{"crc mismatch", base + "6304" + flipped, ReasonCRCMismatch, chars(base) + 4},
		{"crc mismatch altered data", strings.Replace(base, "CN", "CM", 1) + "6304" + crcVal, ReasonCRCMismatch, chars(base) + 4},
		{"crc not hex", base + "6304XYZ1", ReasonCRCMismatch, chars(base) + 4},
		{"duplicate tag", withCRC(base + tlv("59", "again")), ReasonDuplicateTag, chars(base)},
		{"duplicate merchant account", withCRC(base + acct), ReasonDuplicateTag, chars(base)},
		{"duplicate sub-tag in 26", withCRC(nonGUIDHead[:6] + tlv("26", tlv("00", "SG.PAYNOW")+tlv("01", "2")+tlv("01", "3")) + tail),
			ReasonDuplicateTag, 6 + 4 + chars(tlv("00", "SG.PAYNOW")+tlv("01", "2"))},
		{"duplicate sub-tag in 62", withCRC(base + tlv("62", tlv("05", "A")+tlv("05", "B"))),
			ReasonDuplicateTag, chars(base) + 4 + 5},
		{"26 not nested TLV", withCRC(tlv("00", "01") + tlv("26", "SG.PAYNOW") + tail), ReasonBadTemplate, 6 + 4},
		{"26 without GUID", withCRC(tlv("00", "01") + tlv("26", tlv("01", "2")) + tail), ReasonBadTemplate, 6},
		{"62 overrun", withCRC(base + tlv("62", "0199x")), ReasonBadTemplate, chars(base) + 4 + 2},
		{"62 zero-length sub-object", withCRC(base + tlv("62", "0100")), ReasonBadTemplate, chars(base) + 4 + 2},
		{"64 truncated", withCRC(base + tlv("64", tlv("00", "ZH")+"01")), ReasonBadTemplate, chars(base) + 4 + 6},
		{"missing payload format", withCRC(tlv("01", "12") + acct + tail), ReasonMissingField, 0},
		{"missing merchant account", withCRC(tlv("00", "01") + tail), ReasonMissingField, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := DecodeMPM(tt.payload)
			if m != nil {
				t.Errorf("got an MPM with error %v", err)
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("err = %v, want *DecodeError", err)
			}
			if de.Reason != tt.reason || de.Pos != tt.pos {
				t.Errorf("got %s at %d, want %s at %d (%v)", de.Reason, de.Pos, tt.reason, tt.pos, err)
			}
			wantPrefix := fmt.Sprintf("emvqr: %s at %d: ", tt.reason, tt.pos)
			if msg := err.Error(); !strings.HasPrefix(msg, wantPrefix) || len(msg) == len(wantPrefix) {
				t.Errorf("Error() = %q, want prefix %q and a message", msg, wantPrefix)
			}
		})
	}
}

func TestCRCMismatchMessage(t *testing.T) {
	want := CRC16([]byte(base + "6304"))
	_, err := DecodeMPM(base + "6304" + "1234")
	if want == 0x1234 {
		t.Skip("fixture collides")
	}
	msg := fmt.Sprintf("emvqr: CRC_MISMATCH at %d: computed %04X, code says 1234", chars(base)+4, want)
	if err == nil || err.Error() != msg {
		t.Errorf("err = %v, want %q", err, msg)
	}
}

func TestDecodeWarnings(t *testing.T) {
	// A payload whose CRC contains a hex letter, for the lower-case case.
	lowerBody := base
	for i := 0; !strings.ContainsAny(withCRC(lowerBody)[len(withCRC(lowerBody))-4:], "ABCDEF"); i++ {
		lowerBody = base + tlv("61", fmt.Sprint(i))
	}
	lowerCRC := withCRC(lowerBody)
	lowerCRC = lowerCRC[:len(lowerCRC)-4] + strings.ToLower(lowerCRC[len(lowerCRC)-4:])

	without := func(id string) string {
		return withCRC(strings.Replace(base, tlv(id, map[string]string{
			"52": "5812", "53": "156", "58": "CN", "59": "北京烤鸭店", "60": "北京"}[id]), "", 1))
	}
	mm := WarnMissingMandatory
	tests := []struct {
		name    string
		payload string
		want    []string
		check   func(*MPM) bool
	}{
		{"clean", withCRC(base), nil, nil},
		{"all sections in canonical order", withCRC(base + tlv("61", "100000") + tlv("62", tlv("05", "R1")) +
			tlv("64", tlv("00", "ZH")+tlv("01", "烤鸭")) + tlv("80", "raw, not TLV") + tlv("99", "x")), nil, nil},
		{"tag order", withCRC(head + tlv("53", "156") + tlv("52", "5812") + tlv("58", "CN") + tlv("59", "北京烤鸭店") + tlv("60", "北京")),
			[]string{WarnTagOrder}, func(m *MPM) bool { return m.MCC == "5812" && m.Currency == "156" }},
		{"payload format not first", withCRC(tlv("01", "12") + tlv("00", "01") + acct + tail), []string{WarnTagOrder}, nil},
		{"accounts out of order are sorted", withCRC(tlv("00", "01") + tlv("30", tlv("00", "B")) + acct + tail), []string{WarnTagOrder},
			func(m *MPM) bool { return m.MerchantAccounts[0].ID == "26" && m.Objects[1].ID == "30" }},
		{"payload format 02", withCRC("000202" + base[6:]), []string{WarnPayloadFormat},
			func(m *MPM) bool { return m.PayloadFormat == "02" }},
		{"initiation 13", withCRC(tlv("00", "01") + tlv("01", "13") + acct + tail), []string{WarnInitiation}, nil},
		{"missing 52", without("52"), []string{mm}, nil},
		{"missing 53", without("53"), []string{mm}, nil},
		{"missing 58", without("58"), []string{mm}, nil},
		{"missing 59", without("59"), []string{mm}, nil},
		{"missing 60", without("60"), []string{mm}, nil},
		{"missing all mandatory", withCRC(head), []string{mm, mm, mm, mm, mm}, nil},
		{"3-digit MCC", withCRC(strings.Replace(base, "52045812", "5203581", 1)), []string{WarnMCC3Digit},
			func(m *MPM) bool { return m.MCC == "581" }},
		{"non-numeric MCC", withCRC(strings.Replace(base, "52045812", "520458A1", 1)), []string{WarnMCCFormat}, nil},
		{"5-digit MCC", withCRC(strings.Replace(base, "52045812", "520558121", 1)), []string{WarnMCCFormat}, nil},
		{"lower-case CRC", lowerCRC, []string{WarnCRCLowercase},
			func(m *MPM) bool { return m.CRC == lowerCRC[len(lowerCRC)-4:] }},
		{"GUID not first", withCRC(tlv("00", "01") + tlv("26", tlv("01", "2")+tlv("00", "SG.PAYNOW")) + tail), []string{WarnGUIDNotFirst},
			func(m *MPM) bool {
				a := m.MerchantAccounts[0]
				return a.GUID == "SG.PAYNOW" && reflect.DeepEqual(a.Fields, []Object{{"01", "2"}})
			}},
		{"RFU tag 65", withCRC(base + tlv("65", "future")), []string{WarnRFUTag},
			func(m *MPM) bool { return reflect.DeepEqual(m.Reserved, []Object{{"65", "future"}}) }},
		{"significant spaces kept", withCRC(head + tlv("52", "5812") + tlv("53", "156") + tlv("58", "SG") + tlv("59", "  ACME  ") + tlv("60", " X")),
			nil, func(m *MPM) bool { return m.MerchantName == "  ACME  " && m.MerchantCity == " X" }},
		{"unreserved kept raw", withCRC(base + tlv("81", "0100") + tlv("80", "not TLV at all")), []string{WarnTagOrder},
			func(m *MPM) bool {
				return reflect.DeepEqual(m.Unreserved, []Object{{"80", "not TLV at all"}, {"81", "0100"}})
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := DecodeMPM(tt.payload)
			if err != nil {
				t.Fatalf("DecodeMPM(%q): %v", tt.payload, err)
			}
			if got := warningPrefixes(m); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("warnings = %q, want prefixes %q", m.Warnings, tt.want)
			}
			for _, p := range tt.want {
				if !m.HasWarning(p) {
					t.Errorf("HasWarning(%q) = false", p)
				}
			}
			if tt.check != nil && !tt.check(m) {
				t.Errorf("decoded fields wrong: %+v", m)
			}
		})
	}
}

func TestWarningText(t *testing.T) {
	m, err := DecodeMPM(goldenPromptPay)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"TAG_ORDER: tag 53 at 59 comes after tag 58 at 53",
		"MISSING_MANDATORY: tag 52 (merchant category code) is absent",
		"MISSING_MANDATORY: tag 59 (merchant name) is absent",
		"MISSING_MANDATORY: tag 60 (merchant city) is absent",
	}
	if !reflect.DeepEqual(m.Warnings, want) {
		t.Errorf("Warnings =\n%q\nwant\n%q", m.Warnings, want)
	}
}
