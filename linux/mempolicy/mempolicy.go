// Package mempolicy applies linux.memoryPolicy (runtime-spec 1.3) with
// set_mempolicy(2): the NUMA policy (mode, nodes and mode flags) the
// container's process and its children allocate memory under.
package mempolicy

import (
	"fmt"
	goruntime "runtime"
	"sort"
	"strings"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/internal/numlist"
)

// maxNode bounds node numbers: the kernel's MAX_NUMNODES is at most 1024.
const maxNode = 1024

var modes = map[specs.MemoryPolicyModeType]int{
	specs.MpolDefault:            unix.MPOL_DEFAULT,
	specs.MpolPreferred:          unix.MPOL_PREFERRED,
	specs.MpolBind:               unix.MPOL_BIND,
	specs.MpolInterleave:         unix.MPOL_INTERLEAVE,
	specs.MpolLocal:              unix.MPOL_LOCAL,
	specs.MpolPreferredMany:      unix.MPOL_PREFERRED_MANY,
	specs.MpolWeightedInterleave: unix.MPOL_WEIGHTED_INTERLEAVE,
}

var modeFlags = map[specs.MemoryPolicyFlagType]int{
	specs.MpolFStaticNodes:   unix.MPOL_F_STATIC_NODES,
	specs.MpolFRelativeNodes: unix.MPOL_F_RELATIVE_NODES,
	specs.MpolFNumaBalancing: unix.MPOL_F_NUMA_BALANCING,
}

// KnownModes and KnownFlags list what `features` reports.
func KnownModes() []string { return sortedKeys(modes) }

// KnownFlags lists the mode flags this package accepts.
func KnownFlags() []string { return sortedKeys(modeFlags) }

func sortedKeys[K ~string, V any](m map[K]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, string(k))
	}
	sort.Strings(out)
	return out
}

// Policy is a checked linux.memoryPolicy.
type Policy struct {
	Mode  int // MPOL_* with the MPOL_F_* flags or'ed in
	Nodes numlist.Mask
}

// Parse checks p as runc does: the mode and flags must be known, DEFAULT and
// LOCAL take no nodes, BIND, INTERLEAVE, PREFERRED_MANY and
// WEIGHTED_INTERLEAVE at least one.
func Parse(p *specs.LinuxMemoryPolicy) (*Policy, error) {
	if p == nil {
		return nil, nil
	}
	mode, ok := modes[p.Mode]
	if !ok {
		return nil, fmt.Errorf("linux.memoryPolicy.mode %q is unknown: use one of %s", p.Mode, strings.Join(KnownModes(), ", "))
	}
	pol := &Policy{Mode: mode}
	for _, f := range p.Flags {
		v, ok := modeFlags[f]
		if !ok {
			return nil, fmt.Errorf("linux.memoryPolicy.flags: %q is unknown: use one of %s", f, strings.Join(KnownFlags(), ", "))
		}
		pol.Mode |= v
	}
	nodes, err := numlist.Parse(p.Nodes, maxNode)
	if err != nil {
		return nil, fmt.Errorf("linux.memoryPolicy.nodes %q: %w", p.Nodes, err)
	}
	pol.Nodes = nodes
	switch mode {
	case unix.MPOL_DEFAULT, unix.MPOL_LOCAL:
		if pol.Nodes.Count() != 0 {
			return nil, fmt.Errorf("linux.memoryPolicy.mode %s takes no nodes, got %q", p.Mode, p.Nodes)
		}
	case unix.MPOL_PREFERRED:
	default:
		if pol.Nodes.Count() == 0 {
			return nil, fmt.Errorf("linux.memoryPolicy.mode %s needs at least one node in nodes", p.Mode)
		}
	}
	return pol, nil
}

// Apply sets the policy of the calling thread, which becomes the
// container's process at execve; nil leaves the inherited policy.
func Apply(p *specs.LinuxMemoryPolicy) error {
	pol, err := Parse(p)
	if err != nil || pol == nil {
		return err
	}
	var mask unsafe.Pointer
	if len(pol.Nodes) > 0 {
		mask = unsafe.Pointer(&pol.Nodes[0])
	}
	// The kernel reads maxnode-1 bits (get_nodes), hence the +1.
	if _, _, errno := unix.RawSyscall(unix.SYS_SET_MEMPOLICY, uintptr(pol.Mode), uintptr(mask), uintptr(len(pol.Nodes)*64+1)); errno != 0 {
		return fmt.Errorf("linux.memoryPolicy: set_mempolicy %s nodes %q: %w (are the nodes online? see /sys/devices/system/node/online)", p.Mode, p.Nodes, errno)
	}
	goruntime.KeepAlive(pol)
	return nil
}
