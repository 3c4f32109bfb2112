// Package ctl is the control socket behind the CLI: `fwd run` serves a unix
// socket (default /run/fwd/fwd.sock, mode 0600), and `fwd conntrack`,
// `fwd rules`, `fwd sets`, `fwd reload` and `fwd trace` are its clients.
//
// Requests are one bounded JSON line; answers are JSON lines ending in a
// done or error line (see ctl.go). Handlers run on the socket's own
// goroutines, never on a datapath worker, and read the datapath's state
// through snapshots and atomics, so a slow or stuck client cannot stall
// packets: a client that stops reading is cut off after a write timeout.
// Errors are typed (*Error with a code) so the CLI can map them to exit
// statuses as conntrack-tools does.
//
// metrics.go writes the Prometheus text exposition format (0.0.4) and
// serves it over HTTP for `fwd run` when [control] metrics is set; the
// daemon's "metrics" command answers the same text. A scrape runs on the
// HTTP server's goroutine and reads counters through atomics.
package ctl
