package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kago-run/kago/network/mac"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kago-run/kago/engine/containers"
	"github.com/kago-run/kago/engine/health"
	"github.com/kago-run/kago/engine/initproc"
	"github.com/kago-run/kago/engine/specgen"
	"github.com/kago-run/kago/image"
	"github.com/kago-run/kago/linux/explain"
	"github.com/kago-run/kago/network"
	"github.com/kago-run/kago/network/etcfiles"
)

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
	if _, err := image.ParseReference(ref); err != nil {
		// Not a name that could be pulled: say so rather than that a pull
		// failed.
		if lerr := lowercaseError(ref); lerr != nil {
			return nil, lerr
		}
		return nil, fmt.Errorf("invalid reference format: %w", err)
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

// lowercaseError is docker's message for a reference that would be valid
// in lower case ("invalid reference format: repository name (library/UPPER)
// must be lowercase"), or nil.
func lowercaseError(ref string) error {
	lower := strings.ToLower(ref)
	if lower == ref || len(lower) != len(ref) {
		return nil
	}
	if _, err := image.ParseReference(lower); err != nil {
		return nil
	}
	name, _, _ := strings.Cut(ref, "@")
	if i := strings.LastIndex(name, ":"); i >= 0 && !strings.Contains(name[i+1:], "/") {
		name = name[:i]
	}
	if !strings.Contains(name, "/") {
		name = "library/" + name
	}
	return fmt.Errorf("invalid reference format: repository name (%s) must be lowercase", name)
}

// Create makes a container in the "created" state: record, rootfs
// snapshot, volumes and bundle. Everything in the request is checked first,
// against the image and the engine's networks too, so a bad request makes
// nothing; a failure after that removes what was made, and a create killed
// half-way is removed by the next command that meets it (reconcile).
func (e *Engine) Create(ctx context.Context, r CreateRequest) (*containers.Record, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	img, err := e.ResolveImage(ctx, r.Image, r.PullProgress)
	if err != nil {
		return nil, err
	}
	explainImage(explain.FromContext(ctx), img)
	p, err := e.plan(ctx, &r, img)
	if err != nil {
		return nil, err
	}
	id := containers.NewID()
	name := r.Name
	if name == "" {
		name = generateName(id)
	}
	hostname := r.Hostname
	if hostname == "" {
		hostname = id[:12]
	}
	r.Mounts = append(r.Mounts, imageVolumes(img.Config.Config.Volumes, r.Mounts)...)
	recMounts, err := e.recordMounts(r.Mounts, r.Cwd)
	if err != nil {
		return nil, err
	}
	rec := &containers.Record{
		ID: id, Name: name, Image: r.Image, ImageID: img.ID.String(), Created: time.Now().UTC(),
		Command: p.argv, Network: string(p.network), NetworkAliases: r.NetworkAliases, MoreNetworks: r.MoreNetworks, Ports: p.ports, Hostname: hostname, MacAddress: p.mac,
		Mounts: recMounts, Restart: r.Restart, AutoRemove: r.AutoRemove, StopSignal: img.Config.Config.StopSignal,
		Tty: r.Tty, OpenStdin: r.OpenStdin, Creating: true, AppArmorProfile: p.appArmorProfile, Trace: r.Trace,
		State: containers.State{Status: containers.StatusCreated},
	}
	if rec.Healthcheck, err = imageHealthcheck(img); err != nil {
		return nil, err
	}
	rec.Healthcheck = health.Merge(r.Healthcheck, rec.Healthcheck)
	if rec.Restart.Name == "" {
		rec.Restart.Name = RestartNo
	}
	if r.StopSignal != "" {
		rec.StopSignal = r.StopSignal
	}
	// As docker's, the container's labels are the image's with the
	// request's over them.
	if len(img.Config.Config.Labels)+len(r.Labels) > 0 {
		rec.Labels = maps.Clone(img.Config.Config.Labels)
		if rec.Labels == nil {
			rec.Labels = map[string]string{}
		}
		maps.Copy(rec.Labels, r.Labels)
	}
	rec.Entrypoint, rec.Cmd = specgen.EntrypointCmd(img.Config.Config, e.specOptions(&r))
	rec.User = cmp.Or(r.User, img.Config.Config.User)
	rec.HostConfig = containers.HostConfig{ExtraHosts: r.ExtraHosts, DNS: r.DNS, StopTimeout: r.StopTimeout,
		Ulimits: r.Ulimits, Devices: r.Devices, ShmSize: r.ShmSize, Sysctls: maps.Clone(r.Sysctls)}
	done, err := e.containers.Create(rec)
	if errors.Is(err, containers.ErrNameInUse) {
		// The name may belong to a create that was killed: reconciling
		// every record removes such leftovers; then try once more.
		e.List()
		done, err = e.containers.Create(rec)
	}
	if err != nil {
		return nil, err
	}
	defer done()
	if err := e.fill(ctx, rec, &r, p, img); err != nil {
		if rerr := e.removeFiles(context.WithoutCancel(ctx), rec, true); rerr != nil {
			e.Log.Warn("clean up failed create", "id", id, "error", rerr)
		}
		return nil, err
	}
	// As in docker, a container's rootfs is mounted only while it runs;
	// `run` starts it next, so it keeps the mount start would make again.
	if !r.StartNext {
		if err := e.Images.Snapshots().Unmount(ctx, id); err != nil {
			e.Log.Warn("unmount rootfs", "id", id, "error", err)
		}
	}
	return e.containers.Update(id, func(r *containers.Record) error {
		r.Creating = false
		return nil
	})
}

// plan is what Create worked out from the request and the image before it
// makes anything.
type plan struct {
	argv    []string
	user    *specs.User // nil: the runtime's default (root)
	workdir string
	ports   []network.PortMapping
	network NetworkMode
	mac     string
	// appArmorProfile is the profile the container runs under ("" on a
	// host without AppArmor), already loaded.
	appArmorProfile string
	// devices are the --device nodes as the host has them.
	devices []specgen.Device
}

// plan checks the request against the image and the engine's networks:
// the command, the user in the image's passwd and group files, the ports
// the image exposes (-P) and the network.
func (e *Engine) plan(ctx context.Context, r *CreateRequest, img *image.Image) (*plan, error) {
	cfg := img.Config.Config
	p := &plan{network: r.network(), workdir: r.Workdir}
	var err error
	if p.argv, err = specgen.Command(cfg, e.specOptions(r)); err != nil {
		return nil, err
	}
	if p.workdir == "" {
		p.workdir = cfg.WorkingDir
	}
	if p.workdir != "" && !strings.HasPrefix(p.workdir, "/") {
		return nil, fmt.Errorf("the image's working directory '%s' is invalid, it needs to be an absolute path", p.workdir)
	}
	if user := cmp.Or(r.User, cfg.User); user != "" {
		if p.user, err = e.imageUser(ctx, img, user); err != nil {
			return nil, err
		}
	}
	p.ports = slices.Clone(r.Ports)
	if r.PublishAll {
		for ep := range cfg.ExposedPorts {
			port, proto, _ := strings.Cut(ep, "/")
			n, err := strconv.ParseUint(port, 10, 16)
			if err != nil || n == 0 {
				return nil, fmt.Errorf("the image exposes port %q, which is not a port number", ep)
			}
			p.ports = append(p.ports, network.PortMapping{ContainerPort: uint16(n), Protocol: cmp.Or(proto, "tcp")})
		}
	}
	if p.network.OwnInterface() {
		if err := e.networkExists(ctx, string(p.network)); err != nil {
			return nil, err
		}
	}
	for _, nc := range r.MoreNetworks {
		if err := e.networkExists(ctx, nc.Name); err != nil {
			return nil, err
		}
	}
	if p.appArmorProfile, err = e.appArmorProfile(ctx, r.Security.AppArmorProfile, r.Privileged); err != nil {
		return nil, err
	}
	for _, u := range r.Ulimits {
		if err := checkHostLimit(u); err != nil {
			return nil, err
		}
	}
	for _, d := range r.Devices {
		sd, err := specDevice(d)
		if err != nil {
			return nil, err
		}
		p.devices = append(p.devices, sd)
	}
	if r.MacAddress != "" {
		hw, err := mac.Parse(r.MacAddress)
		if err != nil {
			return nil, fmt.Errorf("--mac-address: %w", err)
		}
		p.mac = hw.String()
	}
	return p, nil
}

// networkExists checks that a container can join the network.
func (e *Engine) networkExists(ctx context.Context, name string) error {
	if NetworkMode(name) == NetworkBridge {
		return nil
	}
	if _, err := e.Net.Inspect(ctx, name); err != nil {
		if errors.Is(err, network.ErrNotFound) {
			return fmt.Errorf("network %s not found: create it with `kago network create %s`", name, name)
		}
		return err
	}
	return nil
}

// imageUser resolves USER[:GROUP] against the image's /etc/passwd and
// /etc/group, read from a view of its layers: no container exists yet.
func (e *Engine) imageUser(ctx context.Context, img *image.Image, user string) (*specs.User, error) {
	view, err := e.Images.Snapshots().View(ctx, img.ChainIDs)
	if err != nil {
		return nil, fmt.Errorf("read the users of image %s: %w", img.ID, err)
	}
	defer view.Close()
	root := fmt.Sprintf("/proc/self/fd/%d", view.Fd())
	passwd, err := readInRoot(root, "/etc/passwd")
	if err != nil {
		return nil, err
	}
	group, err := readInRoot(root, "/etc/group")
	if err != nil {
		return nil, err
	}
	u, err := specgen.ResolveUser(user, passwd, group)
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// specOptions are the spec generator's options from the request.
func (e *Engine) specOptions(r *CreateRequest) specgen.Options {
	return specgen.Options{
		Args: r.Cmd, Entrypoint: r.Entrypoint, Env: r.Env, Workdir: r.Workdir, Hostname: r.Hostname,
		Tty: r.Tty, ReadOnly: r.ReadOnly, Privileged: r.Privileged, CapAdd: r.CapAdd, CapDrop: r.CapDrop,
		Seccomp: r.Security.Seccomp, SeccompUnconfined: r.Security.SeccompUnconfined,
		Memory: r.Resources.Memory, CPUs: float64(r.Resources.NanoCPUs) / 1e9, PidsLimit: r.Resources.PidsLimit,
		HostNetwork: r.network() == NetworkHost, Rlimits: rlimits(r.Ulimits), ShmSize: r.ShmSize, Sysctls: r.Sysctls,
	}
}

// rlimits are the ulimits as the spec's process.rlimits.
func rlimits(us []Ulimit) []specs.POSIXRlimit {
	var out []specs.POSIXRlimit
	for _, u := range us {
		out = append(out, specs.POSIXRlimit{Type: "RLIMIT_" + strings.ToUpper(u.Name), Soft: u.Soft, Hard: u.Hard})
	}
	return out
}

// fill makes what the record describes: the rootfs snapshot, the working
// directory in it, volume and bind sources, the /etc files and the bundle.
func (e *Engine) fill(ctx context.Context, rec *containers.Record, r *CreateRequest, p *plan, img *image.Image) error {
	dir := e.containers.Dir(rec.ID)
	rootfs, err := e.Images.Snapshots().Prepare(ctx, rec.ID, img.ChainIDs)
	if err != nil {
		return fmt.Errorf("prepare rootfs of %s: %w", rec.Name, err)
	}
	so := e.specOptions(r)
	so.Hostname = rec.Hostname
	so.Rootfs = rootfs
	so.AppArmorProfile = p.appArmorProfile
	so.Devices = p.devices
	if p.user != nil {
		so.User, so.UserSet = *p.user, true
	}
	if p.workdir != "" {
		if err := mkdirInRoot(rootfs, p.workdir); err != nil {
			return err
		}
	}
	for _, m := range rec.Mounts {
		if MountType(m.Type) == MountVolume {
			if err := e.prepareVolume(ctx, m, rootfs); err != nil {
				return err
			}
		}
	}
	mounts, err := e.specMounts(rec.Mounts, r.Mounts)
	if err != nil {
		return err
	}
	etc, err := e.etcFiles(dir, rec)
	if err != nil {
		return err
	}
	so.Mounts = append(mounts, etc...)
	if r.Init {
		self, err := e.program()
		if err != nil {
			return err
		}
		if so.Init, err = initproc.Prepare(filepath.Join(e.Root, "init"), self); err != nil {
			return err
		}
	}
	spec, err := specgen.Generate(img.Config.Config, so)
	if err != nil {
		return err
	}
	bundle := e.bundleConfig(rec.ID)
	if err := writeJSON(bundle, spec); err != nil {
		return err
	}
	if rec := explain.FromContext(ctx); rec != nil {
		rec.Record(explain.Step{Feature: "bundle", Call: "write", Path: bundle,
			Why: "the OCI runtime config: what the runtime applies at start (the steps after the monitor's)", Man: "https://github.com/opencontainers/runtime-spec"})
	}
	return nil
}

// imageHealthcheck is the image's HEALTHCHECK (docker's config field, not
// in the OCI config), validated: the image is untrusted.
func imageHealthcheck(img *image.Image) (*health.Config, error) {
	var raw struct {
		Config struct {
			Healthcheck *health.Config `json:"Healthcheck"`
		} `json:"config"`
	}
	if len(img.RawConfig) == 0 {
		return nil, nil
	}
	if err := json.Unmarshal(img.RawConfig, &raw); err != nil {
		return nil, fmt.Errorf("image %s: config: %w", img.ID, err)
	}
	if hc := raw.Config.Healthcheck; hc != nil {
		if err := hc.Validate(); err != nil {
			return nil, fmt.Errorf("image %s: HEALTHCHECK: %w", img.ID, err)
		}
	}
	return raw.Config.Healthcheck, nil
}

// imageVolumes are anonymous volumes for the image's VOLUME entries that
// no mount of the request covers, as docker makes them.
func imageVolumes(vols map[string]struct{}, ms []Mount) []Mount {
	var out []Mount
	for _, target := range slices.Sorted(maps.Keys(vols)) {
		target = path.Clean(target)
		if !path.IsAbs(target) || target == "/" || slices.ContainsFunc(ms, func(m Mount) bool { return path.Clean(m.Target) == target }) {
			continue
		}
		out = append(out, Mount{Type: MountVolume, Target: target})
	}
	return out
}

// recordMounts are the request's mounts as the record (and inspect) keeps
// them: bind sources made absolute, anonymous volumes named. They go into
// the first record, so a create that fails or is killed later knows which
// anonymous volumes to remove.
func (e *Engine) recordMounts(ms []Mount, cwd string) ([]containers.Mount, error) {
	if cwd == "" {
		var err error
		if cwd, err = os.Getwd(); err != nil {
			return nil, fmt.Errorf("resolve relative bind sources: %w", err)
		}
	}
	var out []containers.Mount
	for _, m := range ms {
		rm := containers.Mount{Type: string(m.Type), Destination: path.Clean(m.Target), RW: !m.ReadOnly}
		switch m.Type {
		case MountBind:
			src := m.Source
			if !filepath.IsAbs(src) {
				src = filepath.Join(cwd, src)
			}
			rm.Source = filepath.Clean(src)
		case MountVolume:
			rm.Name = m.Source
			if rm.Name == "" {
				rm.Name, rm.Anonymous = containers.NewID(), true
			}
			rm.Source = e.volumeDir(rm.Name)
		case MountTmpfs:
			rm.Source = ""
		}
		out = append(out, rm)
	}
	return out, nil
}

// specMounts makes the host side of binds and volumes (a missing bind
// source is created, as docker does) and returns the spec's mounts.
func (e *Engine) specMounts(recs []containers.Mount, ms []Mount) ([]specs.Mount, error) {
	var mounts []specs.Mount
	for i, m := range recs {
		if MountType(m.Type) == MountTmpfs {
			opts := append(slices.Clone(specgen.TmpfsDefaults), ms[i].TmpfsOptions...)
			mounts = append(mounts, specs.Mount{Destination: m.Destination, Type: "tmpfs", Source: "tmpfs", Options: opts})
			continue
		}
		if _, err := os.Stat(m.Source); os.IsNotExist(err) {
			if err := os.MkdirAll(m.Source, 0o755); err != nil {
				return nil, fmt.Errorf("create volume source %s: %w", m.Source, err)
			}
		}
		opts := []string{"rbind", "rprivate"}
		if !m.RW {
			opts = append(opts, "ro")
		}
		mounts = append(mounts, specs.Mount{Destination: m.Destination, Type: "bind", Source: m.Source, Options: opts})
	}
	return mounts, nil
}

// etcFiles creates the hosts, hostname and resolv.conf files the network
// manager fills (or, for host and none, fills them itself) and returns their
// bind mounts.
func (e *Engine) etcFiles(dir string, rec *containers.Record) ([]specs.Mount, error) {
	files := map[string][]byte{"hosts": nil, "hostname": nil, "resolv.conf": nil}
	hc := rec.HostConfig
	// host-gateway is the default bridge's gateway here, as docker's.
	extra := network.ExtraHostEntries(hc.ExtraHosts, e.Net.Config().Subnet.Addr().Next())
	switch rec.Network {
	case "host":
		for name, src := range map[string]string{"hosts": "/etc/hosts", "resolv.conf": "/etc/resolv.conf", "hostname": "/etc/hostname"} {
			files[name], _ = os.ReadFile(src)
		}
		files["hosts"] = etcfiles.AppendHosts(files["hosts"], extra)
		if !hc.DNS.IsZero() {
			files["resolv.conf"] = etcfiles.Resolv(files["resolv.conf"], netip.Addr{}, hc.DNS)
		}
	case "none":
		files["hosts"] = etcfiles.Hosts(etcfiles.Entry{IP: netip.MustParseAddr("127.0.0.1"), Names: []string{rec.Hostname}}, nil, extra...)
		files["hostname"] = etcfiles.Hostname(rec.Hostname)
		if !hc.DNS.IsZero() {
			host, _ := os.ReadFile(e.Net.Config().ResolvConf)
			files["resolv.conf"] = etcfiles.Resolv(host, netip.Addr{}, hc.DNS)
		}
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
