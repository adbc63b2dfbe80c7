package walletcode

import (
	"errors"
	"strings"
	"testing"
)

const (
	wxpToken    = "f2f0Pz7nB3mRkYc4Zx9aQeLs-Tu_V"
	alipayToken = "bax03431ljhokirwl38f00a7"
	alipayURL   = "https://qr.alipay.com/" + alipayToken
	// alipayWrapped is alipayURL percent-encoded as the qrcode parameter of
	// the Alipay app's startapp wrapper.
	alipayWrapped = "alipays://platformapi/startapp?saId=10000007&qrcode=https%3A%2F%2Fqr.alipay.com%2F" + alipayToken
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		name, url            string
		issuer, inner, token string
	}{
		{"wxp", "wxp://" + wxpToken, IssuerWeChat, "", wxpToken},
		{"wxp upper-case scheme", "WXP://" + wxpToken, IssuerWeChat, "", wxpToken},
		{"wxp mixed-case scheme", "wXp://" + wxpToken, IssuerWeChat, "", wxpToken},
		{"bizpayurl", "weixin://wxpay/bizpayurl?pr=AbCdEf1", IssuerWeChat, "", "AbCdEf1"},
		{"bizpayurl upper-case scheme and host", "WEIXIN://WXPAY/bizpayurl?pr=AbCdEf1", IssuerWeChat, "", "AbCdEf1"},
		{"bizpayurl mode 1, no pr", "weixin://wxpay/bizpayurl?appid=wx2421b1c4370ec43b&mch_id=10000100&nonce_str=f6808210402125e30663234f94c87a8c&product_id=1&time_stamp=1415949957&sign=512F68131DD251DA4A45DA79CC7EFE9D",
			IssuerWeChat, "", ""},
		{"bizpayurl pr among others", "weixin://wxpay/bizpayurl?x=1&pr=Zz9&y=", IssuerWeChat, "", "Zz9"},
		{"bizpayurl pr without =", "weixin://wxpay/bizpayurl?x&pr", IssuerWeChat, "", ""},
		{"tenpay t parameter", "https://wx.tenpay.com/f2f?t=AQAAAExampleToken", IssuerWeChat, "", "AQAAAExampleToken"},
		{"tenpay path", "https://WX.TenPay.com/f2f", IssuerWeChat, "", "f2f"},
		{"tenpay longer path", "https://wx.tenpay.com/cgi-bin/f2f?x=1", IssuerWeChat, "", "cgi-bin/f2f"},
		{"alipay https", alipayURL, IssuerAlipay, "", alipayToken},
		{"alipay http", "http://qr.alipay.com/" + alipayToken, IssuerAlipay, "", alipayToken},
		{"alipay upper case", "HTTPS://QR.ALIPAY.COM/" + strings.ToUpper(alipayToken), IssuerAlipay, "", strings.ToUpper(alipayToken)},
		{"alipay mixed case", "Https://Qr.Alipay.Com/" + alipayToken, IssuerAlipay, "", alipayToken},
		{"alipay with query and fragment", "https://qr.alipay.com/fkx12345abcde?t=1700000000000#x", IssuerAlipay, "", "fkx12345abcde"},
		{"alipays wrapper", alipayWrapped, IssuerAlipay, alipayURL, alipayToken},
		{"alipays wrapper, upper case, startApp, lower-case escapes",
			"ALIPAYS://PLATFORMAPI/startApp?appId=20000056&qrcode=https%3a%2f%2fQR.alipay.com%2f" + alipayToken,
			IssuerAlipay, "https://QR.alipay.com/" + alipayToken, alipayToken},
		{"alipays wrapper, unescaped inner URL", "alipays://platformapi/startapp?qrcode=" + alipayURL, IssuerAlipay, alipayURL, alipayToken},
		{"alipays wrapper, inner http", "alipays://platformapi/startapp?qrcode=http%3A%2F%2Fqr.alipay.com%2Fabc", IssuerAlipay, "http://qr.alipay.com/abc", "abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := ParseURL(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			want := URLCode{Issuer: tt.issuer, URL: tt.url, Inner: tt.inner, Token: tt.token}
			if u != want {
				t.Errorf("got %+v\nwant %+v", u, want)
			}
			if v, ok := IdentifyURL(tt.url); !ok || v != u {
				t.Errorf("IdentifyURL = %+v, %v", v, ok)
			}
		})
	}
}

