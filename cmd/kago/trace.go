package main

import (
	"fmt"
	"os"
	"os/signal"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

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
			if rec.State.Status != containers.StatusRunning || rec.State.Pid <= 0 {
				return fmt.Errorf("container %s is not running: start it first", rec.Name)
			}
			ctx, cancel := signal.NotifyContext(cmd.Context(), os.Interrupt, unix.SIGTERM)
			defer cancel()
			opts.Ready = func() { fmt.Fprintf(cmd.ErrOrStderr(), "tracing container %s\n", rec.Name) }
			return trace.Stream(ctx, trace.Target{Name: rec.Name, Pid: rec.State.Pid}, opts, cmd.OutOrStdout())
		}),
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}
