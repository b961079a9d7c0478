// Package specgen turns an image config and `kago run` flags into an OCI
// runtime spec, applying the image config the way docker does:
//
//   - Entrypoint and Cmd: --entrypoint replaces the image's Entrypoint and
//     drops its Cmd; arguments after the image replace Cmd. The process runs
//     Entrypoint+Cmd.
//   - Env: the image's, then -e/--env-file values override by name; PATH is
//     set if neither gave one, HOSTNAME always, TERM=xterm with a tty.
//   - WorkingDir and User: -w and -u win over the image's.
//
// Parsing of untrusted flag values (volume specs, sizes, env files, user
// names against the image's /etc/passwd) lives in parse.go, each a pure
// function with tests and fuzz targets.
package specgen

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kago-run/kago/engine/initproc"
	"github.com/kago-run/kago/linux/caps"
	"github.com/kago-run/kago/runtime"
)

// DefaultPath is docker's PATH for images that set none.
const DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Options are the `kago run` flags that shape the spec.
type Options struct {
	Args       []string // after the image name
	Entrypoint *string  // --entrypoint; nil when not given
	Env        []string // KEY=VALUE, already expanded from -e and --env-file
	Workdir    string
	User       specs.User // already resolved (ResolveUser); ignored if UserSet is false
	UserSet    bool
	Hostname   string
	Tty        bool
	ReadOnly   bool
	Privileged bool
	// Init, if set, runs kago-init as PID 1 in front of the command (--init).
	Init    *initproc.Bundle
	CapAdd  []string
	CapDrop []string
	// Seccomp is nil for docker's default profile; Unconfined drops it.
	Seccomp           *specs.LinuxSeccomp
	SeccompUnconfined bool
	// AppArmorProfile is --security-opt apparmor=NAME as given; the engine
	// replaces it with the profile it chose ("" on a host without AppArmor).
	AppArmorProfile string
	Memory          int64   // bytes; 0 unlimited
	CPUs            float64 // 0 unlimited
	PidsLimit       int64   // 0 unlimited
	// HostNetwork keeps the host's network namespace (--network host).
	HostNetwork bool
	// Rlimits replace the runtime's default of the same type (--ulimit).
	Rlimits []specs.POSIXRlimit
	// Devices are host nodes made in the container, each with a device
	// cgroup rule of its access (--device).
	Devices []Device
	// ShmSize is the size of /dev/shm in bytes (--shm-size); 0: 64 MiB.
	ShmSize int64
	// Sysctls are written in the container's namespaces (--sysctl).
	Sysctls     map[string]string
	Mounts      []specs.Mount // binds, volumes, tmpfs and the /etc files
	Rootfs      string
	CgroupsPath string
}

// Device is a host device node made in the container (--device) and the
// access its cgroup rule allows.
type Device struct {
	Path         string // in the container
	Type         string // c or b
	Major, Minor int64
	FileMode     os.FileMode
	UID, GID     uint32
	Access       string // some of r, w, m
}

// EntrypointCmd returns the container's Entrypoint and Cmd, as docker
// keeps them in its config (commit makes an image of them).
func EntrypointCmd(img ocispec.ImageConfig, o Options) (entry, cmd []string) {
	entry, cmd = img.Entrypoint, img.Cmd
	if o.Entrypoint != nil {
		entry, cmd = nil, nil
		if *o.Entrypoint != "" {
			entry = []string{*o.Entrypoint}
		}
	}
	if len(o.Args) > 0 {
		cmd = o.Args
	}
	return entry, cmd
}

// Command returns the argv docker would run for this image and these flags.
func Command(img ocispec.ImageConfig, o Options) ([]string, error) {
	entry, cmd := EntrypointCmd(img, o)
	argv := append(append([]string{}, entry...), cmd...)
	if len(argv) == 0 {
		return nil, errors.New("no command specified: the image has no Entrypoint or Cmd; give one after the image name")
	}
	return argv, nil
}

// MergeEnv applies docker's precedence: later values of a name win, the
// order of first appearance is kept.
func MergeEnv(lists ...[]string) []string {
	idx := map[string]int{}
	var out []string
	for _, l := range lists {
		for _, kv := range l {
			k, _, _ := strings.Cut(kv, "=")
			if i, ok := idx[k]; ok {
				out[i] = kv
				continue
			}
			idx[k] = len(out)
			out = append(out, kv)
		}
	}
	return out
}

