package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kago-run/kago/network/mac"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kago-run/kago/engine/containers"
	"github.com/kago-run/kago/engine/initproc"
	"github.com/kago-run/kago/engine/specgen"
	"github.com/kago-run/kago/image"
	"github.com/kago-run/kago/network"
)

// CreateOptions are the `kago run`/`kago create` flags the engine needs
// beyond the image. Values are as the user typed them; Create validates
// all of them before it changes anything.
type CreateOptions struct {
	Image       string
	Name        string
	Spec        specgen.Options // Args, Entrypoint, Env, Workdir, Tty, limits, caps...
	User        string          // -u, resolved against the image's /etc/passwd
	Volumes     []string        // -v
	Tmpfs       []string        // --tmpfs
	Publish     []string        // -p
	PublishAll  bool            // -P
	Network     string          // bridge (default), host, none or a user network
	Restart     string          // --restart
	AutoRemove  bool            // --rm
	Interactive bool            // -i: keep stdin open for attached clients
	Init        bool            // --init: kago-init as PID 1
	MacAddress  string          // --mac-address; "": derived from the IP or the configured OUI
	// Cwd resolves relative bind sources (-v ./site:/www); default the
	// process's working directory.
	Cwd string
	// PullProgress receives pull progress when the image must be pulled.
	PullProgress *os.File
}

// ResolveImage finds the image, pulling it when the store lacks it, as
// docker run does.
func (e *Engine) ResolveImage(ctx context.Context, ref string, progress *os.File) (*image.Image, error) {
	img, err := e.Images.Resolve(ref)
	if err == nil {
		return img, nil
	}
	if !errors.Is(err, image.ErrNotFound) {
		return nil, err
	}
	po := image.PullOptions{}
	if progress != nil {
		po.Progress = progress
	}
	img, perr := e.Images.Pull(ctx, ref, po)
	if perr != nil {
		return nil, fmt.Errorf("image %s is not in the store and pulling it failed: %w", ref, perr)
	}
	return img, nil
}

