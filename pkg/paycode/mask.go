package paycode

import (
	"regexp"
	"unicode/utf8"
)

// What Mask keeps of a payload, and how much it must hide to keep anything.
const (
	maskHead      = 4
	maskTail      = 2
	maskMinHidden = 6
)

// Mask returns payload in a form that may go into a log line, a span or
// an error message: its first four and last two characters around an
// ellipsis ("2899…34" for an 18-digit code), enough to tell codes apart
// and see whose range one is in, but not to pay with it. A payload of
// fewer than 12 characters, which would keep fewer than six hidden, is
// only "…"; an empty one stays "". Characters are runes (an invalid byte
// counts as one), so the result is cut on character boundaries.
//
// A one-time payment code is a bearer credential until it is used, and
// whatever reached a till may be one before it is classified, so a
// payload is masked, whatever its kind, wherever it leaves the request.
func Mask(payload string) string {
	if payload == "" {
		return ""
	}
	if utf8.RuneCountInString(payload) < maskHead+maskTail+maskMinHidden {
		return "…"
	}
	head := 0
	for range maskHead {
		_, n := utf8.DecodeRuneInString(payload[head:])
		head += n
	}
	tail := len(payload)
	for range maskTail {
		_, n := utf8.DecodeLastRuneInString(payload[:tail])
		tail -= n
	}
	return payload[:head] + "…" + payload[tail:]
}

// longDigits is a run of digits as long as the shortest one-time code
// Unigate assigns ranges for (8), possibly broken by spaces or dashes.
var longDigits = regexp.MustCompile(`[0-9](?:[ -]?[0-9]){7,}`)

// Redact masks, in text from outside Unigate (a wallet's or a network's
// failure message, a transport error), every run of eight or more digits
// (spaces and dashes allowed between them): such a run may be a one-time
// code that the other party echoed, and text like this is logged and
// stored.
func Redact(text string) string {
	return longDigits.ReplaceAllStringFunc(text, Mask)
}
