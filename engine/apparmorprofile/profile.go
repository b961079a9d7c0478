// Package apparmorprofile is kago-default, the AppArmor profile the engine
// runs containers under where AppArmor is enabled, as docker runs them under
// docker-default: namespaces, capabilities and seccomp already fence a
// container in; the profile closes the kernel interfaces they leave open
// (writes to most of /proc and /sys, mount, AF_ALG sockets, signals and
// ptrace across the container's boundary).
//
// The engine generates the text on the host it runs on (the abi, tunables
// and abstractions it can include depend on the installed AppArmor) and
// loads it with apparmor_parser (Debian's apparmor package). Loading
// recompiles the profile, which takes a noticeable fraction of a second, so
// the loaded text is recorded and the profile is reloaded only when the
// text changed or the kernel lost it (a reboot, or an AppArmor reload that
// does not know kago's profile, since it is not in /etc/apparmor.d).
package apparmorprofile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/kago-run/kago/internal/atomicfile"
	"github.com/kago-run/kago/linux/apparmor"
)

// DefaultName is the name of kago's default profile.
const DefaultName = "kago-default"

// policyDir is where the host's AppArmor keeps the files a profile includes.
const policyDir = "/etc/apparmor.d"

// Generate returns the text of the default profile called name. engine is
// the profile kago itself runs under ("" or "unconfined" when none), whose
// signals the container must receive; hasInclude says whether a file under
// /etc/apparmor.d exists, so the profile includes only what the host has.
func Generate(name, engine string, hasInclude func(string) bool) []byte {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("# %s: written by kago, which loads it with apparmor_parser; edits are overwritten.", name)
	// ABI 3.0 keeps "network," covering unix sockets, which ABI 4.0 no
	// longer does (https://gitlab.com/apparmor/apparmor/-/issues/561).
	if hasInclude("abi/3.0") {
		w("abi <abi/3.0>,")
	}
	if hasInclude("tunables/global") {
		w("#include <tunables/global>")
	} else {
		w("@{PROC}=/proc/")
	}
	w("")
	w("profile %s flags=(attach_disconnected,mediate_deleted) {", quote(name))
	if hasInclude("abstractions/base") {
		w("  #include <abstractions/base>")
	}
	w(`
  # Files, sockets and capabilities are the container's own business:
  # namespaces, the capability sets and seccomp limit them.
  network,
  capability,
  file,
  umount,
  # The kernel's crypto API has been a way out of containers.
  deny network alg,

  # The host (kago, kago-runc, an admin's kill) may signal the container;
  # its processes may signal and trace each other, nothing else.
  signal (receive) peer=unconfined,`)
	if engine != "" && engine != "unconfined" {
		w("  signal (receive) peer=%s,", quote(engine))
	}
	w("  signal (send,receive) peer=%s,", quote(name))
	w("  ptrace (trace,tracedby,read,readby) peer=%s,", quote(name))
	w(`
  # /proc: no writes to the files directly in it, nor below anything but
  # /proc/<pid>/ and /proc/sys/kernel/shm*; never sysrq-trigger or kcore.
  deny @{PROC}/* w,
  deny @{PROC}/{[^1-9/],[^1-9/][^0-9/],[^1-9s/][^0-9y/][^0-9s/],[^1-9/][^0-9/][^0-9/][^0-9/]*}/** w,
  deny @{PROC}/sys/[^k]** w,
  deny @{PROC}/sys/kernel/{?,??,[^s][^h][^m]**} w,
  deny @{PROC}/sysrq-trigger rwklx,
  deny @{PROC}/kcore rwklx,

  deny mount,

  # /sys: read-only except the container's cgroup files; firmware,
  # powercap (energy counters leak what other tenants run) and the LSMs'
  # own interface not even readable.
  deny /sys/[^f]*/** wklx,
  deny /sys/f[^s]*/** wklx,
  deny /sys/fs/[^c]*/** wklx,
  deny /sys/fs/c[^g]*/** wklx,
  deny /sys/fs/cg[^r]*/** wklx,
  deny /sys/firmware/** rwklx,
  deny /sys/devices/virtual/powercap/** rwklx,
  deny /sys/kernel/security/** rwklx,
}`)
	return []byte(b.String())
}

// quote writes a profile or peer name as AppArmor's parser reads it.
func quote(name string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(name) + `"`
}

// hostHasInclude reports whether the host's AppArmor has an include file.
func hostHasInclude(rel string) bool {
	_, err := os.Stat(filepath.Join(policyDir, rel))
	return err == nil
}

// engineProfile is the profile kago runs under, as the kernel names it.
func engineProfile() string {
	cur, err := apparmor.Current()
	if err != nil {
		return ""
	}
	name, _, _ := strings.Cut(cur, " (")
	return name
}

// Ensure makes the kernel hold the current text of kago-default: it loads
// it when the text recorded in dir (the one last loaded) differs, or when
// the profile is not loaded.
func Ensure(ctx context.Context, dir string) error {
	text := Generate(DefaultName, engineProfile(), hostHasInclude)
	record := filepath.Join(dir, DefaultName)
	if old, err := os.ReadFile(record); err == nil && bytes.Equal(old, text) {
		if ok, err := apparmor.Loaded(DefaultName); err == nil && ok {
			return nil
		}
	}
	if err := Load(ctx, text); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("record the %s profile: %w", DefaultName, err)
	}
	return atomicfile.WriteFile(record, text, 0o644)
}

// Load compiles a profile and loads it into the kernel, replacing one of the
// same name (apparmor_parser -r), without touching the host's profile cache
// (-K), which belongs to the host's own profiles.
func Load(ctx context.Context, text []byte) error {
	cmd := exec.CommandContext(ctx, "apparmor_parser", "-Kr")
	cmd.Stdin = bytes.NewReader(text)
	out, err := cmd.CombinedOutput()
	if errors.Is(err, exec.ErrNotFound) {
		return fmt.Errorf("load the %s AppArmor profile: apparmor_parser is not installed: install it (Debian: apt-get install apparmor), or run with --security-opt apparmor=unconfined", DefaultName)
	}
	if err != nil {
		return fmt.Errorf("load an AppArmor profile with apparmor_parser -Kr: %w: %s", err, bytes.TrimSpace(out))
	}
	return nil
}
