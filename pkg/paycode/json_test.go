package paycode

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/unigate/unigate/pkg/walletcode"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.json from the current output")

// TestJSONGolden pins the exact output of Code.JSON (key order included)
// for one payload of each kind. The golden files hold the output followed
// by a newline; run `go test ./paycode/ -run JSONGolden -update` to
// rewrite them after an intended change, and review the diff.
func TestJSONGolden(t *testing.T) {
	for _, tt := range []struct{ name, payload string }{
		{"emvco_mpm", goldenMPM},
		{"emvco_cpm", goldenCPM},
		{"url", goldenURL},
		{"wallet_code", goldenWallet},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Decode(tt.payload, ranges)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.JSON()
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", "golden", tt.name+".json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("JSON differs from %s\n got %s\nwant %s", path, got, want)
			}
			checkJSONShape(t, got, string(c.Kind))
		})
	}
}

// checkJSONShape checks that b is one JSON object whose first key is
// "kind" (with the given value) and whose last key is "warnings", an
// array.
func checkJSONShape(t *testing.T, b []byte, kind string) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	var keys []string
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, b)
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("does not start with '{': %s", b)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	if dec.More() {
		t.Fatalf("more than one JSON value: %s", b)
	}
	if keys[0] != "kind" || string(obj["kind"]) != `"`+kind+`"` || keys[len(keys)-1] != "warnings" || !strings.HasPrefix(string(obj["warnings"]), "[") {
		t.Fatalf("keys %q, kind %s, warnings %s", keys, obj["kind"], obj["warnings"])
	}
}

func TestJSONDetails(t *testing.T) {
	mpm, err := Decode(goldenMPM, ranges)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := mpm.JSON()
	for _, want := range []string{
		`"merchant_accounts":[{"id":"15","value":"520000000000123"},{"id":"26","guid":"SG.PAYNOW","fields":{"01":"2","02":"201403121W","03":"1"}}]`,
		`"tip_indicator":"02","tip_fixed":"1.00","country"`, // tip_percent omitted
		`"01":"INV 0042 "`, // never trimmed
		`"01":"顶点有限公司"`,    // not escaped
		`"unreserved":{"80":"0006SG.ACT0104X123"}`,
		`"crc":"FCC7","warnings":[]}`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("MPM JSON lacks %s\n%s", want, b)
		}
	}
	// A static MPM without tips, additional data or language template.
	static, err := Decode(digitsMPM, ranges)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = static.JSON()
	want := `{"kind":"emvco_mpm","payload_format":"01","initiation":"11","merchant_accounts":[{"id":"02","value":"10000004"}],` +
		`"mcc":"","currency":"702","amount":"","country":"","merchant_name":"","merchant_city":"","postal_code":"",` +
		`"additional":{},"language":{},"unreserved":{},"crc":"4715","warnings":["DIGITS_AS_MPM: `
	if !strings.HasPrefix(string(b), want) {
		t.Errorf("static MPM JSON\n got %s\nwant prefix %s", b, want)
	}
	// A CPM without a common data template has "common": [].
	cpm, err := Decode("hQVDUFYwMWEJTwegAAAAAxAQ", ranges)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = cpm.JSON()
	if want := `{"kind":"emvco_cpm","payload_format":"CPV01","applications":[{"aid":"A0000000031010","label":"","pan":"","fields":[{"tag":"4F","value":"A0000000031010"}]}],"common":[],"warnings":[]}`; string(b) != want {
		t.Errorf("CPM JSON\n got %s\nwant %s", b, want)
	}
}

func TestJSONInvalidCode(t *testing.T) {
	w := &walletcode.WalletCode{Code: "1", PartnerID: "P"}
	u := &walletcode.URLCode{Issuer: "wechat"}
	for name, c := range map[string]*Code{
		"nil":          nil,
		"no kind":      {Wallet: w},
		"unknown kind": {Kind: "barcode", Wallet: w},
		"nothing set":  {Kind: KindWallet},
		"wrong value":  {Kind: KindURL, Wallet: w},
		"two values":   {Kind: KindURL, URL: u, Wallet: w},
	} {
		t.Run(name, func(t *testing.T) {
			if b, err := c.JSON(); err == nil {
				t.Errorf("JSON = %s, want an error", b)
			}
		})
	}
}

func TestMaskPAN(t *testing.T) {
	for in, want := range map[string]string{"4761739001010119": "476173******0119", "1234": "****", "": ""} {
		if got := maskPAN(in); got != want {
			t.Errorf("maskPAN(%q) = %q, want %q", in, got, want)
		}
	}
}
