package rules_test

import (
	"os"
	"testing"

	"fwd/rules"
)

func TestSmokeGateway(t *testing.T) {
	rs := mustCompile(t, gateway(t))
	rs.WriteListing(os.Stdout, rules.ListOptions{Verbose: true, Exact: true, LineNumbers: true})
}
