package main

// Every plugin package registers its stages, matches and targets in init();
// linking it here is what puts it in the binary (as CoreDNS's plugin.cfg
// generates zplugin.go).
import (
	_ "fwd/conntrack"
	_ "fwd/decode"
	_ "fwd/icmperr"
	_ "fwd/ipfrag"
	_ "fwd/nat"
	_ "fwd/router"
)
