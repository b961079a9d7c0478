// Package containerinit is the process that becomes the container.
//
// The runtime re-executes its own binary (from a sealed memfd copy, so the
// container can never reach the host binary through /proc/self/exe) with
// clone flags for the new namespaces. The new process finds _KAGO_INIT_SYNC in
// its environment, calls Main, receives its Config over the sync socket, and
// builds the container from the inside: rootfs, pivot_root, hostname,
// console, rlimits, user, capabilities, seccomp. Then it waits on the exec
// FIFO until `start`, and execve's the user's process, which keeps its PID.
//
// `exec` uses the same path with Config.Exec set: the process has already
// joined the container's namespaces (linux/nsenter) and skips the rootfs work.
package containerinit

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kago-run/kago/linux/seccomp"
)

// Environment variables that tell a re-executed kago it is an init process
// and where its inherited descriptors are.
const (
	EnvSync = "_KAGO_INIT_SYNC" // fd of the sync socket
	EnvFifo = "_KAGO_INIT_FIFO" // fd of the exec FIFO (O_PATH), create only
	// EnvProtocol carries Protocol from the runtime, so an init binary from
	// another build (a stale kago-init beside kago-runc) refuses clearly
	// instead of misreading its config.
	EnvProtocol = "_KAGO_INIT_PROTOCOL"
)

// Protocol is the version of Config and of the sync conversation. Change it
// whenever either changes incompatibly.
const Protocol = "1"

const (
	// InitBinary is the name of the small init program the runtime prefers,
	// looked up in the directory of the running binary.
	InitBinary = "kago-init"
)

// Config is what the runtime sends the init process.
type Config struct {
	ID      string         `json:"id"`
	Bundle  string         `json:"bundle"`
	Rootfs  string         `json:"rootfs"`
	Spec    *specs.Spec    `json:"spec"`
	Process *specs.Process `json:"process"`
	Explain bool           `json:"explain,omitempty"` // send init's steps back before ready
	// Exec is true for a process joining a running container.
	Exec         bool `json:"exec,omitempty"`
	NoPivot      bool `json:"noPivot,omitempty"`
	NoNewKeyring bool `json:"noNewKeyring,omitempty"`
	// PreserveFDs is how many fds after stdio the user process keeps.
	PreserveFDs int `json:"preserveFds,omitempty"`
	// NewCgroupNS asks init to unshare its cgroup namespace once the runtime
	// has moved it into the container's cgroup, so that cgroup becomes its root.
	NewCgroupNS bool `json:"newCgroupNs,omitempty"`
	// UserNS is true when the container has its own user namespace.
	UserNS bool `json:"userNs,omitempty"`
	// MountTrees lists, by index in Spec.Mounts, the id-mapped mounts whose
	// detached trees follow the config, one TypeMountTree message each.
	MountTrees []int `json:"mountTrees,omitempty"`
	// HostPid is the init's PID as the host sees it, for hook state.
	HostPid int `json:"hostPid"`
	// Seccomp is linux.seccomp compiled by the runtime (nil: no filter),
	// so init loads it without compiling the profile again.
	Seccomp *seccomp.Filter `json:"seccomp,omitempty"`
}

// State is the OCI state hooks receive from init.
func (c *Config) State(status specs.ContainerState) *specs.State {
	return &specs.State{
		Version:     specs.Version,
		ID:          c.ID,
		Status:      status,
		Pid:         c.HostPid,
		Bundle:      c.Bundle,
		Annotations: c.Spec.Annotations,
	}
}
