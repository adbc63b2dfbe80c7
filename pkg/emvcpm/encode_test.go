package emvcpm

import (
	"errors"
	"strings"
	"testing"
)

func TestEncodeNamedFields(t *testing.T) {
	c := &CPM{
		PayloadFormat: FormatCPV01,
		Applications: []Application{
			{AID: fromHex("A0000000031010"), Label: "VISA", PAN: "4761739001010010"},
			{AID: fromHex("A0000000041010"), Track2: fromHex("5413330089010434D2512201"), PAN: "123"},
		},
		Transparent: []TLV{{Tag: TagUnpredictableNumber, Value: fromHex("12345678")}},
	}
	out, err := Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	want := b64("85 05 4350563031" +
		"61 19 4F 07 A0000000031010 50 04 56495341 5A 08 4761739001010010" +
		"61 1B 4F 07 A0000000041010 57 0C 5413330089010434D2512201 5A 02 123F" +
		"62 09 64 07 9F37 04 12345678")
	if out != want {
		t.Fatalf("Encode =\n%s\nwant\n%s", out, want)
	}
	d := mustDecode(t, out)
	for i, a := range d.Applications {
		w := c.Applications[i]
		if asHex(a.AID) != asHex(w.AID) || a.Label != w.Label || asHex(a.Track2) != asHex(w.Track2) || a.PAN != w.PAN {
			t.Errorf("application %d: %+v, want %+v", i, a, w)
		}
	}
	if tree(d.Transparent) != "9F37[12345678]" || tree(d.Common) != "64{9F37[12345678]}" {
		t.Errorf("transparent %s, common %s", tree(d.Transparent), tree(d.Common))
	}
}

func TestEncodeFieldsWin(t *testing.T) {
	// Fields, when set, is what is written; Transparent is ignored when a
	// 64 exists; top-level extras from Objects follow 62.
	c := &CPM{
		PayloadFormat: FormatCPV01,
		Applications: []Application{{
			AID:    fromHex("FFFFFFFFFF"), // ignored
			Fields: []TLV{{Tag: TagAID, Value: fromHex("A0000000031010")}, {Tag: TagAppTransparent, Children: []TLV{{Tag: 0x9F36, Value: fromHex("0001")}}}},
		}},
		Common:      []TLV{{Tag: TagCommonTransparent, Children: []TLV{{Tag: 0x9F37, Value: fromHex("01")}}}},
		Transparent: []TLV{{Tag: 0x9F10, Value: fromHex("02")}}, // ignored
		Objects: []TLV{
			{Tag: TagPayloadFormat, Value: []byte("CPV02")}, // ignored
			{Tag: 0x9F26, Value: fromHex("AA")},
			{Tag: TagApplication}, // ignored
		},
	}
	out, err := Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	want := b64("85 05 4350563031" +
		"61 10 4F 07 A0000000031010 63 05 9F36 02 0001" +
		"62 06 64 04 9F37 01 01" +
		"9F26 01 AA")
	if out != want {
		t.Errorf("Encode =\n%s\nwant\n%s", out, want)
	}
}

