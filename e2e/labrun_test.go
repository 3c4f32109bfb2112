package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fwd/lab"
)

// TestLabRun runs the README's demonstration, `fwd lab run`, and checks
// that each step showed what it is there to show, and that it left nothing.
func TestLabRun(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("fwd lab run needs root for network namespaces and TAP devices (CI runs it as root)")
	}
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	dir := t.TempDir()
	name := lab.NewName()
	t.Cleanup(func() { lab.Remove(name + "-") })
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, fwdBin, "lab", "run", "-c", filepath.Join("..", "configs", "lab.toml"), "--name", name, "--socket", filepath.Join(dir, "s"))
	b, err := cmd.CombinedOutput()
	out := string(b)
	if err != nil {
		t.Fatalf("fwd lab run: %v\n%s", err, out)
	}
	for _, want := range []string{
		"64 bytes from 192.168.1.1: icmp_seq=1 ttl=64",
		"64 bytes from 198.51.100.20: icmp_seq=1 ttl=62",
		"hello from the server 198.51.100.20; you came from 203.0.113.2:",
		" 1  192.168.1.1 ",
		"hello from lan-a 192.168.1.10; you came from 198.51.100.20:",
		"connect: connection refused",
		"src=192.168.1.10 dst=198.51.100.20 sport=",
		"dport=8080 src=192.168.1.10 dst=198.51.100.20 sport=80",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("fwd lab run does not show %q", want)
		}
	}
	if t.Failed() {
		t.Logf("its output:\n%s", out)
	}
	if left, _ := filepath.Glob("/run/netns/" + name + "-*"); len(left) > 0 {
		t.Errorf("fwd lab run left namespaces: %v", left)
	}
}
