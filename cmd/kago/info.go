package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kago-run/kago/engine"
	"github.com/kago-run/kago/linux/cgroups"
)

// infoItem is one "Key: value" line of `kago info`.
type infoItem struct{ Key, Value string }

// newInfoCmd is `kago info`: how this engine runs containers, in docker
// info's "Key: value" lines.
func newInfoCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "info",
		Short: "Show how the engine runs containers (cgroups, runtime, storage)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := openEngine(g)
			if err != nil {
				return err
			}
			items, err := engineInfo(e)
			if err != nil {
				return err
			}
			return printInfo(cmd.OutOrStdout(), items)
		},
	}
}

// engineInfo gathers the lines of `kago info`; add a line by appending an
// item here.
func engineInfo(e *engine.Engine) ([]infoItem, error) {
	mode, err := cgroups.Mode()
	if err != nil {
		return nil, err
	}
	version := map[string]string{cgroups.ModeV2: "2", cgroups.ModeV1: "1", cgroups.ModeHybrid: "1 (hybrid: v1 controllers, cgroup2 at /sys/fs/cgroup/unified)"}[mode]
	return []infoItem{
		{"Cgroup Driver", e.CgroupManagerName()},
		{"Cgroup Version", version},
		{"Runtime", "kago (built in; state in " + e.RuntimeRoot() + ")"},
		{"Storage Root", e.Root},
		{"Security Options", strings.Join(engine.HostSecurityOptions(), " ")},
	}, nil
}

func printInfo(w io.Writer, items []infoItem) error {
	for _, it := range items {
		if _, err := fmt.Fprintf(w, "%s: %s\n", it.Key, it.Value); err != nil {
			return err
		}
	}
	return nil
}
