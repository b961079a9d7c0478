package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kago-run/kago/engine"
	"github.com/kago-run/kago/engine/containers"
	"github.com/kago-run/kago/engine/health"
	"github.com/kago-run/kago/image"
	"github.com/kago-run/kago/internal/format"
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
					fmt.Fprintln(out, newPsRow(r, !noTrunc).ID)
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
				row := newPsRow(r, !noTrunc)
				if size {
					row.Size = image.HumanSize(e.ContainerSize(r.ID))
				}
				rows[i] = row
			}
			return f.Write(out, rows, psHeaders)
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
		return stateText(r) == v
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

// psHeaders are docker's column names for the ps fields.
var psHeaders = map[string]string{
	"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT", "RunningFor": "CREATED",
	"Ports": "PORTS", "Status": "STATUS", "Size": "SIZE", "Names": "NAMES", "Labels": "LABELS", "Label": "LABEL",
	"Mounts": "MOUNTS", "LocalVolumes": "LOCAL VOLUMES", "Networks": "NETWORKS", "State": "STATE",
}

// psRow is one container as ps templates see it: docker's field names, all
// strings, which is also what `ps --format json` prints.
type psRow struct {
	Command      string
	CreatedAt    string
	ID           string
	Image        string
	Labels       string
	LocalVolumes string
	Mounts       string
	Names        string
	Networks     string
	Ports        string
	RunningFor   string
	Size         string
	State        string
	Status       string

	labels map[string]string
}

// Label is the value of one label ({{.Label "com.example.tier"}}).
func (r psRow) Label(key string) string { return r.labels[key] }

func newPsRow(r *containers.Record, trunc bool) psRow {
	id, command := r.ID, strings.Join(r.Command, " ")
	if trunc {
		id = r.ShortID()
		if len([]rune(command)) > 20 {
			command = string([]rune(command)[:19]) + "…"
		}
	}
	var mounts []string
	local := 0
	for _, m := range r.Mounts {
		name := m.Source
		if m.Type == "volume" {
			name, local = m.Name, local+1
			if trunc && len(name) > 15 && m.Anonymous {
				name = name[:15] + "…"
			}
		}
		mounts = append(mounts, name)
	}
	return psRow{
		Command: strconv.Quote(command), CreatedAt: r.Created.Local().Format("2006-01-02 15:04:05 -0700 MST"),
		ID: id, Image: r.Image, Labels: joinLabels(r.Labels), LocalVolumes: strconv.Itoa(local),
		Mounts: strings.Join(mounts, ","), Names: r.Name, Networks: r.Network, Ports: portsText(r),
		RunningFor: humanDuration(time.Since(r.Created)) + " ago", Size: "0B", State: stateText(r),
		Status: statusText(r), labels: r.Labels,
	}
}

// joinLabels is labels as docker's listings show them: KEY=VALUE,... (sorted).
func joinLabels(labels map[string]string) string {
	var kv []string
	for k, v := range labels {
		kv = append(kv, k+"="+v)
	}
	slices.Sort(kv)
	return strings.Join(kv, ",")
}

// stateText is docker's one-word state: created, running, paused, ...
func stateText(r *containers.Record) string {
	if r.State.Status == containers.StatusRunning && r.State.Paused {
		return "paused"
	}
	return r.State.Status
}

func statusText(r *containers.Record) string {
	s := r.State
	switch s.Status {
	case containers.StatusRunning:
		up := "Up " + humanDuration(time.Since(s.StartedAt))
		if s.Paused {
			return up + " (Paused)"
		}
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
