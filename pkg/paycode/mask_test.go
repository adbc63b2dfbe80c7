package paycode

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestMask(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"18-digit code", "289912345678901234", "2899…34"},
		{"code with separators", "2899 1234 5678 9012 34", "2899…34"},
		{"12 characters", "123456789012", "1234…12"},
		{"11 characters: too short to keep any", "12345678901", "…"},
		{"8-digit code", "28991234", "…"},
		{"empty", "", ""},
		{"non-ASCII cut on characters", "0002é€漢字abcdefgh€é", "0002…€é"},
		{"invalid UTF-8 bytes count as characters", "\xff\xfe\xfd\xfc" + strings.Repeat("x", 10) + "\xfb\xfa", "\xff\xfe\xfd\xfc…\xfb\xfa"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := Mask(tt.in); got != tt.want {
				t.Errorf("Mask(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestMaskHidesEnough: whatever the payload, at most 6 characters of it
// survive and at least 6 are hidden.
func TestMaskHidesEnough(t *testing.T) {
	for n := range 40 {
		got := Mask(strings.Repeat("7", n))
		kept := utf8.RuneCountInString(strings.Replace(got, "…", "", 1))
		if kept > maskHead+maskTail || (kept > 0 && n-kept < maskMinHidden) {
			t.Errorf("Mask of %d characters keeps %d: %q", n, kept, got)
		}
	}
}

func TestRedact(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"code 289912345678901234 already used", "code 2899…34 already used"},
		{"code 2899-1234-5678-9012-34 unknown", "code 2899…34 unknown"},
		{"insufficient funds (balance 1234567)", "insufficient funds (balance 1234567)"},
		{"order 12345678", "order …"},
		{"two 289912345678901234 and 289812345678901299", "two 2899…34 and 2898…99"},
		{"", ""},
	} {
		if got := Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