// Create makes a container in the "created" state: record, rootfs
// snapshot, volumes and bundle. On failure nothing is left behind.
func (e *Engine) Create(ctx context.Context, o CreateOptions) (rec *containers.Record, err error) {
	img, err := e.ResolveImage(ctx, o.Image, o.PullProgress)
	if err != nil {
		return nil, err
	}
	restartName, restartMax, err := specgen.ParseRestart(o.Restart)
	if err != nil {
		return nil, err
	}
	if o.AutoRemove && restartName != "no" {
		return nil, errors.New("--rm and --restart cannot be combined: choose one")
	}
	ports, err := e.parsePorts(o, img.Config.Config)
	if err != nil {
		return nil, err
	}
	netName, err := e.checkNetwork(ctx, o.Network, len(ports) > 0)
	if err != nil {
		return nil, err
	}
	macAddr, err := checkMAC(o.MacAddress, netName)
	if err != nil {
		return nil, err
	}
	var vols []specgen.Volume
	for _, v := range o.Volumes {
		pv, err := specgen.ParseVolume(v)
		if err != nil {
			return nil, err
		}
		vols = append(vols, pv)
	}
	var tmpfs []specs.Mount
	for _, t := range o.Tmpfs {
		m, err := specgen.ParseTmpfs(t)
		if err != nil {
			return nil, err
		}
		tmpfs = append(tmpfs, m)
	}
	argv, err := specgen.Command(img.Config.Config, o.Spec)
	if err != nil {
		return nil, err
	}
	aaProfile, err := e.appArmorProfile(ctx, o.Spec.AppArmorProfile, o.Spec.Privileged)
	if err != nil {
		return nil, err
	}

	id := containers.NewID()
	name := o.Name
	if name == "" {
		name = generateName(id)
	}
	hostname := o.Spec.Hostname
	if hostname == "" {
		hostname = id[:12]
	}
	rec = &containers.Record{
		ID: id, Name: name, Image: o.Image, ImageID: img.ID.String(), Created: time.Now().UTC(),
		Command: argv, Network: netName, Ports: ports, Hostname: hostname, MacAddress: macAddr,
		Restart:    containers.RestartPolicy{Name: restartName, MaximumRetryCount: restartMax},
		AutoRemove: o.AutoRemove, StopSignal: img.Config.Config.StopSignal, Tty: o.Spec.Tty, OpenStdin: o.Interactive,
		AppArmorProfile: aaProfile,
		State:           containers.State{Status: containers.StatusCreated},
	}
	if err := e.Containers.Create(rec); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			if rerr := e.removeFiles(context.WithoutCancel(ctx), rec, true); rerr != nil {
				e.Log.Warn("clean up failed create", "id", id, "error", rerr)
			}
		}
	}()
	dir := e.Containers.Dir(id)
	rootfs, err := e.Images.Snapshots().Prepare(ctx, id, img.ChainIDs)
	if err != nil {
		return nil, fmt.Errorf("prepare rootfs of %s: %w", name, err)
	}
	so := o.Spec
	so.Hostname = hostname
	so.Rootfs = rootfs
	so.HostNetwork = netName == "host"
	so.AppArmorProfile = aaProfile
	if o.User != "" || img.Config.Config.User != "" {
		user := o.User
		if user == "" {
			user = img.Config.Config.User
		}
		passwd, err := readInRoot(rootfs, "/etc/passwd")
		if err != nil {
			return nil, err
		}
		group, err := readInRoot(rootfs, "/etc/group")
		if err != nil {
			return nil, err
		}
		if so.User, err = specgen.ResolveUser(user, passwd, group); err != nil {
			return nil, err
		}
		so.UserSet = true
	}
	cwd := so.Workdir
	if cwd == "" {
		cwd = img.Config.Config.WorkingDir
	}
	if cwd != "" {
		if err := mkdirInRoot(rootfs, cwd); err != nil {
			return nil, err
		}
	}
	mounts, recMounts, err := e.volumeMounts(vols, o.Cwd)
	if err != nil {
		return nil, err
	}
	etc, err := e.etcFiles(dir, netName, hostname)
	if err != nil {
		return nil, err
	}
	so.Mounts = append(append(mounts, tmpfs...), etc...)
	if o.Init {
		if so.Init, err = initproc.Prepare(filepath.Join(e.Root, "init")); err != nil {
			return nil, err
		}
	}
	for _, t := range tmpfs {
		recMounts = append(recMounts, containers.Mount{Type: "tmpfs", Destination: t.Destination, RW: true})
	}
	spec, err := specgen.Generate(img.Config.Config, so)
	if err != nil {
		return nil, err
	}
	if err := writeJSON(filepath.Join(dir, "config.json"), spec); err != nil {
		return nil, err
	}
	return e.Containers.Update(id, func(r *containers.Record) error {
		r.Mounts = recMounts
		return nil
	})
}

// parsePorts parses -p and, with -P, publishes every EXPOSEd port on a
// host port the kernel picks.
func (e *Engine) parsePorts(o CreateOptions, cfg ocispec.ImageConfig) ([]network.PortMapping, error) {
	var out []network.PortMapping
	for _, p := range o.Publish {
		ms, err := network.ParsePort(p)
		if err != nil {
			return nil, fmt.Errorf("invalid -p %q: %w", p, err)
		}
		out = append(out, ms...)
	}
	if o.PublishAll {
		for ep := range cfg.ExposedPorts {
			port, proto, _ := strings.Cut(ep, "/")
			n, err := strconv.ParseUint(port, 10, 16)
			if err != nil || n == 0 {
				return nil, fmt.Errorf("the image exposes port %q, which is not a port number", ep)
			}
			if proto == "" {
				proto = "tcp"
			}
			out = append(out, network.PortMapping{ContainerPort: uint16(n), Protocol: proto})
		}
	}
	return out, nil
}

func (e *Engine) checkNetwork(ctx context.Context, name string, publishes bool) (string, error) {
	switch name {
	case "", network.DefaultNetwork:
		return network.DefaultNetwork, nil
	case "host", "none":
		if publishes {
			return "", fmt.Errorf("ports cannot be published with --network %s: drop -p/-P or use a bridge network", name)
		}
		return name, nil
	}
	if _, err := e.Net.Inspect(ctx, name); err != nil {
		if errors.Is(err, network.ErrNotFound) {
			return "", fmt.Errorf("network %s not found: create it with `kago network create %s`", name, name)
		}
		return "", err
	}
	return name, nil
}

