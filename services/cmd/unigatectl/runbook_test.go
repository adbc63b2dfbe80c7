package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunbookCommands checks every unigatectl command line of the
// operations guide, the runbooks and the README: each names a command that exists,
// with flags it takes, the number of arguments it wants and its required
// flags. (What each command does is tested with the command.)
func TestRunbookCommands(t *testing.T) {
	pages, err := filepath.Glob("../../../docs/runbooks/*.md")
	if err != nil || len(pages) == 0 {
		t.Fatalf("no runbooks (%v)", err)
	}
	pages = append(pages, "../../../docs/operations.md", "../../../README.md")
	checked := 0
	for _, page := range pages {
		for _, line := range commandLines(t, page) {
			args := shellWords(line)
			if len(args) == 0 || (args[0] != "unigatectl" && args[0] != "bin/unigatectl") {
				continue
			}
			checked++
			root := newRootCmd()
			cmd, rest, err := root.Find(args[1:])
			if err != nil || cmd == root {
				t.Errorf("%s: %q: no such command (%v)", page, line, err)
				continue
			}
			if err := cmd.ParseFlags(rest); err != nil {
				t.Errorf("%s: %q: %v", page, line, err)
				continue
			}
			if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
				t.Errorf("%s: %q: %v", page, line, err)
			}
			if err := cmd.ValidateRequiredFlags(); err != nil {
				t.Errorf("%s: %q: %v", page, line, err)
			}
		}
	}
	if checked < 20 {
		t.Errorf("only %d unigatectl command lines found in the runbooks", checked)
	}
}

// commandLines returns the lines of a page's ```sh blocks, continuation
// lines joined and comments dropped.
func commandLines(t *testing.T, page string) []string {
	t.Helper()
	f, err := os.Open(page)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	in, cont := false, ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "```sh"):
			in = true
			continue
		case strings.HasPrefix(l, "```"):
			in = false
			continue
		case !in:
			continue
		}
		if i := strings.Index(l, " #"); i >= 0 {
			l = l[:i]
		}
		l = strings.TrimSpace(l)
		if strings.HasSuffix(l, `\`) {
			cont += strings.TrimSuffix(l, `\`) + " "
			continue
		}
		if l = strings.TrimSpace(cont + l); l != "" {
			out = append(out, l)
		}
		cont = ""
	}
	return out
}

// shellWords splits a command line as sh would for the simple lines of
// the docs: blanks separate words, quotes group them; it stops at a pipe
// or a redirection.
func shellWords(line string) []string {
	var (
		words []string
		cur   strings.Builder
		quote rune
		have  bool
	)
	for _, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, have = r, true
		case r == ' ' || r == '\t':
			if have {
				words, have = append(words, cur.String()), false
				cur.Reset()
			}
		case r == '|' || r == '>' || r == '<':
			if have {
				words = append(words, cur.String())
			}
			return words
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if have {
		words = append(words, cur.String())
	}
	return words
}
