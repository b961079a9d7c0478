package explain

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/kago-run/kago/linux/caps"
	"github.com/kago-run/kago/linux/mountinfo"
)

// Manual pages each part of a Report points to.
const (
	ManNamespaces = "namespaces(7)"
	ManCgroups    = "cgroups(7)"
	ManMounts     = "mount_namespaces(7)"
	ManCaps       = "capabilities(7)"
	ManSeccomp    = "seccomp(2)"
	ManUserNS     = "user_namespaces(7)"
	ManPidNS      = "pid_namespaces(7)"
	ManNetwork    = "network_namespaces(7)"
)

// Report is what a running container's init process is made of, as the
// kernel reports it under /proc and in the cgroup files.
type Report struct {
	Pid        int         `json:"pid"`
	Namespaces []Namespace `json:"namespaces"`
	Cgroups    []Cgroup    `json:"cgroups"`
	Mounts     []Mount     `json:"mounts"`
	Caps       Caps        `json:"capabilities"`
	NoNewPrivs bool        `json:"noNewPrivs"`
	Seccomp    string      `json:"seccomp"` // disabled, strict or filter
	User       User        `json:"user"`
	Processes  []Process   `json:"processes"`
}

// Namespace is one of /proc/PID/ns/*: its inode, and whether the host's
// (pid 1's) namespace of that type is the same one.
type Namespace struct {
	Type      string `json:"type"`
	Inode     uint64 `json:"inode"`
	HostInode uint64 `json:"hostInode"`
	Shared    bool   `json:"sharedWithHost"`
}

// Cgroup is one line of /proc/PID/cgroup placed in the host's cgroup
// mounts, with the limit and usage files found in its directory.
type Cgroup struct {
	Version     int               `json:"version"` // 1 or 2
	Controllers string            `json:"controllers,omitempty"`
	Path        string            `json:"path"` // inside the hierarchy
	Dir         string            `json:"dir"`  // on the host
	Files       map[string]string `json:"files,omitempty"`
}

// Mount is one line of /proc/PID/mountinfo.
type Mount struct {
	Target   string `json:"target"`
	Source   string `json:"source"`
	FSType   string `json:"fstype"`
	Options  string `json:"options"`
	ReadOnly bool   `json:"readOnly"`
}

// Caps are the capability sets from /proc/PID/status, by name.
type Caps struct {
	Effective   []string `json:"effective"`
	Permitted   []string `json:"permitted"`
	Bounding    []string `json:"bounding"`
	Inheritable []string `json:"inheritable"`
	Ambient     []string `json:"ambient"`
}

// User is who the process is, and the user namespace maps ("0 0 4294967295"
// is the host's identity map).
type User struct {
	Uid    string   `json:"uid"` // real effective saved fs, as /proc shows
	Gid    string   `json:"gid"`
	Groups string   `json:"groups"`
	UIDMap []string `json:"uidMap"`
	GIDMap []string `json:"gidMap"`
}

// Process is one process of the container: its host pid and its pid in
// each nested pid namespace (NSpid, the last is what the container sees).
type Process struct {
	HostPid int    `json:"hostPid"`
	NSpid   []int  `json:"nspid"`
	PPid    int    `json:"ppid"`
	Command string `json:"command"`
}

// nsTypes are the namespace types /proc/PID/ns may hold, in clone order.
var nsTypes = []string{"user", "mnt", "pid", "net", "uts", "ipc", "cgroup", "time"}

// cgroupFiles are the limit and usage files shown when present.
var cgroupFiles = []string{
	"memory.max", "memory.current", "memory.swap.max", "pids.max", "pids.current", "cpu.max", "cpu.weight", "cpuset.cpus",
	"memory.limit_in_bytes", "memory.usage_in_bytes", "cpu.cfs_quota_us", "cpu.cfs_period_us", "cpu.shares",
}

