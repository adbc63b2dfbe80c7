package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/unigate/unigate/pkg/pki"
	"github.com/unigate/unigate/services/app"
)

// certsDev writes (or completes) a development PKI: the three CAs
// (Unigate's, partners', networks'), a certificate for each service, the
// demo partners, the wallet simulator, the simulated network, extra
// partners and networks given, and the operators admin, operator and
// viewer. Existing files are kept.
func certsDev(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("certs dev", flag.ContinueOnError)
	dir := fs.String("dir", ".data/pki", "where to write the PKI")
	partners := fs.String("partners", "", "more partner ids, comma-separated")
	networks := fs.String("networks", "", "more network ids, comma-separated")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dev, err := app.DevPKI(*dir, split(*partners)...)
	if err != nil {
		return err
	}
	if n := split(*networks); len(n) > 0 {
		if _, err := pki.WriteDev(*dir, pki.DevSpec{Networks: n}); err != nil {
			return err
		}
	}
	_, err = fmt.Fprintf(out, "development PKI in %s: ca/{unigate,partners,networks}.crt, service/, partner/, network/, operator/\n", dev.Dir)
	return err
}

func split(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
