package cgroups

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kago-run/kago/linux/mountinfo"

	"golang.org/x/sys/unix"
)

// The three host layouts Mode reports.
const (
	ModeV2     = "v2"
	ModeV1     = "v1"
	ModeHybrid = "hybrid"
)

// defaultRoot is where distributions mount cgroup filesystems.
const defaultRoot = "/sys/fs/cgroup"

// Mode reports the host's cgroup layout from the filesystem type of
// /sys/fs/cgroup (cgroup2 means v2) and of /sys/fs/cgroup/unified (cgroup2
// beside v1 trees means hybrid). The filesystem magic is the same test systemd
// and runc use; it cannot be fooled by a directory that merely looks right.
func Mode() (string, error) {
	return modeAt(defaultRoot)
}

func modeAt(root string) (string, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil {
		return "", fmt.Errorf("statfs %s: %w (is a cgroup filesystem mounted there?)", root, err)
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		return ModeV2, nil
	}
	if err := unix.Statfs(filepath.Join(root, "unified"), &st); err == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return ModeHybrid, nil
	}
	return ModeV1, nil
}

// procCgroup is one line of /proc/<pid>/cgroup: "id:controllers:path".
type procCgroup struct {
	ID          int
	Controllers []string // empty for the cgroup2 line "0::/path"
	Path        string
}

// parseProcCgroup parses /proc/<pid>/cgroup. It rejects malformed lines rather
// than guessing, because a wrong path here would put a container in the wrong
// cgroup.
func parseProcCgroup(data []byte) ([]procCgroup, error) {
	var out []procCgroup
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" {
			continue
		}
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			return nil, fmt.Errorf("/proc/self/cgroup line %d %q: want id:controllers:path", n, line)
		}
		id, err := strconv.Atoi(parts[0])
		if err != nil || id < 0 {
			return nil, fmt.Errorf("/proc/self/cgroup line %d %q: bad hierarchy id", n, line)
		}
		if !strings.HasPrefix(parts[2], "/") {
			return nil, fmt.Errorf("/proc/self/cgroup line %d %q: path is not absolute", n, line)
		}
		pc := procCgroup{ID: id, Path: parts[2]}
		if parts[1] != "" {
			pc.Controllers = strings.Split(parts[1], ",")
		}
		out = append(out, pc)
	}
	return out, sc.Err()
}

// mountInfo is the part of a /proc/self/mountinfo line this package needs.
type mountInfo struct {
	Root       string // the path inside the filesystem that is mounted
	Mountpoint string
	FSType     string
	SuperOpts  []string
}

// parseMountInfo parses /proc/<pid>/mountinfo into what this package needs.
func parseMountInfo(data []byte) ([]mountInfo, error) {
	mounts, err := mountinfo.Parse(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	out := make([]mountInfo, 0, len(mounts))
	for _, m := range mounts {
		mi := mountInfo{Root: m.Root, Mountpoint: m.Mountpoint, FSType: m.FSType}
		if m.SuperOptions != "" {
			mi.SuperOpts = strings.Split(m.SuperOptions, ",")
		}
		out = append(out, mi)
	}
	return out, nil
}

// hierarchy is one mounted cgroup tree as seen by this process.
type hierarchy struct {
	Controllers []string // v1 controllers, or "name=systemd"; nil for cgroup2
	Mountpoint  string
	Root        string // mountinfo root: the cgroup mounted at Mountpoint
	Self        string // this process's cgroup in the tree (from /proc/self/cgroup)
}

// dir maps a cgroup path (as in /proc/self/cgroup) to a directory below the
// mount. When the mount shows only a subtree (Root != "/", e.g. a bind mount),
// paths inside that subtree are made relative to it.
func (h hierarchy) dir(cgPath string) string {
	if h.Root != "/" && (cgPath == h.Root || strings.HasPrefix(cgPath, h.Root+"/")) {
		cgPath = strings.TrimPrefix(cgPath, h.Root)
	}
	return filepath.Join(h.Mountpoint, cgPath)
}

// layout is every cgroup tree mounted on the host, with this process's place in
// each.
type layout struct {
	Mode    string
	V1      []hierarchy
	Unified *hierarchy
}

// readLayout reads /proc/self/cgroup and /proc/self/mountinfo. It does not write.
func readLayout() (*layout, error) {
	mode, err := Mode()
	if err != nil {
		return nil, err
	}
	cg, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("read own cgroups: %w", err)
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read own mounts: %w", err)
	}
	return buildLayout(mode, cg, mi)
}

// buildLayout matches each hierarchy in /proc/self/cgroup with its mount.
// Hierarchies that are not mounted are left out: nothing can be written there.
func buildLayout(mode string, procCg, mountinfo []byte) (*layout, error) {
	groups, err := parseProcCgroup(procCg)
	if err != nil {
		return nil, err
	}
	mounts, err := parseMountInfo(mountinfo)
	if err != nil {
		return nil, err
	}
	l := &layout{Mode: mode}
	for _, g := range groups {
		if len(g.Controllers) == 0 {
			if mode == ModeV1 {
				continue
			}
			m := findMount(mounts, "cgroup2", nil, mode)
			if m == nil {
				return nil, fmt.Errorf("no cgroup2 mount found in /proc/self/mountinfo for %s mode", mode)
			}
			l.Unified = &hierarchy{Mountpoint: m.Mountpoint, Root: m.Root, Self: g.Path}
			continue
		}
		if mode == ModeV2 {
			continue
		}
		if m := findMount(mounts, "cgroup", g.Controllers, mode); m != nil {
			l.V1 = append(l.V1, hierarchy{Controllers: g.Controllers, Mountpoint: m.Mountpoint, Root: m.Root, Self: g.Path})
		}
	}
	if mode == ModeV2 && l.Unified == nil {
		return nil, errors.New("cgroup v2 host but /proc/self/cgroup has no 0::/ line")
	}
	if mode != ModeV2 && len(l.V1) == 0 {
		return nil, errors.New("cgroup v1 host but no v1 hierarchy is mounted")
	}
	return l, nil
}

// findMount returns the first mount of fstype whose super options list every
// controller. For cgroup2 on a hybrid host it prefers /sys/fs/cgroup/unified.
func findMount(mounts []mountInfo, fstype string, controllers []string, mode string) *mountInfo {
	var found *mountInfo
	for i := range mounts {
		m := &mounts[i]
		if m.FSType != fstype {
			continue
		}
		ok := true
		for _, c := range controllers {
			if !contains(m.SuperOpts, c) {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		if fstype == "cgroup2" && mode == ModeHybrid && m.Mountpoint != filepath.Join(defaultRoot, "unified") {
			if found == nil {
				found = m
			}
			continue
		}
		return m
	}
	return found
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
