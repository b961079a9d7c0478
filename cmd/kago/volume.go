package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kago-run/kago/engine"
	"github.com/kago-run/kago/image"
)

// newVolumeCmd is `kago volume`: named and anonymous volumes (the local
// driver) under <root>/volumes.
func newVolumeCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "volume", Short: "Manage volumes", Args: cobra.NoArgs}
	cmd.AddCommand(volumeCreateCmd(g), volumeLsCmd(g), volumeInspectCmd(g), volumeRmCmd(g), volumePruneCmd(g))
	return cmd
}

// parseLabels parses --label KEY[=VALUE] values (engine.ParseLabels),
// an empty map for none.
func parseLabels(values []string) (map[string]string, error) {
	out, err := engine.ParseLabels(values, nil)
	if out == nil && err == nil {
		out = map[string]string{}
	}
	return out, err
}

func volumeCreateCmd(g *globalOptions) *cobra.Command {
	var labels, opts []string
	var driver string
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] [VOLUME]",
		Short: "Create a volume",
		Args:  cobra.MaximumNArgs(1),
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			if driver != "local" {
				return fmt.Errorf("--driver %q: kago has the local driver only", driver)
			}
			if len(opts) > 0 {
				return fmt.Errorf("--opt %q: the local driver takes no options in kago", opts[0])
			}
			l, err := parseLabels(labels)
			if err != nil {
				return err
			}
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			v, err := e.CreateVolume(name, l)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), v.Name)
			return nil
		}),
	}
	cmd.Flags().StringArrayVarP(&labels, "label", "l", nil, "set metadata on the volume (KEY=VALUE)")
	cmd.Flags().StringVarP(&driver, "driver", "d", "local", "volume driver")
	cmd.Flags().StringArrayVarP(&opts, "opt", "o", nil, "driver options")
	return cmd
}

func volumeLsCmd(g *globalOptions) *cobra.Command {
	var filters []string
	var quiet bool
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List volumes",
		Args:    cobra.NoArgs,
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			f, err := engine.ParseVolumeFilters(filters, "name", "label", "label!", "dangling", "driver")
			if err != nil {
				return err
			}
			vs, err := e.Volumes(f)
			if err != nil {
				return err
			}
			if quiet {
				for _, v := range vs {
					fmt.Fprintln(cmd.OutOrStdout(), v.Name)
				}
				return nil
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 3, ' ', 0)
			fmt.Fprintln(tw, "DRIVER\tVOLUME NAME")
			for _, v := range vs {
				fmt.Fprintf(tw, "%s\t%s\n", v.Driver, v.Name)
			}
			return tw.Flush()
		}),
	}
	cmd.Flags().StringArrayVarP(&filters, "filter", "f", nil, "filter: name=, label=KEY[=VALUE], dangling=true|false, driver=")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only show volume names")
	return cmd
}

func volumeInspectCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect VOLUME...",
		Short: "Show volumes in JSON",
		Args:  cobra.MinimumNArgs(1),
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			out := []*engine.Volume{}
			var firstErr error
			for _, name := range args {
				v, err := e.InspectVolume(name)
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
					continue
				}
				out = append(out, v)
			}
			data, err := json.MarshalIndent(out, "", "    ")
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), string(data))
			return firstErr
		}),
	}
}

func volumeRmCmd(g *globalOptions) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] VOLUME...",
		Aliases: []string{"remove"},
		Short:   "Remove volumes no container uses",
		Args:    cobra.MinimumNArgs(1),
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			var firstErr error
			for _, name := range args {
				if err := e.RemoveVolume(name, force); err != nil {
					if firstErr == nil {
						firstErr = err
					}
					continue
				}
				fmt.Fprintln(cmd.OutOrStdout(), name)
			}
			return firstErr
		}),
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "no error for a missing volume")
	return cmd
}

func volumePruneCmd(g *globalOptions) *cobra.Command {
	var filters []string
	var all, yes bool
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused anonymous volumes (all unused ones with -a)",
		Args:  cobra.NoArgs,
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			if all {
				filters = append(filters, "all=true")
			}
			f, err := engine.ParseVolumeFilters(filters, "label", "label!", "all")
			if err != nil {
				return err
			}
			names, space, err := e.PruneVolumes(f)
			out := cmd.OutOrStdout()
			if len(names) > 0 {
				fmt.Fprintln(out, "Deleted Volumes:")
				for _, n := range names {
					fmt.Fprintln(out, n)
				}
				fmt.Fprintln(out)
			}
			fmt.Fprintf(out, "Total reclaimed space: %s\n", image.HumanSize(space))
			return err
		}),
	}
	cmd.Flags().StringArrayVar(&filters, "filter", nil, "filter: label=KEY[=VALUE], label!=KEY[=VALUE]")
	cmd.Flags().BoolVarP(&all, "all", "a", false, "remove all unused volumes, not only anonymous ones")
	cmd.Flags().BoolVarP(&yes, "force", "f", false, "do not prompt for confirmation (kago never prompts)")
	return cmd
}
