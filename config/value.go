package config

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Helpers for packages (rules, matches, targets) that decode the raw rule
// keys kept in Rule.Keys and report mistakes at the key's place.

// Errorf returns an *Error at the value's place.
func (v Value) Errorf(format string, args ...any) *Error {
	return Errorf(v.Pos, format, args...)
}

// Errorf returns an *Error at the key's place.
func (kv KV) Errorf(format string, args ...any) *Error {
	return Errorf(kv.Pos, format, args...)
}

// TypeError returns the standard wrong-type message at the key's place,
// e.g. `dport: expected an integer, got string "x"`. want is a phrase such
// as "an integer", "a string", "an array of strings".
func (kv KV) TypeError(want string) *Error {
	return Errorf(kv.Pos, "%s: expected %s, got %s", kv.Key, want, Describe(kv.Value.V))
}

// Str returns the value as a string.
func (v Value) Str() (string, bool) { s, ok := v.V.(string); return s, ok }

// Int returns the value as an integer.
func (v Value) Int() (int64, bool) { n, ok := v.V.(int64); return n, ok }

// Bool returns the value as a boolean.
func (v Value) Bool() (bool, bool) { b, ok := v.V.(bool); return b, ok }

// List returns the value as an array.
func (v Value) List() ([]Value, bool) { l, ok := v.V.([]Value); return l, ok }

// Table returns the value as an inline table.
func (v Value) Table() (map[string]Value, bool) { m, ok := v.V.(map[string]Value); return m, ok }

// Strings returns the value as a list of strings; a single string is a list
// of one. ok is false when any element is not a string.
func (v Value) Strings() (out []string, ok bool) {
	switch x := v.V.(type) {
	case string:
		return []string{x}, true
	case []Value:
		out = make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.V.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	}
	return nil, false
}

// TypeName names the TOML type of a decoded value: "string", "integer",
// "float", "boolean", "array", "table", "datetime".
func TypeName(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case int64, int:
		return "integer"
	case float64:
		return "float"
	case bool:
		return "boolean"
	case []Value, []any, []map[string]any:
		return "array"
	case map[string]Value, map[string]any:
		return "table"
	case time.Time:
		return "datetime"
	}
	return fmt.Sprintf("%T", v)
}

// Describe returns the type and value for messages: `string "big"`,
// `integer 7`, `array ["a", "b"]`, `table { a = 1 }`.
func Describe(v any) string {
	return TypeName(v) + " " + valueText(v)
}

func valueText(v any) string {
	switch x := v.(type) {
	case Value:
		return x.String()
	case []any:
		vs := make([]Value, len(x))
		for i := range x {
			vs[i] = rawValue(x[i])
		}
		return Value{V: vs}.String()
	case []map[string]any:
		vs := make([]Value, len(x))
		for i := range x {
			vs[i] = rawValue(x[i])
		}
		return Value{V: vs}.String()
	case map[string]any:
		return rawValue(x).String()
	}
	return Value{V: v}.String()
}

// rawValue converts a decoded TOML value to a Value without positions.
func rawValue(v any) Value {
	switch x := v.(type) {
	case []any:
		vs := make([]Value, len(x))
		for i := range x {
			vs[i] = rawValue(x[i])
		}
		return Value{V: vs}
	case []map[string]any:
		vs := make([]Value, len(x))
		for i := range x {
			vs[i] = rawValue(x[i])
		}
		return Value{V: vs}
	case map[string]any:
		m := make(map[string]Value, len(x))
		for k, e := range x {
			m[k] = rawValue(e)
		}
		return Value{V: m}
	}
	return Value{V: v}
}

// Suggest returns the candidate closest to word by edit distance when it is
// close enough to be a likely typo, else the first candidate that word
// abbreviates (at least two letters), else "". Ties go to the earlier
// candidate.
func Suggest(word string, candidates []string) string {
	best, bestD := "", -1
	limit := (len(word) + 2) / 3
	if limit < 1 {
		limit = 1
	}
	if limit > 3 {
		limit = 3
	}
	for _, c := range candidates {
		d := levenshtein(word, c)
		if d <= limit && (bestD < 0 || d < bestD) {
			best, bestD = c, d
		}
	}
	if best == "" && len(word) >= 2 {
		for _, c := range candidates {
			if strings.HasPrefix(c, word) {
				return c
			}
		}
	}
	return best
}

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// didYouMean returns `; did you mean "x"?` or "".
func didYouMean(word string, candidates []string) string {
	if s := Suggest(word, candidates); s != "" {
		return fmt.Sprintf("; did you mean %q?", s)
	}
	return ""
}

// UnknownKey returns the standard message for a key not in allowed, with a
// suggestion: `unknown key "mtuu" in [[interface]]; did you mean "mtu"?`.
func UnknownKey(pos Pos, key, where string, allowed []string) *Error {
	sorted := append([]string(nil), allowed...)
	sort.Strings(sorted)
	return Errorf(pos, "unknown key %q %s%s", key, where, didYouMean(key, sorted))
}
