package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kago-run/kago/engine"
	"github.com/kago-run/kago/linux/explain"
	"github.com/kago-run/kago/network"
)

// explainView is `kago explain`'s answer: what the kernel reports of the
// container's processes, and the network the engine attached it to.
type explainView struct {
	ID      string            `json:"id"`
	Name    string            `json:"name"`
	Report  *explain.Report   `json:"process"`
	Network *network.Endpoint `json:"network,omitempty"`
	// NFT are the published ports' elements in the engine's nftables maps.
	NFT []network.NFTElement `json:"nftElements,omitempty"`
}

func newExplainCmd(g *globalOptions) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "explain [--format text|json] CONTAINER",
		Short: "Show what a running container is made of: namespaces, cgroup, mounts, capabilities, seccomp, user, processes, network",
		Long: `Show what a running container is made of, read from /proc and the cgroup
files: a container is just a process with a few Linux features applied.
Each section names the manual page that explains it.`,
		Args: cobra.ExactArgs(1),
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			if format != "text" && format != "json" {
				return fmt.Errorf("unknown --format %q: use text or json", format)
			}
			rec, pid, pids, err := e.ExplainTarget(args[0])
			if err != nil {
				return err
			}
			rep, err := explain.Inspect(pid, pids)
			if err != nil {
				return fmt.Errorf("explain %s: %w", rec.Name, err)
			}
			v := explainView{ID: rec.ID, Name: rec.Name, Report: rep, Network: rec.Endpoint}
			if rec.Endpoint != nil {
				v.NFT = e.Net.NFTElements(*rec.Endpoint)
			}
			if format == "json" {
				data, err := json.MarshalIndent(v, "", "  ")
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), string(data))
				return nil
			}
			writeExplain(cmd.OutOrStdout(), v)
			return nil
		}),
	}
	cmd.Flags().StringVar(&format, "format", "text", "output format: text or json")
	return cmd
}

// writeExplain prints the human form: one section per feature.
func writeExplain(w io.Writer, v explainView) {
	r := v.Report
	section := func(title, man string) { fmt.Fprintf(w, "\n== %s  (man %s)\n", title, man) }
	fmt.Fprintf(w, "container %s (%s): init is host pid %d\n", v.Name, v.ID[:min(12, len(v.ID))], r.Pid)

	section("namespaces: /proc/PID/ns/* compared with the host's /proc/1/ns/*", explain.ManNamespaces)
	for _, ns := range r.Namespaces {
		how := "NEW (own namespace)"
		if ns.Shared {
			how = "shared with the host"
		}
		fmt.Fprintf(w, "  %-7s %d  host %d  %s\n", ns.Type, ns.Inode, ns.HostInode, how)
	}

	section("cgroup: /proc/PID/cgroup and the files in its directory", explain.ManCgroups)
	for _, cg := range r.Cgroups {
		if cg.Files == nil {
			continue // a hierarchy with nothing to show (named, or no limit files)
		}
		fmt.Fprintf(w, "  v%d %s %s\n", cg.Version, cg.Controllers, cg.Dir)
		names := make([]string, 0, len(cg.Files))
		for n := range cg.Files {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(w, "      %-22s %s\n", n, cg.Files[n])
		}
	}

	section("mounts: /proc/PID/mountinfo", explain.ManMounts)
	for _, m := range r.Mounts {
		fmt.Fprintf(w, "  %-24s %-10s %-12s %s\n", m.Target, m.FSType, m.Source, m.Options)
	}

	section("capabilities: CapEff/CapPrm/CapBnd in /proc/PID/status", explain.ManCaps)
	capLine := func(name string, set []string) {
		fmt.Fprintf(w, "  %-11s %s\n", name, orNone(strings.Join(set, " ")))
	}
	capLine("effective", r.Caps.Effective)
	capLine("permitted", r.Caps.Permitted)
	capLine("bounding", r.Caps.Bounding)
	capLine("ambient", r.Caps.Ambient)
	fmt.Fprintf(w, "  no_new_privs %v  (man prctl(2))\n", r.NoNewPrivs)

	section("seccomp: Seccomp in /proc/PID/status", explain.ManSeccomp)
	fmt.Fprintf(w, "  mode %s\n", r.Seccomp)

	section("user: Uid/Gid in /proc/PID/status, uid_map/gid_map", explain.ManUserNS)
	fmt.Fprintf(w, "  uid %s  gid %s  groups %s\n", r.User.Uid, r.User.Gid, orNone(r.User.Groups))
	fmt.Fprintf(w, "  uid_map %s\n  gid_map %s\n", strings.Join(r.User.UIDMap, "; "), strings.Join(r.User.GIDMap, "; "))

	section("processes: host pid and the pid the container sees (NSpid)", explain.ManPidNS)
	for _, p := range r.Processes {
		inside := 0
		if len(p.NSpid) > 0 {
			inside = p.NSpid[len(p.NSpid)-1]
		}
		fmt.Fprintf(w, "  host %-7d container %-5d ppid %-7d %s\n", p.HostPid, inside, p.PPid, p.Command)
	}

	section("network: from the engine's records", explain.ManNetwork)
	ep := v.Network
	if ep == nil {
		fmt.Fprintln(w, "  no network endpoint (host or none network)")
		return
	}
	fmt.Fprintf(w, "  %s in the container, veth peer %s on bridge %s (network %s)\n", ep.IfName, ep.HostVeth, ep.Bridge, ep.Network)
	fmt.Fprintf(w, "  ip %s/%d  gateway %s  mac %s  netns %s\n", ep.IP, ep.Prefix, ep.Gateway, ep.MAC, ep.NetnsPath)
	for i, p := range ep.Ports {
		fmt.Fprintf(w, "  published %s  (nftables DNAT to %s", p, ep.IP)
		if i < len(v.NFT) {
			fmt.Fprintf(w, ": map %s element %s", v.NFT[i].Map, v.NFT[i].Element)
		}
		fmt.Fprintln(w, ")")
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
