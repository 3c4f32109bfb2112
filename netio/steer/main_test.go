package steer_test

import (
	"testing"

	"fwd/netio/steer/nstest"
)

func TestMain(m *testing.M) { nstest.Main(m) }
