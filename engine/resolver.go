package engine

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/kago-run/kago/network/etcfiles"
)

// ResolverCommand is the hidden kago verb that runs a user network's
// resolver (network.Manager.ServeResolver) as a process of its own.
const ResolverCommand = "network-resolver"

// resolverStartTimeout bounds the wait for a new resolver to listen.
const resolverStartTimeout = 10 * time.Second

// ensureResolver makes sure the user network's resolver runs, starting
// `kago network-resolver NAME` when none does. It is called after the
// container was attached, so a resolver that decided to exit for want of
// containers has already let go of the network (see network/resolver.go).
// The resolver outlives this process: it exits by itself after the
// network's last container left.
//
// A resolver that cannot start (a DNS server of the host holds port 53 on
// every address, say) costs the container its names, not its start: its
// resolv.conf gets the host's nameservers, as on the default bridge, and
// the reason goes to the log.
func (e *Engine) ensureResolver(ctx context.Context, name, resolvConf string, dns etcfiles.DNS) {
	err := e.startResolver(ctx, name)
	if err == nil {
		return
	}
	e.Log.Warn("containers on this network resolve through the host's nameservers only", "network", name, "error", err)
	host, _ := os.ReadFile(e.Net.Config().ResolvConf)
	if werr := os.WriteFile(resolvConf, etcfiles.Resolv(host, netip.Addr{}, dns), 0o644); werr != nil {
		e.Log.Warn("write resolv.conf", "path", resolvConf, "error", werr)
	}
}

func (e *Engine) startResolver(ctx context.Context, name string) error {
	if e.Net.ResolverRunning(name) {
		return nil
	}
	self, err := e.program()
	if err != nil {
		return fmt.Errorf("find the kago binary for the resolver of %s: %w", name, err)
	}
	logPath := strings.TrimSuffix(e.Net.ResolverPIDPath(name), ".pid") + ".log"
	if err := os.MkdirAll(filepath.Dir(logPath), 0o700); err != nil {
		return fmt.Errorf("resolver of %s: %w", name, err)
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("resolver of %s: %w", name, err)
	}
	defer logf.Close()
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer readyR.Close()
	cmd := exec.Command(self, "--root", e.Root, ResolverCommand, name, "--ready-fd", "3")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{readyW}
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	readyW.Close()
	if err != nil {
		return fmt.Errorf("start the resolver of network %s: %w", name, err)
	}
	go cmd.Wait()
	done := make(chan string, 1)
	go func() {
		msg, _ := io.ReadAll(readyR)
		done <- strings.TrimSpace(string(msg))
	}()
	var line string
	select {
	case line = <-done:
	case <-time.After(resolverStartTimeout):
		line = "it did not answer within " + resolverStartTimeout.String()
	case <-ctx.Done():
		return ctx.Err()
	}
	if line != "ok" {
		if line == "" {
			line = "it exited; see " + logPath
		}
		return fmt.Errorf("start the resolver of network %s: %s", name, strings.TrimPrefix(line, "error: "))
	}
	return nil
}

// ServeResolver is the body of `kago network-resolver NAME`: it serves
// the network's names until its last container left; ready is told when
// it serves.
func (e *Engine) ServeResolver(ctx context.Context, name string, ready func(error)) error {
	return e.Net.ServeResolver(ctx, name, ready)
}
