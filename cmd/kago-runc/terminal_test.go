package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kago-run/kago/linux/console"
)

// consoleSocket listens where kago-runc sends the pty master, as a shim does.
func consoleSocket(t *testing.T) (string, <-chan *os.File) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "console.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	got := make(chan *os.File, 1)
	go func() {
		conn, err := l.AcceptUnix()
		if err != nil {
			close(got)
			return
		}
		defer conn.Close()
		f, err := conn.File()
		if err != nil {
			close(got)
			return
		}
		defer f.Close()
		master, _, err := console.RecvFd(f)
		if err != nil {
			close(got)
			return
		}
		got <- master
	}()
	return path, got
}

// readUntil reads from the pty until want appears or time runs out.
func readUntil(t *testing.T, r io.Reader, want string) string {
	t.Helper()
	var buf bytes.Buffer
	done := make(chan struct{})
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := r.Read(b)
			buf.Write(b[:n])
			if err != nil || strings.Contains(buf.String(), want) {
				close(done)
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %q; got %q", want, buf.String())
	}
	return buf.String()
}

func TestTerminalThroughConsoleSocket(t *testing.T) {
	h := newHarness(t)
	sock, masters := consoleSocket(t)
	b := bundle(t, sh("tty; [ -t 0 ] && [ -t 1 ] && echo is-a-tty; stty size; read x; echo got-$x; echo END"), func(s *specs.Spec) {
		s.Process.Terminal = true
		s.Process.ConsoleSize = &specs.Box{Height: 33, Width: 101}
	})
	id := h.id()
	h.must("create", "--console-socket", sock, "--bundle", b.Dir, id)
	master := <-masters
	if master == nil {
		t.Fatal("no pty master received on the console socket")
	}
	defer master.Close()
	// No resize from this side: "33 101" comes from process.consoleSize.
	h.must("start", id)
	master.Write([]byte("hello\n"))
	out := readUntil(t, master, "END")
	for _, want := range []string{"/dev/pts/0", "is-a-tty", "33 101", "got-hello"} {
		if !strings.Contains(out, want) {
			t.Errorf("terminal output lacks %q:\n%s", want, out)
		}
	}
	// The console socket is refused when there is no terminal.
	b2 := bundle(t, []string{"true"}, nil)
	if r := h.runc("create", "--console-socket", sock, "--bundle", b2.Dir, h.id()); r.code == 0 || !strings.Contains(r.stderr, "terminal") {
		t.Errorf("console socket without terminal: %s", r)
	}
}

func TestExecIntoRunningContainer(t *testing.T) {
	h := newHarness(t)
	b := bundle(t, sh("echo from-init > /tmp/mark; exec sleep 100"), func(s *specs.Spec) { s.Root.Readonly = false })
	id := h.detached(b)
	h.waitStatus(id, "running")
	out := h.must("exec", "--env", "FOO=bar", "--cwd", "/tmp", "--user", "1000:1000", id, "sh", "-c", "echo pid=$$ ppid-cmd=$(cat /proc/1/cmdline | tr '\\0' ' '); cat mark; pwd; id -u; echo $FOO")
	for _, want := range []string{"ppid-cmd=sleep 100", "from-init", "/tmp\n", "1000\n", "bar\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("exec output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "pid=1 ") {
		t.Errorf("exec'd process is PID 1:\n%s", out)
	}
	ns := strings.Fields(h.must("exec", id, "sh", "-c", "for n in mnt pid net uts ipc cgroup; do readlink /proc/self/ns/$n; readlink /proc/1/ns/$n; done"))
	for i := 0; i+1 < len(ns); i += 2 {
		if ns[i] != ns[i+1] {
			t.Errorf("exec'd process is in namespace %s, init in %s", ns[i], ns[i+1])
		}
	}
	if len(ns) != 12 {
		t.Errorf("namespace listing: %v", ns)
	}
	// Exit codes come back.
	if r := h.runc("exec", id, "sh", "-c", "exit 7"); r.code != 7 {
		t.Errorf("exec exit code %d, want 7", r.code)
	}
	// --process with a JSON file, --detach with a pid file.
	proc := specs.Process{Args: []string{"sh", "-c", "echo via-process-json > /tmp/p; sleep 100"}, Cwd: "/", Env: []string{"PATH=/bin"}}
	data, _ := json.Marshal(proc)
	pf := filepath.Join(t.TempDir(), "process.json")
	os.WriteFile(pf, data, 0o644)
	pidFile := filepath.Join(t.TempDir(), "exec.pid")
	h.must("exec", "--detach", "--pid-file", pidFile, "--process", pf, id)
	pidText, err := os.ReadFile(pidFile)
	if err != nil || len(pidText) == 0 {
		t.Fatalf("exec pid file: %v", err)
	}
	var pids []int
	json.Unmarshal([]byte(h.must("ps", "--format", "json", id)), &pids)
	found := false
	for _, p := range pids {
		if strings.TrimSpace(string(pidText)) == itoa(p) {
			found = true
		}
	}
	if !found {
		t.Errorf("exec --detach pid %s not among the container's processes %v", pidText, pids)
	}
	// A terminal for exec through a console socket.
	sock, masters := consoleSocket(t)
	done := make(chan result, 1)
	go func() { done <- h.runc("exec", "--tty", "--console-socket", sock, id, "sh", "-c", "tty; echo END") }()
	master := <-masters
	if master == nil {
		t.Fatal("exec --tty: no pty master")
	}
	out = readUntil(t, master, "END")
	// Keep the master open until exec returns: closing it first would hang
	// up the terminal (SIGHUP, exit 129) before the shell exits.
	r := <-done
	master.Close()
	if !strings.Contains(out, "/dev/pts/") {
		t.Errorf("exec --tty output: %q", out)
	}
	if r.code != 0 {
		t.Errorf("exec --tty: %s", r)
	}
	// Not into a stopped container.
	h.must("kill", id, "KILL")
	h.waitStatus(id, "stopped")
	if r := h.runc("exec", id, "true"); r.code == 0 || !strings.Contains(r.stderr, "stopped") {
		t.Errorf("exec into stopped container: %s", r)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestForegroundRunWithTerminal(t *testing.T) {
	h := newHarness(t)
	// No --console-socket: kago-runc run relays the pty itself, as runc does.
	b := bundle(t, sh("tty; echo END"), func(s *specs.Spec) { s.Process.Terminal = true })
	r := h.runc("run", "--bundle", b.Dir, h.id())
	if r.code != 0 || !strings.Contains(r.stdout, "/dev/pts/0") || !strings.Contains(r.stdout, "END") {
		t.Fatalf("foreground terminal run: %s", r)
	}
	// create without a console socket cannot hand the pty to anyone.
	if r := h.runc("create", "--bundle", b.Dir, h.id()); r.code == 0 || !strings.Contains(r.stderr, "console-socket") {
		t.Errorf("create of a terminal container without --console-socket: %s", r)
	}
}
