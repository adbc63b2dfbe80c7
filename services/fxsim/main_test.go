package fxsim

import (
	"testing"

	"go.uber.org/goleak"
)

// Serve leaves no goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
