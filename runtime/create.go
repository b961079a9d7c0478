package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"time"

	"github.com/kago-run/kago/internal/atomicfile"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/linux/cgroups"
	"github.com/kago-run/kago/linux/console"
	"github.com/kago-run/kago/linux/explain"
	"github.com/kago-run/kago/linux/idmap"
	"github.com/kago-run/kago/linux/netdev"
	"github.com/kago-run/kago/linux/ns"
	"github.com/kago-run/kago/linux/seccomp"
	"github.com/kago-run/kago/linux/timens"
	"github.com/kago-run/kago/runtime/containerinit"
	"github.com/kago-run/kago/runtime/hooks"
	"github.com/kago-run/kago/runtime/syncmsg"
)

// IO says where a container process's stdio goes and what becomes of its
// terminal. A nil file inherits the caller's.
type IO struct {
	Stdin, Stdout, Stderr *os.File
	// ConsoleSocket is the unix socket path the pty master is sent to when
	// process.terminal is true (runc's --console-socket).
	ConsoleSocket string
	// OnConsole, if set, receives the pty master instead (foreground `run`).
	OnConsole func(master *os.File) error
}

func (io IO) stdio() [3]*os.File {
	out := [3]*os.File{io.Stdin, io.Stdout, io.Stderr}
	for i, def := range []*os.File{os.Stdin, os.Stdout, os.Stderr} {
		if out[i] == nil {
			out[i] = def
		}
	}
	return out
}

func (io IO) check(terminal bool) error {
	hasConsole := io.ConsoleSocket != "" || io.OnConsole != nil
	if terminal && !hasConsole {
		return errors.New("process.terminal is true but no --console-socket was given to receive the pty")
	}
	if !terminal && io.ConsoleSocket != "" {
		return errors.New("--console-socket was given but process.terminal is false")
	}
	return nil
}

func (io IO) deliverConsole(master *os.File) error {
	defer master.Close()
	if io.OnConsole != nil {
		return io.OnConsole(master)
	}
	return console.SendToSocket(io.ConsoleSocket, master)
}

// CreateOptions are the knobs of `create`.
type CreateOptions struct {
	Bundle       string
	PidFile      string
	NoPivot      bool
	NoNewKeyring bool
	PreserveFDs  int
	IO           IO
	Explain      explain.Recorder // receives each step of the create; nil: none
}

