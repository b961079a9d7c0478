package seccomp

import (
	"fmt"
	"runtime"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// x32Bit marks x32 syscall numbers; x32 processes run with the x86_64 audit
// architecture, so this bit is the only way to tell the two ABIs apart.
const x32Bit = 0x40000000

// arch describes one syscall ABI the filter can recognise.
type arch struct {
	name  specs.Arch
	audit uint32            // seccomp_data.arch (AUDIT_ARCH_*)
	x32   bool              // numbers carry x32Bit under AUDIT_ARCH_X86_64
	table map[string]uint32 // syscall name → number (x32: without x32Bit)
	maxNr uint32            // highest number in table
	// bits32: arguments are 32 bits wide. Like libseccomp, only their low
	// halves (and the low halves of the profile's values) are compared.
	bits32 bool
}

func newArch(name specs.Arch, audit uint32, x32 bool, table map[string]uint32) *arch {
	a := &arch{name: name, audit: audit, x32: x32, table: table, bits32: audit&auditArch64Bit == 0}
	for _, nr := range table {
		a.maxNr = max(a.maxNr, nr)
	}
	return a
}

// arches are the ABIs kago can filter: those the two platforms it runs on
// (amd64, arm64) can execute.
var arches = []*arch{
	newArch(specs.ArchX86_64, unix.AUDIT_ARCH_X86_64, false, sysnumX86_64),
	newArch(specs.ArchX86, unix.AUDIT_ARCH_I386, false, sysnumX86),
	newArch(specs.ArchX32, unix.AUDIT_ARCH_X86_64, true, sysnumX32),
	newArch(specs.ArchAARCH64, unix.AUDIT_ARCH_AARCH64, false, sysnumAARCH64),
	newArch(specs.ArchARM, unix.AUDIT_ARCH_ARM, false, sysnumARM),
}

// specArches are all architecture names the OCI spec defines; a profile may
// name any of them (Docker's lists MIPS, PPC, S390 ...), but only arches can
// run on this machine, so the rest are skipped with a warning.
var specArches = []specs.Arch{
	specs.ArchX86, specs.ArchX86_64, specs.ArchX32, specs.ArchARM, specs.ArchAARCH64,
	specs.ArchMIPS, specs.ArchMIPS64, specs.ArchMIPS64N32, specs.ArchMIPSEL, specs.ArchMIPSEL64,
	specs.ArchMIPSEL64N32, specs.ArchPPC, specs.ArchPPC64, specs.ArchPPC64LE, specs.ArchS390,
	specs.ArchS390X, specs.ArchPARISC, specs.ArchPARISC64, specs.ArchRISCV64, specs.ArchLOONGARCH64,
	specs.ArchM68K, specs.ArchSH, specs.ArchSHEB,
}

func lookupArch(name specs.Arch) *arch {
	for _, a := range arches {
		if a.name == name {
			return a
		}
	}
	return nil
}

// nativeArch is the ABI of the running kago binary; like libseccomp, a filter
// always covers it, listed or not.
func nativeArch(goarch string) (specs.Arch, error) {
	switch goarch {
	case "amd64":
		return specs.ArchX86_64, nil
	case "arm64":
		return specs.ArchAARCH64, nil
	case "386":
		return specs.ArchX86, nil
	case "arm":
		return specs.ArchARM, nil
	}
	return "", fmt.Errorf("seccomp: GOARCH %s is not supported (kago filters amd64, arm64, 386 and arm)", goarch)
}

// resolveArches returns the ABIs a profile's filter covers: the native one
// first, then the listed ones kago knows, in order, without repeats.
func resolveArches(goarch string, listed []specs.Arch) ([]*arch, []string, error) {
	native, err := nativeArch(goarch)
	if err != nil {
		return nil, nil, err
	}
	var warnings []string
	out := []*arch{lookupArch(native)}
	for i, name := range listed {
		a := lookupArch(name)
		if a == nil {
			known := false
			for _, s := range specArches {
				known = known || s == name
			}
			if !known {
				return nil, nil, fmt.Errorf("seccomp.architectures[%d]: unknown architecture %q (supported: %v)", i, name, SupportedArchs())
			}
			warnings = append(warnings, fmt.Sprintf("seccomp: architecture %s cannot run on %s, skipped", name, runtime.GOARCH))
			continue
		}
		dup := false
		for _, o := range out {
			dup = dup || o == a
		}
		if !dup {
			out = append(out, a)
		}
	}
	return out, warnings, nil
}

// SupportedArchs lists the architecture names a profile may use for
// `features`. Filters can match all of them; those that cannot run on this
// machine are skipped with a warning.
func SupportedArchs() []string {
	out := make([]string, len(specArches))
	for i, a := range specArches {
		out[i] = string(a)
	}
	return out
}

// auditArch64Bit is __AUDIT_ARCH_64BIT from linux/audit.h.
const auditArch64Bit = 0x80000000
