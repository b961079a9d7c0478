package e2e

import (
	"bufio"
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestTraceEngineContainer traces a running engine container with
// `kago trace --format json`: the exec of a known binary with its argv, an
// open of a known path and a process that `kago exec` adds are seen, with
// the container's name and both pids, and trace ends by itself when the
// container exits.
func TestTraceEngineContainer(t *testing.T) {
	e := newEnv(t)
	name := "kt12-trace"
	script := "while [ ! -e /kt12-go ]; do usleep 20000; done; busybox echo kt12-argv one two >/dev/null; cat /etc/kt12-passwd 2>/dev/null; cat /etc/passwd >/dev/null"
	e.ok("run", "-d", "--name", name, "bb", "sh", "-c", script)

	cmd := exec.Command(kagoBin, "--root", e.root, "trace", "--format", "json", name)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	errLines := bufio.NewScanner(stderr)
	if !errLines.Scan() || !strings.HasPrefix(errLines.Text(), "tracing container "+name) {
		t.Fatalf("kago trace did not start: %q", errLines.Text())
	}
	type event struct {
		Container, Comm, Event, Path, Filename string
		Pid, HostPid                           int
		Argv                                   []string
		Ret                                    *int64
	}
	done := make(chan []event, 1)
	go func() {
		var evs []event
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var ev event
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Errorf("trace line %q: %v", sc.Text(), err)
			}
			evs = append(evs, ev)
		}
		done <- evs
	}()
	e.ok("exec", name, "touch", "/kt12-go")

	var evs []event
	select {
	case evs = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("kago trace did not end after its container exited")
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("kago trace: %v", err)
	}
	var sawExec, sawTouch, sawOpen bool
	for _, ev := range evs {
		if ev.Container != name || ev.Pid == 0 || ev.HostPid == 0 || ev.Comm == "" {
			t.Errorf("event without its container, pids or comm: %+v", ev)
		}
		switch {
		case ev.Event == "exec" && slices.Equal(ev.Argv, []string{"busybox", "echo", "kt12-argv", "one", "two"}):
			sawExec = ev.Ret != nil && *ev.Ret == 0 && ev.Pid != ev.HostPid
		case ev.Event == "exec" && slices.Equal(ev.Argv, []string{"touch", "/kt12-go"}):
			sawTouch = true
		case ev.Event == "open" && ev.Path == "/etc/passwd":
			sawOpen = ev.Ret != nil && *ev.Ret >= 0
		}
	}
	if !sawExec || !sawTouch || !sawOpen {
		t.Errorf("exec seen %v, exec'd touch seen %v, open seen %v; events: %+v", sawExec, sawTouch, sawOpen, evs)
	}
}
