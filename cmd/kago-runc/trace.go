package main

import (
	"github.com/spf13/cobra"

	"github.com/kago-run/kago/runtime"
	"github.com/kago-run/kago/trace"
)

func newTraceCmd(g *globals) *cobra.Command {
	var opts trace.StreamOptions
	cmd := &cobra.Command{
		Use:   "trace [--events LIST] [--format human|json] CONTAINER_ID",
		Short: "show what a container's processes do (eBPF), until Ctrl-C or the container exits",
		Long: "Show what the processes of one container do — exec, open, connect, accept, bind,\n" +
			"signal, OOM kills — filtered in the kernel to that container. A created container\n" +
			"is traced from its first instruction.\n\n" + trace.FlagsHelp,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.load(args[0])
			if err != nil {
				return err
			}
			t := trace.Target{Name: c.ID()}
			if c.Status() != runtime.StatusStopped {
				t.Pid = c.Pid()
			}
			return trace.Follow(ctx(cmd), t, opts, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}
