package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	goruntime "runtime"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kago-run/kago/engine/containers"
	"github.com/kago-run/kago/engine/health"
	"github.com/kago-run/kago/engine/specgen"
	"github.com/kago-run/kago/linux/seccomp"
	"github.com/kago-run/kago/network"
	"github.com/kago-run/kago/network/etcfiles"
	"github.com/kago-run/kago/network/mac"
	"github.com/kago-run/kago/runtime"
)

// CreateRequest is one container to create, typed: what `kago run` and
// `kago create` parse from their flags (with the Parse functions below) and
// what compose builds from a service. Create validates all of it (Validate,
// then the checks that need the image and the engine's networks) before it
// changes anything, so a bad request leaves nothing behind.
type CreateRequest struct {
	Image string
	Name  string // "" for a generated one
	// Cmd replaces the image's Cmd (the arguments after the image name).
	Cmd []string
	// Entrypoint replaces the image's Entrypoint and drops its Cmd; nil
	// keeps the image's, "" clears it.
	Entrypoint *string
	Env        []string // KEY=VALUE, later values win over the image's
	Workdir    string   // absolute; "" for the image's
	User       string   // NAME|UID[:GROUP|GID], looked up in the image
	Hostname   string   // "" for the short ID
	Tty        bool
	OpenStdin  bool // -i: keep stdin open for attached clients
	ReadOnly   bool // read-only root filesystem
	Privileged bool
	CapAdd     []string
	CapDrop    []string
	Security   SecurityOptions
	Resources  Resources
	Mounts     []Mount
	Ports      []network.PortMapping
	PublishAll bool // publish every port the image exposes (-P)
	Network    NetworkMode
	// NetworkAliases are more names of the container on its user network
	// (--network-alias; compose adds the service name): its peers resolve
	// them through the network's resolver, as they do its name.
	NetworkAliases []string
	// MoreNetworks are networks the container joins besides Network
	// (run --network a --network b; a compose service's other networks).
	MoreNetworks []NetworkConfig
	MacAddress   string // "" derives one from the IP
	Restart      RestartPolicy
	// Healthcheck overrides the image's HEALTHCHECK field by field; a Test
	// of ["NONE"] disables it (--no-healthcheck); nil keeps the image's.
	Healthcheck *Healthcheck
	AutoRemove  bool // --rm
	Init        bool // kago-init as PID 1
	// Labels are the container's metadata (--label; compose's
	// com.docker.compose.* labels find a project's containers again).
	Labels map[string]string
	// StopSignal replaces the image's STOPSIGNAL (--stop-signal,
	// compose's stop_signal); "" keeps the image's.
	StopSignal string
	// StopTimeout is how long stop and restart wait after the stop signal
	// before SIGKILL when they are not told (--stop-timeout, compose's
	// stop_grace_period); nil: 10 seconds.
	StopTimeout *int
	// ExtraHosts are more /etc/hosts lines (--add-host).
	ExtraHosts []ExtraHost
	// DNS replaces parts of the host's resolver settings (--dns...).
	DNS DNS
	// Ulimits replace the default resource limits (--ulimit).
	Ulimits []Ulimit
	// Devices are host device nodes made in the container (--device).
	Devices []Device
	// ShmSize is the size of /dev/shm in bytes (--shm-size); 0: 64 MiB.
	ShmSize int64
	// Sysctls are namespaced kernel parameters of the container (--sysctl).
	Sysctls map[string]string
	// Cwd resolves relative bind sources (-v ./site:/www; compose: the
	// project directory); default the process's working directory.
	Cwd string
	// Trace records the container's events from its first instruction
	// (kago run --trace FILE); nil for none.
	Trace *containers.Trace
	// PullProgress receives pull progress when the image must be pulled.
	PullProgress *os.File
	// StartNext says the caller starts the container right after Create
	// (`run`): its rootfs stays mounted for the start instead of being
	// unmounted and mounted again. A caller that then fails to start it
	// removes it (or `rm` unmounts it).
	StartNext bool
}

// NetworkMode is the network a container joins: the default bridge, the
// host's network, none (only loopback) or a user network by name.
type NetworkMode string

// The network modes that are not user networks.
const (
	NetworkBridge NetworkMode = network.DefaultNetwork
	NetworkHost   NetworkMode = "host"
	NetworkNone   NetworkMode = "none"
)

// OwnInterface tells whether the container gets an interface of its own
// (a veth): every mode but host and none.
func (m NetworkMode) OwnInterface() bool { return m != NetworkHost && m != NetworkNone }

