package containerinit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	goruntime "runtime"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/linux/console"
	"github.com/kago-run/kago/linux/explain"
	"github.com/kago-run/kago/linux/ioprio"
	"github.com/kago-run/kago/linux/mempolicy"
	"github.com/kago-run/kago/linux/ns"
	"github.com/kago-run/kago/linux/personality"
	"github.com/kago-run/kago/linux/rootfs"
	"github.com/kago-run/kago/linux/sched"
	"github.com/kago-run/kago/linux/selinux"
	"github.com/kago-run/kago/runtime/hooks"
	"github.com/kago-run/kago/runtime/syncmsg"
)

// MaybeRun turns the process into a container init when the runtime started
// it as one, and never returns in that case. Both kago binaries call it first
// thing in main.
func MaybeRun() {
	syncFd := os.Getenv(EnvSync)
	if syncFd == "" {
		return
	}
	// Namespaces, credentials and capabilities are per thread; everything
	// from here to execve happens on this one.
	goruntime.LockOSThread()
	fd, err := strconv.Atoi(syncFd)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kago init: bad %s=%q\n", EnvSync, syncFd)
		os.Exit(1)
	}
	os.Unsetenv(EnvSync)
	conn := syncmsg.NewConn(os.NewFile(uintptr(fd), "sync"))
	if got := os.Getenv(EnvProtocol); got != Protocol {
		err = fmt.Errorf("container init speaks protocol %s but the runtime speaks %q: install %s from the same build as kago-runc and kago", Protocol, got, InitBinary)
	} else {
		os.Unsetenv(EnvProtocol)
		err = run(conn)
	}
	// run only returns on failure.
	if sendErr := conn.SendError(err); sendErr != nil {
		fmt.Fprintln(os.Stderr, "kago init:", err)
	}
	os.Exit(1)
}

func run(conn *syncmsg.Conn) error {
	m, _, err := conn.Expect(syncmsg.TypeConfig)
	if err != nil {
		return err
	}
	var cfg Config
	if err := json.Unmarshal(m.Body, &cfg); err != nil {
		return fmt.Errorf("decode init config: %w", err)
	}
	if cfg.Exec {
		return execProcess(conn, &cfg)
	}
	return initContainer(conn, &cfg)
}

