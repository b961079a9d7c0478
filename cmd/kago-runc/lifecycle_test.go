package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestLifecycleCreateStartStopDelete(t *testing.T) {
	h := newHarness(t)
	marker := "/tmp/started"
	b := bundle(t, sh("touch "+marker+"; read line; echo got $line"), func(s *specs.Spec) { s.Root.Readonly = false })
	id := h.id()
	pidFile := filepath.Join(t.TempDir(), "pid")
	// stdin is a pipe the test holds, so the process waits until we close it.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	null, _ := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	defer null.Close()
	res := h.runcWith(r, nil, "create", "--bundle", b.Dir, "--pid-file", pidFile, id)
	if res.code != 0 {
		t.Fatalf("create: %s", res)
	}
	st := h.state(id)
	if st.Status != "created" || st.InitProcessPid == 0 || st.ID != id || st.Bundle != b.Dir {
		t.Fatalf("after create: %+v", st)
	}
	pidText, err := os.ReadFile(pidFile)
	if err != nil || strings.TrimSpace(string(pidText)) != strconv.Itoa(st.InitProcessPid) {
		t.Fatalf("pid file %q (%v), state pid %d", pidText, err, st.InitProcessPid)
	}
	// Created means the user process has not run.
	if _, err := os.Stat(filepath.Join(b.RootfsDir(), marker)); err == nil {
		t.Fatal("user process ran before start")
	}
	h.must("start", id)
	h.waitStatus(id, "running")
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(b.RootfsDir(), marker)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("user process did not run after start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if r := h.runc("start", id); r.code == 0 || !strings.Contains(r.stderr, "running") {
		t.Errorf("second start: %s", r)
	}
	if r := h.runc("delete", id); r.code == 0 || !strings.Contains(r.stderr, "--force") {
		t.Errorf("delete of running container: %s", r)
	}
	w.Write([]byte("hello\n"))
	w.Close()
	h.waitStatus(id, "stopped")
	if st := h.state(id); st.InitProcessPid != 0 {
		t.Errorf("stopped container reports pid %d", st.InitProcessPid)
	}
	h.must("delete", id)
	if r := h.runc("state", id); r.code == 0 || !strings.Contains(r.stderr, "does not exist") {
		t.Errorf("state after delete: %s", r)
	}
	if _, err := os.Stat(filepath.Join(h.root, id)); !os.IsNotExist(err) {
		t.Errorf("state directory left behind: %v", err)
	}
	if _, err := os.Stat("/sys/fs/cgroup/pids/kago/" + id); !os.IsNotExist(err) {
		t.Errorf("cgroup left behind: %v", err)
	}
}

func TestDeleteCreatedWithForce(t *testing.T) {
	h := newHarness(t)
	b := bundle(t, []string{"true"}, nil)
	id := h.id()
	h.must("create", "--bundle", b.Dir, id)
	pid := h.state(id).InitProcessPid
	// As in runc, deleting a created container needs no --force: its init
	// has not run user code, and is killed.
	h.must("delete", id)
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
		if data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); !strings.Contains(string(data), ") Z") {
			t.Errorf("init %d of deleted container still alive", pid)
		}
	}
	// delete --force of a missing container succeeds, as in runc.
	h.must("delete", "--force", id)
}

func TestExitCodes(t *testing.T) {
	h := newHarness(t)
	for script, want := range map[string]int{"exit 0": 0, "exit 3": 3} {
		if r := h.runIn(sh(script), nil); r.code != want {
			t.Errorf("%q: exit %d, want %d (%s)", script, r.code, want, r.stderr)
		}
	}
	// A process killed by a signal exits 128+N from a foreground run.
	for sig, want := range map[string]int{"KILL": 137} {
		b := bundle(t, []string{"sleep", "100"}, nil)
		id := h.id()
		done := make(chan result)
		go func() { done <- h.runc("run", "--bundle", b.Dir, id) }()
		deadline := time.Now().Add(10 * time.Second)
		for h.runc("state", id).code != 0 || h.state(id).Status != "running" {
			if time.Now().After(deadline) {
				t.Fatal("container did not start")
			}
			time.Sleep(20 * time.Millisecond)
		}
		h.must("kill", id, sig)
		if r := <-done; r.code != want {
			t.Errorf("killed by %s: exit %d, want %d (%s)", sig, r.code, want, r.stderr)
		}
	}
	if r := h.runIn([]string{"/bin/nonexistent"}, nil); r.code == 0 || !strings.Contains(r.stderr, "nonexistent") {
		t.Errorf("missing executable: %s", r)
	}
}

