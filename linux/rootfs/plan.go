package rootfs

import (
	"fmt"
	"path"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/linux/selinux"
)

// Kind says how Prepare makes a mount.
type Kind int

const (
	// KindFS mounts a new filesystem instance (proc, tmpfs, devpts, ...).
	KindFS Kind = iota
	// KindBind bind-mounts a host path (type "bind" or option bind/rbind).
	KindBind
	// KindCgroup mounts the container's cgroup directories (see mountCgroup).
	KindCgroup
)

// Op is one mount Prepare performs, decided from a spec mount without
// touching the system.
type Op struct {
	Kind        Kind
	Source      string
	Destination string // absolute and clean, inside the rootfs
	Type        string
	Options     MountOptions
	// NoSymlinks asks for RESOLVE_NO_SYMLINKS when resolving Destination:
	// proc and sysfs mounts, and anything under /proc or /sys, must land
	// on an ordinary directory, never through a symlink the image planted.
	NoSymlinks bool
	// IDMapped is an id-mapped bind mount (uidMappings/gidMappings or the
	// idmap/ridmap options), attached from Options.Trees.
	IDMapped bool
}

// procAllowed are the files under /proc that may be mounted over (lxcfs
// emulates them), runc's list. Anything else under /proc could hide the
// kernel's view a masked path relies on, or expose the host's.
var procAllowed = map[string]bool{
	"/proc/cpuinfo":                 true,
	"/proc/diskstats":               true,
	"/proc/meminfo":                 true,
	"/proc/stat":                    true,
	"/proc/swaps":                   true,
	"/proc/uptime":                  true,
	"/proc/loadavg":                 true,
	"/proc/slabinfo":                true,
	"/proc/net/dev":                 true,
	"/proc/sys/kernel/ns_last_pid":  true,
	"/proc/sys/crypto/fips_enabled": true,
}

func under(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

// Plan checks spec.Mounts and returns the operations Prepare makes, in the
// spec's order (later mounts may stack on earlier ones, so order matters).
func Plan(spec *specs.Spec) ([]Op, error) {
	if spec == nil {
		return nil, fmt.Errorf("rootfs: spec is nil")
	}
	ops := make([]Op, 0, len(spec.Mounts))
	for i, m := range spec.Mounts {
		op, err := planMount(m)
		if err != nil {
			return nil, fmt.Errorf("mounts[%d] (destination %q): %w", i, m.Destination, err)
		}
		if op.Kind == KindFS && selinux.Labels(op.Type) {
			op.Options.Data = selinux.FormatMountLabel(op.Options.Data, mountLabel(spec))
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// mountLabel is linux.mountLabel, the SELinux context of the filesystems
// mounted for the container ("" when unset).
func mountLabel(spec *specs.Spec) string {
	if spec.Linux == nil {
		return ""
	}
	return spec.Linux.MountLabel
}

func planMount(m specs.Mount) (Op, error) {
	if strings.TrimSpace(m.Destination) == "" {
		return Op{}, fmt.Errorf("destination is empty: set it to an absolute path inside the container")
	}
	if strings.ContainsRune(m.Destination, 0) || strings.ContainsRune(m.Source, 0) {
		return Op{}, fmt.Errorf("source or destination contains a NUL byte")
	}
	mo, err := ParseOptions(m.Options)
	if err != nil {
		return Op{}, err
	}
	op := Op{Source: m.Source, Destination: cleanPath(m.Destination), Type: m.Type, Options: mo}
	switch {
	case m.Type == "bind" || mo.IsBind():
		op.Kind = KindBind
		if !mo.IsBind() {
			// type "bind" without a bind option: a plain, non-recursive bind.
			op.Options.Flags |= unix.MS_BIND
		}
		if m.Source == "" {
			return Op{}, fmt.Errorf("bind mount has no source: set source to the host path to bind")
		}
	case m.Type == "cgroup" || m.Type == "cgroup2":
		op.Kind = KindCgroup
	case m.Type == "":
		return Op{}, fmt.Errorf("mount has no type and no bind/rbind option: set type (e.g. tmpfs) or add \"rbind\"")
	default:
		op.Kind = KindFS
	}
	if op.Kind == KindBind && mo.Data != "" && mo.Flags&unix.MS_REMOUNT == 0 {
		// As runc: the kernel ignores filesystem options on a bind.
		return Op{}, fmt.Errorf("bind mounts cannot take filesystem options (%q): remove them, or mount a filesystem of its own type instead", mo.Data)
	}
	op.IDMapped = mo.IDMap || len(m.UIDMappings) > 0 || len(m.GIDMappings) > 0
	if op.IDMapped && op.Kind != KindBind {
		return Op{}, fmt.Errorf("id-mapped mounts are only supported for bind mounts: add \"rbind\" or remove the id mapping")
	}
	if mo.CopyUp && (op.Kind != KindFS || op.Type != "tmpfs") {
		return Op{}, fmt.Errorf("option tmpcopyup only applies to tmpfs mounts: remove it or set type tmpfs")
	}
	if op.Destination == "/" {
		return Op{}, fmt.Errorf("cannot mount over the container's root: use root.path for the root filesystem")
	}
	if op.Type == "proc" || op.Type == "sysfs" || under(op.Destination, "/proc") || under(op.Destination, "/sys") {
		op.NoSymlinks = true
	}
	if under(op.Destination, "/proc") {
		if err := checkProcMount(op); err != nil {
			return Op{}, err
		}
	}
	return op, nil
}

// checkProcMount keeps /proc what the kernel says it is: only a procfs may
// go on /proc itself, and only lxcfs-style files below it.
func checkProcMount(op Op) error {
	if op.Destination == "/proc" {
		if op.Kind == KindFS && op.Type == "proc" {
			return nil
		}
		if op.Kind == KindBind && path.Clean(op.Source) == "/proc" {
			return nil
		}
		return fmt.Errorf("only a filesystem of type proc can be mounted on /proc, got type %q source %q", op.Type, op.Source)
	}
	if procAllowed[op.Destination] {
		return nil
	}
	return fmt.Errorf("mounts inside /proc are refused except over %s", strings.Join(sortedKeys(procAllowed), ", "))
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
