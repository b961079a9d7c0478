package main

import (
	"fmt"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kago-run/kago/engine"
	"github.com/kago-run/kago/engine/containers"
	"github.com/kago-run/kago/image"
	"github.com/kago-run/kago/linux/cgroups"
)

func newTopCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "top CONTAINER",
		Short: "List the processes of a container",
		Args:  cobra.ExactArgs(1),
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			procs, err := e.Top(args[0])
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 3, ' ', 0)
			fmt.Fprintln(tw, "PID\tPPID\tCMD")
			for _, p := range procs {
				fmt.Fprintf(tw, "%d\t%d\t%s\n", p.PID, p.PPID, p.Command)
			}
			return tw.Flush()
		}),
	}
}

func newStatsCmd(g *globalOptions) *cobra.Command {
	var noStream bool
	cmd := &cobra.Command{
		Use:   "stats --no-stream [CONTAINER...]",
		Short: "Show containers' CPU, memory and process counts",
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			if !noStream {
				return fmt.Errorf("only `stats --no-stream` is supported")
			}
			if len(args) == 0 {
				list, err := e.List()
				if err != nil {
					return err
				}
				for _, r := range list {
					if r.State.Status == containers.StatusRunning {
						args = append(args, r.ID)
					}
				}
			}
			// CPU % needs two samples, as docker takes.
			first := map[string]*cgroups.Stats{}
			for _, ref := range args {
				if _, st, err := e.Stats(ref); err == nil {
					first[ref] = st
				}
			}
			const interval = 500 * time.Millisecond
			time.Sleep(interval)
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 3, ' ', 0)
			fmt.Fprintln(tw, "NAME\tCPU %\tMEM USAGE / LIMIT\tPIDS")
			for _, ref := range args {
				name, st, err := e.Stats(ref)
				if err != nil {
					return err
				}
				cpu := 0.0
				if f := first[ref]; f != nil {
					cpu = float64(st.CPU.Usage.Total-f.CPU.Usage.Total) / float64(interval.Nanoseconds()) * 100
				}
				limit := "unlimited"
				if l := st.Memory.Usage.Limit; l > 0 && l < math.MaxInt64/2 {
					limit = image.HumanSize(int64(l))
				}
				fmt.Fprintf(tw, "%s\t%.2f%%\t%s / %s\t%d\n", name, cpu, image.HumanSize(int64(st.Memory.Usage.Usage)), limit, st.Pids.Current)
			}
			return tw.Flush()
		}),
	}
	cmd.Flags().BoolVar(&noStream, "no-stream", false, "print one sample and exit")
	return cmd
}

func newCpCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "cp CONTAINER:SRC_PATH DEST_PATH | SRC_PATH CONTAINER:DEST_PATH",
		Short: "Copy files between a container and the host",
		Args:  cobra.ExactArgs(2),
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			srcC, srcP, srcIn := strings.Cut(args[0], ":")
			dstC, dstP, dstIn := strings.Cut(args[1], ":")
			// A path with a slash before the colon is a host path.
			srcIn = srcIn && !strings.Contains(srcC, "/")
			dstIn = dstIn && !strings.Contains(dstC, "/")
			switch {
			case srcIn && !dstIn:
				return e.CopyFrom(cmd.Context(), srcC, srcP, args[1])
			case dstIn && !srcIn:
				return e.CopyTo(cmd.Context(), dstC, args[0], dstP)
			}
			return fmt.Errorf("cp needs exactly one side as CONTAINER:PATH (got %q and %q)", args[0], args[1])
		}),
	}
}
