package rootfs

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/kago-run/kago/linux/mountinfo"

	"golang.org/x/sys/unix"
)

const cgroupRoot = "/sys/fs/cgroup"

// mountCgroup gives the container its cgroups at op.Destination.
//
// With a cgroup namespace (cgroupNS) every hierarchy is mounted afresh: the
// kernel then shows the namespace's root, the container's own cgroup, and
// no host path is needed. Without one, the container's cgroup directories
// (paths, or DefaultCgroupPaths) are bind-mounted, as runc does. On a pure
// cgroup v2 host that is one mount; on v1 or hybrid hosts a tmpfs holds one
// directory per hierarchy under the host's name, with symlinks for
// co-mounted controllers ("cpu" -> "cpu,cpuacct"). The mount's flags (ro,
// nosuid...) apply to every hierarchy.
func (r *root) mountCgroup(op Op, paths map[string]string, cgroupNS bool, extra uint64) error {
	var st unix.Statfs_t
	v2 := unix.Statfs(cgroupRoot, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
	fresh := op.Options
	fresh.Flags &^= unix.MS_BIND | unix.MS_REC | unix.MS_REMOUNT
	fresh.Data = ""
	bindMo := op.Options
	bindMo.Flags = fresh.Flags | unix.MS_BIND | unix.MS_REC
	bindMo.Data = ""
	var hier []CgroupHierarchy
	if cgroupNS || paths == nil {
		var err error
		if hier, err = ownCgroupHierarchies(); err != nil {
			return err
		}
	}
	if paths == nil && !cgroupNS {
		paths = hostPaths(hier)
	}
	if v2 {
		if p, ok := paths[""]; ok && !cgroupNS {
			return r.bind(p, op.Destination, bindMo, extra)
		}
		return r.mountFS("cgroup2", op.Destination, "cgroup2", fresh, extra)
	}
	tmpfsMo := MountOptions{Flags: fresh.Flags &^ unix.MS_RDONLY, Data: "mode=755"}
	if err := r.mountFS("tmpfs", op.Destination, "tmpfs", tmpfsMo, extra); err != nil {
		return err
	}
	if cgroupNS {
		for _, h := range hier {
			if err := checkHierarchyName(h.Key); err != nil {
				return err
			}
			mo, fstype := fresh, "cgroup"
			if h.Controllers == "" {
				fstype = "cgroup2"
			} else {
				mo.Data = h.Controllers
			}
			if err := r.mountFS(fstype, path.Join(op.Destination, h.Key), fstype, mo, extra); err != nil {
				return err
			}
			if err := r.comountLinks(op.Destination, h.Key, extra); err != nil {
				return err
			}
		}
	} else {
		keys := make([]string, 0, len(paths))
		for k := range paths {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if err := checkHierarchyName(k); err != nil {
				return err
			}
			if err := r.bind(paths[k], path.Join(op.Destination, k), bindMo, extra); err != nil {
				return err
			}
			if err := r.comountLinks(op.Destination, k, extra); err != nil {
				return err
			}
		}
	}
	if op.Options.Flags&unix.MS_RDONLY != 0 {
		return r.remountFS(op.Destination, tmpfsMo.Flags|unix.MS_RDONLY, tmpfsMo.Data)
	}
	return nil
}

func checkHierarchyName(k string) error {
	if k == "" || strings.Contains(k, "/") || k == "." || k == ".." {
		return fmt.Errorf("cgroup hierarchy name %q: want a directory name under %s such as \"memory\"", k, cgroupRoot)
	}
	return nil
}

// comountLinks adds "cpu" and "cpuacct" links to a "cpu,cpuacct" directory.
func (r *root) comountLinks(dest, hierarchy string, extra uint64) error {
	names := strings.Split(hierarchy, ",")
	if len(names) < 2 {
		return nil
	}
	dfd, err := r.MkdirAll(dest, 0o755, extra)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	for _, n := range names {
		if err := unix.Symlinkat(hierarchy, dfd, n); err != nil && err != unix.EEXIST {
			return fmt.Errorf("symlink %s/%s -> %s: %w", dest, n, hierarchy, err)
		}
	}
	return nil
}

// CgroupHierarchy is one cgroup hierarchy mounted under /sys/fs/cgroup and
// the calling process's place in it.
type CgroupHierarchy struct {
	// Key is the mount point relative to /sys/fs/cgroup ("memory",
	// "cpu,cpuacct", "unified"; "" for a v2 mount on /sys/fs/cgroup).
	Key string
	// Controllers is the middle field of /proc/self/cgroup ("memory",
	// "name=systemd"; "" for cgroup v2): the data of a fresh v1 mount.
	Controllers string
	// HostPath is the process's cgroup directory on the host, or "" when
	// the mount does not show it (the process's cgroup namespace root lies
	// outside what is mounted).
	HostPath string
}

// DefaultCgroupPaths returns, for each cgroup hierarchy mounted under
// /sys/fs/cgroup, the host path of the cgroup the calling process is in:
// the value of Options.CgroupPaths when the runtime has already moved the
// container's init into its cgroups.
func DefaultCgroupPaths() (map[string]string, error) {
	hier, err := ownCgroupHierarchies()
	if err != nil {
		return nil, err
	}
	return hostPaths(hier), nil
}

// hostPaths keeps the hierarchies whose host directory is known.
func hostPaths(hier []CgroupHierarchy) map[string]string {
	out := map[string]string{}
	for _, h := range hier {
		if h.HostPath != "" {
			out[h.Key] = h.HostPath
		}
	}
	return out
}

func ownCgroupHierarchies() ([]CgroupHierarchy, error) {
	cg, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("read own cgroups: %w", err)
	}
	defer cg.Close()
	mounts, err := mountinfo.Read()
	if err != nil {
		return nil, err
	}
	return CgroupHierarchies(cg, mounts)
}

