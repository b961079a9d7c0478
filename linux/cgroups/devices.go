package cgroups

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/linux/explain"
)

// v1DeviceLines turns OCI device rules into writes for the v1 devices
// controller: each returns (file, line), e.g. ("devices.deny", "a"). The rules
// are applied in order, so a leading deny-all followed by allows gives the
// usual allowlist. v1 type "a" means the whole list, so a rule of type "all"
// that names a device is written once for block and once for char devices.
func v1DeviceLines(rules []specs.LinuxDeviceCgroup) [][2]string {
	var out [][2]string
	for _, r := range rules {
		file := "devices.deny"
		if r.Allow {
			file = "devices.allow"
		}
		access := r.Access
		if access == "" {
			access = "rwm"
		}
		major, minor := devNum(r.Major), devNum(r.Minor)
		typ := deviceType(r.Type)
		if typ == "a" {
			if major == "*" && minor == "*" {
				out = append(out, [2]string{file, "a *:* " + access})
				continue
			}
			out = append(out,
				[2]string{file, fmt.Sprintf("b %s:%s %s", major, minor, access)},
				[2]string{file, fmt.Sprintf("c %s:%s %s", major, minor, access)})
			continue
		}
		out = append(out, [2]string{file, fmt.Sprintf("%s %s:%s %s", typ, major, minor, access)})
	}
	return out
}

// deviceType normalises a rule's type: empty means all, and "u" (an
// unbuffered character device in OCI's linux.devices) is a char device to
// the kernel.
func deviceType(t string) string {
	switch t {
	case "":
		return "a"
	case "u":
		return "c"
	}
	return t
}

func devNum(n *int64) string {
	if n == nil || *n < 0 {
		return "*"
	}
	return strconv.FormatInt(*n, 10)
}

// Values the kernel passes to a BPF_PROG_TYPE_CGROUP_DEVICE program in
// struct bpf_cgroup_dev_ctx (include/uapi/linux/bpf.h).
const (
	bpfDevBlock = 1 // BPF_DEVCG_DEV_BLOCK
	bpfDevChar  = 2 // BPF_DEVCG_DEV_CHAR
	bpfAccMknod = 1 // BPF_DEVCG_ACC_MKNOD
	bpfAccRead  = 2 // BPF_DEVCG_ACC_READ
	bpfAccWrite = 4 // BPF_DEVCG_ACC_WRITE
)

// deviceProgName names kago's device programs so Update can find and replace
// the one an earlier kago process attached, among programs others attached.
const deviceProgName = "kago_devices"

// deviceFilter compiles OCI device rules into a cgroup device program.
//
// The OCI rules are an ordered list where a later rule overrides an earlier
// one, over a default of deny. The program therefore checks the rules from
// last to first and returns the verdict of the first that matches; if none
// matches it denies. A rule matches when type, major and minor match (unset
// means any) and, for an allow rule, every requested access is in the rule's
// access, for a deny rule, any requested access is.
//
// Registers: R1 = ctx, R2 = device type, R3 = requested access,
// R4 = major, R5 = minor, R6 = scratch.
func deviceFilter(rules []specs.LinuxDeviceCgroup) (asm.Instructions, error) {
	insns := asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word), // access_type: (access << 16) | type
		asm.And.Imm32(asm.R2, 0xFFFF),
		asm.LoadMem(asm.R3, asm.R1, 0, asm.Word),
		asm.RSh.Imm32(asm.R3, 16),
		asm.LoadMem(asm.R4, asm.R1, 4, asm.Word), // major
		asm.LoadMem(asm.R5, asm.R1, 8, asm.Word), // minor
	}
	for i := len(rules) - 1; i >= 0; i-- {
		r := rules[i]
		if err := checkDeviceRule(r); err != nil {
			return nil, fmt.Errorf("devices[%d]: %w", i, err)
		}
		next := fmt.Sprintf("rule_%d", i-1)
		var block asm.Instructions
		switch deviceType(r.Type) {
		case "b":
			block = append(block, asm.JNE.Imm(asm.R2, bpfDevBlock, next))
		case "c":
			block = append(block, asm.JNE.Imm(asm.R2, bpfDevChar, next))
		}
		access := bpfAccess(r.Access)
		if r.Allow {
			if rest := ^access & 7; rest != 0 {
				block = append(block, asm.JSet.Imm(asm.R3, rest, next))
			}
		} else if access != 7 {
			block = append(block,
				asm.Mov.Reg32(asm.R6, asm.R3),
				asm.And.Imm32(asm.R6, access),
				asm.JEq.Imm(asm.R6, 0, next))
		}
		if r.Major != nil && *r.Major >= 0 {
			block = append(block, asm.JNE.Imm(asm.R4, int32(uint32(*r.Major)), next))
		}
		if r.Minor != nil && *r.Minor >= 0 {
			block = append(block, asm.JNE.Imm(asm.R5, int32(uint32(*r.Minor)), next))
		}
		verdict := int32(0)
		if r.Allow {
			verdict = 1
		}
		catchAll := len(block) == 0
		block = append(block, asm.Mov.Imm(asm.R0, verdict), asm.Return())
		block[0] = block[0].WithSymbol(fmt.Sprintf("rule_%d", i))
		insns = append(insns, block...)
		if catchAll {
			// Matches every device: earlier rules can never decide, and the
			// verifier rejects unreachable code.
			return insns, nil
		}
	}
	// Nothing matched: deny. Labelled so the first rule's "next" lands here.
	insns = append(insns, asm.Mov.Imm(asm.R0, 0).WithSymbol("rule_-1"), asm.Return())
	return insns, nil
}