// initContainer builds the container from inside its new namespaces, in the
// order runc uses, then waits for start.
func initContainer(conn *syncmsg.Conn, cfg *Config) error {
	spec, proc := cfg.Spec, cfg.Process
	steps := initRecorder(cfg.Explain)
	plan, err := ns.PlanFor(spec.Linux.Namespaces)
	if err != nil {
		return err
	}
	// Relative paths in config.json (bind-mount sources) are relative to
	// the bundle, as in runc, not to the caller's directory.
	if err := os.Chdir(cfg.Bundle); err != nil {
		return fmt.Errorf("enter bundle %s: %w", cfg.Bundle, err)
	}
	if cfg.NewCgroupNS {
		if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
			return fmt.Errorf("unshare cgroup namespace: %w", err)
		}
		explain.Record(recorder(steps), explain.Step{Feature: "namespaces", Call: "unshare", Value: "CLONE_NEWCGROUP", Why: "a cgroup namespace made once init is in its cgroup, so that cgroup is its root", Man: "cgroup_namespaces(7)"})
	}
	if _, err := unix.Setsid(); err != nil {
		return fmt.Errorf("setsid: %w", err)
	}
	if !cfg.NoNewKeyring {
		// A fresh session keyring keeps the container away from the host's
		// keys; it carries the process's SELinux label, as with runc.
		if err := selinux.SetKeyLabel(proc.SelinuxLabel); err != nil {
			return err
		}
		if _, err := unix.KeyctlJoinSessionKeyring("_ses." + cfg.ID); err != nil && !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EPERM) {
			return fmt.Errorf("join session keyring: %w", err)
		}
	}
	if err := setProcessAttrs(proc); err != nil {
		return err
	}
	newMountNS := plan.New&unix.CLONE_NEWNS != 0
	ropts := rootfs.Options{NoPivot: cfg.NoPivot, UserNS: cfg.UserNS, Explain: recorder(steps)}
	if ropts.Trees, err = recvMountTrees(conn, cfg.MountTrees); err != nil {
		return err
	}
	if newMountNS {
		err = rootfs.Prepare(spec, cfg.Rootfs, ropts)
	}
	for _, t := range ropts.Trees {
		t.Close()
	}
	if err != nil {
		return err
	}
	if err := conn.Send(syncmsg.TypeHooks, nil, nil); err != nil {
		return err
	}
	if _, _, err := conn.Expect(syncmsg.TypeHooksDone); err != nil {
		return err
	}
	if spec.Hooks != nil {
		if err := hooks.Run(context.Background(), "createContainer", spec.Hooks.CreateContainer, cfg.State(specs.StateCreating)); err != nil {
			return err
		}
	}
	// The exec FIFO is reopened for writing through its magic link in
	// /proc/self/fd, reached now: a container without a mount namespace is
	// only chroot'ed, with no /proc of its own.
	fds, err := os.Open("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("open /proc/self/fd: %w", err)
	}
	if newMountNS {
		if err := rootfs.Pivot(cfg.Rootfs, ropts); err != nil {
			return err
		}
		explain.Record(recorder(steps), explain.Step{Feature: "root", Call: "pivot_root", Path: cfg.Rootfs, Why: "make the rootfs the root; the old root is unmounted", Man: "pivot_root(2)"})
	} else if err := unix.Chroot(cfg.Rootfs); err != nil {
		return fmt.Errorf("chroot %s: %w", cfg.Rootfs, err)
	}
	if proc.Terminal {
		if err := setupTerminal(conn, proc.ConsoleSize, true); err != nil {
			return err
		}
	}
	if newMountNS {
		if err := rootfs.Finalize(spec, recorder(steps)); err != nil {
			return err
		}
	}
	if spec.Hostname != "" {
		if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
			return fmt.Errorf("set hostname %q: %w", spec.Hostname, err)
		}
		explain.Record(recorder(steps), explain.Step{Feature: "uts", Call: "sethostname", Value: spec.Hostname, Why: "the name the container sees, in its own uts namespace", Man: "uts_namespaces(7)"})
	}
	if spec.Domainname != "" {
		if err := unix.Setdomainname([]byte(spec.Domainname)); err != nil {
			return fmt.Errorf("set domainname %q: %w", spec.Domainname, err)
		}
	}
	ex, err := prepareReady(conn, proc, cfg, steps)
	if err != nil {
		return err
	}
	conn.Close()
	if err := waitForStart(fds); err != nil {
		// Nobody listens any more: the runtime has returned from create.
		fmt.Fprintln(os.Stderr, "kago init:", err)
		os.Exit(1)
	}
	if spec.Hooks != nil {
		if err := hooks.Run(context.Background(), "startContainer", spec.Hooks.StartContainer, cfg.State(specs.StateCreated)); err != nil {
			fmt.Fprintln(os.Stderr, "kago init:", err)
			os.Exit(1)
		}
	}
	err = ex.exec(cfg.PreserveFDs)
	fmt.Fprintln(os.Stderr, "kago init:", err)
	os.Exit(127)
	return nil
}

// recvMountTrees receives the detached mount trees the runtime sends after
// the config, one per index.
func recvMountTrees(conn *syncmsg.Conn, indexes []int) (map[int]*os.File, error) {
	trees := make(map[int]*os.File, len(indexes))
	for _, i := range indexes {
		_, fd, err := conn.Expect(syncmsg.TypeMountTree)
		if err == nil && fd == nil {
			err = errors.New("no file descriptor")
		}
		if err != nil {
			for _, t := range trees {
				t.Close()
			}
			return nil, fmt.Errorf("receive id-mapped mount %d: %w", i, err)
		}
		trees[i] = fd
	}
	return trees, nil
}

// prepareReady readies the process's exec (loading a seccomp filter that
// must come before it) and tells the runtime the process is ready.
func prepareReady(conn *syncmsg.Conn, proc *specs.Process, cfg *Config, steps *explain.Log) (*execPlan, error) {
	if err := applyScheduling(proc, cfg.Spec.Linux); err != nil {
		return nil, err
	}
	ex, err := prepareExec(proc, cfg.Seccomp)
	if err != nil {
		return nil, err
	}
	if err := ex.loadEarlySeccomp(conn); err != nil {
		return nil, err
	}
	if steps != nil { // only the container's init explains; it has a spec
		explainExec(steps, ex, cfg.Spec.Linux.Seccomp)
	}
	if err := sendSteps(conn, steps); err != nil {
		return nil, err
	}
	if err := conn.Send(syncmsg.TypeReady, nil, nil); err != nil {
		return nil, err
	}
	return ex, nil
}

