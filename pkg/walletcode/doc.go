// Package walletcode recognises the two non-EMVCo things a camera reads at
// a till: wallet merchant URLs (WeChat Pay and Alipay QR codes that carry
// a URL rather than an EMVCo payload) and numeric one-time payment codes
// (the barcode a consumer's wallet shows, classified by number range).
//
// # Merchant URLs
//
// ParseURL (and IdentifyURL, its boolean form) recognises
//
//	wxp://TOKEN                                      WeChat Pay merchant code
//	weixin://wxpay/bizpayurl?pr=TOKEN...             WeChat Pay native pay URL
//	https://wx.tenpay.com/PATH?t=TOKEN...            WeChat Pay (Tenpay)
//	https://qr.alipay.com/TOKEN, http://...          Alipay merchant code
//	alipays://platformapi/startapp?...&qrcode=ENC    Alipay app wrapper around
//	                                                 a percent-encoded
//	                                                 https://qr.alipay.com/ URL
//
// comparing scheme and host case-insensitively (ASCII only), and returns a
// URLCode with the issuer ("wechat" or "alipay"), the URL as given, the
// unwrapped inner URL of a wrapper and the merchant token. It refuses, with
// a *URLError, empty URLs (EMPTY), URLs over 512 bytes (TOO_LONG), control
// characters, spaces, DEL or any non-ASCII byte (BAD_CHAR), user
// information such as https://qr.alipay.com@evil.example/ (USERINFO),
// other schemes, hosts and ports (UNKNOWN_URL), and recognised URLs of the
// wrong shape (BAD_URL). Tokens are restricted to letters, digits and
// "-._~" (plus "/" between the segments of a wx.tenpay.com path), so a
// token can be put in a log line or a request path as is.
//
// # One-time payment codes
//
// Classify matches an all-digit code against a table of Ranges (prefix,
// partner, allowed lengths): the longest matching prefix wins, and the
// code's length must be one the range allows. It refuses with a *CodeError
// whose Reason is NOT_NUMERIC, UNKNOWN_RANGE or BAD_LENGTH. A one-time
// code is a bearer credential, so error messages never repeat its digits.
// ValidateRanges checks a table when it is loaded.
//
// The package uses only the standard library and never panics.
package walletcode
