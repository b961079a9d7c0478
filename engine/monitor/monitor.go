// Package monitor is the body of kago-monitor, the process that watches one
// container for its whole life, as conmon does for podman. It is the
// container's parent (a child subreaper), holds its stdio or pty, writes the
// json-file log, serves attach.sock, and applies the restart policy.
//
// It stays small because there is one per running container: everything
// that needs the engine (the runtime, the network, the image store, the
// container's record) runs in short-lived helpers, re-executions of kago:
//
//	kago --root R container-start ID     create, attach the network, start;
//	                                     prints "ok PID", "error: ..." or
//	                                     "cancelled" (a stop came first)
//	kago --root R container-exited ID N  record exit code N and an OOM kill,
//	                                     tear down, remove with --rm; prints
//	                                     "restart" or "done"
//	kago --root R container-health ID    run the healthcheck's probe once and
//	                                     record it; prints "next NS" (the
//	                                     wait before the next) or "done"
//
// The container's init is started by the first helper and re-parented to
// the monitor when that helper exits, so the monitor is the one to wait for
// it. The monitor holds an flock on <dir>/monitor.lock while it lives, so
// other kago processes can tell whether it still watches the container.
package monitor

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/engine/attach"
	"github.com/kago-run/kago/engine/logs"
	"github.com/kago-run/kago/internal/trim"
	"github.com/kago-run/kago/linux/console"
	"github.com/kago-run/kago/linux/reap"
)

// Protocol is the version of the command line between kago and
// kago-monitor; both check it, so a stale kago-monitor beside a newer kago
// fails with a clear error instead of misreading its arguments.
const Protocol = "1"

// Binary is the monitor program's file name, found beside kago.
const Binary = "kago-monitor"

// Helper verbs of kago that the monitor runs.
const (
	StartCommand  = "container-start"
	ExitedCommand = "container-exited"
	HealthCommand = "container-health"
)

// Descriptor numbers a helper gets (0 is /dev/null; 1 and 2 are the
// monitor's log). The container's stdin, stdout and stderr follow the
// result pipe, or the console socket does when the container has a tty.
const (
	ResultFD = 3
	StdioFD  = 4
)

// Results a helper writes on its result pipe.
const (
	ResultOK        = "ok"
	ResultError     = "error"
	ResultCancelled = "cancelled"
	ResultRestart   = "restart"
	ResultDone      = "done"
	ResultNext      = "next"
)

// wrapped is an error with its context, what fmt.Errorf("%s: %w") makes:
// the monitor does without fmt (and the reflection it brings), because all
// of its program that runs ends up resident in every monitor.
type wrapped struct {
	context string
	err     error
}

func wrap(context string, err error) error { return &wrapped{context, err} }

func (w *wrapped) Error() string { return w.context + ": " + w.err.Error() }
func (w *wrapped) Unwrap() error { return w.err }

// errCancelled is a restart that a stop or rm called off.
var errCancelled = errors.New("restart cancelled")

// Options describe the container the monitor watches.
type Options struct {
	Kago       string // the kago binary the helpers run
	Root       string // engine root, passed to the helpers
	ID         string
	Dir        string // the container's directory: lock and attach.sock
	LogPath    string
	LogMaxSize int64
	Tty        bool // the container has a pty
	OpenStdin  bool // attached clients may write to its stdin
	// Ready, if not nil, receives "ok" or "error: REASON" once the first
	// start is done, and is closed.
	Ready *os.File
	// First, if not nil, is a client attached from the start.
	First attach.Conn
	// HealthDelay, when not zero, is the wait before the first healthcheck
	// probe of each run; the probe helper says how long until the next.
	HealthDelay time.Duration
}

// Run watches the container until it exits for good (restart policy
// applied) and returns its last exit code.
func Run(ctx context.Context, o Options) (int, error) {
	report := func(err error) {
		if o.Ready == nil {
			return
		}
		if err != nil {
			o.Ready.WriteString(ResultError + ": " + strings.ReplaceAll(err.Error(), "\n", " ") + "\n")
		} else {
			o.Ready.WriteString(ResultOK + "\n")
		}
		o.Ready.Close()
		o.Ready = nil
	}
	code, err := run(ctx, o, report)
	report(err)
	return code, err
}

