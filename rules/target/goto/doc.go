// Package gotochain (folder goto) is the rules.target.goto plugin: action = "goto", target =
// "CHAIN" enters a user chain of the same table. The walk itself follows
// it (rules.JumpTarget); loops and nesting deeper than rules.MaxDepth are
// rejected at load.
package gotochain
