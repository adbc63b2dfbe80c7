package emvqr

import (
	"fmt"
	"unicode/utf8"
)

// DecodeMPM parses and validates a merchant-presented mode payload.
//
// Checks run in this order, and the first failure is returned as a
// *DecodeError: EMPTY; TOO_LONG / BAD_ENCODING; the top-level TLV structure
// up to the CRC object (TRUNCATED, BAD_ID, BAD_LENGTH, LENGTH_OVERRUN,
// CRC_MISSING, TRAILING_DATA, CRC_NOT_LAST); CRC_MISMATCH; then the content
// (DUPLICATE_TAG, BAD_TEMPLATE, MISSING_FIELD). Accepted deviations are
// reported in MPM.Warnings.
func DecodeMPM(payload string) (*MPM, error) {
	if payload == "" {
		return nil, &DecodeError{ReasonEmpty, 0, "payload is empty"}
	}
	if err := checkText(payload); err != nil {
		return nil, err
	}

	// Pass 1: top-level structure, CRC placement and value. Also counts
	// objects so that pass 2 allocates exactly.
	var nObjects, nAccounts, nReserved, nUnreserved int
	sc := scanner{s: payload}
	var crc token
	found := false
	for sc.more() {
		rest := payload[sc.b:]
		if len(rest) >= 4 && rest[0] == '6' && rest[1] == '3' && (rest[2] != '0' || rest[3] != '4') {
			return nil, &DecodeError{ReasonBadLength, sc.pos + 2,
				fmt.Sprintf("CRC object 63 at %d must have length 04, has %q", sc.pos, prefixChars(rest[2:], 2))}
		}
		t, err := sc.next()
		if err != nil {
			return nil, err
		}
		nObjects++
		switch n := t.num(); {
		case n == 63:
			crc, found = t, true
		case n >= 2 && n <= 51:
			nAccounts++
		case n >= 65 && n <= 79:
			nReserved++
		case n >= 80:
			nUnreserved++
		}
		if found {
			break
		}
	}
	if !found {
		return nil, &DecodeError{ReasonCRCMissing, sc.pos,
			"no CRC object (63) at the end of the payload"}
	}
	if sc.more() {
		end := sc.pos
		trial := sc
		extra := 0
		for trial.more() {
			if _, err := trial.next(); err != nil {
				rest := payload[sc.b:]
				return nil, &DecodeError{ReasonTrailingData, end,
					fmt.Sprintf("%d character(s) after the CRC object: %q",
						utf8.RuneCountInString(rest), prefixChars(rest, 16))}
			}
			extra++
		}
		return nil, &DecodeError{ReasonCRCNotLast, crc.pos,
			fmt.Sprintf("CRC object at %d is followed by %d more object(s); it must be the last", crc.pos, extra)}
	}
	want := crcUpdate(0xFFFF, payload[:crc.vb])
	got, lower, ok := parseHex4(crc.val)
	if !ok {
		return nil, &DecodeError{ReasonCRCMismatch, crc.vpos,
			fmt.Sprintf("computed %04X, code says %q, which is not 4 hex digits", want, crc.val)}
	}
	if got != want {
		return nil, &DecodeError{ReasonCRCMismatch, crc.vpos,
			fmt.Sprintf("computed %04X, code says %s", want, crc.val)}
	}

	// Pass 2: content. The structure is known to be sound, so sc.next
	// cannot fail here.
	m := &MPM{CRC: crc.val}
	m.Objects = make([]Object, 0, nObjects)
	if nAccounts > 0 {
		m.MerchantAccounts = make([]MerchantAccount, 0, nAccounts)
	}
	if nReserved > 0 {
		m.Reserved = make([]Object, 0, nReserved)
	}
	if nUnreserved > 0 {
		m.Unreserved = make([]Object, 0, nUnreserved)
	}
	if lower {
		m.warn(WarnCRCLowercase, "CRC %s at %d uses lower-case hex", crc.val, crc.vpos)
	}
	var seen [100]int // character offset + 1 of the first occurrence
	var present [100]bool
	last, lastPos := -1, 0
	sc = scanner{s: payload}
	for sc.more() {
		t, _ := sc.next()
		m.Objects = append(m.Objects, Object{t.id, t.val})
		n := t.num()
		if n == 63 {
			break
		}
		if seen[n] != 0 {
			return nil, &DecodeError{ReasonDuplicateTag, t.pos,
				fmt.Sprintf("tag %s repeats the one at %d", t.id, seen[n]-1)}
		}
		seen[n] = t.pos + 1
		present[n] = true
		if n < last {
			m.warn(WarnTagOrder, "tag %s at %d comes after tag %02d at %d", t.id, t.pos, last, lastPos)
		} else {
			last, lastPos = n, t.pos
		}
		switch {
		case n == 0:
			m.PayloadFormat = t.val
			if t.val != "01" {
				m.warn(WarnPayloadFormat, "payload format indicator is %q, expected \"01\"", t.val)
			}
		case n == 1:
			m.Initiation = t.val
			if t.val != "11" && t.val != "12" {
				m.warn(WarnInitiation, "point of initiation method is %q, expected \"11\" or \"12\"", t.val)
			}
		case n <= 25:
			m.MerchantAccounts = append(m.MerchantAccounts, MerchantAccount{ID: t.id, Value: t.val})
		case n <= 51:
			guid, guidAt, fields, err := parseNested(t, true)
			if err != nil {
				return nil, err
			}
			if guidAt < 0 {
				return nil, &DecodeError{ReasonBadTemplate, t.pos,
					fmt.Sprintf("merchant account template %s has no GUID (sub-ID 00)", t.id)}
			}
			if guidAt > 0 {
				m.warn(WarnGUIDNotFirst, "template %s at %d has its GUID as sub-object %d, not first", t.id, t.pos, guidAt+1)
			}
			m.MerchantAccounts = append(m.MerchantAccounts, MerchantAccount{ID: t.id, GUID: guid, Fields: fields})
		case n == 52:
			m.MCC = t.val
			if !allDigits(t.val) || len(t.val) < 3 || len(t.val) > 4 {
				m.warn(WarnMCCFormat, "merchant category code %q is not 4 digits", t.val)
			} else if len(t.val) == 3 {
				m.warn(WarnMCC3Digit, "merchant category code %q has 3 digits, expected 4", t.val)
			}
		case n == 53:
			m.Currency = t.val
		case n == 54:
			m.Amount = t.val
		case n == 55:
			m.TipIndicator = t.val
		case n == 56:
			m.TipFixed = t.val
		case n == 57:
			m.TipPercent = t.val
		case n == 58:
			m.Country = t.val
		case n == 59:
			m.MerchantName = t.val
		case n == 60:
			m.MerchantCity = t.val
		case n == 61:
			m.PostalCode = t.val
		case n == 62 || n == 64:
			_, _, objs, err := parseNested(t, false)
			if err != nil {
				return nil, err
			}
			if n == 62 {
				m.Additional = objs
			} else {
				m.Language = objs
			}
		case n <= 79:
			m.Reserved = append(m.Reserved, Object{t.id, t.val})
			m.warn(WarnRFUTag, "tag %s at %d is reserved for future use by EMVCo", t.id, t.pos)
		default:
			m.Unreserved = append(m.Unreserved, Object{t.id, t.val})
		}
	}

	if !present[0] {
		return nil, &DecodeError{ReasonMissingField, 0, "payload format indicator (00) is absent"}
	}
	if len(m.MerchantAccounts) == 0 {
		return nil, &DecodeError{ReasonMissingField, 0, "no merchant account information (02-51)"}
	}
	for _, f := range mandatory {
		if !present[f.n] {
			m.warn(WarnMissingMandatory, "tag %02d (%s) is absent", f.n, f.name)
		}
	}
	sortAccounts(m.MerchantAccounts)
	sortObjects(m.Reserved)
	sortObjects(m.Unreserved)
	return m, nil
}

