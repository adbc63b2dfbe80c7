package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/unigate/unigate/services/risk/model"
)

// TestRun: the two files have a header naming the label and the features
// in their order, then one line per payment; equal seeds are refused.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-out", dir, "-train-rows", "300", "-test-rows", "100"}, &out); err != nil {
		t.Fatal(err)
	}
	header := "label," + strings.Join(model.FeatureNames[:], ",")
	for name, rows := range map[string]int{"train.csv": 300, "test.csv": 100} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
		if lines[0] != header {
			t.Errorf("%s: header %q", name, lines[0])
		}
		if len(lines) != rows+1 {
			t.Errorf("%s: %d lines, want %d", name, len(lines), rows+1)
		}
		for _, l := range lines[1:] {
			if n := strings.Count(l, ","); n != model.NumFeatures || (l[0] != '0' && l[0] != '1') {
				t.Fatalf("%s: line %q", name, l)
			}
		}
	}
	if !strings.Contains(out.String(), "probe_burst") {
		t.Errorf("no summary of the patterns: %q", out.String())
	}
	if err := run(context.Background(), []string{"-out", dir, "-train-seed", "3", "-test-seed", "3"}, &out); err == nil {
		t.Error("equal seeds were accepted")
	}
}