// RestartPolicy is docker's --restart; the record keeps it as it is.
type RestartPolicy = containers.RestartPolicy

// RestartPolicyName is one of docker's four policies.
type RestartPolicyName = containers.RestartPolicyName

// The restart policies.
const (
	RestartNo            = containers.RestartNo
	RestartOnFailure     = containers.RestartOnFailure
	RestartAlways        = containers.RestartAlways
	RestartUnlessStopped = containers.RestartUnlessStopped
)

// ParseRestartPolicyName checks a policy name (start --all's filter).
func ParseRestartPolicyName(s string) (RestartPolicyName, error) {
	switch n := RestartPolicyName(s); n {
	case RestartNo, RestartOnFailure, RestartAlways, RestartUnlessStopped:
		return n, nil
	}
	return "", fmt.Errorf("unknown restart policy %q: use no, on-failure, always or unless-stopped", s)
}

// ParseRestartPolicy parses --restart no|on-failure[:N]|always|unless-stopped.
func ParseRestartPolicy(s string) (RestartPolicy, error) {
	name, count, hasCount := strings.Cut(s, ":")
	p := RestartPolicy{Name: RestartPolicyName(name)}
	if name == "" {
		p.Name = RestartNo
	}
	if hasCount {
		n, err := strconv.Atoi(count)
		if err != nil || n < 0 {
			return RestartPolicy{}, fmt.Errorf("invalid --restart %q: the retry count must be a non-negative integer", s)
		}
		p.MaximumRetryCount = n
		if p.Name != RestartOnFailure {
			return RestartPolicy{}, fmt.Errorf("invalid --restart %q: only on-failure takes a retry count", s)
		}
	}
	if err := validateRestart(p); err != nil {
		return RestartPolicy{}, fmt.Errorf("invalid --restart %q: use no, on-failure[:N], always or unless-stopped", s)
	}
	return p, nil
}

func validateRestart(p RestartPolicy) error {
	if p.Name == "" {
		return nil // no
	}
	if _, err := ParseRestartPolicyName(string(p.Name)); err != nil {
		return err
	}
	if p.MaximumRetryCount < 0 || p.MaximumRetryCount > 0 && p.Name != RestartOnFailure {
		return fmt.Errorf("restart policy %s: only on-failure takes a retry count, and it must not be negative", p.Name)
	}
	return nil
}

// Healthcheck is docker's HealthConfig: a probe command and its timing.
type Healthcheck = health.Config

// MountType is what a Mount mounts.
type MountType string

// The mount types.
const (
	MountBind   MountType = "bind"   // a host path
	MountVolume MountType = "volume" // a named volume, or an anonymous one
	MountTmpfs  MountType = "tmpfs"
)

// Mount is one -v, --tmpfs or compose volume.
type Mount struct {
	Type MountType
	// Source is the host path of a bind (relative to the request's Cwd),
	// the name of a volume ("" for a new anonymous one); tmpfs has none.
	Source   string
	Target   string // absolute path in the container
	ReadOnly bool
	// TmpfsOptions are tmpfs mount options (size=64m, mode=1777) added to
	// nosuid, nodev, noexec.
	TmpfsOptions []string
}

// ParseVolume parses -v HOST_PATH|NAME:CONTAINER_PATH[:ro|rw] or -v
// CONTAINER_PATH (an anonymous volume).
func ParseVolume(s string) (Mount, error) {
	v, err := specgen.ParseVolume(s)
	if err != nil {
		return Mount{}, err
	}
	m := Mount{Type: MountBind, Source: v.Source, Target: v.Destination, ReadOnly: v.ReadOnly}
	switch v.Kind {
	case specgen.KindVolume:
		m.Type = MountVolume
	case specgen.KindAnonymous:
		m.Type, m.Source = MountVolume, ""
	}
	return m, nil
}

