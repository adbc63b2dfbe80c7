package paycode

import (
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/unigate/unigate/pkg/emvcpm"
	"github.com/unigate/unigate/pkg/emvqr"
	"github.com/unigate/unigate/pkg/walletcode"
)

// Payloads. The MPM CRCs were computed independently with Python's
// binascii.crc_hqx(payload, 0xFFFF) (CRC-16/CCITT-FALSE).
const (
	// goldenMPM: primitive account 15 and PayNow template 26, a fixed tip
	// (55=02, 56), postal code, 62 with a significant trailing space in
	// 62.01, a Chinese 64 language template and unreserved template 80.
	goldenMPM = "000201010212151552000000000012326370009SG.PAYNOW010120210201403121W03011" +
		"520458125303702540512.5055020256041.005802SG5912ACME PTE LTD6009Singapore610601895" +
		"662290109INV 0042 0505REF-70703T0164230002ZH0106顶点有限公司0203新加坡80180006SG.ACT0104X1236304FCC7"
	// digitsMPM is an MPM payload made only of digits (merchant account 02,
	// currency, CRC 4715): no wallet range takes it.
	digitsMPM = "000201010211020810000004530370263044715"
	// goldenCPM is the EMV QRCPS Consumer-Presented Mode example payload
	// (see specExample in ../emvcpm), as reproduced by github.com/mvallim/emv-qrcode
	// (src/test/java/com/emv/qrcode/model/cpm/ConsumerPresentedModeTest.java)
	// and github.com/dongri/emv-qrcode (main.go).
	goldenCPM = "hQVDUFYwMWETTwegAAAAVVVVUAhQcm9kdWN0MWETTwegAAAAZmZmUAhQcm9kdWN0MmJJWggSNFZ4kBI0" +
		"WF8gDkNBUkRIT0xERVIvRU1WXy0IcnVlc2RlZW5kIZ8QBwYBCgMAAACfJghYT9OF+iNLzJ82AgABnzcE" +
		"bVjvEw=="
	goldenURL    = "alipays://platformapi/startapp?saId=10000007&qrcode=https%3A%2F%2Fqr.alipay.com%2Fbax03431ljhokirwl38f00a7"
	goldenWallet = "280012345678901234"
)

var ranges = []walletcode.Range{
	{Prefix: "13", PartnerID: "WECHATPAY", Lengths: []int{18}},
	{Prefix: "28", PartnerID: "ALIPAY_CN", Lengths: []int{16, 17, 18, 19, 20, 21, 22, 23, 24}},
	{Prefix: "2800", PartnerID: "ALIPAY_HK", Lengths: []int{18}},
}

func TestDecodeKinds(t *testing.T) {
	tests := []struct {
		name, payload string
		kind          Kind
		warnings      int
	}{
		{"wallet code", goldenWallet, KindWallet, 0},
		{"wechat code", "134567890123456789", KindWallet, 0},
		{"MPM", goldenMPM, KindMPM, 0},
		{"MPM lower-case CRC", strings.TrimSuffix(goldenMPM, "FCC7") + "fcc7", KindMPM, 1},
		{"all-digit MPM", digitsMPM, KindMPM, 1 + 4}, // DIGITS_AS_MPM, 4 x MISSING_MANDATORY
		{"wxp", "wxp://f2f0Pz7nB3mRkYc4Zx9aQeLs", KindURL, 0},
		{"alipay upper case", "HTTPS://QR.ALIPAY.COM/BAX03431LJHOKIRWL38F00A7", KindURL, 0},
		{"alipays wrapper", goldenURL, KindURL, 0},
		{"weixin bizpayurl", "Weixin://wxpay/bizpayurl?pr=AbCdEf1", KindURL, 0},
		{"tenpay", "https://wx.tenpay.com/f2f?t=AQAAAExampleToken", KindURL, 0},
		{"CPM", goldenCPM, KindCPM, 0},
		{"CPM with padding byte", "hQVDUFYwMWEJTwegAAAAAxAQAA==", KindCPM, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Decode(tt.payload, ranges)
			if err != nil {
				t.Fatal(err)
			}
			if c.Kind != tt.kind || len(c.Warnings) != tt.warnings {
				t.Errorf("kind %s with warnings %q, want %s with %d", c.Kind, c.Warnings, tt.kind, tt.warnings)
			}
			got := map[Kind]bool{KindMPM: c.MPM != nil, KindCPM: c.CPM != nil, KindURL: c.URL != nil, KindWallet: c.Wallet != nil}
			for k, set := range got {
				if set != (k == c.Kind) {
					t.Errorf("%s value set = %v for a %s code", k, set, c.Kind)
				}
			}
			if _, err := c.JSON(); err != nil {
				t.Errorf("JSON: %v", err)
			}
		})
	}
}

