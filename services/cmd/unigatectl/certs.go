package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/unigate/unigate/pkg/pki"
	"github.com/unigate/unigate/services/app"
)

func newCertsCmd() *cobra.Command {
	var dir, partners, networks string
	dev := &cobra.Command{
		Use:   "dev [--dir DIR] [--partners ID,…] [--networks ID,…]",
		Short: "write a development PKI",
		Long: `Write (or complete) a development PKI: the three CAs (Unigate's, partners',
networks'), a certificate for each service, the demo partners, the wallet
simulator, the simulated network, the partners and networks given, and the
operators admin, operator and viewer. Existing files are kept.`,
		Example: "  unigatectl certs dev --dir pki --partners tugpay",
		Args:    noArgs,
	}
	dev.Flags().StringVar(&dir, "dir", ".data/pki", "where to write the PKI")
	dev.Flags().StringVar(&partners, "partners", "", "more partner ids, comma-separated")
	dev.Flags().StringVar(&networks, "networks", "", "more network ids, comma-separated")
	_ = dev.MarkFlagDirname("dir")
	dev.RunE = func(cmd *cobra.Command, _ []string) error {
		d, err := app.DevPKI(dir, split(partners)...)
		if err != nil {
			return err
		}
		if n := split(networks); len(n) > 0 {
			if _, err := pki.WriteDev(dir, pki.DevSpec{Networks: n}); err != nil {
				return err
			}
		}
		_, err = fmt.Fprintf(cmd.OutOrStdout(), "development PKI in %s: ca/{unigate,partners,networks}.crt, service/, partner/, network/, operator/\n", d.Dir)
		return err
	}
	return group("certs", "development certificates", `Write a development PKI for local runs and tests.`, dev)
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
