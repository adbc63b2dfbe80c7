package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/unigate/unigate/services/risk/rules"
)

// RuleFile is a rule set as operators keep it: docs/risk.md.
type RuleFile struct {
	Version int64        `json:"version"`
	Rules   []rules.Rule `json:"rules"`
}

// riskRulesCheck compiles a rule file as the risk service would and prints
// its rules, or every problem: it exits non-zero if the set would be
// refused.
func riskRulesCheck(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("risk rules check", flag.ContinueOnError)
	o := outputFlag(fs)
	if err := fs.Parse(reorder(args)); err != nil {
		return err
	}
	if err := checkOutput(*o); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: risk rules check FILE [-o json]")
	}
	body, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	var f RuleFile
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return fmt.Errorf("%s: %w", fs.Arg(0), err)
	}
	set, err := rules.Compile(f.Version, f.Rules)
	if err != nil {
		return fmt.Errorf("%s: the risk service would refuse this set and keep the one in force:\n%w", fs.Arg(0), err)
	}
	if *o == "json" {
		b, _ := json.MarshalIndent(map[string]any{"version": set.Version, "rules": set.Rules, "ok": true}, "", "  ")
		_, err := fmt.Fprintln(out, string(b))
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "set version %d: %d rules compile\n", set.Version, len(set.Rules))
	fmt.Fprintln(tw, "RULE\tVERSION\tACTION\tMODE\tEXPRESSION")
	for _, r := range set.Rules {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", r.ID, r.Version, r.Action, r.Mode, r.Expr)
	}
	return tw.Flush()
}
