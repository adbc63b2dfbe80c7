package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func ctl(t *testing.T, args ...string) (string, int, error) {
	t.Helper()
	var out strings.Builder
	code, err := run(context.Background(), args, &out)
	return out.String(), code, err
}

func TestQR(t *testing.T) {
	payload, code, err := ctl(t, "qr", "encode", "--account", "26:CN.UNIGATE.SIM:01=M10001", "--mcc", "5812",
		"--currency", "156", "--country", "CN", "--name", "二连浩特饺子馆", "--city", "Erenhot", "--amount", "12.50", "--initiation", "12")
	if err != nil || code != 0 {
		t.Fatalf("encode: %d %v", code, err)
	}
	payload = strings.TrimSpace(payload)
	out, code, err := ctl(t, "qr", "decode", payload)
	if err != nil || code != 0 {
		t.Fatalf("decode: %d %v", code, err)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("decode printed %q: %v", out, err)
	}
	if got["kind"] != "emvco_mpm" || got["merchant_name"] != "二连浩特饺子馆" || got["amount"] != "12.50" || got["currency"] != "156" {
		t.Fatalf("decoded %v", got)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"corrupt CRC", []string{"qr", "decode", payload[:len(payload)-4] + "0000"}, 1, "CRC_MISMATCH"},
		{"unknown range", []string{"qr", "decode", "--ranges", "2899:hipay:18", "123456789012345678"}, 1, "UNKNOWN_RANGE"},
		{"garbage", []string{"qr", "decode", "hello world"}, 1, "UNRECOGNIZED"},
		{"no payload", []string{"qr", "decode"}, 2, "usage: unigatectl qr decode"},
		{"unknown flag", []string{"qr", "decode", "--frob", "x"}, 2, "unknown flag: --frob"},
		{"unknown command", []string{"qr", "frobnicate"}, 2, "unknown command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, code, err := ctl(t, tc.args...)
			if code != tc.code || err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %d %v, want %d and a one-line error with %q", code, err, tc.code, tc.want)
			}
		})
	}
	out, code, err = ctl(t, "qr", "decode", "--ranges", "2899:hipay:18", "289912345678901234")
	if err != nil || code != 0 || !strings.Contains(out, `"partner_id":"hipay"`) || strings.Contains(out, "289912345678901234") {
		t.Fatalf("wallet code: %d %v %s", code, err, out)
	}
}

// TestRiskRulesCheck: a good rule file compiles and is listed; a bad one
// names each problem and fails, as the risk service would refuse it.
func TestRiskRulesCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "rules.json")
	if err := os.WriteFile(good, []byte(`{"version": 7, "rules": [
		{"id": "burst.user", "version": 3, "expr": "user_count_1m >= 5 && amount < 1000", "action": "decline", "mode": "enforce"},
		{"id": "night.mcc", "version": 1, "expr": "hour < 5 && mcc == '7995'", "action": "review", "mode": "shadow"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code, err := ctl(t, "risk", "rules", "check", good)
	if err != nil || code != 0 || !strings.Contains(out, "set version 7: 2 rules compile") || !strings.Contains(out, "night.mcc") {
		t.Fatalf("a good file: %d %v\n%s", code, err, out)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"version": 8, "rules": [
		{"id": "unknown", "version": 1, "expr": "card_bin == '4111'", "action": "decline", "mode": "enforce"},
		{"id": "shape", "version": 1, "expr": "amount", "action": "decline", "mode": "enforce"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, code, err = ctl(t, "risk", "rules", "check", bad)
	if code != 1 || err == nil || !strings.Contains(err.Error(), "undeclared reference to 'card_bin'") ||
		!strings.Contains(err.Error(), `rule "shape": is int, not a boolean`) {
		t.Fatalf("a bad file: %d %v", code, err)
	}
	typo := filepath.Join(dir, "typo.json")
	if err := os.WriteFile(typo, []byte(`{"version": 9, "rulez": []}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, code, err = ctl(t, "risk", "rules", "check", typo); code != 1 || err == nil || !strings.Contains(err.Error(), `unknown field "rulez"`) {
		t.Fatalf("a misspelt field: %d %v", code, err)
	}
}
