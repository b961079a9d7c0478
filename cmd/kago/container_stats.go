package main

import (
	"encoding/json"
	"fmt"
	"github.com/kago-run/kago/linux/console"
	"io"
	"math"
	"os"
	"os/signal"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/engine"
	"github.com/kago-run/kago/engine/containers"
	"github.com/kago-run/kago/image"
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
	var format string
	cmd := &cobra.Command{
		Use:   "stats [--no-stream] [--format table|json] [CONTAINER...]",
		Short: "Show containers' CPU, memory and process counts, live until Ctrl-C",
		Long: `Show containers' CPU, memory and process counts. Without --no-stream the
table is redrawn every second until Ctrl-C; a container that stops drops
out of it. Without names, every running container is shown, including
those started meanwhile.

--format json prints one object per container and sample, a line each:
{"id","name","cpu_percent","memory_usage_bytes","memory_limit_bytes","pids"}
(memory_limit_bytes is 0 when the memory is not limited).`,
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			var show func(io.Writer, []statsRow) error
			switch format {
			case "table", "":
				show = printStatsTable
			case "json":
				show = printStatsJSON
			default:
				return fmt.Errorf("unknown --format %q: use table or json", format)
			}
			ctx, cancel := signal.NotifyContext(cmd.Context(), os.Interrupt, unix.SIGTERM)
			defer cancel()
			out := cmd.OutOrStdout()
			redraw := format != "json" && console.IsTerminal(out)
			// Named containers must run at the start; later, those that
			// stop drop out of the table.
			prev, err := sampleStats(e, args, true)
			if err != nil {
				return err
			}
			// CPU % needs two samples; the first table comes sooner.
			wait := 500 * time.Millisecond
			for {
				select {
				case <-ctx.Done():
					return nil // Ctrl-C ends a stream: not an error
				case <-time.After(wait):
				}
				cur, err := sampleStats(e, args, false)
				if err != nil {
					return err
				}
				rows := make([]statsRow, 0, len(cur))
				for _, s := range cur {
					r := statsRow{StatsSample: s}
					if p, ok := prev[s.ID]; ok {
						r.cpu = s.CPUPercent(p)
					}
					rows = append(rows, r)
				}
				sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
				if redraw {
					fmt.Fprint(out, "\033[2J\033[H")
				}
				if err := show(out, rows); err != nil {
					return err
				}
				if noStream {
					return nil
				}
				prev, wait = map[string]engine.StatsSample{}, time.Second
				for _, s := range cur {
					prev[s.ID] = s
				}
			}
		}),
	}
	cmd.Flags().BoolVar(&noStream, "no-stream", false, "print one sample and exit")
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json (one object per line)")
	return cmd
}

// statsRow is a sample with its CPU percentage since the previous one.
type statsRow struct {
	engine.StatsSample
	cpu float64
}

// sampleStats reads the named containers, or every running one without
// names. A container that is not running is an error only if strict.
func sampleStats(e *engine.Engine, refs []string, strict bool) (map[string]engine.StatsSample, error) {
	if len(refs) == 0 {
		list, err := e.List()
		if err != nil {
			return nil, err
		}
		for _, r := range list {
			if r.State.Status == containers.StatusRunning {
				refs = append(refs, r.ID)
			}
		}
		strict = false // it may have stopped since the listing
	}
	out := map[string]engine.StatsSample{}
	for _, ref := range refs {
		s, err := e.Sample(ref)
		if err != nil {
			if strict {
				return nil, err
			}
			continue
		}
		out[s.ID] = s
	}
	return out, nil
}

func printStatsTable(w io.Writer, rows []statsRow) error {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCPU %\tMEM USAGE / LIMIT\tPIDS")
	for _, r := range rows {
		limit := "unlimited"
		if r.MemLimit > 0 {
			limit = image.HumanSize(int64(r.MemLimit))
		}
		fmt.Fprintf(tw, "%s\t%.2f%%\t%s / %s\t%d\n", r.Name, r.cpu, image.HumanSize(int64(r.MemUsage)), limit, r.Pids)
	}
	return tw.Flush()
}

func printStatsJSON(w io.Writer, rows []statsRow) error {
	enc := json.NewEncoder(w)
	for _, r := range rows {
		err := enc.Encode(struct {
			ID       string  `json:"id"`
			Name     string  `json:"name"`
			CPU      float64 `json:"cpu_percent"`
			MemUsage uint64  `json:"memory_usage_bytes"`
			MemLimit uint64  `json:"memory_limit_bytes"`
			Pids     uint64  `json:"pids"`
		}{r.ID, r.Name, math.Round(r.cpu*100) / 100, r.MemUsage, r.MemLimit, r.Pids})
		if err != nil {
			return err
		}
	}
	return nil
}

func newCpCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "cp CONTAINER:SRC_PATH DEST_PATH|- | SRC_PATH|- CONTAINER:DEST_PATH",
		Short: "Copy files between a container and the host; - is a tar archive on stdout or stdin",
		Long: `Copy files between a container and the host, as docker cp does.

  kago cp CONTAINER:SRC_PATH -    write a tar archive of SRC_PATH to stdout,
                                  one entry named by its base name
  kago cp - CONTAINER:DEST_PATH   extract a tar archive from stdin into the
                                  existing directory DEST_PATH

Paths in the container resolve inside it: its symlinks never lead onto the
host. An archive from stdin may not climb out of DEST_PATH with "..", nor
hold device nodes; its files belong to root.`,
		Args: cobra.ExactArgs(2),
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			// "-" is a tar archive on stdin or stdout, as in docker cp.
			switch {
			case args[0] == "-" && args[1] == "-":
				return fmt.Errorf("cp needs one side as CONTAINER:PATH, not - on both")
			case args[1] == "-":
				c, p, ok := strings.Cut(args[0], ":")
				if !ok || strings.Contains(c, "/") {
					return fmt.Errorf("cp to - writes a tar archive of CONTAINER:PATH; %q names no container", args[0])
				}
				if console.IsTerminal(cmd.OutOrStdout()) {
					return fmt.Errorf("refusing to write a tar archive to a terminal: redirect stdout to a file or a pipe")
				}
				return e.CopyFromTar(cmd.Context(), c, p, cmd.OutOrStdout())
			case args[0] == "-":
				c, p, ok := strings.Cut(args[1], ":")
				if !ok || strings.Contains(c, "/") {
					return fmt.Errorf("cp from - extracts a tar archive into CONTAINER:DIRECTORY; %q names no container", args[1])
				}
				if r, ok := cmd.InOrStdin().(*os.File); ok && console.IsTerminal(r) {
					return fmt.Errorf("cp - reads a tar archive from stdin, which is a terminal: pipe or redirect an archive into it")
				}
				return e.CopyToTar(cmd.Context(), c, p, cmd.InOrStdin())
			}
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
