package emvcpm

import (
	"fmt"
)

// Decode parses and validates a consumer-presented mode payload: base64
// text (standard alphabet, padding required) of BER-TLV data objects.
//
// Checks run in this order, and the first failure is returned as a
// *DecodeError: the text (EMPTY, TOO_LONG, BAD_BASE64, TOO_LONG); the first
// object's tag (MISSING_FORMAT); the BER-TLV structure at every depth
// (TRUNCATED, BAD_TAG, BAD_LENGTH, LENGTH_OVERRUN, TOO_DEEP); the top-level
// content in payload order (BAD_FORMAT, DUPLICATE_FORMAT, BAD_TEMPLATE);
// then NO_APPLICATION. Accepted deviations are reported in CPM.Warnings.
func Decode(payload string) (*CPM, error) {
	data, derr := decodeText(payload)
	if derr != nil {
		return nil, derr
	}
	c, derr := decodeBytes(data)
	if derr != nil {
		return nil, derr
	}
	return c, nil
}

// b64val maps a byte of the standard base64 alphabet to its 6-bit value, and
// every other byte to 0xFF.
var b64val = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xFF
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

// decodeText checks and decodes the base64 text. It allocates only the
// decoded bytes (at most MaxLen) or the error.
func decodeText(s string) ([]byte, *DecodeError) {
	if s == "" {
		return nil, &DecodeError{ReasonEmpty, 0, "payload is empty"}
	}
	if len(s) > MaxTextLen {
		return nil, &DecodeError{ReasonTooLong, MaxLen,
			fmt.Sprintf("payload has %d base64 characters (over %d bytes); the limit is %d characters, %d bytes",
				len(s), MaxLen, MaxTextLen, MaxLen)}
	}
	body := len(s)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '=' {
			body = i
			break
		}
		if b64val[c] == 0xFF {
			return nil, &DecodeError{ReasonBadBase64, i, badChar(c)}
		}
	}
	for i := body; i < len(s); i++ {
		if s[i] != '=' {
			return nil, &DecodeError{ReasonBadBase64, i,
				fmt.Sprintf("%s after the padding that starts at %d", describe(s[i]), body)}
		}
	}
	if pad := len(s) - body; pad > 2 {
		return nil, &DecodeError{ReasonBadBase64, body,
			fmt.Sprintf("%d padding characters; base64 has at most 2", pad)}
	}
	if len(s)%4 != 0 {
		return nil, &DecodeError{ReasonBadBase64, len(s),
			fmt.Sprintf("length %d is not a multiple of 4: the text is cut short or its '=' padding is missing", len(s))}
	}
	// body%4 is now 0, 2 or 3 (a padded text has 1 or 2 '=').
	n := body / 4 * 3
	switch body % 4 {
	case 2:
		n++
	case 3:
		n += 2
	}
	if n > MaxLen {
		return nil, &DecodeError{ReasonTooLong, MaxLen,
			fmt.Sprintf("payload decodes to %d bytes, the limit is %d", n, MaxLen)}
	}
	out := make([]byte, n)
	o, i := 0, 0
	for ; i+4 <= body; i += 4 {
		v := uint32(b64val[s[i]])<<18 | uint32(b64val[s[i+1]])<<12 | uint32(b64val[s[i+2]])<<6 | uint32(b64val[s[i+3]])
		out[o], out[o+1], out[o+2] = byte(v>>16), byte(v>>8), byte(v)
		o += 3
	}
	switch body - i {
	case 2:
		v := uint32(b64val[s[i]])<<6 | uint32(b64val[s[i+1]])
		if v&0xF != 0 {
			return nil, &DecodeError{ReasonBadBase64, i + 1,
				fmt.Sprintf("%q before \"==\" leaves non-zero unused bits (not canonical base64)", s[i+1])}
		}
		out[o] = byte(v >> 4)
	case 3:
		v := uint32(b64val[s[i]])<<12 | uint32(b64val[s[i+1]])<<6 | uint32(b64val[s[i+2]])
		if v&0x3 != 0 {
			return nil, &DecodeError{ReasonBadBase64, i + 2,
				fmt.Sprintf("%q before \"=\" leaves non-zero unused bits (not canonical base64)", s[i+2])}
		}
		out[o], out[o+1] = byte(v>>10), byte(v>>2)
	}
	return out, nil
}

func badChar(c byte) string {
	switch c {
	case '-', '_':
		return fmt.Sprintf("%q belongs to the URL-safe base64 alphabet; the standard alphabet (+ and /) is required", c)
	case '\r', '\n', ' ', '\t':
		return fmt.Sprintf("white space %q is not allowed in the payload", c)
	}
	return describe(c) + " is not in the base64 alphabet"
}