var mandatory = [...]struct {
	n    int
	name string
}{
	{52, "merchant category code"},
	{53, "transaction currency"},
	{58, "country code"},
	{59, "merchant name"},
	{60, "merchant city"},
}

func (m *MPM) warn(prefix, format string, args ...any) {
	m.Warnings = append(m.Warnings, prefix+": "+fmt.Sprintf(format, args...))
}

// parseNested parses the value of template t as nested TLV. With
// splitGUID, sub-object 00 is returned separately as guid (guidAt is its
// index among the sub-objects, -1 if absent) and left out of objs.
func parseNested(t token, splitGUID bool) (guid string, guidAt int, objs []Object, err *DecodeError) {
	guidAt = -1
	var seen [100]int
	sc := scanner{s: t.val, pos: t.vpos}
	count := 0
	for sc.more() {
		st, e := sc.next()
		if e != nil {
			return "", -1, nil, &DecodeError{ReasonBadTemplate, e.Pos,
				fmt.Sprintf("template %s at %d is not valid nested TLV: %s: %s", t.id, t.pos, e.Reason, e.Msg)}
		}
		n := st.num()
		if seen[n] != 0 {
			return "", -1, nil, &DecodeError{ReasonDuplicateTag, st.pos,
				fmt.Sprintf("sub-tag %s in template %s repeats the one at %d", st.id, t.id, seen[n]-1)}
		}
		seen[n] = st.pos + 1
		if splitGUID && n == 0 {
			guid, guidAt = st.val, count
		}
		count++
	}
	if guidAt >= 0 {
		count--
	}
	if count == 0 {
		return guid, guidAt, nil, nil
	}
	objs = make([]Object, 0, count)
	sc = scanner{s: t.val, pos: t.vpos}
	for sc.more() {
		st, _ := sc.next()
		if splitGUID && st.id == "00" {
			continue
		}
		objs = append(objs, Object{st.id, st.val})
	}
	return guid, guidAt, objs, nil
}

