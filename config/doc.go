// Package config decodes and validates fwd's TOML configuration into a
// typed model (interfaces, routes, conntrack and fragment settings, ICMP
// settings, sets, and tables of chains of rules).
//
// Place in the flow: read once at start and at each reload, before any
// packet moves; nothing here runs per packet. Errors carry the file, line
// and column of the key at fault ("file:line:col: message"), and every error
// of a file is reported in one run. Rule keys are kept raw with their
// positions: the rules package, which owns matches and targets, decodes them.
//
// How a file is read (Parse):
//
//  1. github.com/BurntSushi/toml decodes the text into a generic map. A
//     syntax error stops here and comes back as one "file:line:col: message"
//     from toml.ParseError's Position.
//  2. A small scanner of our own (index.go) walks the same text and maps
//     every key path to the place of its key: "interface[1].addr",
//     "filter.forward.rule[3].dport", "sets.blocklist.elements[0]",
//     "filter.forward.rule[5].tcp_flags.mask". It knows [tables],
//     [[arrays.of.tables]], dotted and quoted keys, inline tables and arrays
//     (each key and element at its own column), multi-line strings and
//     comments. The library keeps no positions, hence this.
//  3. The decoder fills the model starting from Default(), checks types,
//     ranges, addresses, cross-references (a route's dev and via) and
//     reports every unknown key with a did-you-mean suggestion (Suggest).
//     Chains and rules are kept in file order with positions; a Value's Pos
//     is its key's place, and each array element's own place.
//
// Helpers for the rules package: Suggest, Describe, TypeName, UnknownKey,
// KV.TypeError, Value.Errorf and the Value accessors (Str, Int, Strings, ...),
// Hooks, TableHooks and IsHook.
//
// Allocation and ownership: Parse allocates freely and returns a Config that
// shares nothing with the input bytes. No goroutines.
package config
