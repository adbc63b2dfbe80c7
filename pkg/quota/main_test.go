package quota

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test server, connection or blocked
// handler outlives its test.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
