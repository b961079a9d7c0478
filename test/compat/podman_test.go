//go:build compat

package compat

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// podmanCgroupParent holds the containers of the test's podman.
const podmanCgroupParent = "kago-compat-podman"

// podman runs the podman CLI with storage, run state and configuration
// private to one test, and kago-runc (through the wrapper) as its runtime.
type podman struct {
	dir     string
	env     []string
	global  []string
	wrapper *wrapper
}

func newPodman(t *testing.T) *podman {
	t.Helper()
	requireTools(t, "podman", "podman", "conmon")
	dir, err := os.MkdirTemp("", "kago-podman-")
	if err != nil {
		t.Fatal(err)
	}
	cgroupCleanup(t, podmanCgroupParent)
	p := &podman{dir: dir, wrapper: newWrapper(t, dir)}
	t.Cleanup(func() {
		tryRun(time.Minute, p.env, "podman", append(p.global, "rm", "--all", "--force")...)
		killStrays(t, dir)
		unmountUnder(dir)
		os.RemoveAll(dir)
	})
	// Root lacks CAP_SYS_RESOURCE here: podman's default ulimits would raise
	// RLIMIT_NOFILE past the hard limit, so containers.conf sets lower ones.
	// No systemd: cgroupfs and a file events log. netns none keeps podman's
	// network stack (and its firewall rules) out of the host.
	conf := fmt.Sprintf(`[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
netns = "none"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = %q
runtime = "kago"
[engine.runtimes]
kago = [%q]
[network]
network_config_dir = %q
`, filepath.Join(dir, "events.log"), p.wrapper.Path, filepath.Join(dir, "networks"))
	storage := fmt.Sprintf(`[storage]
driver = "overlay"
graphroot = %q
runroot = %q
`, filepath.Join(dir, "storage"), filepath.Join(dir, "run"))
	confPath, storagePath := filepath.Join(dir, "containers.conf"), filepath.Join(dir, "storage.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(storagePath, []byte(storage), 0o644); err != nil {
		t.Fatal(err)
	}
	p.env = []string{"CONTAINERS_CONF=" + confPath, "CONTAINERS_STORAGE_CONF=" + storagePath, "XDG_RUNTIME_DIR=" + filepath.Join(dir, "xdg")}
	p.global = []string{"--root", filepath.Join(dir, "storage"), "--runroot", filepath.Join(dir, "run"),
		"--tmpdir", filepath.Join(dir, "tmp"), "--runtime", p.wrapper.Path, "--cgroup-manager", "cgroupfs"}
	p.podman(t, "load", "-i", imageTar(t, dir, testImage, "sh"))
	return p
}

func (p *podman) args(args []string) []string {
	args = append(append([]string(nil), p.global...), args...)
	return args
}

func (p *podman) podman(t *testing.T, args ...string) string {
	t.Helper()
	return strings.TrimSpace(runStdout(t, 2*time.Minute, p.env, "podman", p.args(args)...))
}

func (p *podman) tryPodman(args ...string) (string, error) {
	out, err := tryRun(2*time.Minute, p.env, "podman", p.args(args)...)
	return strings.TrimSpace(out), err
}

// TestPodman drives kago-runc as podman's OCI runtime (--runtime).
func TestPodman(t *testing.T) {
	p := newPodman(t)
	cp := "--cgroup-parent=/" + podmanCgroupParent

	t.Run("run", func(t *testing.T) {
		out := p.podman(t, "run", "--rm", cp, testImage, "echo", "hello-from-podman")
		if out != "hello-from-podman" {
			t.Fatalf("podman run printed %q", out)
		}
		p.wrapper.requireCalled(t, "create", "start", "delete")
	})

	t.Run("exit code", func(t *testing.T) {
		out, err := p.tryPodman("run", "--rm", cp, testImage, "sh", "-c", "exit 5")
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 5 {
			t.Fatalf("podman run of `exit 5`: %v, want exit status 5\n%s", err, out)
		}
	})

	t.Run("tty", func(t *testing.T) {
		out := runTTY(t, 2*time.Minute, "env", append(append(append([]string(nil), p.env...), "podman"), p.args([]string{"run", "--rm", "-it", cp, testImage, "sh", "-c", "tty; test -t 0 && echo stdin-is-a-tty"})...)...)
		if !strings.Contains(out, "/dev/pts/") || !strings.Contains(out, "stdin-is-a-tty") {
			t.Fatalf("podman run -it: container has no terminal:\n%s", out)
		}
	})

	t.Run("exec", func(t *testing.T) {
		const name = "kago-compat-long"
		p.podman(t, "run", "-d", cp, "--name", name, testImage, "sh", "-c", "trap 'exit 42' TERM; while :; do sleep 0.2; done")
		t.Cleanup(func() { p.tryPodman("rm", "-f", name) })
		out := p.podman(t, "exec", name, "sh", "-c", "echo exec-ok; cat /proc/1/cmdline")
		if !strings.Contains(out, "exec-ok") || !strings.Contains(out, "trap") {
			t.Fatalf("podman exec output %q: want exec-ok and the init's command line", out)
		}
		p.wrapper.requireCalled(t, "exec")
		p.podman(t, "stop", "--time", "20", name)
		if code := p.podman(t, "inspect", "--format", "{{.State.ExitCode}}", name); code != "42" {
			t.Fatalf("exit code after podman stop is %s, want 42 (from the TERM trap)", code)
		}
		p.wrapper.requireCalled(t, "kill")
	})

	t.Run("memory", func(t *testing.T) {
		out := p.podman(t, "run", "--rm", cp, "--memory", "32m", testImage, "sh", "-c",
			"cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max")
		if out != fmt.Sprint(32<<20) {
			t.Fatalf("podman run --memory 32m: the container's memory limit is %q, want %d", out, 32<<20)
		}
		// An OOM kill must look the same to podman as under runc: podman
		// 4.3's conmon reports OOMKilled only where it can watch the cgroup,
		// so the test compares with runc on this host instead of hard-coding.
		oom := func(name string, runtimeArgs ...string) string {
			t.Cleanup(func() { p.tryPodman("rm", "-f", name) })
			args := append(runtimeArgs, "run", cp, "--name", name, "--memory", "32m", "--memory-swap", "32m", testImage, "sh", "-c", "tail /dev/zero")
			if out, err := p.tryPodman(args...); err == nil {
				t.Fatalf("a container that fills memory past --memory 32m exited 0:\n%s", out)
			}
			return p.podman(t, "inspect", "--format", "{{.State.OOMKilled}} {{.State.ExitCode}}", name)
		}
		got := oom("kago-compat-oom")
		if !strings.HasSuffix(got, " 137") {
			t.Fatalf("podman reports OOMKilled/ExitCode %q for an OOM-killed container, want exit code 137", got)
		}
		if runc, err := exec.LookPath("runc"); err == nil {
			if want := oom("kago-compat-oom-runc", "--runtime", runc); got != want {
				t.Fatalf("podman reports OOMKilled/ExitCode %q under kago-runc, %q under runc", got, want)
			}
		}
	})
}
