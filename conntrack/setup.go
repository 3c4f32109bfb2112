package conntrack

import (
	"fwd/packet"
	"fwd/pipeline"
)

func init() {
	pipeline.Register(Stage{})
	pipeline.Register(ConfirmStage{})
}

// Stage is "stage.conntrack": it classifies every packet at PREROUTING
// (and OUTPUT, for packets fwd makes). All instances share one Table.
type Stage struct {
	t       *Table
	primary bool // the prerouting instance: it runs the table's timers
}

// Module implements pipeline.Module.
func (Stage) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "stage.conntrack", New: func() pipeline.Module { return new(Stage) }}
}

// Provision takes the shared table.
func (s *Stage) Provision(ctx *pipeline.Context) error {
	t, err := FromEnv(ctx.Env)
	if err != nil {
		return err
	}
	s.t = t
	s.primary = ctx.Hook == packet.Prerouting
	return nil
}

// Name implements pipeline.Stage.
func (s *Stage) Name() string { return "conntrack" }

// Process tracks pkt. Packets a raw `notrack` rule marked UNTRACKED are
// left alone.
func (s *Stage) Process(pkt *packet.Packet) pipeline.Verdict {
	switch {
	case pkt.CTState == packet.CTUntracked:
		return pipeline.Continue
	case pkt.CTState == packet.CTRelated && pkt.CT != nil:
		// Made by fwd about another packet and attached to its
		// connection (Attach): already classified.
		return pipeline.Continue
	}
	return s.t.Track(pkt)
}

// Attach gives a packet fwd made in answer to orig (an ICMP error, a TCP
// reset) orig's connection, as RELATED in the opposite direction, as
// Linux's nf_ct_attach does for REJECT: the answer then passes rules that
// accept RELATED traffic even when orig's connection was never confirmed.
// The conntrack stage leaves such packets alone and confirm ignores them.
func Attach(answer, orig *packet.Packet) {
	if orig.CT == nil {
		return
	}
	answer.CT = orig.CT
	answer.CTState = packet.CTRelated
	answer.CTReply = !orig.CTReply
	answer.CTStatus = orig.CTStatus
	answer.CTMark = orig.CTMark
}

// Table returns the stage's table.
func (s *Stage) Table() *Table { return s.t }

// ConfirmStage is "stage.confirm": at the end of POSTROUTING and INPUT it
// inserts the connection a packet's first packet made, so a packet the
// rules dropped leaves no entry.
type ConfirmStage struct {
	t *Table
}

// Module implements pipeline.Module.
func (ConfirmStage) Module() pipeline.ModuleInfo {
	return pipeline.ModuleInfo{ID: "stage.confirm", New: func() pipeline.Module { return new(ConfirmStage) }}
}

// Provision takes the shared table.
func (s *ConfirmStage) Provision(ctx *pipeline.Context) error {
	t, err := FromEnv(ctx.Env)
	if err != nil {
		return err
	}
	s.t = t
	return nil
}

// Name implements pipeline.Stage.
func (s *ConfirmStage) Name() string { return "confirm" }

// Selects implements pipeline.Selective: only a connection's first
// packets can need confirming, and any packet whose rules changed the
// connection mark has it stored.
func (s *ConfirmStage) Selects() pipeline.Selection { return pipeline.SelectUnconfirmed }

// Process confirms the packet's connection if it is new, and stores a
// connection mark the rules changed (CONNMARK --set-mark/--save-mark), as
// Linux's ctmark lives on the connection.
func (s *ConfirmStage) Process(pkt *packet.Packet) pipeline.Verdict {
	if pkt.CTMarkDirty {
		if c, ok := pkt.CT.(*Conn); ok && c != nil {
			s.t.SetMark(c, pkt.CTMark)
		}
		pkt.CTMarkDirty = false
	}
	return s.t.Confirm(pkt)
}

var (
	_ pipeline.Provisioner = (*Stage)(nil)
	_ pipeline.Stage       = (*Stage)(nil)
	_ pipeline.Provisioner = (*ConfirmStage)(nil)
	_ pipeline.Stage       = (*ConfirmStage)(nil)
)
