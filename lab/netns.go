package lab

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"

	"golang.org/x/sys/unix"
)

// InNetns runs fn on an OS thread that has entered the network namespace
// ns (a name under /run/netns, or a path). Sockets fn creates belong to
// ns for good and can be used from any goroutine afterwards; the calling
// goroutine's own thread never changes namespace. Should the thread fail
// to return to its namespace it is thrown away.
func InNetns(ns string, fn func() error) error {
	path := ns
	if len(ns) == 0 || ns[0] != '/' {
		path = "/run/netns/" + ns
	}
	target, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("lab: netns %s: %w", ns, err)
	}
	defer unix.Close(target)
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("lab: own netns: %w", err)
			return
		}
		defer unix.Close(orig)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("lab: enter netns %s: %w", ns, err)
			return
		}
		err = fn()
		if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		} // else the goroutine ends locked and the runtime ends the thread
		errc <- err
	}()
	return <-errc
}

// Do runs fn inside host's namespace (see InNetns).
func (l *Lab) Do(host string, fn func() error) error {
	ns := l.Netns(host)
	if ns == "" {
		return fmt.Errorf("lab: no host %q", host)
	}
	return InNetns(ns, fn)
}

// Listen opens a listener in host's namespace (net.Listen).
func (l *Lab) Listen(host, network, addr string) (ln net.Listener, err error) {
	err = l.Do(host, func() error {
		ln, err = net.Listen(network, addr)
		return err
	})
	return ln, err
}

// ListenPacket opens a packet socket in host's namespace (net.ListenPacket).
func (l *Lab) ListenPacket(host, network, addr string) (pc net.PacketConn, err error) {
	err = l.Do(host, func() error {
		pc, err = net.ListenPacket(network, addr)
		return err
	})
	return pc, err
}

// Dial connects from host's namespace (net.Dialer.DialContext).
func (l *Lab) Dial(ctx context.Context, host, network, addr string) (c net.Conn, err error) {
	return l.DialWith(ctx, &net.Dialer{}, host, network, addr)
}

// DialWith is Dial with a dialer of the caller's (timeouts, Control).
func (l *Lab) DialWith(ctx context.Context, d *net.Dialer, host, network, addr string) (c net.Conn, err error) {
	err = l.Do(host, func() error {
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// Command returns a command that runs name in host's namespace (`ip netns
// exec`). For an unknown host the command's Err says so and Run fails.
func (l *Lab) Command(ctx context.Context, host, name string, args ...string) *exec.Cmd {
	ns := l.Netns(host)
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
	if ns == "" {
		cmd.Err = fmt.Errorf("lab: no host %q", host)
	}
	return cmd
}

// sysctls writes values under /proc/sys inside ns.
func sysctls(ns string, kv map[string]string) error {
	return InNetns(ns, func() error {
		for k, v := range kv {
			if err := os.WriteFile("/proc/sys/"+k, []byte(v), 0o644); err != nil {
				return fmt.Errorf("lab: %s: sysctl %s: %w", ns, k, err)
			}
		}
		return nil
	})
}