// volumeMounts makes the host side of every -v (a missing bind source is
// created, as docker does) and returns the spec mounts and inspect entries.
func (e *Engine) volumeMounts(vols []specgen.Volume, cwd string) ([]specs.Mount, []containers.Mount, error) {
	if cwd == "" {
		cwd, _ = os.Getwd()
	}
	var mounts []specs.Mount
	var recs []containers.Mount
	for _, v := range vols {
		m := containers.Mount{Type: "bind", Destination: v.Destination, RW: !v.ReadOnly}
		switch v.Kind {
		case specgen.KindBind:
			src := v.Source
			if !filepath.IsAbs(src) {
				src = filepath.Join(cwd, src)
			}
			m.Source = filepath.Clean(src)
		case specgen.KindVolume, specgen.KindAnonymous:
			m.Type, m.Name = "volume", v.Source
			if v.Kind == specgen.KindAnonymous {
				m.Name, m.Anonymous = containers.NewID(), true
			}
			m.Source = e.volumeDir(m.Name)
		}
		if _, err := os.Stat(m.Source); os.IsNotExist(err) {
			if err := os.MkdirAll(m.Source, 0o755); err != nil {
				return nil, nil, fmt.Errorf("create volume source %s: %w", m.Source, err)
			}
		}
		opts := []string{"rbind", "rprivate"}
		if v.ReadOnly {
			opts = append(opts, "ro")
		}
		mounts = append(mounts, specs.Mount{Destination: v.Destination, Type: "bind", Source: m.Source, Options: opts})
		recs = append(recs, m)
	}
	return mounts, recs, nil
}

// etcFiles creates the hosts, hostname and resolv.conf files the network
// manager fills (or, for host and none, fills them itself) and returns their
// bind mounts.
func (e *Engine) etcFiles(dir, netName, hostname string) ([]specs.Mount, error) {
	files := map[string][]byte{"hosts": nil, "hostname": nil, "resolv.conf": nil}
	switch netName {
	case "host":
		for name, src := range map[string]string{"hosts": "/etc/hosts", "resolv.conf": "/etc/resolv.conf", "hostname": "/etc/hostname"} {
			files[name], _ = os.ReadFile(src)
		}
	case "none":
		files["hosts"] = []byte("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.0.1\t" + hostname + "\n")
		files["hostname"] = []byte(hostname + "\n")
	}
	var mounts []specs.Mount
	for _, name := range []string{"hosts", "hostname", "resolv.conf"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, files[name], 0o644); err != nil {
			return nil, fmt.Errorf("write %s: %w", p, err)
		}
		mounts = append(mounts, specs.Mount{Destination: "/etc/" + name, Type: "bind", Source: p, Options: []string{"rbind", "rprivate"}})
	}
	return mounts, nil
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

var (
	nameLeft  = []string{"brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "keen", "lucid", "merry", "nifty", "proud", "quirky", "sharp", "tender", "vivid"}
	nameRight = []string{"turing", "hopper", "lovelace", "ritchie", "thompson", "torvalds", "knuth", "liskov", "hamilton", "dijkstra", "lamport", "perlman", "kernighan", "pike", "allen", "cerf"}
)

// generateName makes a docker-style name from the ID, so it is random and
// (with the ID suffix) practically unique. Dashes, not docker's
// underscores, keep it a valid host name for peers' /etc/hosts.
func generateName(id string) string {
	a, _ := strconv.ParseUint(id[:2], 16, 8)
	b, _ := strconv.ParseUint(id[2:4], 16, 8)
	return nameLeft[a%uint64(len(nameLeft))] + "-" + nameRight[b%uint64(len(nameRight))] + "-" + id[4:8]
}

// checkMAC validates --mac-address before anything is made: a malformed,
// multicast, broadcast or all-zero address is refused, and so is an address
// for a container without a network interface of its own.
func checkMAC(s, netName string) (string, error) {
	if s == "" {
		return "", nil
	}
	if netName == "host" || netName == "none" {
		return "", fmt.Errorf("--mac-address needs a network interface: it cannot be used with --network %s", netName)
	}
	hw, err := mac.Parse(s)
	if err != nil {
		return "", fmt.Errorf("--mac-address: %w", err)
	}
	return hw.String(), nil
}
