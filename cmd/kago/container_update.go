package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/kago-run/kago/engine"
	"github.com/kago-run/kago/engine/specgen"
)

// The verbs that change a container in place: rename, pause, unpause,
// update.

func newRenameCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "rename CONTAINER NEW_NAME",
		Short: "Rename a container",
		Args:  cobra.ExactArgs(2),
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			_, err := e.Rename(cmd.Context(), args[0], args[1])
			return err
		}),
	}
}

func newPauseCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "pause CONTAINER [CONTAINER...]",
		Short: "Freeze every process of running containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			return eachContainer(cmd, args, e.Pause)
		}),
	}
}

func newUnpauseCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "unpause CONTAINER [CONTAINER...]",
		Short: "Thaw paused containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			return eachContainer(cmd, args, e.Unpause)
		}),
	}
}

func newUpdateCmd(g *globalOptions) *cobra.Command {
	var memory, swap, cpus, restart string
	var shares, pids int64
	cmd := &cobra.Command{
		Use:   "update [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Change the limits and restart policy of containers (a running one's at once)",
		Args:  cobra.MinimumNArgs(1),
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			var u engine.UpdateRequest
			fl := cmd.Flags()
			bytes := func(flag, v string) (*int64, error) {
				if v == "-1" {
					n := int64(-1)
					return &n, nil
				}
				n, err := specgen.ParseBytes(v)
				if err != nil {
					return nil, fmt.Errorf("--%s: %w", flag, err)
				}
				return &n, nil
			}
			var err error
			if fl.Changed("memory") {
				if u.Memory, err = bytes("memory", memory); err != nil {
					return err
				}
			}
			if fl.Changed("memory-swap") {
				if u.MemorySwap, err = bytes("memory-swap", swap); err != nil {
					return err
				}
			}
			if fl.Changed("cpus") {
				var n int64
				if cpus != "0" {
					if n, err = engine.ParseCPUs(cpus); err != nil {
						return err
					}
				}
				u.NanoCPUs = &n
			}
			if fl.Changed("cpu-shares") {
				u.CPUShares = &shares
			}
			if fl.Changed("pids-limit") {
				u.PidsLimit = &pids
			}
			if fl.Changed("restart") {
				p, err := engine.ParseRestartPolicy(restart)
				if err != nil {
					return err
				}
				u.Restart = &p
			}
			if u == (engine.UpdateRequest{}) {
				return fmt.Errorf("nothing to update: give --memory, --memory-swap, --cpus, --cpu-shares, --pids-limit or --restart")
			}
			return eachContainer(cmd, args, func(ref string) error {
				_, err := e.Update(ref, u)
				return err
			})
		}),
	}
	cmd.Flags().StringVarP(&memory, "memory", "m", "", "memory limit (512m, 1g; -1 removes it)")
	cmd.Flags().StringVar(&swap, "memory-swap", "", "memory plus swap limit (-1: unlimited swap)")
	cmd.Flags().StringVar(&cpus, "cpus", "", "number of CPUs (1.5; 0 removes the limit)")
	cmd.Flags().Int64VarP(&shares, "cpu-shares", "c", 0, "relative CPU weight (default 1024)")
	cmd.Flags().Int64Var(&pids, "pids-limit", 0, "most processes (-1: unlimited)")
	cmd.Flags().StringVar(&restart, "restart", "", "restart policy: no, on-failure[:N], always, unless-stopped")
	return cmd
}
