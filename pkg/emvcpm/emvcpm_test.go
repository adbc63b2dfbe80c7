package emvcpm

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// fromHex turns spaced hex, the payload bytes exactly as written in the
// tests, into bytes.
func fromHex(h string) []byte {
	b, err := hex.DecodeString(strings.Join(strings.Fields(h), ""))
	if err != nil {
		panic(err)
	}
	return b
}

// b64 turns spaced hex into a base64 payload.
func b64(h string) string { return base64.StdEncoding.EncodeToString(fromHex(h)) }

func asHex(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) }

// specExample is, as far as could be established, the example payload of
// EMV QRCPS Consumer-Presented Mode v1.0: two application templates (AIDs
// A0000000555555 "Product1" and A0000000666666 "Product2") and a common
// data template holding the PAN, cardholder name "CARDHOLDER/EMV",
// language preference "ruesdeen" and a common data transparent template
// (9F10, 9F26, 9F36, 9F37). The specification's own text could not be
// consulted; the payload is reproduced byte for byte by independent
// implementations built from it: github.com/mvallim/emv-qrcode,
// src/test/java/com/emv/qrcode/model/cpm/ConsumerPresentedModeTest.java
// (testSuccessToBase64WithApplicationTemplate, which also gives the hex
// below), and github.com/dongri/emv-qrcode, main.go.
const specExample = "hQVDUFYwMWETTwegAAAAVVVVUAhQcm9kdWN0MWETTwegAAAAZmZmUAhQcm9kdWN0MmJJWggSNFZ4kBI0" +
	"WF8gDkNBUkRIT0xERVIvRU1WXy0IcnVlc2RlZW5kIZ8QBwYBCgMAAACfJghYT9OF+iNLzJ82AgABnzcE" +
	"bVjvEw=="

const specExampleHex = "" +
	"85 05 4350563031" + //                       85 "CPV01"
	"61 13 4F 07 A0000000555555 50 08 50726F6475637431" + // 61: AID, "Product1"
	"61 13 4F 07 A0000000666666 50 08 50726F6475637432" + // 61: AID, "Product2"
	"62 49" + //                                  62, 73 bytes:
	"   5A 08 1234567890123458" + //              PAN
	"   5F20 0E 43415244484F4C4445522F454D56" + // "CARDHOLDER/EMV"
	"   5F2D 08 727565736465656E" + //            "ruesdeen"
	"   64 21" + //                               64, 33 bytes:
	"      9F10 07 06010A03000000" + //           issuer application data
	"      9F26 08 584FD385FA234BCC" + //         application cryptogram
	"      9F36 02 0001" + //                     ATC
	"      9F37 04 6D58EF13" //                   unpredictable number

// twoAppsHex has two applications, the first with a PAN and an application
// specific transparent template (63), the second with track 2, the last 4
// digits of the PAN and a payment account reference, then a common data
// template with a transparent template inside.
const twoAppsHex = "" +
	"85 05 4350563031" + //                                 "CPV01"
	"61 38" + //                                            application 1, 56 bytes
	"   4F 07 A0000000031010" + //                          AID
	"   50 04 56495341" + //                                "VISA"
	"   5A 08 4761739001010010" + //                        PAN 4761739001010010
	"   5F20 0A 4A4F484E2F534D495448" + //                  "JOHN/SMITH"
	"   63 10" + //                                         63, 16 bytes
	"      9F26 08 1122334455667788" + //                   cryptogram
	"      9F36 02 0001" + //                               ATC
	"61 4D" + //                                            application 2, 77 bytes
	"   4F 07 A0000000041010" + //                          AID
	"   50 0A 4D415354455243415244" + //                    "MASTERCARD"
	"   57 11 5413330089010434D25122010000000000" + //      track 2
	"   9F25 02 0434" + //                                  last 4 digits of PAN
	"   9F24 1D 353030314131423243334434453546364737483849394A304B314C324D" + // PAR
	"62 1A" + //                                            common, 26 bytes
	"   5F2D 04 656E7A68" + //                              "enzh"
	"   64 11" + //                                         64, 17 bytes
	"      9F10 07 06010A03A00000" +
	"      9F37 04 12345678"

// longFormHex uses both long-form lengths and 3- and 4-byte tags:
// 61 82 01A9 (425 bytes), 5F50 81 8C (140 bytes), 63 82 0106 (262 bytes),
// DF8101 82 0100 (256 bytes) and DF818203 01.
func longFormHex() string {
	url := hex.EncodeToString([]byte("https://issuer.example/cpm/" + strings.Repeat("x", 113)))
	return "85 05 4350563031" +
		"61 82 01A9" +
		"   4F 07 A0000000031010" +
		"   5F50 81 8C " + url +
		"   63 82 0106" +
		"      DF8101 82 0100 " + strings.Repeat("AB", 256) +
		"   DF818203 01 01"
}

func mustDecode(t testing.TB, payload string) *CPM {
	t.Helper()
	c, err := Decode(payload)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	return c
}

func decodeErr(t *testing.T, payload string) *DecodeError {
	t.Helper()
	c, err := Decode(payload)
	if c != nil {
		t.Errorf("got a CPM with error %v", err)
	}
	var de *DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("err = %v (%T), want *DecodeError", err, err)
	}
	return de
}
