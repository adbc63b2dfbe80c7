package walletcode

import (
	"fmt"
	"net/url"
	"strings"
)

// MaxURLLen is the longest URL, in bytes, that ParseURL accepts (the
// unwrapped inner URL of a wrapper included).
const MaxURLLen = 512

// Issuers.
const (
	IssuerWeChat = "wechat"
	IssuerAlipay = "alipay"
)

// URLCode is a recognised wallet merchant URL.
type URLCode struct {
	Issuer string // IssuerWeChat or IssuerAlipay
	URL    string // the URL exactly as given
	// Inner is the unwrapped URL of an alipays://platformapi/startapp
	// wrapper (its qrcode parameter, percent-decoded); "" otherwise.
	Inner string
	// Token identifies the merchant code: the part after "wxp://"; the
	// first path segment after qr.alipay.com/ (of the inner URL, for a
	// wrapper); the pr parameter of weixin://wxpay/bizpayurl ("" if
	// absent); the t parameter of wx.tenpay.com, else its path without the
	// leading "/". Letters, digits and -._~ only (and "/" between the
	// segments of a wx.tenpay.com path); never empty except for a
	// bizpayurl without pr.
	Token string
}

// URLError describes why ParseURL did not recognise a URL.
type URLError struct {
	Reason Reason
	Pos    int // byte offset into the URL
	Msg    string
}

func (e *URLError) Error() string {
	return fmt.Sprintf("walletcode: url %s at %d: %s", e.Reason, e.Pos, e.Msg)
}

// IdentifyURL reports whether s is a wallet merchant URL and, if so,
// describes it. It is ParseURL without the reason.
func IdentifyURL(s string) (URLCode, bool) {
	u, err := ParseURL(s)
	return u, err == nil
}

// ParseURL recognises a wallet merchant URL. Scheme and host compare
// case-insensitively (ASCII only); paths, parameter names and tokens
// compare exactly, except the wrapper path /startapp. Recognised forms:
//
//	wxp://TOKEN                                       wechat
//	weixin://wxpay/bizpayurl?...[pr=TOKEN]...         wechat
//	https://wx.tenpay.com/PATH[?...t=TOKEN...]        wechat
//	https://qr.alipay.com/TOKEN[?...]  (or http://)   alipay
//	alipays://platformapi/startapp?...qrcode=ENC...   alipay, where ENC is
//	    a percent-encoded https://qr.alipay.com/TOKEN URL (no nesting)
//
// Anything else is refused with a *URLError: EMPTY; TOO_LONG (over
// MaxURLLen bytes); BAD_CHAR (a control character, space, DEL or any
// non-ASCII byte); USERINFO (an '@' in the authority); UNKNOWN_URL
// (another scheme or host, a port, no scheme); BAD_URL (a recognised scheme
// and host of the wrong shape: no "//", a missing or malformed token, an
// unexpected path, a bad or repeated parameter, a wrapper whose inner URL
// is not a qr.alipay.com URL).
func ParseURL(s string) (URLCode, error) {
	u, err := parseURL(s, true)
	if err != nil {
		return URLCode{}, err
	}
	return u, nil
}