// Create builds the container and leaves it in the "created" state, its init
// blocked until Start. On any failure everything made so far is undone: the
// init process, the cgroup and the state directory.
func (r *Runtime) Create(ctx context.Context, id string, opts CreateOptions) (c *Container, err error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	// Two slow things start now and finish while the config is read: the
	// kernel's cgroup migration grace period, and the sealed copy of our
	// binary that init runs from.
	go r.warmMigration()
	go r.sealedExe()
	bundle, err := filepath.Abs(opts.Bundle)
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", opts.Bundle, err)
	}
	spec, err := LoadSpec(bundle)
	if err != nil {
		return nil, err
	}
	filter, err := r.compileSeccomp(id, spec)
	if err != nil {
		return nil, err
	}
	r.warnIgnored(id, spec.Linux.Resources)
	if err := opts.IO.check(spec.Process.Terminal); err != nil {
		return nil, err
	}
	plan, err := ns.PlanFor(spec.Linux.Namespaces)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(r.Root, 0o700); err != nil {
		return nil, fmt.Errorf("create state root %s: %w", r.Root, err)
	}
	dir := r.dir(id)
	if err := os.Mkdir(dir, 0o711); err != nil {
		if os.IsExist(err) {
			return nil, fmt.Errorf("container %s: %w", id, ErrExist)
		}
		return nil, fmt.Errorf("create state directory %s: %w", dir, err)
	}
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	undo = append(undo, func() { os.RemoveAll(dir) })
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	defer unlock()

	rootfs := spec.Root.Path
	if !filepath.IsAbs(rootfs) {
		rootfs = filepath.Join(bundle, rootfs)
	}
	rec := &record{
		ID: id, Bundle: bundle, Rootfs: rootfs, Created: time.Now().UTC(),
		CgroupsPath: spec.Linux.CgroupsPath, Spec: spec, Owner: ownerName(),
		SystemdCgroup: r.SystemdCgroup,
	}
	if err := writeRecord(dir, rec); err != nil {
		return nil, err
	}
	c = &Container{rt: r, rec: rec, dir: dir}

	fifoPath := filepath.Join(dir, fifoFile)
	if err := unix.Mkfifo(fifoPath, 0o600); err != nil {
		return nil, fmt.Errorf("create exec fifo: %w", err)
	}
	// Init reopens the FIFO for writing as the container's root, which in a
	// user namespace is another host uid.
	if uid, gid := hostID(spec.Linux.UIDMappings, 0), hostID(spec.Linux.GIDMappings, 0); uid != 0 || gid != 0 {
		if err := os.Chown(fifoPath, uid, gid); err != nil {
			return nil, fmt.Errorf("chown exec fifo: %w", err)
		}
	}
	fifo, err := os.OpenFile(fifoPath, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open exec fifo: %w", err)
	}
	defer fifo.Close()

	cg, err := newCgroup(spec, spec.Linux.CgroupsPath, id, r.SystemdCgroup)
	if err != nil {
		return nil, err
	}
	cgroups.SetRecorder(cg, opts.Explain) // each directory made and file written
	// Undone after the init is killed (undo runs last-in, first-out).
	undo = append(undo, func() { cg.Destroy() })

	req := spawnRequest{
		uidMappings: spec.Linux.UIDMappings,
		gidMappings: spec.Linux.GIDMappings,
		joins:       plan.Joins,
		stdio:       opts.IO.stdio(),
		preserveFDs: opts.PreserveFDs,
		fifo:        fifo,
	}
	// The cgroup namespace is unshared by init itself once it is in its
	// cgroup, so that cgroup becomes the namespace's root.
	newNS := plan.New &^ unix.CLONE_NEWCGROUP
	if plan.JoinsUser() {
		// Namespaces made by clone would belong to the host's user
		// namespace; made after joining, they belong to the joined one.
		req.unshare = newNS
	} else {
		req.newNS = newNS
	}
	if req.timeOffsets, err = timens.Offsets(spec.Linux.TimeOffsets); err != nil {
		return nil, err
	}
	if req.timeOffsets != "" {
		// Offsets are written between unshare and the first process in the
		// namespace, so the constructor unshares it and forks; the pid
		// namespace goes with it, so that the forked child is its pid 1.
		moved := req.newNS & (unix.CLONE_NEWTIME | unix.CLONE_NEWPID)
		req.newNS &^= moved
		req.unshare |= moved
	}
	if req.exe, err = r.sealedExe(); err != nil {
		return nil, err
	}
	// On pure cgroup v2 the cgroup is made first and init is born in it
	// (clone3 CLONE_INTO_CGROUP): no move, no wait for the cgroup lock.
	var mgr cgroups.Manager
	if target, ok := cg.(cgroups.CloneTarget); ok {
		if mgr, err = r.createCgroup(cg, spec, rec, 0); err != nil {
			return nil, err
		}
		if mgr == cg {
			if req.cgroup, err = target.OpenForClone(); err != nil {
				return nil, err
			}
			defer req.cgroup.Close()
		}
	}
	sp, err := spawn(req)
	if err != nil && req.cgroup != nil {
		// A kernel without clone3 or CLONE_INTO_CGROUP (before 5.7), or a
		// cgroup it refuses: start init as before, then move it.
		req.cgroup = nil
		sp, err = spawn(req)
	}
	if err != nil {
		return nil, err
	}
	undo = append(undo, sp.kill)
	explainSpawn(opts.Explain, req, sp.pid)
	switch {
	case req.cgroup != nil:
		// Born in its cgroup.
	case mgr != nil:
		// Made before spawn, but init was not born in it: the cgroupfs
		// fallback (no cgroup) needs init's pid, a cgroup needs the move.
		if _, ok := mgr.(noCgroup); ok {
			mgr = noCgroup{initPid: sp.pid}
		} else if err := mgr.Join(sp.pid); err != nil {
			return nil, fmt.Errorf("move init into its cgroup: %w", err)
		}
	default:
		// The cgroup is made while init starts: making it waits on the
		// kernel's cgroup lock, which WarmMigration holds for a grace
		// period, and init does nothing before it has its config.
		if mgr, err = r.createCgroup(cg, spec, rec, sp.pid); err != nil {
			return nil, err
		}
		if err := mgr.Join(sp.pid); err != nil {
			return nil, fmt.Errorf("move init into its cgroup: %w", err)
		}
	}
	if req.cgroup != nil {
		explainBornIn(opts.Explain, mgr)
	}
	if err := netdev.MoveAll(spec.Linux.NetDevices, fmt.Sprintf("/proc/%d/ns/net", sp.pid)); err != nil {
		return nil, err
	}
	trees, err := r.mountTrees(spec, bundle, sp.pid)
	if err != nil {
		return nil, err
	}
	defer closeAll(trees)
	cfg := &containerinit.Config{
		ID: id, Bundle: bundle, Rootfs: rootfs, Spec: spec, Process: spec.Process,
		NoPivot: opts.NoPivot, NoNewKeyring: opts.NoNewKeyring, PreserveFDs: opts.PreserveFDs,
		NewCgroupNS: plan.New&unix.CLONE_NEWCGROUP != 0,
		UserNS:      plan.Has(specs.UserNamespace),
		HostPid:     sp.pid,
		Seccomp:     filter,
		Explain:     explain.Enabled(opts.Explain),
	}
	for i := range trees {
		cfg.MountTrees = append(cfg.MountTrees, trees[i].index)
	}
	if err := sp.conn.Send(syncmsg.TypeConfig, cfg, nil); err != nil {
		return nil, err
	}
	for _, t := range trees {
		if err := sp.conn.Send(syncmsg.TypeMountTree, nil, t.file); err != nil {
			return nil, err
		}
	}
	rec.InitPid = sp.pid
	if err := r.converse(ctx, sp, spec, opts.IO, opts.Explain, cfg.State(specs.StateCreating)); err != nil {
		return nil, err
	}
	sp.conn.Close()
	st, err := readProcStat(sp.pid)
	if err != nil {
		return nil, fmt.Errorf("container init exited during create: %w", err)
	}
	rec.InitStartTime = st.StartTime
	c.init = &Process{Pid: sp.pid, sp: sp}
	if err := writeRecord(dir, rec); err != nil {
		return nil, err
	}
	if opts.PidFile != "" {
		if err := writePidFile(opts.PidFile, sp.pid); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// warmMigration starts the kernel's cgroup migration grace period early
// (cgroups.WarmMigration) where init will be moved into its cgroup: not on
// pure cgroup v2 with the cgroupfs driver, where it is born there.
func (r *Runtime) warmMigration() {
	if mode, err := cgroups.Mode(); err == nil && mode == cgroups.ModeV2 && !r.SystemdCgroup {
		return
	}
	cgroups.WarmMigration()
}

// mountTree is a detached id-mapped mount for init to attach.
type mountTree struct {
	index int
	file  *os.File
}

func closeAll(trees []mountTree) {
	for _, t := range trees {
		t.file.Close()
	}
}

// mountTrees makes the id-mapped mounts of spec in the host's namespaces
// (the kernel refuses to idmap from inside a user namespace); mounts that
// take the container's mapping use the user namespace of its init, pid.
func (r *Runtime) mountTrees(spec *specs.Spec, bundle string, pid int) ([]mountTree, error) {
	mounts, err := idmap.Mounts(spec, bundle)
	if err != nil || len(mounts) == 0 {
		return nil, err
	}
	files, err := idmap.Prepare(mounts, fmt.Sprintf("/proc/%d/ns/user", pid))
	if err != nil {
		return nil, err
	}
	trees := make([]mountTree, len(mounts))
	for i, m := range mounts {
		trees[i] = mountTree{index: m.Index, file: files[i]}
	}
	return trees, nil
}

// converse serves the init process until it reports ready: it runs the
// runtime-namespace hooks and forwards the pty and seccomp listener.
func (r *Runtime) converse(ctx context.Context, sp *spawned, spec *specs.Spec, io IO, rec explain.Recorder, state *specs.State) error {
	for {
		m, fd, err := sp.conn.Recv()
		if err != nil {
			if errors.Is(err, syncmsg.ErrClosed) {
				return errors.New("container init exited before it was ready (see its stderr)")
			}
			return err
		}
		switch m.Type {
		case syncmsg.TypeHooks:
			if spec.Hooks != nil {
				if err := hooks.Run(ctx, "prestart", prestart(spec.Hooks), state); err != nil {
					return err
				}
				if err := hooks.Run(ctx, "createRuntime", spec.Hooks.CreateRuntime, state); err != nil {
					return err
				}
			}
			if err := sp.conn.Send(syncmsg.TypeHooksDone, nil, nil); err != nil {
				return err
			}
		case syncmsg.TypeConsole:
			if fd == nil {
				return errors.New("init sent no pty")
			}
			if err := io.deliverConsole(fd); err != nil {
				return err
			}
		case syncmsg.TypeSeccomp:
			if fd == nil {
				return errors.New("init sent no seccomp listener")
			}
			err := sendSeccompListener(spec, fd, state)
			fd.Close()
			if err != nil {
				return err
			}
		case syncmsg.TypeExplain:
			if err := forwardSteps(rec, m.Body); err != nil {
				return err
			}
		case syncmsg.TypeReady:
			return nil
		default:
			if fd != nil {
				fd.Close()
			}
			return fmt.Errorf("unexpected %q message from init", m.Type)
		}
	}
}

func sendSeccompListener(spec *specs.Spec, fd *os.File, state *specs.State) error {
	path := spec.Linux.Seccomp.ListenerPath
	if path == "" {
		return errors.New("linux.seccomp uses SCMP_ACT_NOTIFY but has no listenerPath")
	}
	procState := specs.ContainerProcessState{
		Version:  specs.Version,
		Fds:      []string{specs.SeccompFdName},
		Pid:      state.Pid,
		Metadata: spec.Linux.Seccomp.ListenerMetadata,
		State:    *state,
	}
	data, err := json.Marshal(procState)
	if err != nil {
		return err
	}
	return seccomp.SendNotifyFD(path, int(fd.Fd()), data)
}

func writePidFile(path string, pid int) error {
	return atomicfile.WriteFile(path, []byte(strconv.Itoa(pid)), 0o644)
}

func ownerName() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return strconv.Itoa(os.Getuid())
}

// hostID returns the host ID that container ID id maps to (id itself when
// there is no mapping).
func hostID(mappings []specs.LinuxIDMapping, id uint32) int {
	for _, m := range mappings {
		if id >= m.ContainerID && id-m.ContainerID < m.Size {
			return int(m.HostID + id - m.ContainerID)
		}
	}
	return int(id)
}
