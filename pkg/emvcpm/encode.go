package emvcpm

import (
	"encoding/base64"
	"fmt"
)

// Encode renders c as canonical base64: standard alphabet with padding,
// every length in its shortest form (one byte up to 127, 81 xx up to 255,
// else 82 xx xx), no padding bytes, and the top-level objects in the order
//
//  1. 85 with c.PayloadFormat (which must be "CPV01");
//  2. one 61 per application: its Fields in order or, if Fields is empty,
//     4F AID, 50 Label, 57 Track2 and 5A PAN (BCD, F-padded) from the named
//     fields, skipping empty ones;
//  3. 62 holding c.Common in order, if Common is not empty. If c.Transparent
//     is not empty and no 64 appears in Common or at the top level of
//     Objects, a 64 holding Transparent is added at the end of 62 (which is
//     created if need be); otherwise Transparent is ignored, as it is then
//     a view of that 64;
//  4. the objects of c.Objects whose tags are not 85, 61 or 62, in order
//     (top-level objects with no field of their own).
//
// A constructed object (bit 6 of its first tag byte set) is written from
// its Children when it has any, else from its Value verbatim (all-zero
// padding is dropped). c.Warnings is ignored.
//
// Encode refuses exactly what Decode would refuse, so for every decoded c,
// Decode(Encode(c)) has the same fields; it is identical to c unless c
// carries one of the warnings PADDING, NON_MINIMAL_LENGTH, TAG_ORDER or
// EMPTY_TEMPLATE, which describe what canonical encoding removes.
func Encode(c *CPM) (string, error) {
	if c == nil {
		return "", &EncodeError{ReasonEmpty, "", "nil CPM"}
	}
	switch c.PayloadFormat {
	case FormatCPV01:
	case "":
		return "", &EncodeError{ReasonMissingFormat, "85", "payload format indicator is empty"}
	default:
		return "", &EncodeError{ReasonBadFormat, "85", fmt.Sprintf("payload format indicator is %q, must be %q", c.PayloadFormat, FormatCPV01)}
	}
	if len(c.Applications) == 0 {
		return "", &EncodeError{ReasonNoApplication, "61", "no application"}
	}
	e := encoder{buf: make([]byte, 0, 128)}
	e.tag(TagPayloadFormat)
	e.length(len(c.PayloadFormat))
	e.buf = append(e.buf, c.PayloadFormat...)

	for i := range c.Applications {
		if err := e.application(&c.Applications[i]); err != nil {
			err.Field = fmt.Sprintf("61[%d]", i) + dotted(err.Field)
			return "", err
		}
		if len(e.buf) > MaxLen {
			return "", &EncodeError{ReasonTooLong, fmt.Sprintf("61[%d]", i), fmt.Sprintf("payload would exceed %d bytes", MaxLen)}
		}
	}

	has64 := false
	for _, o := range c.Common {
		has64 = has64 || o.Tag == TagCommonTransparent
	}
	for _, o := range c.Objects {
		has64 = has64 || o.Tag == TagCommonTransparent
	}
	addTransparent := len(c.Transparent) > 0 && !has64
	if len(c.Common) > 0 || addTransparent {
		start := e.open(TagCommon)
		if err := e.list(c.Common, 2); err != nil {
			err.Field = "62" + dotted(err.Field)
			return "", err
		}
		if addTransparent {
			s := e.open(TagCommonTransparent)
			if err := e.list(c.Transparent, 3); err != nil {
				err.Field = "62.64" + dotted(err.Field)
				return "", err
			}
			e.close(s)
		}
		e.close(start)
	}

	for i := range c.Objects {
		switch c.Objects[i].Tag {
		case TagPayloadFormat, TagApplication, TagCommon:
			continue
		}
		if err := e.object(&c.Objects[i], 1); err != nil {
			return "", err
		}
	}
	if len(e.buf) > MaxLen {
		return "", &EncodeError{ReasonTooLong, "", fmt.Sprintf("payload would have %d bytes, the limit is %d", len(e.buf), MaxLen)}
	}
	// Whatever Decode would refuse beyond the checks above (a 62 holding
	// a second 62 is fine, but say a 61 whose Fields lack 4F) is refused
	// here, with Decode's reason.
	if _, derr := decodeBytes(e.buf); derr != nil {
		return "", &EncodeError{derr.Reason, "", "the encoding would be refused: " + derr.Msg}
	}
	return base64.StdEncoding.EncodeToString(e.buf), nil
}

func dotted(field string) string {
	if field == "" {
		return ""
	}
	return "." + field
}

type encoder struct {
	buf []byte
}

