package paycode

import (
	"errors"
	"testing"

	"github.com/unigate/unigate/pkg/emvcpm"
	"github.com/unigate/unigate/pkg/emvqr"
	"github.com/unigate/unigate/pkg/walletcode"
)

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		goldenMPM, digitsMPM, goldenCPM, goldenURL, goldenWallet, "134567890123456789",
		"wxp://abc", "HTTPS://QR.ALIPAY.COM/x", "weixin:x", "alipays:", "hQVDUFYwMQ", "hQZDUFYwMVg=",
		"hgVDUFYwMQ==", "0002", "00020101021163040000", "", " ", "hello", "\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Decode(s, ranges)
		if err != nil {
			var pe *Error
			if c != nil || !errors.As(err, &pe) || pe.Reason == "" || pe.Msg == "" {
				t.Fatalf("Decode(%q): bad result %+v, %#v", s, c, err)
			}
			var inner string
			switch pe.Decoder {
			case "":
				if pe.Err != nil || (pe.Reason != ReasonEmpty && pe.Reason != ReasonUnrecognized) {
					t.Fatalf("Decode(%q): %#v", s, pe)
				}
				return
			case KindMPM:
				var de *emvqr.DecodeError
				if errors.As(err, &de) {
					inner = string(de.Reason)
				}
			case KindCPM:
				var de *emvcpm.DecodeError
				if errors.As(err, &de) {
					inner = string(de.Reason)
				}
			case KindURL, KindWallet:
				inner = string(walletcode.ReasonOf(err))
			}
			if inner == "" || inner != pe.Reason {
				t.Fatalf("Decode(%q): reason %s does not match the wrapped error %v", s, pe.Reason, pe.Err)
			}
			return
		}
		b, err := c.JSON()
		if err != nil {
			t.Fatalf("Decode(%q) gave a Code whose JSON fails: %v", s, err)
		}
		checkJSONShape(t, b, string(c.Kind))
	})
}
