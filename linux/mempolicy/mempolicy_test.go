package mempolicy

import (
	"os"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/internal/testthread"
)

func TestParseChecksModeNodesAndFlags(t *testing.T) {
	for name, tc := range map[string]struct {
		p    specs.LinuxMemoryPolicy
		want string
	}{
		"unknown mode":       {specs.LinuxMemoryPolicy{Mode: "MPOL_FAST"}, `mode "MPOL_FAST"`},
		"bind without nodes": {specs.LinuxMemoryPolicy{Mode: specs.MpolBind}, "at least one node"},
		"local with nodes":   {specs.LinuxMemoryPolicy{Mode: specs.MpolLocal, Nodes: "0"}, "takes no nodes"},
		"bad nodes":          {specs.LinuxMemoryPolicy{Mode: specs.MpolBind, Nodes: "0-x"}, "nodes"},
		"node too high":      {specs.LinuxMemoryPolicy{Mode: specs.MpolBind, Nodes: "5000"}, "limit"},
		"unknown flag":       {specs.LinuxMemoryPolicy{Mode: specs.MpolBind, Nodes: "0", Flags: []specs.MemoryPolicyFlagType{"MPOL_F_X"}}, "MPOL_F_X"},
	} {
		if _, err := Parse(&tc.p); err == nil || !strings.Contains(err.Error(), "linux.memoryPolicy") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one naming linux.memoryPolicy and %q", name, err, tc.want)
		}
	}
	p, err := Parse(&specs.LinuxMemoryPolicy{Mode: specs.MpolInterleave, Nodes: "0,2-3", Flags: []specs.MemoryPolicyFlagType{specs.MpolFStaticNodes}})
	if err != nil || p.Mode != unix.MPOL_INTERLEAVE|unix.MPOL_F_STATIC_NODES || p.Nodes[0] != 0b1101 {
		t.Fatalf("interleave 0,2-3: %+v, %v", p, err)
	}
}

// TestApplyReadBackFromKernel sets a policy on a thread of its own and
// reads it back as numa_maps shows it (node 0 exists on every NUMA kernel).
func TestApplyReadBackFromKernel(t *testing.T) {
	for p, want := range map[*specs.LinuxMemoryPolicy]string{
		{Mode: specs.MpolBind, Nodes: "0", Flags: []specs.MemoryPolicyFlagType{specs.MpolFStaticNodes}}: " bind=static:0 ",
		{Mode: specs.MpolInterleave, Nodes: "0"}:                                                        " interleave:0 ",
		{Mode: specs.MpolLocal}:                                                                         " local ",
	} {
		var maps []byte
		var err error
		testthread.Run(func() {
			if err = Apply(p); err == nil {
				maps, err = os.ReadFile("/proc/thread-self/numa_maps")
			}
		})
		if os.IsNotExist(err) {
			t.Skip("kernel without NUMA (no numa_maps)")
		}
		// The heap's VMAs have no policy of their own: numa_maps shows the
		// thread's.
		if err != nil || !strings.Contains(string(maps), want) {
			t.Errorf("%s %s: numa_maps lacks %q (%v):\n%.300s", p.Mode, p.Nodes, want, err, maps)
		}
	}
}
