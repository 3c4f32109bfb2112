package main

import (
	"fmt"
	"io"

	"fwd/config"
)

func init() {
	register(&command{
		name: "check",
		summary: `validate a configuration and print what it compiles to
Exit status 0 when the file is good, 1 with every error as FILE:LINE:COL: MESSAGE.`,
		usage: "fwd check -c CONFIG",
		run:   runCheck,
	})
}

func runCheck(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("check", stderr)
	cfgPath := fs.String("c", "", "configuration file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cfgPath == "" {
		return &usageError{"-c CONFIG is required"}
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	writeSummary(stdout, cfg)
	return nil
}

// loadConfig parses the file and compiles everything that can fail on it
// (rules), returning every error in file order.
func loadConfig(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	if err := compileHooks(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

// compileChecks are the compile steps other packages add (rules compile
// the chains); each returns positioned errors.
var compileChecks []func(cfg *config.Config) error

func compileHooks(cfg *config.Config) error {
	for _, c := range compileChecks {
		if err := c(cfg); err != nil {
			return err
		}
	}
	return nil
}

// summaryWriters print more of the compiled configuration (the ruleset
// listing) after the summary.
var summaryWriters []func(cfg *config.Config, w io.Writer) error

func writeSummary(w io.Writer, cfg *config.Config) {
	fmt.Fprintf(w, "%s: ok\n", cfg.File)
	fmt.Fprintf(w, "dataplane: %s\n", cfg.Dataplane.Mode)
	fmt.Fprintf(w, "interfaces: %d\n", len(cfg.Interfaces))
	for _, ifc := range cfg.Interfaces {
		fmt.Fprintf(w, "  %-8s %-18s mtu %d\n", ifc.Name, ifc.Addr, ifc.MTU)
	}
	fmt.Fprintf(w, "routes: %d\n", len(cfg.Routes))
	for _, r := range cfg.Routes {
		if r.Via.IsValid() {
			fmt.Fprintf(w, "  %-18s via %s dev %s\n", r.To, r.Via, r.Dev)
		} else {
			fmt.Fprintf(w, "  %-18s dev %s\n", r.To, r.Dev)
		}
	}
	fmt.Fprintf(w, "sets: %d\n", len(cfg.Sets))
	for _, s := range cfg.Sets {
		fmt.Fprintf(w, "  %-12s %-14s %d elements\n", s.Name, s.Type, len(s.Elements))
	}
	fmt.Fprintf(w, "chains: %d\n", len(cfg.Chains))
	for _, ch := range cfg.Chains {
		pol := ch.Policy
		if pol == "" {
			if isHook(ch.Name) {
				pol = "accept"
			} else {
				pol = "-"
			}
		}
		fmt.Fprintf(w, "  %-24s policy %-6s %d rules\n", ch.Table+"."+ch.Name, pol, len(ch.Rules))
	}
	for _, sw := range summaryWriters {
		fmt.Fprintln(w)
		if err := sw(cfg, w); err != nil {
			fmt.Fprintf(w, "error: %v\n", err)
		}
	}
}

func isHook(name string) bool {
	switch name {
	case "prerouting", "input", "forward", "output", "postrouting":
		return true
	}
	return false
}
