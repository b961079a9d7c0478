//go:build compat

package compat

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kago-run/kago/internal/sdunit"
	"github.com/kago-run/kago/linux/cgroups"
	sdcgroup "github.com/kago-run/kago/linux/cgroups/systemd"
)

// criSystemdHandlers are the CRI runtimes of TestCRISystemdCgroup, each
// with containerd's SystemdCgroup = true: runc's shim running kago-runc
// ("kago"), runc's shim running runc (the reference), and kago's shim as
// io.containerd.kago.v2 ("kago-shim"), whose options containerd 1.6 hands
// to the shim only as a file (ConfigPath; 1.7 and later also pass the
// table's text). (Naming kago's shim as runtime_path of a runc.v2 runtime
// would give it runc's options type, but 1.6's CRI plugin ignores
// runtime_path and starts runc's shim.)
func criSystemdHandlers(t *testing.T, c *containerd) string {
	t.Helper()
	const rt = `plugins."io.containerd.grpc.v1.cri".containerd.runtimes`
	shimOptions := filepath.Join(c.dir, "kago-shim-options.toml")
	if err := os.WriteFile(shimOptions, []byte("SystemdCgroup = true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`      runtime_type = "io.containerd.runc.v2"
      [%[1]s.kago.options]
        BinaryName = %[2]q
        Root = %[3]q
        SystemdCgroup = true
    [%[1]s.runc]
      runtime_type = "io.containerd.runc.v2"
      [%[1]s.runc.options]
        Root = %[4]q
        SystemdCgroup = true
    [%[1]s.kago-shim]
      runtime_type = "io.containerd.kago.v2"
      [%[1]s.kago-shim.options]
        ConfigPath = %[5]q
`, rt, c.wrapper.Path, c.runcRoot(), filepath.Join(c.dir, "runc-ref"), shimOptions)
}

// TestCRISystemdCgroup is a Kubernetes node on the systemd cgroup driver:
// the kubelet (crictl here) sends each pod's cgroup parent as a slice
// (kubepods-besteffort-pod<uid>.slice), containerd's CRI plugin turns it
// into cgroupsPath "slice:cri-containerd:<id>", and a runtime handler with
// SystemdCgroup = true has systemd make each container's cgroup as the
// scope cri-containerd-<id>.scope in that slice. Checked from outside for
// every handler: the scope is in the pod's slice while the container runs,
// its memory limit property and the container's cgroup file agree, and
// after rmp neither unit nor cgroup is left. It needs systemd as PID 1:
// test/systemd-cgroup-vm.sh runs it in the Debian VM.
func TestCRISystemdCgroup(t *testing.T) {
	if !sdcgroup.IsRunningSystemd() {
		t.Skip("needs systemd as PID 1 (run in the VM: make test-vm-systemd)")
	}
	requireTools(t, "containerd", "containerd", "runc")
	crictl := buildCrictl(t)
	installShim(t)
	c := startContainerdWith(t, true, func(c *containerd) string { return criSystemdHandlers(t, c) })
	// The pod slices' parents, made by systemd as the scopes asked for them.
	t.Cleanup(func() { exec.Command("systemctl", "stop", "kubepods.slice").Run() })
	base, cri := crictlFor(t, c)
	mode, err := cgroups.Mode()
	if err != nil {
		t.Fatal(err)
	}
	for _, handler := range []string{"kago", "runc", "kago-shim"} {
		t.Run(handler, func(t *testing.T) {
			start := time.Now()
			uid := "s3sd_" + strings.ReplaceAll(handler, "-", "_")
			slice := "kubepods-besteffort-pod" + uid + ".slice"
			pod := writeJSON(t, c.dir, handler+"-pod.json", map[string]any{
				"metadata":      map[string]any{"name": "s3sd-" + handler, "namespace": "default", "uid": uid, "attempt": 0},
				"log_directory": filepath.Join(c.dir, handler+"-logs"),
				"linux": map[string]any{
					"cgroup_parent":    slice,
					"security_context": map[string]any{"namespace_options": map[string]any{"network": 2}}, // host network: no CNI
				},
			})
			ctrCfg := writeJSON(t, c.dir, handler+"-box.json", map[string]any{
				"metadata": map[string]any{"name": "box"},
				"image":    map[string]any{"image": testImage},
				"command":  []string{"sh", "-c", "echo hello-from-systemd-scope; trap 'exit 0' TERM; while :; do sleep 0.2; done"},
				"log_path": "box.log",
				"linux":    map[string]any{"resources": map[string]any{"memory_limit_in_bytes": 64 << 20}},
			})
			podID := cri(t, "runp", "--runtime", handler, pod)
			t.Cleanup(func() {
				tryRun(time.Minute, nil, crictl, append(base, "stopp", podID)...)
				tryRun(time.Minute, nil, crictl, append(base, "rmp", "-f", podID)...)
			})
			cid := cri(t, "create", podID, ctrCfg, pod)
			cri(t, "start", cid)
			waitFor(t, time.Minute, "the container's log line", func() (bool, string) {
				out, _ := tryRun(time.Minute, nil, crictl, append(base, "logs", cid)...)
				return strings.Contains(out, "hello-from-systemd-scope"), out
			})
			if out := cri(t, "exec", cid, "sh", "-c", "echo exec-ok"); out != "exec-ok" {
				t.Errorf("crictl exec: %q, want exec-ok", out)
			}

			sandboxUnit, unit := "cri-containerd-"+podID+".scope", "cri-containerd-"+cid+".scope"
			cgroupFiles := map[string]string{} // unit -> its memory limit file
			for _, u := range []string{sandboxUnit, unit} {
				p := sdunit.MustShow(t, u)
				if p["ActiveState"] != "active" || p["Slice"] != slice || !strings.HasSuffix(p["ControlGroup"], "/"+slice+"/"+u) {
					t.Fatalf("unit %s: ActiveState=%q Slice=%q ControlGroup=%q; want an active scope in %s", u, p["ActiveState"], p["Slice"], p["ControlGroup"], slice)
				}
				cgroupFiles[u] = filepath.Join("/sys/fs/cgroup/memory", p["ControlGroup"], "memory.limit_in_bytes")
				if mode == cgroups.ModeV2 {
					cgroupFiles[u] = filepath.Join("/sys/fs/cgroup", p["ControlGroup"], "memory.max")
				}
			}
			p := sdunit.MustShow(t, unit)
			prop := "MemoryLimit"
			if mode == cgroups.ModeV2 {
				prop = "MemoryMax"
			}
			file, _ := os.ReadFile(cgroupFiles[unit])
			if want := strconv.Itoa(64 << 20); p[prop] != want || strings.TrimSpace(string(file)) != want {
				t.Errorf("container %s: %s=%q and %s holds %q, want both %s", unit, prop, p[prop], cgroupFiles[unit], file, want)
			}
			if handler == "kago-shim" {
				if shims := shimPids(c); len(shims) != 1 {
					t.Errorf("the pod is served by %d kago shims %v, want 1", len(shims), shims)
				}
				if p := foreignRuntimes(c); len(p) > 0 {
					t.Errorf("other runtimes serve the pod: %v", p)
				}
			}
			if handler == "kago" {
				c.wrapper.requireCalled(t, "create", "start", "exec")
				if calls := strings.Join(c.wrapper.calls(), "\n"); !strings.Contains(calls, "--systemd-cgroup") {
					t.Errorf("runc's shim never passed --systemd-cgroup to kago-runc:\n%s", calls)
				}
			}

			cri(t, "stop", cid)
			cri(t, "rm", cid)
			cri(t, "stopp", podID)
			cri(t, "rmp", podID)
			for u, f := range cgroupFiles {
				waitFor(t, 10*time.Second, "unit "+u+" to go", func() (bool, string) {
					p := sdunit.MustShow(t, u)
					return p["LoadState"] == "not-found", fmt.Sprintf("LoadState=%s ActiveState=%s", p["LoadState"], p["ActiveState"])
				})
				if _, err := os.Stat(filepath.Dir(f)); !os.IsNotExist(err) {
					t.Errorf("cgroup %s left after rmp (%v)", filepath.Dir(f), err)
				}
			}
			t.Logf("%s: runp, create, start, logs, exec, stop, rm, stopp, rmp: %v", handler, time.Since(start).Round(time.Second))
		})
	}
}
