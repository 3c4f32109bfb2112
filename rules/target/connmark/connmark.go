package connmark

import (
	"fmt"

	"fwd/config"
	"fwd/packet"
	"fwd/pipeline"
	"fwd/rules"
)

func init() { pipeline.Register(ConnMark{}) }

type op uint8

const (
	opSet op = iota
	opSave
	opRestore
)

// ConnMark is the connmark target.
type ConnMark struct {
	op          op
	value, mask uint32
}

var _ rules.TargetModule = (*ConnMark)(nil)

// Module returns the plugin's registration.
func (ConnMark) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "rules.target.connmark", New: func() pipeline.Module { return new(ConnMark) }}
}

// Options lists the target's rule keys.
func (*ConnMark) Options() []string {
	return []string{"set_mark", "save_mark", "restore_mark", "mask"}
}

// Decode reads exactly one operation.
func (t *ConnMark) Decode(d *rules.Decoder) bool {
	akv, _ := d.Get("action")
	n := 0
	t.mask = 0xffffffff
	if kv, ok := d.Get("set_mark"); ok {
		n++
		v, m, good := rules.ParseMark(kv.Value.V)
		if !good {
			d.Errorf(kv.Pos, "set_mark: expected a mark like \"0x1\" or \"0x1/0xff\", got %s", config.Describe(kv.Value.V))
			return false
		}
		t.op, t.value, t.mask = opSet, v, m
	}
	for _, x := range []struct {
		k  string
		op op
	}{{"save_mark", opSave}, {"restore_mark", opRestore}} {
		kv, ok := d.Get(x.k)
		if !ok {
			continue
		}
		b, isBool := kv.Value.V.(bool)
		if !isBool {
			d.Errorf(kv.Pos, "%s: expected true, got %s", x.k, config.Describe(kv.Value.V))
			return false
		}
		if b {
			n++
			t.op = x.op
		}
	}
	if kv, ok := d.Get("mask"); ok {
		v, _, good := rules.ParseMark(kv.Value.V)
		if !good || t.op == opSet {
			d.Errorf(kv.Pos, "mask: goes with save_mark or restore_mark and is a mark like \"0xff\"")
			return false
		}
		t.mask = v
	}
	if n != 1 {
		d.Errorf(akv.Pos, "action connmark needs exactly one of set_mark, save_mark = true, restore_mark = true")
		return false
	}
	return true
}

// Name is the listing's target column.
func (*ConnMark) Name() string { return "CONNMARK" }

// Do changes pkt.CTMark or pkt.Mark.
func (t *ConnMark) Do(pkt *packet.Packet) rules.Verdict {
	switch t.op {
	case opSet:
		pkt.CTMark = pkt.CTMark&^t.mask | t.value
		pkt.CTMarkDirty = true
	case opSave:
		pkt.CTMark = pkt.CTMark&^t.mask | pkt.Mark&t.mask
		pkt.CTMarkDirty = true
	case opRestore:
		pkt.Mark = pkt.Mark&^t.mask | pkt.CTMark&t.mask
	}
	return rules.Continue
}

// List shows "CONNMARK set 0x1", "CONNMARK save", "CONNMARK restore".
func (t *ConnMark) List(l *rules.Listing) {
	var s string
	switch t.op {
	case opSet:
		if t.mask == 0xffffffff {
			s = fmt.Sprintf("CONNMARK set 0x%x", t.value)
		} else {
			s = fmt.Sprintf("CONNMARK xset 0x%x/0x%x", t.value, t.mask)
		}
	case opSave:
		s = "CONNMARK save"
	case opRestore:
		s = "CONNMARK restore"
	}
	if t.op != opSet && t.mask != 0xffffffff {
		s += fmt.Sprintf(" mask 0x%x", t.mask)
	}
	l.TargetText = append(l.TargetText, s)
}
