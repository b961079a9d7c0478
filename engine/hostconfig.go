package engine

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/engine/containers"
	"github.com/kago-run/kago/engine/specgen"
	"github.com/kago-run/kago/network"
	"github.com/kago-run/kago/network/etcfiles"
)

// ExtraHost is one --add-host entry (compose: extra_hosts).
type ExtraHost = network.ExtraHost

// ParseExtraHost parses --add-host NAME:IP|host-gateway.
func ParseExtraHost(s string) (ExtraHost, error) { return network.ParseExtraHost(s) }

// DNS are a container's own resolver settings (--dns, --dns-search,
// --dns-option; compose: dns, dns_search, dns_opt).
type DNS = etcfiles.DNS

// ParseDNSServers parses --dns values: IP addresses.
func ParseDNSServers(values []string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, v := range values {
		a, err := netip.ParseAddr(v)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("invalid --dns %q: want an IP address", v)
		}
		out = append(out, a)
	}
	return out, nil
}

func validateDNS(d DNS) error {
	for _, s := range d.Search {
		if s != "." {
			if err := etcfiles.ValidateHostname(strings.TrimSuffix(s, ".")); err != nil {
				return fmt.Errorf("invalid --dns-search %q: %w", s, err)
			}
		}
	}
	for _, o := range d.Options {
		if o == "" || strings.ContainsAny(o, " \t\r\n\x00") {
			return fmt.Errorf("invalid --dns-option %q: one option per flag, like ndots:2", o)
		}
	}
	return nil
}

// Ulimit is one --ulimit NAME=SOFT[:HARD] (compose: ulimits).
type Ulimit = containers.Ulimit

// ulimitResources are docker's --ulimit names and their resources.
var ulimitResources = map[string]int{
	"as": unix.RLIMIT_AS, "core": unix.RLIMIT_CORE, "cpu": unix.RLIMIT_CPU, "data": unix.RLIMIT_DATA,
	"fsize": unix.RLIMIT_FSIZE, "locks": unix.RLIMIT_LOCKS, "memlock": unix.RLIMIT_MEMLOCK,
	"msgqueue": unix.RLIMIT_MSGQUEUE, "nice": unix.RLIMIT_NICE, "nofile": unix.RLIMIT_NOFILE,
	"nproc": unix.RLIMIT_NPROC, "rss": unix.RLIMIT_RSS, "rtprio": unix.RLIMIT_RTPRIO,
	"rttime": unix.RLIMIT_RTTIME, "sigpending": unix.RLIMIT_SIGPENDING, "stack": unix.RLIMIT_STACK,
}

// ParseUlimit parses --ulimit NAME=SOFT[:HARD]; -1 is unlimited, as in docker.
func ParseUlimit(s string) (Ulimit, error) {
	bad := func(why string) (Ulimit, error) {
		return Ulimit{}, fmt.Errorf("invalid --ulimit %q: %s", s, why)
	}
	name, val, ok := strings.Cut(s, "=")
	if !ok {
		return bad("use NAME=SOFT[:HARD], e.g. nofile=1024:2048")
	}
	soft, hard, hasHard := strings.Cut(val, ":")
	if !hasHard {
		hard = soft
	}
	num := func(v string) (uint64, error) {
		if v == "-1" {
			return unix.RLIM_INFINITY, nil
		}
		return strconv.ParseUint(v, 10, 64)
	}
	u := Ulimit{Name: name}
	var err1, err2 error
	u.Soft, err1 = num(soft)
	u.Hard, err2 = num(hard)
	if err1 != nil || err2 != nil {
		return bad("the limits must be non-negative integers or -1")
	}
	return u, validateUlimit(u)
}

func validateUlimit(u Ulimit) error {
	if _, ok := ulimitResources[u.Name]; !ok {
		return fmt.Errorf("invalid ulimit type %q: use one of %s", u.Name, strings.Join(ulimitNames(), ", "))
	}
	if u.Soft > u.Hard {
		return fmt.Errorf("ulimit %s: soft limit %d is above hard limit %d", u.Name, u.Soft, u.Hard)
	}
	return nil
}

func ulimitNames() []string {
	out := make([]string, 0, len(ulimitResources))
	for n := range ulimitResources {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// checkHostLimit refuses a hard limit above the engine's own: raising a
// hard limit needs CAP_SYS_RESOURCE, and without it the container would
// fail at start with a bare EPERM.
func checkHostLimit(u Ulimit) error {
	var cur unix.Rlimit
	if err := unix.Getrlimit(ulimitResources[u.Name], &cur); err != nil {
		return nil
	}
	if u.Hard <= cur.Max || hasCapSysResource() {
		return nil
	}
	return fmt.Errorf("--ulimit %s=%d:%d: the hard limit %d is above this host's hard limit %d, which kago cannot raise without CAP_SYS_RESOURCE: use at most %d", u.Name, u.Soft, u.Hard, u.Hard, cur.Max, cur.Max)
}

// hasCapSysResource tells whether this process may raise hard limits.
func hasCapSysResource() bool {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && mask&(1<<unix.CAP_SYS_RESOURCE) != 0
		}
	}
	return false
}

// Device is one --device HOST[:CONTAINER][:PERMISSIONS] (compose: devices).
type Device = containers.Device

