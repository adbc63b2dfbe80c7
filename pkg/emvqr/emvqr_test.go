package emvqr

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// tlv builds one object; the length counts characters.
func tlv(id, v string) string {
	return fmt.Sprintf("%s%02d%s", id, utf8.RuneCountInString(v), v)
}

// withCRC appends the CRC object to body, computing the CRC with CRC16.
func withCRC(body string) string {
	body += "6304"
	return fmt.Sprintf("%s%04X", body, CRC16([]byte(body)))
}

// chars is the character (not byte) length of s, i.e. a Pos.
func chars(s string) int { return utf8.RuneCountInString(s) }

// Golden payloads. Their CRCs were computed independently of this package
// with Python's binascii.crc_hqx(payload, 0xFFFF) (CRC-16/CCITT-FALSE).
const (
	// China UnionPay style: primitive scheme account 15, nested template 29
	// with the UnionPay GUID, Chinese merchant name and city (multi-byte
	// characters: 212 characters, 226 bytes), 62 and 64 templates.
	goldenCUP = "0002010102121529A000000333010108001234567890129390016A0000003330101080115104110000123456" +
		"520458125303156540588.005802CN5905北京烤鸭店6002北京62240113INV-2024-00010703T01" +
		"64390002EN0118BEIJING ROAST DUCK0207BEIJING6304B898"
	// SGQR / PayNow style, 149 characters. 62.01 has a significant trailing space.
	goldenPayNow = "00020101021226490009SG.PAYNOW010120210201403121W03011040820301231" +
		"520400005303702540512.505802SG5912ACME PTE LTD6009Singapore62130109INV 0042 630404A2"
	// Thai PromptPay as commonly printed: no 52/59/60, and 58 before 53.
	goldenPromptPay = "00020101021129370016A000000677010111011300668123456785802TH530376463045D82"
	// Cambodian KHQR style with Khmer merchant name and city (combining marks).
	goldenKhmer = "00020101021129360017kh.gov.nbc.bakong0111coffee@aclb5204581453031165802KH" +
		"5909ហាងកាហ្វេ6007ភ្នំពេញ630432A1"
)

var cupMPM = &MPM{
	PayloadFormat: "01",
	Initiation:    "12",
	MerchantAccounts: []MerchantAccount{
		{ID: "15", Value: "A0000003330101080012345678901"},
		{ID: "29", GUID: "A000000333010108", Fields: []Object{{"01", "104110000123456"}}},
	},
	MCC:          "5812",
	Currency:     "156",
	Amount:       "88.00",
	Country:      "CN",
	MerchantName: "北京烤鸭店",
	MerchantCity: "北京",
	Additional:   []Object{{"01", "INV-2024-0001"}, {"07", "T01"}},
	Language:     []Object{{"00", "EN"}, {"01", "BEIJING ROAST DUCK"}, {"02", "BEIJING"}},
}

var payNowMPM = &MPM{
	PayloadFormat: "01",
	Initiation:    "12",
	MerchantAccounts: []MerchantAccount{{ID: "26", GUID: "SG.PAYNOW", Fields: []Object{
		{"01", "2"}, {"02", "201403121W"}, {"03", "1"}, {"04", "20301231"},
	}}},
	MCC:          "0000",
	Currency:     "702",
	Amount:       "12.50",
	Country:      "SG",
	MerchantName: "ACME PTE LTD",
	MerchantCity: "Singapore",
	Additional:   []Object{{"01", "INV 0042 "}},
}

var promptPayMPM = &MPM{
	PayloadFormat: "01",
	Initiation:    "11",
	MerchantAccounts: []MerchantAccount{{ID: "29", GUID: "A000000677010111", Fields: []Object{
		{"01", "0066812345678"},
	}}},
	Currency: "764",
	Country:  "TH",
}