func run(ctx context.Context, o Options, started func(error)) (int, error) {
	unlock, err := lock(filepath.Join(o.Dir, "monitor.lock"))
	if err != nil {
		return -1, err
	}
	defer unlock()
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return -1, wrap("become child subreaper", err)
	}
	r := newReaper()
	defer r.stop()
	h := attach.NewHub()
	defer h.CloseAll()
	if o.First != nil {
		h.Add(o.First)
	}
	stopListen, err := listen(o.Dir, h)
	if err != nil {
		return -1, err
	}
	defer stopListen()
	m := &monitor{o: o, hub: h, reaper: r, devnull: -1}
	defer func() {
		if m.devnull >= 0 {
			unix.Close(m.devnull)
		}
	}()
	ctx, stopTrimming := context.WithCancel(ctx)
	defer stopTrimming()
	t := trim.New()
	go t.Run(ctx)
	backoff := 100 * time.Millisecond
	for n := 0; ; n++ {
		pid, copied, err := m.start(n > 0)
		if n == 0 {
			started(err)
		}
		if errors.Is(err, errCancelled) {
			return -1, nil
		}
		if err != nil {
			return -1, err
		}
		// Starting touched far more memory than waiting will.
		kick := time.AfterFunc(time.Second, t.Kick)
		stopProbes := make(chan struct{})
		if o.HealthDelay > 0 {
			go m.probe(stopProbes, t.Kick)
		}
		code := r.wait(pid)
		close(stopProbes)
		kick.Stop()
		// Output written just before the exit is still in the pipes.
		select {
		case <-copied:
		case <-time.After(2 * time.Second):
		}
		again, err := m.exited(code)
		// Attached clients hear of the exit once --rm is done.
		h.SendExit(code)
		if err != nil || !again {
			return code, err
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return code, ctx.Err()
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

type monitor struct {
	o      Options
	hub    *attach.Hub
	reaper *reaper
	// devnull (the helpers' stdin) and env (their environment) are made
	// by the first helper and kept; devnull is -1 until then.
	devnull int
	env     []string
}

// start runs the start helper with the container's new stdio and returns
// the container's init pid and a channel closed when its output is copied.
func (m *monitor) start(restart bool) (int, <-chan struct{}, error) {
	lw, err := logs.NewWriter(m.o.LogPath, m.o.LogMaxSize)
	if err != nil {
		return 0, nil, err
	}
	s, err := m.newStdio()
	if err != nil {
		lw.Close()
		return 0, nil, err
	}
	args := []string{StartCommand, m.o.ID}
	if restart {
		args = append(args, "--restart")
	}
	res, err := m.helper(args, s.child)
	s.closeChild()
	if err == nil {
		err = s.connect(m.hub)
	}
	if err != nil {
		s.abort()
		lw.Close()
		return 0, nil, err
	}
	switch word, rest, _ := strings.Cut(res, " "); word {
	case ResultOK:
		pid, perr := strconv.Atoi(rest)
		if perr == nil && pid > 0 {
			return pid, s.copying(lw, m.hub, m.o.OpenStdin), nil
		}
		err = errors.New(StartCommand + " said " + strconv.Quote(res) + ", not the container's pid")
	case ResultCancelled:
		err = errCancelled
	case ResultError + ":":
		err = errors.New(rest)
	default:
		err = errors.New(StartCommand + " ended without a result (see " + filepath.Join(m.o.Dir, "monitor.log") + ")")
	}
	s.abort()
	lw.Close()
	return 0, nil, err
}

// probe runs the healthcheck helper at the intervals it asks for, until
// stop is closed or it says there is nothing more to probe. The probe (an
// exec into the container) is the helper's work: the monitor only waits.
// Each probe runs the fork path's code, so the program pages are trimmed
// after it. It leaves a little garbage (fork and exec copy the arguments
// and environment) and the monitor runs without collections by heap growth
// (see RuntimeEnv). The first collection waits until the probes made
// probeGarbage of it, because a collection leaves the collector's own
// metadata resident (some 0.7 MiB in Go 1.26) for the rest of the
// monitor's life; once that is paid, the heap is collected and returned
// after every probe, so it never grows.
func (m *monitor) probe(stop <-chan struct{}, trim func()) {
	delay := m.o.HealthDelay
	args := []string{HealthCommand, m.o.ID}
	t := time.NewTimer(delay)
	defer t.Stop()
	allocs := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(allocs)
	start, collected := allocs[0].Value.Uint64(), false
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		res, err := m.helper(args, nil)
		metrics.Read(allocs)
		if collected || allocs[0].Value.Uint64()-start >= probeGarbage {
			debug.FreeOSMemory()
			collected = true
		}
		trim()
		word, rest, _ := strings.Cut(res, " ")
		ns, perr := strconv.ParseInt(rest, 10, 64)
		if err != nil || word != ResultNext || perr != nil || ns <= 0 {
			return
		}
		t.Reset(time.Duration(ns))
	}
}

// probeGarbage is how much the health probes may allocate before the
// monitor collects: some hundred probes' worth.
const probeGarbage = 512 << 10

// exited runs the exit helper and says whether to restart.
func (m *monitor) exited(code int) (bool, error) {
	res, err := m.helper([]string{ExitedCommand, m.o.ID, strconv.Itoa(code)}, nil)
	if err != nil {
		return false, err
	}
	return res == ResultRestart, nil
}

// helper runs a kago helper with files as its descriptors from StdioFD on,
// waits for it, and returns the line it wrote on its result pipe. It keeps
// its garbage small (a raw pipe, /dev/null and the environment opened and
// made once): the health probes run it for the container's whole life.
func (m *monitor) helper(args []string, files []*os.File) (string, error) {
	if m.devnull < 0 {
		fd, err := unix.Open(os.DevNull, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return "", wrap("open "+os.DevNull, err)
		}
		m.devnull, m.env = fd, helperEnv()
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return "", wrap("result pipe", err)
	}
	defer unix.Close(p[0])
	fds := make([]uintptr, 4, 4+len(files))
	fds[0], fds[1], fds[2], fds[3] = uintptr(m.devnull), os.Stderr.Fd(), os.Stderr.Fd(), uintptr(p[1])
	for _, f := range files {
		fds = append(fds, f.Fd())
	}
	argv := append([]string{"kago", "--root", m.o.Root}, args...)
	pid, err := m.reaper.start(m.o.Kago, argv, m.env, fds)
	unix.Close(p[1])
	if err != nil {
		return "", wrap("run "+m.o.Kago+" "+args[0], err)
	}
	m.reaper.wait(pid)
	var out [256]byte // results are one short line
	n, _ := unix.Read(p[0], out[:])
	return strings.TrimSpace(string(out[:max(n, 0)])), nil
}

// stdio is one run's stdio: the ends the helper passes to the container and
// the monitor's ends.
type stdio struct {
	child   []*os.File // stdin, stdout, stderr; or the console socket
	stdin   *os.File   // our end of the container's stdin pipe
	outs    [2]*os.File
	console *os.File // our end of the console socket
	pty     *os.File
}

func (m *monitor) newStdio() (*stdio, error) {
	s := &stdio{}
	if m.o.Tty {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, wrap("console socketpair", err)
		}
		s.console = os.NewFile(uintptr(fds[0]), "console")
		s.child = []*os.File{os.NewFile(uintptr(fds[1]), "console")}
		return s, nil
	}
	if m.o.OpenStdin {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		s.child, s.stdin = append(s.child, r), w
	} else {
		devnull, err := os.Open(os.DevNull)
		if err != nil {
			return nil, err
		}
		s.child = append(s.child, devnull)
	}
	for i := range s.outs {
		r, w, err := os.Pipe()
		if err != nil {
			s.abort()
			return nil, err
		}
		s.child, s.outs[i] = append(s.child, w), r
	}
	return s, nil
}

