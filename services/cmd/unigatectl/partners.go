package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	routerv1 "github.com/unigate/unigate/proto/gen/unigate/router/v1"
)

func newPartnersCmd(g *globals) *cobra.Command {
	return group("partners", "wallet partners: list, onboard, suspend, code ranges", `Read and change the wallet partners of the routing table. Reads go to the
router (any operator); changes go through the router's admin API (admin
operators only), are audited, and reach every service within a second.
routes put-partner changes any field of a partner's record.`,
		newPartnersListCmd(g), newPartnersGetCmd(g), newPartnersOnboardCmd(g),
		newPartnerStateCmd(g, "suspend", true), newPartnerStateCmd(g, "resume", false), newCodeRangesCmd(g))
}

// completePartners completes a partner id from the routing table.
func completePartners(g *globals) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		t, err := g.routingTable(cmd.Context())
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var ids []string
		for _, p := range t.GetPartners() {
			ids = append(ids, p.GetPartnerId()+"\t"+p.GetName())
		}
		return ids, cobra.ShellCompDirectiveNoFileComp
	}
}

// partner returns a partner's record in force, or an error naming it.
func (g globals) partner(cmd *cobra.Command, id string) (*routerv1.Partner, error) {
	t, err := g.routingTable(cmd.Context())
	if err != nil {
		return nil, err
	}
	for _, p := range t.GetPartners() {
		if p.GetPartnerId() == id {
			return p, nil
		}
	}
	return nil, fmt.Errorf("no partner %q in the routing table", id)
}

func newPartnersListCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "every partner: currency, state, endpoint, code ranges, key versions",
		Example: "  unigatectl partners list\n  unigatectl partners list -o json",
		Args:    noArgs,
	}
	o := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		t, err := g.routingTable(cmd.Context())
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		resp := &routerv1.GetRoutingTableResponse{Partners: t.GetPartners()}
		return o.print(out, resp, func() error { return partnerTable(out, t.GetPartners()) })
	}
	return cmd
}

func newPartnersGetCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:               "get PARTNER_ID",
		Short:             "one partner's record",
		Example:           "  unigatectl partners get hipay\n  unigatectl partners get hipay -o yaml",
		Args:              exactArgs(1),
		ValidArgsFunction: completePartners(g),
	}
	o := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		p, err := g.partner(cmd, args[0])
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		return o.print(out, p, func() error { return partnerDetail(out, p) })
	}
	return cmd
}

func newPartnersOnboardCmd(g *globals) *cobra.Command {
	var f partnerFlags
	cmd := &cobra.Command{
		Use:   "onboard PARTNER_ID --name NAME --currency CURRENCY [flags]",
		Short: "add a new partner to the routing table (admin)",
		Long: `Add a partner that is not in the routing table yet, with the record the flags
describe (admin operators only; audited). A partner already in the table is
refused: change it with routes put-partner. --dev-signing-key registers the
development PKI's key for it; in production give --signing-key.`,
		Example: `  unigatectl partners onboard tugpay --name TugPay --currency MNT --endpoint tugpay.example:443 \
      --code-ranges 2877:18 --signing-key v1=BASE64_PUBLIC_KEY --settlement-currency USD`,
		Args: exactArgs(1),
	}
	f.register(cmd.Flags())
	o := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		switch {
		case f.name == "":
			return required(cmd, "name")
		case f.currency == "":
			return required(cmd, "currency")
		}
		resp, err := g.putPartner(cmd.Context(), args[0], &f.keys, func(p *routerv1.Partner, exists bool) error {
			if exists {
				return fmt.Errorf("partner %q is in the routing table already: change it with routes put-partner", args[0])
			}
			return f.apply(cmd.Flags(), p)
		})
		if err != nil {
			return err
		}
		return printPut(cmd.OutOrStdout(), o, resp)
	}
	return cmd
}

// newPartnerStateCmd is suspend (disabled: every request of the partner
// is refused) or resume.
func newPartnerStateCmd(g *globals, verb string, disabled bool) *cobra.Command {
	short, long := "refuse every request of a partner (admin)", `Suspend a partner: the switch refuses its requests until it is resumed
(the record's disabled flag; admin operators only; audited). Payments in
flight are finished.`
	if !disabled {
		short, long = "accept a suspended partner's requests again (admin)", `Resume a suspended partner: its requests are accepted again (admin
operators only; audited).`
	}
	cmd := &cobra.Command{
		Use:               verb + " PARTNER_ID",
		Short:             short,
		Long:              long,
		Example:           "  unigatectl partners " + verb + " hipay",
		Args:              exactArgs(1),
		ValidArgsFunction: completePartners(g),
	}
	var keys keyFlags
	o := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		resp, err := g.putPartner(cmd.Context(), args[0], &keys, func(p *routerv1.Partner, exists bool) error {
			if !exists {
				return fmt.Errorf("no partner %q in the routing table", args[0])
			}
			p.Disabled = disabled
			return nil
		})
		if err != nil {
			return err
		}
		return printPut(cmd.OutOrStdout(), o, resp)
	}
	return cmd
}

func newCodeRangesCmd(g *globals) *cobra.Command {
	var set string
	cmd := &cobra.Command{
		Use:   "code-ranges PARTNER_ID [--set PREFIX:LENGTH[/LENGTH…],…]",
		Short: "show or set a partner's one-time code ranges",
		Long: `Show the ranges of one-time payment codes a partner issues (a prefix and the
code lengths), or replace them with --set (admin operators only; audited).
Overlapping prefixes of two partners are refused by the router.`,
		Example: `  unigatectl partners code-ranges hipay
  unigatectl partners code-ranges hipay --set 2899:18,2898:16/18`,
		Args:              exactArgs(1),
		ValidArgsFunction: completePartners(g),
	}
	cmd.Flags().StringVar(&set, "set", "", "replace the ranges with these")
	o := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		var p *routerv1.Partner
		if cmd.Flags().Changed("set") {
			ranges, err := parseCodeRanges(set)
			if err != nil {
				return usageError{"--set: " + err.Error()}
			}
			var keys keyFlags
			resp, err := g.putPartner(cmd.Context(), args[0], &keys, func(cur *routerv1.Partner, exists bool) error {
				if !exists {
					return fmt.Errorf("no partner %q in the routing table", args[0])
				}
				cur.CodeRanges = ranges
				return nil
			})
			if err != nil {
				return err
			}
			p = resp.GetPartner()
		} else {
			var err error
			if p, err = g.partner(cmd, args[0]); err != nil {
				return err
			}
		}
		out := cmd.OutOrStdout()
		return o.print(out, &routerv1.Partner{PartnerId: p.GetPartnerId(), CodeRanges: p.GetCodeRanges()}, func() error {
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PARTNER\tPREFIX\tLENGTHS")
			for _, r := range p.GetCodeRanges() {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", p.GetPartnerId(), r.GetPrefix(), formatCodeRanges([]*routerv1.CodeRange{r})[len(r.GetPrefix())+1:])
			}
			return tw.Flush()
		})
	}
	return cmd
}
