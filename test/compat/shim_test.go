//go:build compat

package compat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// shimNamespace is the containerd namespace of TestShim (tag kh11).
const shimNamespace = "kh11-shim"

const shimBinary = "containerd-shim-kago-v2"

// installShim builds containerd-shim-kago-v2 into a directory it puts first
// on PATH, where containerd looks for io.containerd.kago.v2's binary.
func installShim(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(buildDir, "shim-bin")
	if prebuilt := os.Getenv("KAGO_SHIM_PREBUILT"); prebuilt != "" {
		dir = filepath.Dir(prebuilt)
	}
	bin := filepath.Join(dir, shimBinary)
	if _, err := os.Stat(bin); err != nil {
		// Built as `make build` builds it, so the memory test measures what ships.
		out, err := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "github.com/kago-run/kago/cmd/"+shimBinary).CombinedOutput()
		if err != nil {
			t.Fatalf("build %s: %v\n%s", shimBinary, err, out)
		}
	}
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	// The shim's state directories, once the test emptied them (os.Remove
	// leaves a directory that still holds another user's state).
	t.Cleanup(func() {
		for _, ns := range []string{shimNamespace, "k8s.io"} {
			os.Remove(filepath.Join("/run/containerd/kago", ns))
		}
		os.Remove("/run/containerd/kago")
	})
	return bin
}

// kagoShimHandler is the CRI runtime "kago" served by kago's own shim.
func kagoShimHandler(*containerd) string {
	return "      runtime_type = \"io.containerd.kago.v2\"\n"
}

// shimPids are the kago shim processes serving containerd c.
func shimPids(c *containerd) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := bytes.Split(data, []byte{0})
		if strings.HasSuffix(string(args[0]), shimBinary) && bytes.Contains(data, []byte(c.socket)) && !bytes.Contains(data, []byte("\x00start")) && !bytes.Contains(data, []byte("\x00delete")) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// foreignRuntimes lists what serves containerd c besides the kago shim:
// any other process naming c's socket (a runc shim) and any runc or
// kago-runc child of a kago shim. The kago shim must never start one.
func foreignRuntimes(c *containerd) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		exe, _ := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if bytes.Contains(data, []byte(c.socket)) && !strings.HasSuffix(exe, shimBinary) && filepath.Base(exe) != "containerd" && filepath.Base(exe) != "ctr" {
			out = append(out, e.Name()+":"+exe)
		}
	}
	for _, shim := range shimPids(c) {
		kids, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", shim, shim))
		for _, k := range strings.Fields(string(kids)) {
			comm, _ := os.ReadFile(filepath.Join("/proc", k, "comm"))
			if n := strings.TrimSpace(string(comm)); n == "runc" || n == "kago-runc" {
				out = append(out, k+":"+n)
			}
		}
	}
	return out
}

// runDetached runs `ctr run -d ARGS` (container id) and removes the
// container when the test ends.
func runDetached(t *testing.T, c *containerd, ns, id string, args ...string) {
	t.Helper()
	c.ctr(t, ns, append([]string{"run", "-d"}, args...)...)
	t.Cleanup(func() {
		c.tryCtr(ns, "task", "kill", "-s", "SIGKILL", id)
		time.Sleep(200 * time.Millisecond)
		c.tryCtr(ns, "task", "rm", "-f", id)
		c.tryCtr(ns, "containers", "rm", id)
	})
}

// residentKiB reads a process's RSS and PSS from smaps_rollup.
func residentKiB(pid int) (rss, pss int) {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		n, _ := strconv.Atoi(f[1])
		switch f[0] {
		case "Rss:":
			rss = n
		case "Pss:":
			pss = n
		}
	}
	return rss, pss
}

// wakeups sums the voluntary context switches of a process's threads: how
// often they slept and were woken.
func wakeups(pid int) int {
	n := 0
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	for _, task := range tasks {
		data, _ := os.ReadFile(task)
		for _, l := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(l, "voluntary_ctxt_switches:"); ok {
				c, _ := strconv.Atoi(strings.TrimSpace(v))
				n += c
			}
		}
	}
	return n
}

// memfdsOf lists the memfds a process holds open.
func memfdsOf(pid int) []string {
	var out []string
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, fd := range fds {
		if target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); strings.HasPrefix(target, "/memfd:") {
			out = append(out, target)
		}
	}
	return out
}

