package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kago-run/kago/linux/console"
)

// terminal is kago running on a pty we hold the master of, as in a
// terminal emulator.
type terminal struct {
	t      *testing.T
	master *os.File
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    bytes.Buffer
}

func (e *env) onTerminal(rows, cols uint16, args ...string) *terminal {
	t := e.t
	t.Helper()
	pty, err := console.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pty.Master.Close() })
	if err := console.SetSize(pty.Master, rows, cols); err != nil {
		t.Fatal(err)
	}
	slave, err := pty.OpenSlave()
	if err != nil {
		t.Fatal(err)
	}
	defer slave.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, kagoBin, append([]string{"--root", e.root}, args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	term := &terminal{t: t, master: pty.Master, cmd: cmd}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := pty.Master.Read(buf)
			term.mu.Lock()
			term.out.Write(buf[:n])
			term.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return term
}

func (term *terminal) text() string {
	term.mu.Lock()
	defer term.mu.Unlock()
	return term.out.String()
}

func (term *terminal) seen(s string) bool { return strings.Contains(term.text(), s) }

func (term *terminal) wait(e *env, what string, all ...string) {
	term.t.Helper()
	e.eventually(what, 10*time.Second, func() bool {
		for _, s := range all {
			if !term.seen(s) {
				return false
			}
		}
		return true
	})
}

func (term *terminal) exitCode() int {
	err := term.cmd.Wait()
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	term.t.Fatalf("kago on the terminal: %v", err)
	return -1
}

// TestRunInteractiveTty drives `kago run -it` through a real pty: the shell
// gets a tty of our size, answers our input; Ctrl-P Ctrl-Q detaches and
// leaves it running; `kago attach` takes it back and its exit code becomes
// kago's.
func TestRunInteractiveTty(t *testing.T) {
	e := newEnv(t)
	term := e.onTerminal(33, 111, "run", "-it", "-w", "/work/dir", "--name", "tty", "bb", "sh")
	// Wait for the shell before typing, as a person would.
	term.wait(e, "the shell's banner", "built-in shell")
	// A prompt ends without a newline: it must still show at once.
	term.wait(e, "the prompt", "/work/dir # ")
	term.master.Write([]byte("echo $((6*7)); tty; stty size; pwd\r"))
	term.wait(e, "the shell's answers", "42", "/dev/pts/", "33 111", "/work/dir")
	// Ctrl-P and Ctrl-Q arrive as separate keys from a real terminal.
	term.master.Write([]byte{0x10})
	time.Sleep(100 * time.Millisecond)
	term.master.Write([]byte{0x11})
	if code := term.exitCode(); code != 0 {
		t.Fatalf("detach: kago exited %d, want 0", code)
	}
	if st := state(e.inspect("tty")); st["Status"] != "running" {
		t.Fatalf("after detach the container is %v", st["Status"])
	}
	again := e.onTerminal(20, 60, "attach", "tty")
	time.Sleep(300 * time.Millisecond)
	again.master.Write([]byte("stty size; exit 5\r"))
	if code := again.exitCode(); code != 5 {
		t.Fatalf("kago attach: exit %d, want the shell's 5; output:\n%s", code, again.text())
	}
	if !again.seen("20 60") {
		t.Errorf("attach did not pass its terminal size: %q", again.text())
	}
	if logs := e.ok("logs", "tty"); !strings.Contains(logs, "42") {
		t.Fatalf("tty output was not logged: %q", logs)
	}
}

// TestRunInteractivePipe: `run -i` without a tty feeds our stdin to the
// container until it ends.
func TestRunInteractivePipe(t *testing.T) {
	e := newEnv(t)
	cmd := exec.Command(kagoBin, "--root", e.root, "run", "-i", "--rm", "bb", "sh", "-c", "tr a-z A-Z; echo done")
	cmd.Stdin = strings.NewReader("hello\nworld\n")
	out, err := cmd.CombinedOutput()
	if err != nil || string(out) != "HELLO\nWORLD\ndone\n" {
		t.Fatalf("run -i: %q, %v", out, err)
	}
}

// TestExecInteractiveTty: exec -it gets its own pty of our size.
func TestExecInteractiveTty(t *testing.T) {
	e := newEnv(t)
	e.ok("run", "-d", "--name", "box", "bb", "sleep", "300")
	term := e.onTerminal(25, 70, "exec", "-it", "-e", "WHO=exec", "box", "sh")
	term.wait(e, "the shell's banner", "built-in shell")
	// A prompt ends without a newline: it must still show at once.
	term.wait(e, "the prompt", "/ # ")
	term.master.Write([]byte("echo $WHO; tty; stty size; exit 4\r"))
	if code := term.exitCode(); code != 4 {
		t.Fatalf("exec -it exit %d, want 4; output:\n%s", code, term.text())
	}
	for _, want := range []string{"exec", "/dev/pts/", "25 70"} {
		if !term.seen(want) {
			t.Errorf("exec -it output lacks %q:\n%s", want, term.text())
		}
	}
}
