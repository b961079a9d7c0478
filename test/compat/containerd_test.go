//go:build compat

package compat

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ctrNamespace is the containerd namespace of TestContainerd; containerd
// names each container's cgroup /<namespace>/<id>.
const ctrNamespace = "kago-compat"

// criCgroupParent is the pod cgroup parent TestCRI asks for, as a kubelet
// with the cgroupfs driver does.
const criCgroupParent = "kago-compat-cri"

// containerd is a containerd daemon private to one test: its own root, state
// dir and sockets under a temp dir.
type containerd struct {
	dir     string
	socket  string
	wrapper *wrapper
	ctrBin  string // the ctr of the same release
}

// startContainerd starts containerd; cri adds the CRI plugin with a runtime
// handler "kago" (what a Kubernetes RuntimeClass names) run by kago-runc.
func startContainerd(t *testing.T, cri bool) *containerd {
	t.Helper()
	return startContainerdWith(t, cri, (*containerd).kagoRuncHandler)
}

// kagoRuncHandler is the CRI runtime "kago": runc's shim running kago-runc.
func (c *containerd) kagoRuncHandler() string {
	return fmt.Sprintf(`      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.kago.options]
        BinaryName = %q
        Root = %q
        SystemdCgroup = false
`, c.wrapper.Path, c.runcRoot())
}

// startContainerdWith is startContainerd with the body of the CRI runtime
// "kago" written by handler.
func startContainerdWith(t *testing.T, cri bool, handler func(*containerd) string) *containerd {
	t.Helper()
	requireTools(t, "containerd", "containerd", "ctr", "containerd-shim-runc-v2")
	return launchContainerd(t, "containerd", "ctr", func(c *containerd) string { return configV2(c, cri, handler) })
}

// launchContainerd starts the containerd binary bin (ctr its ctr) with the
// config that config writes for it, in a fresh temp dir.
func launchContainerd(t *testing.T, bin, ctr string, config func(*containerd) string) *containerd {
	t.Helper()
	dir, err := os.MkdirTemp("", "kago-ctrd-")
	if err != nil {
		t.Fatal(err)
	}
	c := &containerd{dir: dir, socket: filepath.Join(dir, "containerd.sock"), wrapper: newWrapper(t, dir), ctrBin: ctr}
	// Registered before the daemon's own cleanup, so it runs after it.
	cgroupCleanup(t, ctrNamespace)
	cgroupCleanup(t, criCgroupParent)
	t.Cleanup(func() {
		killStrays(t, c.socket)
		unmountUnder(dir)
		os.RemoveAll(dir)
	})
	cfgPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(config(c)), 0o644); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, filepath.Join(dir, "containerd.log"), c.socket, bin, "--config", cfgPath)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("containerd log:\n%s", d.tail())
		}
	})
	return c
}

// configV2 is containerd 1.6/1.7's config (version 2) for c: private roots
// and sockets, and with cri the CRI plugin whose runtime "kago" handler
// writes.
func configV2(c *containerd, cri bool, handler func(*containerd) string) string {
	dir := c.dir
	config := fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
%[5]s
[grpc]
  address = %[3]q
[ttrpc]
  address = %[4]q
[debug]
  level = "info"
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), c.socket, c.socket+".ttrpc", disabledPlugins(cri))
	if cri {
		config += fmt.Sprintf(`[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[1]q
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %[3]q
    conf_dir = %[4]q
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "kago"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.kago]
%[2]s`, pauseImage, handler(c), filepath.Join(dir, "cni-bin"), filepath.Join(dir, "cni-conf"))
	}
	return config
}

func disabledPlugins(cri bool) string {
	if cri {
		return `disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]`
	}
	return `disabled_plugins = ["io.containerd.grpc.v1.cri"]`
}

// runcRoot is the --root the shim passes to kago-runc (the default is
// /run/containerd/runc, shared with any other containerd).
func (c *containerd) runcRoot() string { return filepath.Join(c.dir, "runc") }

// ctr runs ctr against this containerd in namespace ns.
func (c *containerd) ctr(t *testing.T, ns string, args ...string) string {
	t.Helper()
	return run(t, 2*time.Minute, nil, c.ctrBin, append([]string{"--address", c.socket, "--namespace", ns}, args...)...)
}

func (c *containerd) tryCtr(ns string, args ...string) (string, error) {
	return tryRun(2*time.Minute, nil, c.ctrBin, append([]string{"--address", c.socket, "--namespace", ns}, args...)...)
}