// Generate builds the spec.
func Generate(img ocispec.ImageConfig, o Options) (*specs.Spec, error) {
	argv, err := Command(img, o)
	if err != nil {
		return nil, err
	}
	spec := runtime.DefaultSpec()
	spec.Root = &specs.Root{Path: o.Rootfs, Readonly: o.ReadOnly}
	p := spec.Process
	p.Terminal = o.Tty
	p.Args = argv
	if o.Init != nil {
		p.Args = append(o.Init.Args(), argv...)
		spec.Mounts = append(spec.Mounts, specs.Mount{Destination: initproc.MountPoint, Type: "bind", Source: o.Init.Dir, Options: []string{"rbind", "ro", "nosuid", "nodev"}})
	}
	p.NoNewPrivileges = false
	defaults := []string{DefaultPath}
	if o.Tty {
		defaults = append(defaults, "TERM=xterm")
	}
	p.Env = MergeEnv(defaults, img.Env, []string{"HOSTNAME=" + o.Hostname}, o.Env)
	p.Cwd = "/"
	if img.WorkingDir != "" {
		p.Cwd = img.WorkingDir
	}
	if o.Workdir != "" {
		p.Cwd = o.Workdir
	}
	if !strings.HasPrefix(p.Cwd, "/") {
		return nil, fmt.Errorf("the working directory '%s' is invalid, it needs to be an absolute path", p.Cwd)
	}
	if o.UserSet {
		p.User = o.User
	}
	p.ApparmorProfile = o.AppArmorProfile
	spec.Hostname = o.Hostname
	capSet, err := Capabilities(o.Privileged, o.CapAdd, o.CapDrop)
	if err != nil {
		return nil, err
	}
	p.Capabilities = &specs.LinuxCapabilities{Bounding: capSet, Effective: capSet, Permitted: capSet}
	if o.Privileged {
		spec.Linux.MaskedPaths, spec.Linux.ReadonlyPaths = nil, nil
		spec.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
	}
	switch {
	case o.Privileged || o.SeccompUnconfined:
		spec.Linux.Seccomp = nil
	case o.Seccomp != nil:
		spec.Linux.Seccomp = o.Seccomp
	}
	if o.HostNetwork {
		var nss []specs.LinuxNamespace
		for _, n := range spec.Linux.Namespaces {
			if n.Type != specs.NetworkNamespace && n.Type != specs.UTSNamespace {
				nss = append(nss, n)
			}
		}
		spec.Linux.Namespaces = nss
		spec.Hostname = ""
		// A sysfs mount needs a network namespace of its own; bind the host's.
		for i, m := range spec.Mounts {
			if m.Destination == "/sys" {
				spec.Mounts[i] = specs.Mount{Destination: "/sys", Type: "bind", Source: "/sys", Options: []string{"rbind", "nosuid", "noexec", "nodev", "ro"}}
			}
		}
	}
	r := spec.Linux.Resources
	if o.Memory > 0 {
		r.Memory = &specs.LinuxMemory{Limit: &o.Memory}
	}
	if o.CPUs > 0 {
		period := uint64(100000)
		quota := int64(o.CPUs * float64(period))
		r.CPU = &specs.LinuxCPU{Period: &period, Quota: &quota}
	}
	if o.PidsLimit > 0 {
		r.Pids = &specs.LinuxPids{Limit: &o.PidsLimit}
	}
	for _, rl := range o.Rlimits {
		p.Rlimits = slices.DeleteFunc(p.Rlimits, func(x specs.POSIXRlimit) bool { return x.Type == rl.Type })
		p.Rlimits = append(p.Rlimits, rl)
	}
	for _, d := range o.Devices {
		mode, uid, gid := d.FileMode, d.UID, d.GID
		spec.Linux.Devices = append(spec.Linux.Devices, specs.LinuxDevice{Path: d.Path, Type: d.Type, Major: d.Major, Minor: d.Minor,
			FileMode: &mode, UID: &uid, GID: &gid})
		major, minor := d.Major, d.Minor
		r.Devices = append(r.Devices, specs.LinuxDeviceCgroup{Allow: true, Type: d.Type, Major: &major, Minor: &minor, Access: d.Access})
	}
	if o.ShmSize > 0 {
		for i, m := range spec.Mounts {
			if m.Destination == "/dev/shm" {
				opts := slices.DeleteFunc(slices.Clone(m.Options), func(o string) bool { return strings.HasPrefix(o, "size=") })
				spec.Mounts[i].Options = append(opts, "size="+strconv.FormatInt(o.ShmSize, 10))
			}
		}
	}
	if len(o.Sysctls) > 0 {
		spec.Linux.Sysctl = maps.Clone(o.Sysctls)
	}
	spec.Mounts = append(spec.Mounts, o.Mounts...)
	spec.Linux.CgroupsPath = o.CgroupsPath
	return spec, nil
}

// Capabilities applies --privileged, --cap-add and --cap-drop (ALL allowed)
// to docker's default set; an unknown name is an error.
func Capabilities(privileged bool, add, drop []string) ([]string, error) {
	set := map[string]bool{}
	base := caps.DefaultDocker()
	if privileged {
		base = boundingCaps()
	}
	for _, c := range base {
		set[c] = true
	}
	norm := func(c string) (string, error) {
		c = strings.ToUpper(c)
		if c == "ALL" {
			return c, nil
		}
		if !strings.HasPrefix(c, "CAP_") {
			c = "CAP_" + c
		}
		if _, err := caps.Parse(c); err != nil {
			return "", fmt.Errorf("unknown capability %q: see capabilities(7) for the names", c)
		}
		return c, nil
	}
	for _, c := range drop {
		c, err := norm(c)
		if err != nil {
			return nil, err
		}
		if c == "ALL" {
			clear(set)
			continue
		}
		delete(set, c)
	}
	for _, c := range add {
		c, err := norm(c)
		if err != nil {
			return nil, err
		}
		if c == "ALL" {
			for _, k := range boundingCaps() {
				set[k] = true
			}
			continue
		}
		set[c] = true
	}
	out := make([]string, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	sort.Strings(out)
	return out, nil
}

// boundingCaps is every capability this process may grant: --privileged
// and --cap-add ALL mean these, as in docker, since asking for more than
// our own bounding set fails.
func boundingCaps() []string {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return caps.Known()
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "CapBnd:"); ok {
			if mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64); err == nil {
				return caps.Names(mask)
			}
		}
	}
	return caps.Known()
}
