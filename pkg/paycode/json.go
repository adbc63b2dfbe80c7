package paycode

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/unigate/unigate/pkg/emvcpm"
	"github.com/unigate/unigate/pkg/emvqr"
)

// JSON renders c as one JSON object, the output of `unigatectl qr decode`.
// Keys come in a fixed order: "kind", the kind's fields, then "warnings"
// (always an array). Decoded values are strings exactly as in the payload;
// binary CPM values are upper-case hex. HTML characters (<, >, &) are not
// escaped, so URLs read as they are. The output has no trailing newline.
//
//	emvco_mpm:   payload_format, initiation, merchant_accounts [{id, guid |
//	             value, fields {sub-id: value}}], mcc, currency, amount,
//	             tip_indicator, tip_fixed, tip_percent (each omitted when
//	             empty), country, merchant_name, merchant_city, postal_code,
//	             additional {sub-id: value}, language {sub-id: value},
//	             unreserved {id: raw value}, crc
//	emvco_cpm:   payload_format, applications [{aid, label, pan (masked to
//	             its first six and last four digits), fields [{tag, value}]}],
//	             common [{tag, value}]; card data — track 2 (57), the PAN
//	             (5A) and the cardholder name (5F20) — never appears in
//	             clear: their field values read "REDACTED"
//	url:         issuer, url, inner_url, token
//	wallet_code: partner_id, prefix, code_length (the code itself, a bearer
//	             credential, is left out)
//
// A primitive merchant account (02-25) has id and value; a template
// (26-51) has id, guid and fields. Constructed CPM objects (63, 64) appear
// with their whole value in hex. Objects 65-79 (RFU for EMVCo) are not
// rendered; the decoder's RFU_TAG warning names them.
func (c *Code) JSON() ([]byte, error) {
	if c == nil {
		return nil, errors.New("paycode: JSON of a nil Code")
	}
	set := 0
	for _, p := range []bool{c.MPM != nil, c.CPM != nil, c.URL != nil, c.Wallet != nil} {
		if p {
			set++
		}
	}
	var v any
	ok := set == 1
	warnings := c.Warnings
	if warnings == nil {
		warnings = []string{}
	}
	switch c.Kind {
	case KindMPM:
		ok = ok && c.MPM != nil
		if ok {
			v = mpmOf(c.MPM, warnings)
		}
	case KindCPM:
		ok = ok && c.CPM != nil
		if ok {
			v = cpmOf(c.CPM, warnings)
		}
	case KindURL:
		ok = ok && c.URL != nil
		if ok {
			v = urlJSON{KindURL, c.URL.Issuer, c.URL.URL, c.URL.Inner, c.URL.Token, warnings}
		}
	case KindWallet:
		ok = ok && c.Wallet != nil
		if ok {
			v = walletJSON{KindWallet, c.Wallet.PartnerID, c.Wallet.Prefix, c.Wallet.Length, warnings}
		}
	default:
		return nil, fmt.Errorf("paycode: JSON: unknown kind %q", c.Kind)
	}
	if !ok {
		return nil, fmt.Errorf("paycode: JSON: a %s Code must have exactly its own decoded value set", c.Kind)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("paycode: JSON: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

type mpmJSON struct {
	Kind             Kind              `json:"kind"`
	PayloadFormat    string            `json:"payload_format"`
	Initiation       string            `json:"initiation"`
	MerchantAccounts []accountJSON     `json:"merchant_accounts"`
	MCC              string            `json:"mcc"`
	Currency         string            `json:"currency"`
	Amount           string            `json:"amount"`
	TipIndicator     string            `json:"tip_indicator,omitempty"`
	TipFixed         string            `json:"tip_fixed,omitempty"`
	TipPercent       string            `json:"tip_percent,omitempty"`
	Country          string            `json:"country"`
	MerchantName     string            `json:"merchant_name"`
	MerchantCity     string            `json:"merchant_city"`
	PostalCode       string            `json:"postal_code"`
	Additional       map[string]string `json:"additional"`
	Language         map[string]string `json:"language"`
	Unreserved       map[string]string `json:"unreserved"`
	CRC              string            `json:"crc"`
	Warnings         []string          `json:"warnings"`
}

type accountJSON struct {
	ID     string             `json:"id"`
	GUID   string             `json:"guid,omitempty"`
	Value  string             `json:"value,omitempty"`
	Fields *map[string]string `json:"fields,omitempty"` // set (possibly empty) for templates 26-51
}

func mpmOf(m *emvqr.MPM, warnings []string) mpmJSON {
	accts := make([]accountJSON, 0, len(m.MerchantAccounts))
	for _, a := range m.MerchantAccounts {
		j := accountJSON{ID: a.ID, Value: a.Value}
		if a.GUID != "" {
			f := objects(a.Fields)
			j.GUID, j.Fields = a.GUID, &f
		}
		accts = append(accts, j)
	}
	return mpmJSON{
		Kind: KindMPM, PayloadFormat: m.PayloadFormat, Initiation: m.Initiation, MerchantAccounts: accts,
		MCC: m.MCC, Currency: m.Currency, Amount: m.Amount,
		TipIndicator: m.TipIndicator, TipFixed: m.TipFixed, TipPercent: m.TipPercent,
		Country: m.Country, MerchantName: m.MerchantName, MerchantCity: m.MerchantCity, PostalCode: m.PostalCode,
		Additional: objects(m.Additional), Language: objects(m.Language), Unreserved: objects(m.Unreserved),
		CRC: m.CRC, Warnings: warnings,
	}
}

// objects maps IDs to values (IDs are unique within a decoded template).
func objects(objs []emvqr.Object) map[string]string {
	m := make(map[string]string, len(objs))
	for _, o := range objs {
		m[o.ID] = o.Value
	}
	return m
}

type cpmJSON struct {
	Kind          Kind         `json:"kind"`
	PayloadFormat string       `json:"payload_format"`
	Applications  []cpmAppJSON `json:"applications"`
	Common        []tlvJSON    `json:"common"`
	Warnings      []string     `json:"warnings"`
}

type cpmAppJSON struct {
	AID    string    `json:"aid"`
	Label  string    `json:"label"`
	PAN    string    `json:"pan"`
	Fields []tlvJSON `json:"fields"`
}

type tlvJSON struct {
	Tag   string `json:"tag"`
	Value string `json:"value"`
}

func cpmOf(c *emvcpm.CPM, warnings []string) cpmJSON {
	apps := make([]cpmAppJSON, 0, len(c.Applications))
	for _, a := range c.Applications {
		apps = append(apps, cpmAppJSON{AID: hexUpper(a.AID), Label: a.Label, PAN: maskPAN(a.PAN), Fields: tlvs(a.Fields)})
	}
	return cpmJSON{Kind: KindCPM, PayloadFormat: c.PayloadFormat, Applications: apps, Common: tlvs(c.Common), Warnings: warnings}
}

// cardData are the CPM tags whose values are card data (PCI DSS): track 2
// equivalent data, the PAN and the cardholder name.
var cardData = map[uint32]bool{0x57: true, 0x5A: true, 0x5F20: true}

func tlvs(objs []emvcpm.TLV) []tlvJSON {
	out := make([]tlvJSON, 0, len(objs))
	for _, o := range objs {
		v := hexUpper(o.Value)
		if cardData[o.Tag] {
			v = "REDACTED"
		}
		out = append(out, tlvJSON{o.TagHex(), v})
	}
	return out
}

// maskPAN keeps a PAN's first six and last four digits, as PCI DSS allows
// displaying.
func maskPAN(pan string) string {
	if len(pan) <= 10 {
		return strings.Repeat("*", len(pan))
	}
	return pan[:6] + strings.Repeat("*", len(pan)-10) + pan[len(pan)-4:]
}

func hexUpper(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) }

type urlJSON struct {
	Kind     Kind     `json:"kind"`
	Issuer   string   `json:"issuer"`
	URL      string   `json:"url"`
	InnerURL string   `json:"inner_url"`
	Token    string   `json:"token"`
	Warnings []string `json:"warnings"`
}

type walletJSON struct {
	Kind       Kind     `json:"kind"`
	PartnerID  string   `json:"partner_id"`
	Prefix     string   `json:"prefix"`
	CodeLength int      `json:"code_length"`
	Warnings   []string `json:"warnings"`
}
