package rootfs

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/kago-run/kago/linux/explain"
	"github.com/kago-run/kago/linux/mountinfo"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Options are the runtime's choices that are not in config.json.
type Options struct {
	// NoPivot uses MS_MOVE + chroot instead of pivot_root (runc
	// --no-pivot), for roots such as a ramfs where pivot_root fails.
	NoPivot bool
	// UserNS is set when running in a new user namespace: device nodes are
	// bind-mounted from the host instead of mknod'ed.
	UserNS bool
	// Trees are detached mount trees to attach instead of binding the
	// source, by index in spec.Mounts: the id-mapped mounts linux/idmap
	// made. Every id-mapped mount must have one.
	Trees map[int]*os.File
	// ConsolePath, when set, is a pty slave bind-mounted on /dev/console.
	ConsolePath string
	// CgroupPaths maps a cgroup hierarchy, named by its mount point relative
	// to /sys/fs/cgroup on the host ("memory", "cpu,cpuacct", "systemd",
	// "unified"; "" on a pure cgroup v2 host), to the host path of the
	// container's cgroup in it. Nil means DefaultCgroupPaths(): the cgroups
	// the calling process is in.
	CgroupPaths map[string]string
	// Explain, if not nil, receives each mount made and device created.
	Explain explain.Recorder

	cgroupNS bool // the spec has a cgroup namespace: mount hierarchies afresh
}

// Prepare builds the container's filesystem view under rootfs while the
// host's mounts are still visible (the current directory is the bundle, so
// relative bind sources work). It must run in the container's own mount
// namespace: every mount it makes would otherwise be the host's.
func Prepare(spec *specs.Spec, rootfs string, opts Options) error {
	ops, err := Plan(spec)
	if err != nil {
		return err
	}
	if spec.Linux != nil {
		for _, ns := range spec.Linux.Namespaces {
			opts.cgroupNS = opts.cgroupNS || ns.Type == specs.CgroupNamespace
		}
	}
	// As runc: the host's tree as the container's namespace copied it gets
	// the configured propagation (default rslave, so nothing done here
	// reaches the host); the rootfs's parent mount is then made private so
	// that the rootfs mounts themselves never propagate.
	rootProp, err := rootPropagation(spec)
	if err != nil {
		return err
	}
	if rootProp == 0 {
		rootProp = unix.MS_SLAVE | unix.MS_REC
	}
	abs, err := filepath.Abs(rootfs)
	if err != nil {
		return fmt.Errorf("rootfs %s: %w", rootfs, err)
	}
	if abs, err = filepath.EvalSymlinks(abs); err != nil {
		return fmt.Errorf("rootfs %s: %w", rootfs, err)
	}
	if err := unix.Mount("", "/", "", rootProp, ""); err != nil {
		return fmt.Errorf("make / %#x in the container's mount namespace: %w", rootProp, err)
	}
	recordMount(opts.Explain, "", "/", "", rootProp, "") // the host's tree, as the new namespace copied it
	if err := makeParentPrivate(abs); err != nil {
		return err
	}
	// A bind mount of the rootfs onto itself makes it a mount point, which
	// pivot_root(2) requires, and the root of the container's mount tree.
	if err := unix.Mount(abs, abs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind rootfs %s onto itself: %w", abs, err)
	}
	recordMount(opts.Explain, abs, abs, "", unix.MS_BIND|unix.MS_REC, "")
	r, err := openRoot(abs)
	if err != nil {
		return err
	}
	r.rec = opts.Explain
	defer r.close()

	var devRO *Op
	devBind, haveShm := false, false
	for i := range ops {
		op := ops[i]
		switch op.Destination {
		case "/dev":
			devBind = op.Kind == KindBind
			// Devices are created below: mount /dev writable, remount later.
			if op.Kind == KindFS && op.Options.Flags&unix.MS_RDONLY != 0 {
				devRO = &ops[i]
				op.Options.Flags &^= unix.MS_RDONLY
			}
		case "/dev/shm":
			haveShm = true
		}
		if err := r.apply(op, opts.Trees[i], opts); err != nil {
			return fmt.Errorf("mount %s: %w", op.Destination, err)
		}
	}
	// As runc: when /dev is a bind mount (say the host's /dev for a
	// privileged container) it is used as is; nothing may be created in
	// it, since that would write into the host's directory. Otherwise /dev
	// (a tmpfs from the spec, or the image's own) gets the nodes and links.
	if !devBind {
		if err := r.setupDev(spec, opts, haveShm); err != nil {
			return err
		}
	} else if opts.ConsolePath != "" {
		if err := r.bindConsole(opts.ConsolePath); err != nil {
			return err
		}
	}
	if devRO != nil {
		if err := r.remountFS("/dev", devRO.Options.Flags, devRO.Options.Data); err != nil {
			return fmt.Errorf("make /dev read-only: %w", err)
		}
	}
	return nil
}

