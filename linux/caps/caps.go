// Package caps turns the OCI process.capabilities sets into the calling
// thread's capability sets.
//
// The model (capabilities(7)): every thread has five 64-bit sets. The
// bounding set limits what execve can ever grant, so it is dropped first,
// while the thread still has CAP_SETPCAP (before any uid change). The
// effective, permitted and inheritable sets are set with capset(2), and the
// ambient set — the only way a non-root process keeps capabilities across
// execve of an ordinary binary — is raised last, because the kernel only
// allows ambient bits that are both permitted and inheritable.
//
// All of these are per-thread in Linux, so the container init must hold
// runtime.LockOSThread from ApplyBounding through execve; the Go runtime's
// other threads keep their old sets and disappear at execve.
package caps

import (
	"fmt"
	"math/bits"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Set holds the five capability sets as bit masks (bit n = capability n).
type Set struct {
	Bounding    uint64
	Effective   uint64
	Inheritable uint64
	Permitted   uint64
	Ambient     uint64

	lastCap  int
	warnings []string
}

// FromSpec parses the OCI capability sets. A nil spec yields a Set with no
// capabilities at all. A name the kernel headers have never defined is an
// error; a known name above the running kernel's last capability is skipped
// and reported by Warnings.
func FromSpec(c *specs.LinuxCapabilities) (*Set, error) {
	last, err := LastCap()
	if err != nil {
		return nil, err
	}
	s := &Set{lastCap: last}
	if c == nil {
		return s, nil
	}
	for _, f := range []struct {
		set   string
		names []string
		mask  *uint64
	}{
		{"bounding", c.Bounding, &s.Bounding},
		{"effective", c.Effective, &s.Effective},
		{"inheritable", c.Inheritable, &s.Inheritable},
		{"permitted", c.Permitted, &s.Permitted},
		{"ambient", c.Ambient, &s.Ambient},
	} {
		for _, name := range f.names {
			n, err := Parse(name)
			if err != nil {
				return nil, fmt.Errorf("capabilities.%s: %w", f.set, err)
			}
			if n > last {
				s.warnings = append(s.warnings, fmt.Sprintf("capabilities.%s: %s is not supported by the running kernel (last capability %d), skipped", f.set, names[n], last))
				continue
			}
			*f.mask |= 1 << uint(n)
		}
	}
	return s, nil
}

// Parse returns the number of the capability called name ("CAP_CHOWN";
// case does not matter).
func Parse(name string) (int, error) {
	up := strings.ToUpper(strings.TrimSpace(name))
	for i, n := range names {
		if n == up {
			return i, nil
		}
	}
	if !strings.HasPrefix(up, "CAP_") {
		for _, n := range names {
			if n == "CAP_"+up {
				return 0, fmt.Errorf("unknown capability %q: capability names start with CAP_ (did you mean %q?)", name, n)
			}
		}
	}
	return 0, fmt.Errorf("unknown capability %q: see capabilities(7) or `kago features` for the names this kernel knows", name)
}

// Warnings lists the capabilities FromSpec skipped because the running
// kernel does not know them; the runtime prints them, runc style.
func (s *Set) Warnings() []string { return s.warnings }

// Names returns the names of the capabilities set in mask, lowest first.
func Names(mask uint64) []string {
	var out []string
	for mask != 0 {
		n := bits.TrailingZeros64(mask)
		mask &^= 1 << uint(n)
		out = append(out, capName(n))
	}
	return out
}

// ApplyBounding drops from the calling thread's bounding set every capability
// not in s.Bounding. It needs CAP_SETPCAP, so call it before changing uid.
func (s *Set) ApplyBounding() error {
	last, err := s.last()
	if err != nil {
		return err
	}
	for c := 0; c <= last; c++ {
		if s.Bounding&(1<<uint(c)) != 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
			return fmt.Errorf("drop %s from the bounding set: %w", capName(c), err)
		}
	}
	return nil
}

// Apply sets the calling thread's effective, permitted and inheritable sets
// with capset(2) and then makes the ambient set exactly s.Ambient. The caller
// holds runtime.LockOSThread and execs from this same thread. After a switch
// to a non-root uid it only works if PR_SET_KEEPCAPS was set before setuid
// (the permitted set is otherwise already empty).
func (s *Set) Apply() error {
	last, err := s.last()
	if err != nil {
		return err
	}
	valid := uint64(1)<<uint(last+1) - 1
	if last >= 63 {
		valid = ^uint64(0)
	}
	eff, prm, inh, amb := s.Effective&valid, s.Permitted&valid, s.Inheritable&valid, s.Ambient&valid

	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3} // Pid 0: the calling thread
	var data [2]unix.CapUserData
	data[0] = unix.CapUserData{Effective: uint32(eff), Permitted: uint32(prm), Inheritable: uint32(inh)}
	data[1] = unix.CapUserData{Effective: uint32(eff >> 32), Permitted: uint32(prm >> 32), Inheritable: uint32(inh >> 32)}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset effective=%v permitted=%v inheritable=%v: %w", Names(eff), Names(prm), Names(inh), err)
	}

	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		if amb == 0 && err == unix.EINVAL {
			return nil // kernel before 4.3 has no ambient set; nothing was asked
		}
		return fmt.Errorf("clear the ambient capability set: %w", err)
	}
	for m := amb; m != 0; {
		c := bits.TrailingZeros64(m)
		m &^= 1 << uint(c)
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(c), 0, 0); err != nil {
			return fmt.Errorf("raise ambient %s (it must also be permitted and inheritable): %w", capName(c), err)
		}
	}
	return nil
}

func (s *Set) last() (int, error) {
	if s.lastCap > 0 {
		return s.lastCap, nil
	}
	return LastCap()
}

// LastCap returns the highest capability number the running kernel knows,
// from /proc/sys/kernel/cap_last_cap or, where /proc is not mounted (an init
// between pivot_root and mounting proc), by asking the kernel about each
// number's bounding bit: unknown numbers give EINVAL.
func LastCap() (int, error) {
	const path = "/proc/sys/kernel/cap_last_cap"
	b, err := os.ReadFile(path)
	if err == nil {
		n, perr := strconv.Atoi(strings.TrimSpace(string(b)))
		if perr != nil || n < 0 || n > 63 {
			return 0, fmt.Errorf("parse %s: unexpected content %q", path, b)
		}
		return n, nil
	}
	if n, ok := lastCapFromPrctl(); ok {
		return n, nil
	}
	return 0, fmt.Errorf("find the last capability: read %s: %w, and PR_CAPBSET_READ gave no answer", path, err)
}

// lastCapFromPrctl finds the last capability without /proc.
func lastCapFromPrctl() (int, bool) {
	for c := 0; c < 64; c++ {
		if _, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0); err == unix.EINVAL {
			return c - 1, c > 0
		}
	}
	return 63, true
}

// Known returns the names of all capabilities the running kernel knows, for
// `features`. Capabilities newer than this package's table are named CAP_<n>.
func Known() []string {
	last, err := LastCap()
	if err != nil {
		last = len(names) - 1
	}
	out := make([]string, 0, last+1)
	for c := 0; c <= last; c++ {
		out = append(out, capName(c))
	}
	return out
}

// DefaultDocker returns Docker's default capability set, the one a
// container gets when it asks for nothing else.
func DefaultDocker() []string {
	return append([]string(nil), dockerDefault...)
}

func capName(c int) string {
	if c >= 0 && c < len(names) {
		return names[c]
	}
	return "CAP_" + strconv.Itoa(c)
}
