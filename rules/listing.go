package rules

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Listing is how one rule shows in `iptables -L`: plugins fill the fields
// their key maps to (List). Empty fields print iptables' defaults.
type Listing struct {
	Target  string // target column: ACCEPT, DROP, LOG, a chain name
	Goto    bool
	Prot    string // prot column; "" = all
	ProtInv bool
	Frag    bool // opt column "-f"
	FragInv bool
	In, Out string // "" = *; may start with "!"
	Src     string // "" = 0.0.0.0/0
	SrcInv  bool
	Dst     string
	DstInv  bool
	// L4 are protocol match words printed together after the protocol
	// name, as libxt_tcp does: "spt:1024", "dpts:8000:8099", "flags:0x17/0x02".
	L4 []string
	// Matches are the other match texts, in key order ("ctstate NEW").
	Matches []string
	// TargetText is printed after the matches ("reject-with tcp-reset").
	TargetText []string
	Comment    string
}

// ListOptions choose the listing columns, as iptables' flags do. The
// listing is always numeric (-n).
type ListOptions struct {
	Verbose     bool // -v: counters, in and out columns
	Exact       bool // -x: exact counters instead of K/M/G
	LineNumbers bool // --line-numbers
}

// WriteListing prints the ruleset as `iptables -L -n [-v] [-x]
// [--line-numbers]` does, one section per table ("# table filter"), with
// the chains in iptables' order: built-in chains, then user chains.
func (rs *Ruleset) WriteListing(w io.Writer, opts ListOptions) error {
	bw := bufio.NewWriter(w)
	first := true
	for t := Table(0); t < numTables; t++ {
		if !rs.present[t] {
			continue
		}
		if !first {
			bw.WriteString("\n")
		}
		first = false
		fmt.Fprintf(bw, "# table %s\n", t)
		for i, c := range rs.chains[t] {
			if i > 0 {
				bw.WriteString("\n")
			}
			rs.writeChain(bw, c, opts)
		}
	}
	return bw.Flush()
}

// ChainLabel is the name iptables shows: upper case for built-in chains.
func (c *Chain) ChainLabel() string {
	if c.Builtin() {
		return strings.ToUpper(c.Name)
	}
	return c.Name
}

func (rs *Ruleset) writeChain(w *bufio.Writer, c *Chain, o ListOptions) {
	fmt.Fprintf(w, "Chain %s", c.ChainLabel())
	if c.Builtin() {
		pol := "ACCEPT"
		if c.Policy == Drop {
			pol = "DROP"
		}
		fmt.Fprintf(w, " (policy %s", pol)
		if o.Verbose {
			p, b := rs.PolicyCounters(c)
			w.WriteString(" ")
			w.WriteString(num(p, o.Exact, false))
			w.WriteString("packets, ")
			w.WriteString(num(b, o.Exact, false))
			w.WriteString("bytes")
		}
		w.WriteString(")\n")
	} else {
		fmt.Fprintf(w, " (%d references)\n", c.Refs)
	}
	// Column header (iptables/xshared.c print_header).
	if o.LineNumbers {
		fmt.Fprintf(w, "%-4s ", "num")
	}
	if o.Verbose {
		if o.Exact {
			fmt.Fprintf(w, "%8s %10s ", "pkts", "bytes")
		} else {
			fmt.Fprintf(w, "%5s %5s ", "pkts", "bytes")
		}
	}
	fmt.Fprintf(w, "%-9s ", "target")
	w.WriteString(" prot opt")
	if o.Verbose {
		fmt.Fprintf(w, " %-6s %-6s ", "in", "out")
	}
	fmt.Fprintf(w, " %-19s  %-19s \n", "source", "destination")
	for _, r := range c.Rules {
		rs.writeRule(w, r, o)
	}
}

// num formats a counter as xtables_print_num does; table is false for
// FMT_NOTABLE (the chain header), which drops the padding.
func num(n uint64, exact, table bool) string {
	pad := func(w int, s string) string {
		if table {
			return fmt.Sprintf("%*s ", w, s)
		}
		return s + " "
	}
	if exact {
		return pad(8, fmt.Sprint(n))
	}
	if n <= 99999 {
		return pad(5, fmt.Sprint(n))
	}
	for _, u := range []string{"K", "M", "G"} {
		n = (n + 500) / 1000
		if n <= 9999 {
			return pad(5, fmt.Sprintf("%d%s", n, u))
		}
	}
	n = (n + 500) / 1000
	return pad(5, fmt.Sprintf("%dT", n))
}

func (rs *Ruleset) writeRule(w *bufio.Writer, r *Rule, o ListOptions) {
	l := &r.list
	if o.LineNumbers {
		fmt.Fprintf(w, "%-4d ", r.Num)
	}
	if o.Verbose {
		p, b := rs.Counters(r)
		w.WriteString(num(p, o.Exact, true))
		w.WriteString(num(b, o.Exact, true))
	}
	fmt.Fprintf(w, "%-9s ", l.Target)
	w.WriteByte(inv(l.ProtInv))
	prot := l.Prot
	if prot == "" {
		prot = "all"
	}
	fmt.Fprintf(w, "%-5s", prot)
	// opt: fragment flags.
	fc, ff := byte('-'), byte('-')
	if l.FragInv {
		fc = '!'
	}
	if l.Frag {
		ff = 'f'
	}
	w.WriteByte(fc)
	w.WriteByte(ff)
	w.WriteByte(' ')
	if o.Verbose {
		in, out := l.In, l.Out
		if in == "" {
			in = "*"
		}
		if out == "" {
			out = "*"
		}
		fmt.Fprintf(w, " %-6s %-6s ", in, out)
	}
	src, dst := l.Src, l.Dst
	if src == "" {
		src = "0.0.0.0/0"
	}
	if dst == "" {
		dst = "0.0.0.0/0"
	}
	w.WriteByte(inv(l.SrcInv))
	fmt.Fprintf(w, "%-19s ", src)
	w.WriteByte(inv(l.DstInv))
	fmt.Fprintf(w, "%-19s ", dst)
	if l.Goto {
		w.WriteString("[goto] ")
	}
	if l.Comment != "" {
		fmt.Fprintf(w, " /* %s */", l.Comment)
	}
	if len(l.L4) > 0 {
		p := l.Prot
		if p == "" || p == "all" {
			p = "tcp/udp"
		}
		w.WriteString(" " + p + " " + strings.Join(l.L4, " "))
	}
	for _, m := range l.Matches {
		w.WriteString(" " + m)
	}
	for _, m := range l.TargetText {
		w.WriteString(" " + m)
	}
	w.WriteString("\n")
}

func inv(b bool) byte {
	if b {
		return '!'
	}
	return ' '
}
