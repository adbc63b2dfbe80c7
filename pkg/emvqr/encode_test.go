package emvqr

import (
	"errors"
	"strings"
	"testing"
)

func TestEncodeCanonical(t *testing.T) {
	m := &MPM{
		PayloadFormat: "01",
		MerchantAccounts: []MerchantAccount{
			{ID: "30", GUID: "B", Fields: []Object{{"02", "y"}, {"01", "x"}}}, // sub-order kept
			{ID: "04", Value: "4111111111111111"},
			{ID: "26", GUID: "A"},
		},
		MerchantName: "N",
		MCC:          "5812",
		Unreserved:   []Object{{"99", "z"}, {"80", "a"}},
		Reserved:     []Object{{"70", "r"}},
		Language:     []Object{{"00", "ZH"}},
		Additional:   []Object{{"08", "p"}, {"01", "b"}},
		CRC:          "FFFF",                     // ignored
		Objects:      []Object{{"63", "0000"}},   // ignored
		Warnings:     []string{"TAG_ORDER: old"}, // ignored
	}
	got, err := EncodeMPM(m)
	if err != nil {
		t.Fatal(err)
	}
	want := withCRC("000201" + "04164111111111111111" + "26050001A" + "30150001B0201y0101x" +
		"52045812" + "5901N" + "62100801p0101b" + "64060002ZH" + "7001r" + "8001a" + "9901z")
	if got != want {
		t.Errorf("EncodeMPM\n got %q\nwant %q", got, want)
	}
	if m.MerchantAccounts[0].ID != "30" || m.Unreserved[0].ID != "99" {
		t.Error("EncodeMPM reordered its input")
	}
}

