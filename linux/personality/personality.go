// Package personality applies linux.personality (runtime-spec 1.2) with
// personality(2): the execution domain (LINUX, or LINUX32 for what uname
// reports to 32-bit programs) and, as an extension where the spec defines no
// flags yet, the kernel's personality flags by their <sys/personality.h>
// names (ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC, ...). runc warns and ignores
// flags; kago applies the ones the kernel defines and refuses any other.
package personality

import (
	"fmt"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Domains of include/uapi/linux/personality.h.
var domains = map[specs.LinuxPersonalityDomain]uint{
	specs.PerLinux:   0x0000, // PER_LINUX
	specs.PerLinux32: 0x0008, // PER_LINUX32
}

// Flags of include/uapi/linux/personality.h.
var flags = map[specs.LinuxPersonalityFlag]uint{
	"UNAME26":            0x0020000,
	"ADDR_NO_RANDOMIZE":  0x0040000,
	"FDPIC_FUNCPTRS":     0x0080000,
	"MMAP_PAGE_ZERO":     0x0100000,
	"ADDR_COMPAT_LAYOUT": 0x0200000,
	"READ_IMPLIES_EXEC":  0x0400000,
	"ADDR_LIMIT_32BIT":   0x0800000,
	"SHORT_INODE":        0x1000000,
	"WHOLE_SECONDS":      0x2000000,
	"STICKY_TIMEOUTS":    0x4000000,
	"ADDR_LIMIT_3GB":     0x8000000,
}

// Value checks p and returns the persona for personality(2).
func Value(p *specs.LinuxPersonality) (uint, error) {
	v, ok := domains[p.Domain]
	if !ok {
		return 0, fmt.Errorf("linux.personality.domain %q is unknown: use LINUX or LINUX32", p.Domain)
	}
	for _, f := range p.Flags {
		fv, ok := flags[f]
		if !ok {
			names := make([]string, 0, len(flags))
			for n := range flags {
				names = append(names, string(n))
			}
			sort.Strings(names)
			return 0, fmt.Errorf("linux.personality.flags: %q is unknown: use one of %s", f, strings.Join(names, ", "))
		}
		v |= fv
	}
	return v, nil
}

// Apply sets p on the calling thread, which becomes the container's process
// at execve; nil leaves the inherited personality.
func Apply(p *specs.LinuxPersonality) error {
	if p == nil {
		return nil
	}
	v, err := Value(p)
	if err != nil {
		return err
	}
	// personality(2) returns the previous persona, not an error, except
	// for -1 with errno set.
	if _, _, errno := unix.RawSyscall(unix.SYS_PERSONALITY, uintptr(v), 0, 0); errno != 0 {
		return fmt.Errorf("linux.personality: personality(%#x): %w", v, errno)
	}
	return nil
}
