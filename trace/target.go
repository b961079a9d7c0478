package trace

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// filter is how the kernel side recognises the container's tasks.
type filter struct {
	cgroupDir string // cgroup2 directory of the container; "" when pidns is used
	pidns     uint32 // inode of the container's pid namespace
}

// cgroup2Roots are where a cgroup2 tree is mounted: the whole tree on a pure
// v2 host, the unified tree beside the v1 controllers on a hybrid host.
var cgroup2Roots = []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}

// filterFor picks the filter for the container whose init has host pid pid:
// its own cgroup2 cgroup when it has one, else its pid namespace.
func filterFor(pid int) (filter, error) {
	var ns unix.Stat_t
	if err := unix.Stat(fmt.Sprintf("/proc/%d/ns/pid", pid), &ns); err != nil {
		return filter{}, fmt.Errorf("read the pid namespace of process %d: %w", pid, err)
	}
	f := filter{pidns: uint32(ns.Ino)}
	var self unix.Stat_t
	if err := unix.Stat("/proc/self/ns/pid", &self); err == nil && self.Ino == ns.Ino {
		// A container sharing the host's pid namespace can only be told
		// apart by its cgroup.
		f.pidns = 0
	}
	rel, err := cgroup2Path(pid)
	if err != nil {
		return filter{}, err
	}
	selfRel, _ := cgroup2Path(os.Getpid())
	if rel != "" && rel != "/" && rel != selfRel {
		for _, root := range cgroup2Roots {
			var st unix.Statfs_t
			if unix.Statfs(root, &st) != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
				continue
			}
			dir := filepath.Join(root, rel)
			if _, err := os.Stat(dir); err == nil {
				f.cgroupDir = dir
				return f, nil
			}
		}
	}
	if f.pidns == 0 {
		return filter{}, fmt.Errorf("process %d has neither a cgroup2 cgroup nor a pid namespace of its own: nothing tells its events from the host's", pid)
	}
	return f, nil
}

// cgroup2Path is the "0::" line of /proc/PID/cgroup: the process's cgroup in
// the cgroup2 tree, "" if there is none.
func cgroup2Path(pid int) (string, error) {
	fh, err := os.Open(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return "", fmt.Errorf("read the cgroups of process %d: %w", pid, err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "0::"); ok {
			return p, nil
		}
	}
	return "", sc.Err()
}
