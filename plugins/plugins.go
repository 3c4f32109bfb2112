// Package plugins links every stage, match, target and device plugin of
// fwd. Each registers itself in init(); importing this package is what puts
// them in a binary or a test (as CoreDNS's plugin.cfg generates
// zplugin.go). The stage order is pipeline.Order, not the order here.
package plugins

import (
	_ "fwd/conntrack"
	_ "fwd/decode"
	_ "fwd/flowtable"
	_ "fwd/icmperr"
	_ "fwd/ipfrag"
	_ "fwd/nat"
	_ "fwd/router"
	_ "fwd/rules/stage"
)