func TestEncodeNormalisesDecoded(t *testing.T) {
	// Lower-case CRC, out-of-order tags and a GUID that is not first all
	// come out canonical.
	in := tlv("00", "01") + tlv("01", "11") + tlv("29", tlv("01", "0066812345678")+tlv("00", "A000000677010111")) +
		tlv("58", "TH") + tlv("53", "764")
	p := withCRC(in)
	p = p[:len(p)-4] + strings.ToLower(p[len(p)-4:])
	m, err := DecodeMPM(p)
	if err != nil {
		t.Fatal(err)
	}
	out, err := EncodeMPM(m)
	if err != nil {
		t.Fatal(err)
	}
	want := withCRC(tlv("00", "01") + tlv("01", "11") + tlv("29", tlv("00", "A000000677010111")+tlv("01", "0066812345678")) +
		tlv("53", "764") + tlv("58", "TH"))
	if out != want {
		t.Errorf("re-encoded\n got %q\nwant %q", out, want)
	}
	m2, err := DecodeMPM(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{WarnTagOrder, WarnCRCLowercase, WarnGUIDNotFirst} {
		if m2.HasWarning(w) {
			t.Errorf("canonical payload still warns %s", w)
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	ok := func() *MPM {
		return &MPM{PayloadFormat: "01", MerchantAccounts: []MerchantAccount{{ID: "26", GUID: "SG.PAYNOW"}}}
	}
	with := func(f func(*MPM)) *MPM { m := ok(); f(m); return m }
	long := strings.Repeat("鸭", 100)
	tests := []struct {
		name   string
		m      *MPM
		reason Reason
		field  string
	}{
		{"nil", nil, ReasonEmpty, ""},
		{"no payload format", with(func(m *MPM) { m.PayloadFormat = "" }), ReasonMissingField, "00"},
		{"no merchant account", with(func(m *MPM) { m.MerchantAccounts = nil }), ReasonMissingField, "02-51"},
		{"account id out of range", with(func(m *MPM) { m.MerchantAccounts[0].ID = "52" }), ReasonBadID, "52"},
		{"account id not digits", with(func(m *MPM) { m.MerchantAccounts[0].ID = "2" }), ReasonBadID, "2"},
		{"duplicate account", with(func(m *MPM) { m.MerchantAccounts = append(m.MerchantAccounts, m.MerchantAccounts[0]) }), ReasonDuplicateTag, "26"},
		{"primitive with GUID", with(func(m *MPM) { m.MerchantAccounts[0].ID = "15" }), ReasonBadTemplate, "15"},
		{"primitive without value", with(func(m *MPM) { m.MerchantAccounts[0] = MerchantAccount{ID: "15"} }), ReasonBadLength, "15"},
		{"template with value", with(func(m *MPM) { m.MerchantAccounts[0].Value = "x" }), ReasonBadTemplate, "26"},
		{"template without GUID", with(func(m *MPM) { m.MerchantAccounts[0].GUID = "" }), ReasonBadTemplate, "26.00"},
		{"field 00 besides GUID", with(func(m *MPM) { m.MerchantAccounts[0].Fields = []Object{{"00", "x"}} }), ReasonDuplicateTag, "26.00"},
		{"duplicate sub-ID", with(func(m *MPM) { m.Additional = []Object{{"01", "a"}, {"01", "b"}} }), ReasonDuplicateTag, "62.01"},
		{"bad sub-ID", with(func(m *MPM) { m.Language = []Object{{"A", "x"}} }), ReasonBadID, "64.A"},
		{"empty sub-value", with(func(m *MPM) { m.Additional = []Object{{"05", ""}} }), ReasonBadLength, "62.05"},
		{"value over 99 characters", with(func(m *MPM) { m.MerchantName = long }), ReasonBadLength, "59"},
		{"template over 99 characters", with(func(m *MPM) {
			m.Additional = []Object{{"01", long[:3*60]}, {"02", long[:3*40]}}
		}), ReasonBadLength, "62"},
		{"invalid UTF-8", with(func(m *MPM) { m.MerchantCity = "a\xffb" }), ReasonBadEncoding, "60"},
		{"reserved out of range", with(func(m *MPM) { m.Reserved = []Object{{"80", "x"}} }), ReasonBadID, "80"},
		{"unreserved out of range", with(func(m *MPM) { m.Unreserved = []Object{{"63", "x"}} }), ReasonBadID, "63"},
		{"duplicate unreserved", with(func(m *MPM) { m.Unreserved = []Object{{"81", "x"}, {"81", "y"}} }), ReasonDuplicateTag, "81"},
		{"empty unreserved value", with(func(m *MPM) { m.Unreserved = []Object{{"81", ""}} }), ReasonBadLength, "81"},
		{"too long", with(func(m *MPM) {
			for i := range 6 {
				m.Unreserved = append(m.Unreserved, Object{"8" + string(rune('0'+i)), long[:3*99]})
			}
		}), ReasonTooLong, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := EncodeMPM(tt.m)
			var ee *EncodeError
			if !errors.As(err, &ee) {
				t.Fatalf("EncodeMPM = %q, %v; want *EncodeError", p, err)
			}
			if ee.Reason != tt.reason || ee.Field != tt.field {
				t.Errorf("got %s in %q, want %s in %q (%v)", ee.Reason, ee.Field, tt.reason, tt.field, err)
			}
			if p != "" {
				t.Errorf("payload %q returned with error", p)
			}
			if !strings.HasPrefix(err.Error(), "emvqr: encode") {
				t.Errorf("Error() = %q", err)
			}
		})
	}
}

func TestEncodeMaxLength(t *testing.T) {
	// Exactly 512 characters encodes and decodes; the fixture is built so.
	m := &MPM{PayloadFormat: "01", MerchantAccounts: []MerchantAccount{{ID: "02", Value: "4"}}}
	// 000201 (6) + 02014 (5) + 6304XXXX (8) = 19; five 80-84 objects of 99
	// characters (103 each, 515) would be too many; use four and pad.
	for i := range 4 {
		m.Unreserved = append(m.Unreserved, Object{"8" + string(rune('0'+i)), strings.Repeat("鸭", 99)})
	}
	rest := MaxPayloadLen - 19 - 4*103 - 4
	m.Unreserved = append(m.Unreserved, Object{"90", strings.Repeat("x", rest)})
	p, err := EncodeMPM(m)
	if err != nil {
		t.Fatal(err)
	}
	if chars(p) != MaxPayloadLen {
		t.Fatalf("fixture has %d characters", chars(p))
	}
	if _, err := DecodeMPM(p); err != nil {
		t.Fatal(err)
	}
	m.Unreserved[4].Value += "x"
	if _, err := EncodeMPM(m); ReasonOf(err) != ReasonTooLong {
		t.Errorf("513 characters: err = %v", err)
	}
}
