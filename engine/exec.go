package engine

import (
	"context"
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kago-run/kago/engine/specgen"
	"github.com/kago-run/kago/runtime"
)

// ExecOptions are `kago exec` flags.
type ExecOptions struct {
	Args    []string
	Env     []string // KEY=VALUE, override the container's
	User    string   // -u, resolved against the container's /etc/passwd
	Workdir string
	Tty     bool
	// IO is the process's stdio; with Tty, IO.OnConsole gets the pty.
	IO runtime.IO
}

// Exec runs a process in a running container and returns it; the caller
// waits for it (the caller must have called runtime.PrepareToWait).
func (e *Engine) Exec(ctx context.Context, ref string, o ExecOptions) (*runtime.Process, error) {
	rec, err := e.Lookup(ref)
	if err != nil {
		return nil, err
	}
	if len(o.Args) == 0 {
		return nil, fmt.Errorf("exec needs a command to run in %s", rec.Name)
	}
	c, err := e.runtime.Load(rec.ID)
	if err == nil && c.Status() == runtime.StatusPaused {
		return nil, fmt.Errorf("container %s is paused: unpause it first (kago unpause %s)", rec.Name, rec.Name)
	}
	if err != nil || c.Status() != runtime.StatusRunning {
		return nil, fmt.Errorf("container %s is not running (it is %s): start it first with `kago start %s`", rec.Name, rec.State.Status, rec.Name)
	}
	base := c.Spec().Process
	proc := &specs.Process{
		Terminal: o.Tty, Args: o.Args, Cwd: base.Cwd, User: base.User,
		Env:          specgen.MergeEnv(base.Env, o.Env),
		Capabilities: base.Capabilities, NoNewPrivileges: base.NoNewPrivileges, Rlimits: base.Rlimits,
	}
	if o.Tty {
		proc.Env = specgen.MergeEnv(proc.Env, []string{"TERM=xterm"})
	}
	if o.Workdir != "" {
		proc.Cwd = o.Workdir
	}
	if o.User != "" {
		passwd, err := readInRoot(c.Rootfs(), "/etc/passwd")
		if err != nil {
			return nil, err
		}
		group, err := readInRoot(c.Rootfs(), "/etc/group")
		if err != nil {
			return nil, err
		}
		if proc.User, err = specgen.ResolveUser(o.User, passwd, group); err != nil {
			return nil, err
		}
	}
	if err := runtime.PrepareToWait(); err != nil {
		return nil, err
	}
	if o.IO.Stdin == nil {
		devnull, err := os.Open(os.DevNull)
		if err != nil {
			return nil, err
		}
		defer devnull.Close()
		o.IO.Stdin = devnull
	}
	return c.Exec(ctx, proc, runtime.ExecOptions{IO: o.IO})
}
