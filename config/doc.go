// Package config decodes and validates fwd's TOML configuration into a
// typed model (interfaces, routes, conntrack and fragment settings, ICMP
// settings, sets, and tables of chains of rules).
//
// Place in the flow: read once at start and at each reload, before any
// packet moves; nothing here runs per packet. Errors carry the file, line
// and column of the key at fault ("file:line:col: message"), and every error
// of a file is reported in one run. Rule keys are kept raw with their
// positions: the rules package, which owns matches and targets, decodes them.
package config
