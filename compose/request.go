package compose

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/kago-run/kago/engine"
)

// serviceKeys are the service keys kago implements; every other key a
// service sets (as compose-go's normalized model marshals it) is refused.
var serviceKeys = keySet("image", "command", "entrypoint", "environment", "env_file", "ports", "expose",
	"volumes", "tmpfs", "networks", "network_mode", "hostname", "labels", "user", "working_dir", "restart",
	"cap_add", "cap_drop", "mem_limit", "cpus", "pids_limit", "read_only", "init", "stop_signal",
	"stop_grace_period", "healthcheck", "deploy", "scale", "depends_on", "profiles", "build", "privileged",
	"tty", "stdin_open", "container_name", "mac_address", "extends", "pull_policy",
	"extra_hosts", "dns", "dns_search", "dns_opt", "ulimits", "devices", "shm_size", "sysctls")

// The keys kago implements inside a service's nested mappings.
var (
	deployKeys        = keySet("replicas")
	buildKeys         = keySet("context", "dockerfile", "args", "target", "labels", "network", "no_cache", "pull")
	serviceNetKeys    = keySet("aliases", "priority")
	dependsOnKeys     = keySet("condition", "required", "restart")
	volumeMountKeys   = keySet("type", "source", "target", "read_only", "bind", "volume", "tmpfs")
	bindKeys          = keySet("create_host_path")
	volumeOptionKeys  = keySet()
	tmpfsKeys         = keySet("size", "mode")
	healthcheckKeys   = keySet("test", "timeout", "interval", "retries", "start_period", "start_interval", "disable")
	portKeys          = keySet("mode", "host_ip", "target", "published", "protocol")
	supportedPullPols = keySet("", types.PullPolicyMissing, types.PullPolicyIfNotPresent, types.PullPolicyAlways, types.PullPolicyNever, types.PullPolicyBuild)
)

func keySet(keys ...string) map[string]bool {
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}

// unsupported names the first key of m (sorted, for a stable message) that
// is not in allowed, prefixed with where.
func unsupported(m map[string]any, allowed map[string]bool, where string) string {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !allowed[k] && !empty(m[k]) {
			return where + k
		}
	}
	return ""
}

// empty tells a value compose-go marshals without it being set (an empty
// struct such as deploy.placement, a zero) from a set one.
func empty(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case map[string]any:
		for _, x := range v {
			if !empty(x) {
				return false
			}
		}
		return true
	case []any:
		return len(v) == 0
	case bool:
		return !v
	case float64:
		return v == 0
	case string:
		return v == ""
	}
	return false
}

// serviceModel is the service as compose-go's normalized model marshals
// it: only the keys the files set (or compose-go defaults) are present.
func serviceModel(s types.ServiceConfig) (map[string]any, error) {
	data, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("service %q: %w", s.Name, err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("service %q: %w", s.Name, err)
	}
	return m, nil
}

// unsupportedKey is the first key of the service kago does not implement,
// as a dotted path ("deploy.resources"), or "".
func unsupportedKey(s types.ServiceConfig) (string, error) {
	m, err := serviceModel(s)
	if err != nil {
		return "", err
	}
	if k := unsupported(m, serviceKeys, ""); k != "" {
		return k, nil
	}
	sub := func(v any) map[string]any { m, _ := v.(map[string]any); return m }
	if k := unsupported(sub(m["deploy"]), deployKeys, "deploy."); k != "" {
		return k, nil
	}
	if k := unsupported(sub(m["build"]), buildKeys, "build."); k != "" {
		return k, nil
	}
	if k := unsupported(sub(m["healthcheck"]), healthcheckKeys, "healthcheck."); k != "" {
		return k, nil
	}
	for name, n := range sub(m["networks"]) {
		if k := unsupported(sub(n), serviceNetKeys, "networks."+name+"."); k != "" {
			return k, nil
		}
	}
	for name, d := range sub(m["depends_on"]) {
		if k := unsupported(sub(d), dependsOnKeys, "depends_on."+name+"."); k != "" {
			return k, nil
		}
	}
	list := func(v any) []any { l, _ := v.([]any); return l }
	for _, v := range list(m["volumes"]) {
		v := sub(v)
		for _, k := range []string{
			unsupported(v, volumeMountKeys, "volumes."),
			unsupported(sub(v["bind"]), bindKeys, "volumes.bind."),
			unsupported(sub(v["volume"]), volumeOptionKeys, "volumes.volume."),
			unsupported(sub(v["tmpfs"]), tmpfsKeys, "volumes.tmpfs."),
		} {
			if k != "" {
				return k, nil
			}
		}
	}
	for _, p := range list(m["ports"]) {
		if k := unsupported(sub(p), portKeys, "ports."); k != "" {
			return k, nil
		}
	}
	return "", nil
}