func TestParseURLRefused(t *testing.T) {
	tests := []struct {
		name, url string
		reason    Reason
		pos       int
	}{
		{"empty", "", ReasonEmpty, 0},
		{"too long", alipayURL + "?x=" + strings.Repeat("a", 512), ReasonTooLong, 512},
		{"newline", alipayURL + "\n", ReasonBadChar, len(alipayURL)},
		{"carriage return", "wxp://" + wxpToken + "\r", ReasonBadChar, 6 + len(wxpToken)},
		{"tab", "https://qr.alipay.com/\tbax", ReasonBadChar, 22},
		{"NUL", "https://qr.alipay.com\x00.evil.example/bax", ReasonBadChar, 21},
		{"DEL", "wxp://f2f\x7f", ReasonBadChar, 9},
		{"space", "https://qr.alipay.com/ bax", ReasonBadChar, 22},
		{"non-ASCII host", "https://qr.alipаy.com/bax", ReasonBadChar, 15}, // Cyrillic а
		{"userinfo", "https://user@qr.alipay.com/bax", ReasonUserinfo, 12},
		{"host as userinfo", "https://qr.alipay.com@evil.example/" + alipayToken, ReasonUserinfo, 21},
		{"userinfo with password", "https://a:b@qr.alipay.com/bax", ReasonUserinfo, 11},
		{"wxp userinfo", "wxp://a@" + wxpToken, ReasonUserinfo, 7},
		{"other host", "https://example.com/pay", ReasonUnknownURL, 0},
		{"other scheme", "ftp://qr.alipay.com/" + alipayToken, ReasonUnknownURL, 0},
		{"port", "https://qr.alipay.com:443/" + alipayToken, ReasonUnknownURL, 0},
		{"trailing dot", "https://qr.alipay.com./" + alipayToken, ReasonUnknownURL, 0},
		{"suffix domain", "https://qr.alipay.com.evil.example/" + alipayToken, ReasonUnknownURL, 0},
		{"host in path", "https://evil.example/qr.alipay.com/" + alipayToken, ReasonUnknownURL, 0},
		{"tenpay over http", "http://wx.tenpay.com/f2f", ReasonUnknownURL, 0},
		{"weixin other path", "weixin://dl/business/?t=abc", ReasonUnknownURL, 9},
		{"weixin bizpayurl case", "weixin://wxpay/BizPayUrl?pr=abc", ReasonUnknownURL, 9},
		{"alipays other path", "alipays://platformapi/other?qrcode=x", ReasonUnknownURL, 10},
		{"alipay scheme", "alipay://platformapi/startapp?qrcode=" + alipayURL, ReasonUnknownURL, 0},
		{"javascript", "javascript:alert(1)", ReasonUnknownURL, 0},
		{"no scheme", "qr.alipay.com/" + alipayToken, ReasonUnknownURL, 0},
		{"leading colon", "://qr.alipay.com/x", ReasonUnknownURL, 0},
		{"scheme with digits", "h2ttps://qr.alipay.com/x", ReasonUnknownURL, 0},
		{"EMVCo payload", "00020101021126490009SG.PAYNOW", ReasonUnknownURL, 0},
		{"wxp without //", "wxp:" + wxpToken, ReasonBadURL, 4},
		{"https without //", "https:qr.alipay.com/" + alipayToken, ReasonBadURL, 6},
		{"wxp without token", "wxp://", ReasonBadURL, 6},
		{"wxp with path", "wxp://" + wxpToken + "/x", ReasonBadURL, 6 + len(wxpToken)},
		{"wxp with query", "wxp://" + wxpToken + "?x=1", ReasonBadURL, 6 + len(wxpToken)},
		{"wxp token with percent", "wxp://f2f%41", ReasonBadURL, 6},
		{"alipay without token", "https://qr.alipay.com/", ReasonBadURL, 21},
		{"alipay without path", "https://qr.alipay.com", ReasonBadURL, 21},
		{"alipay two segments", "https://qr.alipay.com/a/b", ReasonBadURL, 21},
		{"bizpayurl without parameters", "weixin://wxpay/bizpayurl", ReasonBadURL, 24},
		{"bizpayurl empty query", "weixin://wxpay/bizpayurl?", ReasonBadURL, 25},
		{"bizpayurl pr twice", "weixin://wxpay/bizpayurl?pr=a&pr=b", ReasonBadURL, 30},
		{"bizpayurl bad escape", "weixin://wxpay/bizpayurl?pr=%zz", ReasonBadURL, 28},
		// Found by FuzzParseURL: tokens were not checked for tenpay paths.
		{"tenpay path not a token", "https://wX.tenpAY.Com/!", ReasonBadURL, 21},
		{"tenpay empty segment", "https://wx.tenpay.com/a//b", ReasonBadURL, 21},
		{"tenpay t with newline", "https://wx.tenpay.com/f2f?t=AQ%0A", ReasonBadURL, 28},
		{"tenpay t with plus", "https://wx.tenpay.com/f2f?t=AQ+B", ReasonBadURL, 28},
		{"bizpayurl pr with space", "weixin://wxpay/bizpayurl?pr=a%20b", ReasonBadURL, 28},
		{"tenpay without path or t", "https://wx.tenpay.com/?t=", ReasonBadURL, 21},
		{"wrapper without qrcode", "alipays://platformapi/startapp?appId=20000056", ReasonBadURL, 31},
		{"wrapper without query", "alipays://platformapi/startapp", ReasonBadURL, 30},
		{"wrapper around another host", "alipays://platformapi/startapp?qrcode=https%3A%2F%2Fevil.example%2Fbax", ReasonBadURL, 38},
		{"wrapper around a wrapper", "alipays://platformapi/startapp?qrcode=" + strings.ReplaceAll(strings.ReplaceAll(alipayWrapped, "%", "%25"), "&", "%26"), ReasonBadURL, 38},
		{"wrapper around wxp", "alipays://platformapi/startapp?qrcode=wxp%3A%2F%2Fabc", ReasonBadURL, 38},
		{"wrapper around tenpay", "alipays://platformapi/startapp?qrcode=https%3A%2F%2Fwx.tenpay.com%2Ff2f", ReasonBadURL, 38},
		{"wrapper inner userinfo", "alipays://platformapi/startapp?qrcode=https%3A%2F%2Fu%40qr.alipay.com%2Fbax", ReasonBadURL, 38},
		{"wrapper inner newline", "alipays://platformapi/startapp?qrcode=https%3A%2F%2Fqr.alipay.com%2Fbax%0A", ReasonBadURL, 38},
		{"wrapper inner too long", "alipays://platformapi/startapp?qrcode=" + alipayURL + "?" + strings.Repeat("a", 500), ReasonTooLong, 512},
		{"wrapper qrcode twice", alipayWrapped + "&qrcode=x", ReasonBadURL, len(alipayWrapped) + 1},
		// Found by FuzzParseURL: a parameter without "=" put Pos past the end.
		{"wrapper qrcode without =", "AlipAYs://plAtformApi/stArtApp?qrcode", ReasonBadURL, 37},
		{"wrapper bad escape", "alipays://platformapi/startapp?qrcode=%G1", ReasonBadURL, 38},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := ParseURL(tt.url)
			var ue *URLError
			if !errors.As(err, &ue) {
				t.Fatalf("ParseURL = %+v, %v; want *URLError", u, err)
			}
			if u != (URLCode{}) {
				t.Errorf("non-zero URLCode %+v with error", u)
			}
			if ue.Reason != tt.reason || ue.Pos != tt.pos {
				t.Errorf("got %s at %d, want %s at %d (%v)", ue.Reason, ue.Pos, tt.reason, tt.pos, err)
			}
			if ReasonOf(err) != tt.reason || ue.Msg == "" {
				t.Errorf("ReasonOf %q, message %q", ReasonOf(err), ue.Msg)
			}
			if _, ok := IdentifyURL(tt.url); ok {
				t.Error("IdentifyURL accepted it")
			}
		})
	}
}
