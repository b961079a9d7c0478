// Package apparmor confines a container's process with an AppArmor profile
// (OCI process.apparmorProfile), as runc does: the runtime writes
// "exec PROFILE" to the task's /proc/thread-self/attr/apparmor/exec (or
// attr/exec on kernels before 5.8, which have no per-LSM directory), and the
// kernel moves the task into PROFILE at its next execve.
//
// Why the container's init applies it as the very last step before execve:
//
//   - The request is per thread and survives fork: a child the init forks
//     after it (a startContainer hook, which init runs after `start`) would
//     execve into the container's profile. Written last, it reaches only
//     the user's process.
//   - It needs the container's /proc, which exists only after pivot_root,
//     and it is written on the same locked OS thread that calls execve (a
//     label written by another thread would be lost, hence thread-self).
//   - An unconfined task may always change to a loaded profile, even after
//     it dropped its capabilities, changed user and set no_new_privs, so
//     nothing before it needs AppArmor's permission.
//
// Where AppArmor is not enabled and a profile is named, runc 1.1 fails the
// container's create (its write to /proc/self/attr/exec returns EINVAL), as
// it does when the profile is not loaded (ENOENT). kago refuses the same
// configs at validation, before anything is made, and says why (Check).
package apparmor

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/internal/procattr"
)

// Files the kernel's AppArmor interface is read from: securityfs is
// mounted at /sys/kernel/security on every host that uses it.
const (
	securityDir  = "/sys/kernel/security/apparmor"
	enabledParam = "/sys/module/apparmor/parameters/enabled"
	profilesFile = securityDir + "/profiles"
)

// Enabled reports whether AppArmor confines processes on this host, the test
// runc and docker use: securityfs shows AppArmor and the module says "Y".
// It reads the host's view: call it from the runtime, not from inside a
// container.
func Enabled() bool {
	if _, err := os.Stat(securityDir); err != nil {
		return false
	}
	b, err := os.ReadFile(enabledParam)
	return err == nil && len(b) > 0 && b[0] == 'Y'
}

// Check refuses a profile this host cannot apply, so that `create` fails
// before anything is made rather than the container's start (ApplyOnExec
// runs after it): AppArmor must be enabled, and a profile named plainly must
// be loaded. "unconfined", and stacked or namespaced names ("a//&b",
// ":ns:name"), which the profile list does not show as such, are left to
// the kernel.
func Check(profile string) error {
	switch {
	case profile == "":
		return nil
	case !Enabled():
		return fmt.Errorf("%q is set but AppArmor is not enabled on this host: remove it, or run on a host with AppArmor", profile)
	case profile == "unconfined" || strings.Contains(profile, "//") || strings.HasPrefix(profile, ":"):
		return nil
	}
	// A list this process cannot read (a rootless caller, say) leaves the
	// answer to the kernel, whose refusal at execve names the profile too.
	if ok, err := Loaded(profile); err == nil && !ok {
		return notLoaded(profile)
	}
	return nil
}

func notLoaded(profile string) error {
	return fmt.Errorf("AppArmor profile %q is not loaded: load it with apparmor_parser -r FILE, or name one listed in %s", profile, profilesFile)
}

// ApplyOnExec asks the kernel to run the calling thread's next execve under
// profile (libapparmor's aa_change_onexec). An empty profile is no request.
// See the package comment for where to call it.
func ApplyOnExec(profile string) error {
	if profile == "" {
		return nil
	}
	err := procattr.Write(attrPath("exec"), "exec "+profile)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.ENOENT):
		return notLoaded(profile)
	case errors.Is(err, unix.EINVAL):
		return fmt.Errorf("apply AppArmor profile %q: %w (is AppArmor enabled on this host?)", profile, err)
	}
	return fmt.Errorf("apply AppArmor profile %q: %w", profile, err)
}

// attrPath is the calling thread's AppArmor attribute file: in the
// per-LSM directory since Linux 5.8, the shared one before.
func attrPath(name string) string {
	p := "/proc/thread-self/attr/apparmor/" + name
	if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
		return "/proc/thread-self/attr/" + name
	}
	return p
}

// Loaded reports whether a profile named name is loaded in the kernel.
func Loaded(name string) (bool, error) {
	f, err := os.Open(profilesFile)
	if err != nil {
		return false, fmt.Errorf("list AppArmor profiles: %w", err)
	}
	defer f.Close()
	return listed(f, name)
}

// listed scans the kernel's profile list, lines of "NAME (MODE)"; names may
// contain spaces, so the mode is cut at the last " (".
func listed(r io.Reader, name string) (bool, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.LastIndex(line, " ("); i >= 0 && line[:i] == name {
			return true, nil
		}
	}
	if err := sc.Err(); err != nil {
		return false, fmt.Errorf("read %s: %w", profilesFile, err)
	}
	return false, nil
}

// Current is the calling thread's label as the kernel shows it: "unconfined"
// or "NAME (MODE)".
func Current() (string, error) {
	b, err := os.ReadFile(attrPath("current"))
	if err != nil {
		return "", fmt.Errorf("read the current AppArmor label: %w", err)
	}
	return strings.TrimRight(string(b), "\x00\n"), nil
}
