package feed_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every feed's Run, and every server a test starts, is gone when its test
// ends.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
