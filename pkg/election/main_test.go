package election

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a campaign, session or leader's work
// outlives its test.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
