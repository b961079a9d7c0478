// Package psrow is a container as docker's listings show it (ps, compose
// ps, system df): the fields ps templates and --format json see. It is its
// own package so the kago and kago-compose programs share it.
package psrow

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kago-run/kago/engine/containers"
	"github.com/kago-run/kago/engine/health"
)

// Headers are docker's column names for the ps fields.
var Headers = map[string]string{
	"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT", "RunningFor": "CREATED",
	"Ports": "PORTS", "Status": "STATUS", "Size": "SIZE", "Names": "NAMES", "Labels": "LABELS", "Label": "LABEL",
	"Mounts": "MOUNTS", "LocalVolumes": "LOCAL VOLUMES", "Networks": "NETWORKS", "State": "STATE",
}

// Row is one container as ps templates see it: docker's field names, all
// strings, which is also what `ps --format json` prints.
type Row struct {
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
func (r Row) Label(key string) string { return r.labels[key] }

// New is the row of r; trunc shortens the ID, command and anonymous volume names as ps does without --no-trunc.
func New(r *containers.Record, trunc bool) Row {
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
	return Row{
		Command: strconv.Quote(command), CreatedAt: r.Created.Local().Format("2006-01-02 15:04:05 -0700 MST"),
		ID: id, Image: r.Image, Labels: JoinLabels(r.Labels), LocalVolumes: strconv.Itoa(local),
		Mounts: strings.Join(mounts, ","), Names: r.Name, Networks: r.Network, Ports: portsText(r),
		RunningFor: humanDuration(time.Since(r.Created)) + " ago", Size: "0B", State: State(r),
		Status: statusText(r), labels: r.Labels,
	}
}

// JoinLabels is labels as docker's listings show them: KEY=VALUE,... (sorted).
func JoinLabels(labels map[string]string) string {
	var kv []string
	for k, v := range labels {
		kv = append(kv, k+"="+v)
	}
	slices.Sort(kv)
	return strings.Join(kv, ",")
}

// State is docker's one-word state: created, running, paused, ...
func State(r *containers.Record) string {
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
