package telemetry_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a collector, an exporter's
// connection or a batcher running.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