// application writes one 61 template.
func (e *encoder) application(a *Application) *EncodeError {
	if len(a.Fields) > 0 {
		if _, ok := find(a.Fields, TagAID); !ok {
			return &EncodeError{ReasonBadTemplate, "", "Fields has no AID (4F)"}
		}
		start := e.open(TagApplication)
		if err := e.list(a.Fields, 2); err != nil {
			return err
		}
		e.close(start)
		return nil
	}
	if len(a.AID) == 0 {
		return &EncodeError{ReasonBadTemplate, "4F", "application has neither Fields nor an AID"}
	}
	var pan []byte
	if a.PAN != "" {
		var ok bool
		if pan, ok = encodeBCD(a.PAN); !ok {
			return &EncodeError{ReasonBadTemplate, "5A", "PAN must be 1-64 ASCII digits"}
		}
	}
	start := e.open(TagApplication)
	for _, f := range [...]struct {
		tag uint32
		v   []byte
	}{{TagAID, a.AID}, {TagLabel, []byte(a.Label)}, {TagTrack2, a.Track2}, {TagPAN, pan}} {
		if len(f.v) == 0 {
			continue
		}
		if len(f.v) > MaxLen {
			return &EncodeError{ReasonTooLong, TagHex(f.tag), fmt.Sprintf("value has %d bytes, the limit is %d", len(f.v), MaxLen)}
		}
		e.tag(f.tag)
		e.length(len(f.v))
		e.buf = append(e.buf, f.v...)
	}
	e.close(start)
	return nil
}

// list writes objs, found at the given depth.
func (e *encoder) list(objs []TLV, depth int) *EncodeError {
	for i := range objs {
		if err := e.object(&objs[i], depth); err != nil {
			return err
		}
	}
	return nil
}

func (e *encoder) object(o *TLV, depth int) *EncodeError {
	if !validTag(o.Tag) {
		return &EncodeError{ReasonBadTag, fmt.Sprintf("%X", o.Tag), "not the encoding of a BER tag"}
	}
	if depth > MaxDepth {
		return &EncodeError{ReasonTooDeep, o.TagHex(), fmt.Sprintf("nested %d levels deep, the limit is %d", depth, MaxDepth)}
	}
	// A bound on the work done for absurd input; the exact limit is
	// checked at the end.
	if len(e.buf) > MaxLen || len(o.Value) > MaxLen {
		return &EncodeError{ReasonTooLong, o.TagHex(), fmt.Sprintf("payload would exceed %d bytes", MaxLen)}
	}
	if !o.Constructed() {
		if len(o.Children) > 0 {
			return &EncodeError{ReasonBadTemplate, o.TagHex(), "primitive tag has Children"}
		}
		e.tag(o.Tag)
		e.length(len(o.Value))
		e.buf = append(e.buf, o.Value...)
		return nil
	}
	if len(o.Children) == 0 {
		v := o.Value
		if allZero(v) {
			v = nil
		}
		e.tag(o.Tag)
		e.length(len(v))
		e.buf = append(e.buf, v...)
		return nil
	}
	start := e.open(o.Tag)
	if err := e.list(o.Children, depth+1); err != nil {
		err.Field = o.TagHex() + dotted(err.Field)
		return err
	}
	e.close(start)
	return nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func (e *encoder) tag(tag uint32) {
	for i := tagLen(tag) - 1; i >= 0; i-- {
		e.buf = append(e.buf, byte(tag>>(8*i)))
	}
}

func (e *encoder) length(n int) {
	switch {
	case n < 0x80:
		e.buf = append(e.buf, byte(n))
	case n < 0x100:
		e.buf = append(e.buf, 0x81, byte(n))
	default:
		e.buf = append(e.buf, 0x82, byte(n>>8), byte(n))
	}
}

// open writes tag and reserves 3 bytes for the length, which close fills
// in (moving the contents back if the length needs fewer bytes).
func (e *encoder) open(tag uint32) int {
	e.tag(tag)
	e.buf = append(e.buf, 0, 0, 0)
	return len(e.buf) - 3
}

func (e *encoder) close(start int) {
	n := len(e.buf) - start - 3
	var l [3]byte
	k := 1
	switch {
	case n < 0x80:
		l[0] = byte(n)
	case n < 0x100:
		l[0], l[1], k = 0x81, byte(n), 2
	default:
		l[0], l[1], l[2], k = 0x82, byte(n>>8), byte(n), 3
	}
	copy(e.buf[start+k:], e.buf[start+3:])
	copy(e.buf[start:], l[:k])
	e.buf = e.buf[:start+k+n]
}

// encodeBCD packs decimal digits two to a byte, padding an odd count with
// a trailing F nibble.
func encodeBCD(s string) ([]byte, bool) {
	if len(s) == 0 || len(s) > 64 {
		return nil, false
	}
	out := make([]byte, (len(s)+1)/2)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return nil, false
		}
		if i%2 == 0 {
			out[i/2] = (c - '0') << 4
		} else {
			out[i/2] |= c - '0'
		}
	}
	if len(s)%2 == 1 {
		out[len(out)-1] |= 0x0F
	}
	return out, true
}