func describe(c byte) string {
	if c < 0x20 || c >= 0x7F {
		return fmt.Sprintf("byte 0x%02X", c)
	}
	return fmt.Sprintf("character %q", c)
}

// parser walks the decoded bytes. Pass 1 (check) validates the structure
// and counts objects; pass 2 (build) fills an arena of exactly that many
// TLVs, so decoding allocates a fixed handful of blocks.
type parser struct {
	data     []byte
	arena    []TLV
	warnings []string
	dropped  int // warnings beyond MaxWarnings
}

type header struct {
	tag        uint32
	pos        int // offset of the tag
	lpos       int // offset of the length field
	vstart     int // value is data[vstart:vend]
	vend       int
	nonMinimal bool
}

// where names the enclosing object for messages.
func where(ptag uint32, ppos int) string {
	if ppos < 0 {
		return "the payload"
	}
	return fmt.Sprintf("template %s at %d", TagHex(ptag), ppos)
}

// header reads the tag and length of the object at off, which must end by
// end (the end of the enclosing object). data[off] is not 00.
func (p *parser) header(off, end int, ptag uint32, ppos int) (header, *DecodeError) {
	d := p.data
	h := header{pos: off}
	i := off
	b := d[i]
	i++
	tag := uint32(b)
	if b&0x1F == 0x1F {
		for {
			if i-off == 4 {
				return h, &DecodeError{ReasonBadTag, off,
					fmt.Sprintf("tag at %d (%X...) is longer than 4 bytes", off, d[off:i])}
			}
			if i >= end {
				return h, &DecodeError{ReasonTruncated, off,
					fmt.Sprintf("multi-byte tag at %d is cut short by the end of %s", off, where(ptag, ppos))}
			}
			b = d[i]
			i++
			tag = tag<<8 | uint32(b)
			if b&0x80 == 0 {
				break
			}
		}
	}
	h.tag = tag
	if i >= end {
		return h, &DecodeError{ReasonTruncated, off,
			fmt.Sprintf("object %s at %d has no length: it is cut short by the end of %s", TagHex(tag), off, where(ptag, ppos))}
	}
	h.lpos = i
	l := d[i]
	i++
	n := 0
	switch {
	case l < 0x80:
		n = int(l)
	case l == 0x80:
		return h, &DecodeError{ReasonBadLength, h.lpos,
			fmt.Sprintf("object %s at %d has the indefinite length 80, which is not allowed", TagHex(tag), off)}
	case l == 0x81 || l == 0x82:
		k := int(l & 0x7F)
		if end-i < k {
			return h, &DecodeError{ReasonTruncated, off,
				fmt.Sprintf("%d-byte length of object %s at %d is cut short by the end of %s", k, TagHex(tag), off, where(ptag, ppos))}
		}
		if k == 1 {
			n = int(d[i])
			h.nonMinimal = n < 0x80
		} else {
			n = int(d[i])<<8 | int(d[i+1])
			h.nonMinimal = n < 0x100
		}
		i += k
	default:
		return h, &DecodeError{ReasonBadLength, h.lpos,
			fmt.Sprintf("object %s at %d has a %d-byte length field (%02X); at most 2 bytes (81, 82) are allowed",
				TagHex(tag), off, l&0x7F, l)}
	}
	if n > end-i {
		return h, &DecodeError{ReasonLengthOverrun, h.lpos,
			fmt.Sprintf("object %s at %d declares %d bytes but only %d remain in %s", TagHex(tag), off, n, end-i, where(ptag, ppos))}
	}
	h.tag, h.vstart, h.vend = tag, i, i+n
	return h, nil
}

// check validates the objects in data[off:end], found at the given depth,
// and returns how many objects there are, nested ones included.
func (p *parser) check(off, end, depth int, ptag uint32, ppos int) (int, *DecodeError) {
	count := 0
	for off < end {
		if p.data[off] == 0 {
			off++
			continue
		}
		if depth > MaxDepth {
			return 0, &DecodeError{ReasonTooDeep, off,
				fmt.Sprintf("object at %d inside %s is nested %d levels deep; the limit is %d", off, where(ptag, ppos), depth, MaxDepth)}
		}
		h, err := p.header(off, end, ptag, ppos)
		if err != nil {
			return 0, err
		}
		count++
		if constructed(h.tag) && h.vend > h.vstart {
			n, err := p.check(h.vstart, h.vend, depth+1, h.tag, h.pos)
			if err != nil {
				return 0, err
			}
			count += n
		}
		off = h.vend
	}
	return count, nil
}