func TestDigitsAsMPMWarning(t *testing.T) {
	c, err := Decode(digitsMPM, ranges)
	if err != nil {
		t.Fatal(err)
	}
	if w := c.Warnings[0]; w != "DIGITS_AS_MPM: all-digit payload matched no wallet code range (UNKNOWN_RANGE) and decodes as EMVCo MPM" {
		t.Errorf("warning %q", w)
	}
	if len(c.MPM.Warnings) != 4 {
		t.Errorf("MPM warnings changed: %q", c.MPM.Warnings)
	}
	// A wallet code that does match a range stays a wallet code even if it
	// starts like an MPM payload.
	r := []walletcode.Range{{Prefix: "0002", PartnerID: "P", Lengths: []int{len(digitsMPM)}}}
	if c, err := Decode(digitsMPM, r); err != nil || c.Kind != KindWallet {
		t.Errorf("got %+v, %v", c, err)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name, payload string
		decoder       Kind
		reason        string
		as            any // pointer to the decoder's error type that errors.As must find
	}{
		{"empty", "", "", ReasonEmpty, nil},
		{"spaces", "   ", "", ReasonUnrecognized, nil},
		{"plain text", "hello world", "", ReasonUnrecognized, nil},
		{"mailto", "mailto:pay@example.com", "", ReasonUnrecognized, nil},
		{"base64 not starting with 85", "hgVDUFYwMQ==", "", ReasonUnrecognized, nil},
		{"base64 of other data", "SGVsbG8=", "", ReasonUnrecognized, nil},
		{"leading space before MPM", " " + goldenMPM, "", ReasonUnrecognized, nil},
		{"4 KB of garbage", strings.Repeat("\xff", 4096), "", ReasonUnrecognized, nil},
		{"wallet code, unknown range", "994567890123456789", KindWallet, "UNKNOWN_RANGE", new(*walletcode.CodeError)},
		{"wallet code, bad length", "28001234567890123", KindWallet, "BAD_LENGTH", new(*walletcode.CodeError)},
		{"wallet code, no ranges", goldenWallet, KindWallet, "UNKNOWN_RANGE", new(*walletcode.CodeError)},
		{"4 KB of digits", strings.Repeat("1", 4096), KindWallet, "UNKNOWN_RANGE", new(*walletcode.CodeError)},
		{"all-digit MPM, bad CRC", strings.TrimSuffix(digitsMPM, "4715") + "4716", KindWallet, "UNKNOWN_RANGE", new(*walletcode.CodeError)},
		{"MPM bad CRC", strings.TrimSuffix(goldenMPM, "FCC7") + "FCC8", KindMPM, "CRC_MISMATCH", new(*emvqr.DecodeError)},
		{"MPM trailing newline", goldenMPM + "\n", KindMPM, "TRAILING_DATA", new(*emvqr.DecodeError)},
		{"MPM cut short", goldenMPM[:50], KindMPM, "LENGTH_OVERRUN", new(*emvqr.DecodeError)},
		{"MPM 4 KB", "0002" + strings.Repeat("X", 4092), KindMPM, "TOO_LONG", new(*emvqr.DecodeError)},
		{"URL unknown host", "https://example.com/pay", KindURL, "UNKNOWN_URL", new(*walletcode.URLError)},
		{"URL userinfo", "https://qr.alipay.com@evil.example/bax", KindURL, "USERINFO", new(*walletcode.URLError)},
		{"weixin without //", "weixin:wxpay/bizpayurl?pr=1", KindURL, "BAD_URL", new(*walletcode.URLError)},
		{"URL 4 KB", "https://qr.alipay.com/" + strings.Repeat("a", 4096), KindURL, "TOO_LONG", new(*walletcode.URLError)},
		{"CPM cut short", goldenCPM[:36], KindCPM, "LENGTH_OVERRUN", new(*emvcpm.DecodeError)},
		{"CPM missing padding", "hQVDUFYwMQ", KindCPM, "BAD_BASE64", new(*emvcpm.DecodeError)},
		{"CPM with a newline", goldenCPM[:40] + "\n" + goldenCPM[40:], KindCPM, "BAD_BASE64", new(*emvcpm.DecodeError)},
		{"CPM url-safe base64", strings.ReplaceAll(goldenCPM, "+", "-"), KindCPM, "BAD_BASE64", new(*emvcpm.DecodeError)},
		{"CPM bad format", "hQZDUFYwMVg=", KindCPM, "BAD_FORMAT", new(*emvcpm.DecodeError)},
		{"CPM 4 KB", "hQVDUFYwM" + strings.Repeat("A", 4087), KindCPM, "TOO_LONG", new(*emvcpm.DecodeError)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ranges
			if tt.name == "wallet code, no ranges" {
				r = nil
			}
			c, err := Decode(tt.payload, r)
			if c != nil {
				t.Errorf("got a Code with error %v", err)
			}
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v (%T), want *Error", err, err)
			}
			if pe.Decoder != tt.decoder || pe.Reason != tt.reason || ReasonOf(err) != tt.reason {
				t.Errorf("got decoder %q reason %s, want %q %s (%v)", pe.Decoder, pe.Reason, tt.decoder, tt.reason, err)
			}
			msg := err.Error()
			if tt.as == nil {
				if pe.Err != nil || errors.Unwrap(err) != nil || !strings.HasPrefix(msg, "paycode: "+tt.reason+": ") {
					t.Errorf("unexpected wrapped error or message: %q", msg)
				}
				return
			}
			if !errors.As(err, tt.as) {
				t.Errorf("errors.As does not find %T in %v", tt.as, err)
			}
			if !strings.HasPrefix(msg, "paycode: "+string(tt.decoder)+" decoder refused the payload: ") || !strings.Contains(msg, tt.reason) {
				t.Errorf("message %q does not name the decoder and reason", msg)
			}
		})
	}
}