// closeChild closes our copies of the container's ends once the helper
// has them.
func (s *stdio) closeChild() {
	for _, f := range s.child {
		f.Close()
	}
	s.child = nil
}

// connect takes the pty master the runtime sent, and connects the hub's
// input to the container.
func (s *stdio) connect(h *attach.Hub) error {
	if s.console == nil {
		if s.stdin != nil {
			in := s.stdin
			h.SetIO(in, func() { in.Close() }, nil)
		}
		return nil
	}
	master, _, err := console.RecvFd(s.console)
	s.console.Close()
	s.console = nil
	if err != nil {
		return nil // the start failed before making the pty; its result says why
	}
	// A non-blocking descriptor is read through Go's poller, not by a
	// thread of its own.
	fd, err := unix.FcntlInt(master.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	master.Close()
	if err != nil {
		return wrap("dup pty master", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return wrap("pty master", err)
	}
	s.pty = os.NewFile(uintptr(fd), "pty")
	return nil
}

// copying starts copying the container's output into the log and to the
// attached clients; the channel closes when all of it is copied.
func (s *stdio) copying(lw *logs.Writer, h *attach.Hub, openStdin bool) <-chan struct{} {
	var wg sync.WaitGroup
	copyOut := func(stream string, r *os.File, tee func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := h.Stdout()
			if stream == "stderr" {
				w = h.Stderr()
			}
			lw.Copy(stream, r, w)
			if tee != nil {
				tee()
			}
			r.Close()
		}()
	}
	if s.pty != nil {
		pty := s.pty
		resize := func(rows, cols uint16) { console.SetSize(pty, rows, cols) }
		if openStdin {
			h.SetIO(pty, nil, resize)
		} else {
			h.SetIO(nil, nil, resize)
		}
		// Reading the master ends with EIO once the last slave closes.
		copyOut("stdout", pty, func() { h.SetIO(nil, nil, nil) })
	} else {
		copyOut("stdout", s.outs[0], nil)
		copyOut("stderr", s.outs[1], nil)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); lw.Close(); close(done) }()
	return done
}

