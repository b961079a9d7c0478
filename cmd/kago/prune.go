package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/kago-run/kago/build"
	"github.com/kago-run/kago/engine"
	"github.com/kago-run/kago/image"
)

// The prune verbs, docker's: container, image, network and system prune
// (volume prune is in volume.go). Each prints what it removed under
// docker's headings and the "Total reclaimed space" line. kago never asks
// for confirmation; -f/--force is accepted for docker's scripts.

// pruneFlags are the flags every prune verb takes.
type pruneFlags struct {
	filters []string
	force   bool
}

func (p *pruneFlags) add(cmd *cobra.Command, what string) {
	cmd.Flags().StringArrayVar(&p.filters, "filter", nil, "only "+what+" created before until=TIME (24h, RFC 3339, Unix seconds) or with label=KEY[=VALUE] / label!=KEY[=VALUE]")
	cmd.Flags().BoolVarP(&p.force, "force", "f", false, "do not prompt for confirmation (kago never prompts)")
}

func (p *pruneFlags) parse() (engine.PruneFilter, error) {
	return engine.ParsePruneFilter(p.filters, time.Now())
}

// printDeleted writes one heading and its items, as docker's prune output.
func printDeleted(w io.Writer, heading string, items []string) {
	if len(items) == 0 {
		return
	}
	fmt.Fprintln(w, heading)
	for _, it := range items {
		fmt.Fprintln(w, it)
	}
	fmt.Fprintln(w)
}

func printReclaimed(w io.Writer, bytes int64) {
	fmt.Fprintf(w, "Total reclaimed space: %s\n", image.HumanSize(bytes))
}

// newContainerCmd groups the container verbs as "kago container VERB".
func newContainerCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "container", Short: "Manage containers", Args: cobra.NoArgs}
	ls := newPsCmd(g)
	ls.Use, ls.Aliases = "ls [OPTIONS]", []string{"list", "ps"}
	inspect := newInspectCmd(g)
	inspect.Flags().Set("type", "container")
	cmd.AddCommand(ls, inspect, newContainerPruneCmd(g), newRenameCmd(g), newPauseCmd(g), newUnpauseCmd(g), newUpdateCmd(g),
		newRunCmd(g), newCreateCmd(g), newStartCmd(g), newRestartCmd(g), newStopCmd(g), newKillCmd(g), newRmCmd(g),
		newAttachCmd(g), newWaitCmd(g), newLogsCmd(g), newExecCmd(g), newTopCmd(g), newStatsCmd(g), newCpCmd(g), newPortCmd(g))
	return cmd
}

func newContainerPruneCmd(g *globalOptions) *cobra.Command {
	var p pruneFlags
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove all stopped containers",
		Args:  cobra.NoArgs,
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			f, err := p.parse()
			if err != nil {
				return err
			}
			res, err := e.PruneContainers(cmd.Context(), f)
			printDeleted(cmd.OutOrStdout(), "Deleted Containers:", res.Removed)
			printReclaimed(cmd.OutOrStdout(), res.Bytes)
			return err
		}),
	}
	p.add(cmd, "containers")
	return cmd
}

func newImagePruneCmd(g *globalOptions) *cobra.Command {
	var p pruneFlags
	var all bool
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove dangling images (with -a every image no container uses) and free unreferenced blobs and layers",
		Args:  cobra.NoArgs,
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			f, err := p.parse()
			if err != nil {
				return err
			}
			res, err := e.PruneImages(cmd.Context(), all, f)
			printDeleted(cmd.OutOrStdout(), "Deleted Images:", prefixed("deleted: ", res.Removed))
			printReclaimed(cmd.OutOrStdout(), res.Bytes)
			return err
		}),
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "remove all images no container uses, not only dangling (untagged) ones")
	p.add(cmd, "images")
	return cmd
}

func prefixed(prefix string, items []string) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = prefix + it
	}
	return out
}

func networkPruneCmd(g *globalOptions) *cobra.Command {
	var p pruneFlags
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove user networks no container uses",
		Args:  cobra.NoArgs,
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			f, err := p.parse()
			if err != nil {
				return err
			}
			res, err := e.PruneNetworks(cmd.Context(), f)
			printDeleted(cmd.OutOrStdout(), "Deleted Networks:", res.Removed)
			return err
		}),
	}
	p.add(cmd, "networks")
	return cmd
}

// pruneBuildCache forgets the build cache and frees the layers only it
// kept (what `kago builder prune` does).
func pruneBuildCache(ctx context.Context, e *engine.Engine) (entries int, bytes int64, err error) {
	b, err := build.New(e.Root, e.Images, nil)
	if err != nil {
		return 0, 0, err
	}
	b.Net = e.Net
	if entries, err = b.Prune(); err != nil {
		return entries, 0, err
	}
	gc, err := e.Images.GC(ctx)
	if err != nil {
		return entries, 0, err
	}
	return entries, gc.Bytes, nil
}

// newSystemCmd groups the engine-wide verbs as "kago system VERB".
func newSystemCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "system", Short: "Manage the engine's space and show its state", Args: cobra.NoArgs}
	cmd.AddCommand(newSystemPruneCmd(g), newSystemDfCmd(g), newInfoCmd(g))
	return cmd
}

func newSystemPruneCmd(g *globalOptions) *cobra.Command {
	var p pruneFlags
	var all, volumes bool
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove stopped containers, unused networks, dangling images (-a: unused ones) and the build cache; --volumes: anonymous volumes too",
		Args:  cobra.NoArgs,
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			f, err := p.parse()
			if err != nil {
				return err
			}
			ctx, out := cmd.Context(), cmd.OutOrStdout()
			var total int64
			// Containers first: what they used becomes unused for the rest.
			res, err := e.PruneContainers(ctx, f)
			printDeleted(out, "Deleted Containers:", res.Removed)
			total += res.Bytes
			if err == nil {
				res, err = e.PruneNetworks(ctx, f)
				printDeleted(out, "Deleted Networks:", res.Removed)
			}
			if err == nil && volumes {
				var vf engine.VolumeFilter
				if vf, err = engine.ParseVolumeFilters(labelFilters(f), "label", "label!"); err == nil {
					var names []string
					var bytes int64
					names, bytes, err = e.PruneVolumes(vf)
					printDeleted(out, "Deleted Volumes:", names)
					total += bytes
				}
			}
			if err == nil {
				res, err = e.PruneImages(ctx, all, f)
				printDeleted(out, "Deleted Images:", prefixed("deleted: ", res.Removed))
				total += res.Bytes
			}
			if err == nil {
				var n int
				var bytes int64
				n, bytes, err = pruneBuildCache(ctx, e)
				if n > 0 {
					fmt.Fprintf(out, "Deleted build cache objects: %d\n\n", n)
				}
				total += bytes
			}
			printReclaimed(out, total)
			return err
		}),
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "remove every image no container uses, not only dangling ones")
	cmd.Flags().BoolVar(&volumes, "volumes", false, "remove anonymous volumes no container uses (named ones: kago volume prune -a)")
	p.add(cmd, "objects")
	return cmd
}

// labelFilters gives back the label conditions of a prune filter as
// --filter values, for volume prune (which takes no until).
func labelFilters(f engine.PruneFilter) []string {
	var out []string
	for _, l := range f.Labels {
		out = append(out, "label="+l)
	}
	for _, l := range f.NotLabels {
		out = append(out, "label!="+l)
	}
	return out
}
