package main

import (
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	"github.com/spf13/cobra"

	"github.com/kago-run/kago/linux/caps"
	"github.com/kago-run/kago/linux/idmap"
	"github.com/kago-run/kago/linux/mempolicy"
	"github.com/kago-run/kago/linux/ns"
	"github.com/kago-run/kago/linux/rootfs"
	"github.com/kago-run/kago/linux/seccomp"
)

func newFeaturesCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "features",
		Short: "print the OCI features this runtime supports, as JSON",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			yes, no := true, false
			// The kernel decides: mount_setattr(2) and MOUNT_ATTR_IDMAP
			// came in Linux 5.12.
			idmapped := idmap.Supported()
			var namespaces []string
			for _, k := range ns.Kinds() {
				namespaces = append(namespaces, string(k.Type))
			}
			f := features.Features{
				OCIVersionMin: "1.0.0",
				OCIVersionMax: specs.Version,
				Hooks:         []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"},
				MountOptions:  rootfs.KnownOptions(),
				Linux: &features.Linux{
					Namespaces:   namespaces,
					Capabilities: caps.Known(),
					Cgroup:       &features.Cgroup{V1: &yes, V2: &yes, Systemd: &yes, SystemdUser: &no, Rdma: &yes},
					Seccomp: &features.Seccomp{
						Enabled:        &yes,
						Actions:        seccomp.AvailableActions(),
						Operators:      seccomp.SupportedOperators(),
						Archs:          seccomp.SupportedArchs(),
						KnownFlags:     seccomp.KnownFlags(),
						SupportedFlags: seccomp.SupportedFlags(),
					},
					// Whether kago-runc applies them, not whether this host has
					// them (runtime-spec features-linux.md); a profile or label
					// the host cannot apply is refused at create.
					Apparmor: &features.Apparmor{Enabled: &yes},
					Selinux:  &features.Selinux{Enabled: &yes},
					// kago manages no resctrl groups: linux.intelRdt is refused.
					IntelRdt:        &features.IntelRdt{Enabled: &no, Schemata: &no, Monitoring: &no},
					MemoryPolicy:    &features.MemoryPolicy{Modes: mempolicy.KnownModes(), Flags: mempolicy.KnownFlags()},
					MountExtensions: &features.MountExtensions{IDMap: &features.IDMap{Enabled: &idmapped}},
					NetDevices:      &features.NetDevices{Enabled: &yes},
				},
				Annotations: map[string]string{"org.kago.runtime.version": version},
			}
			return printJSON(os.Stdout, f)
		},
	}
}