func parseURL(s string, outer bool) (URLCode, *URLError) {
	if s == "" {
		return URLCode{}, &URLError{ReasonEmpty, 0, "URL is empty"}
	}
	if len(s) > MaxURLLen {
		return URLCode{}, &URLError{ReasonTooLong, MaxURLLen, fmt.Sprintf("URL has %d bytes, the limit is %d", len(s), MaxURLLen)}
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c == 0x7F:
			return URLCode{}, &URLError{ReasonBadChar, i, fmt.Sprintf("control character 0x%02X", c)}
		case c == ' ':
			return URLCode{}, &URLError{ReasonBadChar, i, "space"}
		case c >= 0x80:
			return URLCode{}, &URLError{ReasonBadChar, i, fmt.Sprintf("non-ASCII byte 0x%02X", c)}
		}
	}
	colon := strings.IndexByte(s, ':')
	if colon <= 0 || !isScheme(s[:colon]) {
		return URLCode{}, &URLError{ReasonUnknownURL, 0, "no URL scheme"}
	}
	scheme := s[:colon]
	web := equalFold(scheme, "https") || equalFold(scheme, "http")
	if !web && !(outer && (equalFold(scheme, "wxp") || equalFold(scheme, "weixin") || equalFold(scheme, "alipays"))) {
		return URLCode{}, &URLError{ReasonUnknownURL, 0, fmt.Sprintf("scheme %q is not a wallet URL scheme", clip(scheme))}
	}
	p, err := split(s, colon)
	if err != nil {
		return URLCode{}, err
	}
	switch {
	case outer && equalFold(scheme, "wxp"):
		if p.authority == "" || !isToken(p.authority) {
			return URLCode{}, &URLError{ReasonBadURL, p.apos, "wxp:// is not followed by a token of letters, digits and -._~"}
		}
		if p.rest != "" {
			return URLCode{}, &URLError{ReasonBadURL, p.apos + len(p.authority), fmt.Sprintf("unexpected %q after the wxp:// token", clip(p.rest))}
		}
		return URLCode{Issuer: IssuerWeChat, URL: s, Token: p.authority}, nil

	case outer && equalFold(scheme, "weixin"):
		if !equalFold(p.authority, "wxpay") || p.path != "/bizpayurl" {
			return URLCode{}, &URLError{ReasonUnknownURL, p.apos, "weixin: URL other than weixin://wxpay/bizpayurl"}
		}
		if p.query == "" {
			return URLCode{}, &URLError{ReasonBadURL, p.qpos, "weixin://wxpay/bizpayurl has no parameters"}
		}
		pr, at, err := param(p, "pr")
		if err != nil {
			return URLCode{}, err
		}
		if !isToken(pr) {
			return URLCode{}, &URLError{ReasonBadURL, at, "pr parameter is not a token of letters, digits and -._~"}
		}
		return URLCode{Issuer: IssuerWeChat, URL: s, Token: pr}, nil

	case outer && equalFold(scheme, "alipays"):
		if !equalFold(p.authority, "platformapi") || !equalFold(p.path, "/startapp") {
			return URLCode{}, &URLError{ReasonUnknownURL, p.apos, "alipays: URL other than alipays://platformapi/startapp"}
		}
		inner, at, err := param(p, "qrcode")
		if err != nil {
			return URLCode{}, err
		}
		if at < 0 {
			return URLCode{}, &URLError{ReasonBadURL, p.qpos, "alipays://platformapi/startapp has no qrcode parameter"}
		}
		in, ierr := parseURL(inner, false)
		if ierr != nil {
			return URLCode{}, &URLError{ReasonBadURL, at,
				fmt.Sprintf("qrcode parameter is not a qr.alipay.com URL: %s at %d: %s", ierr.Reason, ierr.Pos, ierr.Msg)}
		}
		return URLCode{Issuer: IssuerAlipay, URL: s, Inner: inner, Token: in.Token}, nil

	case web:
		switch {
		case equalFold(p.authority, "qr.alipay.com"):
			tok := strings.TrimPrefix(p.path, "/")
			if tok == "" || !isToken(tok) {
				return URLCode{}, &URLError{ReasonBadURL, p.apos + len(p.authority),
					"qr.alipay.com URL path is not one token of letters, digits and -._~"}
			}
			return URLCode{Issuer: IssuerAlipay, URL: s, Token: tok}, nil
		case outer && equalFold(p.authority, "wx.tenpay.com") && equalFold(scheme, "https"):
			tok, at, err := param(p, "t")
			if err != nil {
				return URLCode{}, err
			}
			if tok != "" && !isToken(tok) {
				return URLCode{}, &URLError{ReasonBadURL, at, "t parameter is not a token of letters, digits and -._~"}
			}
			if tok == "" {
				tok = strings.TrimPrefix(p.path, "/")
				if !isPath(tok) {
					return URLCode{}, &URLError{ReasonBadURL, p.apos + len(p.authority),
						"wx.tenpay.com URL has no t parameter and its path is not segments of letters, digits and -._~"}
				}
			}
			return URLCode{Issuer: IssuerWeChat, URL: s, Token: tok}, nil
		}
	}
	return URLCode{}, &URLError{ReasonUnknownURL, 0, fmt.Sprintf("%s URL of %q is not a wallet merchant URL", scheme, clip(p.authority))}
}

// parts is a URL after its scheme: "//" authority path ["?" query] ["#" fragment].
type parts struct {
	authority string
	apos      int
	path      string
	query     string // without the "?"
	qpos      int    // offset of query (or of the end, if there is none)
	rest      string // everything after the authority
}

func split(s string, colon int) (parts, *URLError) {
	var p parts
	if !strings.HasPrefix(s[colon+1:], "//") {
		return p, &URLError{ReasonBadURL, colon + 1, fmt.Sprintf("%q is not followed by \"//\"", s[:colon+1])}
	}
	p.apos = colon + 3
	a := s[p.apos:]
	end := strings.IndexAny(a, "/?#")
	if end < 0 {
		end = len(a)
	}
	p.authority, p.rest = a[:end], a[end:]
	if i := strings.IndexByte(p.authority, '@'); i >= 0 {
		return p, &URLError{ReasonUserinfo, p.apos + i, "URL has user information (an '@' before the host)"}
	}
	r := p.rest
	if i := strings.IndexByte(r, '#'); i >= 0 {
		r = r[:i]
	}
	p.path = r
	p.qpos = p.apos + end + len(r)
	if i := strings.IndexByte(r, '?'); i >= 0 {
		p.path, p.query = r[:i], r[i+1:]
		p.qpos = p.apos + end + i + 1
	}
	return p, nil
}

// param returns the percent-decoded value of the parameter key in p's
// query and its offset in the URL (-1 if absent). A repeated key or a bad
// escape is an error.
func param(p parts, key string) (string, int, *URLError) {
	if p.query == "" {
		return "", -1, nil
	}
	q, off := p.query, p.qpos
	val, at := "", -1
	for {
		pair, next, more := strings.Cut(q, "&")
		k, v, eq := strings.Cut(pair, "=")
		if k == key {
			if at >= 0 {
				return "", -1, &URLError{ReasonBadURL, off, fmt.Sprintf("parameter %s appears twice", key)}
			}
			vpos := off + len(k) // the value's offset: after "=", if any
			if eq {
				vpos++
			}
			dv, err := url.QueryUnescape(v)
			if err != nil {
				return "", -1, &URLError{ReasonBadURL, vpos, fmt.Sprintf("parameter %s is not properly percent-encoded", key)}
			}
			val, at = dv, vpos
		}
		if !more {
			break
		}
		off += len(pair) + 1
		q = next
	}
	return val, at, nil
}

// isPath reports whether s is one or more non-empty tokens separated by
// "/".
func isPath(s string) bool {
	for {
		seg, rest, more := strings.Cut(s, "/")
		if seg == "" || !isToken(seg) {
			return false
		}
		if !more {
			return true
		}
		s = rest
	}
}

func isScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// isToken reports whether s is made of unreserved URL characters.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-' || c == '.' || c == '_' || c == '~':
		default:
			return false
		}
	}
	return true
}

// equalFold compares ASCII strings case-insensitively (and only ASCII, so
// that no Unicode folding such as K/U+212A can make a host match).
func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
