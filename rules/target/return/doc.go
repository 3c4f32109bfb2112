// Package returnchain (folder return) is the rules.target.return plugin: action = "return" ends the current user chain and goes on after the jump that entered it; in a built-in chain, the policy decides.
package returnchain
