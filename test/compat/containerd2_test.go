//go:build compat

package compat

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// containerd2Version is the containerd 2.x release the kago shim is tested
// under. Debian ships containerd 1.6, so the test builds containerd and ctr
// of this release from the Go module proxy into the build dir.
const containerd2Version = "v2.2.10"

// buildContainerd2 builds containerd and ctr at containerd2Version (no cgo:
// the btrfs, devmapper and zfs snapshotters are left out) and returns their
// directory.
func buildContainerd2(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(buildDir, "containerd-"+containerd2Version)
	if _, err := os.Stat(filepath.Join(dir, "ctr")); err == nil {
		return dir
	}
	mod := "github.com/containerd/containerd/v2/cmd/"
	cmd := exec.Command("go", "install", "-tags", "no_btrfs,no_devmapper,no_zfs",
		mod+"containerd@"+containerd2Version, mod+"ctr@"+containerd2Version)
	cmd.Dir = buildDir // outside kago's module: the release's own go.mod decides
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go install containerd@%s (needs the Go module proxy): %v\n%s", containerd2Version, err, out)
	}
	return dir
}

// startContainerd2 starts containerd 2.x with the config (version 3) for
// private roots and sockets; with cri, the CRI plugins run the runtime
// "kago" whose body handler writes, for host-network pods.
func startContainerd2(t *testing.T, cri bool, handler func(*containerd) string) *containerd {
	t.Helper()
	dir := buildContainerd2(t)
	return launchContainerd(t, filepath.Join(dir, "containerd"), filepath.Join(dir, "ctr"), func(c *containerd) string {
		// NRI's socket is host-wide (/var/run/nri): another containerd's.
		disabled := `"io.containerd.nri.v1.nri"`
		if !cri {
			disabled += `, "io.containerd.grpc.v1.cri", "io.containerd.cri.v1.runtime", "io.containerd.cri.v1.images"`
		}
		config := fmt.Sprintf(`version = 3
root = %q
state = %q
disabled_plugins = [%s]
[grpc]
  address = %q
[ttrpc]
  address = %q
[debug]
  level = "info"
`, filepath.Join(c.dir, "root"), filepath.Join(c.dir, "state"), disabled, c.socket, c.socket+".ttrpc")
		if cri {
			config += fmt.Sprintf(`[plugins."io.containerd.cri.v1.images".pinned_images]
  sandbox = %[1]q
[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
[plugins."io.containerd.cri.v1.runtime"]
  restrict_oom_score_adj = true
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = [%[3]q]
    conf_dir = %[4]q
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "kago"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.kago]
%[2]s`, pauseImage, handler(c), filepath.Join(c.dir, "cni-bin"), filepath.Join(c.dir, "cni-conf"))
		}
		return config
	})
}
