package pki_test

import (
	"os"
	"testing"
	"time"

	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/pki"
)

// TestWriteDev: the layout holds each identity under the CA of its kind,
// and writing again keeps what exists and adds what is missing.
func TestWriteDev(t *testing.T) {
	dir := t.TempDir()
	dev, err := pki.WriteDev(dir, pki.DevSpec{Services: []string{"acquirer"}, Partners: []string{"hipay"},
		Networks: []string{"cnsim"}, Operators: map[string]authn.Role{"vera": authn.Viewer}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		kind authn.Kind
		id   string
		ca   string
		role authn.Role
	}{
		{authn.Service, "acquirer", "unigate", 0}, {authn.Partner, "hipay", "partners", 0},
		{authn.Network, "cnsim", "networks", 0}, {authn.Operator, "vera", "unigate", authn.Viewer},
	} {
		crt, _ := dev.Cert(tc.kind, tc.id)
		c, err := pki.LoadCert(crt)
		if err != nil {
			t.Fatal(err)
		}
		ca, err := pki.LoadCert(dev.CA(tc.ca))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.CheckSignatureFrom(ca); err != nil {
			t.Fatalf("%s/%s not signed by the %s CA: %v", tc.kind, tc.id, tc.ca, err)
		}
		id, err := authn.FromCert(c)
		if err != nil || id != (authn.Identity{Kind: tc.kind, ID: tc.id, Role: tc.role}) {
			t.Fatalf("identity %v %v", id, err)
		}
		if time.Until(c.NotAfter) < 300*24*time.Hour {
			t.Fatalf("%s expires %v", tc.id, c.NotAfter)
		}
	}
	before, err := os.ReadFile(dev.CA("unigate"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pki.WriteDev(dir, pki.DevSpec{Partners: []string{"zalopay"}}); err != nil {
		t.Fatal(err)
	}
	after, err := os.ReadFile(dev.CA("unigate"))
	if err != nil || string(before) != string(after) {
		t.Fatal("writing again replaced the CA")
	}
	if crt, _ := dev.Cert(authn.Partner, "zalopay"); func() bool { _, err := os.Stat(crt); return err != nil }() {
		t.Fatal("the missing partner was not added")
	}
}
