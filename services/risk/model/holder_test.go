package model

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// TestSwapUnderLoad: scores go on while the model is swapped; none fails;
// a corrupt file is refused and the model in force stays.
func TestSwapUnderLoad(t *testing.T) {
	const good = "testdata/model-v1.json"
	m, err := LoadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	h := NewHolder(m, good)
	body, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "model-v2.json")
	if err := os.WriteFile(corrupt, body[:len(body)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	copyOf := filepath.Join(dir, "model-v1-copy.json")
	if err := os.WriteFile(copyOf, body, 0o600); err != nil {
		t.Fatal(err)
	}
	features := make([]float64, NumFeatures)
	want := m.Score(features)
	var (
		wg     sync.WaitGroup
		stop   atomic.Bool
		scores atomic.Int64
		bad    atomic.Value
	)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				cur, _ := h.Current()
				if got := cur.Score(features); got != want {
					bad.Store(got)
					return
				}
				scores.Add(1)
			}
		}()
	}
	for i := range 20 {
		path := copyOf
		if i%2 == 1 {
			path = good
		}
		if err := h.SwapFile(path); err != nil {
			t.Fatal(err)
		}
		err := h.SwapFile(corrupt)
		if !errors.Is(err, ErrInvalidModel) || !strings.Contains(err.Error(), path+" stays in force") {
			t.Fatalf("a corrupt model: %v", err)
		}
		if _, src := h.Current(); src != path {
			t.Fatalf("after a refused swap %s is in force, want %s", src, path)
		}
	}
	stop.Store(true)
	wg.Wait()
	if b := bad.Load(); b != nil {
		t.Fatalf("a score during the swaps was %v, want %v", b, want)
	}
	if scores.Load() == 0 {
		t.Fatal("nothing was scored")
	}
}
