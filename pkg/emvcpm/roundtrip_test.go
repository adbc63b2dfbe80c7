package emvcpm

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// canonicalising are the warnings about what Encode's canonical form
// removes.
var canonicalising = []string{WarnPadding, WarnNonMinimalLength, WarnTagOrder, WarnEmptyTemplate}

func hasCanonicalising(c *CPM) bool {
	for _, w := range canonicalising {
		if c.HasWarning(w) {
			return true
		}
	}
	return false
}

// checkRoundTrip checks the Encode contract for a decoded x:
// y = Decode(Encode(x)) has the same fields as x, is identical to x when
// x has no canonicalising warning, carries no canonicalising warning
// itself, and Encode(y) == Encode(x).
func checkRoundTrip(t testing.TB, x *CPM) {
	t.Helper()
	out, err := Encode(x)
	if err != nil {
		t.Fatalf("decoded CPM does not encode: %v\n%+v", err, x)
	}
	y, err := Decode(out)
	if err != nil {
		t.Fatalf("Encode produced %q, which does not decode: %v", out, err)
	}
	if !hasCanonicalising(x) {
		if !reflect.DeepEqual(x, y) {
			t.Fatalf("decode(encode(x)) != x\n x %+v\n y %+v", x, y)
		}
	} else if a, b := view(x), view(y); a != b {
		t.Fatalf("fields differ after re-encoding\n x %s\n y %s", a, b)
	}
	if hasCanonicalising(y) {
		t.Fatalf("canonical payload %q still warns: %q", out, y.Warnings)
	}
	if out2, err := Encode(y); err != nil || out2 != out {
		t.Fatalf("canonical form is not a fixed point: %q -> %q (%v)", out, out2, err)
	}
}

// view renders the fields of c that survive canonical encoding: objects
// in canonical top-level order, constructed values by their children, no
// empty 62.
func view(c *CPM) string {
	var b strings.Builder
	fmt.Fprintf(&b, "format=%s\n", c.PayloadFormat)
	for i, a := range c.Applications {
		fmt.Fprintf(&b, "app%d aid=%X label=%q track2=%X pan=%s fields=%s\n", i, a.AID, a.Label, a.Track2, a.PAN, tree(a.Fields))
	}
	fmt.Fprintf(&b, "common=%s\ntransparent=%s\n", tree(c.Common), tree(c.Transparent))
	objs := slices.Clone(c.Objects)
	objs = slices.DeleteFunc(objs, func(o TLV) bool { return o.Tag == TagCommon && len(o.Children) == 0 })
	slices.SortStableFunc(objs, func(a, b TLV) int { return rank(a.Tag) - rank(b.Tag) })
	fmt.Fprintf(&b, "objects=%s\n", tree(objs))
	return b.String()
}

func tree(objs []TLV) string {
	var b strings.Builder
	for _, o := range objs {
		if o.Constructed() {
			fmt.Fprintf(&b, "%s{%s}", o.TagHex(), tree(o.Children))
		} else {
			fmt.Fprintf(&b, "%s[%X]", o.TagHex(), o.Value)
		}
	}
	return b.String()
}

// gen builds random CPM payloads byte by byte, optionally with the
// deviations canonical encoding removes.
type gen struct {
	r         *rand.Rand
	deviation bool
}

var (
	primitiveTags = []uint32{0x50, 0x57, 0x5A, 0x5F20, 0x5F2D, 0x5F50, 0x9F08, 0x9F19, 0x9F24, 0x9F25, 0x9F10, 0x9F26, 0xDF8101, 0xDF818203}
	templateTags  = []uint32{0x63, 0x64, 0x70, 0xBF0C}
)

func (g *gen) obj(tag uint32, value []byte) []byte {
	var b []byte
	for i := tagLen(tag) - 1; i >= 0; i-- {
		b = append(b, byte(tag>>(8*i)))
	}
	n := len(value)
	switch {
	case g.deviation && g.r.IntN(6) == 0 && n < 0x100:
		b = append(b, 0x82, 0, byte(n))
	case g.deviation && g.r.IntN(6) == 0 && n < 0x80:
		b = append(b, 0x81, byte(n))
	case n < 0x80:
		b = append(b, byte(n))
	case n < 0x100:
		b = append(b, 0x81, byte(n))
	default:
		b = append(b, 0x82, byte(n>>8), byte(n))
	}
	b = append(b, value...)
	if g.deviation && g.r.IntN(8) == 0 {
		b = append(b, make([]byte, 1+g.r.IntN(2))...)
	}
	return b
}

func (g *gen) bytes(max int) []byte {
	b := make([]byte, g.r.IntN(max+1))
	for i := range b {
		b[i] = byte(g.r.Uint32())
	}
	return b
}

// fields returns n random objects, nested up to depth more levels.
func (g *gen) fields(n, depth int) []byte {
	var b []byte
	for range n {
		if depth > 0 && g.r.IntN(4) == 0 {
			tag := templateTags[g.r.IntN(len(templateTags))]
			b = append(b, g.obj(tag, g.fields(g.r.IntN(4), depth-1))...)
			continue
		}
		tag := primitiveTags[g.r.IntN(len(primitiveTags))]
		v := g.bytes(24)
		if g.r.IntN(20) == 0 {
			v = g.bytes(300)
		}
		b = append(b, g.obj(tag, v)...)
	}
	return b
}

func (g *gen) payload() []byte {
	var top [][]byte
	for range 1 + g.r.IntN(3) {
		aid := g.obj(TagAID, g.bytes(16))
		top = append(top, g.obj(TagApplication, append(aid, g.fields(g.r.IntN(6), 2)...)))
	}
	if g.r.IntN(2) == 0 {
		top = append(top, g.obj(TagCommon, g.fields(g.r.IntN(5), 2)))
	}
	if g.r.IntN(5) == 0 {
		top = append(top, g.obj(TagCommonTransparent, g.fields(g.r.IntN(3), 1)))
	}
	if g.r.IntN(5) == 0 {
		top = append(top, g.fields(1, 1))
	}
	if g.deviation {
		g.r.Shuffle(len(top), func(i, j int) { top[i], top[j] = top[j], top[i] })
	}
	b := g.obj(TagPayloadFormat, []byte(FormatCPV01))
	for _, o := range top {
		b = append(b, o...)
	}
	return b
}

// TestRoundTripProperty checks decode(encode(x)) == x for random decoded
// payloads: exactly for canonical ones, field by field for ones with
// padding, non-minimal lengths or out-of-order templates.
func TestRoundTripProperty(t *testing.T) {
	for _, deviation := range []bool{false, true} {
		t.Run(fmt.Sprintf("deviations=%v", deviation), func(t *testing.T) {
			g := &gen{r: rand.New(rand.NewPCG(1, uint64(len(fmt.Sprint(deviation))))), deviation: deviation}
			done := 0
			for done < 2000 {
				b := g.payload()
				if len(b) > MaxLen {
					continue
				}
				done++
				payload := base64.StdEncoding.EncodeToString(b)
				x, err := Decode(payload)
				if err != nil {
					t.Fatalf("generated payload % X does not decode: %v", b, err)
				}
				if !hasCanonicalising(x) {
					if out, _ := Encode(x); out != payload {
						t.Fatalf("canonical payload changed by re-encoding:\n%s\n%s", payload, out)
					}
				}
				checkRoundTrip(t, x)
			}
		})
	}
}