func TestKillSignals(t *testing.T) {
	h := newHarness(t)
	// The shell traps USR1 and exits 42 on it: kill by name.
	id := h.detached(bundle(t, sh("trap 'exit 42' USR1; while true; do sleep 0.1; done"), nil))
	h.waitStatus(id, "running")
	h.must("kill", id, "USR1")
	h.waitStatus(id, "stopped")
	h.must("delete", id)

	// By number, and --all reaches every process.
	id = h.detached(bundle(t, sh("sleep 100 & sleep 100 & wait"), nil))
	h.waitStatus(id, "running")
	deadline := time.Now().Add(5 * time.Second)
	var pids []int
	for len(pids) < 3 && time.Now().Before(deadline) {
		json.Unmarshal([]byte(h.must("ps", "--format", "json", id)), &pids)
		time.Sleep(20 * time.Millisecond)
	}
	if len(pids) != 3 {
		t.Fatalf("ps --format json: %v, want 3 processes", pids)
	}
	h.must("kill", "--all", id, "9")
	h.waitStatus(id, "stopped")
	for _, pid := range pids {
		if data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && !strings.Contains(string(data), ") Z") {
			t.Errorf("pid %d survived kill --all", pid)
		}
	}
	if r := h.runc("kill", id, "KILL"); r.code == 0 {
		t.Errorf("kill of a stopped container succeeded")
	}
	if r := h.runc("kill", id, "NOSUCHSIG"); r.code == 0 || !strings.Contains(r.stderr, "NOSUCHSIG") {
		t.Errorf("bad signal: %s", r)
	}
}