var khmerMPM = &MPM{
	PayloadFormat: "01",
	Initiation:    "11",
	MerchantAccounts: []MerchantAccount{{ID: "29", GUID: "kh.gov.nbc.bakong", Fields: []Object{
		{"01", "coffee@aclb"},
	}}},
	MCC:          "5814",
	Currency:     "116",
	Country:      "KH",
	MerchantName: "ហាងកាហ្វេ",
	MerchantCity: "ភ្នំពេញ",
}

// fieldsOf strips what EncodeMPM ignores, for comparisons.
func fieldsOf(m *MPM) MPM {
	c := *m
	c.Objects, c.CRC, c.Warnings = nil, "", nil
	return c
}

func warningPrefixes(m *MPM) []string {
	var p []string
	for _, w := range m.Warnings {
		p = append(p, w[:strings.IndexByte(w, ':')])
	}
	return p
}

func TestCRC16(t *testing.T) {
	tests := []struct {
		in   string
		want uint16
	}{
		{"123456789", 0x29B1}, // CRC-16/CCITT-FALSE check value
		{"", 0xFFFF},          // init value, no xorout
		{"A", 0xB915},
		{goldenPromptPay[:len(goldenPromptPay)-4], 0x5D82},
		{goldenCUP[:len(goldenCUP)-4], 0xB898}, // over UTF-8 bytes
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := CRC16([]byte(tt.in)); got != tt.want {
				t.Errorf("CRC16(%q) = %04X, want %04X", tt.in, got, tt.want)
			}
		})
	}
}

func TestDecodeGolden(t *testing.T) {
	tests := []struct {
		name     string
		payload  string
		want     *MPM
		crc      string
		warnings []string
	}{
		{"unionpay", goldenCUP, cupMPM, "B898", nil},
		{"paynow", goldenPayNow, payNowMPM, "04A2", nil},
		{"promptpay", goldenPromptPay, promptPayMPM, "5D82",
			[]string{WarnTagOrder, WarnMissingMandatory, WarnMissingMandatory, WarnMissingMandatory}},
		{"khmer", goldenKhmer, khmerMPM, "32A1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := DecodeMPM(tt.payload)
			if err != nil {
				t.Fatalf("DecodeMPM: %v", err)
			}
			if got := fieldsOf(m); !reflect.DeepEqual(got, *tt.want) {
				t.Errorf("decoded\n got %+v\nwant %+v", got, *tt.want)
			}
			if m.CRC != tt.crc {
				t.Errorf("CRC = %q, want %q", m.CRC, tt.crc)
			}
			if got := warningPrefixes(m); !reflect.DeepEqual(got, tt.warnings) {
				t.Errorf("warnings = %q, want prefixes %q", m.Warnings, tt.warnings)
			}
			// Objects covers the whole payload in order.
			var sb strings.Builder
			for _, o := range m.Objects {
				sb.WriteString(tlv(o.ID, o.Value))
			}
			if sb.String() != tt.payload {
				t.Errorf("Objects do not rebuild the payload:\n got %q\nwant %q", sb.String(), tt.payload)
			}
			if last := m.Objects[len(m.Objects)-1]; last.ID != "63" {
				t.Errorf("last object %q, want 63", last.ID)
			}
		})
	}
}

