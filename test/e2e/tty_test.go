package e2e

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kago-run/kago/linux/console"
)

// TestRunInteractiveTty drives `kago run -it` through a real pty, as a
// terminal would: the shell inside gets a tty of the size we set, echoes
// our input, and its exit code becomes kago's.
func TestRunInteractiveTty(t *testing.T) {
	e := newEnv(t)
	pty, err := console.New()
	if err != nil {
		t.Fatal(err)
	}
	defer pty.Master.Close()
	if err := console.SetSize(pty.Master, 33, 111); err != nil {
		t.Fatal(err)
	}
	slave, err := pty.OpenSlave()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kagoBin, "--root", e.root, "run", "-it", "-w", "/work/dir", "--name", "tty", "bb", "sh")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	var mu sync.Mutex
	var out bytes.Buffer
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := pty.Master.Read(buf)
			mu.Lock()
			out.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	seen := func(s string) bool { mu.Lock(); defer mu.Unlock(); return strings.Contains(out.String(), s) }
	// Wait for the shell before typing, as a person would.
	e.eventually("the shell's banner", 10*time.Second, func() bool { return seen("built-in shell") })
	pty.Master.Write([]byte("echo $((6*7)); tty; stty size; pwd\r"))
	e.eventually("the shell's answers", 10*time.Second, func() bool {
		return seen("42") && seen("/dev/pts/") && seen("33 111") && seen("/work/dir")
	})
	pty.Master.Write([]byte("exit 5\r"))
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 5 {
		t.Fatalf("kago run -it: %v, want exit 5; output:\n%s", err, out.String())
	}
	if logs := e.ok("logs", "tty"); !strings.Contains(logs, "42") {
		t.Fatalf("tty output was not logged: %q", logs)
	}
}
