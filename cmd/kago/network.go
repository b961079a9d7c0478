package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kago-run/kago/engine"
	"github.com/kago-run/kago/network"
	"github.com/spf13/cobra"
)

// engineNetworkConfig reads the network configuration the engine uses from
// <root>/config.json ({"Network": {...network.Config...}}, see engine.Config),
// so `kago network` and `kago run` agree on the default bridge, subnets and
// nftables table. A missing file means network.Config's defaults (bridge kago0
// on 10.89.0.0/16, user networks from 10.90.0.0/16, table "kago").
func engineNetworkConfig(root string) (network.Config, error) {
	var c struct {
		Network network.Config `json:"Network"`
	}
	p := filepath.Join(root, "config.json")
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return c.Network, nil
	}
	if err != nil {
		return c.Network, fmt.Errorf("read engine config: %w", err)
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return c.Network, fmt.Errorf("engine config %s: %w (want {\"Network\": {\"BridgeName\": ..., \"Subnet\": \"10.89.0.0/16\", ...}})", p, err)
	}
	return c.Network, nil
}

// newNetworkCmd is `kago network`: user networks kept under <root>/network,
// where the engine's containers attach to them.
func newNetworkCmd(g *globalOptions) *cobra.Command {
	open := func() (*network.Manager, error) {
		cfg, err := engineNetworkConfig(g.Root)
		if err != nil {
			return nil, err
		}
		m, err := network.New(filepath.Join(g.Root, "network"), cfg)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(g.Root, "config.json"), err)
		}
		return m, nil
	}
	cmd := &cobra.Command{
		Use:   "network",
		Short: "Manage networks",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(networkCreateCmd(open), networkLsCmd(open), networkInspectCmd(open), networkRmCmd(open),
		networkPruneCmd(g), networkConnectCmd(g), networkDisconnectCmd(g))
	return cmd
}

func networkCreateCmd(open func() (*network.Manager, error)) *cobra.Command {
	var subnet, bridge, driver string
	var labels []string
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] NETWORK",
		Short: "Create a network (its own bridge and subnet; containers on it resolve each other by name)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if driver != "bridge" {
				return fmt.Errorf("--driver %q: kago networks are Linux bridges; use --driver bridge (the default)", driver)
			}
			var opts network.NetworkOptions
			if subnet != "" {
				p, err := netip.ParsePrefix(subnet)
				if err != nil {
					return fmt.Errorf("--subnet %q: want CIDR notation such as 10.90.7.0/24", subnet)
				}
				if p != p.Masked() {
					return fmt.Errorf("--subnet %v has host bits set: did you mean %v?", p, p.Masked())
				}
				opts.Subnet = p
			}
			opts.Bridge = bridge
			var err error
			if opts.Labels, err = engine.ParseLabels(labels, nil); err != nil {
				return err
			}
			m, err := open()
			if err != nil {
				return err
			}
			n, err := m.CreateNetwork(cmd.Context(), args[0], opts)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), n.Name)
			return nil
		},
	}
	cmd.Flags().StringVar(&subnet, "subnet", "", "subnet in CIDR notation (default: next free /24 of the user network pool)")
	cmd.Flags().StringVarP(&driver, "driver", "d", "bridge", "network driver (only bridge)")
	cmd.Flags().StringVar(&bridge, "bridge", "", "name of the host bridge (default: kbr- and a hash of the network name)")
	cmd.Flags().StringArrayVar(&labels, "label", nil, "set metadata on the network (KEY=VALUE)")
	return cmd
}

func networkLsCmd(open func() (*network.Manager, error)) *cobra.Command {
	var quiet bool
	var format string
	var filters []string
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List networks",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := open()
			if err != nil {
				return err
			}
			match, err := networkFilter(filters)
			if err != nil {
				return err
			}
			nets, err := m.Networks(cmd.Context())
			if err != nil {
				return err
			}
			nets = slices.DeleteFunc(nets, func(n network.NetworkInfo) bool { return !match(n) })
			return printNetworks(cmd.OutOrStdout(), nets, quiet, format)
		},
	}
	cmd.Flags().StringArrayVarP(&filters, "filter", "f", nil, "only networks matching: label=KEY, label=KEY=VALUE, name=NAME (all must match)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only network names")
	cmd.Flags().StringVar(&format, "format", "", `output format: "table", "table TEMPLATE", "json" or a Go template (fields .Name .Driver .Scope .Bridge .Subnet .Gateway .CreatedAt)`)
	return cmd
}

