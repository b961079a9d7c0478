package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/linux/ns"
	"github.com/kago-run/kago/linux/reap"
	"github.com/kago-run/kago/runtime/containerinit"
	"github.com/kago-run/kago/runtime/syncmsg"
)

// ExecOptions are the knobs of `exec`.
type ExecOptions struct {
	PidFile     string
	PreserveFDs int
	IO          IO
	// IgnorePaused allows an exec into a paused container (runc
	// --ignore-paused): the process joins the frozen cgroup, so Exec
	// returns only once the container is resumed.
	IgnorePaused bool
}

// Process is a process the runtime started: a container's init (run) or an
// exec'd process.
type Process struct {
	Pid int
	sp  *spawned
}

// Exec starts proc inside the running container: it joins every namespace
// of the container's init and its cgroup, and runs with the container's
// seccomp profile. The caller must have made itself a child subreaper
// (PrepareToWait) if it wants to Wait for the process.
func (c *Container) Exec(ctx context.Context, proc *specs.Process, opts ExecOptions) (*Process, error) {
	switch st := c.Status(); {
	case st == StatusPaused && !opts.IgnorePaused:
		return nil, fmt.Errorf("cannot exec in container %s: it is paused (resume it, or use --ignore-paused to override): %w", c.ID(), ErrState)
	case st != StatusRunning && st != StatusCreated && st != StatusPaused:
		return nil, fmt.Errorf("cannot exec in container %s: it is %s: %w", c.ID(), st, ErrState)
	}
	proc = inheritLabels(proc, c.rec.Spec.Process)
	if err := validateProcess(proc); err != nil {
		return nil, err
	}
	if err := opts.IO.check(proc.Terminal); err != nil {
		return nil, err
	}
	filter, err := c.rt.compileSeccomp(c.ID(), c.rec.Spec)
	if err != nil {
		return nil, err
	}
	var joins []ns.Join
	for _, k := range ns.Kinds() {
		same, err := ns.SameAsSelf(c.rec.InitPid, k)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // the kernel lacks this namespace type
			}
			return nil, fmt.Errorf("inspect namespaces of container %s: %w", c.ID(), err)
		}
		if !same {
			joins = append(joins, ns.Join{Kind: k, Path: fmt.Sprintf("/proc/%d/ns/%s", c.rec.InitPid, k.ProcName)})
		}
	}
	exe, err := c.rt.sealedExe()
	if err != nil {
		return nil, err
	}
	sp, err := spawn(spawnRequest{exe: exe, joins: joins, stdio: opts.IO.stdio(), preserveFDs: opts.PreserveFDs})
	if err != nil {
		return nil, fmt.Errorf("exec in container %s: %w", c.ID(), err)
	}
	if err := c.joinCgroup(sp.pid, proc.ExecCPUAffinity); err != nil {
		sp.kill()
		return nil, err
	}
	cfg := &containerinit.Config{
		ID: c.ID(), Bundle: c.rec.Bundle, Rootfs: c.rec.Rootfs, Spec: c.rec.Spec, Process: proc,
		Exec: true, PreserveFDs: opts.PreserveFDs, HostPid: c.rec.InitPid,
		Seccomp: filter,
	}
	if err := sp.conn.Send(syncmsg.TypeConfig, cfg, nil); err != nil {
		sp.kill()
		return nil, err
	}
	if err := c.rt.converse(ctx, sp, c.rec.Spec, opts.IO, nil, c.hookState(specs.StateRunning)); err != nil {
		sp.kill()
		return nil, err
	}
	// After "ready" the process execve's; the socket closing says it did.
	if _, _, err := sp.conn.Recv(); !errors.Is(err, syncmsg.ErrClosed) {
		sp.kill()
		if err == nil {
			err = errors.New("unexpected message")
		}
		return nil, fmt.Errorf("exec in container %s: %w", c.ID(), err)
	}
	sp.conn.Close()
	if opts.PidFile != "" {
		if err := writePidFile(opts.PidFile, sp.pid); err != nil {
			return nil, err
		}
	}
	return &Process{Pid: sp.pid, sp: sp}, nil
}

// joinCgroup moves an exec'd process into the container's cgroup, with
// process.execCPUAffinity's initial CPUs before and final CPUs after the move.
func (c *Container) joinCgroup(pid int, affinity *specs.CPUAffinity) error {
	if affinity != nil {
		if err := setExecAffinity(pid, "process.execCPUAffinity.initial", affinity.Initial); err != nil {
			return err
		}
	}
	cg, err := c.Cgroup()
	if err == nil {
		err = cg.Join(pid)
	}
	if err != nil {
		return fmt.Errorf("move exec process into the cgroup of %s: %w", c.ID(), err)
	}
	if affinity != nil {
		return setExecAffinity(pid, "process.execCPUAffinity.final", affinity.Final)
	}
	return nil
}

// inheritLabels gives an exec'd process the container's AppArmor profile and
// SELinux label where it names none: a process joining the container is
// confined like the container. runc inherits the label but, by a quirk of
// its spec conversion, not the profile: its exec from a process.json naming
// none runs unconfined (containerd and docker always name one).
func inheritLabels(proc, container *specs.Process) *specs.Process {
	if container == nil {
		return proc
	}
	p := *proc
	if p.ApparmorProfile == "" {
		p.ApparmorProfile = container.ApparmorProfile
	}
	if p.SelinuxLabel == "" {
		p.SelinuxLabel = container.SelinuxLabel
	}
	return &p
}

// PrepareToWait makes the calling process a child subreaper, so that a
// process started through the nsenter fork is re-parented to it and can be
// waited for. Call it before Create or Exec.
func PrepareToWait() error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("become child subreaper: %w", err)
	}
	return nil
}

// Wait waits for the process to exit and returns its exit code, 128+N when
// killed by signal N, as shells report it.
func (p *Process) Wait() (int, error) {
	if p.sp != nil && p.sp.cmd.Process.Pid == p.Pid {
		err := p.sp.cmd.Wait()
		if p.sp.cmd.ProcessState == nil {
			return -1, err
		}
		return reap.Code(unix.WaitStatus(p.sp.cmd.ProcessState.Sys().(syscall.WaitStatus))), nil
	}
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(p.Pid, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, fmt.Errorf("wait for pid %d: %w", p.Pid, err)
		}
		return reap.Code(ws), nil
	}
}

// Signal sends sig to the process.
func (p *Process) Signal(sig unix.Signal) error { return unix.Kill(p.Pid, sig) }
