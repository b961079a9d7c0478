package rootfs

import (
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/linux/explain"
)

// msFlags names mount(2) flags in the order mount(8) lists them.
var msFlags = []struct {
	flag uintptr
	name string
}{
	{unix.MS_RDONLY, "MS_RDONLY"}, {unix.MS_NOSUID, "MS_NOSUID"}, {unix.MS_NODEV, "MS_NODEV"},
	{unix.MS_NOEXEC, "MS_NOEXEC"}, {unix.MS_SYNCHRONOUS, "MS_SYNCHRONOUS"}, {unix.MS_REMOUNT, "MS_REMOUNT"},
	{unix.MS_MANDLOCK, "MS_MANDLOCK"}, {unix.MS_DIRSYNC, "MS_DIRSYNC"}, {unix.MS_NOSYMFOLLOW, "MS_NOSYMFOLLOW"},
	{unix.MS_NOATIME, "MS_NOATIME"}, {unix.MS_NODIRATIME, "MS_NODIRATIME"}, {unix.MS_BIND, "MS_BIND"},
	{unix.MS_MOVE, "MS_MOVE"}, {unix.MS_REC, "MS_REC"}, {unix.MS_SILENT, "MS_SILENT"},
	{unix.MS_POSIXACL, "MS_POSIXACL"}, {unix.MS_UNBINDABLE, "MS_UNBINDABLE"}, {unix.MS_PRIVATE, "MS_PRIVATE"},
	{unix.MS_SLAVE, "MS_SLAVE"}, {unix.MS_SHARED, "MS_SHARED"}, {unix.MS_RELATIME, "MS_RELATIME"},
	{unix.MS_I_VERSION, "MS_I_VERSION"}, {unix.MS_STRICTATIME, "MS_STRICTATIME"}, {unix.MS_LAZYTIME, "MS_LAZYTIME"},
}

// MountFlags spells mount(2) flags as the kernel's headers name them,
// "MS_BIND|MS_REC"; "0" for none.
func MountFlags(flags uintptr) string {
	var out []string
	for _, f := range msFlags {
		if flags&f.flag != 0 {
			out = append(out, f.name)
			flags &^= f.flag
		}
	}
	if flags != 0 {
		out = append(out, "0x"+strconv.FormatUint(uint64(flags), 16))
	}
	if len(out) == 0 {
		return "0"
	}
	return strings.Join(out, "|")
}

const propagation = unix.MS_SHARED | unix.MS_SLAVE | unix.MS_PRIVATE | unix.MS_UNBINDABLE

// recordMount records one mount(2) call that succeeded on target (a path
// inside the container), with the reason read from what it does.
func recordMount(rec explain.Recorder, source, target, fstype string, flags uintptr, data string) {
	if rec == nil {
		return
	}
	if strings.HasPrefix(source, "/proc/self/fd/") {
		source = target // the object itself, reached through its fd
	}
	var why string
	switch {
	case flags&propagation != 0:
		why = "mount propagation: whether mounts made here and on the host reach each other"
	case flags&unix.MS_REMOUNT != 0 && flags&unix.MS_RDONLY != 0:
		why = "made read-only: the container may read but not change it"
	case flags&unix.MS_REMOUNT != 0:
		why = "change the flags of a mount made before"
	case flags&unix.MS_BIND != 0 && source == "/dev/null":
		why = "masked path: /dev/null over the file hides what the host's kernel would show"
	case fstype == "tmpfs" && strings.HasPrefix(data, "size=0k") && flags&unix.MS_RDONLY != 0:
		why = "masked path: an empty read-only tmpfs hides the directory"
	case flags&unix.MS_BIND != 0 && source == target:
		why = "bind the path onto itself, so it is a mount of its own that can get its own flags"
	case flags&unix.MS_BIND != 0:
		why = "bind mount: the same files, seen at another path"
	default:
		why = "a new " + fstype + " filesystem instance, the container's own"
	}
	v := "flags=" + MountFlags(flags)
	if source != "" {
		v = "source=" + source + " " + v
	}
	if fstype != "" {
		v += " type=" + fstype
	}
	if data != "" {
		v += " data=" + data
	}
	rec.Record(explain.Step{Feature: "mount", Call: "mount", Path: target, Value: v, Why: why, Man: "mount(2)"})
}

// recordDevice records a device node made in the container's /dev.
func recordDevice(rec explain.Recorder, p string, d specs.LinuxDevice, perm uint32, uid, gid int) {
	if rec == nil {
		return
	}
	rec.Record(explain.Step{Feature: "devices", Call: "mknod", Path: p,
		Value: d.Type + " " + strconv.FormatInt(d.Major, 10) + ":" + strconv.FormatInt(d.Minor, 10) + " mode=0" + strconv.FormatUint(uint64(perm), 8) + " uid=" + strconv.Itoa(uid) + " gid=" + strconv.Itoa(gid),
		Why:   "a device node the container may use (its cgroup's device rules must allow it too)", Man: "mknod(2)"})
}

// recordSysctl records a value written under /proc/sys.
func recordSysctl(rec explain.Recorder, p, value string) {
	if rec == nil {
		return
	}
	rec.Record(explain.Step{Feature: "sysctl", Call: "write", Path: p, Value: value,
		Why: "a kernel setting of the container's own namespace (linux.sysctl)", Man: "proc(5)"})
}
