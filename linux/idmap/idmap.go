// Package idmap makes id-mapped bind mounts (runtime-spec 1.2 mounts[].uidMappings,
// gidMappings and the idmap/ridmap options) with the kernel's new mount API:
// open_tree(OPEN_TREE_CLONE) detaches a copy of the source, and
// mount_setattr(MOUNT_ATTR_IDMAP) gives it the mapping of a user namespace, so
// a file owned by uid K on disk shows, through the mount, as the uid that K
// maps to (the mapping's containerID K becomes hostID). linux/rootfs then
// attaches the copy inside the container with move_mount.
//
// The copy is made by the runtime in the host's namespaces: the kernel only
// idmaps a mount for a caller with CAP_SYS_ADMIN over the filesystem's
// superblock, which a container's root in its own user namespace lacks. The
// user namespace that carries a mapping is the container's own, or one made
// for the mount by a helper process stopped before it runs any code (as runc
// does: the namespace lives on in the file descriptor).
package idmap

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Mount is one id-mapped mount of a spec.
type Mount struct {
	Index     int    // in spec.Mounts
	Source    string // absolute host path
	Recursive bool   // rbind: clone the submounts too
	// RecursiveMap ("ridmap") maps the submounts as well, not only the top.
	RecursiveMap bool
	// UIDMappings and GIDMappings are the mount's own; both empty means the
	// container's user namespace ("idmap" without mappings).
	UIDMappings, GIDMappings []specs.LinuxIDMapping
}

// Mounts finds the id-mapped mounts of spec and checks them as runc does:
// bind mounts only, uid and gid mappings together, and the idmap/ridmap
// options without mappings only in a container with a user namespace.
// Relative bind sources are taken from bundle.
func Mounts(spec *specs.Spec, bundle string) ([]Mount, error) {
	var out []Mount
	userns := false
	if spec.Linux != nil {
		for _, ns := range spec.Linux.Namespaces {
			userns = userns || ns.Type == specs.UserNamespace
		}
	}
	for i, m := range spec.Mounts {
		opt, bind, rec := "", m.Type == "bind", false
		for _, o := range m.Options {
			switch o {
			case "idmap", "ridmap":
				opt = o
			case "bind":
				bind = true
			case "rbind":
				bind, rec = true, true
			}
		}
		hasMaps := len(m.UIDMappings) > 0 || len(m.GIDMappings) > 0
		if opt == "" && !hasMaps {
			continue
		}
		where := fmt.Sprintf("mounts[%d] (destination %q)", i, m.Destination)
		if !bind {
			return nil, fmt.Errorf("%s: id-mapped mounts are only supported for bind mounts: add \"rbind\" or remove the id mapping", where)
		}
		if hasMaps && (len(m.UIDMappings) == 0 || len(m.GIDMappings) == 0) {
			return nil, fmt.Errorf("%s: an id-mapped mount needs both uidMappings and gidMappings", where)
		}
		if !hasMaps && !userns {
			return nil, fmt.Errorf("%s: option %q without uidMappings/gidMappings uses the container's user namespace, and there is none: add the mappings to the mount", where, opt)
		}
		for _, maps := range [][]specs.LinuxIDMapping{m.UIDMappings, m.GIDMappings} {
			for _, mp := range maps {
				if mp.Size == 0 || uint64(mp.ContainerID)+uint64(mp.Size) > 1<<32 || uint64(mp.HostID)+uint64(mp.Size) > 1<<32 {
					return nil, fmt.Errorf("%s: id mapping %d:%d:%d is empty or overflows 32 bits", where, mp.ContainerID, mp.HostID, mp.Size)
				}
			}
		}
		if os.Geteuid() != 0 {
			return nil, fmt.Errorf("%s: id-mapped mounts need root on the host: remove the id mapping for a rootless container", where)
		}
		src := m.Source
		if !filepath.IsAbs(src) {
			src = filepath.Join(bundle, src)
		}
		out = append(out, Mount{
			Index: i, Source: src, Recursive: rec, RecursiveMap: opt == "ridmap",
			UIDMappings: m.UIDMappings, GIDMappings: m.GIDMappings,
		})
	}
	return out, nil
}

