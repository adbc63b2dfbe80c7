package grpcx

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves goroutines behind (a server
// not stopped, a connection not closed).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
