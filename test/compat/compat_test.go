//go:build compat

// Package compat proves kago-runc is a drop-in runc for the real clients that
// drive runc: containerd (ctr and the CRI plugin through crictl), Docker and
// Podman. Each client runs on private sockets, data roots and subnets, is
// given a logging wrapper as its runtime path (so each test can check kago-runc
// was really called, not a runc found on PATH), and is torn down at the end.
//
// Run with: go test -tags compat ./test/compat/...
package compat

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/internal/testbundle"
)

// kagoRunc is the kago-runc binary under test, built once by TestMain.
var kagoRunc string

// buildDir holds the binaries TestMain builds; removed when the run ends.
var buildDir string

func TestMain(m *testing.M) {
	var err error
	buildDir, err = os.MkdirTemp("", "kago-compat-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	kagoRunc = filepath.Join(buildDir, "kago-runc")
	// Where there is no Go toolchain (the systemd VM of
	// test/systemd-cgroup-vm.sh), the binaries come prebuilt (kago-init
	// beside kago-runc); else both are built: kago-init is the container
	// init kago-runc needs beside it.
	if prebuilt := os.Getenv("KAGO_RUNC_PREBUILT"); prebuilt != "" {
		kagoRunc = prebuilt
	} else if out, err := exec.Command("go", "build", "-o", buildDir+"/", "github.com/kago-run/kago/cmd/kago-runc", "github.com/kago-run/kago/cmd/kago-init").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build kago-runc: %v\n%s", err, out)
		os.RemoveAll(buildDir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(buildDir)
	os.Exit(code)
}

// requireTools skips the test unless it runs as root and every named client
// binary is installed; the message names the Debian package to install.
func requireTools(t *testing.T, pkg string, bins ...string) {
	t.Helper()
	testbundle.RequireRoot(t)
	for _, b := range bins {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("%s not installed: apt-get install -y %s", b, pkg)
		}
	}
}

// wrapper is a runtime path to hand to a client: a shell script that appends
// its arguments to a log, then execs kago-runc. The log proves the client
// called kago-runc and shows which verbs and flags it used.
type wrapper struct {
	Path string
	Log  string
}

func newWrapper(t *testing.T, dir string) *wrapper {
	t.Helper()
	// The log lives in a TempDir, which outlasts every other cleanup.
	w := &wrapper{Path: filepath.Join(dir, "kago-runc-wrapper"), Log: filepath.Join(t.TempDir(), "kago-runc-calls.log")}
	script := fmt.Sprintf("#!/bin/sh\nprintf '%%s\\n' \"$*\" >> %s\nexec %s \"$@\"\n", w.Log, kagoRunc)
	if err := os.WriteFile(w.Path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if testing.Verbose() {
		t.Cleanup(func() { t.Logf("kago-runc calls:\n%s", strings.Join(w.calls(), "\n")) })
	}
	return w
}

// calls returns the logged invocations.
func (w *wrapper) calls() []string {
	data, _ := os.ReadFile(w.Log)
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

// requireCalled fails the test unless the client called kago-runc with a verb
// (the first non-flag word) equal to each of verbs.
func (w *wrapper) requireCalled(t *testing.T, verbs ...string) {
	t.Helper()
	seen := map[string]bool{}
	for _, line := range w.calls() {
		fields := strings.Fields(line)
		for i := 0; i < len(fields); i++ {
			f := fields[i]
			if strings.HasPrefix(f, "-") {
				// Global flags that take a value as the next word.
				if !strings.Contains(f, "=") && (f == "--root" || f == "--log" || f == "--log-format" || f == "--criu") {
					i++
				}
				continue
			}
			seen[f] = true
			break
		}
	}
	for _, v := range verbs {
		if !seen[v] {
			t.Fatalf("the client never ran kago-runc %s; calls were:\n%s", v, strings.Join(w.calls(), "\n"))
		}
	}
}

// run runs a client command with a timeout and returns its combined output,
// failing the test on a non-zero exit.
func run(t *testing.T, timeout time.Duration, env []string, name string, args ...string) string {
	t.Helper()
	out, err := tryRun(timeout, env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// tryRun is run that returns the error instead of failing.
func tryRun(timeout time.Duration, env []string, name string, args ...string) (string, error) {
	var out bytes.Buffer
	err := runCmd(timeout, env, &out, &out, name, args...)
	return out.String(), err
}

// runStdout runs a client command and returns only its standard output
// (clients print warnings on stderr), failing the test on a non-zero exit.
func runStdout(t *testing.T, timeout time.Duration, env []string, name string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if err := runCmd(timeout, env, &stdout, &stderr, name, args...); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

func runCmd(timeout time.Duration, env []string, stdout, stderr io.Writer, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %s: %w", timeout, err)
	}
	return err
}

// daemon is a client daemon (containerd, dockerd) the test started; it is
// stopped with SIGTERM, then SIGKILL, by PID.
type daemon struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// startDaemon starts name with args, its output in logPath, and waits until
// socket accepts connections.
func startDaemon(t *testing.T, logPath, socket string, name string, args ...string) *daemon {
	t.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	d := &daemon{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { cmd.Wait(); logf.Close(); close(d.done) }()
	t.Cleanup(d.stop)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if c, err := net.Dial("unix", socket); err == nil {
			c.Close()
			return d
		}
		select {
		case <-d.done:
			t.Fatalf("%s exited before serving %s:\n%s", name, socket, d.tail())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not serve %s within 60s:\n%s", name, socket, d.tail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (d *daemon) stop() {
	select {
	case <-d.done:
		return
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
	}
}

// tail returns the last lines of the daemon's log, for failure messages.
func (d *daemon) tail() string {
	data, _ := os.ReadFile(d.log)
	lines := strings.Split(string(data), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return strings.Join(lines, "\n")
}

// killStrays ends processes a client daemon left behind that the test
// started indirectly (shims, conmon): those whose command line contains
// marker, a path private to this test. Each is ended by its own PID.
func killStrays(t *testing.T, marker string) {
	t.Helper()
	entries, _ := os.ReadDir("/proc")
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(data, []byte(marker)) {
			continue
		}
		t.Logf("ending leftover process %d: %s", pid, bytes.ReplaceAll(data, []byte{0}, []byte{' '}))
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// unmountUnder lazily unmounts every mount point below dir (deepest first),
// for daemons killed before they unmounted their overlays.
func unmountUnder(dir string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	var points []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
			points = append(points, fields[4])
		}
	}
	for i := len(points) - 1; i >= 0; i-- {
		syscall.Unmount(points[i], syscall.MNT_DETACH)
	}
}

// waitFor polls cond until it returns true or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last: %s", timeout, what, detail)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// runTTY runs a client command with a new pseudo-terminal as its controlling
// terminal and stdio (clients refuse -t without one), and returns what it
// wrote to the terminal.
func runTTY(t *testing.T, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	defer master.Close()
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pty slave: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		slave.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	slave.Close()
	var out bytes.Buffer
	copied := make(chan struct{})
	go func() { io.Copy(&out, master); close(copied) }() // ends with EIO once every slave fd is closed
	err = cmd.Wait()
	select {
	case <-copied:
	case <-time.After(2 * time.Second):
	}
	if err != nil {
		t.Fatalf("%s %s (on a tty): %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// cgroupCleanup removes the cgroup subtree parent (a path relative to each
// hierarchy's root, private to the test) from every mounted hierarchy when
// the test ends: processes a killed client left in it are thawed and killed
// by PID, then the directories are removed deepest first.
func cgroupCleanup(t *testing.T, parent string) {
	t.Helper()
	t.Cleanup(func() {
		var dirs []string
		hierarchies, _ := filepath.Glob("/sys/fs/cgroup/*")
		for _, h := range hierarchies {
			filepath.WalkDir(filepath.Join(h, parent), func(path string, d fs.DirEntry, err error) error {
				if err == nil && d.IsDir() {
					dirs = append(dirs, path)
				}
				return nil
			})
		}
		if len(dirs) == 0 {
			return
		}
		for _, d := range dirs {
			os.WriteFile(filepath.Join(d, "freezer.state"), []byte("THAWED"), 0)
			os.WriteFile(filepath.Join(d, "cgroup.freeze"), []byte("0"), 0)
		}
		deadline := time.Now().Add(10 * time.Second)
		for i := len(dirs) - 1; i >= 0; i-- {
			for {
				procs, _ := os.ReadFile(filepath.Join(dirs[i], "cgroup.procs"))
				for _, f := range strings.Fields(string(procs)) {
					if pid, err := strconv.Atoi(f); err == nil {
						t.Logf("killing leftover process %d in %s", pid, dirs[i])
						syscall.Kill(pid, syscall.SIGKILL)
					}
				}
				err := syscall.Rmdir(dirs[i])
				if err == nil || os.IsNotExist(err) || time.Now().After(deadline) {
					if err != nil && !os.IsNotExist(err) {
						t.Errorf("remove cgroup %s: %v", dirs[i], err)
					}
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	})
}
