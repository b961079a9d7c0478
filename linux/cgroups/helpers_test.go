package cgroups

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kago-run/kago/internal/testbundle"
	"github.com/kago-run/kago/linux/explain"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// testParent holds every cgroup the tests make, in every tree.
const testParent = "/kago-test-cgroups"

// testCgroupPath is the cgroupsPath for the running (sub)test.
func testCgroupPath(t *testing.T) string {
	name := strings.NewReplacer("/", "_", " ", "_", "#", "_").Replace(t.Name())
	return testParent + "/" + name
}

// target is one Manager implementation the conformance suite runs against.
type target struct {
	name string
	// make returns a manager for cgroupsPath, or skips the test.
	make func(t *testing.T, cgroupsPath string) Manager
}

// targets lists what this host can run: the manager New picks, and on a
// hybrid host also a v2 manager on the controller-less unified tree, which
// still supports processes, freezing and device programs.
func targets(t *testing.T) []target {
	t.Helper()
	out := []target{{name: "host", make: func(t *testing.T, p string) Manager {
		m, err := New(p, "")
		if err != nil {
			t.Fatalf("New(%q): %v", p, err)
		}
		return m
	}}}
	mode, err := Mode()
	if err != nil {
		t.Fatalf("Mode: %v", err)
	}
	if mode == ModeHybrid {
		out = append(out, target{name: "unified", make: func(t *testing.T, p string) Manager {
			l, err := readLayout()
			if err != nil {
				t.Fatalf("readLayout: %v", err)
			}
			return newV2(*l.Unified, p)
		}})
	}
	return out
}

// createManager creates the test's cgroup with res and removes it (killing
// whatever the test left inside) when the test ends, pass or fail.
func createManager(t *testing.T, tg target, res *specs.LinuxResources) Manager {
	t.Helper()
	return createRecorded(t, tg, res, nil)
}

// createRecorded is createManager with the manager's steps going to rec.
func createRecorded(t *testing.T, tg target, res *specs.LinuxResources, rec explain.Recorder) Manager {
	t.Helper()
	testbundle.RequireRoot(t)
	m := tg.make(t, testCgroupPath(t))
	SetRecorder(m, rec)
	if v2, ok := m.(*v2Manager); ok {
		restoreSubtreeControl(t, v2.mount)
	}
	t.Cleanup(func() { destroyForTest(t, m) })
	if err := m.Create(res); err != nil {
		t.Fatalf("Create: %v", err)
	}
	return m
}

// restoreSubtreeControl undoes, when the test ends, the controllers Create
// enables at the root of a cgroup2 tree (on a hybrid host the unified root
// normally has none enabled).
func restoreSubtreeControl(t *testing.T, mount string) {
	before, err := readFile(mount, "cgroup.subtree_control")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		now, err := readFile(mount, "cgroup.subtree_control")
		if err != nil {
			t.Errorf("read %s/cgroup.subtree_control: %v", mount, err)
			return
		}
		for _, c := range strings.Fields(now) {
			if !contains(strings.Fields(before), c) {
				if err := writeFile(nil, mount, "cgroup.subtree_control", "-"+c); err != nil {
					t.Errorf("restore %s/cgroup.subtree_control: %v", mount, err)
				}
			}
		}
	})
}

// destroyForTest thaws, kills every process left in the cgroup (all of them
// started by the test), removes the cgroup, and tries to remove the shared
// parent (which fails harmlessly while other tests still use it).
func destroyForTest(t *testing.T, m Manager) {
	_ = m.Thaw()
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids, err := m.Pids()
		if err != nil || len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if time.Now().After(deadline) {
			t.Errorf("cleanup: pids %v still in cgroup", pids)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := m.Destroy(); err != nil {
		t.Errorf("cleanup: Destroy: %v", err)
	}
	for _, p := range allDirs(m) {
		_ = os.Remove(filepath.Dir(p)) // the shared test parent, if empty
	}
}

// allDirs lists the manager's directory in every tree.
func allDirs(m Manager) []string {
	var out []string
	if p := m.Path(""); p != "" {
		out = append(out, p)
	}
	if v1, ok := m.(*v1Manager); ok {
		for _, d := range v1.dirs {
			out = append(out, d.dir)
		}
	}
	return out
}

// has reports whether the manager can limit with controller on this host.
func has(m Manager, controller string) bool {
	switch mm := m.(type) {
	case *v1Manager:
		return mm.Path(controller) != ""
	case *v2Manager:
		// Before Create the cgroup does not exist: it will get what the
		// tree's root has (Create enables controllers down the path).
		s, err := readFile(mm.dir, "cgroup.controllers")
		if os.IsNotExist(err) {
			s, err = readFile(mm.mount, "cgroup.controllers")
		}
		return err == nil && contains(strings.Fields(s), controller)
	}
	return false
}

// proc is a busybox shell started outside the cgroup, moved in with Join, and
// only then released to run script, so all of script runs inside.
type proc struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	stderr bytes.Buffer
	done   chan struct{}
	err    error
}

func startInCgroup(t *testing.T, m Manager, script string) *proc {
	t.Helper()
	p := &proc{done: make(chan struct{})}
	p.cmd = exec.Command(testbundle.BusyboxPath, "sh", "-c", "read gate; "+script)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	// Children left in the cgroup may hold the output pipes open; do not let
	// them keep Wait (and the test) hanging.
	p.cmd.WaitDelay = time.Second
	stdin, err := p.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start busybox: %v", err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	if err := m.Join(p.cmd.Process.Pid); err != nil {
		t.Fatalf("Join(%d): %v", p.cmd.Process.Pid, err)
	}
	if _, err := io.WriteString(stdin, "go\n"); err != nil {
		t.Fatalf("release process: %v", err)
	}
	stdin.Close()
	return p
}

// wait waits for the process to end and returns its exit error.
func (p *proc) wait(t *testing.T, timeout time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		t.Fatalf("process %d still running after %s; stderr: %s", p.cmd.Process.Pid, timeout, p.stderr.String())
		return nil
	}
}

// procStat returns the state letter and utime+stime ticks of pid from
// /proc/<pid>/stat.
func procStat(t *testing.T, pid int) (string, uint64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatalf("read stat of %d: %v", pid, err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	utime, _ := strconv.ParseUint(f[11], 10, 64)
	stime, _ := strconv.ParseUint(f[12], 10, 64)
	return f[0], utime + stime
}

// waitFor polls cond for up to timeout.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}

func exitSignal(err error) syscall.Signal {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return ws.Signal()
		}
	}
	return 0
}

// wantClosed fails unless WaitOOM's channel closes, without another event,
// within 5s of what happened (said by after).
func wantClosed(t *testing.T, ch <-chan struct{}, after string) {
	t.Helper()
	select {
	case _, open := <-ch:
		if open {
			t.Errorf("WaitOOM sent an event after %s, want the channel closed", after)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("WaitOOM channel not closed after %s", after)
	}
}

func ptr[T any](v T) *T { return &v }
