package main

import (
	"fmt"
	"github.com/kago-run/kago/internal/psrow"

	"github.com/spf13/cobra"

	"github.com/kago-run/kago/engine"
	"github.com/kago-run/kago/image"
	"github.com/kago-run/kago/internal/format"
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
	var fmtFlag string
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
			out, err := format.New(fmtFlag, volumeDefaultFormat)
			if err != nil {
				return err
			}
			rows := make([]any, len(vs))
			for i, v := range vs {
				rows[i] = newVolumeRow(v)
			}
			return out.Write(cmd.OutOrStdout(), rows, volumeHeaders)
		}),
	}
	cmd.Flags().StringVar(&fmtFlag, "format", "", `output format: "table", "table TEMPLATE", "json" or a Go template (fields .Name .Driver .Scope .Mountpoint .Labels .Label "KEY")`)
	cmd.Flags().StringArrayVarP(&filters, "filter", "f", nil, "filter: name=, label=KEY[=VALUE], dangling=true|false, driver=")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only show volume names")
	return cmd
}

// volumeDefaultFormat is docker's volume ls table.
const volumeDefaultFormat = `table {{.Driver}}\t{{.Name}}`

// volumeHeaders are docker's column names for the volume fields.
var volumeHeaders = map[string]string{
	"Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE", "Mountpoint": "MOUNTPOINT", "Labels": "LABELS",
	"Label": "LABEL", "Links": "LINKS", "Size": "SIZE",
}

// volumeRow is one volume as volume ls templates see it (docker's fields).
type volumeRow struct {
	Driver, Labels, Links, Mountpoint, Name, Scope, Size string

	labels map[string]string
}

// Label is the value of one label ({{.Label "KEY"}}).
func (r volumeRow) Label(key string) string { return r.labels[key] }

func newVolumeRow(v *engine.Volume) volumeRow {
	return volumeRow{Driver: v.Driver, Labels: psrow.JoinLabels(v.Labels), Links: "N/A", Mountpoint: v.Mountpoint,
		Name: v.Name, Scope: v.Scope, Size: "N/A", labels: v.Labels}
}

func volumeInspectCmd(g *globalOptions) *cobra.Command {
	var tmpl string
	cmd := &cobra.Command{
		Use:   "inspect VOLUME...",
		Short: "Show volumes in JSON",
		Args:  cobra.MinimumNArgs(1),
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			if tmpl != "" {
				if _, err := format.Parse(tmpl); err != nil {
					return err
				}
			}
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
			if err := printInspect(cmd.OutOrStdout(), tmpl, out); err != nil {
				return err
			}
			return firstErr
		}),
	}
	cmd.Flags().StringVarP(&tmpl, "format", "f", "", "print each volume through a Go template, e.g. {{.Mountpoint}}")
	return cmd
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
