package model

import (
	"bytes"
	_ "embed"
	"sync"
)

// The model make train-risk trains and commits; the risk service loads
// it at start unless told to load another file.
//
//go:embed testdata/model-v1.json
var defaultModel []byte

// DefaultSize is the committed model file's size in bytes.
var DefaultSize = len(defaultModel)

// DefaultThreshold is the score the committed model was evaluated at
// (testdata/eval.json: the maximum F1 on the validation split).
const DefaultThreshold = 0.79

var loadDefault = sync.OnceValues(func() (*Model, error) { return Load(bytes.NewReader(defaultModel)) })

// Default returns the committed model.
func Default() (*Model, error) { return loadDefault() }

// Km is the great-circle distance between two points, in km.
func Km(lat1, lon1, lat2, lon2 float64) float64 { return km(lat1, lon1, lat2, lon2) }

// MCCClass is a merchant category's risk class, as the model's MCCRisk
// feature takes it: 0 for categories the simulation does not name.
func MCCClass(mcc string) int {
	for _, c := range categories {
		if c.mcc == mcc {
			return c.risk
		}
	}
	return 0
}