// ParseMount parses --mount type=bind|volume|tmpfs,source=SRC,target=DST
// with docker's keys: src, dst and destination as other spellings,
// readonly (or ro, =true|false), tmpfs-size and tmpfs-mode; type defaults
// to volume, as docker's.
func ParseMount(s string) (Mount, error) {
	m := Mount{Type: MountVolume}
	bad := func(why string) (Mount, error) {
		return Mount{}, fmt.Errorf("invalid --mount %q: %s", s, why)
	}
	for _, field := range strings.Split(s, ",") {
		key, val, hasVal := strings.Cut(field, "=")
		switch strings.ToLower(key) {
		case "type":
			m.Type = MountType(val)
		case "source", "src":
			m.Source = val
		case "target", "destination", "dst":
			m.Target = val
		case "readonly", "ro":
			ro := true
			if hasVal {
				b, err := strconv.ParseBool(val)
				if err != nil {
					return bad(key + " takes true or false")
				}
				ro = b
			}
			m.ReadOnly = ro
		case "tmpfs-size":
			n, err := specgen.ParseBytes(val)
			if err != nil || n <= 0 {
				return bad("tmpfs-size wants a size like 64m")
			}
			m.TmpfsOptions = append(m.TmpfsOptions, "size="+strconv.FormatInt(n, 10))
		case "tmpfs-mode":
			mode, err := strconv.ParseUint(val, 8, 32)
			if err != nil || mode > 0o7777 {
				return bad("tmpfs-mode wants an octal mode like 1777")
			}
			m.TmpfsOptions = append(m.TmpfsOptions, "mode="+strconv.FormatUint(mode, 8))
		default:
			return bad(fmt.Sprintf("unknown key %q (use type, source, target, readonly, tmpfs-size, tmpfs-mode)", key))
		}
	}
	switch {
	case m.Target == "":
		return bad("target is required")
	case m.Type == MountTmpfs && m.Source != "":
		return bad("a tmpfs has no source")
	case m.Type == MountBind && m.Source == "":
		return bad("a bind mount needs a source")
	case m.Type != MountTmpfs && len(m.TmpfsOptions) > 0:
		return bad("tmpfs-size and tmpfs-mode are for type=tmpfs")
	}
	return m, m.validate()
}

// ParseTmpfs parses --tmpfs CONTAINER_PATH[:OPTIONS].
func ParseTmpfs(s string) (Mount, error) {
	t, err := specgen.ParseTmpfs(s)
	if err != nil {
		return Mount{}, err
	}
	return Mount{Type: MountTmpfs, Target: t.Destination, TmpfsOptions: t.Options[len(specgen.TmpfsDefaults):]}, nil
}

// ParsePorts parses -p values ([IP:]HOST:CONTAINER[/tcp|udp], ranges).
func ParsePorts(values []string) ([]network.PortMapping, error) {
	var out []network.PortMapping
	for _, p := range values {
		ms, err := network.ParsePort(p)
		if err != nil {
			return nil, fmt.Errorf("invalid -p %q: %w", p, err)
		}
		out = append(out, ms...)
	}
	return out, nil
}

// Resources are the container's cgroup limits; zero is unlimited.
type Resources struct {
	Memory    int64 // bytes
	NanoCPUs  int64 // CPU time in billionths of a CPU, as docker's NanoCpus
	PidsLimit int64
}

// minMemory is the smallest memory limit docker accepts.
const minMemory = 6 << 20

// ParseMemory parses --memory (512m, 1g, bytes).
func ParseMemory(s string) (int64, error) {
	n, err := specgen.ParseBytes(s)
	if err != nil {
		return 0, fmt.Errorf("--memory: %w", err)
	}
	return n, nil
}

// ParseCPUs parses --cpus (a decimal number of CPUs like 1.5) into NanoCPUs.
func ParseCPUs(s string) (int64, error) {
	f, err := specgen.ParseCPUs(s)
	if err != nil {
		return 0, err
	}
	return int64(f*1e9 + 0.5), nil
}

// SecurityOptions are --security-opt values. Every kind of option is
// parsed in ParseSecurityOpt, so a new one (AppArmor) is one more case.
type SecurityOptions struct {
	// Seccomp is a profile replacing docker's default; nil keeps it.
	Seccomp *specs.LinuxSeccomp
	// SeccompUnconfined runs without any seccomp filter.
	SeccompUnconfined bool
	// AppArmorProfile is the profile named with apparmor=NAME ("" when not
	// given: kago-default where AppArmor is enabled, see appArmorProfile).
	AppArmorProfile string
}

