package router

import (
	"fmt"
	"time"
	// Time zones are compiled in: a partner's cutoff must not depend on
	// the image having a zoneinfo database.
	_ "time/tzdata"
)

// ParseCutoff parses a daily settlement cutoff "HH:MM" and its IANA time
// zone (UTC when empty) into the time of day and the location. An empty
// cutoff returns a negative time of day: the partner has no daily cutoff.
// A zone without a cutoff is refused.
func ParseCutoff(cutoff, zone string) (at time.Duration, loc *time.Location, err error) {
	if cutoff == "" {
		if zone != "" {
			return 0, nil, fmt.Errorf("settlement time zone %q without a settlement cutoff", zone)
		}
		return -1, nil, nil
	}
	t, err := time.Parse("15:04", cutoff)
	if err != nil {
		return 0, nil, fmt.Errorf("settlement cutoff %q: want HH:MM (00:00 to 23:59)", cutoff)
	}
	loc = time.UTC
	if zone != "" {
		if loc, err = time.LoadLocation(zone); err != nil {
			return 0, nil, fmt.Errorf("settlement time zone %q: %v", zone, err)
		}
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, loc, nil
}
