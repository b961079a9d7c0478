package main

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

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kago-run/kago/trace/tracetest"
)

// traceEvent is the part of `kago-runc trace --format json` the tests read.
type traceEvent struct {
	Container     string   `json:"container"`
	Pid           int      `json:"pid"`
	HostPid       int      `json:"hostPid"`
	Comm          string   `json:"comm"`
	Event         string   `json:"event"`
	Filename      string   `json:"filename"`
	Argv          []string `json:"argv"`
	Path          string   `json:"path"`
	Flags         *int     `json:"flags"`
	Addr          string   `json:"addr"`
	Signal        string   `json:"signal"`
	Target        int      `json:"target"`
	VictimHostPid int      `json:"victimHostPid"`
	Syscalls      []struct {
		Name          string
		Count, Errors uint64
	} `json:"syscalls"`
	Ret   *int64 `json:"ret"`
	Error string `json:"error"`
}

// startTrace runs `kago-runc trace --format json ID` and returns once its
// programs are attached; wait collects its events after it ends.
func (h *harness) startTrace(id string, extra ...string) (wait func() []traceEvent) {
	h.t.Helper()
	args := append([]string{"--root", h.root, "trace", "--format", "json"}, extra...)
	cmd := exec.Command(kagoRunc, append(args, id)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		h.t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		h.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	errLines := bufio.NewScanner(stderr)
	if !errLines.Scan() || !strings.HasPrefix(errLines.Text(), "tracing container") {
		h.t.Fatalf("kago-runc trace did not start: %q", errLines.Text())
	}
	evc := make(chan []traceEvent, 1)
	go func() {
		var evs []traceEvent
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var e traceEvent
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				h.t.Errorf("trace line %q: %v", sc.Text(), err)
				continue
			}
			evs = append(evs, e)
		}
		evc <- evs
	}()
	return func() []traceEvent {
		h.t.Helper()
		var evs []traceEvent
		select {
		case evs = <-evc:
		case <-time.After(20 * time.Second):
			h.t.Fatal("kago-runc trace did not end after its container exited")
		}
		var rest strings.Builder
		for errLines.Scan() {
			rest.WriteString(errLines.Text() + "\n")
		}
		if err := cmd.Wait(); err != nil {
			h.t.Fatalf("kago-runc trace: %v\n%s", err, rest.String())
		}
		return evs
	}
}

// hostNetwork keeps a container in the host's network namespace, whose
// loopback is up.
func hostNetwork(s *specs.Spec) {
	s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool {
		return n.Type == specs.NetworkNamespace
	})
}