// ParseSecurityOpts parses --security-opt values into o: seccomp=FILE
// (read and compiled now, so a bad profile fails before anything is made)
// or seccomp=unconfined, apparmor=PROFILE or apparmor=unconfined; docker's
// older "seccomp:" and "apparmor:" spellings too.
func ParseSecurityOpts(values []string) (SecurityOptions, error) {
	var o SecurityOptions
	for _, v := range values {
		key, val, ok := strings.Cut(v, "=")
		if !ok {
			key, val, ok = strings.Cut(v, ":")
		}
		switch {
		case ok && key == "seccomp" && val == "unconfined":
			o.SeccompUnconfined, o.Seccomp = true, nil
		case ok && key == "seccomp" && val != "":
			prof, err := loadSeccomp(val)
			if err != nil {
				return o, err
			}
			o.Seccomp, o.SeccompUnconfined = prof, false
		case ok && key == "apparmor" && val != "":
			if strings.IndexFunc(val, func(r rune) bool { return r < ' ' || r == 0x7f }) >= 0 {
				return o, fmt.Errorf("--security-opt %q: an AppArmor profile name has no control characters", v)
			}
			o.AppArmorProfile = val
		default:
			return o, fmt.Errorf("unsupported --security-opt %q: use seccomp=FILE|unconfined or apparmor=PROFILE|unconfined", v)
		}
	}
	return o, nil
}

func loadSeccomp(file string) (*specs.LinuxSeccomp, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("seccomp profile: %w", err)
	}
	var p specs.LinuxSeccomp
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("seccomp profile %s is not an OCI seccomp JSON object: %w", file, err)
	}
	if _, _, err := seccomp.Compile(&p); err != nil {
		return nil, fmt.Errorf("seccomp profile %s: %w", file, err)
	}
	return &p, nil
}

// Validate checks everything in the request that needs neither the image
// nor the engine's state, with docker's messages where docker has one.
// Create calls it (and then checks the rest against the image) before it
// makes anything.
func (r *CreateRequest) Validate() error {
	if r.Image == "" {
		return errors.New("an image is required")
	}
	if r.Name != "" {
		if err := containers.ValidateName(r.Name); err != nil {
			return err
		}
	}
	if r.Workdir != "" && !path.IsAbs(r.Workdir) {
		return fmt.Errorf("the working directory '%s' is invalid, it needs to be an absolute path", r.Workdir)
	}
	if r.User != "" {
		if err := specgen.CheckUser(r.User); err != nil {
			return err
		}
	}
	for _, kv := range r.Env {
		if _, err := specgen.ParseEnv(kv, func(string) (string, bool) { return "", false }); err != nil {
			return err
		}
	}
	if _, err := specgen.Capabilities(r.Privileged, r.CapAdd, r.CapDrop); err != nil {
		return err
	}
	if err := r.Resources.validate(); err != nil {
		return err
	}
	for _, m := range r.Mounts {
		if err := m.validate(); err != nil {
			return err
		}
	}
	if err := validateRestart(r.Restart); err != nil {
		return err
	}
	if r.StopSignal != "" {
		if _, err := runtime.ParseSignal(r.StopSignal); err != nil {
			return fmt.Errorf("stop signal %q: %w", r.StopSignal, err)
		}
	}
	if r.StopTimeout != nil && *r.StopTimeout < -1 {
		return fmt.Errorf("--stop-timeout %d: use seconds, or -1 to wait for ever", *r.StopTimeout)
	}
	if err := validateDNS(r.DNS); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, u := range r.Ulimits {
		if err := validateUlimit(u); err != nil {
			return err
		}
		if seen[u.Name] {
			return fmt.Errorf("ulimit %s is given twice: keep one", u.Name)
		}
		seen[u.Name] = true
	}
	for _, d := range r.Devices {
		if err := validateDevice(d); err != nil {
			return err
		}
	}
	for _, h := range r.ExtraHosts {
		if err := etcfiles.ValidateHostname(h.Name); err != nil {
			return fmt.Errorf("--add-host: %w", err)
		}
		if !h.HostGateway && !h.IP.IsValid() {
			return fmt.Errorf("--add-host %s: an IP address or host-gateway is required", h.Name)
		}
	}
	if r.ShmSize < 0 {
		return fmt.Errorf("--shm-size %d must not be negative", r.ShmSize)
	}
	for k, v := range r.Sysctls {
		if err := validateSysctl(k, v, r.network()); err != nil {
			return err
		}
	}
	for k := range r.Labels {
		if k == "" || strings.ContainsRune(k, 0) {
			return fmt.Errorf("invalid label %q: a label needs a non-empty key", k)
		}
	}
	if r.Healthcheck != nil {
		if err := r.Healthcheck.Validate(); err != nil {
			return err
		}
	}
	if r.Trace != nil && !path.IsAbs(r.Trace.File) {
		return fmt.Errorf("--trace file %q is not an absolute path", r.Trace.File)
	}
	if r.AutoRemove && r.Restart.Name != "" && r.Restart.Name != RestartNo {
		return errors.New("--rm and --restart cannot be combined: choose one")
	}
	switch {
	case !r.network().OwnInterface() && (len(r.Ports) > 0 || r.PublishAll):
		return fmt.Errorf("ports cannot be published with --network %s: drop -p/-P or use a bridge network", r.Network)
	case !r.network().OwnInterface() && r.MacAddress != "":
		return fmt.Errorf("--mac-address needs a network interface: it cannot be used with --network %s", r.Network)
	}
	if len(r.NetworkAliases) > 0 && (!r.network().OwnInterface() || r.network() == NetworkBridge) {
		return errors.New("network-scoped aliases are only supported on user-defined networks: drop --network-alias or use --network NAME")
	}
	for _, a := range r.NetworkAliases {
		if err := etcfiles.ValidateHostname(a); err != nil {
			return fmt.Errorf("--network-alias: %w", err)
		}
	}
	if r.MacAddress != "" {
		if _, err := mac.Parse(r.MacAddress); err != nil {
			return fmt.Errorf("--mac-address: %w", err)
		}
	}
	nets := map[NetworkMode]bool{r.network(): true}
	for _, nc := range r.MoreNetworks {
		if !r.network().OwnInterface() {
			return fmt.Errorf("--network %s cannot be combined with other networks", r.Network)
		}
		if err := validateNetworkConfig(nc); err != nil {
			return err
		}
		if nets[NetworkMode(nc.Name)] {
			return fmt.Errorf("network %s is given twice: keep one", nc.Name)
		}
		nets[NetworkMode(nc.Name)] = true
	}
	return nil
}