func ppid(t *testing.T, pid int) int {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("status of pid %d: %v", pid, err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "PPid:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

func taskPid(t *testing.T, c *containerd, ns, id string) int {
	t.Helper()
	for _, l := range strings.Split(c.ctr(t, ns, "task", "ls"), "\n") {
		if f := strings.Fields(l); len(f) >= 3 && f[0] == id {
			pid, _ := strconv.Atoi(f[1])
			return pid
		}
	}
	t.Fatalf("task %s not listed", id)
	return 0
}

// TestShim drives kago's own containerd shim with ctr: containerd runs
// containerd-shim-kago-v2 from PATH, which runs the containers with kago's
// runtime in-process (no runc, no kago-runc, no runc shim).
func TestShim(t *testing.T) {
	installShim(t)
	testShim(t, startContainerd(t, false))
}

// TestShimContainerd2 is TestShim under containerd 2.x.
func TestShimContainerd2(t *testing.T) {
	installShim(t)
	testShim(t, startContainerd2(t, false, nil))
}

func testShim(t *testing.T, c *containerd) {
	const ns = shimNamespace
	cgroupCleanup(t, ns)
	c.ctr(t, ns, "images", "import", imageTar(t, c.dir, testImage, "sh"))
	rt := "--runtime=io.containerd.kago.v2"

	t.Run("run", func(t *testing.T) {
		start := time.Now()
		out := c.ctr(t, ns, "run", "--rm", rt, testImage, "kh11-run", "sh", "-c", "echo hello from the kago shim; grep memory /proc/self/cgroup")
		t.Logf("ctr run --rm: %v", time.Since(start))
		if !strings.Contains(out, "hello from the kago shim") {
			t.Fatalf("ctr run output %q lacks the container's echo", out)
		}
		if !strings.Contains(out, ":memory:/"+ns+"/kh11-run") && !strings.Contains(out, "0::/"+ns+"/kh11-run") {
			t.Fatalf("container is not in the cgroup containerd named:\n%s", out)
		}
		waitFor(t, 10*time.Second, "the shim to exit after the task was removed", func() (bool, string) {
			return len(shimPids(c)) == 0, fmt.Sprint(shimPids(c))
		})
	})

	t.Run("exit code", func(t *testing.T) {
		out, err := c.tryCtr(ns, "run", "--rm", rt, testImage, "kh11-exit", "sh", "-c", "exit 7")
		if err == nil || !strings.Contains(err.Error(), "exit status 7") {
			t.Fatalf("ctr run of `exit 7`: err %v, want exit status 7\n%s", err, out)
		}
	})

	t.Run("stdin", func(t *testing.T) {
		out := run(t, 2*time.Minute, nil, "sh", "-c", fmt.Sprintf("echo piped-in | %s --address %s --namespace %s run --rm %s %s kh11-stdin cat", c.ctrBin, c.socket, ns, rt, testImage))
		if !strings.Contains(out, "piped-in") {
			t.Fatalf("stdin did not reach the container (or EOF did not end it): %q", out)
		}
	})

	t.Run("tty", func(t *testing.T) {
		out := runTTY(t, 2*time.Minute, c.ctrBin, "--address", c.socket, "--namespace", ns, "run", "--rm", "--tty", rt, testImage, "kh11-tty", "sh", "-c", "tty; test -t 0 && echo stdin-is-a-tty; stty size")
		if !strings.Contains(out, "/dev/pts/") || !strings.Contains(out, "stdin-is-a-tty") {
			t.Fatalf("ctr run --tty: container has no terminal:\n%s", out)
		}
	})

	t.Run("task verbs", func(t *testing.T) {
		const id = "kh11-task"
		runDetached(t, c, ns, id, rt, testImage, id, "sh", "-c", "trap 'exit 42' TERM; while :; do sleep 0.2; done")
		// kago's shim is the init's parent (its subreaper); no runc anywhere.
		shims := shimPids(c)
		if len(shims) != 1 {
			t.Fatalf("want one kago shim process, have %v", shims)
		}
		if pp := ppid(t, taskPid(t, c, ns, id)); pp != shims[0] {
			t.Fatalf("container init's parent is %d, not the kago shim %d", pp, shims[0])
		}

		out := c.ctr(t, ns, "task", "exec", "--exec-id", "e1", id, "sh", "-c", "echo exec-ok; cat /proc/1/cmdline")
		if !strings.Contains(out, "exec-ok") || !strings.Contains(out, "trap") {
			t.Fatalf("ctr task exec output %q: want exec-ok and the init's command line", out)
		}
		if _, err := c.tryCtr(ns, "task", "exec", "--exec-id", "e2", id, "sh", "-c", "exit 3"); err == nil || !strings.Contains(err.Error(), "exit status 3") {
			t.Fatalf("ctr task exec of `exit 3`: err %v, want exit status 3", err)
		}
		out = runTTY(t, 2*time.Minute, c.ctrBin, "--address", c.socket, "--namespace", ns, "task", "exec", "--tty", "--exec-id", "e3", id, "sh", "-c", "tty; echo exec-tty-ok")
		if !strings.Contains(out, "/dev/pts/") || !strings.Contains(out, "exec-tty-ok") {
			t.Fatalf("ctr task exec --tty: no terminal:\n%s", out)
		}

		checkTaskVerbs(t, c, ns, id)

		if _, err := c.tryCtr(ns, "task", "checkpoint", id); err == nil {
			t.Fatalf("checkpoint succeeded; the kago shim must refuse it")
		}

		if p := foreignRuntimes(c); len(p) > 0 {
			t.Fatalf("runc processes appeared under the kago shim: %v", p)
		}

		c.ctr(t, ns, "task", "kill", "-s", "SIGTERM", id)
		waitFor(t, 20*time.Second, "the task to stop after SIGTERM", func() (bool, string) {
			st := taskStatus(t, c, ns, id)
			return st == "STOPPED", st
		})
		if out := c.ctr(t, ns, "task", "ls"); !strings.Contains(out, id) {
			t.Fatalf("stopped task not listed:\n%s", out)
		}
		out, _ = c.tryCtr(ns, "task", "rm", id)
		if !strings.Contains(out, "42") {
			t.Logf("task rm: %s", out)
		}
		c.ctr(t, ns, "containers", "rm", id)
	})

	t.Run("memory", func(t *testing.T) {
		// A pod's shim lives as long as the pod: once requests stop it gives
		// back what serving them made resident (program pages, garbage) and
		// the sealed copy of the init binary.
		const id = "kh11-mem"
		runDetached(t, c, ns, id, rt, testImage, id, "sleep", "1000")
		shims := shimPids(c)
		if len(shims) != 1 {
			t.Fatalf("want one kago shim, have %v", shims)
		}
		const maxRSS = 8 << 10 // KiB; 14.6 MiB before the shim trimmed itself
		waitFor(t, 15*time.Second, "the idle shim to shrink and drop its copy of the init binary", func() (bool, string) {
			rss, pss := residentKiB(shims[0])
			memfds := memfdsOf(shims[0])
			return rss <= maxRSS && len(memfds) == 0, fmt.Sprintf("RSS %d KiB, PSS %d KiB, memfds %v", rss, pss, memfds)
		})
		rss, pss := residentKiB(shims[0])
		t.Logf("kago shim with one running container: RSS %d KiB, PSS %d KiB", rss, pss)
		// Idle, the shim sleeps: no timer wakes it (each wake-up runs code
		// that comes back into memory, and a poll of /proc makes garbage).
		before := wakeups(shims[0])
		time.Sleep(3 * time.Second)
		n := wakeups(shims[0]) - before
		t.Logf("idle for 3 s: %d wake-ups", n)
		if n > 2 { // a once-a-second timer makes at least 3
			t.Errorf("the idle shim woke up %d times in 3 s", n)
		}
	})

	t.Run("orphans reaped", func(t *testing.T) {
		// In the host's PID namespace an orphan is re-parented to the shim
		// (the child subreaper), which must reap it when it exits.
		const id = "kh11-orphan"
		c.ctr(t, ns, "run", "-d", rt, "--with-ns", "pid:/proc/self/ns/pid", testImage, id, "sh", "-c", "(sleep 0.2 &); sleep 1000")
		t.Cleanup(func() {
			c.tryCtr(ns, "task", "rm", "-f", id)
			c.tryCtr(ns, "containers", "rm", id)
		})
		shims := shimPids(c)
		if len(shims) != 1 {
			t.Fatalf("want one kago shim, have %v", shims)
		}
		zombies := func() []string {
			var z []string
			kids, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", shims[0], shims[0]))
			for _, k := range strings.Fields(string(kids)) {
				if st, _ := os.ReadFile("/proc/" + k + "/stat"); bytes.Contains(st, []byte(") Z ")) {
					z = append(z, k)
				}
			}
			return z
		}
		time.Sleep(500 * time.Millisecond)
		waitFor(t, 10*time.Second, "the shim to reap the orphan", func() (bool, string) {
			z := zombies()
			return len(z) == 0, fmt.Sprint(z)
		})
		c.ctr(t, ns, "task", "kill", "-s", "SIGKILL", id)
	})

	t.Run("oom event", func(t *testing.T) {
		const id = "kh11-oom"
		events := exec.Command(c.ctrBin, "--address", c.socket, "events")
		var buf bytes.Buffer
		events.Stdout = &buf
		if err := events.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { events.Process.Kill(); events.Wait() }()
		time.Sleep(300 * time.Millisecond)
		// tail buffers /dev/zero, which has no newline, until the limit.
		c.tryCtr(ns, "run", "--rm", rt, "--memory-limit", fmt.Sprint(32<<20), testImage, id, "tail", "/dev/zero")
		waitFor(t, 20*time.Second, "a /tasks/oom event", func() (bool, string) {
			return strings.Contains(buf.String(), "/tasks/oom"), buf.String()
		})
		if !strings.Contains(buf.String(), "/tasks/exit") {
			t.Fatalf("no exit event:\n%s", buf.String())
		}
	})

	t.Run("shim killed", func(t *testing.T) {
		const id = "kh11-kill9"
		c.ctr(t, ns, "run", "-d", rt, testImage, id, "sleep", "1000")
		t.Cleanup(func() {
			c.tryCtr(ns, "task", "rm", "-f", id)
			c.tryCtr(ns, "containers", "rm", id)
		})
		pid := taskPid(t, c, ns, id)
		shims := shimPids(c)
		if len(shims) != 1 {
			t.Fatalf("want one kago shim, have %v", shims)
		}
		address, err := os.ReadFile(filepath.Join(c.dir, "state", "io.containerd.runtime.v2.task", ns, id, "address"))
		if err != nil {
			t.Fatalf("shim address of %s: %v", id, err)
		}
		if err := syscall.Kill(shims[0], syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 30*time.Second, "containerd to see the task die", func() (bool, string) {
			out, _ := c.tryCtr(ns, "task", "ls")
			return !strings.Contains(out, id) || strings.Contains(out, "STOPPED"), out
		})
		waitFor(t, 10*time.Second, "the container's process to be gone", func() (bool, string) {
			err := syscall.Kill(pid, 0)
			return err != nil, fmt.Sprint(err)
		})
		c.tryCtr(ns, "task", "rm", "-f", id)
		c.ctr(t, ns, "containers", "rm", id)
		// Nothing leaks: no socket, no state, no rootfs mount, no cgroup.
		if _, err := os.Stat(strings.TrimPrefix(string(address), "unix://")); !os.IsNotExist(err) {
			t.Fatalf("the killed shim's socket %s is left: %v", address, err)
		}
		if _, err := os.Stat(filepath.Join("/run/containerd/kago", ns, id)); !os.IsNotExist(err) {
			t.Fatalf("kago state of %s left behind: %v", id, err)
		}
		mounts, _ := os.ReadFile("/proc/self/mountinfo")
		if bytes.Contains(mounts, []byte(id)) {
			t.Fatalf("a mount of %s is left:\n%s", id, mounts)
		}
		for _, cg := range []string{"/sys/fs/cgroup/memory/" + ns + "/" + id, "/sys/fs/cgroup/unified/" + ns + "/" + id, "/sys/fs/cgroup/" + ns + "/" + id} {
			if _, err := os.Stat(cg); err == nil {
				t.Fatalf("cgroup %s left behind", cg)
			}
		}
	})
}

// TestShimCRI is Kubernetes' path to kago's shim: the CRI runtime "kago"
// with runtime_type io.containerd.kago.v2 (what a RuntimeClass with
// handler: kago selects). A pod of two containers is served by one shim
// process; crictl plays the kubelet.
func TestShimCRI(t *testing.T) {
	requireTools(t, "containerd", "containerd")
	installShim(t)
	testShimCRI(t, startContainerdWith(t, true, kagoShimHandler))
}

// TestShimCRIContainerd2 is TestShimCRI under containerd 2.x (config
// version 3: the runtime under plugins."io.containerd.cri.v1.runtime").
func TestShimCRIContainerd2(t *testing.T) {
	installShim(t)
	testShimCRI(t, startContainerd2(t, true, kagoShimHandler))
}

func testShimCRI(t *testing.T, c *containerd) {
	crictl := buildCrictl(t)
	base, cri := crictlFor(t, c)
	pod := writeJSON(t, c.dir, "pod.json", map[string]any{
		"metadata":      map[string]any{"name": "kh11-pod", "namespace": "default", "uid": "kh11-pod-uid", "attempt": 0},
		"log_directory": filepath.Join(c.dir, "pod-logs"),
		"linux": map[string]any{
			"cgroup_parent":    "/" + criCgroupParent + "/pod-kh11",
			"security_context": map[string]any{"namespace_options": map[string]any{"network": 2}},
		},
	})
	container := func(name, script string) string {
		return writeJSON(t, c.dir, name+".json", map[string]any{
			"metadata": map[string]any{"name": name},
			"image":    map[string]any{"image": testImage},
			"command":  []string{"sh", "-c", script},
			"log_path": name + ".log",
		})
	}

	start := time.Now()
	podID := cri(t, "runp", "--runtime", "kago", pod)
	t.Cleanup(func() {
		tryRun(time.Minute, nil, crictl, append(base, "stopp", podID)...)
		tryRun(time.Minute, nil, crictl, append(base, "rmp", "-f", podID)...)
	})
	cid := cri(t, "create", podID, container("box", "echo hello-from-kago-shim; trap 'exit 0' TERM; while :; do sleep 0.2; done"), pod)
	cri(t, "start", cid)
	t.Logf("crictl runp + create + start: %v", time.Since(start))
	cid2 := cri(t, "create", podID, container("box2", "trap 'exit 0' TERM; while :; do sleep 0.2; done"), pod)
	cri(t, "start", cid2)

	waitFor(t, 30*time.Second, "the container's log line", func() (bool, string) {
		out, _ := tryRun(time.Minute, nil, crictl, append(base, "logs", cid)...)
		return strings.Contains(out, "hello-from-kago-shim"), out
	})
	out := cri(t, "exec", cid, "sh", "-c", "echo exec-from-cri; cat /proc/1/cmdline")
	if !strings.Contains(out, "exec-from-cri") || !strings.Contains(out, "sleep\x002147483647") {
		t.Fatalf("crictl exec output %q: want exec-from-cri and the pause process as PID 1", out)
	}
	out = runTTY(t, 2*time.Minute, crictl, append(base, "exec", "-it", cid, "sh", "-c", "tty; echo exec-it-ok")...)
	if !strings.Contains(out, "/dev/pts/") || !strings.Contains(out, "exec-it-ok") {
		t.Fatalf("crictl exec -it: no terminal:\n%s", out)
	}
	// One shim serves the pod: sandbox and both containers.
	if shims := shimPids(c); len(shims) != 1 {
		t.Fatalf("pod with two containers is served by %d kago shims %v, want 1", len(shims), shims)
	}
	if p := foreignRuntimes(c); len(p) > 0 {
		t.Fatalf("runc processes serve the pod: %v", p)
	}
	var stats struct {
		Stats []struct {
			Memory struct {
				WorkingSetBytes struct{ Value string }
			}
		}
	}
	out = cri(t, "stats", "-o", "json", cid)
	if err := json.Unmarshal([]byte(out), &stats); err != nil || len(stats.Stats) != 1 || stats.Stats[0].Memory.WorkingSetBytes.Value == "" {
		t.Fatalf("crictl stats reports no memory use (%v):\n%s", err, out)
	}

	cri(t, "stop", cid)
	cri(t, "rm", cid)
	cri(t, "stop", cid2)
	cri(t, "rm", cid2)
	cri(t, "stopp", podID)
	cri(t, "rmp", podID)
	if out := cri(t, "pods", "-q"); out != "" {
		t.Fatalf("pods left after rmp: %s", out)
	}
	waitFor(t, 10*time.Second, "the pod's shim to exit", func() (bool, string) {
		return len(shimPids(c)) == 0, fmt.Sprint(shimPids(c))
	})
}
