package engine

import (
	"strconv"
	"time"

	"github.com/kago-run/kago/engine/containers"
	"github.com/kago-run/kago/network"
)

// Inspect renders a record the way `docker inspect` shows a container, for
// the fields kago has.
func Inspect(r *containers.Record) map[string]any {
	st := r.State
	ts := func(t time.Time) string {
		if t.IsZero() {
			return "0001-01-01T00:00:00Z"
		}
		return t.Format(time.RFC3339Nano)
	}
	ns := map[string]any{"IPAddress": "", "MacAddress": "", "Gateway": "", "Ports": map[string]any{}, "Networks": map[string]any{}}
	if ep := r.Endpoint; ep != nil {
		ns["IPAddress"], ns["MacAddress"], ns["Gateway"], ns["IPPrefixLen"] = ep.IP.String(), ep.MAC, ep.Gateway.String(), ep.Prefix
		ports := map[string]any{}
		for _, p := range ep.Ports {
			hostIP := "0.0.0.0"
			if p.HostIP.IsValid() {
				hostIP = p.HostIP.String()
			}
			key := strconv.Itoa(int(p.ContainerPort)) + "/" + p.Protocol
			list, _ := ports[key].([]map[string]string)
			ports[key] = append(list, map[string]string{"HostIp": hostIP, "HostPort": strconv.Itoa(int(p.HostPort))})
		}
		ns["Ports"] = ports
	}
	ns["Networks"] = networksOf(r)
	mounts := r.Mounts
	if mounts == nil {
		mounts = []containers.Mount{}
	}
	return map[string]any{
		"Id": r.ID, "Name": "/" + r.Name, "Created": ts(r.Created), "Image": r.ImageID,
		"Path": first(r.Command), "Args": rest(r.Command), "AppArmorProfile": r.AppArmorProfile,
		"State": map[string]any{
			"Status": inspectStatus(st), "Running": st.Status == containers.StatusRunning, "Paused": st.Status == containers.StatusRunning && st.Paused,
			"Restarting": st.Status == containers.StatusRestarting, "Pid": st.Pid, "ExitCode": st.ExitCode,
			"OOMKilled": st.OOMKilled, "Error": st.Error, "StartedAt": ts(st.StartedAt), "FinishedAt": ts(st.FinishedAt),
			"MonitorPid": st.MonitorPid, // kago: the per-container monitor process
			"Health":     st.Health,
		},
		"RestartCount":    st.RestartCount,
		"HostConfig":      hostConfig(r),
		"Config":          map[string]any{"Hostname": r.Hostname, "Image": r.Image, "Cmd": r.Command, "Tty": r.Tty, "StopSignal": r.StopSignal, "StopTimeout": r.HostConfig.StopTimeout, "Healthcheck": r.Healthcheck, "Labels": r.Labels},
		"NetworkSettings": ns,
		"Mounts":          mounts,
	}
}

// inspectStatus is docker's State.Status: "paused" for a frozen container.
func inspectStatus(st containers.State) string {
	if st.Status == containers.StatusRunning && st.Paused {
		return "paused"
	}
	return st.Status
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func rest(s []string) []string {
	if len(s) < 2 {
		return []string{}
	}
	return s[1:]
}

// hostConfig is docker's HostConfig of the record.
func hostConfig(r *containers.Record) map[string]any {
	hc := r.HostConfig
	extra := []string{}
	for _, h := range hc.ExtraHosts {
		extra = append(extra, h.String())
	}
	dns := []string{}
	for _, a := range hc.DNS.Servers {
		dns = append(dns, a.String())
	}
	shm := hc.ShmSize
	if shm == 0 {
		shm = 64 << 20
	}
	return map[string]any{
		"NetworkMode": r.Network, "RestartPolicy": r.Restart, "AutoRemove": r.AutoRemove,
		"ExtraHosts": extra, "Dns": dns, "DnsSearch": nonNil(hc.DNS.Search), "DnsOptions": nonNil(hc.DNS.Options),
		"Ulimits": nonNil(hc.Ulimits), "Devices": nonNil(hc.Devices), "ShmSize": shm, "Sysctls": hc.Sysctls,
	}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// networksOf is docker's NetworkSettings.Networks: every network of the
// container, with its live address when it runs.
func networksOf(r *containers.Record) map[string]any {
	out := map[string]any{}
	if !NetworkMode(r.Network).OwnInterface() {
		return out
	}
	eps := r.MoreEndpoints
	if r.Endpoint != nil {
		eps = append([]network.Endpoint{*r.Endpoint}, eps...)
	}
	add := func(name string, aliases []string) {
		v := map[string]any{"NetworkID": name, "IPAddress": "", "MacAddress": "", "Gateway": "", "IPPrefixLen": 0, "Aliases": aliases}
		for _, ep := range eps {
			if ep.Network == name {
				v["IPAddress"], v["MacAddress"], v["Gateway"], v["IPPrefixLen"], v["Aliases"] = ep.IP.String(), ep.MAC, ep.Gateway.String(), ep.Prefix, ep.Aliases
			}
		}
		out[name] = v
	}
	add(r.Network, r.NetworkAliases)
	for _, nc := range r.MoreNetworks {
		add(nc.Name, nc.Aliases)
	}
	return out
}
