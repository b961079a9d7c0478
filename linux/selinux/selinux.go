// Package selinux labels a container for SELinux as runc does (through
// go-selinux): process.selinuxLabel becomes the exec context of the user's
// process and the label of the keyring init creates; linux.mountLabel is
// passed as the context= option of the filesystems mounted for the
// container.
//
// The exec context is written to /proc/thread-self/attr/exec right before
// execve, like the AppArmor profile and for the same reasons (see
// linux/apparmor): it applies to the next execve of this thread and of any
// child forked after it, and it needs the container's /proc.
//
// Where SELinux is disabled, go-selinux's setters do nothing for an empty
// label and fail for a set one, and runc refuses process.selinuxLabel at
// validation ("selinux label is specified in config, but selinux is disabled
// or not supported"); a linux.mountLabel makes its first tmpfs mount fail
// with EINVAL. kago refuses both at validation, with the reason (Enabled is
// what the runtime checks).
package selinux

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/internal/procattr"
)

// Enabled reports whether SELinux is on, go-selinux's test: selinuxfs is
// mounted and the kernel gave this process a context other than "kernel"
// (the context before any policy is loaded). It reads the host's view: call
// it from the runtime, not from inside a container.
func Enabled() bool {
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/selinux", &st) != nil || st.Type != unix.SELINUX_MAGIC {
		return false
	}
	b, err := os.ReadFile("/proc/thread-self/attr/current")
	return err == nil && strings.TrimRight(string(b), "\x00\n") != "kernel"
}

// SetExecLabel sets the context the calling thread's next execve runs in
// (setexeccon). An empty label is no request.
func SetExecLabel(label string) error {
	return writeAttr("exec", label, "exec label")
}

// SetKeyLabel sets the context of the keyrings the calling thread creates
// from now on (setkeycreatecon), so the container's session keyring carries
// its label. An empty label is no request.
func SetKeyLabel(label string) error {
	return writeAttr("keycreate", label, "keyring label")
}

func writeAttr(name, label, what string) error {
	if label == "" {
		return nil
	}
	if err := procattr.Write("/proc/thread-self/attr/"+name, label); err != nil {
		return fmt.Errorf("set SELinux %s %q: %w", what, label, err)
	}
	return nil
}

// FormatMountLabel adds label to a mount's data as the context= option
// (go-selinux's FormatMountLabel); data is returned as is when label is
// empty. The label is quoted because SELinux contexts contain commas.
func FormatMountLabel(data, label string) string {
	if label == "" {
		return data
	}
	opt := fmt.Sprintf("context=%q", label)
	if data == "" {
		return opt
	}
	return data + "," + opt
}

// Labels says whether a mount of type fstype gets the context= option: runc
// labels every filesystem it mounts for the container except proc and sysfs
// (the kernel cannot label them) and mqueue (runc sets the label of its root
// directory instead, which kago does not do yet).
func Labels(fstype string) bool {
	switch fstype {
	case "proc", "sysfs", "mqueue":
		return false
	}
	return true
}
