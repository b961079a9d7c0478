package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kago-run/kago/engine"
	"github.com/kago-run/kago/engine/containers"
)

func jsonUnmarshalStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func newPsCmd(g *globalOptions) *cobra.Command {
	var all, quiet bool
	var format string
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS]",
		Short: "List containers",
		Args:  cobra.NoArgs,
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			list, err := e.List()
			if err != nil {
				return err
			}
			var shown []*containers.Record
			for _, r := range list {
				if all || r.State.Status == containers.StatusRunning || r.State.Status == containers.StatusRestarting {
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
	return cmd
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
		return "Up " + humanDuration(time.Since(s.StartedAt))
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