// rootPropagation parses linux.rootfsPropagation; 0 when unset.
func rootPropagation(spec *specs.Spec) (uintptr, error) {
	if spec.Linux == nil || spec.Linux.RootfsPropagation == "" {
		return 0, nil
	}
	p, ok := propagationOptions[spec.Linux.RootfsPropagation]
	if !ok {
		return 0, fmt.Errorf("linux.rootfsPropagation %q: use one of shared, slave, private, unbindable (optionally with an r prefix)", spec.Linux.RootfsPropagation)
	}
	return p, nil
}

func (r *root) apply(op Op, tree *os.File, opts Options) error {
	var extra uint64
	if op.NoSymlinks {
		extra = unix.RESOLVE_NO_SYMLINKS
	}
	switch {
	case tree != nil:
		return r.attachTree(tree, op.Destination, op.Options, extra)
	case op.IDMapped:
		return fmt.Errorf("id-mapped mount of %s was not prepared by the runtime", op.Source)
	}
	switch op.Kind {
	case KindBind:
		return r.bind(op.Source, op.Destination, op.Options, extra)
	case KindCgroup:
		return r.mountCgroup(op, opts.CgroupPaths, opts.cgroupNS, extra)
	}
	err := r.mountFS(op.Source, op.Destination, op.Type, op.Options, extra)
	if err != nil && op.Type == "sysfs" && opts.UserNS {
		// Without its own network namespace a user namespace may not mount
		// sysfs; runc falls back to a recursive bind of the host's /sys.
		mo := op.Options
		mo.Flags |= unix.MS_BIND | unix.MS_REC
		if mo.Flags&unix.MS_RDONLY != 0 {
			// The bind carries the host's submounts (/sys/fs/cgroup...):
			// make all of them read-only, not only the top.
			rec := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
			if mo.RecAttr != nil {
				rec = *mo.RecAttr
				rec.Attr_set |= unix.MOUNT_ATTR_RDONLY
			}
			mo.RecAttr = &rec
		}
		berr := r.bind("/sys", op.Destination, mo, extra)
		if berr == nil {
			return nil
		}
		return fmt.Errorf("%w; falling back to a bind of /sys: %v", err, berr)
	}
	return err
}

// makeParentPrivate makes the mount holding the rootfs directory private
// if it is shared or unbindable: pivot_root(2) refuses a new root whose
// parent mount is shared, a shared parent would propagate the bind mount to
// the host, and an unbindable one (rootfsPropagation "unbindable") refuses
// the bind. Finalize gives the container's / its propagation afterwards.
func makeParentPrivate(rootfs string) error {
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, filepath.Dir(rootfs), 0, unix.STATX_MNT_ID, &st); err != nil {
		return fmt.Errorf("statx %s: %w", filepath.Dir(rootfs), err)
	}
	mounts, err := mountinfo.Read()
	if err != nil {
		return err
	}
	for _, m := range mounts {
		if uint64(m.ID) == st.Mnt_id && (m.Shared() || slices.Contains(m.Optional, "unbindable")) {
			if err := unix.Mount("", m.Mountpoint, "", unix.MS_PRIVATE, ""); err != nil {
				return fmt.Errorf("make %s private (parent mount of rootfs): %w", m.Mountpoint, err)
			}
		}
	}
	return nil
}
