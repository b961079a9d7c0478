package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 12, 1, 3, ' ', 0) }

func newPsCmd(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "ps [--format table|json] CONTAINER_ID [-- PS_OPTIONS...]",
		Short: "list the processes running in a container",
		Long: "list the processes running in a container. With PS_OPTIONS (after the ID), ps(1) runs with them\n" +
			"and prints its header and the lines of the container's processes, as runc does.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.load(args[0])
			if err != nil {
				return err
			}
			pids, err := c.Processes()
			if err != nil {
				return err
			}
			switch format {
			case "json":
				if pids == nil {
					pids = []int{}
				}
				return printJSON(os.Stdout, pids)
			case "table":
				// "--" before the options is optional, as with runc.
				if opts := args[1:]; len(opts) > 0 && opts[0] == "--" {
					args = append(args[:1], opts[1:]...)
				}
				if len(args) > 1 {
					return psFiltered(ctx(cmd), os.Stdout, args[1:], pids)
				}
				w := newTable(os.Stdout)
				fmt.Fprintln(w, "PID\tCMD")
				for _, pid := range pids {
					fmt.Fprintf(w, "%d\t%s\n", pid, cmdline(pid))
				}
				return w.Flush()
			}
			return fmt.Errorf("invalid --format %q: use table or json", format)
		},
	}
	// Options after the ID are ps's, "-ef" included.
	cmd.Flags().SetInterspersed(false)
	cmd.Flags().StringVarP(&format, "format", "f", "table", "output format: table or json")
	return cmd
}

// psFiltered runs ps(1) with the caller's options and prints its header and
// the lines whose PID column is one of pids.
func psFiltered(ctx context.Context, w io.Writer, options []string, pids []int) error {
	out, err := exec.CommandContext(ctx, "ps", options...).CombinedOutput()
	if errors.Is(err, exec.ErrNotFound) {
		return fmt.Errorf("ps options %v need ps(1) on the host: install procps", options)
	}
	if err != nil {
		return fmt.Errorf("ps %s: %w: %s", strings.Join(options, " "), err, bytes.TrimSpace(out))
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	col := slices.Index(strings.Fields(lines[0]), "PID")
	if col < 0 {
		return fmt.Errorf("ps %s: no PID column in its output (add pid to -o)", strings.Join(options, " "))
	}
	fmt.Fprintln(w, lines[0])
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		if len(f) <= col {
			continue
		}
		if pid, err := strconv.Atoi(f[col]); err == nil && slices.Contains(pids, pid) {
			fmt.Fprintln(w, line)
		}
	}
	return nil
}

func cmdline(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(data) == 0 {
		return "?"
	}
	return strings.TrimSpace(string(bytes.ReplaceAll(data, []byte{0}, []byte{' '})))
}
