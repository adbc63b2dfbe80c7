package acquirer

import (
	"errors"
	"time"
)

// Config tunes the lifecycle.
type Config struct {
	// CancelWindow is how long after creation a payment may be cancelled.
	CancelWindow time.Duration
	// Schedule is the resolver's back-off for a payment in U: the wait
	// before each inquiry. When it is used up the payment is reversed.
	Schedule []time.Duration
	// ReverseRetry is the wait between attempts to reverse or to finish a
	// refund once the schedule is used up.
	ReverseRetry time.Duration
	// Tick is how often the resolver and the statement relay look for work.
	Tick time.Duration
	// RelayTick is how often the event relay numbers new events: the most
	// an event waits before partners can read it (200 ms when zero).
	RelayTick time.Duration
	// ProcessBound is how long the request path owns a new payment, cancel
	// or refund before the resolver takes it over (15 s when zero). Every
	// outbound call of a request is bounded well inside it; a stopping
	// process waits this long for requests in flight.
	ProcessBound time.Duration
	// PerEndpoint bounds the resolver's calls in flight to one downstream
	// endpoint (4 when zero), so a silent network holds up no other;
	// Workers bounds them in all (32 when zero).
	PerEndpoint, Workers int
}

// DefaultConfig follows the usual inquiry schedule of QR switches: a few
// seconds, then tens of seconds, then minutes (about 20 minutes in all).
func DefaultConfig() Config {
	return Config{
		CancelWindow: 24 * time.Hour,
		Schedule: []time.Duration{5 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute,
			2 * time.Minute, 5 * time.Minute, 10 * time.Minute},
		ReverseRetry: time.Minute,
		Tick:         time.Second,
	}.WithDefaults()
}

// WithDefaults fills the optional fields left zero.
func (c Config) WithDefaults() Config {
	if c.RelayTick <= 0 {
		c.RelayTick = min(c.Tick, 200*time.Millisecond)
		if c.RelayTick <= 0 {
			c.RelayTick = 200 * time.Millisecond
		}
	}
	if c.ProcessBound <= 0 {
		c.ProcessBound = 15 * time.Second
	}
	if c.PerEndpoint <= 0 {
		c.PerEndpoint = 4
	}
	if c.Workers <= 0 {
		c.Workers = 32
	}
	return c
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.CancelWindow <= 0 || len(c.Schedule) == 0 || c.ReverseRetry <= 0 || c.Tick <= 0 {
		return errors.New("acquirer: cancel window, schedule, reverse retry and tick must be set")
	}
	for _, d := range c.Schedule {
		if d <= 0 {
			return errors.New("acquirer: schedule steps must be positive")
		}
	}
	if c.RelayTick < 0 || c.ProcessBound < 0 || c.PerEndpoint < 0 || c.Workers < 0 {
		return errors.New("acquirer: relay tick, process bound, per-endpoint and worker limits must not be negative")
	}
	return nil
}
