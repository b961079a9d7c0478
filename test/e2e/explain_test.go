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
)

// TestExplainRunningContainer checks that `kago explain` reports what the
// kernel shows in /proc and the cgroup files for a container run with
// dropped capabilities, a memory limit, a read-only root and a published
// port.
func TestExplainRunningContainer(t *testing.T) {
	e := newEnv(t)
	e.ok("run", "-d", "--name", "x", "--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE",
		"--memory", "64m", "--read-only", "-p", "16300:80", "bb")

	var v struct {
		ID      string
		Process struct {
			Pid        int
			Namespaces []struct {
				Type           string
				Inode          uint64
				SharedWithHost bool
			}
			Cgroups []struct {
				Dir   string
				Files map[string]string
			}
			Mounts []struct {
				Target   string
				ReadOnly bool
			}
			Capabilities struct{ Effective, Bounding, Permitted []string }
			NoNewPrivs   bool
			Seccomp      string
			Processes    []struct {
				HostPid int
				NSpid   []int
			}
		}
		Network *struct {
			IP, MAC, HostVeth string
			Ports             []json.RawMessage
		}
		NFT []struct{ Map, Element string } `json:"nftElements"`
	}
	out := e.ok("explain", "--format", "json", "x")
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("explain json: %v\n%s", err, out)
	}
	p := v.Process
	if p.Pid <= 1 {
		t.Fatalf("init pid %d", p.Pid)
	}
	proc := fmt.Sprintf("/proc/%d", p.Pid)

	// Namespaces: the same inodes as the links, new ones differ from pid 1's.
	for _, ns := range p.Namespaces {
		link, err := os.Readlink(filepath.Join(proc, "ns", ns.Type))
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("%s:[%d]", ns.Type, ns.Inode); link != want {
			t.Errorf("namespace %s: explain says %s, /proc says %s", ns.Type, want, link)
		}
		host, _ := os.Readlink(filepath.Join("/proc/1/ns", ns.Type))
		if ns.SharedWithHost != (host == link) {
			t.Errorf("namespace %s: sharedWithHost %v, but host has %s and container %s", ns.Type, ns.SharedWithHost, host, link)
		}
		if slices.Contains([]string{"pid", "mnt", "net", "uts", "ipc"}, ns.Type) && ns.SharedWithHost {
			t.Errorf("namespace %s is the host's; want a new one", ns.Type)
		}
	}
	if len(p.Namespaces) < 5 {
		t.Errorf("only %d namespaces reported", len(p.Namespaces))
	}

	// Capabilities: exactly NET_BIND_SERVICE, as CapEff says.
	status := readProcStatus(t, proc)
	capEff, _ := strconv.ParseUint(status["CapEff"], 16, 64)
	if capEff != 1<<10 {
		t.Errorf("CapEff in /proc is %#x, want only NET_BIND_SERVICE (bit 10)", capEff)
	}
	for name, set := range map[string][]string{"effective": p.Capabilities.Effective, "bounding": p.Capabilities.Bounding} {
		if !slices.Equal(set, []string{"CAP_NET_BIND_SERVICE"}) {
			t.Errorf("%s capabilities %v, want [CAP_NET_BIND_SERVICE]", name, set)
		}
	}
	if got := map[bool]string{true: "1", false: "0"}[p.NoNewPrivs]; got != status["NoNewPrivs"] {
		t.Errorf("noNewPrivs %v, /proc says %s", p.NoNewPrivs, status["NoNewPrivs"])
	}
	if want := map[string]string{"0": "disabled", "1": "strict", "2": "filter"}[status["Seccomp"]]; p.Seccomp != want {
		t.Errorf("seccomp %q, /proc says %q", p.Seccomp, want)
	}

	// Memory limit: the cgroup file says 64 MiB, and explain shows it.
	found := false
	for _, cg := range p.Cgroups {
		for _, name := range []string{"memory.max", "memory.limit_in_bytes"} {
			shown, ok := cg.Files[name]
			if !ok {
				continue
			}
			data, err := os.ReadFile(filepath.Join(cg.Dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if strings.TrimSpace(string(data)) != shown {
				t.Errorf("%s/%s: explain %q, file %q", cg.Dir, name, shown, data)
			}
			if shown == "67108864" {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("no cgroup memory limit of 67108864 in %+v", p.Cgroups)
	}

	// The root mount is read-only.
	rootRO := false
	for _, m := range p.Mounts {
		if m.Target == "/" {
			rootRO = m.ReadOnly
		}
	}
	if !rootRO {
		t.Errorf("root mount not read-only in %+v", p.Mounts)
	}

	// The init is pid 1 inside, its host pid outside.
	if len(p.Processes) == 0 || p.Processes[0].HostPid != p.Pid {
		t.Fatalf("processes %+v, want the init %d first", p.Processes, p.Pid)
	}
	if ns := p.Processes[0].NSpid; len(ns) != 2 || ns[0] != p.Pid || ns[1] != 1 {
		t.Errorf("init NSpid %v, want [%d 1]", ns, p.Pid)
	}

	// Network from the engine's records, with the published port.
	if v.Network == nil || v.Network.IP == "" || v.Network.HostVeth == "" || len(v.Network.Ports) != 1 {
		t.Errorf("network %+v, want an IP, a veth and one port", v.Network)
	}
	// Its nftables element, as the kernel lists it.
	if len(v.NFT) != 1 || !strings.HasPrefix(v.NFT[0].Element, "16300 : ") {
		t.Fatalf("nftElements %+v, want the element of port 16300", v.NFT)
	}
	list, err := exec.Command("nft", strings.Fields("list map "+v.NFT[0].Map)...).CombinedOutput()
	if err != nil || !strings.Contains(string(list), v.NFT[0].Element) {
		t.Errorf("nft list map %s: %s (%v); explain says element %s", v.NFT[0].Map, list, err, v.NFT[0].Element)
	}

	// The human form names the manual pages.
	text := e.ok("explain", "x")
	for _, man := range []string{"namespaces(7)", "cgroups(7)", "capabilities(7)", "mount_namespaces(7)", "seccomp(2)", "CAP_NET_BIND_SERVICE", "67108864"} {
		if !strings.Contains(text, man) {
			t.Errorf("text output lacks %q:\n%s", man, text)
		}
	}

	if msg := e.fails("explain", "nosuch"); !strings.Contains(msg, "nosuch") {
		t.Errorf("explain of a missing container: %q", msg)
	}
}

func readProcStatus(t *testing.T, proc string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(proc, "status"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, l := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out
}
