package emvqr

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"testing/quick"
)

// Characters for generated values: ASCII (spaces included, so leading and
// trailing spaces occur), digits that look like TLV headers, Chinese,
// Khmer with combining marks, and 4-byte emoji.
var genAlphabet = []rune(" ABCXYZabcxyz0123456789.-@/:" + "北京烤鸭店上海" + "ភ្នំពេញ" + "😀🇸")

func genValue(r *rand.Rand, maxChars int) string {
	n := 1 + r.IntN(maxChars)
	var sb strings.Builder
	for range n {
		sb.WriteRune(genAlphabet[r.IntN(len(genAlphabet))])
	}
	return sb.String()
}

func genID(r *rand.Rand, lo, hi int, used map[int]bool) (string, bool) {
	for range 10 {
		n := lo + r.IntN(hi-lo+1)
		if !used[n] {
			used[n] = true
			return string([]byte{byte('0' + n/10), byte('0' + n%10)}), true
		}
	}
	return "", false
}

func genObjects(r *rand.Rand, max, lo, hi, maxChars int) []Object {
	var objs []Object
	used := map[int]bool{}
	for range r.IntN(max + 1) {
		if id, ok := genID(r, lo, hi, used); ok {
			objs = append(objs, Object{id, genValue(r, maxChars)})
		}
	}
	return objs
}

func maybe(r *rand.Rand, v func() string) string {
	if r.IntN(4) == 0 {
		return ""
	}
	return v()
}

// genMPM returns a random MPM in canonical form (lists that EncodeMPM sorts
// are already sorted) that EncodeMPM accepts unless it is too long.
func genMPM(r *rand.Rand) *MPM {
	m := &MPM{PayloadFormat: "01"}
	if r.IntN(10) == 0 {
		m.PayloadFormat = genValue(r, 3)
	}
	m.Initiation = []string{"", "11", "12", "1"}[r.IntN(4)]
	used := map[int]bool{}
	for range 1 + r.IntN(3) {
		id, ok := genID(r, 2, 51, used)
		if !ok {
			continue
		}
		if id <= "25" {
			m.MerchantAccounts = append(m.MerchantAccounts, MerchantAccount{ID: id, Value: genValue(r, 30)})
		} else {
			m.MerchantAccounts = append(m.MerchantAccounts, MerchantAccount{
				ID: id, GUID: genValue(r, 20), Fields: genObjects(r, 4, 1, 99, 12)})
		}
	}
	sortAccounts(m.MerchantAccounts)
	v := func(n int) func() string { return func() string { return genValue(r, n) } }
	m.MCC = maybe(r, func() string { return []string{"5812", "581", "0000", "12a4"}[r.IntN(4)] })
	m.Currency = maybe(r, v(3))
	m.Amount = maybe(r, v(10))
	m.TipIndicator = maybe(r, v(2))
	m.TipFixed = maybe(r, v(5))
	m.TipPercent = maybe(r, v(5))
	m.Country = maybe(r, v(2))
	m.MerchantName = maybe(r, v(25))
	m.MerchantCity = maybe(r, v(15))
	m.PostalCode = maybe(r, v(10))
	m.Additional = genObjects(r, 4, 0, 99, 15)
	m.Language = genObjects(r, 3, 0, 99, 15)
	m.Reserved = genObjects(r, 1, 65, 79, 10)
	m.Unreserved = genObjects(r, 2, 80, 99, 30)
	sortObjects(m.Reserved)
	sortObjects(m.Unreserved)
	return m
}

// checkRoundTrip asserts decode(encode(x)) == x and that the encoding is a
// fixed point. It reports false if x is too long to encode.
func checkRoundTrip(t *testing.T, x *MPM) bool {
	t.Helper()
	p, err := EncodeMPM(x)
	if ReasonOf(err) == ReasonTooLong {
		return false
	}
	if err != nil {
		t.Fatalf("EncodeMPM(%+v): %v", x, err)
	}
	d, err := DecodeMPM(p)
	if err != nil {
		t.Fatalf("DecodeMPM(EncodeMPM(%+v)) = %v\npayload %q", x, err, p)
	}
	if got := fieldsOf(d); !reflect.DeepEqual(got, *x) {
		t.Fatalf("round trip mismatch\n  in %+v\n out %+v\npayload %q", *x, got, p)
	}
	for _, w := range []string{WarnTagOrder, WarnCRCLowercase, WarnGUIDNotFirst} {
		if d.HasWarning(w) {
			t.Fatalf("canonical payload %q warns %q", p, d.Warnings)
		}
	}
	if p2, err := EncodeMPM(d); err != nil || p2 != p {
		t.Fatalf("re-encoding is not a fixed point: %q, %v\nwant %q", p2, err, p)
	}
	return true
}

func TestRoundTripProperty(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3, 20240917} {
		t.Run("seed", func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, seed^0x9E3779B97F4A7C15))
			encoded := 0
			const n = 1500
			for range n {
				if checkRoundTrip(t, genMPM(r)) {
					encoded++
				}
			}
			if encoded < n*9/10 {
				t.Errorf("only %d of %d generated MPMs fit in %d characters", encoded, n, MaxPayloadLen)
			}
		})
	}
}

func TestRoundTripQuick(t *testing.T) {
	f := func(a, b uint64) bool {
		checkRoundTrip(t, genMPM(rand.New(rand.NewPCG(a, b))))
		return true
	}
	if err := quick.Check(f, &quick.Config{MaxCount: 500}); err != nil {
		t.Error(err)
	}
}

// TestDecodeArbitrary feeds random strings (mostly valid-looking TLV, with
// a fixed-up CRC) through the same checks as the fuzz target.
func TestDecodeArbitrary(t *testing.T) {
	f := func(s string, fix bool) bool {
		if fix {
			s = withCRC(s)
		}
		checkDecoded(t, s)
		return true
	}
	if err := quick.Check(f, &quick.Config{MaxCount: 2000}); err != nil {
		t.Error(err)
	}
}
