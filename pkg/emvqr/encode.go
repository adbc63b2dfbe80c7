package emvqr

import (
	"fmt"
	"unicode/utf8"
)

// EncodeMPM renders m as a canonical payload: top-level objects in
// ascending ID order (00, 01, 02-51, 52-61, 62, 64, 65-79, 80-99), then the
// CRC object 63 with upper-case hex. Sub-objects of templates are written
// in the order given, with a 26-51 template's GUID first. m.CRC, m.Objects
// and m.Warnings are ignored.
//
// EncodeMPM accepts everything DecodeMPM accepts (so any decoded MPM
// re-encodes) and refuses anything DecodeMPM would refuse: empty
// PayloadFormat or no merchant account (MISSING_FIELD), bad or duplicate
// IDs, values that are empty inside a list or longer than 99 characters,
// invalid UTF-8, and payloads over MaxPayloadLen characters. Empty named
// fields are omitted.
func EncodeMPM(m *MPM) (string, error) {
	if m == nil {
		return "", &EncodeError{ReasonEmpty, "", "nil MPM"}
	}
	e := encoder{buf: make([]byte, 0, 256)}

	if m.PayloadFormat == "" {
		return "", &EncodeError{ReasonMissingField, "00", "payload format indicator is empty"}
	}
	e.put("00", m.PayloadFormat)
	if m.Initiation != "" {
		e.put("01", m.Initiation)
	}

	if len(m.MerchantAccounts) == 0 {
		return "", &EncodeError{ReasonMissingField, "02-51", "no merchant account information"}
	}
	var accIdx [100]int // index + 1
	for i, a := range m.MerchantAccounts {
		n, ok := tagNum(a.ID)
		if !ok || n < 2 || n > 51 {
			return "", &EncodeError{ReasonBadID, a.ID, fmt.Sprintf("merchant account ID %q is not in 02-51", a.ID)}
		}
		if accIdx[n] != 0 {
			return "", &EncodeError{ReasonDuplicateTag, a.ID, "merchant account ID appears twice"}
		}
		accIdx[n] = i + 1
	}
	for n := 2; n <= 51 && e.err == nil; n++ {
		if accIdx[n] == 0 {
			continue
		}
		a := &m.MerchantAccounts[accIdx[n]-1]
		if n <= 25 {
			if a.GUID != "" || len(a.Fields) != 0 {
				return "", &EncodeError{ReasonBadTemplate, a.ID, "IDs 02-25 are primitive: set Value, not GUID or Fields"}
			}
			e.put(a.ID, a.Value)
			continue
		}
		if a.Value != "" {
			return "", &EncodeError{ReasonBadTemplate, a.ID, "IDs 26-51 are templates: set GUID and Fields, not Value"}
		}
		if a.GUID == "" {
			return "", &EncodeError{ReasonBadTemplate, a.ID + ".00", "merchant account template has no GUID"}
		}
		e.nested(a.ID, a.GUID, a.Fields)
	}

	for _, f := range [...]struct{ id, v string }{
		{"52", m.MCC}, {"53", m.Currency}, {"54", m.Amount}, {"55", m.TipIndicator},
		{"56", m.TipFixed}, {"57", m.TipPercent}, {"58", m.Country}, {"59", m.MerchantName},
		{"60", m.MerchantCity}, {"61", m.PostalCode},
	} {
		if f.v != "" {
			e.put(f.id, f.v)
		}
	}
	if len(m.Additional) > 0 {
		e.nested("62", "", m.Additional)
	}
	if len(m.Language) > 0 {
		e.nested("64", "", m.Language)
	}
	e.ranged(m.Reserved, 65, 79)
	e.ranged(m.Unreserved, 80, 99)
	if e.err != nil {
		return "", e.err
	}

	if e.chars+8 > MaxPayloadLen {
		return "", &EncodeError{ReasonTooLong, "",
			fmt.Sprintf("payload would have %d characters, the limit is %d", e.chars+8, MaxPayloadLen)}
	}
	e.buf = append(e.buf, "6304"...)
	e.buf = appendHex4(e.buf, crcUpdate(0xFFFF, e.buf))
	return string(e.buf), nil
}

