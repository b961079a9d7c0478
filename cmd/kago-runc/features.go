package main

import (
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	"github.com/spf13/cobra"

	"github.com/kago-run/kago/linux/caps"
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
					Cgroup:       &features.Cgroup{V1: &yes, V2: &yes, Systemd: &yes, SystemdUser: &no, Rdma: &no},
					Seccomp: &features.Seccomp{
						Enabled:        &yes,
						Actions:        seccomp.SupportedActions(),
						Operators:      seccomp.SupportedOperators(),
						Archs:          seccomp.SupportedArchs(),
						KnownFlags:     seccomp.KnownFlags(),
						SupportedFlags: seccomp.KnownFlags(),
					},
					Apparmor:        &features.Apparmor{Enabled: &no},
					Selinux:         &features.Selinux{Enabled: &no},
					IntelRdt:        &features.IntelRdt{Enabled: &no},
					MountExtensions: &features.MountExtensions{IDMap: &features.IDMap{Enabled: &no}},
				},
				Annotations: map[string]string{"org.kago.runtime.version": version},
			}
			return printJSON(os.Stdout, f)
		},
	}
}
