package quota

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
)

// Limits are one caller's budgets. A zero field leaves that budget
// unlimited. Its JSON form is what is stored per partner:
//
//	{"rate_per_second": 50, "burst": 100, "max_concurrent": 32, "max_streams": 4}
type Limits struct {
	// RatePerSecond is how many calls (unary calls and stream openings) a
	// second the caller may make on average.
	RatePerSecond float64 `json:"rate_per_second"`
	// Burst is how many calls the caller may make at once after being
	// idle. Zero means one second's worth: RatePerSecond rounded up, at
	// least 1. It needs RatePerSecond.
	Burst int `json:"burst"`
	// MaxConcurrent bounds the caller's unary calls in flight.
	MaxConcurrent int `json:"max_concurrent"`
	// MaxStreams bounds the caller's open streams.
	MaxStreams int `json:"max_streams"`
}

// Validate reports every field that is out of range: a negative or
// non-finite value, or a burst without a rate.
func (l Limits) Validate() error {
	var errs []error
	if math.IsNaN(l.RatePerSecond) || math.IsInf(l.RatePerSecond, 0) || l.RatePerSecond < 0 {
		errs = append(errs, fmt.Errorf("quota: rate_per_second %v must be a finite number, 0 or more", l.RatePerSecond))
	}
	if l.Burst < 0 {
		errs = append(errs, fmt.Errorf("quota: burst %d must be 0 or more", l.Burst))
	}
	if l.Burst > 0 && l.RatePerSecond == 0 {
		errs = append(errs, fmt.Errorf("quota: burst %d needs a rate_per_second", l.Burst))
	}
	if l.MaxConcurrent < 0 {
		errs = append(errs, fmt.Errorf("quota: max_concurrent %d must be 0 or more", l.MaxConcurrent))
	}
	if l.MaxStreams < 0 {
		errs = append(errs, fmt.Errorf("quota: max_streams %d must be 0 or more", l.MaxStreams))
	}
	return errors.Join(errs...)
}

// LimitsFromJSON parses and validates stored limits. It is strict, because
// a field that is silently dropped means unlimited: an unknown field,
// anything after the object, or a bare null is an error. "{}" is valid
// and means no limits.
func LimitsFromJSON(data []byte) (Limits, error) {
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		return Limits{}, errors.New("quota: limits are null")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var l Limits
	if err := dec.Decode(&l); err != nil {
		return Limits{}, fmt.Errorf("quota: limits: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Limits{}, errors.New("quota: limits: data after the object")
	}
	if err := l.Validate(); err != nil {
		return Limits{}, err
	}
	return l, nil
}
