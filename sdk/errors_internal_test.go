package unigate

import (
	"bufio"
	"os"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
)

// TestSentinelsMatchDocs keeps the sentinels identical to the reasons of
// docs/errors.md: the same set of reasons, each with the documented code.
func TestSentinelsMatchDocs(t *testing.T) {
	f, err := os.Open("../docs/errors.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	row := regexp.MustCompile("^\\| `([A-Z_]+)` \\| `([A-Z_]+)` \\|")
	doc := map[string]codes.Code{}
	var order []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := row.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		var c codes.Code
		if err := c.UnmarshalJSON([]byte(`"` + m[2] + `"`)); err != nil {
			t.Fatalf("docs/errors.md: reason %s has code %s: %v", m[1], m[2], err)
		}
		doc[m[1]] = c
		order = append(order, m[1])
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(doc) < 20 {
		t.Fatalf("read only %d reasons from docs/errors.md; has its table changed shape?", len(doc))
	}
	have := map[string]codes.Code{}
	for _, s := range sentinels {
		if _, dup := have[s.Reason]; dup {
			t.Errorf("two sentinels for %s", s.Reason)
		}
		have[s.Reason] = s.Code
	}
	for _, r := range order {
		c, ok := have[r]
		switch {
		case !ok:
			t.Errorf("docs/errors.md lists %s but the SDK has no sentinel for it (add Err%s)", r, camel(r))
		case c != doc[r]:
			t.Errorf("sentinel %s has code %v, docs/errors.md says %v", r, c, doc[r])
		}
	}
	for r := range have {
		if _, ok := doc[r]; !ok {
			t.Errorf("the SDK has a sentinel for %s, which docs/errors.md does not list", r)
		}
	}
}

func camel(reason string) string {
	var b strings.Builder
	for _, w := range strings.Split(reason, "_") {
		b.WriteString(w[:1] + strings.ToLower(w[1:]))
	}
	return b.String()
}