// TestContainerd drives kago-runc through containerd's runc v2 shim with ctr.
func TestContainerd(t *testing.T) {
	c := startContainerd(t, false)
	const ns = ctrNamespace
	c.ctr(t, ns, "images", "import", imageTar(t, c.dir, testImage, "sh"))
	rb := "--runc-binary=" + c.wrapper.Path
	rr := "--runc-root=" + c.runcRoot()

	t.Run("run", func(t *testing.T) {
		out := c.ctr(t, ns, "run", "--rm", rb, rr, testImage, "compat-run", "sh", "-c", "echo hello from kago; grep memory /proc/self/cgroup")
		if !strings.Contains(out, "hello from kago") {
			t.Fatalf("ctr run output %q lacks the container's echo", out)
		}
		// containerd's cgroupsPath /<namespace>/<id>, as runc would place it.
		if !strings.Contains(out, ":memory:/"+ns+"/compat-run") {
			t.Fatalf("container is not in the memory cgroup containerd named:\n%s", out)
		}
		c.wrapper.requireCalled(t, "create", "start", "delete")
	})

	t.Run("exit code", func(t *testing.T) {
		out, err := c.tryCtr(ns, "run", "--rm", rb, rr, testImage, "compat-exit", "sh", "-c", "exit 7")
		if err == nil || !strings.Contains(err.Error(), "exit status 7") {
			t.Fatalf("ctr run of `exit 7`: err %v, want exit status 7\n%s", err, out)
		}
	})

	t.Run("tty", func(t *testing.T) {
		out := runTTY(t, 2*time.Minute, "ctr", "--address", c.socket, "--namespace", ns, "run", "--rm", "--tty", rb, rr, testImage, "compat-tty", "sh", "-c", "tty; test -t 0 && echo stdin-is-a-tty")
		if !strings.Contains(out, "/dev/pts/") || !strings.Contains(out, "stdin-is-a-tty") {
			t.Fatalf("ctr run --tty: container has no terminal:\n%s", out)
		}
	})

	t.Run("task verbs", func(t *testing.T) {
		const id = "compat-task"
		c.ctr(t, ns, "run", "-d", rb, rr, testImage, id, "sh", "-c", "trap 'exit 42' TERM; while :; do sleep 0.2; done")
		t.Cleanup(func() {
			c.tryCtr(ns, "task", "kill", "-s", "SIGKILL", id)
			time.Sleep(200 * time.Millisecond)
			c.tryCtr(ns, "task", "rm", "-f", id)
			c.tryCtr(ns, "containers", "rm", id)
		})

		out := c.ctr(t, ns, "task", "exec", "--exec-id", "e1", id, "sh", "-c", "echo exec-ok; cat /proc/1/cmdline")
		if !strings.Contains(out, "exec-ok") || !strings.Contains(out, "trap") {
			t.Fatalf("ctr task exec output %q: want exec-ok and the init's command line", out)
		}
		c.wrapper.requireCalled(t, "exec")

		checkTaskVerbs(t, c, ns, id)
		c.wrapper.requireCalled(t, "pause", "resume")

		c.ctr(t, ns, "task", "kill", "-s", "SIGTERM", id)
		waitFor(t, 20*time.Second, "the task to stop after SIGTERM", func() (bool, string) {
			st := taskStatus(t, c, ns, id)
			return st == "STOPPED", st
		})
		c.wrapper.requireCalled(t, "kill")
		c.ctr(t, ns, "task", "rm", id)
		c.ctr(t, ns, "containers", "rm", id)
	})
}

// taskStatus returns the STATUS column of `ctr task ls` for id.
func taskStatus(t *testing.T, c *containerd, ns, id string) string {
	t.Helper()
	for _, line := range strings.Split(c.ctr(t, ns, "task", "ls"), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == id {
			return f[2]
		}
	}
	return "missing"
}

// checkTaskVerbs runs ps, pause, resume and metrics on a running task and
// checks what containerd reports: the shim reads these from the container's
// cgroups.
func checkTaskVerbs(t *testing.T, c *containerd, ns, id string) {
	t.Helper()
	ps := c.ctr(t, ns, "task", "ps", id)
	if len(strings.Split(strings.TrimSpace(ps), "\n")) < 2 {
		t.Fatalf("ctr task ps lists no process:\n%s", ps)
	}

	c.ctr(t, ns, "task", "pause", id)
	if st := taskStatus(t, c, ns, id); st != "PAUSED" {
		t.Fatalf("after pause the task is %s, want PAUSED", st)
	}
	c.ctr(t, ns, "task", "resume", id)
	if st := taskStatus(t, c, ns, id); st != "RUNNING" {
		t.Fatalf("after resume the task is %s, want RUNNING", st)
	}

	// stdout only: ctr 2.2 warns on stderr that cgroup v1 is deprecated.
	m := runStdout(t, 2*time.Minute, nil, c.ctrBin, "--address", c.socket, "--namespace", ns, "task", "metrics", "--format", "json", id)
	var metrics struct {
		Pids   struct{ Current uint64 }
		CPU    struct{ Usage struct{ Total uint64 } }
		Memory struct {
			Usage struct{ Usage uint64 }
		}
	}
	if err := json.Unmarshal([]byte(m), &metrics); err != nil || metrics.Pids.Current < 1 || metrics.CPU.Usage.Total == 0 || metrics.Memory.Usage.Usage == 0 {
		t.Fatalf("ctr task metrics lacks pids, CPU and memory use (%v):\n%s", err, m)
	}
}
