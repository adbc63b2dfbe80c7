package walletcode

import (
	"errors"
	"strings"
	"testing"
)

// testRanges: WeChat Pay style 18-digit codes under 10-15, Alipay style
// 16-24 digits under 25-30, and a nested Alipay HK range under 2800.
var testRanges = []Range{
	{Prefix: "10", PartnerID: "WECHATPAY", Lengths: []int{18}},
	{Prefix: "11", PartnerID: "WECHATPAY", Lengths: []int{18}},
	{Prefix: "12", PartnerID: "WECHATPAY", Lengths: []int{18}},
	{Prefix: "13", PartnerID: "WECHATPAY", Lengths: []int{18}},
	{Prefix: "14", PartnerID: "WECHATPAY", Lengths: []int{18}},
	{Prefix: "15", PartnerID: "WECHATPAY", Lengths: []int{18}},
	{Prefix: "28", PartnerID: "ALIPAY_CN", Lengths: []int{16, 17, 18, 19, 20, 21, 22, 23, 24}},
	{Prefix: "2800", PartnerID: "ALIPAY_HK", Lengths: []int{18}},
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name, code      string
		partner, prefix string
		reason          Reason
		pos             int
	}{
		{"wechat 18 digits", "134567890123456789", "WECHATPAY", "13", "", 0},
		{"alipay 16 digits", "2812345678901234", "ALIPAY_CN", "28", "", 0},
		{"alipay 24 digits", "281234567890123456789012", "ALIPAY_CN", "28", "", 0},
		{"longest prefix wins", "280012345678901234", "ALIPAY_HK", "2800", "", 0},
		{"longest prefix, no fallback on length", "28001234567890123", "", "", ReasonBadLength, 0},
		{"shorter prefix when the longer does not match", "280112345678901234", "ALIPAY_CN", "28", "", 0},
		{"wechat 17 digits", "13456789012345678", "", "", ReasonBadLength, 0},
		{"wechat 19 digits", "1345678901234567890", "", "", ReasonBadLength, 0},
		{"unknown range", "994567890123456789", "", "", ReasonUnknownRange, 0},
		{"code shorter than prefix", "2", "", "", ReasonUnknownRange, 0},
		{"4 KB of digits", strings.Repeat("13", 2048), "", "", ReasonBadLength, 0},
		{"empty", "", "", "", ReasonNotNumeric, 0},
		{"letter", "13456789012345678a", "", "", ReasonNotNumeric, 17},
		{"leading space", " 134567890123456789", "", "", ReasonNotNumeric, 0},
		{"trailing newline", "134567890123456789\n", "", "", ReasonNotNumeric, 18},
		{"sign", "-134567890123456789", "", "", ReasonNotNumeric, 0},
		{"full-width digits", "１３４５６７８９０１２３４５６７８９", "", "", ReasonNotNumeric, 0},
		{"Arabic-Indic digit", "13456789012345678٩", "", "", ReasonNotNumeric, 17},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := Classify(tt.code, testRanges)
			if tt.reason == "" {
				if err != nil {
					t.Fatal(err)
				}
				want := WalletCode{Code: tt.code, PartnerID: tt.partner, Prefix: tt.prefix, Length: len(tt.code)}
				if w != want {
					t.Errorf("got %+v, want %+v", w, want)
				}
				return
			}
			var ce *CodeError
			if !errors.As(err, &ce) {
				t.Fatalf("Classify = %+v, %v; want *CodeError", w, err)
			}
			if w != (WalletCode{}) || ce.Reason != tt.reason || ce.Pos != tt.pos || ReasonOf(err) != tt.reason {
				t.Errorf("got %+v, %s at %d, want %s at %d (%v)", w, ce.Reason, ce.Pos, tt.reason, tt.pos, err)
			}
			// The code is a credential: no more than a prefix of it may
			// appear in the message.
			if len(tt.code) > 4 && strings.Contains(err.Error(), tt.code[2:]) {
				t.Errorf("message %q repeats the code", err)
			}
		})
	}
}