// CgroupHierarchies matches /proc/<pid>/cgroup content (proc(5):
// "id:controllers:path") with the mount table. Hierarchies not mounted
// under /sys/fs/cgroup are left out.
func CgroupHierarchies(procCgroup io.Reader, mounts []mountinfo.Info) ([]CgroupHierarchy, error) {
	var out []CgroupHierarchy
	sc := bufio.NewScanner(procCgroup)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 || !strings.HasPrefix(f[2], "/") {
			return nil, fmt.Errorf("cgroup line %q: want id:controllers:/path", line)
		}
		for _, m := range mounts {
			if !under(m.Mountpoint, cgroupRoot) || !cgroupMountMatches(m, f[1]) {
				continue
			}
			h := CgroupHierarchy{Key: strings.TrimPrefix(strings.TrimPrefix(m.Mountpoint, cgroupRoot), "/"), Controllers: f[1]}
			// In a cgroup namespace a mount made outside it has a root
			// like "/../.."; it cannot be mapped to a path.
			if !strings.HasPrefix(m.Root, "/..") {
				if rel, ok := relUnder(path.Clean(f[2]), path.Clean(m.Root)); ok {
					h.HostPath = path.Join(m.Mountpoint, rel)
				}
			}
			out = append(out, h)
			break
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read cgroup list: %w", err)
	}
	return out, nil
}

// CgroupPaths is CgroupHierarchies reduced to hierarchy name -> host
// directory, for Options.CgroupPaths.
func CgroupPaths(procCgroup io.Reader, mounts []mountinfo.Info) (map[string]string, error) {
	hier, err := CgroupHierarchies(procCgroup, mounts)
	if err != nil {
		return nil, err
	}
	return hostPaths(hier), nil
}

// cgroupMountMatches reports whether mount m is the hierarchy named by the
// controllers field of a /proc/self/cgroup line.
func cgroupMountMatches(m mountinfo.Info, controllers string) bool {
	if controllers == "" {
		return m.FSType == "cgroup2"
	}
	if m.FSType != "cgroup" {
		return false
	}
	have := map[string]bool{}
	for _, o := range strings.Split(m.SuperOptions, ",") {
		have[o] = true
	}
	for _, c := range strings.Split(controllers, ",") {
		if !have[c] {
			return false
		}
	}
	return true
}

// relUnder returns p relative to dir when p is dir or below it.
func relUnder(p, dir string) (string, bool) {
	if dir == "/" {
		return p, true
	}
	if p == dir {
		return "/", true
	}
	if strings.HasPrefix(p, dir+"/") {
		return strings.TrimPrefix(p, dir), true
	}
	return "", false
}