type encoder struct {
	buf   []byte
	chars int // characters in buf
	err   *EncodeError
}

// put writes one top-level primitive object.
func (e *encoder) put(id, v string) {
	e.putSub("", id, v)
}

// putSub writes object id, a sub-object of template tmpl if tmpl is not "".
func (e *encoder) putSub(tmpl, id, v string) {
	if e.err != nil {
		return
	}
	n, ok := e.check(tmpl, id, v)
	if !ok {
		return
	}
	e.buf = append(e.buf, id[0], id[1], byte('0'+n/10), byte('0'+n%10))
	e.buf = append(e.buf, v...)
	e.chars += 4 + n
}

// check validates a value and returns its length in characters.
func (e *encoder) check(tmpl, id, v string) (int, bool) {
	if v == "" {
		e.err = &EncodeError{ReasonBadLength, fieldName(tmpl, id), "value is empty"}
		return 0, false
	}
	if !utf8.ValidString(v) {
		e.err = &EncodeError{ReasonBadEncoding, fieldName(tmpl, id), "value is not valid UTF-8"}
		return 0, false
	}
	n := utf8.RuneCountInString(v)
	if n > 99 {
		e.err = &EncodeError{ReasonBadLength, fieldName(tmpl, id), fmt.Sprintf("value has %d characters, the limit is 99", n)}
		return 0, false
	}
	return n, true
}

// fieldName names a field in errors: "59", or "26.01" for a sub-object.
func fieldName(tmpl, id string) string {
	if tmpl == "" {
		return id
	}
	return tmpl + "." + id
}

// nested writes template id holding guid (as sub-object 00, if not empty)
// followed by objs in order.
func (e *encoder) nested(id, guid string, objs []Object) {
	if e.err != nil {
		return
	}
	start, startChars := len(e.buf), e.chars
	e.buf = append(e.buf, id[0], id[1], '0', '0') // length patched below
	e.chars += 4
	var seen [100]bool
	if guid != "" {
		seen[0] = true
		e.putSub(id, "00", guid)
	}
	for _, o := range objs {
		n, ok := tagNum(o.ID)
		if !ok {
			e.err = &EncodeError{ReasonBadID, fieldName(id, o.ID), fmt.Sprintf("sub-ID %q is not two digits", o.ID)}
			return
		}
		if seen[n] {
			msg := "sub-ID appears twice"
			if n == 0 && guid != "" {
				msg = "sub-ID 00 is the GUID; set MerchantAccount.GUID instead"
			}
			e.err = &EncodeError{ReasonDuplicateTag, fieldName(id, o.ID), msg}
			return
		}
		seen[n] = true
		e.putSub(id, o.ID, o.Value)
		if e.err != nil {
			return
		}
	}
	n := e.chars - startChars - 4
	if n > 99 {
		e.err = &EncodeError{ReasonBadLength, id, fmt.Sprintf("template has %d characters, the limit is 99", n)}
		return
	}
	e.buf[start+2], e.buf[start+3] = byte('0'+n/10), byte('0'+n%10)
}

// ranged writes raw objects whose IDs must be unique and within lo-hi,
// in ascending ID order.
func (e *encoder) ranged(objs []Object, lo, hi int) {
	if e.err != nil || len(objs) == 0 {
		return
	}
	var idx [100]int
	for i, o := range objs {
		n, ok := tagNum(o.ID)
		if !ok || n < lo || n > hi {
			e.err = &EncodeError{ReasonBadID, o.ID, fmt.Sprintf("ID %q is not in %02d-%02d", o.ID, lo, hi)}
			return
		}
		if idx[n] != 0 {
			e.err = &EncodeError{ReasonDuplicateTag, o.ID, "ID appears twice"}
			return
		}
		idx[n] = i + 1
	}
	for n := lo; n <= hi; n++ {
		if idx[n] != 0 {
			o := objs[idx[n]-1]
			e.put(o.ID, o.Value)
		}
	}
}

func tagNum(id string) (int, bool) {
	if len(id) != 2 || !isDigit(id[0]) || !isDigit(id[1]) {
		return 0, false
	}
	return int(id[0]-'0')*10 + int(id[1]-'0'), true
}