// abort closes everything of a run that did not start.
func (s *stdio) abort() {
	s.closeChild()
	for _, f := range []*os.File{s.stdin, s.outs[0], s.outs[1], s.console, s.pty} {
		if f != nil {
			f.Close()
		}
	}
}

// lock takes the monitor's flock, held for its whole life.
func lock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, wrap("open monitor lock", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, errors.New("another monitor already runs this container")
		}
		return nil, wrap("lock monitor", err)
	}
	return func() { f.Close() }, nil
}

// listen accepts attach clients on <dir>/attach.sock. The path goes through
// /proc/self/fd of the directory: socket paths are limited to 108 bytes
// and engine roots can be long.
func listen(dir string, h *attach.Hub) (func(), error) {
	dfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, wrap("open "+dir, err)
	}
	defer unix.Close(dfd)
	sock := filepath.Join(dir, "attach.sock")
	os.Remove(sock)
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, wrap("attach socket", err)
	}
	addr := &unix.SockaddrUnix{Name: "/proc/self/fd/" + strconv.Itoa(dfd) + "/attach.sock"}
	if err := unix.Bind(fd, addr); err != nil {
		unix.Close(fd)
		return nil, wrap("bind "+sock, err)
	}
	if err := unix.Listen(fd, 16); err != nil {
		unix.Close(fd)
		return nil, wrap("listen on "+sock, err)
	}
	l := os.NewFile(uintptr(fd), sock)
	rc, err := l.SyscallConn()
	if err != nil {
		l.Close()
		return nil, err
	}
	go func() {
		for {
			var nfd int
			var aerr error
			err := rc.Read(func(fd uintptr) bool {
				nfd, _, aerr = unix.Accept4(int(fd), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
				return aerr != unix.EAGAIN
			})
			if err != nil {
				return // closed
			}
			if aerr == nil {
				h.Add(os.NewFile(uintptr(nfd), "attach"))
			}
		}
	}()
	return func() { l.Close(); os.Remove(sock) }, nil
}

// reaper waits for every child of the monitor: the helpers it starts and,
// re-parented to it, the containers' init processes. Exits are reaped in
// SIGCHLD order and kept until someone asks for them, so an exit that
// comes before the monitor learns the pid is not lost.
type reaper struct {
	mu     sync.Mutex
	cond   *sync.Cond
	exited map[int]int // pid -> exit code
	sigs   chan os.Signal
}

func newReaper() *reaper {
	r := &reaper{exited: map[int]int{}, sigs: make(chan os.Signal, 1)}
	r.cond = sync.NewCond(&r.mu)
	signal.Notify(r.sigs, unix.SIGCHLD)
	go func() {
		for range r.sigs {
			r.reap()
		}
	}()
	return r
}

func (r *reaper) reap() {
	reap.Exited(func(pid, code int) {
		r.mu.Lock()
		// Orphans of the container that nobody waits for must not pile up.
		if len(r.exited) > 1024 {
			clear(r.exited)
		}
		r.exited[pid] = code
		r.cond.Broadcast()
		r.mu.Unlock()
	})
}

// start starts a child; its exit is then for wait to collect.
func (r *reaper) start(path string, argv, env []string, fds []uintptr) (int, error) {
	return syscall.ForkExec(path, argv, &syscall.ProcAttr{Env: env, Files: fds})
}

// wait returns the exit code of the child pid once it exited.
func (r *reaper) wait(pid int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		if code, ok := r.exited[pid]; ok {
			delete(r.exited, pid)
			return code
		}
		r.cond.Wait()
	}
}

// RuntimeEnv is the Go runtime's settings for the monitor, set by kago in
// its environment (they take effect before the runtime starts):
//   - one thread runs Go code: the monitor only waits and copies, and each
//     P costs memory in every monitor;
//   - no garbage collection by heap growth: the monitor makes almost no
//     garbage while its container runs (log lines are encoded into one
//     reused buffer), and a collection would leave the runtime's collector
//     code and metadata resident; the memory limit still collects if
//     something does allocate, and the trimmer trims after it.
var RuntimeEnv = []string{"GOMAXPROCS=1", "GOGC=off", "GOMEMLIMIT=8MiB"}

// helperEnv is the monitor's environment without RuntimeEnv: the helpers
// are the engine, which runs better with the runtime's defaults.
func helperEnv() []string {
	env := os.Environ()
	out := env[:0]
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.ContainsFunc(RuntimeEnv, func(s string) bool { return strings.HasPrefix(s, name+"=") }) {
			out = append(out, kv)
		}
	}
	return out
}

func (r *reaper) stop() { signal.Stop(r.sigs) }
