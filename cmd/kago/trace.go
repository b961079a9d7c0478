package main

import (
	"github.com/spf13/cobra"

	"github.com/kago-run/kago/engine"
	"github.com/kago-run/kago/engine/containers"
	"github.com/kago-run/kago/trace"
)

func newTraceCmd(g *globalOptions) *cobra.Command {
	var opts trace.StreamOptions
	cmd := &cobra.Command{
		Use:   "trace [--events LIST] [--format human|json] CONTAINER",
		Short: "Show what a container's processes do (eBPF), until Ctrl-C or the container exits",
		Long: "Show what the processes of one running container do — exec, open, connect,\n" +
			"accept, bind, signal, OOM kills — filtered in the kernel to that container.\n\n" + trace.FlagsHelp,
		Args: cobra.ExactArgs(1),
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			rec, err := e.Lookup(args[0])
			if err != nil {
				return err
			}
			t := trace.Target{Name: rec.Name}
			if rec.State.Status == containers.StatusRunning {
				t.Pid = rec.State.Pid
			}
			return trace.Follow(cmd.Context(), t, opts, cmd.OutOrStdout(), cmd.ErrOrStderr())
		}),
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}