func TestClassifyRangeEdgeCases(t *testing.T) {
	// Classify tolerates tables ValidateRanges would refuse: an empty
	// prefix never matches, and of equal prefixes the first wins.
	ranges := []Range{
		{Prefix: "", PartnerID: "ANY", Lengths: []int{18}},
		{Prefix: "13", PartnerID: "FIRST", Lengths: []int{18}},
		{Prefix: "13", PartnerID: "SECOND", Lengths: []int{18}},
	}
	if w, err := Classify("134567890123456789", ranges); err != nil || w.PartnerID != "FIRST" {
		t.Errorf("got %+v, %v", w, err)
	}
	if _, err := Classify("994567890123456789", ranges); ReasonOf(err) != ReasonUnknownRange {
		t.Errorf("empty prefix matched: %v", err)
	}
	if _, err := Classify("134567890123456789", nil); ReasonOf(err) != ReasonUnknownRange {
		t.Errorf("nil ranges: %v", err)
	}
}

func TestValidateRanges(t *testing.T) {
	if err := ValidateRanges(testRanges); err != nil {
		t.Fatalf("testRanges: %v", err)
	}
	if err := ValidateRanges(nil); err != nil {
		t.Fatalf("nil: %v", err)
	}
	ok := Range{Prefix: "13", PartnerID: "WECHATPAY", Lengths: []int{18}}
	tests := []struct {
		name   string
		ranges []Range
		index  int
		reason Reason
	}{
		{"empty prefix", []Range{{PartnerID: "P", Lengths: []int{18}}}, 0, ReasonBadPrefix},
		{"letters in prefix", []Range{ok, {Prefix: "1A", PartnerID: "P", Lengths: []int{18}}}, 1, ReasonBadPrefix},
		{"space in prefix", []Range{{Prefix: "13 ", PartnerID: "P", Lengths: []int{18}}}, 0, ReasonBadPrefix},
		{"full-width prefix", []Range{{Prefix: "１", PartnerID: "P", Lengths: []int{18}}}, 0, ReasonBadPrefix},
		{"duplicate prefix", []Range{ok, {Prefix: "28", PartnerID: "A", Lengths: []int{18}}, {Prefix: "13", PartnerID: "B", Lengths: []int{18}}}, 2, ReasonDuplicatePrefix},
		{"no partner", []Range{{Prefix: "13", Lengths: []int{18}}}, 0, ReasonBadPartner},
		{"no lengths", []Range{{Prefix: "13", PartnerID: "P"}}, 0, ReasonBadLength},
		{"length 7", []Range{{Prefix: "13", PartnerID: "P", Lengths: []int{18, 7}}}, 0, ReasonBadLength},
		{"length 33", []Range{{Prefix: "13", PartnerID: "P", Lengths: []int{33}}}, 0, ReasonBadLength},
		{"negative length", []Range{{Prefix: "13", PartnerID: "P", Lengths: []int{-18}}}, 0, ReasonBadLength},
		{"prefix as long as a length", []Range{{Prefix: "12345678", PartnerID: "P", Lengths: []int{16, 8}}}, 0, ReasonBadLength},
		{"length twice", []Range{{Prefix: "13", PartnerID: "P", Lengths: []int{18, 19, 18}}}, 0, ReasonBadLength},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateRanges(tt.ranges)
			var re *RangeError
			if !errors.As(err, &re) {
				t.Fatalf("ValidateRanges = %v, want *RangeError", err)
			}
			if re.Index != tt.index || re.Reason != tt.reason || ReasonOf(err) != tt.reason {
				t.Errorf("got range %d %s, want range %d %s (%v)", re.Index, re.Reason, tt.index, tt.reason, err)
			}
		})
	}
	// Boundaries that are fine.
	if err := ValidateRanges([]Range{{Prefix: "1234567", PartnerID: "P", Lengths: []int{8, 32}}}); err != nil {
		t.Errorf("lengths 8 and 32 with a 7-digit prefix: %v", err)
	}
}
