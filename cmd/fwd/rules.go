package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"

	"fwd/config"
	"fwd/ctl"
	"fwd/rules"
	_ "fwd/rules/stage" // every match and target plugin, and the rules stages
)

func init() {
	register(&command{
		name: "rules",
		summary: `list the running ruleset with its counters, like iptables -L
  -v              counters (pkts, bytes) and the in/out columns
  -x              exact counters instead of K/M/G
  -n              numeric (always: fwd never resolves names)
  --line-numbers  number the rules of each chain
  -Z              zero every counter (after listing, when -L is given too)`,
		usage: "fwd rules [-L] [-v] [-n] [-x] [--line-numbers] [-Z] [--socket PATH]",
		run:   runRules,
	})
	register(&command{
		name: "sets",
		summary: `show and change named sets of the running ruleset without a reload
  fwd sets list [NAME]           the sets and their elements
  fwd sets add NAME ELEMENT...   add elements (address, prefix, port, range, addr:port)
  fwd sets del NAME ELEMENT...   delete elements`,
		usage: "fwd sets list|add|del [NAME [ELEMENT...]] [--socket PATH]",
		run:   runSets,
	})
	compileChecks = append(compileChecks, func(cfg *config.Config) error {
		_, err := rules.Compile(cfg, nil)
		return err
	})
	summaryWriters = append(summaryWriters, func(cfg *config.Config, w io.Writer) error {
		rs, err := rules.Compile(cfg, nil)
		if err != nil {
			return err
		}
		return rs.WriteListing(w, rules.ListOptions{Verbose: true, Exact: true, LineNumbers: true})
	})
	ctlSetups = append(ctlSetups, rulesHandlers)
}

func rulesHandlers(d *daemon) {
	holder := func() (*rules.Holder, error) {
		h, ok := d.env.Lookup(rules.SharedKey).(*rules.Holder)
		if !ok {
			return nil, ctl.Errorf(ctl.CodeNotFound, "no ruleset is running")
		}
		return h, nil
	}
	d.srv.Handle("rules.list", func(req *ctl.Request, st *ctl.Stream) error {
		var o rules.ListOptions
		if err := req.Decode(&o); err != nil {
			return err
		}
		h, err := holder()
		if err != nil {
			return err
		}
		var b bytes.Buffer
		if err := h.Load().WriteListing(&b, o); err != nil {
			return err
		}
		return st.Send(b.String())
	})
	d.srv.Handle("rules.zero", func(req *ctl.Request, st *ctl.Stream) error {
		h, err := holder()
		if err != nil {
			return err
		}
		h.Load().ZeroCounters()
		return nil
	})
	d.srv.Handle("sets.list", func(req *ctl.Request, st *ctl.Stream) error {
		var a struct {
			Name string `json:"name"`
		}
		if err := req.Decode(&a); err != nil {
			return err
		}
		h, err := holder()
		if err != nil {
			return err
		}
		found := false
		for _, s := range h.Load().Sets() {
			if a.Name != "" && s.Name != a.Name {
				continue
			}
			found = true
			if err := st.Send(setInfo{Name: s.Name, Type: s.Type.String(), Elements: s.Elements()}); err != nil {
				return err
			}
		}
		if !found && a.Name != "" {
			return ctl.Errorf(ctl.CodeNotFound, "no set named %q", a.Name)
		}
		return nil
	})
	change := func(add bool) ctl.HandlerFunc {
		return func(req *ctl.Request, st *ctl.Stream) error {
			var a struct {
				Name     string   `json:"name"`
				Elements []string `json:"elements"`
			}
			if err := req.Decode(&a); err != nil {
				return err
			}
			h, err := holder()
			if err != nil {
				return err
			}
			s := h.Load().Set(a.Name)
			if s == nil {
				return ctl.Errorf(ctl.CodeNotFound, "no set named %q", a.Name)
			}
			for _, e := range a.Elements {
				var err error
				if add {
					err = s.Add(e)
				} else {
					err = s.Delete(e)
				}
				if err != nil {
					return ctl.Errorf(ctl.CodeFailed, "set %s: %v", a.Name, err)
				}
			}
			return nil
		}
	}
	d.srv.Handle("sets.add", change(true))
	d.srv.Handle("sets.del", change(false))
}

type setInfo struct {
	Name     string   `json:"name"`
	Type     string   `json:"type"`
	Elements []string `json:"elements"`
}

func runRules(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("rules", stderr)
	var o rules.ListOptions
	list := fs.Bool("L", false, "list (the default)")
	fs.BoolVar(&o.Verbose, "v", false, "counters and interface columns")
	fs.BoolVar(&o.Exact, "x", false, "exact counters")
	fs.Bool("n", true, "numeric output (always on)")
	fs.BoolVar(&o.LineNumbers, "line-numbers", false, "rule numbers")
	zero := fs.Bool("Z", false, "zero the counters")
	socket := fs.String("socket", defaultSocket, "control socket")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2}
	}
	if fs.NArg() > 0 {
		return &usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if *list || !*zero {
		err := ctl.Call(*socket, "rules.list", o, func(data json.RawMessage) error {
			var s string
			if err := json.Unmarshal(data, &s); err != nil {
				return err
			}
			_, err := io.WriteString(stdout, s)
			return err
		})
		if err != nil {
			return ctlExit(err)
		}
	}
	if *zero {
		return ctlExit(ctl.Call(*socket, "rules.zero", nil, nil))
	}
	return nil
}

func runSets(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("sets", stderr)
	socket := fs.String("socket", defaultSocket, "control socket")
	// Flags may come before or after the verb.
	var rest []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return &exitError{code: 2}
		}
		if fs.NArg() == 0 {
			break
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(rest) == 0 {
		rest = []string{"list"}
	}
	switch rest[0] {
	case "list":
		name := ""
		if len(rest) > 1 {
			name = rest[1]
		}
		var sets []setInfo
		err := ctl.Call(*socket, "sets.list", map[string]string{"name": name}, func(data json.RawMessage) error {
			var s setInfo
			if err := json.Unmarshal(data, &s); err != nil {
				return err
			}
			sets = append(sets, s)
			return nil
		})
		if err != nil {
			return ctlExit(err)
		}
		sort.Slice(sets, func(i, j int) bool { return sets[i].Name < sets[j].Name })
		for _, s := range sets {
			fmt.Fprintf(stdout, "set %s type %s (%d elements)\n", s.Name, s.Type, len(s.Elements))
			for _, e := range s.Elements {
				fmt.Fprintf(stdout, "  %s\n", e)
			}
		}
		return nil
	case "add", "del":
		if len(rest) < 3 {
			return &usageError{fmt.Sprintf("sets %s needs a set name and at least one element", rest[0])}
		}
		return ctlExit(ctl.Call(*socket, "sets."+rest[0], map[string]any{"name": rest[1], "elements": rest[2:]}, nil))
	}
	return &usageError{fmt.Sprintf("unknown sets verb %q (list, add, del)", rest[0])}
}