// build fills the objects of data[off:end] from the arena. The structure
// has been checked, so header cannot fail.
func (p *parser) build(off, end int) []TLV {
	n := 0
	for o := off; o < end; {
		if p.data[o] == 0 {
			o++
			continue
		}
		h, _ := p.header(o, end, 0, -1)
		n++
		o = h.vend
	}
	if n == 0 {
		if off < end && p.room() {
			p.warn(WarnPadding, "%d zero byte(s) at %d skipped", end-off, off)
		}
		return nil
	}
	objs := p.arena[:n:n]
	p.arena = p.arena[n:]
	i := 0
	for o := off; o < end; {
		if p.data[o] == 0 {
			z := o
			for o < end && p.data[o] == 0 {
				o++
			}
			if p.room() {
				p.warn(WarnPadding, "%d zero byte(s) at %d skipped", o-z, z)
			}
			continue
		}
		h, _ := p.header(o, end, 0, -1)
		t := &objs[i]
		i++
		t.Tag = h.tag
		if h.vend > h.vstart {
			t.Value = p.data[h.vstart:h.vend:h.vend]
		}
		if h.nonMinimal && p.room() {
			p.warn(WarnNonMinimalLength, "object %s at %d uses %d length bytes for length %d",
				TagHex(h.tag), h.pos, h.vstart-h.lpos, h.vend-h.vstart)
		}
		if constructed(h.tag) && h.vend > h.vstart {
			t.Children = p.build(h.vstart, h.vend)
			p.duplicates(t, h.pos)
		}
		o = h.vend
	}
	return objs
}

// duplicates warns about tags that repeat among t's children.
func (p *parser) duplicates(t *TLV, pos int) {
	ch := t.Children
	for i := 1; i < len(ch); i++ {
		for j := 0; j < i; j++ {
			if ch[j].Tag == ch[i].Tag {
				if p.room() {
					p.warn(WarnDuplicateTag, "tag %s appears again in template %s at %d (object %d); the first is used",
						TagHex(ch[i].Tag), TagHex(t.Tag), pos, i+1)
				}
				break
			}
		}
	}
}

// room reports whether another warning may be listed, and counts it as
// dropped if not. Callers test it before formatting the warning's
// arguments, so that dropped warnings cost nothing.
func (p *parser) room() bool {
	if len(p.warnings) >= MaxWarnings {
		p.dropped++
		return false
	}
	return true
}

// warn records a warning; the caller has checked room.
func (p *parser) warn(prefix, format string, args ...any) {
	p.warnings = append(p.warnings, prefix+": "+fmt.Sprintf(format, args...))
}

// rank is the canonical position of a top-level tag: 85, then 61, then 62,
// then anything else.
func rank(tag uint32) int {
	switch tag {
	case TagPayloadFormat:
		return 0
	case TagApplication:
		return 1
	case TagCommon:
		return 2
	}
	return 3
}

