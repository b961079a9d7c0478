package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kago-run/kago/trace/tracetest"
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

// traceLine is the part of a recorded event TestRunTrace reads.
type traceLine struct {
	Container, Comm, Event, Path string
	Pid, HostPid                 int
	Argv                         []string
	Ret                          *int64
}

// readTrace reads a trace file (kago run --trace) or `kago trace --format
// json` output: one JSON event per line.
func readTrace(t *testing.T, data string) []traceLine {
	t.Helper()
	var evs []traceLine
	for _, l := range strings.Split(strings.TrimSpace(data), "\n") {
		if l == "" {
			continue
		}
		var ev traceLine
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("trace line %q: %v", l, err)
		}
		evs = append(evs, ev)
	}
	return evs
}

// TestRunTrace runs short-lived containers with --trace FILE: the file
// holds their events from the first exec (the container's sh as pid 1) to
// the last open, complete when run returns; a detached one is recorded too,
// and `kago trace --since-start` started after its first exec shows that
// exec from the record, then what follows, until the container exits.
// Afterwards no program of kago's is loaded.
func TestRunTrace(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "s3tr-fg.json")
	script := "cat /etc/hostname; exit 3"
	out, errs, code := e.run("run", "--rm", "--network", "none", "--hostname", "s3tr-host", "--trace", file, "bb", "sh", "-c", script)
	if code != 3 || strings.TrimSpace(out) != "s3tr-host" {
		t.Fatalf("run --trace: exit %d, stdout %q, stderr %q; want 3 and the host name", code, out, errs)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	evs := readTrace(t, string(data))
	if len(evs) == 0 || evs[0].Event != "exec" || evs[0].Pid != 1 || !slices.Equal(evs[0].Argv, []string{"sh", "-c", script}) {
		t.Fatalf("first recorded event %+v, want the exec of the container's sh as pid 1; trace:\n%s", evs[:min(1, len(evs))], data)
	}
	var opened bool
	for _, ev := range evs {
		if ev.Container == "" || ev.HostPid == 0 || ev.Comm == "" {
			t.Errorf("event without its container, pid or comm: %+v", ev)
		}
		opened = opened || ev.Event == "open" && ev.Path == "/etc/hostname" && ev.Ret != nil && *ev.Ret >= 0
	}
	if !opened || evs[len(evs)-1].Path != "/etc/hostname" {
		t.Errorf("want the open of /etc/hostname last; trace:\n%s", data)
	}

	// Detached, and read back with kago trace --since-start while it runs.
	file = filepath.Join(dir, "s3tr-d.json")
	name := "s3tr-detached"
	e.ok("run", "-d", "--name", name, "--network", "none", "--trace", file, "bb", "sh", "-c",
		"while [ ! -e /s3tr-go ]; do usleep 20000; done; cat /etc/hostname")
	e.eventually("the tracer to record the first exec", 10*time.Second, func() bool {
		data, _ := os.ReadFile(file)
		return strings.Contains(string(data), `"exec"`)
	})
	since := exec.Command(kagoBin, "--root", e.root, "trace", "--since-start", "--format", "json", name)
	var sinceOut strings.Builder
	since.Stdout = &sinceOut
	if err := since.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { since.Process.Kill(); since.Wait() })
	time.Sleep(300 * time.Millisecond)
	e.ok("exec", name, "touch", "/s3tr-go")
	if got := e.ok("wait", name); got != "0" {
		t.Errorf("wait = %q, want 0", got)
	}
	waited := make(chan error, 1)
	go func() { waited <- since.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("kago trace --since-start: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("kago trace --since-start did not end after its container exited")
	}
	evs = readTrace(t, sinceOut.String())
	var first, touch, open bool
	for i, ev := range evs {
		first = first || i == 0 && ev.Event == "exec" && ev.Pid == 1 && ev.Container == name
		touch = touch || ev.Event == "exec" && slices.Equal(ev.Argv, []string{"touch", "/s3tr-go"})
		open = open || ev.Event == "open" && ev.Path == "/etc/hostname"
	}
	if !first || !touch || !open {
		t.Errorf("--since-start: first exec %v, touch %v, open %v; events:\n%s", first, touch, open, sinceOut.String())
	}
	recorded, _ := os.ReadFile(file)
	if string(recorded) != sinceOut.String() {
		t.Errorf("--since-start printed other events than the record:\n%s\nrecord:\n%s", sinceOut.String(), recorded)
	}
	e.ok("rm", name)

	// create --trace, start: each run the restart policy makes is
	// recorded, appended to the same file.
	file = filepath.Join(dir, "s3tr-restart.json")
	name = "s3tr-restart"
	e.ok("create", "--name", name, "--network", "none", "--restart", "on-failure:1", "--trace", file, "--trace-events", "exec",
		"bb", "sh", "-c", "cat /etc/hostname >/dev/null; exit 1")
	e.ok("start", name)
	e.eventually("the restart to end", 30*time.Second, func() bool {
		in := e.inspect(name)
		return in["State"].(map[string]any)["Status"] == "exited" && in["RestartCount"] == float64(1)
	})
	data, _ = os.ReadFile(file)
	var runs int
	for _, ev := range readTrace(t, string(data)) {
		if ev.Event != "exec" {
			t.Errorf("event of a kind not recorded: %+v", ev)
		}
		if ev.Pid == 1 && len(ev.Argv) > 0 && ev.Argv[0] == "sh" {
			runs++
		}
	}
	if runs != 2 {
		t.Errorf("recorded %d starts of the container's sh, want 2 (the run and its restart):\n%s", runs, data)
	}
	e.ok("rm", name)
	tracetest.NoPrograms(t)
}

// TestRunTraceBadInput: an unknown kind in --trace-events, a trace file
// that cannot be made, and --since-start on a container that records no
// trace each get a one-line error naming the thing, and no container is
// made by the bad runs.
func TestRunTraceBadInput(t *testing.T) {
	e := newEnv(t)
	file := filepath.Join(t.TempDir(), "s3tr.json")
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"run", "--trace", file, "--trace-events", "exec,s3tr-bogus", "bb", "true"}, []string{"s3tr-bogus", "--trace-events"}},
		{[]string{"run", "--trace", "/s3tr-missing/x.json", "bb", "true"}, []string{"/s3tr-missing/x.json", "--trace"}},
		{[]string{"create", "--trace-events", "exec", "bb", "true"}, []string{"--trace-events", "--trace FILE"}},
	} {
		msg := strings.TrimSpace(e.fails(tc.args...))
		for _, w := range tc.want {
			if !strings.Contains(msg, w) || strings.Contains(msg, "\n") || strings.Contains(msg, "goroutine") {
				t.Errorf("kago %v: error %q, want one line naming %q", tc.args, msg, w)
			}
		}
	}
	if ids := e.ids(); len(ids) != 0 {
		t.Errorf("bad runs left containers: %v", ids)
	}
	e.ok("create", "--name", "s3tr-plain", "bb", "true")
	msg := strings.TrimSpace(e.fails("trace", "--since-start", "s3tr-plain"))
	if !strings.Contains(msg, "s3tr-plain") || !strings.Contains(msg, "--trace FILE") || strings.Contains(msg, "\n") {
		t.Errorf("trace --since-start of a container without --trace: %q, want one line naming it and --trace FILE", msg)
	}
	e.ok("rm", "s3tr-plain")
}