func TestEncodeGolden(t *testing.T) {
	tests := []struct {
		name string
		m    *MPM
		want string
	}{
		{"unionpay", cupMPM, goldenCUP},
		{"paynow", payNowMPM, goldenPayNow},
		{"khmer", khmerMPM, goldenKhmer},
		// canonical order puts 53 before 58, unlike the printed code
		{"promptpay", promptPayMPM, withCRC("00020101021129370016A00000067701011101130066812345678" + "5303764" + "5802TH")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := EncodeMPM(tt.m)
			if err != nil {
				t.Fatalf("EncodeMPM: %v", err)
			}
			if got != tt.want {
				t.Errorf("EncodeMPM\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestRuneLengths(t *testing.T) {
	m, err := DecodeMPM(goldenCUP)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(goldenCUP, "5905北京烤鸭店") {
		t.Fatal("fixture should declare length 05 for a 5-character, 15-byte name")
	}
	if m.MerchantName != "北京烤鸭店" || len(m.MerchantName) != 15 {
		t.Errorf("MerchantName = %q (%d bytes)", m.MerchantName, len(m.MerchantName))
	}
	// A byte-counting decoder would treat "5915北京烤鸭店" as valid; we must not.
	bad := withCRC(tlv("00", "01") + tlv("26", tlv("00", "X")) + "5915北京烤鸭店" + tlv("60", "北京"))
	if _, err := DecodeMPM(bad); err == nil {
		t.Error("byte-counted length accepted")
	}
	// Over 512 bytes but under 512 characters is fine.
	long := strings.Repeat("鸭", 99)
	p := withCRC(tlv("00", "01") + tlv("26", tlv("00", "X")) + tlv("59", long) + tlv("60", long))
	if len(p) <= MaxPayloadLen || chars(p) > MaxPayloadLen {
		t.Fatalf("fixture: %d bytes, %d chars", len(p), chars(p))
	}
	if _, err := DecodeMPM(p); err != nil {
		t.Errorf("DecodeMPM(%d bytes, %d chars): %v", len(p), chars(p), err)
	}
}

func TestHelpers(t *testing.T) {
	m, err := DecodeMPM(goldenCUP)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		guid   string
		wantID string
	}{
		{"A000000333010108", "29"},
		{"a000000333010108", "29"}, // case-insensitive
		{"SG.PAYNOW", ""},
		{"", ""}, // primitive accounts have no GUID
	}
	for _, tt := range tests {
		t.Run("AccountByGUID/"+tt.guid, func(t *testing.T) {
			a, ok := m.AccountByGUID(tt.guid)
			if ok != (tt.wantID != "") || a.ID != tt.wantID {
				t.Errorf("AccountByGUID(%q) = %q, %v; want %q", tt.guid, a.ID, ok, tt.wantID)
			}
		})
	}
	t.Run("Field", func(t *testing.T) {
		a, _ := m.AccountByGUID("A000000333010108")
		if v, ok := a.Field("01"); !ok || v != "104110000123456" {
			t.Errorf("Field(01) = %q, %v", v, ok)
		}
		if v, ok := a.Field("00"); !ok || v != "A000000333010108" {
			t.Errorf("Field(00) = %q, %v", v, ok)
		}
		if _, ok := a.Field("05"); ok {
			t.Error("Field(05) found")
		}
	})
	t.Run("Account", func(t *testing.T) {
		if a, ok := m.Account("15"); !ok || a.Value != "A0000003330101080012345678901" {
			t.Errorf("Account(15) = %+v, %v", a, ok)
		}
		if _, ok := m.Account("26"); ok {
			t.Error("Account(26) found")
		}
	})
	t.Run("AdditionalField", func(t *testing.T) {
		if v, ok := m.AdditionalField("07"); !ok || v != "T01" {
			t.Errorf("AdditionalField(07) = %q, %v", v, ok)
		}
	})
	t.Run("nil", func(t *testing.T) {
		var n *MPM
		if _, ok := n.AccountByGUID("x"); ok {
			t.Error("nil AccountByGUID")
		}
		if _, ok := n.AdditionalField("01"); ok || n.HasWarning(WarnTagOrder) {
			t.Error("nil helpers")
		}
	})
	t.Run("ReasonOf", func(t *testing.T) {
		_, err := DecodeMPM("")
		if ReasonOf(fmt.Errorf("wrapped: %w", err)) != ReasonEmpty {
			t.Errorf("ReasonOf(%v)", err)
		}
		_, err = EncodeMPM(&MPM{})
		if ReasonOf(err) != ReasonMissingField {
			t.Errorf("ReasonOf(%v)", err)
		}
		if ReasonOf(errors.New("x")) != "" {
			t.Error("ReasonOf(plain error)")
		}
	})
}