// checkService refuses what kago cannot do for the service, naming the
// service and the key.
func checkService(p *types.Project, s types.ServiceConfig) error {
	key, err := unsupportedKey(s)
	if err != nil {
		return err
	}
	if key != "" {
		return fmt.Errorf("service %q: %s is not supported by kago compose: remove it from the compose file", s.Name, key)
	}
	if err := checkContainerName(p.Name, s); err != nil {
		return err
	}
	if !supportedPullPols[s.PullPolicy] {
		return fmt.Errorf("service %q: pull_policy %s is not supported by kago compose: use missing, always, never or build", s.Name, s.PullPolicy)
	}
	if s.ContainerName != "" && s.GetScale() > 1 {
		return fmt.Errorf("service %q: container_name %q cannot be used with more than one replica", s.Name, s.ContainerName)
	}
	for _, v := range s.Volumes {
		switch v.Type {
		case types.VolumeTypeBind, types.VolumeTypeVolume, types.VolumeTypeTmpfs:
		default:
			return fmt.Errorf("service %q: volumes: type %s is not supported by kago compose: use bind, volume or tmpfs", s.Name, v.Type)
		}
	}
	for _, port := range s.Ports {
		if port.Mode != "" && port.Mode != "ingress" && port.Mode != "host" {
			return fmt.Errorf("service %q: ports: mode %s is not supported", s.Name, port.Mode)
		}
	}
	if s.Build == nil && s.Image == "" {
		return fmt.Errorf("service %q has neither an image nor a build section", s.Name)
	}
	if _, err := Request(p, s, 1); err != nil {
		return err
	}
	return nil
}