// ParseDevice parses --device as docker does: a second field that is
// only r, w and m is the permissions.
func ParseDevice(s string) (Device, error) {
	d := Device{CgroupPermissions: "rwm"}
	parts := strings.Split(s, ":")
	switch len(parts) {
	case 3:
		d.CgroupPermissions = parts[2]
		fallthrough
	case 2:
		if len(parts) == 2 && validDeviceMode(parts[1]) {
			d.CgroupPermissions = parts[1]
		} else {
			d.PathInContainer = parts[1]
		}
		fallthrough
	case 1:
		d.PathOnHost = parts[0]
	default:
		return Device{}, fmt.Errorf("invalid --device %q: use HOST_PATH[:CONTAINER_PATH][:rwm]", s)
	}
	if d.PathInContainer == "" {
		d.PathInContainer = d.PathOnHost
	}
	return d, validateDevice(d)
}

func validDeviceMode(m string) bool {
	if m == "" || len(m) > 3 {
		return false
	}
	seen := map[rune]bool{}
	for _, c := range m {
		if !strings.ContainsRune("rwm", c) || seen[c] {
			return false
		}
		seen[c] = true
	}
	return true
}

func validateDevice(d Device) error {
	switch {
	case !path.IsAbs(d.PathOnHost) || strings.ContainsRune(d.PathOnHost, 0):
		return fmt.Errorf("invalid device %q: the host path must be absolute", d.PathOnHost)
	case !path.IsAbs(d.PathInContainer) || path.Clean(d.PathInContainer) == "/" || strings.ContainsRune(d.PathInContainer, 0):
		return fmt.Errorf("invalid device %s: the container path %q must be absolute", d.PathOnHost, d.PathInContainer)
	case !validDeviceMode(d.CgroupPermissions):
		return fmt.Errorf("invalid device %s: permissions %q: use some of r, w and m", d.PathOnHost, d.CgroupPermissions)
	}
	return nil
}

// specDevice is the device's node and cgroup rule, from the host's node.
func specDevice(d Device) (specgen.Device, error) {
	var st unix.Stat_t
	if err := unix.Stat(d.PathOnHost, &st); err != nil {
		return specgen.Device{}, fmt.Errorf("--device %s: %w", d.PathOnHost, err)
	}
	typ := ""
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		typ = "c"
	case unix.S_IFBLK:
		typ = "b"
	default:
		return specgen.Device{}, fmt.Errorf("--device %s is not a character or block device", d.PathOnHost)
	}
	mode := os.FileMode(st.Mode & 0o777)
	return specgen.Device{Path: path.Clean(d.PathInContainer), Type: typ, Major: int64(unix.Major(st.Rdev)), Minor: int64(unix.Minor(st.Rdev)),
		FileMode: mode, UID: st.Uid, GID: st.Gid, Access: d.CgroupPermissions}, nil
}

// namespacedSysctls are the kernel.* sysctls docker accepts (they belong
// to the IPC namespace); net.* and fs.mqueue.* are namespaced too.
var namespacedSysctls = map[string]bool{
	"kernel.msgmax": true, "kernel.msgmnb": true, "kernel.msgmni": true, "kernel.sem": true,
	"kernel.shmall": true, "kernel.shmmax": true, "kernel.shmmni": true, "kernel.shm_rmid_forced": true,
}

// ParseSysctl parses --sysctl NAME=VALUE.
func ParseSysctl(s string) (string, string, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return "", "", fmt.Errorf("invalid --sysctl %q: use NAME=VALUE, e.g. net.ipv4.ip_forward=1", s)
	}
	return k, v, nil
}

// validateSysctl accepts docker's namespaced sysctls only, and net.* only
// with a network namespace of the container's own.
func validateSysctl(name, value string, mode NetworkMode) error {
	ok := namespacedSysctls[name] || strings.HasPrefix(name, "fs.mqueue.") || strings.HasPrefix(name, "net.")
	if !ok || strings.Contains(name, "..") || strings.HasSuffix(name, ".") || strings.ContainsAny(name, "/\x00 ") {
		return fmt.Errorf("sysctl %q is not allowed: only namespaced ones (net.*, fs.mqueue.*, kernel.msg*, kernel.sem, kernel.shm*) can be set in a container", name)
	}
	if strings.ContainsAny(value, "\x00\n") {
		return fmt.Errorf("sysctl %s: the value must be one line", name)
	}
	if strings.HasPrefix(name, "net.") && mode == NetworkHost {
		return fmt.Errorf("sysctl %q is not allowed with --network host: it would change the host's network", name)
	}
	return nil
}

// parseLabelFile reads a --label-file: KEY=VALUE lines, # comments, as
// docker reads it.
func parseLabelFile(name string, data []byte) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.ContainsRune(line, 0) {
			return nil, fmt.Errorf("label file %s line %d: NUL byte", name, n)
		}
		out = append(out, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("label file %s: %w", name, err)
	}
	return out, nil
}

// ParseLabels builds labels from --label-file files and then --label
// values (KEY=VALUE, or KEY for an empty value), later ones winning.
func ParseLabels(values, files []string) (map[string]string, error) {
	var all []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("--label-file: %w", err)
		}
		lines, err := parseLabelFile(f, data)
		if err != nil {
			return nil, err
		}
		all = append(all, lines...)
	}
	all = append(all, values...)
	if len(all) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, l := range all {
		k, v, _ := strings.Cut(l, "=")
		if k == "" {
			return nil, fmt.Errorf("invalid label %q: use KEY=VALUE", l)
		}
		out[k] = v
	}
	return out, nil
}
