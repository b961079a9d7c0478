package rootfs

import (
	"fmt"
	"os"
	"path"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/linux/inroot"
)

func u32(v uint32) *uint32 { return &v }

func mode(m os.FileMode) *os.FileMode { return &m }

// DefaultDevices are the nodes every Linux container gets (OCI runtime spec,
// "Default Devices"); /dev/ptmx and /dev/pts are handled separately.
var DefaultDevices = []specs.LinuxDevice{
	{Path: "/dev/null", Type: "c", Major: 1, Minor: 3, FileMode: mode(0o666), UID: u32(0), GID: u32(0)},
	{Path: "/dev/zero", Type: "c", Major: 1, Minor: 5, FileMode: mode(0o666), UID: u32(0), GID: u32(0)},
	{Path: "/dev/full", Type: "c", Major: 1, Minor: 7, FileMode: mode(0o666), UID: u32(0), GID: u32(0)},
	{Path: "/dev/random", Type: "c", Major: 1, Minor: 8, FileMode: mode(0o666), UID: u32(0), GID: u32(0)},
	{Path: "/dev/urandom", Type: "c", Major: 1, Minor: 9, FileMode: mode(0o666), UID: u32(0), GID: u32(0)},
	{Path: "/dev/tty", Type: "c", Major: 5, Minor: 0, FileMode: mode(0o666), UID: u32(0), GID: u32(0)},
}

// deviceType maps the OCI device type letter to the S_IFMT bits of mknod(2).
func deviceType(t string) (uint32, error) {
	switch t {
	case "c", "u":
		return unix.S_IFCHR, nil
	case "b":
		return unix.S_IFBLK, nil
	case "p":
		return unix.S_IFIFO, nil
	}
	return 0, fmt.Errorf("device type %q is not one of c, u, b, p", t)
}

// createDevice makes one device node inside the rootfs. In a user namespace
// mknod(2) of devices is not allowed, so the host's node is bind-mounted on
// an empty file instead (its owner and mode then stay the host's).
func (r *root) createDevice(d specs.LinuxDevice, userNS bool) error {
	p := cleanPath(d.Path)
	if p == "/" || p == "/dev" {
		return fmt.Errorf("device path %q: must name a node such as /dev/fuse", d.Path)
	}
	typ, err := deviceType(d.Type)
	if err != nil {
		return fmt.Errorf("device %s: %w", p, err)
	}
	if userNS {
		fd, err := r.MkFile(p, 0o000, 0)
		if err != nil {
			return fmt.Errorf("device %s: %w", p, err)
		}
		defer unix.Close(fd)
		return r.mountAt(d.Path, fd, p, "", unix.MS_BIND, "")
	}
	dfd, err := r.MkdirAll(path.Dir(p), 0o755, 0)
	if err != nil {
		return fmt.Errorf("device %s: %w", p, err)
	}
	defer unix.Close(dfd)
	perm := uint32(0o666)
	if d.FileMode != nil {
		perm = uint32(d.FileMode.Perm())
	}
	name := path.Base(p)
	err = unix.Mknodat(dfd, name, typ|perm, int(unix.Mkdev(uint32(d.Major), uint32(d.Minor))))
	if err == unix.EEXIST {
		return nil // the rootfs already has it (as runc does, keep it)
	}
	if err != nil {
		return fmt.Errorf("mknod %s (%s %d:%d): %w", p, d.Type, d.Major, d.Minor, err)
	}
	fd, err := inroot.Openat2(dfd, name, &unix.OpenHow{Flags: unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC, Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS})
	if err != nil {
		return fmt.Errorf("open new device %s: %w", p, err)
	}
	defer unix.Close(fd)
	// mknod honours the umask; set the exact mode and owner afterwards.
	if err := unix.Chmod(procFd(fd), perm); err != nil {
		return fmt.Errorf("chmod device %s: %w", p, err)
	}
	uid, gid := 0, 0
	if d.UID != nil {
		uid = int(*d.UID)
	}
	if d.GID != nil {
		gid = int(*d.GID)
	}
	if err := unix.Fchownat(fd, "", uid, gid, unix.AT_EMPTY_PATH); err != nil {
		return fmt.Errorf("chown device %s to %d:%d: %w", p, uid, gid, err)
	}
	recordDevice(r.rec, p, d, perm, uid, gid)
	return nil
}

// devSymlinks are the links programs expect under /dev.
var devSymlinks = [][2]string{
	{"/proc/self/fd", "fd"},
	{"/proc/self/fd/0", "stdin"},
	{"/proc/self/fd/1", "stdout"},
	{"/proc/self/fd/2", "stderr"},
}

// setupDev fills the container's /dev: default and spec devices, the ptmx
// symlink into the devpts instance, the standard symlinks, /dev/shm when the
// spec mounts none and /dev/console when a console was given.
func (r *root) setupDev(spec *specs.Spec, opts Options, haveShm bool) error {
	devs := append([]specs.LinuxDevice(nil), DefaultDevices...)
	if spec.Linux != nil {
		devs = append(devs, spec.Linux.Devices...)
	}
	for _, d := range devs {
		if err := r.createDevice(d, opts.UserNS); err != nil {
			return err
		}
	}
	dfd, err := r.MkdirAll("/dev", 0o755, 0)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	// /dev/ptmx must be the devpts instance's ptmx, so that ptys opened in
	// the container belong to its own devpts (newinstance).
	if err := unix.Unlinkat(dfd, "ptmx", 0); err != nil && err != unix.ENOENT {
		return fmt.Errorf("remove /dev/ptmx in rootfs: %w", err)
	}
	links := append([][2]string(nil), devSymlinks...)
	links = append(links, [2]string{"pts/ptmx", "ptmx"})
	if _, err := os.Stat("/proc/kcore"); err == nil {
		links = append(links, [2]string{"/proc/kcore", "core"})
	}
	for _, l := range links {
		if err := unix.Symlinkat(l[0], dfd, l[1]); err != nil && err != unix.EEXIST {
			return fmt.Errorf("symlink /dev/%s -> %s in rootfs: %w", l[1], l[0], err)
		}
	}
	if !haveShm {
		mo := MountOptions{Flags: unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_NODEV, Data: "mode=1777,size=65536k"}
		if err := r.mountFS("shm", "/dev/shm", "tmpfs", mo, 0); err != nil {
			return err
		}
	}
	if opts.ConsolePath != "" {
		if err := r.bindConsole(opts.ConsolePath); err != nil {
			return err
		}
	}
	return nil
}

// bindConsole bind-mounts a pty slave on /dev/console inside the rootfs.
func (r *root) bindConsole(slave string) error {
	fd, err := r.MkFile("/dev/console", 0o666, 0)
	if err != nil {
		return fmt.Errorf("console: %w", err)
	}
	defer unix.Close(fd)
	if err := r.mountAt(slave, fd, "/dev/console", "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("console: %w", err)
	}
	return nil
}

// SetupConsole bind-mounts the pty slave at slavePath on /dev/console of the
// current root. Call it after Pivot when the pty was opened from the
// container's own /dev/ptmx (its slave then lives in the container's devpts).
func SetupConsole(slavePath string) error {
	r, err := openRoot("/")
	if err != nil {
		return err
	}
	defer r.close()
	return r.bindConsole(slavePath)
}
