package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 12, 1, 3, ' ', 0) }

func newPsCmd(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "ps [--format table|json] CONTAINER_ID",
		Short: "list the processes running in a container",
		Args:  cobra.MinimumNArgs(1),
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
	cmd.Flags().StringVarP(&format, "format", "f", "table", "output format: table or json")
	return cmd
}

func cmdline(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(data) == 0 {
		return "?"
	}
	return strings.TrimSpace(string(bytes.ReplaceAll(data, []byte{0}, []byte{' '})))
}