// TestWalletCodeNotInErrors: a refusal of something that is, or looks
// like, a one-time code never repeats its hidden digits, not even when a
// separator makes it unrecognisable.
func TestWalletCodeNotInErrors(t *testing.T) {
	for _, payload := range []string{
		"28001234567890123",      // bad length
		"990012345678901234",     // unknown range
		"2800 1234 5678 9012 3",  // separators: UNRECOGNIZED
		"2800-1234567890123",     // a dash
		"2800123456789012X",      // a letter
		"hQVDUFYwM1234567890123", // CPM prefix, broken
	} {
		_, err := Decode(payload, ranges)
		if err == nil {
			t.Fatalf("%q decoded", payload)
		}
		var digits strings.Builder
		for _, c := range err.Error() {
			if '0' <= c && c <= '9' {
				digits.WriteRune(c)
			}
		}
		if strings.Contains(digits.String(), "12345678") {
			t.Errorf("error repeats the code's digits: %v", err)
		}
	}
}

// TestBoundedAllocation: a 4 KB payload of any shape is refused without
// allocating more than a few hundred bytes (the decoders check the length
// before doing any work).
func TestBoundedAllocation(t *testing.T) {
	for name, p := range map[string]string{
		"digits":  strings.Repeat("1", 4096),
		"mpm":     "0002" + strings.Repeat("X", 4092),
		"url":     "https://qr.alipay.com/" + strings.Repeat("a", 4096),
		"cpm":     "hQVDUFYwM" + strings.Repeat("A", 4087),
		"base64":  "hQ" + strings.Repeat("A", 4094),
		"garbage": strings.Repeat("\xff", 4096),
	} {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			const runs = 50
			for range runs {
				if _, err := Decode(p, ranges); err == nil {
					t.Fatal("accepted")
				}
			}
			runtime.ReadMemStats(&after)
			if b := (after.TotalAlloc - before.TotalAlloc) / runs; b > 1024 {
				t.Errorf("Decode of 4 KB allocates %d bytes", b)
			}
		})
	}
}
