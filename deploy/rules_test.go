package deploy_test

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// documented reads the metrics docs/metrics.md lists: the first,
// backquoted cell of a table row, with its type (the second cell).
func documented(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("^\\| `([a-zA-Z_:][a-zA-Z0-9_:]*)` \\| ([a-z]+) \\|")
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if m := row.FindStringSubmatch(line); m != nil {
			out[m[1]] = m[2]
		}
	}
	if len(out) == 0 {
		t.Fatal("docs/metrics.md lists no metric")
	}
	return out
}

// isDocumented reports whether name is a documented metric or one of the
// series of a documented histogram or summary.
func isDocumented(docs map[string]string, name string) bool {
	if _, ok := docs[name]; ok {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if typ := docs[base]; typ == "histogram" || (typ == "summary" && suffix != "_bucket") {
				return true
			}
		}
	}
	return false
}

// runbook is where an alert's runbook_url may point: a page of docs.
var runbook = regexp.MustCompile(`^docs/(runbooks/)?[a-z0-9-]+\.md$`)

// TestRules parses every Prometheus rules file (PromQL included) and
// checks it against docs/metrics.md: every metric an expression reads
// and every series a rule records is documented, and every alert has a
// severity, a summary and a runbook, and is listed in the document.
func TestRules(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("prometheus", "*.y*ml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no rules file in prometheus/")
	}
	docs := documented(t)
	doc, err := os.ReadFile(filepath.Join("..", "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	p := parser.NewParser(parser.Options{})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	alerts := 0
	alertNames := map[string]bool{}
	for _, f := range files {
		groups, errs := rulefmt.ParseFile(f, false, model.UTF8Validation, p, log)
		for _, err := range errs {
			t.Errorf("%s: %v", f, err)
		}
		if groups == nil {
			continue
		}
		for _, g := range groups.Groups {
			for _, r := range g.Rules {
				name := r.Alert + r.Record
				expr, err := p.ParseExpr(r.Expr)
				if err != nil {
					t.Errorf("%s: %s: %v", f, name, err)
					continue
				}
				for _, m := range metricNames(expr) {
					if !isDocumented(docs, m) {
						t.Errorf("%s: %s reads %s, which docs/metrics.md does not document", f, name, m)
					}
				}
				if r.Record != "" {
					if !isDocumented(docs, r.Record) {
						t.Errorf("%s: the recorded series %s is not in docs/metrics.md", f, r.Record)
					}
					continue
				}
				alerts++
				if s := r.Labels["severity"]; s != "page" && s != "ticket" {
					t.Errorf("%s: alert %s: severity %q, want page or ticket", f, name, s)
				}
				if r.Annotations["summary"] == "" {
					t.Errorf("%s: alert %s has no summary", f, name)
				}
				if u := r.Annotations["runbook_url"]; !runbook.MatchString(u) {
					t.Errorf("%s: alert %s: runbook_url %q, want docs/runbooks/NAME.md (or docs/NAME.md)", f, name, u)
				} else if _, err := os.Stat(filepath.Join("..", u)); err != nil {
					t.Errorf("%s: alert %s: its runbook %s: %v", f, name, u, err)
				}
				alertNames[name] = true
				if !strings.Contains(string(doc), "`"+name+"`") {
					t.Errorf("%s: alert %s is not described in docs/metrics.md", f, name)
				}
			}
		}
	}
	if alerts == 0 {
		t.Fatal("no alerting rule")
	}
	// Every alert a runbook or the operations guide names is one of them.
	pages, _ := filepath.Glob(filepath.Join("..", "docs", "runbooks", "*.md"))
	pages = append(pages, filepath.Join("..", "docs", "operations.md"))
	for _, page := range pages {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range alertRef.FindAllString(string(b), -1) {
			if name := strings.Trim(m, "`"); !alertNames[name] {
				t.Errorf("%s names the alert %s, which no rules file defines", page, name)
			}
		}
	}
}

// alertRef is an alert's name as the docs quote it.
var alertRef = regexp.MustCompile("`Unigate[A-Z][A-Za-z]+`")

// metricNames lists the metric names an expression selects.
func metricNames(expr parser.Expr) []string {
	var out []string
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		if vs.Name != "" {
			out = append(out, vs.Name)
			return nil
		}
		for _, m := range vs.LabelMatchers {
			if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
				out = append(out, m.Value)
			}
		}
		return nil
	})
	return out
}

// TestRulesCatchUndocumented: the check above fails for a metric the
// document does not list and for an alert without a runbook.
func TestRulesCatchUndocumented(t *testing.T) {
	docs := documented(t)
	p := parser.NewParser(parser.Options{})
	expr, err := p.ParseExpr(`sum(rate(unigate_no_such_metric_total[5m])) / sum(rate(grpc_server_handling_seconds_bucket[5m]))`)
	if err != nil {
		t.Fatal(err)
	}
	names := metricNames(expr)
	if len(names) != 2 || isDocumented(docs, names[0]) || !isDocumented(docs, names[1]) {
		t.Fatalf("names %v: want the first undocumented, the histogram's bucket documented", names)
	}
	bad := []byte("groups:\n  - name: x\n    rules:\n      - alert: X\n        expr: up == 0 +\n")
	if _, errs := rulefmt.Parse(bad, false, model.UTF8Validation, p, slog.New(slog.NewTextHandler(io.Discard, nil))); len(errs) == 0 {
		t.Fatal("a rule with broken PromQL parsed")
	}
	if runbook.MatchString("https://example.org/runbook") || !runbook.MatchString("docs/runbooks/stuck-u-payments.md") {
		t.Fatal("runbook pattern")
	}
}
