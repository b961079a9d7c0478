package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/engine/containers"
	"github.com/kago-run/kago/engine/logs"
	"github.com/kago-run/kago/linux/console"
	"github.com/kago-run/kago/network"
	"github.com/kago-run/kago/runtime"
)

// MonitorCommand is the hidden kago verb that runs a monitor; the CLI must
// route `kago --root R container-monitor ID` to Engine.Monitor.
const MonitorCommand = "container-monitor"

// Start starts a created or exited container under a new monitor process
// and returns once the container runs, or with the reason it could not.
func (e *Engine) Start(ctx context.Context, ref string) (*containers.Record, error) {
	rec, _, err := e.startMonitor(ctx, ref, false)
	return rec, err
}

// StartAttached is Start with the caller attached from the first byte of
// output: it returns the connection to pass to AttachClient.
func (e *Engine) StartAttached(ctx context.Context, ref string) (*containers.Record, net.Conn, error) {
	return e.startMonitor(ctx, ref, true)
}

func (e *Engine) startMonitor(ctx context.Context, ref string, attach bool) (*containers.Record, net.Conn, error) {
	rec, err := e.Lookup(ref)
	if err != nil {
		return nil, nil, err
	}
	if e.monitorAlive(rec.ID) {
		if !attach && (rec.State.Status == containers.StatusRunning || rec.State.Status == containers.StatusRestarting) {
			return rec, nil, nil // docker start of a running container is a no-op
		}
		return nil, nil, fmt.Errorf("container %s is already running", rec.Name)
	}
	if _, err := e.Containers.Update(rec.ID, func(r *containers.Record) error {
		r.State.ManuallyStopped = false
		return nil
	}); err != nil {
		return nil, nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, nil, fmt.Errorf("find the kago binary for the monitor: %w", err)
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	defer readyR.Close()
	defer readyW.Close()
	logf, err := os.OpenFile(filepath.Join(e.Containers.Dir(rec.ID), "monitor.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("open monitor log: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(self, "--root", e.Root, MonitorCommand, rec.ID)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{readyW}
	cmd.Env = append(os.Environ(), envReadyFD+"=3")
	var conn net.Conn
	if attach {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, nil, fmt.Errorf("socketpair: %w", err)
		}
		mine, theirs := os.NewFile(uintptr(fds[0]), "attach"), os.NewFile(uintptr(fds[1]), "attach")
		defer theirs.Close()
		conn, err = net.FileConn(mine)
		mine.Close()
		if err != nil {
			return nil, nil, err
		}
		cmd.ExtraFiles = append(cmd.ExtraFiles, theirs)
		cmd.Env = append(cmd.Env, envAttachFD+"=4")
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		closeConn(conn)
		return nil, nil, fmt.Errorf("start monitor: %w", err)
	}
	readyW.Close()
	// The monitor outlives us; whoever inherits it reaps it.
	go cmd.Wait()
	msg, _ := io.ReadAll(readyR)
	line := strings.TrimSpace(string(msg))
	if line != "ok" {
		closeConn(conn)
		if line == "" {
			line = "the monitor exited before starting the container; see " + filepath.Join(e.Containers.Dir(rec.ID), "monitor.log")
		}
		return nil, nil, fmt.Errorf("start container %s: %s", rec.Name, strings.TrimPrefix(line, "error: "))
	}
	rec, err = e.Containers.Get(rec.ID)
	if err != nil {
		closeConn(conn)
		return nil, nil, err
	}
	return rec, conn, nil
}

func closeConn(c net.Conn) {
	if c != nil {
		c.Close()
	}
}

// Descriptors the CLI hands a monitor it starts.
const (
	envReadyFD  = "KAGO_MONITOR_READY_FD"
	envAttachFD = "KAGO_MONITOR_ATTACH_FD"
)

// RunMonitor is the body of `kago container-monitor ID`: it reports
// readiness on the descriptor named by KAGO_MONITOR_READY_FD and serves
// the first attached client on KAGO_MONITOR_ATTACH_FD.
func (e *Engine) RunMonitor(ctx context.Context, id string) error {
	var ready *os.File
	if os.Getenv(envReadyFD) == "3" {
		ready = os.NewFile(3, "ready")
	}
	var first net.Conn
	if os.Getenv(envAttachFD) == "4" {
		f := os.NewFile(4, "attach")
		c, err := net.FileConn(f)
		f.Close()
		if err == nil {
			first = c
		}
	}
	os.Unsetenv(envReadyFD)
	os.Unsetenv(envAttachFD)
	signal.Ignore(unix.SIGHUP, unix.SIGPIPE, unix.SIGINT, unix.SIGTERM)
	report := func(err error) {
		if ready == nil {
			return
		}
		if err != nil {
			fmt.Fprintf(ready, "error: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
		} else {
			fmt.Fprintln(ready, "ok")
		}
		ready.Close()
		ready = nil
	}
	_, err := e.Monitor(ctx, id, first, report)
	report(err)
	return err
}

// Monitor runs the container until it exits for good (restart policy
// applied) and returns its last exit code. started is called once, with the
// first start's result. first, if not nil, is a client attached from the
// start; others attach through <id>/attach.sock.
func (e *Engine) Monitor(ctx context.Context, id string, first net.Conn, started func(error)) (int, error) {
	dir := e.Containers.Dir(id)
	unlock, err := lockMonitor(dir)
	if err != nil {
		return -1, err
	}
	defer unlock()
	h := newHub()
	defer h.closeAll()
	if first != nil {
		h.add(first)
	}
	stopListen, err := listenAttach(dir, h)
	if err != nil {
		return -1, err
	}
	defer stopListen()
	if err := runtime.PrepareToWait(); err != nil {
		return -1, err
	}
	firstRun := true
	backoff := 100 * time.Millisecond
	for {
		restarting := !firstRun
		code, oom, err := e.runOnce(ctx, id, h, func(err error) {
			if firstRun && started != nil {
				started(err)
			}
			firstRun = false
		})
		if err != nil {
			if restarting {
				// A restart that cannot start (its port taken meanwhile, say)
				// leaves the container exited with the reason.
				e.Containers.Update(id, func(r *containers.Record) error {
					r.State.Status, r.State.Error = containers.StatusExited, "restart failed: "+err.Error()
					r.State.FinishedAt = time.Now().UTC()
					return nil
				})
			}
			return -1, err
		}
		rec, err := e.Containers.Update(id, func(r *containers.Record) error {
			if r.State.Status != containers.StatusRemoving {
				r.State.Status = containers.StatusExited
			}
			r.State.ExitCode, r.State.OOMKilled = code, oom
			r.State.Pid = 0
			r.State.FinishedAt = time.Now().UTC()
			r.Endpoint = nil
			return nil
		})
		if err != nil {
			return code, err
		}
		if !shouldRestart(rec, code) {
			if rec.AutoRemove && rec.State.Status != containers.StatusRemoving {
				stopListen()
				if err := e.removeFiles(ctx, rec, true); err != nil {
					return code, err
				}
			}
			// Attached clients hear of the exit once --rm is done.
			h.sendExit(code)
			return code, nil
		}
		h.sendExit(code)
		if _, err := e.Containers.Update(id, func(r *containers.Record) error {
			r.State.Status = containers.StatusRestarting
			r.State.RestartCount++
			return nil
		}); err != nil {
			return code, err
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return code, ctx.Err()
		}
		backoff = min(backoff*2, 5*time.Second)
		// stop or rm during the back-off cancels the restart.
		if rec, err := e.Containers.Get(id); err != nil || rec.State.ManuallyStopped || rec.State.Status == containers.StatusRemoving {
			if err == nil && rec.State.Status == containers.StatusRestarting {
				_, err = e.Containers.Update(id, func(r *containers.Record) error {
					r.State.Status = containers.StatusExited
					return nil
				})
			}
			return code, err
		}
	}
}

// shouldRestart applies docker's restart policies to an exit.
func shouldRestart(rec *containers.Record, code int) bool {
	if rec.State.ManuallyStopped || rec.State.Status == containers.StatusRemoving {
		return false
	}
	switch rec.Restart.Name {
	case "always", "unless-stopped":
		return true
	case "on-failure":
		return code != 0 && (rec.Restart.MaximumRetryCount == 0 || rec.State.RestartCount < rec.Restart.MaximumRetryCount)
	}
	return false
}

// runOnce creates, networks and starts the container once and waits for it
// to exit. A failure before the container ran is reported through started
// and returned; after that, the exit code is returned.
func (e *Engine) runOnce(ctx context.Context, id string, h *hub, started func(error)) (code int, oom bool, err error) {
	rec, err := e.Containers.Get(id)
	if err != nil {
		started(err)
		return -1, false, err
	}
	c, copyDone, err := e.createAndStart(ctx, rec, h)
	if err != nil {
		started(err)
		return -1, false, err
	}
	started(nil)
	trimMemory()
	init := c.InitProcess()
	code, werr := init.Wait()
	if werr != nil {
		e.Log.Warn("wait for container init", "id", id, "error", werr)
	}
	// Output written just before exit is still in the pipes.
	select {
	case <-copyDone:
	case <-time.After(2 * time.Second):
	}
	if cg, err := c.Cgroup(); err == nil {
		if n, err := cg.OOMKillCount(); err == nil && n > 0 {
			oom = true
		}
	}
	e.teardown(context.WithoutCancel(ctx), rec)
	return code, oom, nil
}

// createAndStart is runtime create, network attach, runtime start. It
// undoes all of it on failure.
func (e *Engine) createAndStart(ctx context.Context, rec *containers.Record, h *hub) (c *runtime.Container, copyDone chan struct{}, err error) {
	id := rec.ID
	// Leftovers of a monitor that was killed, or of a reboot.
	e.teardown(ctx, rec)
	if _, err := e.Images.Snapshots().Mount(ctx, id); err != nil {
		return nil, nil, fmt.Errorf("mount rootfs of %s: %w", rec.Name, err)
	}
	lw, err := logs.NewWriter(e.logPath(id), e.Config.LogMaxSize)
	if err != nil {
		return nil, nil, err
	}
	io, closeParent, wait, err := e.stdio(lw, rec, h)
	if err != nil {
		lw.Close()
		return nil, nil, err
	}
	defer func() {
		closeParent()
		if err != nil {
			wait()
			lw.Close()
		}
	}()
	c, err = e.Runtime.Create(ctx, id, runtime.CreateOptions{Bundle: e.Containers.Dir(id), IO: io})
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			e.teardown(context.WithoutCancel(ctx), rec)
		}
	}()
	var ep *network.Endpoint
	if rec.Network != "host" && rec.Network != "none" {
		dir := e.Containers.Dir(id)
		ep, err = e.Net.Attach(ctx, network.AttachRequest{
			ContainerID: id, Network: rec.Network, NetnsPath: fmt.Sprintf("/proc/%d/ns/net", c.Pid()),
			Hostname: rec.Hostname, Aliases: hostAliases(rec.Name), Ports: rec.Ports, MAC: rec.MacAddress,
			HostsPath: filepath.Join(dir, "hosts"), HostnamePath: filepath.Join(dir, "hostname"),
			ResolvConfPath: filepath.Join(dir, "resolv.conf"),
		})
		if err != nil {
			return nil, nil, err
		}
	}
	if err = c.Start(ctx); err != nil {
		return nil, nil, err
	}
	// The monitor outlives the start: let go of the runtime's sealed copy of
	// the kago binary (a restart makes a new one).
	e.Runtime.Close()
	if _, err = e.Containers.Update(id, func(r *containers.Record) error {
		r.State.Status = containers.StatusRunning
		r.State.Pid = c.Pid()
		r.State.MonitorPid = os.Getpid()
		r.State.StartedAt = time.Now().UTC()
		r.State.ExitCode, r.State.OOMKilled, r.State.Error = 0, false, ""
		r.Endpoint = ep
		return nil
	}); err != nil {
		return nil, nil, err
	}
	copyDone = make(chan struct{})
	go func() { wait(); lw.Close(); close(copyDone) }()
	return c, copyDone, nil
}

// stdio makes the container's stdio: pipes copied into the log and to the
// attached clients, or a pty with -t. closeParent closes our copies of the
// container's ends; wait returns when copying is done.
func (e *Engine) stdio(lw *logs.Writer, rec *containers.Record, h *hub) (runtime.IO, func(), func(), error) {
	var wg sync.WaitGroup
	if rec.Tty {
		return runtime.IO{OnConsole: func(master *os.File) error {
			// The runtime closes master once this returns; keep a dup.
			dup, err := unix.FcntlInt(master.Fd(), unix.F_DUPFD_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("dup pty master: %w", err)
			}
			m := os.NewFile(uintptr(dup), "pty")
			var in io.Writer
			if rec.OpenStdin {
				in = m
			}
			h.setIO(in, nil, func(rows, cols uint16) { console.SetSize(m, rows, cols) })
			wg.Add(1)
			// Reading the master ends with EIO once the last slave closes.
			go func() {
				defer wg.Done()
				lw.Copy("stdout", m, streamWriter{h, frameStdout})
				h.setIO(nil, nil, nil)
				m.Close()
			}()
			return nil
		}}, func() {}, wg.Wait, nil
	}
	var parentEnds []*os.File
	closeParent := func() {
		for _, f := range parentEnds {
			f.Close()
		}
	}
	if rec.OpenStdin {
		r, w, err := os.Pipe()
		if err != nil {
			return runtime.IO{}, nil, nil, err
		}
		parentEnds = append(parentEnds, r)
		h.setIO(w, func() { w.Close() }, nil)
	} else {
		devnull, err := os.Open(os.DevNull)
		if err != nil {
			return runtime.IO{}, nil, nil, err
		}
		parentEnds = append(parentEnds, devnull)
	}
	rio := runtime.IO{Stdin: parentEnds[0]}
	for i, stream := range []string{"stdout", "stderr"} {
		r, w, err := os.Pipe()
		if err != nil {
			closeParent()
			return runtime.IO{}, nil, nil, err
		}
		typ := byte(frameStdout)
		if i == 0 {
			rio.Stdout = w
		} else {
			rio.Stderr, typ = w, frameStderr
		}
		parentEnds = append(parentEnds, w)
		wg.Add(1)
		go func() { defer wg.Done(); lw.Copy(stream, r, streamWriter{h, typ}); r.Close() }()
	}
	return rio, closeParent, wg.Wait, nil
}

// lockMonitor takes the monitor's flock, held for its whole life, so other
// kago processes can tell whether a monitor watches the container.
func lockMonitor(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, "monitor.lock"), os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open monitor lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, errors.New("another monitor already runs this container")
		}
		return nil, fmt.Errorf("lock monitor: %w", err)
	}
	return func() { f.Close() }, nil
}

// monitorAlive tells whether a monitor holds the container's lock.
func (e *Engine) monitorAlive(id string) bool {
	f, err := os.OpenFile(filepath.Join(e.Containers.Dir(id), "monitor.lock"), os.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != nil {
		return errors.Is(err, unix.EWOULDBLOCK)
	}
	unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return false
}

var hostLabel = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$`)

// hostAliases is the container name as a name peers can resolve, when it is
// a valid host name label (a name like my_app is not, and is skipped).
func hostAliases(name string) []string {
	if hostLabel.MatchString(name) {
		return []string{name}
	}
	return nil
}