// TestTraceSeesOnlyTheContainer traces a container from before its first
// exec while a host process does the same things at the same moment: the
// container's exec (with argv), open and refused connect are seen with the
// right fields, the host's are not, and trace ends cleanly when the
// container exits, leaving no program loaded.
func TestTraceSeesOnlyTheContainer(t *testing.T) {
	h := newHarness(t)
	const port = "16201" // nothing listens here: connect gets ECONNREFUSED
	script := "while [ ! -e /kt12-go ]; do usleep 20000; done; " +
		"busybox echo kt12-argv one two >/dev/null; cat /kt12-open-me; " +
		"nc 127.0.0.1 " + port + " </dev/null; true"
	// The host's network: the host's connect goes to the same closed port.
	b := bundle(t, sh(script), hostNetwork)
	if err := os.WriteFile(filepath.Join(b.RootfsDir(), "kt12-open-me"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	id := h.id()
	h.must("create", "--bundle", b.Dir, id)
	// --since-start: a created container is traced from its start anyway.
	wait := h.startTrace(id, "--since-start")
	h.must("start", id)

	// The host does the same while the container does it.
	host := exec.Command("sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do busybox echo kt12-argv-host >/dev/null; "+
		"cat /kt12-open-me; nc 127.0.0.1 "+port+" </dev/null; usleep 50000; done 2>/dev/null; true")
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if err := os.WriteFile(filepath.Join(b.RootfsDir(), "kt12-go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	host.Wait()
	evs := wait()
	h.must("delete", "--force", id)
	tracetest.NoPrograms(t)

	var execs, opens, connects int
	for _, e := range evs {
		if e.Container != id || e.HostPid == 0 || e.Pid == 0 || e.Comm == "" {
			t.Errorf("event without its container, pids or comm: %+v", e)
		}
		if slices.Contains(e.Argv, "kt12-argv-host") {
			t.Errorf("a host exec was traced: %+v", e)
		}
		switch {
		case e.Event == "exec" && slices.Contains(e.Argv, "kt12-argv"):
			execs++
			if want := []string{"busybox", "echo", "kt12-argv", "one", "two"}; !slices.Equal(e.Argv, want) || e.Ret == nil || *e.Ret != 0 {
				t.Errorf("exec event %+v: want argv %q and ret 0", e, want)
			}
		case e.Event == "open" && e.Path == "/kt12-open-me":
			opens++
			if e.Ret == nil || *e.Ret < 0 || e.Flags == nil {
				t.Errorf("open event %+v: want a file descriptor and flags", e)
			}
		case e.Event == "connect" && e.Addr == "127.0.0.1:"+port:
			connects++
			if e.Ret == nil || e.Error != "ECONNREFUSED" {
				t.Errorf("connect event %+v: want ECONNREFUSED", e)
			}
		}
	}
	// Exactly one each: the host did each ten times.
	if execs != 1 || opens != 1 || connects != 1 {
		t.Errorf("saw %d execs, %d opens, %d connects of the container, want 1 each; events:\n%+v", execs, opens, connects, evs)
	}
	// Traced from before the first exec: the container's own sh.
	if len(evs) == 0 || evs[0].Event != "exec" || evs[0].Pid != 1 || !slices.Equal(evs[0].Argv, sh(script)) {
		t.Errorf("first event %+v, want the exec of the container's sh as pid 1", evs[:min(1, len(evs))])
	}
}

// TestTraceSocketsAndSignals sees a container's bind, accept, a connect
// that succeeds and a kill, with addresses, ports and the signal.
func TestTraceSocketsAndSignals(t *testing.T) {
	h := newHarness(t)
	const port = "16202"
	script := "nc -l -p " + port + " </dev/null >/dev/null & L=$!; usleep 300000; " +
		"nc 127.0.0.1 " + port + " </dev/null & C=$!; usleep 300000; kill $C $L 2>/dev/null; " +
		"sleep 10 & kill -TERM $!; wait; true"
	b := bundle(t, sh(script), hostNetwork)
	id := h.id()
	h.must("create", "--bundle", b.Dir, id)
	wait := h.startTrace(id, "--events", "bind,accept,connect,signal")
	h.must("start", id)
	evs := wait()

	var bind, accept, connect, signal bool
	for _, e := range evs {
		switch e.Event {
		case "bind":
			bind = bind || strings.HasSuffix(e.Addr, ":"+port) && e.Ret != nil && *e.Ret == 0
		case "accept":
			// busybox nc passes no address buffer: the peer is known
			// only to callers that ask for it.
			accept = accept || e.Ret != nil && *e.Ret >= 0
			if e.Addr != "" && !strings.HasPrefix(e.Addr, "[::ffff:127.0.0.1]:") {
				t.Errorf("accept from %s, want 127.0.0.1", e.Addr)
			}
		case "connect":
			connect = connect || e.Addr == "127.0.0.1:"+port && e.Ret != nil && *e.Ret == 0
		case "signal":
			signal = signal || e.Signal == "SIGTERM" && e.Target > 1 && e.Ret != nil && *e.Ret == 0
		case "exec", "open":
			t.Errorf("event of a kind not asked for: %+v", e)
		}
	}
	if !bind || !accept || !connect || !signal {
		t.Errorf("bind %v, accept %v, connect %v, signal %v; events:\n%+v", bind, accept, connect, signal, evs)
	}
}

// TestTraceBadInput: an unknown container, a stopped one and an unknown
// event kind each get a one-line error naming the thing.
func TestTraceBadInput(t *testing.T) {
	h := newHarness(t)
	oneLine(t, "unknown container", h.runc("trace", "kt12-no-such"), "kt12-no-such")
	id := h.id()
	h.must("create", "--bundle", bundle(t, sh("true"), nil).Dir, id)
	h.must("start", id)
	h.waitStatus(id, "stopped")
	oneLine(t, "stopped container", h.runc("trace", id), id, "not running")
	oneLine(t, "--since-start without a record", h.runc("trace", "--since-start", id), id, "--since-start")
	id2 := h.id()
	h.must("create", "--bundle", bundle(t, sh("true"), nil).Dir, id2)
	oneLine(t, "unknown event", h.runc("trace", "--events", "exec,bogus", id2), "bogus", "--events")
	oneLine(t, "unknown format", h.runc("trace", "--format", "xml", id2), "xml", "--format")
}

// TestTraceOOM sees the OOM kill of a process in a container whose memory
// limit it exceeds.
func TestTraceOOM(t *testing.T) {
	h := newHarness(t)
	limit := int64(32 << 20)
	b := bundle(t, sh("dd if=/dev/zero of=/dev/null bs=128M count=1; true"), func(s *specs.Spec) {
		s.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit, Swap: &limit}}
	})
	id := h.id()
	h.must("create", "--bundle", b.Dir, id)
	wait := h.startTrace(id, "--events", "oom")
	h.must("start", id)
	evs := wait()
	// busybox sh runs dd without an exec; the OOM killer picks it in its
	// own allocation.
	if len(evs) != 1 || evs[0].Event != "oom" || evs[0].Comm != "dd" || evs[0].VictimHostPid != evs[0].HostPid || evs[0].Pid <= 1 {
		t.Errorf("want one OOM kill of dd; events:\n%+v", evs)
	}
}

// TestTraceSyscallsSummary counts a container's system calls: a loop of 50
// opens of a missing file shows up as at least 50 failed openat calls.
func TestTraceSyscallsSummary(t *testing.T) {
	h := newHarness(t)
	b := bundle(t, sh("usleep 300000; i=0; while [ $i -lt 50 ]; do cat /kt12-missing 2>/dev/null; i=$((i+1)); done; usleep 300000; true"), nil)
	id := h.id()
	h.must("create", "--bundle", b.Dir, id)
	wait := h.startTrace(id, "--events", "syscalls", "--interval", "200ms")
	h.must("start", id)
	evs := wait()
	var summaries int
	var opens, failed uint64
	for _, e := range evs {
		if e.Event != "syscalls" {
			t.Errorf("event of a kind not asked for: %+v", e)
			continue
		}
		summaries++
		for _, s := range e.Syscalls {
			if s.Name == "openat" || s.Name == "open" {
				opens += s.Count
				failed += s.Errors
			}
		}
	}
	if summaries < 2 || opens < 50 || failed < 50 {
		t.Errorf("%d summaries, %d opens, %d failed, want >= 2 summaries and >= 50 failed opens; events:\n%+v", summaries, opens, failed, evs)
	}
}