// NetworkConfig is a network the container joins besides its first, with
// its aliases there.
type NetworkConfig = containers.NetworkConfig

func validateNetworkConfig(nc NetworkConfig) error {
	switch m := NetworkMode(nc.Name); {
	case nc.Name == "":
		return errors.New("a network name is required")
	case !m.OwnInterface():
		return fmt.Errorf("--network %s cannot be combined with other networks", nc.Name)
	case m == NetworkBridge && len(nc.Aliases) > 0:
		return errors.New("network-scoped aliases are only supported on user-defined networks: drop the aliases on bridge")
	}
	for _, a := range nc.Aliases {
		if err := etcfiles.ValidateHostname(a); err != nil {
			return fmt.Errorf("alias on network %s: %w", nc.Name, err)
		}
	}
	if nc.IP.IsValid() && !nc.IP.Is4() {
		return fmt.Errorf("--ip %v: only IPv4 addresses", nc.IP)
	}
	return nil
}

// network is the request's network mode with the default applied.
func (r *CreateRequest) network() NetworkMode {
	if r.Network == "" {
		return NetworkBridge
	}
	return r.Network
}

func (res Resources) validate() error {
	switch {
	case res.Memory < 0:
		return fmt.Errorf("--memory %d must not be negative", res.Memory)
	case res.NanoCPUs < 0:
		return fmt.Errorf("--cpus %.2f must not be negative", float64(res.NanoCPUs)/1e9)
	case res.PidsLimit < 0:
		return fmt.Errorf("--pids-limit %d must not be negative", res.PidsLimit)
	}
	if res.Memory > 0 && res.Memory < minMemory {
		return fmt.Errorf("--memory %d bytes is below the 6MiB minimum a container needs", res.Memory)
	}
	if n := int64(goruntime.NumCPU()); res.NanoCPUs > 0 && (res.NanoCPUs < 1e7 || res.NanoCPUs > n*1e9) {
		return fmt.Errorf("range of CPUs is from 0.01 to %d.00, as there are only %d CPUs available", n, n)
	}
	return nil
}

func (m Mount) validate() error {
	if !path.IsAbs(m.Target) || path.Clean(m.Target) == "/" || strings.ContainsRune(m.Target, 0) {
		return fmt.Errorf("invalid mount target %q: use an absolute container path other than /", m.Target)
	}
	switch m.Type {
	case MountBind:
		if m.Source == "" || strings.ContainsRune(m.Source, 0) {
			return fmt.Errorf("invalid bind mount on %s: the host path is empty", m.Target)
		}
	case MountVolume:
		if m.Source != "" && !specgen.IsVolumeName(m.Source) {
			return fmt.Errorf("invalid volume name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", m.Source)
		}
	case MountTmpfs:
		for _, o := range m.TmpfsOptions {
			if o == "" || strings.ContainsAny(o, ",\x00") {
				return fmt.Errorf("invalid tmpfs option %q on %s", o, m.Target)
			}
		}
	default:
		return fmt.Errorf("unknown mount type %q on %s: use bind, volume or tmpfs", m.Type, m.Target)
	}
	return nil
}