func decodeBytes(data []byte) (*CPM, *DecodeError) {
	p := &parser{data: data}

	// Stage 1: the first object must be the payload format indicator.
	// 85 is a one-byte tag, so looking at one byte suffices, and a
	// payload that is not CPM at all is named as such rather than by
	// whatever structural error its bytes happen to contain.
	first := 0
	for first < len(data) && data[first] == 0 {
		first++
	}
	if first == len(data) {
		return nil, &DecodeError{ReasonMissingFormat, len(data),
			fmt.Sprintf("payload holds only %d zero byte(s), no payload format indicator (85)", len(data))}
	}
	if data[first] != byte(TagPayloadFormat) {
		return nil, &DecodeError{ReasonMissingFormat, first,
			fmt.Sprintf("first object starts with byte %02X; a CPM payload starts with the payload format indicator 85", data[first])}
	}

	// Stage 2: structure.
	total, err := p.check(0, len(data), 1, 0, -1)
	if err != nil {
		return nil, err
	}
	p.arena = make([]TLV, total)
	top := p.build(0, len(data))

	// Stage 3: top-level content.
	c := &CPM{Objects: top}
	nApps := 0
	formatSeen := false
	var common, topTransparent *TLV
	lastRank, lastTag, lastPos := 0, uint32(0), 0
	idx := 0
	for o := 0; o < len(data); {
		if data[o] == 0 {
			o++
			continue
		}
		h, _ := p.header(o, len(data), 0, -1)
		t := &top[idx]
		idx++
		o = h.vend
		switch t.Tag {
		case TagPayloadFormat:
			if formatSeen {
				return nil, &DecodeError{ReasonDuplicateFormat, h.pos,
					fmt.Sprintf("second payload format indicator (85) at %d", h.pos)}
			}
			formatSeen = true
			if string(t.Value) != FormatCPV01 {
				return nil, &DecodeError{ReasonBadFormat, h.vstart,
					fmt.Sprintf("payload format indicator is %q, expected %q", t.Value, FormatCPV01)}
			}
			c.PayloadFormat = FormatCPV01
		case TagApplication:
			nApps++
			if _, ok := t.Child(TagAID); !ok {
				return nil, &DecodeError{ReasonBadTemplate, h.pos,
					fmt.Sprintf("application template (61) at %d has no AID (4F)", h.pos)}
			}
		case TagCommon:
			if common != nil {
				return nil, &DecodeError{ReasonBadTemplate, h.pos,
					fmt.Sprintf("second common data template (62) at %d", h.pos)}
			}
			common = t
			if len(t.Children) == 0 && p.room() {
				p.warn(WarnEmptyTemplate, "common data template (62) at %d holds no objects", h.pos)
			}
		case TagCommonTransparent:
			if p.room() {
				p.warn(WarnPlacement, "common data transparent template (64) at %d is at the top level, not inside 62", h.pos)
			}
			if topTransparent == nil {
				topTransparent = t
			} else if p.room() {
				p.warn(WarnDuplicateTag, "second top-level 64 at %d; the first is used", h.pos)
			}
		default:
			if p.room() {
				p.warn(WarnUnexpectedTag, "tag %s at %d is not defined at the top level", TagHex(t.Tag), h.pos)
			}
		}
		if r := rank(t.Tag); r < lastRank {
			if p.room() {
				p.warn(WarnTagOrder, "tag %s at %d comes after tag %s at %d", TagHex(t.Tag), h.pos, TagHex(lastTag), lastPos)
			}
		} else {
			lastRank, lastTag, lastPos = r, t.Tag, h.pos
		}
	}
	if nApps == 0 {
		return nil, &DecodeError{ReasonNoApplication, len(data), "no application template (61)"}
	}

	c.Applications = make([]Application, 0, nApps)
	for i := range top {
		if top[i].Tag == TagApplication {
			c.Applications = append(c.Applications, p.application(top[i].Children, len(c.Applications)))
		}
	}
	if common != nil {
		c.Common = common.Children
		if t, ok := find(common.Children, TagCommonTransparent); ok {
			c.Transparent = t.Children
		}
	}
	if c.Transparent == nil && topTransparent != nil {
		c.Transparent = topTransparent.Children
	}
	if p.dropped > 0 {
		p.warnings = append(p.warnings, fmt.Sprintf("%s: %d more warning(s) not listed", WarnTooMany, p.dropped))
	}
	c.Warnings = p.warnings
	return c, nil
}

// application extracts the named fields of the i-th application template.
func (p *parser) application(fields []TLV, i int) Application {
	a := Application{Fields: fields}
	aid, _ := find(fields, TagAID) // present: checked in stage 3
	a.AID = aid.Value
	if n := len(aid.Value); (n < 5 || n > 16) && p.room() {
		p.warn(WarnAIDLength, "AID of application %d has %d bytes, expected 5-16", i+1, n)
	}
	if t, ok := find(fields, TagLabel); ok {
		a.Label = string(t.Value)
		if !printableASCII(t.Value) && p.room() {
			p.warn(WarnLabelFormat, "label of application %d is not printable ASCII", i+1)
		}
	}
	if t, ok := find(fields, TagTrack2); ok {
		a.Track2 = t.Value
	}
	if t, ok := find(fields, TagPAN); ok {
		pan, ok := bcdDigits(t.Value)
		if ok {
			a.PAN = pan
		} else if p.room() {
			// Card data: the warning gives the length, never the bytes.
			p.warn(WarnPANFormat, "PAN (5A) of application %d (%d bytes) is not BCD digits with optional trailing F padding", i+1, len(t.Value))
		}
	}
	return a
}

func printableASCII(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7E {
			return false
		}
	}
	return true
}

// bcdDigits decodes BCD digits followed by optional F padding nibbles.
// At least one digit is required.
func bcdDigits(v []byte) (string, bool) {
	if len(v) == 0 || len(v) > 32 {
		return "", false
	}
	var buf [64]byte
	n := 0
	padding := false
	for _, b := range v {
		for _, d := range [2]byte{b >> 4, b & 0xF} {
			switch {
			case d == 0xF:
				padding = true
			case d > 9 || padding:
				return "", false
			default:
				buf[n] = '0' + d
				n++
			}
		}
	}
	if n == 0 {
		return "", false
	}
	return string(buf[:n]), true
}
