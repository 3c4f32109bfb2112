package conntrack

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strconv"

	"fwd/header"
	"fwd/packet"
)

// Entries returns a copy of every live entry, sorted by original tuple
// (protocol, source, destination, ports) then start time.
func (t *Table) Entries() []Entry {
	var out []Entry
	t.Range(func(e *Entry) bool {
		out = append(out, *e)
		return true
	})
	SortEntries(out)
	return out
}

// SortEntries sorts entries deterministically, as listings show them.
func SortEntries(es []Entry) {
	sort.Slice(es, func(i, j int) bool {
		a, b := &es[i].Orig, &es[j].Orig
		if a.Proto != b.Proto {
			return a.Proto < b.Proto
		}
		if c := cmp4(a.Src, b.Src); c != 0 {
			return c < 0
		}
		if c := cmp4(a.Dst, b.Dst); c != 0 {
			return c < 0
		}
		if a.SrcPort != b.SrcPort {
			return a.SrcPort < b.SrcPort
		}
		if a.DstPort != b.DstPort {
			return a.DstPort < b.DstPort
		}
		return es[i].Start < es[j].Start
	})
}

func cmp4(a, b [4]byte) int {
	for i := range a {
		if a[i] != b[i] {
			return int(a[i]) - int(b[i])
		}
	}
	return 0
}

// WriteList writes the table as `conntrack -L` does. format "" gives
// conntrack-tools' default lines, "extended" adds the address family,
// each endpoint's RFC 793 state (orig=... reply=...) and packet and byte
// counters, "json" writes one JSON array. now is the clock reading the
// timeouts count down from.
func (t *Table) WriteList(w io.Writer, format string, now int64) error {
	es := t.Entries()
	return WriteEntries(w, es, format, now)
}

