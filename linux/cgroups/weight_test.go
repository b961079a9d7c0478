package cgroups

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kago-run/kago/internal/testbundle"
)

// TestCPUSharesToWeightIsRuncs checks the conversion against the values of
// its peer, runc (>= 1.3.2; opencontainers/cgroups
// ConvertCPUSharesToCgroupV2Value): the cases of that function's own test
// (utils_test.go: unset, both ends, one past each, the default 1024 -> 100,
// which the Kubernetes blog "New Conversion from cgroup v1 CPU Shares to v2
// CPU Weight" (2026-01-30) also names with (2, 1) and (262144, 10000)), and
// values in between printed by that function (opencontainers/cgroups
// v0.1.0, as runc v1.5.3 vendors it). The old linear conversion of runc 1.1
// and crun < 1.23 gives 39 for 1024 and fails here.
func TestCPUSharesToWeightIsRuncs(t *testing.T) {
	for shares, want := range map[uint64]uint64{
		0: 0, 1: 1, 2: 1, 3: 2, 10: 4, 102: 17, 512: 59, 1000: 99, 1024: 100,
		2048: 174, 10000: 627, 100000: 4340, 262143: 10000, 262144: 10000, 262145: 10000,
	} {
		if got := cpuSharesToWeight(shares); got != want {
			t.Errorf("cpuSharesToWeight(%d) = %d, runc writes %d", shares, got, want)
		}
	}
}

// peerRuncMin is the first runc release with the conversion kago follows.
var peerRuncMin = [3]int{1, 3, 2}

// peerRunc returns the runc to compare with: $KAGO_PEER_RUNC, else the one
// `make peer-runc` builds. Debian 12's runc (1.1.5) is too old: it still
// converts linearly.
func peerRunc(t *testing.T) string {
	t.Helper()
	p := os.Getenv("KAGO_PEER_RUNC")
	if p == "" {
		matches, _ := filepath.Glob("../../bin/peers/runc-*")
		if len(matches) == 0 {
			t.Skip("no peer runc: run `make peer-runc` (runc from the Go module proxy, static) or set KAGO_PEER_RUNC")
		}
		p = matches[len(matches)-1]
	}
	out, err := exec.Command(p, "--version").Output()
	if err != nil {
		t.Fatalf("%s --version: %v", p, err)
	}
	m := regexp.MustCompile(`runc version (\d+)\.(\d+)\.(\d+)`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("%s --version printed %q, not a runc version", p, out)
	}
	var v [3]int
	for i := range v {
		v[i], _ = strconv.Atoi(m[i+1])
	}
	if v[0] < peerRuncMin[0] || v[0] == peerRuncMin[0] && (v[1] < peerRuncMin[1] || v[1] == peerRuncMin[1] && v[2] < peerRuncMin[2]) {
		t.Fatalf("peer %s is runc %d.%d.%d, which converts cpu shares linearly; kago follows runc >= %d.%d.%d: use `make peer-runc`", p, v[0], v[1], v[2], peerRuncMin[0], peerRuncMin[1], peerRuncMin[2])
	}
	return p
}

// requireV2CPU skips unless this host's cgroup v2 tree has the cpu
// controller, the only place cpu.weight exists.
func requireV2CPU(t *testing.T) {
	t.Helper()
	mode, err := Mode()
	if err != nil {
		t.Fatalf("Mode: %v", err)
	}
	if mode != ModeV2 {
		t.Skipf("cpu.weight exists where cgroup v2 has the cpu controller; this host is %s (cpu is a v1 controller): the test runs in the pure cgroup v2 VM", mode)
	}
	data, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
	if err != nil || !slices.Contains(strings.Fields(string(data)), "cpu") {
		t.Skipf("the cgroup v2 root offers no cpu controller (cgroup.controllers %q, %v)", data, err)
	}
}

// TestCPUWeightMatchesRunc runs the peer runc on a busybox bundle with
// linux.resources.cpu.shares set, reads the cpu.weight it wrote into the
// container's cgroup, and compares it with what kago's manager writes for
// the same shares.
func TestCPUWeightMatchesRunc(t *testing.T) {
	testbundle.RequireRoot(t)
	requireV2CPU(t)
	runc := peerRunc(t)
	host := targets(t)[0]
	for _, shares := range []uint64{2, 102, 512, 1024, 2048, 10000, 262144} {
		t.Run(strconv.FormatUint(shares, 10), func(t *testing.T) {
			peer := runcWeight(t, runc, shares)
			m := createManager(t, host, &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: &shares}})
			own, err := readFile(m.Path(""), "cpu.weight") // a v2 manager has one directory
			if err != nil {
				t.Fatal(err)
			}
			if own != peer {
				t.Errorf("cpu.shares %d: kago wrote cpu.weight %s, runc wrote %s", shares, own, peer)
			}
		})
	}
}

// runcWeight creates (not starts) a container with runc and returns the
// cpu.weight of its cgroup. The container and its cgroup are removed when
// the test ends.
func runcWeight(t *testing.T, runc string, shares uint64) string {
	t.Helper()
	b := testbundle.New(t, nil)
	state := t.TempDir()
	id := fmt.Sprintf("kp4-weight-%d", shares)
	cgPath := testParent + "/" + id
	if out, err := exec.Command(runc, "spec", "--bundle", b.Dir).CombinedOutput(); err != nil {
		t.Fatalf("runc spec: %v: %s", err, out)
	}
	raw, err := os.ReadFile(filepath.Join(b.Dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatal(err)
	}
	spec.Process.Terminal = false
	spec.Process.Args = []string{"true"}
	spec.Linux.CgroupsPath = cgPath
	if spec.Linux.Resources == nil {
		spec.Linux.Resources = &specs.LinuxResources{}
	}
	spec.Linux.Resources.CPU = &specs.LinuxCPU{Shares: &shares}
	b.Spec = &spec
	if err := b.Save(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if out, err := exec.Command(runc, "--root", state, "delete", "--force", id).CombinedOutput(); err != nil && !strings.Contains(string(out), "does not exist") {
			t.Errorf("runc delete %s: %v: %s", id, err, out)
		}
		os.Remove(filepath.Join("/sys/fs/cgroup", cgPath))
		os.Remove(filepath.Join("/sys/fs/cgroup", testParent))
	})
	// The container's init keeps runc's stdout and stderr: they go to a
	// file, since a pipe would not reach EOF while the container exists.
	log, err := os.CreateTemp(t.TempDir(), "create-output")
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	create := exec.Command(runc, "--root", state, "create", "--bundle", b.Dir, id)
	create.Stdout, create.Stderr = log, log
	if err := create.Run(); err != nil {
		out, _ := os.ReadFile(log.Name())
		t.Fatalf("runc create with cpu.shares %d: %v: %s", shares, err, out)
	}
	w, err := readFile(filepath.Join("/sys/fs/cgroup", cgPath), "cpu.weight")
	if err != nil {
		t.Fatalf("read the cpu.weight runc wrote: %v", err)
	}
	return w
}
