package runtime

import (
	"fmt"
	"regexp"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kago-run/kago/linux/seccomp"
)

// compileSeccomp compiles linux.seccomp in the runtime, before anything is
// created, so that a malformed profile fails create with nothing to undo and
// its warnings (unknown syscall names are skipped, as runc does) reach the
// runtime's log rather than the container's stderr. The compiled filter goes
// to init (and to exec'd processes) with their config. A nil filter means the
// spec has none.
func (r *Runtime) compileSeccomp(id string, spec *specs.Spec) (*seccomp.Filter, error) {
	if spec.Linux == nil || spec.Linux.Seccomp == nil {
		return nil, nil
	}
	filter, warnings, err := seccomp.Compile(spec.Linux.Seccomp)
	if err != nil {
		return nil, fmt.Errorf("linux.seccomp: %w", err)
	}
	var ownDefault map[string]bool
	for _, w := range warnings {
		if m := unknownSyscallRe.FindStringSubmatch(w); m != nil {
			if ownDefault == nil {
				ownDefault = defaultProfileNames()
			}
			if ownDefault[m[1]] {
				// Docker's profile lists syscalls of every architecture
				// (recv, send, ...): not the user's mistake, not worth a warning.
				r.Log.Debug(w, "id", id)
				continue
			}
		}
		r.Log.Warn(w, "id", id)
	}
	return filter, nil
}

var unknownSyscallRe = regexp.MustCompile(`syscall "([^"]+)" is unknown`)

func defaultProfileNames() map[string]bool {
	names := map[string]bool{}
	for _, sc := range seccomp.Default().Syscalls {
		for _, n := range sc.Names {
			names[n] = true
		}
	}
	return names
}
