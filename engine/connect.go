package engine

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/kago-run/kago/engine/containers"
	"github.com/kago-run/kago/network"
)

// attachMore attaches a running container (init pid) to one of its
// networks besides the first, as its next ethN, with the container name
// and the network's aliases as names there, and starts that network's
// resolver.
func (e *Engine) attachMore(ctx context.Context, rec *containers.Record, pid int, nc NetworkConfig) (*network.Endpoint, error) {
	dir := e.containers.Dir(rec.ID)
	ep, err := e.Net.Attach(ctx, network.AttachRequest{
		ContainerID: rec.ID, Network: nc.Name, NetnsPath: fmt.Sprintf("/proc/%d/ns/net", pid),
		Hostname: rec.Hostname, Aliases: append(hostAliases(rec.Name), nc.Aliases...), IP: nc.IP,
		HostsPath: filepath.Join(dir, "hosts"),
	})
	if err != nil {
		return nil, err
	}
	if NetworkMode(nc.Name) != NetworkBridge {
		e.ensureResolver(ctx, nc.Name, filepath.Join(dir, "resolv.conf"), rec.HostConfig.DNS)
	}
	return ep, nil
}

// onNetwork tells whether the record joins the network.
func onNetwork(rec *containers.Record, name string) bool {
	return rec.Network == name || slices.ContainsFunc(rec.MoreNetworks, func(nc NetworkConfig) bool { return nc.Name == name })
}

// Connect joins a container to another network (docker's network
// connect): at once when it runs, and at each start.
func (e *Engine) Connect(ctx context.Context, ref string, nc NetworkConfig) error {
	if err := validateNetworkConfig(nc); err != nil {
		return err
	}
	rec, err := e.Lookup(ref)
	if err != nil {
		return err
	}
	if !NetworkMode(rec.Network).OwnInterface() {
		return fmt.Errorf("container %s uses --network %s: it cannot be connected to other networks", rec.Name, rec.Network)
	}
	if err := e.networkExists(ctx, nc.Name); err != nil {
		return err
	}
	rec, err = e.containers.Update(rec.ID, func(r *containers.Record) error {
		if onNetwork(r, nc.Name) {
			return fmt.Errorf("endpoint with name %s already exists in network %s", r.Name, nc.Name)
		}
		r.MoreNetworks = append(r.MoreNetworks, nc)
		return nil
	})
	if err != nil {
		return err
	}
	if rec.State.Status != containers.StatusRunning || !e.Running(rec.ID) {
		return nil
	}
	ep, err := e.attachMore(ctx, rec, rec.State.Pid, nc)
	if err != nil {
		e.containers.Update(rec.ID, func(r *containers.Record) error {
			r.MoreNetworks = slices.DeleteFunc(r.MoreNetworks, func(x NetworkConfig) bool { return x.Name == nc.Name })
			return nil
		})
		return err
	}
	_, err = e.containers.Update(rec.ID, func(r *containers.Record) error {
		r.MoreEndpoints = append(r.MoreEndpoints, *ep)
		return nil
	})
	return err
}

// Disconnect takes a container off a network (docker's network
// disconnect). A running container keeps its first network (its default
// route): disconnect the others, or stop it first.
func (e *Engine) Disconnect(ctx context.Context, ref, name string) error {
	rec, err := e.Lookup(ref)
	if err != nil {
		return err
	}
	if !onNetwork(rec, name) {
		return fmt.Errorf("container %s is not connected to network %s", rec.Name, name)
	}
	running := rec.State.Status == containers.StatusRunning && e.Running(rec.ID)
	if running && rec.Network == name {
		return fmt.Errorf("container %s runs with %s as its first network (its default route): stop it first, or disconnect its other networks", rec.Name, name)
	}
	if running {
		if err := e.Net.DetachNetwork(ctx, rec.ID, name); err != nil && !errors.Is(err, network.ErrNotFound) {
			return err
		}
	}
	_, err = e.containers.Update(rec.ID, func(r *containers.Record) error {
		if r.Network == name {
			// A stopped container's next network becomes its first.
			r.Network, r.NetworkAliases = string(NetworkNone), nil
			if len(r.MoreNetworks) > 0 {
				r.Network, r.NetworkAliases = r.MoreNetworks[0].Name, r.MoreNetworks[0].Aliases
				r.MoreNetworks = r.MoreNetworks[1:]
			}
			return nil
		}
		r.MoreNetworks = slices.DeleteFunc(r.MoreNetworks, func(x NetworkConfig) bool { return x.Name == name })
		r.MoreEndpoints = slices.DeleteFunc(r.MoreEndpoints, func(x network.Endpoint) bool { return x.Network == name })
		return nil
	})
	return err
}
