// Package accept is the rules.target.accept plugin: action = "accept" ends the walk of this table and lets the packet go on to the next stage (netfilter semantics: later tables still see it).
package accept
