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

	"github.com/vishvananda/netlink"
)

// privateBridge makes a bridge on a private subnet (in 10.210.0.0/16) for a
// client daemon to use, and deletes it when the test ends.
func privateBridge(t *testing.T, name, cidr string) {
	t.Helper()
	addr, err := netlink.ParseAddr(cidr)
	if err != nil {
		t.Fatal(err)
	}
	if old, err := netlink.LinkByName(name); err == nil {
		netlink.LinkDel(old) // left by a killed run of this test
	}
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}
	if err := netlink.LinkAdd(br); err != nil {
		t.Fatalf("add bridge %s: %v", name, err)
	}
	t.Cleanup(func() { netlink.LinkDel(br) })
	if err := netlink.AddrAdd(br, addr); err != nil {
		t.Fatalf("address %s on %s: %v", cidr, name, err)
	}
	if err := netlink.LinkSetUp(br); err != nil {
		t.Fatalf("set %s up: %v", name, err)
	}
}

// dockerCgroupParent holds the containers of the test's dockerd.
const dockerCgroupParent = "kago-compat-docker"

// dockerd is a Docker engine private to one test.
type dockerd struct {
	cli, host string
	env       []string
	wrapper   *wrapper
}

func startDockerd(t *testing.T) *dockerd {
	t.Helper()
	requireTools(t, "docker.io", "dockerd", "docker")
	cli := "/usr/bin/docker" // the docker.io client, of the daemon's version
	if _, err := os.Stat(cli); err != nil {
		cli, _ = exec.LookPath("docker")
	}
	dir, err := os.MkdirTemp("", "kago-docker-")
	if err != nil {
		t.Fatal(err)
	}
	exec := filepath.Join(dir, "exec")
	cgroupCleanup(t, dockerCgroupParent)
	t.Cleanup(func() {
		killStrays(t, exec)
		unmountUnder(dir)
		os.RemoveAll(dir)
	})
	const bridge = "kagocmp-d0"
	privateBridge(t, bridge, "10.210.7.1/24")
	d := &dockerd{cli: cli, host: "unix://" + filepath.Join(dir, "docker.sock"), wrapper: newWrapper(t, dir),
		env: []string{"DOCKER_CONFIG=" + filepath.Join(dir, "cli-config")}}
	daemon := startDaemon(t, filepath.Join(dir, "dockerd.log"), filepath.Join(dir, "docker.sock"), "dockerd",
		"--data-root", filepath.Join(dir, "data"), "--exec-root", exec,
		"--pidfile", filepath.Join(dir, "docker.pid"), "--host", d.host,
		"--bridge", bridge, "--iptables=false", "--ip6tables=false", "--ip-masq=false", "--userland-proxy=false",
		"--storage-driver", "overlay2", "--cgroup-parent", "/"+dockerCgroupParent, "--exec-opt", "native.cgroupdriver=cgroupfs", "--default-ulimit", "nofile=1024:1024",
		"--add-runtime", "kago="+d.wrapper.Path)
	t.Cleanup(func() {
		// Remove containers while the daemon runs, so their shims exit.
		if ids, err := tryRun(time.Minute, d.env, d.cli, "--host", d.host, "ps", "-aq"); err == nil && strings.TrimSpace(ids) != "" {
			tryRun(time.Minute, d.env, d.cli, append([]string{"--host", d.host, "rm", "-f"}, strings.Fields(ids)...)...)
		}
		if t.Failed() {
			t.Logf("dockerd log:\n%s", daemon.tail())
		}
	})
	run(t, 2*time.Minute, d.env, d.cli, "--host", d.host, "load", "-i", imageTar(t, dir, testImage, "sh"))
	return d
}

func (d *dockerd) docker(t *testing.T, args ...string) string {
	t.Helper()
	return strings.TrimSpace(run(t, 2*time.Minute, d.env, d.cli, append([]string{"--host", d.host}, args...)...))
}

func (d *dockerd) tryDocker(args ...string) (string, error) {
	out, err := tryRun(2*time.Minute, d.env, d.cli, append([]string{"--host", d.host}, args...)...)
	return strings.TrimSpace(out), err
}