// Inspect reads what process pid is made of. pids lists the container's
// processes (its cgroup's members) for the process tree; pid alone if nil.
func Inspect(pid int, pids []int) (*Report, error) {
	proc := fmt.Sprintf("/proc/%d", pid)
	status, err := readStatus(proc)
	if err != nil {
		return nil, fmt.Errorf("read process %d: %w: is the container running?", pid, err)
	}
	r := &Report{Pid: pid}
	for _, t := range nsTypes {
		ino, err := nsInode(filepath.Join(proc, "ns", t))
		if err != nil {
			continue // a kernel without this namespace type
		}
		host, _ := nsInode(filepath.Join("/proc/1/ns", t))
		r.Namespaces = append(r.Namespaces, Namespace{Type: t, Inode: ino, HostInode: host, Shared: ino == host})
	}
	if r.Cgroups, err = readCgroups(proc); err != nil {
		return nil, err
	}
	if r.Mounts, err = readMounts(proc); err != nil {
		return nil, err
	}
	set := func(key string) []string {
		v, _ := strconv.ParseUint(status[key], 16, 64)
		return caps.Names(v)
	}
	r.Caps = Caps{Effective: set("CapEff"), Permitted: set("CapPrm"), Bounding: set("CapBnd"),
		Inheritable: set("CapInh"), Ambient: set("CapAmb")}
	r.NoNewPrivs = status["NoNewPrivs"] == "1"
	r.Seccomp = map[string]string{"0": "disabled", "1": "strict", "2": "filter"}[status["Seccomp"]]
	r.User = User{Uid: status["Uid"], Gid: status["Gid"], Groups: status["Groups"],
		UIDMap: readLines(filepath.Join(proc, "uid_map")), GIDMap: readLines(filepath.Join(proc, "gid_map"))}
	if len(pids) == 0 {
		pids = []int{pid}
	}
	sort.Ints(pids)
	for _, p := range pids {
		st, err := readStatus(fmt.Sprintf("/proc/%d", p))
		if err != nil {
			continue // exited since the cgroup was listed
		}
		pr := Process{HostPid: p, Command: st["Name"]}
		pr.PPid, _ = strconv.Atoi(st["PPid"])
		pr.NSpid = nspid(st)
		if cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p)); err == nil && len(cmd) > 0 {
			pr.Command = strings.TrimSpace(strings.ReplaceAll(string(cmd), "\x00", " "))
		}
		r.Processes = append(r.Processes, pr)
	}
	return r, nil
}

// NSpid is process pid's pid in each nested pid namespace, the host's
// first and its own last (NSpid in /proc/PID/status); nil if unreadable.
func NSpid(pid int) []int {
	st, err := readStatus(fmt.Sprintf("/proc/%d", pid))
	if err != nil {
		return nil
	}
	return nspid(st)
}

func nspid(status map[string]string) []int {
	var out []int
	for _, f := range strings.Fields(status["NSpid"]) {
		n, _ := strconv.Atoi(f)
		out = append(out, n)
	}
	return out
}

// readStatus parses /proc/PID/status into key -> value (tabs trimmed).
func readStatus(proc string) (map[string]string, error) {
	f, err := os.Open(filepath.Join(proc, "status"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok {
			out[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	return out, sc.Err()
}

// nsInode is the inode of a namespace link: "net:[4026531840]".
func nsInode(link string) (uint64, error) {
	target, err := os.Readlink(link)
	if err != nil {
		return 0, err
	}
	i, j := strings.IndexByte(target, '['), strings.IndexByte(target, ']')
	if i < 0 || j < i {
		return 0, fmt.Errorf("namespace link %s is %q, not type:[inode]", link, target)
	}
	return strconv.ParseUint(target[i+1:j], 10, 64)
}

func readLines(path string) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if l = strings.Join(strings.Fields(l), " "); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// readCgroups places each line of /proc/PID/cgroup in the host's cgroup
// mounts (from our own mountinfo: the host's view) and reads its files.
func readCgroups(proc string) ([]Cgroup, error) {
	mounts, err := mountinfo.Read()
	if err != nil {
		return nil, fmt.Errorf("read host mounts: %w", err)
	}
	var out []Cgroup
	for _, line := range readLines(filepath.Join(proc, "cgroup")) {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		cg := Cgroup{Version: 1, Controllers: parts[1], Path: parts[2]}
		if parts[0] == "0" && parts[1] == "" {
			cg.Version = 2
		}
		for _, m := range mounts {
			if !cgroupMountFor(m, cg) {
				continue
			}
			rel, ok := strings.CutPrefix(cg.Path, m.Root)
			if !ok {
				continue
			}
			cg.Dir = filepath.Join(m.Mountpoint, rel)
			break
		}
		if cg.Dir != "" {
			for _, name := range cgroupFiles {
				if data, err := os.ReadFile(filepath.Join(cg.Dir, name)); err == nil {
					if cg.Files == nil {
						cg.Files = map[string]string{}
					}
					cg.Files[name] = strings.TrimSpace(string(data))
				}
			}
		}
		out = append(out, cg)
	}
	return out, nil
}

func cgroupMountFor(m mountinfo.Info, cg Cgroup) bool {
	if cg.Version == 2 {
		return m.FSType == "cgroup2"
	}
	if m.FSType != "cgroup" {
		return false
	}
	opts := "," + m.SuperOptions + ","
	for _, c := range strings.Split(cg.Controllers, ",") {
		if !strings.Contains(opts, ","+c+",") {
			return false
		}
	}
	return true
}

func readMounts(proc string) ([]Mount, error) {
	f, err := os.Open(filepath.Join(proc, "mountinfo"))
	if err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}
	defer f.Close()
	infos, err := mountinfo.Parse(f)
	if err != nil {
		return nil, err
	}
	out := make([]Mount, 0, len(infos))
	for _, m := range infos {
		ro := strings.HasPrefix(m.Options, "ro,") || m.Options == "ro"
		out = append(out, Mount{Target: m.Mountpoint, Source: m.Source, FSType: m.FSType, Options: m.Options, ReadOnly: ro})
	}
	return out, nil
}
