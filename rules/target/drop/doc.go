// Package drop is the rules.target.drop plugin: action = "drop" drops the packet; the drop reason is "rule" ("ct-invalid" when conntrack said invalid).
package drop