// Supported reports whether the kernel has mount_setattr(2), which came
// with MOUNT_ATTR_IDMAP in Linux 5.12 (each filesystem must also allow it).
func Supported() bool {
	err := unix.MountSetattr(-1, "", 0, &unix.MountAttr{})
	return !errors.Is(err, unix.ENOSYS)
}

// Prepare makes the detached, id-mapped copies of mounts. containerUserns
// is the container's user namespace file, for mounts without mappings of
// their own. The caller closes the files.
func Prepare(mounts []Mount, containerUserns string) ([]*os.File, error) {
	var trees []*os.File
	fail := func(err error) ([]*os.File, error) {
		for _, t := range trees {
			t.Close()
		}
		return nil, err
	}
	for _, m := range mounts {
		ns, err := usernsFor(m, containerUserns)
		if err != nil {
			return fail(err)
		}
		tree, err := clone(m, ns)
		ns.Close()
		if err != nil {
			return fail(err)
		}
		trees = append(trees, tree)
	}
	return trees, nil
}

func usernsFor(m Mount, containerUserns string) (*os.File, error) {
	if len(m.UIDMappings) == 0 {
		f, err := os.Open(containerUserns)
		if err != nil {
			return nil, fmt.Errorf("mounts[%d]: open the container's user namespace: %w", m.Index, err)
		}
		return f, nil
	}
	f, err := NewUserns(m.UIDMappings, m.GIDMappings)
	if err != nil {
		return nil, fmt.Errorf("mounts[%d]: %w", m.Index, err)
	}
	return f, nil
}

// clone detaches a copy of m.Source and applies the mapping of ns to it.
func clone(m Mount, ns *os.File) (*os.File, error) {
	flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
	if m.Recursive {
		flags |= unix.AT_RECURSIVE
	}
	fd, err := unix.OpenTree(unix.AT_FDCWD, m.Source, flags)
	if err != nil {
		return nil, fmt.Errorf("mounts[%d]: open_tree(OPEN_TREE_CLONE) %s: %w", m.Index, m.Source, err)
	}
	tree := os.NewFile(uintptr(fd), m.Source)
	setFlags := uint(unix.AT_EMPTY_PATH)
	if m.RecursiveMap {
		setFlags |= unix.AT_RECURSIVE
	}
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(ns.Fd())}
	if err := unix.MountSetattr(fd, "", setFlags, attr); err != nil {
		tree.Close()
		hint := ""
		if errors.Is(err, unix.EINVAL) {
			hint = " (the filesystem of the source may not support id-mapped mounts on this kernel)"
		}
		return nil, fmt.Errorf("mounts[%d]: mount_setattr(MOUNT_ATTR_IDMAP) on %s: %w%s", m.Index, m.Source, err, hint)
	}
	return tree, nil
}

// NewUserns returns a user namespace with the given mappings, held by its
// file. A helper (this binary, traced so the kernel stops it at execve,
// before it runs anything) is made in a new user namespace with the
// mappings; its namespace file is opened, then the helper is killed.
func NewUserns(uid, gid []specs.LinuxIDMapping) (*os.File, error) {
	proc, err := os.StartProcess("/proc/self/exe", []string{"kago-idmap-userns"}, &os.ProcAttr{
		Sys: &syscall.SysProcAttr{
			Cloneflags:  unix.CLONE_NEWUSER,
			UidMappings: SysMappings(uid),
			GidMappings: SysMappings(gid),
			Ptrace:      true,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("make a user namespace for the id mapping: %w", err)
	}
	defer func() {
		proc.Kill()
		proc.Wait()
	}()
	f, err := os.Open(fmt.Sprintf("/proc/%d/ns/user", proc.Pid))
	if err != nil {
		return nil, fmt.Errorf("open the id mapping's user namespace: %w", err)
	}
	return f, nil
}

// SysMappings converts OCI id mappings for os/exec's SysProcAttr.
func SysMappings(m []specs.LinuxIDMapping) []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, len(m))
	for i, x := range m {
		out[i] = syscall.SysProcIDMap{ContainerID: int(x.ContainerID), HostID: int(x.HostID), Size: int(x.Size)}
	}
	return out
}
