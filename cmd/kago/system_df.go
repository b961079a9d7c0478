package main

import (
	"fmt"
	"github.com/kago-run/kago/internal/psrow"
	"io"

	"github.com/spf13/cobra"

	"github.com/kago-run/kago/build"
	"github.com/kago-run/kago/engine"
	"github.com/kago-run/kago/image"
	"github.com/kago-run/kago/internal/format"
)

// dfRow is one line of `system df`: docker's fields for --format.
type dfRow struct {
	Type        string
	TotalCount  string
	Active      string
	Size        string
	Reclaimable string
}

const dfDefaultFormat = `table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}`

var dfHeaders = map[string]string{"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"}

// dfSummary is the row of one kind of object: its count, how many are in
// use, their size and the size of those not in use.
func dfSummary[T any](typ string, items []T, usage func(T) (size int64, active bool)) dfRow {
	var size, free int64
	active := 0
	for _, it := range items {
		n, used := usage(it)
		size += n
		if used {
			active++
		} else {
			free += n
		}
	}
	return newDfRow(typ, len(items), active, size, free)
}

// imagesRow counts each layer once, however many images share it, as
// docker's system df does.
func imagesRow(du *engine.DiskUsage) dfRow {
	r := dfSummary("Images", du.Images, func(i engine.ImageUsage) (int64, bool) { return 0, i.Containers > 0 })
	sized := newDfRow("Images", 0, 0, du.LayersSize, du.LayersReclaimable)
	r.Size, r.Reclaimable = sized.Size, sized.Reclaimable
	return r
}

func newDfRow(typ string, total, active int, size, reclaimable int64) dfRow {
	r := dfRow{Type: typ, TotalCount: fmt.Sprint(total), Active: fmt.Sprint(active), Size: image.HumanSize(size),
		Reclaimable: image.HumanSize(reclaimable)}
	if size > 0 {
		r.Reclaimable += fmt.Sprintf(" (%d%%)", reclaimable*100/size)
	}
	return r
}

func newSystemDfCmd(g *globalOptions) *cobra.Command {
	var verbose bool
	var fmtFlag string
	cmd := &cobra.Command{
		Use:   "df [OPTIONS]",
		Short: "Show the space images, containers, volumes and the build cache take",
		Args:  cobra.NoArgs,
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			f, err := format.New(fmtFlag, dfDefaultFormat)
			if err != nil {
				return err
			}
			du, err := e.DiskUsage()
			if err != nil {
				return err
			}
			b, err := build.New(e.Root, e.Images, nil)
			if err != nil {
				return err
			}
			cacheEntries, cacheSize, err := b.CacheUsage()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if verbose {
				return printDfVerbose(out, du, cacheEntries, cacheSize)
			}
			rows := []any{
				imagesRow(du),
				dfSummary("Containers", du.Containers, func(c engine.ContainerUsage) (int64, bool) { return c.Size, c.Running() }),
				dfSummary("Local Volumes", du.Volumes, func(v engine.VolumeUsage) (int64, bool) { return v.Size, v.Links > 0 }),
			}
			rows = append(rows, newDfRow("Build Cache", cacheEntries, 0, cacheSize, cacheSize))
			return f.Write(out, rows, dfHeaders)
		}),
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "show each image, container and volume")
	cmd.Flags().StringVar(&fmtFlag, "format", "", `output format: "table", "table TEMPLATE", "json" or a Go template (fields .Type .TotalCount .Active .Size .Reclaimable)`)
	return cmd
}

// printDfVerbose writes docker's `system df -v` sections.
func printDfVerbose(w io.Writer, du *engine.DiskUsage, cacheEntries int, cacheSize int64) error {
	section := func(title, def string, headers map[string]string, rows []any) error {
		fmt.Fprintf(w, "%s\n\n", title)
		f, err := format.New(def, def)
		if err != nil {
			return err
		}
		if err := f.Write(w, rows, headers); err != nil {
			return err
		}
		fmt.Fprintln(w)
		return nil
	}
	var imgs []*image.Image
	uses := map[string]int{}
	for _, img := range du.Images {
		imgs = append(imgs, img.Image)
		uses[image.ShortID(img.ID)] = img.Containers
	}
	var rows []any
	for _, r := range imageRows(imgs) {
		rows = append(rows, struct {
			imageRow
			Containers int
		}{r, uses[r.ID]})
	}
	if err := section("Images space usage:", `table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.Containers}}`,
		map[string]string{"ID": "IMAGE ID", "CreatedSince": "CREATED", "Containers": "CONTAINERS"}, rows); err != nil {
		return err
	}
	rows = nil
	for _, c := range du.Containers {
		row := psrow.New(c.Record, true)
		row.Size = image.HumanSize(c.Size)
		rows = append(rows, row)
	}
	if err := section("Containers space usage:", `table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}`,
		psrow.Headers, rows); err != nil {
		return err
	}
	rows = nil
	for _, v := range du.Volumes {
		row := newVolumeRow(v.Volume)
		row.Links, row.Size = fmt.Sprint(v.Links), image.HumanSize(v.Size)
		rows = append(rows, row)
	}
	if err := section("Local Volumes space usage:", `table {{.Name}}\t{{.Links}}\t{{.Size}}`, volumeHeaders, rows); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "Build cache usage: %s (%d entries)\n", image.HumanSize(cacheSize), cacheEntries)
	return err
}