func TestEncodeLengths(t *testing.T) {
	// Lengths up to 127 take one byte, up to 255 two (81 xx), else three
	// (82 xx xx); the 61 around the value grows accordingly.
	for _, tt := range []struct {
		n         int
		app, item string
	}{
		{0, "61 0D", "DF8101 00"},
		{127, "61 81 8C", "DF8101 7F"},
		{128, "61 81 8E", "DF8101 81 80"},
		{255, "61 82 010D", "DF8101 81 FF"},
		{256, "61 82 010F", "DF8101 82 0100"},
	} {
		t.Run(tt.item, func(t *testing.T) {
			c := &CPM{PayloadFormat: FormatCPV01, Applications: []Application{{
				Fields: []TLV{{Tag: TagAID, Value: fromHex("A0000000031010")}, {Tag: 0xDF8101, Value: make([]byte, tt.n)}},
			}}}
			out, err := Encode(c)
			if err != nil {
				t.Fatal(err)
			}
			want := b64("85 05 4350563031" + tt.app + "4F 07 A0000000031010" + tt.item + strings.Repeat("00", tt.n))
			if out != want {
				t.Errorf("Encode = %s, want %s", out, want)
			}
			if d := mustDecode(t, out); len(d.Warnings) != 0 {
				t.Errorf("warnings %q", d.Warnings)
			}
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	aid := TLV{Tag: TagAID, Value: fromHex("A0000000031010")}
	ok := func() *CPM {
		return &CPM{PayloadFormat: FormatCPV01, Applications: []Application{{Fields: []TLV{aid}}}}
	}
	loop := make([]TLV, 1)
	loop[0] = TLV{Tag: 0x70}
	loop[0].Children = loop // a cycle
	tests := []struct {
		name   string
		c      *CPM
		reason Reason
		field  string
	}{
		{"nil", nil, ReasonEmpty, ""},
		{"no format", &CPM{Applications: ok().Applications}, ReasonMissingFormat, "85"},
		{"bad format", &CPM{PayloadFormat: "CPV02", Applications: ok().Applications}, ReasonBadFormat, "85"},
		{"no application", &CPM{PayloadFormat: FormatCPV01}, ReasonNoApplication, "61"},
		{"application without AID", func() *CPM { c := ok(); c.Applications[0] = Application{Label: "X"}; return c }(), ReasonBadTemplate, "61[0].4F"},
		{"fields without AID", func() *CPM {
			c := ok()
			c.Applications = append(c.Applications, Application{Fields: []TLV{{Tag: TagLabel, Value: []byte("X")}}})
			return c
		}(), ReasonBadTemplate, "61[1]"},
		{"PAN not digits", func() *CPM { c := ok(); c.Applications[0] = Application{AID: aid.Value, PAN: "12a4"}; return c }(), ReasonBadTemplate, "61[0].5A"},
		{"bad tag", func() *CPM { c := ok(); c.Applications[0].Fields = []TLV{aid, {Tag: 0x9F80}}; return c }(), ReasonBadTag, "61[0].9F80"},
		{"zero tag", func() *CPM { c := ok(); c.Common = []TLV{{Tag: 0}}; return c }(), ReasonBadTag, "62.0"},
		{"primitive with children", func() *CPM {
			c := ok()
			c.Common = []TLV{{Tag: 0x5A, Children: []TLV{aid}}}
			return c
		}(), ReasonBadTemplate, "62.5A"},
		{"cycle", func() *CPM { c := ok(); c.Objects = loop; return c }(), ReasonTooDeep, "70.70.70.70.70.70.70.70.70"},
		{"too long", func() *CPM {
			c := ok()
			c.Applications[0].Fields = []TLV{aid, {Tag: 0x50, Value: make([]byte, 500)}}
			return c
		}(), ReasonTooLong, "61[0]"},
		{"too long at the end", func() *CPM {
			c := ok()
			c.Objects = []TLV{{Tag: 0x9F26, Value: make([]byte, 500)}}
			return c
		}(), ReasonTooLong, ""},
		{"huge value", func() *CPM {
			c := ok()
			c.Applications[0].Fields = []TLV{aid, {Tag: 0x50, Value: make([]byte, 1<<20)}}
			return c
		}(), ReasonTooLong, "61[0].50"},
		{"many applications", func() *CPM {
			c := ok()
			for range 100 {
				c.Applications = append(c.Applications, c.Applications[0])
			}
			return c
		}(), ReasonTooLong, "61[45]"},
		{"raw constructed value that is not TLV; 85 in Objects ignored", func() *CPM {
			c := ok()
			c.Objects = []TLV{{Tag: TagPayloadFormat, Value: []byte("X")}}
			c.Applications[0].Fields = []TLV{aid, {Tag: TagCommonTransparent, Value: fromHex("4F")}}
			return c
		}(), ReasonTruncated, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Encode(tt.c)
			var ee *EncodeError
			if !errors.As(err, &ee) {
				t.Fatalf("Encode = %q, %v; want *EncodeError", out, err)
			}
			if out != "" || ee.Reason != tt.reason || ee.Field != tt.field {
				t.Errorf("got %s at %q, want %s at %q (%v)", ee.Reason, ee.Field, tt.reason, tt.field, err)
			}
			if ReasonOf(err) != tt.reason || !strings.HasPrefix(err.Error(), "emvcpm: encode") {
				t.Errorf("error %q", err)
			}
		})
	}
}