// Request is the engine's create request for replica number of the
// service: everything the service sets, plus docker compose's name,
// labels and network alias.
func Request(p *types.Project, s types.ServiceConfig, number int) (engine.CreateRequest, error) {
	fail := func(key string, err error) (engine.CreateRequest, error) {
		return engine.CreateRequest{}, fmt.Errorf("service %q: %s: %w", s.Name, key, err)
	}
	r := engine.CreateRequest{
		Image:      ImageName(p, s),
		Name:       ContainerName(p.Name, s.Name, number),
		Hostname:   s.Hostname,
		Workdir:    s.WorkingDir,
		User:       s.User,
		Tty:        s.Tty,
		OpenStdin:  s.StdinOpen,
		ReadOnly:   s.ReadOnly,
		Privileged: s.Privileged,
		CapAdd:     s.CapAdd,
		CapDrop:    s.CapDrop,
		MacAddress: s.MacAddress,
		StopSignal: s.StopSignal,
		Cwd:        p.WorkingDir,
		Resources: engine.Resources{
			Memory:    int64(s.MemLimit),
			NanoCPUs:  int64(float64(s.CPUS)*1e9 + 0.5),
			PidsLimit: s.PidsLimit,
		},
	}
	if s.ContainerName != "" {
		r.Name = s.ContainerName
	}
	if s.Init != nil {
		r.Init = *s.Init
	}
	if s.Entrypoint != nil {
		// The engine's entrypoint is one word (docker's --entrypoint); the
		// rest of a compose entrypoint goes before the command.
		ep := ""
		if len(s.Entrypoint) > 0 {
			ep = s.Entrypoint[0]
			r.Cmd = append(r.Cmd, s.Entrypoint[1:]...)
		}
		r.Entrypoint = &ep
	}
	r.Cmd = append(r.Cmd, s.Command...)
	if s.Entrypoint == nil && len(r.Cmd) == 0 {
		r.Cmd = nil
	}
	for _, k := range slices.Sorted(maps.Keys(s.Environment)) {
		if v := s.Environment[k]; v != nil {
			r.Env = append(r.Env, k+"="+*v)
		}
	}
	var err error
	if r.Restart, err = engine.ParseRestartPolicy(s.Restart); err != nil {
		return fail("restart", err)
	}
	for _, port := range s.Ports {
		spec := strconv.FormatUint(uint64(port.Target), 10)
		if port.Published != "" {
			spec = port.Published + ":" + spec
			if port.HostIP != "" {
				spec = port.HostIP + ":" + spec
			}
		}
		if port.Protocol != "" {
			spec += "/" + port.Protocol
		}
		ms, err := engine.ParsePorts([]string{spec})
		if err != nil {
			return fail("ports", err)
		}
		r.Ports = append(r.Ports, ms...)
	}
	for _, v := range s.Volumes {
		m, err := mount(p, v)
		if err != nil {
			return fail("volumes", err)
		}
		r.Mounts = append(r.Mounts, m)
	}
	for _, t := range s.Tmpfs {
		m, err := engine.ParseTmpfs(t)
		if err != nil {
			return fail("tmpfs", err)
		}
		r.Mounts = append(r.Mounts, m)
	}
	switch {
	case s.NetworkMode == "host" || s.NetworkMode == "none":
		r.Network = engine.NetworkMode(s.NetworkMode)
	case s.NetworkMode != "" && s.NetworkMode != "bridge" && s.NetworkMode != "default":
		return fail("network_mode", fmt.Errorf("%s is not supported by kago compose: use host, none or networks", s.NetworkMode))
	case s.NetworkMode == "bridge":
		r.Network = engine.NetworkBridge
	default:
		// As docker compose: the networks by priority, then name; the
		// first is the container's first (its default route).
		keys := slices.SortedFunc(maps.Keys(s.Networks), func(a, b string) int {
			return cmp.Or(cmp.Compare(priority(s.Networks[b]), priority(s.Networks[a])), cmp.Compare(a, b))
		})
		for i, key := range keys {
			n, ok := p.Networks[key]
			if !ok {
				return fail("networks", fmt.Errorf("network %q is not defined in the project", key))
			}
			aliases := []string{s.Name}
			if sn := s.Networks[key]; sn != nil {
				aliases = append(aliases, sn.Aliases...)
			}
			if i == 0 {
				r.Network, r.NetworkAliases = engine.NetworkMode(n.Name), aliases
				continue
			}
			r.MoreNetworks = append(r.MoreNetworks, engine.NetworkConfig{Name: n.Name, Aliases: aliases})
		}
	}
	if err := hostConfig(s, &r); err != nil {
		return engine.CreateRequest{}, fmt.Errorf("service %q: %w", s.Name, err)
	}
	if s.HealthCheck != nil {
		if r.Healthcheck, err = healthcheck(s.HealthCheck); err != nil {
			return fail("healthcheck", err)
		}
	}
	hash, err := ConfigHash(s)
	if err != nil {
		return fail("config-hash", err)
	}
	r.Labels = map[string]string{}
	maps.Copy(r.Labels, s.Labels)
	maps.Copy(r.Labels, ProjectLabels(p))
	r.Labels[LabelService] = s.Name
	r.Labels[LabelNumber] = strconv.Itoa(number)
	r.Labels[LabelOneoff] = "False"
	r.Labels[LabelConfigHash] = hash
	if err := r.Validate(); err != nil {
		return engine.CreateRequest{}, fmt.Errorf("service %q: %w", s.Name, err)
	}
	return r, nil
}

// priority is a service network's priority (0 when not set).
func priority(sn *types.ServiceNetworkConfig) int {
	if sn == nil {
		return 0
	}
	return sn.Priority
}

// hostConfig sets the request's /etc files, limits, devices, sysctls and
// stop timeout from the service, through the engine's parsers of the
// same docker flags.
func hostConfig(s types.ServiceConfig, r *engine.CreateRequest) error {
	for _, name := range slices.Sorted(maps.Keys(s.ExtraHosts)) {
		for _, ip := range s.ExtraHosts[name] {
			h, err := engine.ParseExtraHost(name + "=" + ip)
			if err != nil {
				return fmt.Errorf("extra_hosts: %w", err)
			}
			r.ExtraHosts = append(r.ExtraHosts, h)
		}
	}
	var err error
	if r.DNS.Servers, err = engine.ParseDNSServers(s.DNS); err != nil {
		return fmt.Errorf("dns: %w", err)
	}
	r.DNS.Search, r.DNS.Options = s.DNSSearch, s.DNSOpts
	for _, name := range slices.Sorted(maps.Keys(s.Ulimits)) {
		u := s.Ulimits[name]
		if u == nil {
			continue
		}
		soft, hard := u.Soft, u.Hard
		if u.Single != 0 {
			soft, hard = u.Single, u.Single
		}
		ul, err := engine.ParseUlimit(fmt.Sprintf("%s=%d:%d", name, soft, hard))
		if err != nil {
			return fmt.Errorf("ulimits: %w", err)
		}
		r.Ulimits = append(r.Ulimits, ul)
	}
	for _, d := range s.Devices {
		spec := d.Source + ":" + cmp.Or(d.Target, d.Source)
		if d.Permissions != "" {
			spec += ":" + d.Permissions
		}
		dev, err := engine.ParseDevice(spec)
		if err != nil {
			return fmt.Errorf("devices: %w", err)
		}
		r.Devices = append(r.Devices, dev)
	}
	r.ShmSize = int64(s.ShmSize)
	if len(s.Sysctls) > 0 {
		r.Sysctls = maps.Clone(map[string]string(s.Sysctls))
	}
	if s.StopGracePeriod != nil {
		secs := int(time.Duration(*s.StopGracePeriod) / time.Second)
		r.StopTimeout = &secs
	}
	return nil
}

