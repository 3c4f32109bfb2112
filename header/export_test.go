package header

// Internals the external tests (package header_test) compare against.
var (
	ParseTCPOptionsWalk = parseTCPOptionsWalk
	IPv4HeaderSum       = ipv4HeaderSum
	IPv4HeaderOK        = ipv4HeaderChecksumOK
)
