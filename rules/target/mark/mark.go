package mark

import (
	"fmt"

	"fwd/config"
	"fwd/packet"
	"fwd/pipeline"
	"fwd/rules"
)

func init() { pipeline.Register(Mark{}) }

type op uint8

const (
	opSet op = iota
	opAnd
	opOr
	opXor
)

// Mark is the mark target.
type Mark struct {
	op          op
	value, mask uint32
}

var _ rules.TargetModule = (*Mark)(nil)

// Module returns the plugin's registration.
func (Mark) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "rules.target.mark", New: func() pipeline.Module { return new(Mark) }}
}

// Options lists the target's rule keys.
func (*Mark) Options() []string { return []string{"set_mark", "and_mark", "or_mark", "xor_mark"} }

// Decode reads exactly one operation.
func (t *Mark) Decode(d *rules.Decoder) bool {
	n := 0
	for i, k := range t.Options() {
		kv, ok := d.Get(k)
		if !ok {
			continue
		}
		n++
		v, m, good := rules.ParseMark(kv.Value.V)
		if !good || (op(i) != opSet && m != 0xffffffff) {
			d.Errorf(kv.Pos, "%s: expected a mark like \"0x1\"%s, got %s", k, map[bool]string{true: " or \"0x1/0xff\"", false: ""}[op(i) == opSet], config.Describe(kv.Value.V))
			return false
		}
		t.op, t.value, t.mask = op(i), v, m
	}
	if n != 1 {
		akv, _ := d.Get("action")
		d.Errorf(akv.Pos, "action mark needs exactly one of set_mark, and_mark, or_mark, xor_mark")
		return false
	}
	return true
}

// Name is the listing's target column.
func (*Mark) Name() string { return "MARK" }

// Do changes pkt.Mark.
func (t *Mark) Do(pkt *packet.Packet) rules.Verdict {
	switch t.op {
	case opSet:
		pkt.Mark = pkt.Mark&^t.mask | t.value
	case opAnd:
		pkt.Mark &= t.value
	case opOr:
		pkt.Mark |= t.value
	case opXor:
		pkt.Mark ^= t.value
	}
	return rules.Continue
}

// List shows "MARK set 0x1" / "MARK xset 0x1/0xff" / "MARK and 0x..." as libxt_MARK.
func (t *Mark) List(l *rules.Listing) {
	var s string
	switch t.op {
	case opSet:
		if t.mask == 0xffffffff {
			s = fmt.Sprintf("MARK set 0x%x", t.value)
		} else {
			s = fmt.Sprintf("MARK xset 0x%x/0x%x", t.value, t.mask)
		}
	case opAnd:
		s = fmt.Sprintf("MARK and 0x%x", t.value)
	case opOr:
		s = fmt.Sprintf("MARK or 0x%x", t.value)
	case opXor:
		s = fmt.Sprintf("MARK xor 0x%x", t.value)
	}
	l.TargetText = append(l.TargetText, s)
}
