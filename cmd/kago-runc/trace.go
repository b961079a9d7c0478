package main

import (
	"fmt"
	"os"
	"os/signal"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/trace"
)

func newTraceCmd(g *globals) *cobra.Command {
	var opts trace.StreamOptions
	cmd := &cobra.Command{
		Use:   "trace [--events LIST] [--format human|json] CONTAINER_ID",
		Short: "show what a container's processes do (eBPF), until Ctrl-C or the container exits",
		Long: "Show what the processes of one container do — exec, open, connect, accept, bind,\n" +
			"signal, OOM kills — filtered in the kernel to that container.\n\n" + trace.FlagsHelp,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.load(args[0])
			if err != nil {
				return err
			}
			if c.Pid() <= 0 {
				return fmt.Errorf("container %s has no running process to trace", c.ID())
			}
			ctx, cancel := signal.NotifyContext(ctx(cmd), os.Interrupt, unix.SIGTERM)
			defer cancel()
			opts.Ready = func() { fmt.Fprintf(os.Stderr, "tracing container %s\n", c.ID()) }
			return trace.Stream(ctx, trace.Target{Name: c.ID(), Pid: c.Pid()}, opts, os.Stdout)
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}