// checkText refuses payloads that are too long or not valid UTF-8.
func checkText(s string) *DecodeError {
	chars := 0
	for i := 0; i < len(s); chars++ {
		if chars == MaxPayloadLen {
			return &DecodeError{ReasonTooLong, MaxPayloadLen,
				fmt.Sprintf("payload has %d characters, the limit is %d", utf8.RuneCountInString(s), MaxPayloadLen)}
		}
		if s[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return &DecodeError{ReasonBadEncoding, chars,
				fmt.Sprintf("invalid UTF-8 byte 0x%02X", s[i])}
		}
		i += size
	}
	return nil
}

// scanner reads consecutive TLV objects from s. s must be valid UTF-8.
type scanner struct {
	s   string
	b   int // byte offset into s
	pos int // character offset of s[b] within the whole payload
}

type token struct {
	id   string
	val  string
	pos  int // character offset of the ID
	vpos int // character offset of the value
	vb   int // byte offset of the value in the scanned string
}

// num returns the numeric ID; the scanner guarantees two digits.
func (t token) num() int { return int(t.id[0]-'0')*10 + int(t.id[1]-'0') }

func (sc *scanner) more() bool { return sc.b < len(sc.s) }

func (sc *scanner) next() (token, *DecodeError) {
	rest := sc.s[sc.b:]
	start := sc.pos
	if !hasChars(rest, 4) {
		return token{}, &DecodeError{ReasonTruncated, start,
			fmt.Sprintf("object at %d is cut short: %q is less than the 4 characters of an ID and a length", start, rest)}
	}
	if !isDigit(rest[0]) || !isDigit(rest[1]) {
		return token{}, &DecodeError{ReasonBadID, start,
			fmt.Sprintf("ID %q is not two digits", prefixChars(rest, 2))}
	}
	id := rest[:2]
	if !isDigit(rest[2]) || !isDigit(rest[3]) {
		return token{}, &DecodeError{ReasonBadLength, start + 2,
			fmt.Sprintf("length %q of object %s at %d is not two digits", prefixChars(rest[2:], 2), id, start)}
	}
	n := int(rest[2]-'0')*10 + int(rest[3]-'0')
	if n == 0 {
		return token{}, &DecodeError{ReasonBadLength, start + 2,
			fmt.Sprintf("length 00 of object %s at %d: values must have 1-99 characters", id, start)}
	}
	vb := sc.b + 4
	e := vb
	for k := 0; k < n; k++ {
		if e >= len(sc.s) {
			return token{}, &DecodeError{ReasonLengthOverrun, start + 2,
				fmt.Sprintf("object %s at %d declares %d characters but only %d remain", id, start, n, k)}
		}
		if sc.s[e] < utf8.RuneSelf {
			e++
		} else {
			_, size := utf8.DecodeRuneInString(sc.s[e:])
			e += size
		}
	}
	sc.b = e
	sc.pos = start + 4 + n
	return token{id: id, val: sc.s[vb:e], pos: start, vpos: start + 4, vb: vb}, nil
}

// hasChars reports whether s holds at least n characters.
func hasChars(s string, n int) bool {
	if len(s) < n {
		return false
	}
	c := 0
	for range s {
		if c++; c >= n {
			return true
		}
	}
	return false
}

// prefixChars returns the first n characters of s (fewer if s is shorter).
func prefixChars(s string, n int) string {
	c := 0
	for i := range s {
		if c == n {
			return s[:i]
		}
		c++
	}
	return s
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// sortAccounts and sortObjects put small, mostly sorted slices in
// ascending ID order (insertion sort; IDs are unique two-digit strings).
func sortAccounts(a []MerchantAccount) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j].ID < a[j-1].ID; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

func sortObjects(a []Object) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j].ID < a[j-1].ID; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}
