package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/engine/containers"
	"github.com/kago-run/kago/engine/health"
	"github.com/kago-run/kago/engine/monitor"
	"github.com/kago-run/kago/internal/lockfile"
	"github.com/kago-run/kago/linux/explain"
	"github.com/kago-run/kago/network"
	"github.com/kago-run/kago/runtime"
)

// Start starts a created or exited container under a new monitor process
// and returns once the container runs, or with the reason it could not.
func (e *Engine) Start(ctx context.Context, ref string) (*containers.Record, error) {
	rec, _, err := e.startMonitor(ctx, ref, false)
	return rec, err
}

// StartAttached is Start with the caller attached from the first byte of
// output: it returns the connection to pass to attach.Client.
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
	if _, err := e.containers.Update(rec.ID, func(r *containers.Record) error {
		r.State.ManuallyStopped = false
		return nil
	}); err != nil {
		return nil, nil, err
	}
	self, err := e.program()
	if err != nil {
		return nil, nil, err
	}
	mon, err := FindProgram(self, monitor.Binary)
	if err != nil {
		return nil, nil, err
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	defer readyR.Close()
	defer readyW.Close()
	logf, err := os.OpenFile(filepath.Join(e.containers.Dir(rec.ID), "monitor.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("open monitor log: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(mon, "--protocol", monitor.Protocol, "--kago", self, "--root", e.Root,
		"--id", rec.ID, "--dir", e.containers.Dir(rec.ID), "--log", e.logPath(rec.ID),
		"--log-max-size", strconv.FormatInt(e.Config.LogMaxSize, 10),
		"--tty="+strconv.FormatBool(rec.Tty), "--stdin="+strconv.FormatBool(rec.OpenStdin), "--ready-fd", "3")
	if rec.Healthcheck != nil {
		// The first probe comes after one interval, as docker's.
		first := healthDelay(&containers.Record{Healthcheck: rec.Healthcheck, State: containers.State{StartedAt: time.Now()}})
		cmd.Args = append(cmd.Args, "--health-delay", strconv.FormatInt(int64(first), 10))
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{readyW}
	cmd.Env = append(os.Environ(), monitor.RuntimeEnv...)
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
		cmd.Args = append(cmd.Args, "--attach-fd", "4")
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	steps := requestSteps(explain.FromContext(ctx), e.containers.Dir(rec.ID))
	if err := cmd.Start(); err != nil {
		closeConn(conn)
		return nil, nil, fmt.Errorf("start monitor: %w", err)
	}
	explainMonitor(explain.FromContext(ctx), cmd.Process.Pid, cmd.Args)
	readyW.Close()
	// The monitor outlives us; whoever inherits it reaps it.
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	msg, _ := io.ReadAll(readyR)
	if steps != nil {
		steps() // what the start did, failed or not
	}
	line := strings.TrimSpace(string(msg))
	if line != monitor.ResultOK {
		closeConn(conn)
		// A monitor that failed to start the container exits at once; wait
		// for it (bounded), so the container is not still "running" (its
		// monitor alive) to the next command.
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
		}
		if line == "" {
			line = "the monitor exited before starting the container; see " + filepath.Join(e.containers.Dir(rec.ID), "monitor.log")
		}
		return nil, nil, fmt.Errorf("start container %s: %s", rec.Name, strings.TrimPrefix(line, monitor.ResultError+": "))
	}
	rec, err = e.containers.Get(rec.ID)
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

// FindProgram finds name, one of kago's programs (kago, kago-monitor,
// kago-compose), beside self (the running one) or else on $PATH; they are
// built and installed together.
func FindProgram(self, name string) (string, error) {
	p := filepath.Join(filepath.Dir(self), name)
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s is not beside %s nor on $PATH: build kago's programs with make build (or go build ./cmd/...) and install them together", name, self)
}

// StartRun is the body of `kago container-start`, run by the container's
// monitor: it creates the container with the given stdio, attaches its
// network, starts it and returns its init's pid. On a restart (restart set)
// a stop or rm that came during the back-off calls it off: the error is
// ErrRestartCancelled; a restart that fails leaves the container exited
// with the reason.
func (e *Engine) StartRun(ctx context.Context, id string, io runtime.IO, restart bool) (int, error) {
	rec, err := e.containers.Get(id)
	if err != nil {
		return 0, err
	}
	if restart && (rec.State.ManuallyStopped || rec.State.Status == containers.StatusRemoving) {
		_, err := e.containers.Update(id, func(r *containers.Record) error {
			if r.State.Status == containers.StatusRestarting {
				r.State.Status = containers.StatusExited
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
		return 0, ErrRestartCancelled
	}
	ctx, hold, done := stepsRequested(ctx, e.containers.Dir(id), restart)
	defer done()
	c, err := e.createAndStart(ctx, rec, io)
	if hold != nil && err == nil {
		hold.Release() // the init's steps done at start, after the network's
	}
	if err != nil {
		if restart {
			// Its port taken meanwhile, say.
			e.containers.Update(id, func(r *containers.Record) error {
				r.State.Status, r.State.Error = containers.StatusExited, "restart failed: "+err.Error()
				r.State.FinishedAt = time.Now().UTC()
				return nil
			})
		}
		return 0, err
	}
	return c.Pid(), nil
}

// ErrRestartCancelled is StartRun's answer when the container was stopped
// or removed while its monitor waited to restart it.
var ErrRestartCancelled = errors.New("restart cancelled by stop or rm")

// FinishRun is the body of `kago container-exited`, run by the monitor
// when the container's init exited with code: it records the exit and an
// OOM kill, tears the run down (network, runtime state), removes a --rm
// container, and says whether the restart policy restarts it.
func (e *Engine) FinishRun(ctx context.Context, id string, code int) (bool, error) {
	if _, err := e.containers.Get(id); err != nil {
		return false, err
	}
	oom := false
	if c, err := e.runtime.Load(id); err == nil {
		if cg, err := c.Cgroup(); err == nil {
			if n, err := cg.OOMKillCount(); err == nil && n > 0 {
				oom = true
			}
		}
	}
	// The trace file is complete when the exit is known.
	e.waitTracer(id)
	e.teardown(ctx, id)
	rec, err := e.containers.Update(id, func(r *containers.Record) error {
		if r.State.Status != containers.StatusRemoving {
			r.State.Status = containers.StatusExited
		}
		r.State.ExitCode, r.State.OOMKilled = code, oom
		r.State.Pid, r.State.Paused = 0, false
		r.State.FinishedAt = time.Now().UTC()
		r.Endpoint, r.MoreEndpoints = nil, nil
		return nil
	})
	if err != nil {
		return false, err
	}
	if !shouldRestart(rec, code) {
		if rec.AutoRemove && rec.State.Status != containers.StatusRemoving {
			return false, e.removeTornDown(ctx, rec, true)
		}
		return false, nil
	}
	_, err = e.containers.Update(id, func(r *containers.Record) error {
		r.State.Status = containers.StatusRestarting
		r.State.RestartCount++
		return nil
	})
	return err == nil, err
}

// shouldRestart applies docker's restart policies to an exit.
func shouldRestart(rec *containers.Record, code int) bool {
	if rec.State.ManuallyStopped || rec.State.Status == containers.StatusRemoving {
		return false
	}
	switch rec.Restart.Name {
	case RestartAlways, RestartUnlessStopped:
		return true
	case RestartOnFailure:
		return code != 0 && (rec.Restart.MaximumRetryCount == 0 || rec.State.RestartCount < rec.Restart.MaximumRetryCount)
	}
	return false
}

// createAndStart is runtime create, network attach, runtime start. It
// undoes all of it on failure.
func (e *Engine) createAndStart(ctx context.Context, rec *containers.Record, io runtime.IO) (c *runtime.Container, err error) {
	id := rec.ID
	if rec.Creating {
		return nil, fmt.Errorf("container %s is still being created", rec.Name)
	}
	// Leftovers of a monitor that was killed, or of a reboot. A rootfs
	// still mounted is used as it is (Mount does nothing then).
	e.teardownRun(ctx, id)
	if _, err := os.Stat(e.bundleConfig(id)); err != nil {
		return nil, incomplete(rec)
	}
	if _, err := e.Images.Snapshots().Mount(ctx, id); err != nil {
		if isNotFound(err) {
			return nil, incomplete(rec)
		}
		return nil, fmt.Errorf("mount rootfs of %s: %w", rec.Name, err)
	}
	defer func() {
		if err != nil {
			e.teardown(context.WithoutCancel(ctx), id)
		}
	}()
	if err = e.ensureDefaultProfile(ctx, rec.AppArmorProfile); err != nil {
		return nil, err
	}
	c, err = e.runtime.Create(ctx, id, runtime.CreateOptions{Bundle: e.containers.Dir(id), IO: io, Explain: explain.FromContext(ctx)})
	if err != nil {
		return nil, err
	}
	var ep *network.Endpoint
	var moreEps []network.Endpoint
	if rec.Network != "host" && rec.Network != "none" {
		dir := e.containers.Dir(id)
		ep, err = e.Net.Attach(ctx, network.AttachRequest{
			ContainerID: id, Network: rec.Network, NetnsPath: fmt.Sprintf("/proc/%d/ns/net", c.Pid()),
			Hostname: rec.Hostname, Aliases: append(hostAliases(rec.Name), rec.NetworkAliases...), Ports: rec.Ports, MAC: rec.MacAddress,
			ExtraHosts: rec.HostConfig.ExtraHosts, DNS: rec.HostConfig.DNS,
			Resolver:  true,
			HostsPath: filepath.Join(dir, "hosts"), HostnamePath: filepath.Join(dir, "hostname"),
			ResolvConfPath: filepath.Join(dir, "resolv.conf"),
		})
		if err != nil {
			return nil, err
		}
		if rec.Network != string(NetworkBridge) {
			e.ensureResolver(ctx, rec.Network, filepath.Join(dir, "resolv.conf"), rec.HostConfig.DNS)
		}
		for _, nc := range rec.MoreNetworks {
			more, err := e.attachMore(ctx, rec, c.Pid(), nc)
			if err != nil {
				return nil, err
			}
			moreEps = append(moreEps, *more)
		}
	}
	if rec.Trace != nil {
		if err = e.startTracer(ctx, rec, c.Pid()); err != nil {
			return nil, err
		}
	}
	if err = c.Start(ctx); err != nil {
		return nil, err
	}
	if _, err = e.containers.Update(id, func(r *containers.Record) error {
		r.State.Status = containers.StatusRunning
		r.State.Pid = c.Pid()
		r.State.MonitorPid = os.Getppid() // this runs as the monitor's helper
		r.State.StartedAt = time.Now().UTC()
		r.State.ExitCode, r.State.OOMKilled, r.State.Error = 0, false, ""
		r.State.Health = nil
		if r.Healthcheck != nil {
			r.State.Health = health.NewState()
		}
		r.Endpoint, r.MoreEndpoints = ep, moreEps
		return nil
	}); err != nil {
		return nil, err
	}
	return c, nil
}

// incomplete is the error for a container whose create did not finish (a
// kago from before records marked it): it cannot start, only go.
func incomplete(rec *containers.Record) error {
	return fmt.Errorf("container %s was not completely created (its create was interrupted): remove it with `kago rm %s` and create it again", rec.Name, rec.Name)
}

// monitorAlive tells whether a monitor holds the container's lock.
func (e *Engine) monitorAlive(id string) bool {
	return lockfile.Held(filepath.Join(e.containers.Dir(id), "monitor.lock"))
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
