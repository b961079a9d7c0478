package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kago-run/kago/linux/explain"
)

// TestExplainRun runs a container with a memory limit, a published port, a
// read-only root and dropped capabilities through `kago run
// --explain=json`, and checks that the account has the engine's, the
// runtime's and the init's steps numbered in one sequence, in the order
// they are done, with the values the kernel reports afterwards: the cgroup
// files, mountinfo, CapEff, NoNewPrivs, Seccomp, the overlay, the veth and
// MAC, and the nftables element.
func TestExplainRun(t *testing.T) {
	e := newEnv(t)
	out, errs, code := e.run("run", "-d", "--explain=json", "--name", "ex", "--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE",
		"--memory", "64m", "--read-only", "-p", "18220:80", "bb")
	if code != 0 {
		t.Fatalf("run --explain=json: exit %d\n%s", code, errs)
	}
	if id := strings.TrimSpace(out); len(id) != 64 {
		t.Errorf("stdout %q, want only the container ID (steps go to stderr)", out)
	}
	steps, err := explain.ParseJSON(errs)
	if err != nil {
		t.Fatal(err)
	}
	if err := explain.CheckNumbered(steps); err != nil {
		t.Error(err)
	}
	first := map[string]int{} // feature/call -> its first step
	for _, s := range steps {
		if _, ok := first[s.Feature+"/"+s.Call]; !ok {
			first[s.Feature+"/"+s.Call] = s.Step
		}
	}
	// Create mounts the rootfs to fill it; run keeps it mounted for the
	// start that follows (kago create alone unmounts it: TestExplainCreate).
	order := []string{"image/resolve", "image/layer", "rootfs/mkdir", "rootfs/mount", "bundle/write", "monitor/fork+execve",
		"namespaces/clone", "process/pid", "cgroup/mkdir", "cgroup/write", "mount/mount", "devices/mknod",
		"root/pivot_root", "uts/sethostname", "network/bridge", "network/ipam", "network/mac", "network/veth",
		"network/nft add element", "capabilities/capset", "exec/execve"}
	for i := 1; i < len(order); i++ {
		a, okA := first[order[i-1]]
		z, okZ := first[order[i]]
		if !okA || !okZ || a >= z {
			t.Errorf("want %s (step %d) before %s (step %d)", order[i-1], a, order[i], z)
		}
	}
	// Without no_new_privs the filter is loaded before the capabilities
	// go (loading it needs CAP_SYS_ADMIN): after the network, before execve.
	if sc := first["seccomp/seccomp(SECCOMP_SET_MODE_FILTER)"]; sc < first["network/nft add element"] || sc > first["exec/execve"] {
		t.Errorf("seccomp at step %d, want it between the network and execve", sc)
	}
	mounts := 0
	for _, s := range steps {
		if s.Feature == "rootfs" && s.Call == "mount" {
			mounts++
		}
	}
	if _, unmounted := first["rootfs/umount"]; mounts != 1 || unmounted {
		t.Errorf("%d rootfs mounts (unmounted: %v), want 1 kept from create to start", mounts, unmounted)
	}
	if last := steps[len(steps)-1]; last.Call != "execve" || !strings.Contains(last.Value, `"httpd"`) {
		t.Errorf("last step %+v, want the execve of httpd", last)
	}
	if t.Failed() {
		t.Fatalf("account:\n%s", errs)
	}

	var v struct{ Process struct{ Pid int } }
	if err := json.Unmarshal([]byte(e.ok("explain", "--format", "json", "ex")), &v); err != nil {
		t.Fatal(err)
	}
	pid := v.Process.Pid
	proc := fmt.Sprintf("/proc/%d", pid)
	// The start steps happen in the init after start returns: wait for the
	// exec of httpd before reading what it got.
	deadline := time.Now().Add(5 * time.Second)
	for comm, _ := os.ReadFile(proc + "/comm"); strings.TrimSpace(string(comm)) != "httpd" && time.Now().Before(deadline); comm, _ = os.ReadFile(proc + "/comm") {
		time.Sleep(5 * time.Millisecond)
	}
	status := readProcStatus(t, proc)
	mountinfo, err := os.ReadFile(filepath.Join(proc, "mountinfo"))
	if err != nil {
		t.Fatal(err)
	}
	byTarget := map[string][]string{} // target -> mount options (field 6)
	for _, l := range strings.Split(string(mountinfo), "\n") {
		if f := strings.Fields(l); len(f) > 5 {
			byTarget[f[4]] = append(byTarget[f[4]], f[5])
		}
	}
	hostMounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	memory, rootRO := false, false
	for _, s := range steps {
		switch s.Feature + "/" + s.Call {
		case "process/pid":
			if s.Value != strconv.Itoa(pid) {
				t.Errorf("step %d: init pid %s, the kernel runs it as %d", s.Step, s.Value, pid)
			}
		case "cgroup/write":
			name := filepath.Base(s.Path)
			if name != "memory.max" && name != "memory.limit_in_bytes" && name != "cgroup.procs" {
				continue
			}
			data, err := os.ReadFile(s.Path)
			if err != nil || !slices.Contains(strings.Fields(string(data)), s.Value) {
				t.Errorf("step %d: %s holds %q (%v), the step wrote %s", s.Step, s.Path, data, err, s.Value)
			}
			memory = memory || name != "cgroup.procs" && s.Value == "67108864"
		case "mount/mount":
			if strings.Contains(s.Value, "MS_SLAVE") || !strings.HasPrefix(s.Path, "/") || strings.Contains(s.Path, e.root) {
				continue // propagation; the rootfs's bind onto itself (now "/")
			}
			opts, ok := byTarget[s.Path]
			if !ok {
				t.Errorf("step %d mounts on %s; the container's mountinfo has no such mount point", s.Step, s.Path)
			}
			if strings.Contains(s.Value, "MS_RDONLY") && !slices.ContainsFunc(opts, func(o string) bool { return strings.HasPrefix(o, "ro") }) {
				t.Errorf("step %d made %s read-only; mountinfo says %v", s.Step, s.Path, opts)
			}
			rootRO = rootRO || s.Path == "/" && strings.Contains(s.Value, "MS_REMOUNT") && strings.Contains(s.Value, "MS_RDONLY")
		case "rootfs/mount":
			upper := s.Value[strings.Index(s.Value, "upperdir=")+len("upperdir=") : strings.Index(s.Value, " workdir=")]
			if !strings.Contains(string(hostMounts), " "+s.Path+" ") || !strings.Contains(string(hostMounts), "upperdir="+upper) {
				t.Errorf("step %d: no overlay on %s with upperdir %s in the host's mountinfo", s.Step, s.Path, upper)
			}
		case "capabilities/capset":
			if !strings.HasPrefix(s.Value, "effective: CAP_NET_BIND_SERVICE;") || status["CapEff"] != "0000000000000400" {
				t.Errorf("step %d: %q; CapEff is %s", s.Step, s.Value, status["CapEff"])
			}
		case "seccomp/seccomp(SECCOMP_SET_MODE_FILTER)":
			if status["Seccomp"] != "2" || !strings.Contains(s.Value, `profile="docker default"`) {
				t.Errorf("step %d: %q; Seccomp in /proc is %s", s.Step, s.Value, status["Seccomp"])
			}
		case "network/veth":
			if _, err := os.Stat(filepath.Join("/sys/class/net", s.Path)); err != nil {
				t.Errorf("step %d: host veth %s: %v", s.Step, s.Path, err)
			}
		case "network/mac":
			data, err := os.ReadFile(filepath.Join(proc, "root/sys/class/net/eth0/address"))
			if err != nil || strings.TrimSpace(string(data)) != s.Value {
				t.Errorf("step %d: MAC %s; the container's eth0 has %q (%v)", s.Step, s.Value, data, err)
			}
		case "network/nft add element":
			table := strings.Fields(s.Path) // ip TABLE MAP
			if len(table) != 3 || table[1] != e.table || !strings.HasPrefix(s.Value, "18220 : ") {
				t.Errorf("step %d: element %s in %s", s.Step, s.Value, s.Path)
				continue
			}
			list, err := exec.Command("nft", "list", "map", "ip", table[1], table[2]).CombinedOutput()
			if err != nil || !strings.Contains(string(list), s.Value) {
				t.Errorf("step %d: nft list map %s has no %q: %s (%v)", s.Step, s.Path, s.Value, list, err)
			}
		}
	}
	_, nnp := first["no_new_privs/prctl(PR_SET_NO_NEW_PRIVS)"]
	if (status["NoNewPrivs"] == "1") != nnp {
		t.Errorf("NoNewPrivs %s in /proc; a no_new_privs step: %v", status["NoNewPrivs"], nnp)
	}
	if !memory || !rootRO {
		t.Errorf("want the 64m memory limit written (%v) and the root remounted read-only (%v)", memory, rootRO)
	}
	if t.Failed() {
		t.Logf("account:\n%s", errs)
	}
	e.ok("rm", "-f", "ex")

	// Text form, in the foreground: the steps on stderr, then the output.
	out, errs, code = e.run("run", "--rm", "--explain", "--network", "none", "bb", "echo", "hi")
	if code != 0 || strings.TrimSpace(out) != "hi" {
		t.Fatalf("run --explain in the foreground: exit %d, stdout %q\n%s", code, out, errs)
	}
	lines := strings.Split(strings.TrimSpace(errs), "\n")
	if !strings.HasPrefix(lines[0], "1. image") || !strings.Contains(lines[len(lines)-1], "execve") || !strings.Contains(errs, "see cgroups(7)") {
		t.Errorf("text account:\n%s", errs)
	}
	// create alone: the engine's part, and nothing started.
	_, errs, code = e.run("create", "--explain=json", "--name", "c2", "bb")
	created, err := explain.ParseJSON(errs)
	if code != 0 || err != nil || explain.CheckNumbered(created) != nil {
		t.Fatalf("create --explain=json: exit %d, %v\n%s", code, err, errs)
	}
	var calls []string
	for _, s := range created {
		if c := s.Feature + "/" + s.Call; !slices.Contains(calls, c) {
			calls = append(calls, c)
		}
	}
	if want := []string{"image/resolve", "image/layer", "rootfs/mkdir", "rootfs/mount", "bundle/write", "rootfs/umount"}; !slices.Equal(calls, want) {
		t.Errorf("create --explain steps %v, want %v", calls, want)
	}
	e.ok("rm", "c2")
	if msg := e.fails("run", "--explain=yaml", "bb", "true"); !strings.Contains(msg, "--explain") || strings.Count(strings.TrimSpace(msg), "\n") != 0 {
		t.Errorf("bad --explain value: %q", msg)
	}
}
