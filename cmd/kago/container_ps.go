package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kago-run/kago/engine"
	"github.com/kago-run/kago/engine/containers"
	"github.com/kago-run/kago/engine/health"
)

func newPsCmd(g *globalOptions) *cobra.Command {
	var all, quiet bool
	var format string
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
			switch {
			case quiet:
				for _, r := range shown {
					fmt.Fprintln(out, r.ShortID())
				}
			case format == "json":
				enc := json.NewEncoder(out)
				for _, r := range shown {
					enc.Encode(psJSON(r))
				}
			case format == "" || format == "table":
				tw := tabwriter.NewWriter(out, 0, 8, 3, ' ', 0)
				fmt.Fprintln(tw, "CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tPORTS\tNAMES")
				for _, r := range shown {
					cmdline := strings.Join(r.Command, " ")
					if len(cmdline) > 20 {
						cmdline = cmdline[:19] + "…"
					}
					fmt.Fprintf(tw, "%s\t%s\t%q\t%s ago\t%s\t%s\t%s\n", r.ShortID(), r.Image, cmdline,
						humanDuration(time.Since(r.Created)), statusText(r), portsText(r), r.Name)
				}
				return tw.Flush()
			default:
				return fmt.Errorf("unsupported --format %q: use table or json", format)
			}
			return nil
		}),
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "show all containers (default: running only)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only print IDs")
	cmd.Flags().StringVar(&format, "format", "", "output format: table or json")
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
			containers.StatusRestarting, containers.StatusExited, containers.StatusRemoving}, v):
			return nil, fmt.Errorf("invalid filter status=%s: use created, running, restarting, exited or removing", v)
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
		return r.State.Status == v
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

func psJSON(r *containers.Record) map[string]any {
	return map[string]any{
		"ID": r.ShortID(), "Image": r.Image, "Command": strings.Join(r.Command, " "),
		"CreatedAt": r.Created.Format(time.RFC3339), "State": r.State.Status, "Status": statusText(r),
		"Ports": portsText(r), "Names": r.Name, "Networks": r.Network,
	}
}

func statusText(r *containers.Record) string {
	s := r.State
	switch s.Status {
	case containers.StatusRunning:
		up := "Up " + humanDuration(time.Since(s.StartedAt))
		if h := s.Health; h != nil {
			if h.Status == health.Starting {
				return up + " (health: starting)"
			}
			return up + " (" + h.Status + ")"
		}
		return up
	case containers.StatusExited:
		return fmt.Sprintf("Exited (%d) %s ago", s.ExitCode, humanDuration(time.Since(s.FinishedAt)))
	case containers.StatusRestarting:
		return fmt.Sprintf("Restarting (%d)", s.ExitCode)
	case containers.StatusCreated:
		return "Created"
	}
	return strings.ToUpper(s.Status[:1]) + s.Status[1:]
}

func portsText(r *containers.Record) string {
	ports := r.Ports
	if r.Endpoint != nil {
		ports = r.Endpoint.Ports
	}
	var parts []string
	for _, p := range ports {
		ip := "0.0.0.0"
		if p.HostIP.IsValid() {
			ip = p.HostIP.String()
		}
		if r.Endpoint == nil {
			parts = append(parts, fmt.Sprintf("%d/%s", p.ContainerPort, p.Protocol))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s:%d->%d/%s", ip, p.HostPort, p.ContainerPort, p.Protocol))
	}
	return strings.Join(parts, ", ")
}

func humanDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d seconds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d minutes", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d hours", int(d.Hours()))
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}

func newInspectCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect CONTAINER [CONTAINER...]",
		Short: "Show containers as docker-style JSON",
		Args:  cobra.MinimumNArgs(1),
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			var out []any
			for _, ref := range args {
				r, err := e.Lookup(ref)
				if err != nil {
					return err
				}
				out = append(out, engine.Inspect(r))
			}
			data, err := json.MarshalIndent(out, "", "    ")
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), string(data))
			return nil
		}),
	}
}

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
