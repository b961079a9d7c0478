package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kago-run/kago/engine"
	"github.com/kago-run/kago/engine/containers"
	"github.com/kago-run/kago/image"
	"github.com/kago-run/kago/internal/format"
	"github.com/kago-run/kago/internal/psrow"
)

func newPsCmd(g *globalOptions) *cobra.Command {
	var all, quiet, noTrunc, size bool
	var fmtFlag string
	var filters []string
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS]",
		Short: "List containers",
		Args:  cobra.NoArgs,
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			list, err := e.List()
			if err != nil {
				return err
			}
			match, err := parsePsFilters(filters)
			if err != nil {
				return err
			}
			// As docker: a status filter looks at every container.
			all = all || len(match["status"]) > 0
			var shown []*containers.Record
			for _, r := range list {
				if (all || r.State.Status == containers.StatusRunning || r.State.Status == containers.StatusRestarting) && match.matches(r) {
					shown = append(shown, r)
				}
			}
			out := cmd.OutOrStdout()
			if quiet {
				for _, r := range shown {
					fmt.Fprintln(out, psrow.New(r, !noTrunc).ID)
				}
				return nil
			}
			def := psDefaultFormat
			if size {
				def = psSizeFormat
			}
			f, err := format.New(fmtFlag, def)
			if err != nil {
				return err
			}
			rows := make([]any, len(shown))
			for i, r := range shown {
				row := psrow.New(r, !noTrunc)
				if size {
					row.Size = image.HumanSize(e.ContainerSize(r.ID))
				}
				rows[i] = row
			}
			return f.Write(out, rows, psrow.Headers)
		}),
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "show all containers (default: running only)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only print IDs")
	cmd.Flags().StringVar(&fmtFlag, "format", "", `output format: "table", "table TEMPLATE", "json" or a Go template (fields .ID .Image .Command .CreatedAt .RunningFor .Ports .Status .Size .Names .Labels .Label "KEY" .Mounts .Networks .State)`)
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "do not truncate IDs and commands")
	cmd.Flags().BoolVarP(&size, "size", "s", false, "show the bytes each container wrote (.Size)")
	cmd.Flags().StringArrayVarP(&filters, "filter", "f", nil, "KEY=VALUE: status, name, id, ancestor, network, exited; a key given twice matches either value")
	return cmd
}

// psFilters are `ps --filter` values by key: a container matches when, for
// every key, it matches one of the key's values (docker's rule).
type psFilters map[string][]string

func parsePsFilters(args []string) (psFilters, error) {
	f := psFilters{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		switch {
		case !ok:
			return nil, fmt.Errorf("invalid filter %q: use KEY=VALUE", a)
		case k == "status" && !slices.Contains([]string{containers.StatusCreated, containers.StatusRunning,
			containers.StatusRestarting, containers.StatusExited, containers.StatusRemoving, "paused"}, v):
			return nil, fmt.Errorf("invalid filter status=%s: use created, running, paused, restarting, exited or removing", v)
		case k == "exited":
			if _, err := strconv.Atoi(v); err != nil {
				return nil, fmt.Errorf("invalid filter exited=%s: use an exit code", v)
			}
		case k != "status" && k != "name" && k != "id" && k != "ancestor" && k != "network":
			return nil, fmt.Errorf("unknown filter %q: use status, name, id, ancestor, network or exited", k)
		}
		f[k] = append(f[k], v)
	}
	return f, nil
}

func (f psFilters) matches(r *containers.Record) bool {
	for k, values := range f {
		if !slices.ContainsFunc(values, func(v string) bool { return psMatch(r, k, v) }) {
			return false
		}
	}
	return true
}

func psMatch(r *containers.Record, key, v string) bool {
	switch key {
	case "status":
		return psrow.State(r) == v
	case "name":
		return strings.Contains(r.Name, v)
	case "id":
		return strings.HasPrefix(r.ID, v)
	case "ancestor":
		untagged := func(s string) string { return strings.TrimSuffix(s, ":latest") }
		return untagged(r.Image) == untagged(v) || r.ImageID == v || len(v) >= 12 && strings.HasPrefix(r.ImageID, "sha256:"+v)
	case "network":
		return r.Network == v
	case "exited":
		return r.State.Status == containers.StatusExited && strconv.Itoa(r.State.ExitCode) == v
	}
	return false
}

// psDefaultFormat is docker's ps table.
const psDefaultFormat = `table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}`

// psSizeFormat is docker's ps table with --size.
const psSizeFormat = `table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}\t{{.Size}}`

func newPortCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "port CONTAINER",
		Short: "List the container's published ports",
		Args:  cobra.ExactArgs(1),
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			r, err := e.Lookup(args[0])
			if err != nil {
				return err
			}
			if r.Endpoint == nil {
				return nil
			}
			for _, p := range r.Endpoint.Ports {
				ip := "0.0.0.0"
				if p.HostIP.IsValid() {
					ip = p.HostIP.String()
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%d/%s -> %s:%d\n", p.ContainerPort, p.Protocol, ip, p.HostPort)
			}
			return nil
		}),
	}
}