// networkFilter is docker's network ls --filter: label=KEY[=VALUE] and
// name=SUBSTRING; every filter must match.
func networkFilter(filters []string) (func(network.NetworkInfo) bool, error) {
	var preds []func(network.NetworkInfo) bool
	for _, f := range filters {
		key, val, ok := strings.Cut(f, "=")
		switch {
		case ok && key == "label" && val != "":
			k, v, withValue := strings.Cut(val, "=")
			preds = append(preds, func(n network.NetworkInfo) bool { return n.HasLabel(k, v, withValue) })
		case ok && key == "name":
			preds = append(preds, func(n network.NetworkInfo) bool { return strings.Contains(n.Name, val) })
		default:
			return nil, fmt.Errorf("invalid filter %q: use label=KEY, label=KEY=VALUE or name=NAME", f)
		}
	}
	return func(n network.NetworkInfo) bool {
		for _, p := range preds {
			if !p(n) {
				return false
			}
		}
		return true
	}, nil
}

// printNetworks writes the table of kago network ls (or names, or the
// user's --format; see network_format.go).
func printNetworks(w io.Writer, nets []network.NetworkInfo, quiet bool, fmtFlag string) error {
	if quiet && fmtFlag == "" {
		for _, n := range nets {
			fmt.Fprintln(w, n.Name)
		}
		return nil
	}
	return writeNetworkRows(w, nets, fmtFlag)
}

func networkInspectCmd(open func() (*network.Manager, error)) *cobra.Command {
	var tmpl string
	cmd := &cobra.Command{
		Use:   "inspect NETWORK...",
		Short: "Show networks with their attached containers as a JSON array",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := open()
			if err != nil {
				return err
			}
			out := make([]*network.NetworkInfo, 0, len(args))
			for _, name := range args {
				n, err := m.Inspect(cmd.Context(), name)
				if err != nil {
					return err
				}
				out = append(out, n)
			}
			return printInspect(cmd.OutOrStdout(), tmpl, out)
		},
	}
	cmd.Flags().StringVarP(&tmpl, "format", "f", "", "print each network through a Go template, e.g. {{.Subnet}}")
	return cmd
}

func networkRmCmd(open func() (*network.Manager, error)) *cobra.Command {
	return &cobra.Command{
		Use:     "rm NETWORK...",
		Aliases: []string{"remove"},
		Short:   "Remove networks no container is attached to",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := open()
			if err != nil {
				return err
			}
			// Like docker: remove what can be removed, report every failure.
			var errs []error
			for _, name := range args {
				if err := m.RemoveNetwork(cmd.Context(), name); err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintln(cmd.OutOrStdout(), name)
			}
			return errors.Join(errs...)
		},
	}
}

func networkConnectCmd(g *globalOptions) *cobra.Command {
	var nc engine.NetworkConfig
	var ip string
	cmd := &cobra.Command{
		Use:   "connect [OPTIONS] NETWORK CONTAINER",
		Short: "Connect a container to a network (at once if it runs, and at each start)",
		Args:  cobra.ExactArgs(2),
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			nc.Name = args[0]
			if ip != "" {
				a, err := netip.ParseAddr(ip)
				if err != nil || !a.Is4() {
					return fmt.Errorf("--ip %q: want an IPv4 address of the network's subnet", ip)
				}
				nc.IP = a
			}
			return e.Connect(cmd.Context(), args[1], nc)
		}),
	}
	cmd.Flags().StringArrayVar(&nc.Aliases, "alias", nil, "another name of the container on this network")
	cmd.Flags().StringVar(&ip, "ip", "", "IPv4 address on this network (default: the next free one)")
	return cmd
}

func networkDisconnectCmd(g *globalOptions) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "disconnect [OPTIONS] NETWORK CONTAINER",
		Short: "Disconnect a container from a network",
		Args:  cobra.ExactArgs(2),
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			return e.Disconnect(cmd.Context(), args[1], args[0])
		}),
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "accepted for docker compatibility")
	return cmd
}