// ProjectLabels are the labels every container of the project carries.
func ProjectLabels(p *types.Project) map[string]string {
	return map[string]string{
		LabelProject:     p.Name,
		LabelWorkingDir:  p.WorkingDir,
		LabelConfigFiles: strings.Join(p.ComposeFiles, ","),
		LabelVersion:     composeVersionString,
	}
}

// ImageName is the service's image, or docker compose's PROJECT-SERVICE
// for a service that is only built.
func ImageName(p *types.Project, s types.ServiceConfig) string {
	if s.Image != "" {
		return s.Image
	}
	return p.Name + "-" + s.Name
}

// mount is one service volume as an engine mount: named volumes become
// the project's (PROJECT_NAME), bind sources are absolute already
// (compose-go resolves them against the project directory).
func mount(p *types.Project, v types.ServiceVolumeConfig) (engine.Mount, error) {
	m := engine.Mount{Target: v.Target, ReadOnly: v.ReadOnly}
	switch v.Type {
	case types.VolumeTypeBind:
		m.Type, m.Source = engine.MountBind, v.Source
	case types.VolumeTypeVolume:
		m.Type = engine.MountVolume
		if v.Source != "" {
			pv, ok := p.Volumes[v.Source]
			if !ok {
				return m, fmt.Errorf("volume %q is not defined in the project's volumes", v.Source)
			}
			m.Source = pv.Name
		}
	case types.VolumeTypeTmpfs:
		m.Type = engine.MountTmpfs
		if t := v.Tmpfs; t != nil {
			if t.Size != 0 {
				m.TmpfsOptions = append(m.TmpfsOptions, "size="+strconv.FormatInt(int64(t.Size), 10))
			}
			if t.Mode != 0 {
				m.TmpfsOptions = append(m.TmpfsOptions, "mode="+strconv.FormatUint(uint64(t.Mode), 8))
			}
		}
	default:
		return m, fmt.Errorf("type %s is not supported: use bind, volume or tmpfs", v.Type)
	}
	return m, nil
}

// healthcheck is the service's healthcheck as the engine takes it: the
// fields the service sets, the rest inherited from the image (as docker
// compose passes them); disable: true is docker's NONE.
func healthcheck(h *types.HealthCheckConfig) (*engine.Healthcheck, error) {
	if h.Disable {
		return &engine.Healthcheck{Test: []string{"NONE"}}, nil
	}
	hc := &engine.Healthcheck{Test: h.Test}
	for _, d := range []struct {
		in  *types.Duration
		out *time.Duration
	}{{h.Interval, &hc.Interval}, {h.Timeout, &hc.Timeout}, {h.StartPeriod, &hc.StartPeriod}, {h.StartInterval, &hc.StartInterval}} {
		if d.in != nil {
			*d.out = time.Duration(*d.in)
		}
	}
	if h.Retries != nil {
		if *h.Retries > 1<<20 {
			return nil, fmt.Errorf("retries %d is too many", *h.Retries)
		}
		hc.Retries = int(*h.Retries)
	}
	return hc, nil
}

// DependencyOrder is the project's services, each after what it depends on.
func DependencyOrder(p *types.Project, services []string) ([]string, error) {
	var out []string
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(name string, path []string) error
	visit = func(name string, path []string) error {
		switch state[name] {
		case 1:
			return fmt.Errorf("dependency cycle: %s", strings.Join(append(path, name), " -> "))
		case 2:
			return nil
		}
		s, ok := p.Services[name]
		if !ok {
			return fmt.Errorf("no such service: %s", name)
		}
		state[name] = 1
		deps := slices.Sorted(maps.Keys(s.DependsOn))
		for _, d := range deps {
			if _, ok := p.Services[d]; !ok && !s.DependsOn[d].Required {
				continue
			}
			if err := visit(d, append(path, name)); err != nil {
				return err
			}
		}
		state[name] = 2
		out = append(out, name)
		return nil
	}
	if len(services) == 0 {
		services = p.ServiceNames()
	}
	sort.Strings(services)
	for _, name := range services {
		if err := visit(name, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}
