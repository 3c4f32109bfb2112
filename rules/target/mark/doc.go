// Package mark is the rules.target.mark plugin: action = "mark" with one
// of set_mark = "0x1[/0xff]" (clear the mask bits, then OR the value),
// and_mark, or_mark, xor_mark, as iptables' MARK. Non-terminal.
package mark
