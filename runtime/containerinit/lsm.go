package containerinit

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kago-run/kago/linux/apparmor"
	"github.com/kago-run/kago/linux/selinux"
)

// applyLabels asks the kernel to run the process's execve under its SELinux
// context and AppArmor profile. It is the last step before execve: see
// linux/apparmor for why.
func applyLabels(proc *specs.Process) error {
	if err := selinux.SetExecLabel(proc.SelinuxLabel); err != nil {
		return err
	}
	return apparmor.ApplyOnExec(proc.ApparmorProfile)
}
