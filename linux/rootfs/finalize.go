package rootfs

import (
	"errors"
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/linux/explain"
	"github.com/kago-run/kago/linux/inroot"
	"github.com/kago-run/kago/linux/selinux"
)

// Finalize runs inside the new root after Pivot. In order: the configured
// propagation of "/", sysctls (before read-only paths, which usually cover
// /proc/sys), read-only paths, masked paths, then a read-only root. Each
// mount and write is recorded on rec (nil: explain off).
func Finalize(spec *specs.Spec, rec explain.Recorder) error {
	if spec == nil {
		return fmt.Errorf("rootfs: spec is nil")
	}
	if err := ValidateSysctl(spec); err != nil {
		return err
	}
	r, err := openRoot("/")
	if err != nil {
		return err
	}
	defer r.close()
	r.rec = rec
	if l := spec.Linux; l != nil {
		if p, err := rootPropagation(spec); err != nil {
			return err
		} else if p != 0 {
			if err := unix.Mount("", "/", "", p, ""); err != nil {
				return fmt.Errorf("set propagation %s of /: %w", l.RootfsPropagation, err)
			}
			recordMount(rec, "", "/", "", p, "")
		}
		if err := writeSysctls(rec, l.Sysctl); err != nil {
			return err
		}
		for _, p := range l.ReadonlyPaths {
			if err := r.readonlyPath(p); err != nil {
				return err
			}
		}
		for _, p := range l.MaskedPaths {
			if err := r.maskPath(p, l.MountLabel); err != nil {
				return err
			}
		}
	}
	if spec.Root != nil && spec.Root.Readonly {
		if err := r.makeReadonly("/"); err != nil {
			return fmt.Errorf("root.readonly: %w", err)
		}
	}
	return nil
}

// readonlyPath bind-mounts p onto itself and remounts the bind read-only,
// keeping its other flags. A missing path is not an error (OCI: the list is
// what to protect if present).
func (r *root) readonlyPath(p string) error {
	fd, err := r.openExisting(p, "readonly path")
	if fd < 0 || err != nil {
		return err
	}
	err = r.mountAt(procFd(fd), fd, p, "", unix.MS_BIND|unix.MS_REC, "")
	unix.Close(fd)
	if err != nil {
		return fmt.Errorf("readonly path: %w", err)
	}
	if err := r.makeReadonly(p); err != nil {
		return fmt.Errorf("readonly path: %w", err)
	}
	return nil
}

// openExisting opens p for readonlyPaths and maskedPaths, which the OCI
// spec lists as things to protect if present: a missing path gives fd -1
// and no error.
func (r *root) openExisting(p, what string) (int, error) {
	fd, err := r.OpenFd(p, unix.O_PATH, 0)
	if errors.Is(err, unix.ENOENT) {
		return -1, nil
	}
	if err != nil {
		return -1, fmt.Errorf("%s: %w", what, err)
	}
	return fd, nil
}

// maskPath hides p: /dev/null over a file, an empty read-only tmpfs (with
// the SELinux mountLabel, as runc) over a directory. A missing path is not an error.
func (r *root) maskPath(p, mountLabel string) error {
	fd, err := r.openExisting(p, "masked path")
	if fd < 0 || err != nil {
		return err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("masked path %s: %w", p, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		err = r.mountAt("tmpfs", fd, p, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, selinux.FormatMountLabel("size=0k,nr_inodes=1", mountLabel))
	} else {
		err = r.mountAt("/dev/null", fd, p, "", unix.MS_BIND, "")
	}
	if err != nil {
		return fmt.Errorf("masked path: %w", err)
	}
	return nil
}

// makeReadonly remounts the mount at p read-only and keeps its nosuid,
// nodev, noexec and atime flags: a bind remount replaces all per-mount
// flags, so they are read back with fstatfs and repeated (which a user
// namespace also requires for the flags locked on inherited mounts).
func (r *root) makeReadonly(p string) error {
	fd, err := r.openMounted(p, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", p, err)
	}
	flags := uintptr(st.Flags)&lockedFlags | unix.MS_RDONLY | unix.MS_BIND | unix.MS_REMOUNT
	return r.mountAt("", fd, p, "", flags, "")
}

// SysctlPath validates a sysctl name from linux.sysctl and returns its file
// under /proc/sys. Names use dots ("net.ipv4.ip_forward"); a name that
// could leave /proc/sys ("..", absolute, empty components) is refused.
func SysctlPath(name string) (string, error) {
	if name == "" || strings.ContainsAny(name, "\x00") {
		return "", fmt.Errorf("sysctl %q: name is empty or contains NUL", name)
	}
	if strings.Contains(name, "..") || strings.HasPrefix(name, "/") || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") {
		return "", fmt.Errorf("sysctl %q: a name must look like net.ipv4.ip_forward, without \"..\" or leading/trailing dots", name)
	}
	rel := strings.ReplaceAll(name, ".", "/")
	for _, c := range strings.Split(rel, "/") {
		if c == "" || c == "." || c == ".." {
			return "", fmt.Errorf("sysctl %q: empty or relative path component: use a name like net.ipv4.ip_forward", name)
		}
	}
	return "/proc/sys/" + rel, nil
}

// WriteSysctls writes each value to /proc/sys. Files are opened beneath
// /proc/sys without following symlinks or crossing mounts, so a name can
// only ever reach a sysctl.
func WriteSysctls(sysctl map[string]string) error { return writeSysctls(nil, sysctl) }

func writeSysctls(rec explain.Recorder, sysctl map[string]string) error {
	if len(sysctl) == 0 {
		return nil
	}
	dir, err := unix.Open("/proc/sys", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /proc/sys (is proc mounted on /proc?): %w", err)
	}
	defer unix.Close(dir)
	for _, name := range sortedKeysS(sysctl) {
		p, err := SysctlPath(name)
		if err != nil {
			return err
		}
		fd, err := inroot.Openat2(dir, strings.TrimPrefix(p, "/proc/sys/"), &unix.OpenHow{
			Flags:   unix.O_WRONLY | unix.O_CLOEXEC | unix.O_TRUNC,
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_XDEV | unix.RESOLVE_NO_MAGICLINKS,
		})
		if err != nil {
			return fmt.Errorf("sysctl %s: open %s: %w (is the sysctl namespaced and its namespace in the spec?)", name, p, err)
		}
		_, err = unix.Write(fd, []byte(sysctl[name]))
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("sysctl %s=%q: write %s: %w", name, sysctl[name], p, err)
		}
		recordSysctl(rec, p, sysctl[name])
	}
	return nil
}

func sortedKeysS(m map[string]string) []string {
	b := make(map[string]bool, len(m))
	for k := range m {
		b[k] = true
	}
	return sortedKeys(b)
}