// applyScheduling sets, in runc's order, what the process keeps through
// execve: its CPU scheduler, I/O priority, personality and NUMA memory
// policy. All four act on this thread, the one that execve's.
func applyScheduling(proc *specs.Process, l *specs.Linux) error {
	if err := sched.Apply(proc.Scheduler); err != nil {
		return err
	}
	if err := ioprio.Apply(proc.IOPriority); err != nil {
		return err
	}
	if err := personality.Apply(l.Personality); err != nil {
		return err
	}
	return mempolicy.Apply(l.MemoryPolicy)
}

// waitForStart blocks until `start` opens the exec FIFO for reading. fds is
// /proc/self/fd, opened before the root changed; it is closed here.
func waitForStart(fds *os.File) error {
	defer fds.Close()
	name := os.Getenv(EnvFifo)
	os.Unsetenv(EnvFifo)
	// The FIFO was passed as an O_PATH fd; reopening it for writing goes
	// through its magic link.
	fd, err := unix.Openat(int(fds.Fd()), name, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open exec fifo: %w", err)
	}
	f := os.NewFile(uintptr(fd), "exec.fifo")
	defer f.Close()
	if _, err := f.Write([]byte{0}); err != nil {
		return fmt.Errorf("write exec fifo: %w", err)
	}
	return nil
}

// execProcess runs a new process in a live container: the nsenter
// constructor already put this process in the container's namespaces and the
// runtime moved it into the container's cgroup.
func execProcess(conn *syncmsg.Conn, cfg *Config) error {
	proc := cfg.Process
	if proc.Terminal {
		if _, err := unix.Setsid(); err != nil {
			return fmt.Errorf("setsid: %w", err)
		}
		if err := setupTerminal(conn, proc.ConsoleSize, false); err != nil {
			return err
		}
	}
	if err := setProcessAttrs(proc); err != nil {
		return err
	}
	ex, err := prepareReady(conn, proc, cfg, nil)
	if err != nil {
		return err
	}
	// On success execve closes the socket (it is close-on-exec), which the
	// runtime reads as "started"; on failure the error goes back to it.
	return ex.exec(cfg.PreserveFDs)
}

// setupTerminal makes a pty in the container's devpts, makes its slave the
// process's stdio and controlling terminal, and hands the master to the
// runtime, which passes it on to the --console-socket. size is
// process.consoleSize (nil: the kernel's default).
func setupTerminal(conn *syncmsg.Conn, size *specs.Box, bindConsole bool) error {
	pty, err := console.New()
	if err != nil {
		return err
	}
	defer pty.Master.Close()
	if size != nil {
		ws := &unix.Winsize{Row: uint16(size.Height), Col: uint16(size.Width)}
		if err := unix.IoctlSetWinsize(int(pty.Master.Fd()), unix.TIOCSWINSZ, ws); err != nil {
			return fmt.Errorf("process.consoleSize %dx%d: %w", size.Width, size.Height, err)
		}
	}
	slave, err := pty.OpenSlave()
	if err != nil {
		return err
	}
	defer slave.Close()
	if bindConsole {
		if err := rootfs.SetupConsole(pty.SlavePath); err != nil {
			return err
		}
	}
	if err := console.MakeControlling(slave); err != nil {
		return err
	}
	return conn.Send(syncmsg.TypeConsole, nil, pty.Master)
}

// setProcessAttrs applies what must be set while still privileged: the OOM
// score adjustment. (Rlimits come last, in exec: an address-space limit
// below the Go runtime's reservation would starve this process.)
func setProcessAttrs(proc *specs.Process) error {
	if proc.OOMScoreAdj != nil {
		if err := os.WriteFile("/proc/self/oom_score_adj", []byte(strconv.Itoa(*proc.OOMScoreAdj)), 0); err != nil {
			return fmt.Errorf("set oom_score_adj: %w", err)
		}
	}
	return nil
}