// TestDocker drives kago-runc as a Docker runtime (dockerd --add-runtime).
func TestDocker(t *testing.T) {
	d := startDockerd(t)

	t.Run("run true", func(t *testing.T) {
		d.docker(t, "run", "--rm", "--runtime", "kago", testImage, "true")
		d.wrapper.requireCalled(t, "create", "start", "delete")
	})

	t.Run("exit code and output", func(t *testing.T) {
		out, err := d.tryDocker("run", "--rm", "--runtime", "kago", testImage, "sh", "-c", "echo out-from-kago; exit 3")
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 3 || !strings.Contains(out, "out-from-kago") {
			t.Fatalf("docker run of `exit 3`: %v, want exit status 3 and the echo\n%s", err, out)
		}
	})

	t.Run("exec failures", func(t *testing.T) {
		// dockerd turns the runtime's create error into the exit status by
		// its text: "no such file or directory" 127, "permission denied" 126.
		for cmd, want := range map[string]int{"/no/such/binary": 127, "/etc/passwd": 126} {
			out, err := d.tryDocker("run", "--rm", "--runtime", "kago", testImage, cmd)
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != want || !strings.Contains(out, cmd) {
				t.Errorf("docker run %s: %v, want exit status %d and an error naming it\n%s", cmd, err, want, out)
			}
		}
	})

	t.Run("bridge network", func(t *testing.T) {
		out := d.docker(t, "run", "--rm", "--runtime", "kago", testImage, "ip", "-4", "addr", "show", "eth0")
		if !strings.Contains(out, "10.210.7.") {
			t.Fatalf("container has no address on the private bridge subnet:\n%s", out)
		}
	})

	t.Run("tty", func(t *testing.T) {
		out := runTTY(t, 2*time.Minute, d.cli, "--host", d.host, "run", "--rm", "-it", "--runtime", "kago", testImage, "sh", "-c", "tty; test -t 0 && echo stdin-is-a-tty")
		if !strings.Contains(out, "/dev/pts/") || !strings.Contains(out, "stdin-is-a-tty") {
			t.Fatalf("docker run -it: container has no terminal:\n%s", out)
		}
	})

	t.Run("exec pause stats stop", func(t *testing.T) {
		const name = "kago-compat-long"
		d.docker(t, "run", "-d", "--runtime", "kago", "--name", name, testImage, "sh", "-c", "trap 'exit 42' TERM; while :; do sleep 0.2; done")
		t.Cleanup(func() { d.tryDocker("rm", "-f", name) })

		if out := d.docker(t, "exec", name, "sh", "-c", "echo exec-ok; cat /proc/1/cmdline"); !strings.Contains(out, "exec-ok") || !strings.Contains(out, "trap") {
			t.Fatalf("docker exec output %q: want exec-ok and the init's command line", out)
		}
		d.wrapper.requireCalled(t, "exec")

		d.docker(t, "pause", name)
		if st := d.docker(t, "inspect", "--format", "{{.State.Status}}", name); st != "paused" {
			t.Fatalf("after docker pause the container is %q", st)
		}
		d.docker(t, "unpause", name)
		if st := d.docker(t, "inspect", "--format", "{{.State.Status}}", name); st != "running" {
			t.Fatalf("after docker unpause the container is %q", st)
		}
		d.wrapper.requireCalled(t, "pause", "resume")

		stats := d.docker(t, "stats", "--no-stream", "--format", "{{.MemUsage}} {{.PIDs}}", name)
		var used, limit, pids string
		if _, err := fmt.Sscanf(stats, "%s / %s %s", &used, &limit, &pids); err != nil || strings.HasPrefix(used, "0B") || pids == "0" {
			t.Fatalf("docker stats reports %q: want non-zero memory use and pids", stats)
		}

		start := time.Now()
		d.docker(t, "stop", "--time", "20", name)
		if took := time.Since(start); took > 15*time.Second {
			t.Fatalf("docker stop took %s: SIGTERM did not reach the container's trap", took)
		}
		if code := d.docker(t, "inspect", "--format", "{{.State.ExitCode}}", name); code != "42" {
			t.Fatalf("exit code after docker stop is %s, want 42 (from the TERM trap)", code)
		}
	})

	t.Run("oom", func(t *testing.T) {
		const name = "kago-compat-oom"
		t.Cleanup(func() { d.tryDocker("rm", "-f", name) })
		out, err := d.tryDocker("run", "--runtime", "kago", "--name", name, "--memory", "32m", "--memory-swap", "32m", testImage, "sh", "-c", "tail /dev/zero")
		if err == nil {
			t.Fatalf("a container that fills memory past --memory 32m exited 0:\n%s", out)
		}
		if oom := d.docker(t, "inspect", "--format", "{{.State.OOMKilled}} {{.State.ExitCode}}", name); oom != "true 137" {
			t.Fatalf("docker inspect reports OOMKilled/ExitCode %q, want \"true 137\"", oom)
		}
	})
}
