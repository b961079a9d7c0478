//go:build compat

package compat

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// crictlVersion is the cri-tools release the CRI test builds.
const crictlVersion = "v1.34.0"

// buildCrictl installs crictl into the test's build dir with the Go toolchain
// (through the module proxy; the build cache makes later runs fast).
func buildCrictl(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(buildDir, "crictl")
	if prebuilt := os.Getenv("KAGO_CRICTL_PREBUILT"); prebuilt != "" {
		bin = prebuilt
	}
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	cmd := exec.Command("go", "install", "sigs.k8s.io/cri-tools/cmd/crictl@"+crictlVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+buildDir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go install crictl@%s (needs the Go module proxy): %v\n%s", crictlVersion, err, out)
	}
	return bin
}

// TestCRI is Kubernetes' path to kago: containerd's CRI plugin with a runtime
// handler "kago" (runtime_type io.containerd.runc.v2, BinaryName kago-runc),
// which is what a RuntimeClass with handler: kago selects. crictl plays the
// kubelet: a host-network pod (no CNI), one container, logs, exec, stop, remove.
func TestCRI(t *testing.T) {
	requireTools(t, "containerd", "containerd")
	crictl := buildCrictl(t)
	c := startContainerd(t, true)
	ep := "unix://" + c.socket
	base, cri := crictlFor(t, c)
	cfg := base[1]

	logDir := filepath.Join(c.dir, "pod-logs")
	pod := writeJSON(t, c.dir, "pod.json", map[string]any{
		"metadata":      map[string]any{"name": "kago-pod", "namespace": "default", "uid": "kago-pod-uid", "attempt": 0},
		"log_directory": logDir,
		"linux": map[string]any{
			"cgroup_parent":    "/" + criCgroupParent + "/pod-kago",
			"security_context": map[string]any{"namespace_options": map[string]any{"network": 2}}, // NODE: host network
		},
	})
	ctrCfg := writeJSON(t, c.dir, "container.json", map[string]any{
		"metadata": map[string]any{"name": "box"},
		"image":    map[string]any{"image": testImage},
		"command":  []string{"sh", "-c", "echo hello-from-cri; trap 'exit 0' TERM; while :; do sleep 0.2; done"},
		"log_path": "box.log",
		"linux": map[string]any{
			"resources": map[string]any{"memory_limit_in_bytes": 64 << 20, "cpu_shares": 512},
		},
	})

	podID := cri(t, "runp", "--runtime", "kago", pod)
	t.Cleanup(func() {
		tryRun(time.Minute, nil, crictl, "--config", cfg, "--runtime-endpoint", ep, "stopp", podID)
		tryRun(time.Minute, nil, crictl, "--config", cfg, "--runtime-endpoint", ep, "rmp", "-f", podID)
	})
	inspect := cri(t, "inspectp", podID)
	if !strings.Contains(inspect, `"runtimeHandler": "kago"`) {
		t.Fatalf("pod does not run under the kago handler:\n%s", inspect)
	}

	cid := cri(t, "create", podID, ctrCfg, pod)
	cri(t, "start", cid)
	waitFor(t, 30*time.Second, "the container's log line", func() (bool, string) {
		out, _ := tryRun(time.Minute, nil, crictl, "--config", cfg, "--runtime-endpoint", ep, "logs", cid)
		return strings.Contains(out, "hello-from-cri"), out
	})

	out := cri(t, "exec", cid, "sh", "-c", "echo exec-from-cri; cat /proc/1/cmdline")
	// CRI's default pod PID namespace: PID 1 is the sandbox (pause) process,
	// so kago-runc joined the sandbox's namespaces as the spec paths said.
	if !strings.Contains(out, "exec-from-cri") || !strings.Contains(out, "sleep\x002147483647") {
		t.Fatalf("crictl exec output %q: want exec-from-cri and the pause process as PID 1", out)
	}
	// The container shares the host network (no CNI): its interfaces are the host's.
	hostIfaces, _ := os.ReadFile("/proc/net/dev")
	out = cri(t, "exec", cid, "cat", "/proc/net/dev")
	if countLines(out) != countLines(strings.TrimSpace(string(hostIfaces))) {
		t.Fatalf("host-network pod sees %d interface lines, the host %d", countLines(out), countLines(string(hostIfaces)))
	}

	// The pod spec's resources reach the container's cgroups.
	out = cri(t, "exec", cid, "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/cpu/cpu.shares")
	if f := strings.Fields(out); len(f) != 2 || f[0] != fmt.Sprint(64<<20) || f[1] != "512" {
		t.Fatalf("container's memory limit and CPU shares are %q, want %d and 512", out, 64<<20)
	}
	// The kubelet's stats path: containerd reads the cgroups kago-runc made.
	var stats struct {
		Stats []struct {
			Memory struct {
				WorkingSetBytes struct{ Value string }
			}
		}
	}
	out = cri(t, "stats", "-o", "json", cid)
	if err := json.Unmarshal([]byte(out), &stats); err != nil || len(stats.Stats) != 1 || stats.Stats[0].Memory.WorkingSetBytes.Value == "" || stats.Stats[0].Memory.WorkingSetBytes.Value == "0" {
		t.Fatalf("crictl stats reports no memory use (%v):\n%s", err, out)
	}

	cri(t, "stop", cid)
	cri(t, "rm", cid)
	cri(t, "stopp", podID)
	cri(t, "rmp", podID)
	if out := cri(t, "pods", "-q"); out != "" {
		t.Fatalf("pods left after rmp: %s", out)
	}
	c.wrapper.requireCalled(t, "create", "start", "exec", "kill", "delete")
}

// crictlFor imports the test and pause images into containerd c's k8s.io
// namespace and returns crictl's arguments to reach c and a runner that
// fails the test on error and returns crictl's trimmed stdout.
func crictlFor(t *testing.T, c *containerd) (base []string, cri func(t *testing.T, args ...string) string) {
	t.Helper()
	crictl := buildCrictl(t)
	c.ctr(t, "k8s.io", "images", "import", imageTar(t, c.dir, testImage, "sh"))
	c.ctr(t, "k8s.io", "images", "import", imageTar(t, c.dir, pauseImage, "sleep", "2147483647"))
	cfg := filepath.Join(c.dir, "crictl.yaml")
	if err := os.WriteFile(cfg, []byte("timeout: 60\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ep := "unix://" + c.socket
	base = []string{"--config", cfg, "--runtime-endpoint", ep, "--image-endpoint", ep}
	return base, func(t *testing.T, args ...string) string {
		t.Helper()
		return strings.TrimSpace(runStdout(t, 2*time.Minute, nil, crictl, append(base, args...)...))
	}
}

func writeJSON(t *testing.T, dir, name string, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func countLines(s string) int { return len(strings.Split(strings.TrimSpace(s), "\n")) }
