// Package ns maps OCI namespace types to the kernel's clone flags and
// /proc/PID/ns names, and decides which namespaces a container creates and
// which it joins.
package ns

import (
	"fmt"
	"os"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Kind describes one namespace type.
type Kind struct {
	Type     specs.LinuxNamespaceType
	Flag     uintptr
	ProcName string // name under /proc/PID/ns
}

// Kinds lists every namespace kago knows, in the order they are joined: the
// user namespace first (it grants the rights to join the others), the mount
// namespace last but one (after it, host paths no longer resolve; the
// constructor opens all files first anyway), time last.
var kinds = []Kind{
	{specs.UserNamespace, unix.CLONE_NEWUSER, "user"},
	{specs.IPCNamespace, unix.CLONE_NEWIPC, "ipc"},
	{specs.UTSNamespace, unix.CLONE_NEWUTS, "uts"},
	{specs.NetworkNamespace, unix.CLONE_NEWNET, "net"},
	{specs.PIDNamespace, unix.CLONE_NEWPID, "pid"},
	{specs.CgroupNamespace, unix.CLONE_NEWCGROUP, "cgroup"},
	{specs.MountNamespace, unix.CLONE_NEWNS, "mnt"},
	{specs.TimeNamespace, unix.CLONE_NEWTIME, "time"},
}

// Kinds returns every namespace type kago supports, in join order.
func Kinds() []Kind { return append([]Kind(nil), kinds...) }

// Lookup returns the Kind for an OCI namespace type.
func Lookup(t specs.LinuxNamespaceType) (Kind, error) {
	for _, k := range kinds {
		if k.Type == t {
			return k, nil
		}
	}
	return Kind{}, fmt.Errorf("unknown namespace type %q in linux.namespaces (known: %s)", t, knownTypes())
}

func knownTypes() string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = string(k.Type)
	}
	return strings.Join(names, ", ")
}

// Join is one namespace to enter by path.
type Join struct {
	Kind Kind
	Path string
}

// Plan is what a container's init does with namespaces.
type Plan struct {
	// New are the clone flags of namespaces to create.
	New uintptr
	// Joins are namespaces to enter by path, in join order.
	Joins []Join
}

// Has reports whether the container has its own namespace of type t, new or joined.
func (p Plan) Has(t specs.LinuxNamespaceType) bool {
	k, err := Lookup(t)
	if err != nil {
		return false
	}
	if p.New&k.Flag != 0 {
		return true
	}
	for _, j := range p.Joins {
		if j.Kind.Type == t {
			return true
		}
	}
	return false
}

// JoinsUser reports whether the plan joins an existing user namespace.
func (p Plan) JoinsUser() bool {
	for _, j := range p.Joins {
		if j.Kind.Type == specs.UserNamespace {
			return true
		}
	}
	return false
}

// PlanFor validates linux.namespaces and splits it into new and joined ones.
// A type listed twice, an unknown type, or a path that is not a namespace file
// of that type is an error naming the entry.
func PlanFor(list []specs.LinuxNamespace) (Plan, error) {
	var p Plan
	seen := map[specs.LinuxNamespaceType]bool{}
	byType := map[specs.LinuxNamespaceType]string{}
	for _, n := range list {
		k, err := Lookup(n.Type)
		if err != nil {
			return Plan{}, err
		}
		if seen[n.Type] {
			return Plan{}, fmt.Errorf("namespace %q is listed twice in linux.namespaces", n.Type)
		}
		seen[n.Type] = true
		if n.Path == "" {
			p.New |= k.Flag
			continue
		}
		if err := checkNamespaceFile(n.Path, k); err != nil {
			return Plan{}, err
		}
		byType[n.Type] = n.Path
	}
	for _, k := range kinds {
		if path, ok := byType[k.Type]; ok {
			p.Joins = append(p.Joins, Join{Kind: k, Path: path})
		}
	}
	return p, nil
}

// checkNamespaceFile verifies path is a namespace file of kind k, so a typo in a
// path fails at create with a clear message instead of inside the constructor.
func checkNamespaceFile(path string, k Kind) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("namespace %s path %s: %w", k.Type, path, err)
	}
	defer unix.Close(fd)
	got, err := unix.IoctlRetInt(fd, unix.NS_GET_NSTYPE)
	if err != nil {
		return fmt.Errorf("namespace %s path %s is not a namespace file: %w", k.Type, path, err)
	}
	if uintptr(got) != k.Flag {
		return fmt.Errorf("namespace %s path %s is a namespace of another type", k.Type, path)
	}
	return nil
}

// SameAsSelf reports whether /proc/PID/ns/NAME is the namespace this process is
// already in, so exec does not try to (pointlessly, and for user namespaces
// illegally) re-enter it.
func SameAsSelf(pid int, k Kind) (bool, error) {
	var a, b unix.Stat_t
	if err := unix.Stat(fmt.Sprintf("/proc/%d/ns/%s", pid, k.ProcName), &a); err != nil {
		return false, err
	}
	if err := unix.Stat("/proc/self/ns/"+k.ProcName, &b); err != nil {
		if os.IsNotExist(err) {
			return false, nil
		}
		return false, err
	}
	return a.Dev == b.Dev && a.Ino == b.Ino, nil
}