func TestListAndState(t *testing.T) {
	h := newHarness(t)
	b := bundle(t, []string{"sleep", "100"}, func(s *specs.Spec) {
		s.Annotations = map[string]string{"org.example": "yes"}
	})
	id := h.detached(b)
	var list []containerState
	if err := json.Unmarshal([]byte(h.must("list", "--format", "json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != id || list[0].Status != "running" || list[0].Annotations["org.example"] != "yes" || list[0].Rootfs != b.RootfsDir() {
		t.Fatalf("list: %+v", list)
	}
	if q := strings.TrimSpace(h.must("list", "-q")); q != id {
		t.Errorf("list -q = %q", q)
	}
	table := h.must("list")
	if !strings.HasPrefix(table, "ID") || !strings.Contains(table, id) || !strings.Contains(table, "running") {
		t.Errorf("list table:\n%s", table)
	}
}

func TestPauseResume(t *testing.T) {
	h := newHarness(t)
	b := bundle(t, sh("i=0; while true; do i=$((i+1)); echo $i > /tmp/tick; sleep 0.05; done"), func(s *specs.Spec) { s.Root.Readonly = false })
	id := h.detached(b)
	h.waitStatus(id, "running")
	h.must("pause", id)
	if st := h.state(id); st.Status != "paused" {
		t.Fatalf("after pause: %s", st.Status)
	}
	tick := filepath.Join(b.RootfsDir(), "tmp/tick")
	before, _ := os.ReadFile(tick)
	time.Sleep(300 * time.Millisecond)
	after, _ := os.ReadFile(tick)
	if string(before) != string(after) {
		t.Errorf("paused container kept running: %q -> %q", before, after)
	}
	if r := h.runc("pause", id); r.code == 0 {
		t.Errorf("pausing a paused container succeeded")
	}
	h.must("resume", id)
	if st := h.state(id); st.Status != "running" {
		t.Fatalf("after resume: %s", st.Status)
	}
	time.Sleep(300 * time.Millisecond)
	later, _ := os.ReadFile(tick)
	if string(later) == string(after) {
		t.Errorf("resumed container does not run")
	}
}

// exec into a paused container is refused unless --ignore-paused, which
// lets it through once the container is resumed (runc's behaviour).
func TestExecIgnorePaused(t *testing.T) {
	h := newHarness(t)
	id := h.detached(bundle(t, []string{"sleep", "100"}, nil))
	h.must("pause", id)
	if r := h.runc("exec", id, "echo", "ok"); r.code == 0 || !strings.Contains(r.stderr, "--ignore-paused") {
		t.Errorf("exec into a paused container: %s", r)
	}
	done := make(chan result, 1)
	go func() { done <- h.runc("exec", "--ignore-paused", id, "echo", "ok") }()
	select {
	case r := <-done:
		t.Fatalf("exec --ignore-paused completed while paused: %s", r)
	case <-time.After(500 * time.Millisecond):
	}
	h.must("resume", id)
	select {
	case r := <-done:
		if r.code != 0 || r.stdout != "ok\n" {
			t.Errorf("exec --ignore-paused after resume: %s", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("exec --ignore-paused did not complete after resume")
	}
}

// ps with options runs ps(1) with them and keeps the header and the lines of
// the container's processes, as runc does; "--" is optional.
func TestPsOptions(t *testing.T) {
	h := newHarness(t)
	id := h.detached(bundle(t, sh("sleep 101 & sleep 102"), nil))
	var pids []int
	for range 100 {
		json.Unmarshal([]byte(h.must("ps", "--format", "json", id)), &pids)
		if len(pids) == 2 { // sh execs the last sleep
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, args := range [][]string{{"ps", id, "--", "-o", "pid,args"}, {"ps", id, "-o", "pid,args"}} {
		lines := strings.Split(strings.TrimSpace(h.must(args...)), "\n")
		if strings.Fields(lines[0])[0] != "PID" || !strings.Contains(lines[0], "COMMAND") {
			t.Errorf("%v: header %q, want ps -o pid,args's", args, lines[0])
		}
		var got []int
		for _, l := range lines[1:] {
			pid, _ := strconv.Atoi(strings.Fields(l)[0])
			got = append(got, pid)
		}
		slices.Sort(got)
		slices.Sort(pids)
		if !slices.Equal(got, pids) || len(pids) != 2 || !strings.Contains(strings.Join(lines, "\n"), "sleep 102") {
			t.Errorf("%v: processes %v, want the container's %v:\n%s", args, got, pids, strings.Join(lines, "\n"))
		}
	}
	if r := h.runc("ps", id, "--", "-o", "comm"); r.code == 0 || !strings.Contains(r.stderr, "PID column") {
		t.Errorf("ps without a PID column: %s", r)
	}
}

func TestPreserveFDs(t *testing.T) {
	h := newHarness(t)
	f, err := os.CreateTemp(t.TempDir(), "preserved")
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("from the host")
	f.Seek(0, 0)
	b := bundle(t, sh("cat <&3; ls /proc/self/fd"), nil)
	r := h.runcWith(nil, []*os.File{f}, "run", "--preserve-fds", "1", "--bundle", b.Dir, h.id())
	if r.code != 0 || !strings.Contains(r.stdout, "from the host") {
		t.Fatalf("preserved fd not readable: %s", r)
	}
	// Without --preserve-fds the descriptor does not reach the container.
	r = h.runcWith(nil, []*os.File{f}, "run", "--bundle", bundle(t, sh("cat <&3"), nil).Dir, h.id())
	if r.code == 0 || strings.Contains(r.stdout, "from the host") {
		t.Fatalf("fd 3 leaked without --preserve-fds: %s", r)
	}
}

func TestVersionAndFeatures(t *testing.T) {
	h := newHarness(t)
	v := h.must("--version")
	if !strings.HasPrefix(v, "runc version ") || !strings.Contains(v, "\nspec: 1.") || !strings.Contains(v, "\ncommit: ") {
		t.Errorf("--version not in runc's format:\n%s", v)
	}
	var f map[string]any
	if err := json.Unmarshal([]byte(h.must("features")), &f); err != nil {
		t.Fatal(err)
	}
	linux, _ := f["linux"].(map[string]any)
	if f["ociVersionMax"] == nil || linux == nil || linux["namespaces"] == nil || linux["seccomp"] == nil {
		t.Fatalf("features incomplete: %v", f)
	}
	// linux.resources.rdma is applied (rdma.max on v2, the rdma controller on v1).
	if cg, _ := linux["cgroup"].(map[string]any); cg["rdma"] != true {
		t.Errorf("features: cgroup.rdma = %v, want true", cg["rdma"])
	}
	// Seccomp actions are the kernel's (its actions_avail, in OCI names).
	avail, err := os.ReadFile("/proc/sys/kernel/seccomp/actions_avail")
	if err != nil {
		t.Fatal(err)
	}
	sc, _ := linux["seccomp"].(map[string]any)
	actions := fmt.Sprint(sc["actions"])
	for _, kernel := range strings.Fields(string(avail)) {
		name := map[string]string{"user_notif": "NOTIFY"}[kernel]
		if name == "" {
			name = strings.ToUpper(kernel)
		}
		if !strings.Contains(actions, "SCMP_ACT_"+name+" ") && !strings.HasSuffix(actions, "SCMP_ACT_"+name+"]") {
			t.Errorf("features: seccomp.actions %s lacks the kernel's %s", actions, kernel)
		}
	}
	if sc["supportedFlags"] == nil || sc["knownFlags"] == nil {
		t.Errorf("features: seccomp flags missing: %v", sc)
	}
}