func bpfAccess(access string) int32 {
	if access == "" {
		access = "rwm"
	}
	var a int32
	for _, c := range access {
		switch c {
		case 'r':
			a |= bpfAccRead
		case 'w':
			a |= bpfAccWrite
		case 'm':
			a |= bpfAccMknod
		}
	}
	return a
}

// setDeviceFilter loads the program for rules and attaches it to the cgroup2
// directory dir with BPF_F_ALLOW_MULTI (so programs of systemd or of parent
// cgroups keep working), then detaches any earlier kago program from the same
// cgroup. The new program is attached before the old one goes, so there is no
// moment without a filter.
func setDeviceFilter(rec explain.Recorder, dir string, rules []specs.LinuxDeviceCgroup) error {
	insns, err := deviceFilter(rules)
	if err != nil {
		return err
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         deviceProgName,
		Type:         ebpf.CGroupDevice,
		Instructions: insns,
		License:      "Apache-2.0",
	})
	if err != nil {
		return fmt.Errorf("load device filter for %s: %w", dir, err)
	}
	defer prog.Close()
	info, err := prog.Info()
	if err != nil {
		return fmt.Errorf("device filter for %s: %w", dir, err)
	}
	newID, _ := info.ID()

	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open cgroup %s: %w", dir, err)
	}
	defer unix.Close(fd)
	old, err := kagoDevicePrograms(fd)
	if err != nil {
		return fmt.Errorf("device filter for %s: %w", dir, err)
	}
	defer closeAll(old)
	if err := link.RawAttachProgram(link.RawAttachProgramOptions{
		Target:  fd,
		Program: prog,
		Attach:  ebpf.AttachCGroupDevice,
		Flags:   unix.BPF_F_ALLOW_MULTI,
	}); err != nil {
		return fmt.Errorf("attach device filter to %s: %w", dir, err)
	}
	recordDeviceFilter(rec, dir, len(insns), len(rules))
	var errs []error
	for _, p := range old {
		if pi, err := p.Info(); err == nil {
			if id, _ := pi.ID(); id == newID {
				continue
			}
		}
		if err := link.RawDetachProgram(link.RawDetachProgramOptions{Target: fd, Program: p, Attach: ebpf.AttachCGroupDevice}); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("detach old device filter from %s: %w", dir, err))
		}
	}
	return errors.Join(errs...)
}

// kagoDevicePrograms returns kago's device programs attached directly to the
// cgroup open at fd.
func kagoDevicePrograms(fd int) ([]*ebpf.Program, error) {
	res, err := link.QueryPrograms(link.QueryOptions{Target: fd, Attach: ebpf.AttachCGroupDevice})
	if err != nil {
		return nil, err
	}
	var out []*ebpf.Program
	for _, ap := range res.Programs {
		p, err := ebpf.NewProgramFromID(ap.ID)
		if err != nil {
			continue // detached meanwhile
		}
		info, err := p.Info()
		if err != nil || info.Name != deviceProgName {
			p.Close()
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

func closeAll(progs []*ebpf.Program) {
	for _, p := range progs {
		p.Close()
	}
}
