// Package comment is the rules.match.comment plugin: comment = "text"
// annotates a rule; it shows in listings ("/* text */") and traces, and
// never runs on the datapath.
package comment
