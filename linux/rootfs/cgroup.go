package rootfs

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

const cgroupRoot = "/sys/fs/cgroup"

// mountCgroup gives the container its cgroups at op.Destination.
//
// On a pure cgroup v2 host the container's cgroup directory is bind-mounted
// (a fresh cgroup2 mount is used when no path is known: inside a cgroup
// namespace that shows the namespace's root). On v1 or hybrid hosts a tmpfs
// is mounted and each hierarchy's container directory is bind-mounted in it
// under the host's name, with symlinks for co-mounted controllers
// ("cpu" -> "cpu,cpuacct"), as runc does. The mount's flags (ro, nosuid...)
// apply to every bind.
func (r *root) mountCgroup(op Op, paths map[string]string, extra uint64) error {
	if paths == nil {
		var err error
		if paths, err = DefaultCgroupPaths(); err != nil {
			return err
		}
	}
	bindMo := op.Options
	bindMo.Flags = op.Options.Flags&^(unix.MS_REMOUNT) | unix.MS_BIND | unix.MS_REC
	bindMo.Data = ""
	var st unix.Statfs_t
	if err := unix.Statfs(cgroupRoot, &st); err == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		if p, ok := paths[""]; ok {
			return r.bind(p, op.Destination, bindMo, extra)
		}
		return r.mountFS("cgroup2", op.Destination, "cgroup2", op.Options, extra)
	}
	tmpfsMo := MountOptions{Flags: op.Options.Flags &^ (unix.MS_RDONLY | unix.MS_BIND | unix.MS_REC), Data: "mode=755"}
	if err := r.mountFS("tmpfs", op.Destination, "tmpfs", tmpfsMo, extra); err != nil {
		return err
	}
	keys := make([]string, 0, len(paths))
	for k := range paths {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "" || strings.Contains(k, "/") || k == "." || k == ".." {
			return fmt.Errorf("cgroup hierarchy name %q: want a directory name under %s such as \"memory\"", k, cgroupRoot)
		}
		if err := r.bind(paths[k], path.Join(op.Destination, k), bindMo, extra); err != nil {
			return err
		}
		if err := r.comountLinks(op.Destination, k, extra); err != nil {
			return err
		}
	}
	if op.Options.Flags&unix.MS_RDONLY != 0 {
		return r.remountFS(op.Destination, tmpfsMo.Flags|unix.MS_RDONLY, tmpfsMo.Data)
	}
	return nil
}

// comountLinks adds "cpu" and "cpuacct" links to a "cpu,cpuacct" directory.
func (r *root) comountLinks(dest, hierarchy string, extra uint64) error {
	names := strings.Split(hierarchy, ",")
	if len(names) < 2 {
		return nil
	}
	dfd, err := r.mkdirAll(dest, 0o755, extra)
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

// DefaultCgroupPaths returns, for each cgroup hierarchy mounted under
// /sys/fs/cgroup, the host path of the cgroup the calling process is in:
// the value of Options.CgroupPaths when the runtime has already moved the
// container's init into its cgroups.
func DefaultCgroupPaths() (map[string]string, error) {
	cg, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("read own cgroups: %w", err)
	}
	defer cg.Close()
	mounts, err := readMountinfo()
	if err != nil {
		return nil, err
	}
	return CgroupPaths(cg, mounts)
}

// CgroupPaths maps /proc/<pid>/cgroup content (proc(5): "id:controllers:path")
// and the mount table to hierarchy name -> host directory. Hierarchies not
// mounted under /sys/fs/cgroup are left out.
func CgroupPaths(procCgroup io.Reader, mounts []MountInfo) (map[string]string, error) {
	out := map[string]string{}
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
			rel, ok := relUnder(path.Clean(f[2]), path.Clean(m.Root))
			if !ok {
				continue // this mount shows another part of the hierarchy
			}
			out[strings.TrimPrefix(strings.TrimPrefix(m.Mountpoint, cgroupRoot), "/")] = path.Join(m.Mountpoint, rel)
			break
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read cgroup list: %w", err)
	}
	return out, nil
}

// cgroupMountMatches reports whether mount m is the hierarchy named by the
// controllers field of a /proc/self/cgroup line.
func cgroupMountMatches(m MountInfo, controllers string) bool {
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
