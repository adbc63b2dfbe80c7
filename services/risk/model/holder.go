package model

import (
	"fmt"
	"sync/atomic"
)

// Holder is the model in force, swapped at run time: a scorer takes the
// current model once per decision (Current) and keeps it for that
// decision, so a swap never mixes two models in one score.
type Holder struct{ cur atomic.Pointer[held] }

type held struct {
	m      *Model
	source string
}

// NewHolder returns a holder of m, loaded from source (a file name, for
// reports).
func NewHolder(m *Model, source string) *Holder {
	h := &Holder{}
	h.cur.Store(&held{m, source})
	return h
}

// Current returns the model in force and where it was loaded from.
func (h *Holder) Current() (*Model, string) {
	c := h.cur.Load()
	return c.m, c.source
}

// SwapFile loads the model at path and puts it in force. A file that does
// not load (corrupt, truncated, another format or version) is refused with
// the error, and the model in force stays.
func (h *Holder) SwapFile(path string) error {
	m, err := LoadFile(path)
	if err != nil {
		return fmt.Errorf("model: %s refused, %s stays in force: %w", path, h.cur.Load().source, err)
	}
	h.cur.Store(&held{m, path})
	return nil
}

// Swap puts m, loaded from source, in force.
func (h *Holder) Swap(m *Model, source string) { h.cur.Store(&held{m, source}) }