// WriteEntries writes entries in a WriteList format.
func WriteEntries(w io.Writer, es []Entry, format string, now int64) error {
	switch format {
	case "", "extended":
	case "json":
		out := make([]jsonEntry, len(es))
		for i := range es {
			out[i] = toJSON(&es[i], now)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	default:
		return fmt.Errorf("conntrack: unknown output format %q (want \"\", extended or json)", format)
	}
	bw := bufio.NewWriter(w)
	var b []byte
	for i := range es {
		b = AppendEntry(b[:0], &es[i], format == "extended", now, true)
		b = append(b, '\n')
		if _, err := bw.Write(b); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// AppendEntry appends one conntrack -L line (without newline) to b.
// withTimeout is false for DESTROY events, which carry none.
func AppendEntry(b []byte, e *Entry, extended bool, now int64, withTimeout bool) []byte {
	return appendEntry(b, e, extended, now, withTimeout, true)
}

func appendEntry(b []byte, e *Entry, extended bool, now int64, withTimeout, trailer bool) []byte {
	if extended {
		b = append(b, "ipv4     2 "...)
	}
	name := protoName(e.Orig.Proto)
	b = append(b, name...)
	for i := len(name); i < 8; i++ {
		b = append(b, ' ')
	}
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(e.Orig.Proto), 10)
	b = append(b, ' ')
	if withTimeout {
		b = strconv.AppendInt(b, e.Timeout(now), 10)
		b = append(b, ' ')
	}
	if e.Orig.Proto == header.ProtoTCP {
		b = append(b, e.State.String()...)
		b = append(b, ' ')
		if extended {
			b = append(b, "orig="...)
			b = append(b, e.Endpoint[0].String()...)
			b = append(b, " reply="...)
			b = append(b, e.Endpoint[1].String()...)
			b = append(b, ' ')
		}
	}
	b = appendTuple(b, &e.Orig)
	if extended {
		b = appendCounters(b, e.Packets[0], e.Bytes[0])
	}
	if e.Status&packet.CTStatusSeenReply == 0 {
		b = append(b, "[UNREPLIED] "...)
	}
	b = appendTuple(b, &e.Reply)
	if extended {
		b = appendCounters(b, e.Packets[1], e.Bytes[1])
	}
	// libnetfilter_conntrack shows an offloaded connection as [OFFLOAD]
	// in place of [ASSURED].
	if e.Status&packet.CTStatusOffload != 0 {
		b = append(b, "[OFFLOAD] "...)
	} else if e.Status&packet.CTStatusAssured != 0 {
		b = append(b, "[ASSURED] "...)
	}
	if trailer {
		b = append(b, "mark="...)
		b = strconv.AppendUint(b, uint64(e.Mark), 10)
		b = append(b, " use=1 "...)
	}
	return b[:len(b)-1] // the last space
}

func appendTuple(b []byte, t *Tuple) []byte {
	b = append(b, "src="...)
	b = netip.AddrFrom4(t.Src).AppendTo(b)
	b = append(b, " dst="...)
	b = netip.AddrFrom4(t.Dst).AppendTo(b)
	b = append(b, ' ')
	switch t.Proto {
	case header.ProtoTCP, header.ProtoUDP:
		b = append(b, "sport="...)
		b = strconv.AppendUint(b, uint64(t.SrcPort), 10)
		b = append(b, " dport="...)
		b = strconv.AppendUint(b, uint64(t.DstPort), 10)
		b = append(b, ' ')
	case header.ProtoICMP:
		b = append(b, "type="...)
		b = strconv.AppendUint(b, uint64(t.ICMPType()), 10)
		b = append(b, " code="...)
		b = strconv.AppendUint(b, uint64(t.ICMPCode()), 10)
		b = append(b, " id="...)
		b = strconv.AppendUint(b, uint64(t.ICMPID()), 10)
		b = append(b, ' ')
	}
	return b
}

func appendCounters(b []byte, p, n uint64) []byte {
	b = append(b, "packets="...)
	b = strconv.AppendUint(b, p, 10)
	b = append(b, " bytes="...)
	b = strconv.AppendUint(b, n, 10)
	return append(b, ' ')
}

// AppendEvent appends one `conntrack -E` line (without newline): the
// right-aligned tag, then the entry; DESTROY lines carry no timeout.
func AppendEvent(b []byte, ev *Event, extended bool) []byte {
	tag := "[" + ev.Type.String() + "]"
	for i := len(tag); i < 9; i++ {
		b = append(b, ' ')
	}
	b = append(b, tag...)
	b = append(b, ' ')
	return appendEntry(b, &ev.Entry, extended, ev.Time, ev.Type != EventDestroy, false)
}

type jsonTuple struct {
	Src     string  `json:"src"`
	Dst     string  `json:"dst"`
	SPort   *uint16 `json:"sport,omitempty"`
	DPort   *uint16 `json:"dport,omitempty"`
	Type    *uint8  `json:"type,omitempty"`
	Code    *uint8  `json:"code,omitempty"`
	ID      *uint16 `json:"id,omitempty"`
	Packets uint64  `json:"packets"`
	Bytes   uint64  `json:"bytes"`
}

type jsonEntry struct {
	Proto      string    `json:"proto"`
	ProtoNum   uint8     `json:"protonum"`
	Timeout    int64     `json:"timeout"`
	State      string    `json:"state,omitempty"`
	OrigState  string    `json:"orig_state,omitempty"`
	ReplyState string    `json:"reply_state,omitempty"`
	Orig       jsonTuple `json:"orig"`
	Reply      jsonTuple `json:"reply"`
	Status     []string  `json:"status"`
	Mark       uint32    `json:"mark"`
	Use        int       `json:"use"`
}

func toJSONTuple(t *Tuple, p, n uint64) jsonTuple {
	j := jsonTuple{Src: netip.AddrFrom4(t.Src).String(), Dst: netip.AddrFrom4(t.Dst).String(), Packets: p, Bytes: n}
	switch t.Proto {
	case header.ProtoTCP, header.ProtoUDP:
		sp, dp := t.SrcPort, t.DstPort
		j.SPort, j.DPort = &sp, &dp
	case header.ProtoICMP:
		ty, co, id := t.ICMPType(), t.ICMPCode(), t.ICMPID()
		j.Type, j.Code, j.ID = &ty, &co, &id
	}
	return j
}

func toJSON(e *Entry, now int64) jsonEntry {
	j := jsonEntry{Proto: protoName(e.Orig.Proto), ProtoNum: e.Orig.Proto, Timeout: e.Timeout(now),
		Orig:   toJSONTuple(&e.Orig, e.Packets[0], e.Bytes[0]),
		Reply:  toJSONTuple(&e.Reply, e.Packets[1], e.Bytes[1]),
		Status: StatusNames(e.Status), Mark: e.Mark, Use: 1}
	if e.Orig.Proto == header.ProtoTCP {
		j.State = e.State.String()
		j.OrigState = e.Endpoint[0].String()
		j.ReplyState = e.Endpoint[1].String()
	}
	return j
}

// StatusNames lists the set status bits by conntrack-tools' names.
func StatusNames(s packet.CTStatus) []string {
	out := []string{}
	for _, x := range []struct {
		bit  packet.CTStatus
		name string
	}{
		{packet.CTStatusExpected, "EXPECTED"},
		{packet.CTStatusSeenReply, "SEEN_REPLY"},
		{packet.CTStatusAssured, "ASSURED"},
		{packet.CTStatusConfirmed, "CONFIRMED"},
		{packet.CTStatusSNAT, "SRC_NAT"},
		{packet.CTStatusDNAT, "DST_NAT"},
		{packet.CTStatusDying, "DYING"},
		{packet.CTStatusOffload, "OFFLOAD"},
	} {
		if s&x.bit != 0 {
			out = append(out, x.name)
		}
	}
	return out
}

// WriteStats writes the counters as one `conntrack -S` line:
// "cpu=0   \tfound=... chaintoolong=...".
func (s Stats) WriteStats(w io.Writer) error {
	b := []byte("cpu=0   \t")
	for i, c := range s.Counters() {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, c.Name...)
		b = append(b, '=')
		b = strconv.AppendUint(b, c.Value, 10)
	}
	b = append(b, '\n')
	_, err := w.Write(b)
	return err
}
