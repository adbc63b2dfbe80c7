package walletcode

import (
	"errors"
	"strings"
	"testing"
)

var urlReasons = map[Reason]bool{
	ReasonEmpty: true, ReasonTooLong: true, ReasonBadChar: true, ReasonUserinfo: true,
	ReasonUnknownURL: true, ReasonBadURL: true,
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"wxp://" + wxpToken, "WXP://abc", "weixin://wxpay/bizpayurl?pr=AbC", "weixin://wxpay/bizpayurl?a=1&pr=%41",
		alipayURL, "HTTP://QR.ALIPAY.COM/x?y#z", alipayWrapped, "alipays://platformapi/startApp?qrcode=" + alipayURL,
		"https://wx.tenpay.com/f2f?t=AQ", "https://user@qr.alipay.com/x", "https://qr.alipay.com:443/x",
		"javascript:alert(1)", "", "wxp:", ":", "https://qr.alipay.com/\n", "alipays://platformapi/startapp?qrcode=%zz",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseURL(s)
		if v, ok := IdentifyURL(s); ok != (err == nil) || v != u {
			t.Fatalf("IdentifyURL disagrees with ParseURL on %q", s)
		}
		if err != nil {
			var ue *URLError
			if !errors.As(err, &ue) || !urlReasons[ue.Reason] || ue.Msg == "" || ue.Pos < 0 || ue.Pos > len(s) {
				t.Fatalf("ParseURL(%q): bad error %#v", s, err)
			}
			if u != (URLCode{}) {
				t.Fatalf("ParseURL(%q): URLCode with error", s)
			}
			return
		}
		if u.URL != s || len(s) > MaxURLLen || (u.Issuer != IssuerWeChat && u.Issuer != IssuerAlipay) {
			t.Fatalf("ParseURL(%q) = %+v", s, u)
		}
		for i := 0; i < len(s); i++ {
			if s[i] <= ' ' || s[i] >= 0x7F {
				t.Fatalf("ParseURL(%q) accepted byte 0x%02X", s, s[i])
			}
		}
		if !isToken(u.Token) && !(strings.Contains(u.Token, "/") && isPath(u.Token) && strings.Contains(strings.ToLower(s), "tenpay")) {
			t.Fatalf("ParseURL(%q): token %q", s, u.Token)
		}
		if u.Inner != "" {
			in, err := ParseURL(u.Inner)
			if err != nil || in.Issuer != IssuerAlipay || in.Token != u.Token || in.Inner != "" {
				t.Fatalf("ParseURL(%q): inner %q does not parse on its own: %+v %v", s, u.Inner, in, err)
			}
		}
		// Scheme and host are case-insensitive: upper-casing everything up
		// to the path gives the same issuer and token.
		if u.Inner == "" {
			end := len(s)
			if i := strings.Index(s, "://"); i >= 0 {
				if j := strings.IndexAny(s[i+3:], "/?#"); j >= 0 {
					end = i + 3 + j
				}
			}
			v, err := ParseURL(strings.ToUpper(s[:end]) + s[end:])
			if u.Issuer == IssuerWeChat && strings.HasPrefix(strings.ToLower(s), "wxp:") {
				v.Token = u.Token // the token is the authority, upper-cased here
			}
			if err != nil || v.Issuer != u.Issuer || v.Token != u.Token {
				t.Fatalf("ParseURL(%q) = %+v but the upper-case form gives %+v, %v", s, u, v, err)
			}
		}
	})
}

func FuzzClassify(f *testing.F) {
	for _, s := range []string{"134567890123456789", "280012345678901234", "28001234567890123", "", "1a", "２８", "99"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, code string) {
		w, err := Classify(code, testRanges)
		if err != nil {
			var ce *CodeError
			if !errors.As(err, &ce) || ce.Pos < 0 || ce.Pos > len(code) {
				t.Fatalf("Classify(%q): bad error %#v", code, err)
			}
			// The message may name the matched range's prefix, but not
			// the rest of the code. (Short digit runs can occur in it by
			// chance: lengths, prefixes; see testdata/fuzz/FuzzClassify.)
			rest := code
			for _, r := range testRanges {
				if strings.HasPrefix(code, r.Prefix) && len(code)-len(r.Prefix) < len(rest) {
					rest = code[len(r.Prefix):]
				}
			}
			if len(rest) >= 6 && strings.Contains(err.Error(), rest) {
				t.Fatalf("Classify(%q): message %q repeats the code", code, err)
			}
			return
		}
		if w.Code != code || w.Length != len(code) || !strings.HasPrefix(code, w.Prefix) || w.PartnerID == "" {
			t.Fatalf("Classify(%q) = %+v", code, w)
		}
		for _, r := range testRanges {
			if strings.HasPrefix(code, r.Prefix) && len(r.Prefix) > len(w.Prefix) {
				t.Fatalf("Classify(%q) chose %s over the longer %s", code, w.Prefix, r.Prefix)
			}
		}
	})
}
