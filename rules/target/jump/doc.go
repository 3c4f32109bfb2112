// Package jump is the rules.target.jump plugin: action = "jump", target =
// "CHAIN" enters a user chain of the same table. The walk itself follows
// it (rules.JumpTarget); loops and nesting deeper than rules.MaxDepth are
// rejected at load.
package jump
