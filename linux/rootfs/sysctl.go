package rootfs

import (
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ipcSysctls are the kernel.* sysctls that belong to the IPC namespace
// (ipc_namespaces(7)); fs.mqueue.* belongs to it too.
var ipcSysctls = map[string]bool{
	"kernel.msgmax": true, "kernel.msgmnb": true, "kernel.msgmni": true, "kernel.sem": true,
	"kernel.shmall": true, "kernel.shmmax": true, "kernel.shmmni": true, "kernel.shm_rmid_forced": true,
}

// ValidateSysctl refuses sysctls that would change the host: a sysctl may
// only be set when the namespace it belongs to is a new one for the
// container (runc's rule). It also checks each name with SysctlPath.
func ValidateSysctl(spec *specs.Spec) error {
	if spec == nil || spec.Linux == nil {
		return nil
	}
	own := map[specs.LinuxNamespaceType]bool{}
	for _, ns := range spec.Linux.Namespaces {
		// A namespace joined by path is someone else's, but it is still
		// not the host's; runc allows it too.
		own[ns.Type] = true
	}
	for _, name := range sortedKeysS(spec.Linux.Sysctl) {
		if _, err := SysctlPath(name); err != nil {
			return err
		}
		var need specs.LinuxNamespaceType
		switch {
		case ipcSysctls[name] || strings.HasPrefix(name, "fs.mqueue."):
			need = specs.IPCNamespace
		case strings.HasPrefix(name, "net."):
			need = specs.NetworkNamespace
		case name == "kernel.hostname" || name == "kernel.domainname":
			need = specs.UTSNamespace
		default:
			return fmt.Errorf("sysctl %q is not namespaced: setting it would change the host; remove it from linux.sysctl", name)
		}
		if !own[need] {
			return fmt.Errorf("sysctl %q needs its own %s namespace: add {\"type\": %q} to linux.namespaces or remove the sysctl", name, need, need)
		}
	}
	return nil
}
