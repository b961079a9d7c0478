package seccomp

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// retValues are the filter return values (SECCOMP_RET_*) of the OCI actions;
// ERRNO and TRACE carry 16 bits of data.
var retValues = []struct {
	act specs.LinuxSeccompAction
	ret uint32
}{
	{specs.ActKill, unix.SECCOMP_RET_KILL_THREAD}, // SCMP_ACT_KILL is libseccomp's name for KILL_THREAD
	{specs.ActKillThread, unix.SECCOMP_RET_KILL_THREAD},
	{specs.ActKillProcess, unix.SECCOMP_RET_KILL_PROCESS},
	{specs.ActTrap, unix.SECCOMP_RET_TRAP},
	{specs.ActErrno, unix.SECCOMP_RET_ERRNO},
	{specs.ActTrace, unix.SECCOMP_RET_TRACE},
	{specs.ActAllow, unix.SECCOMP_RET_ALLOW},
	{specs.ActLog, unix.SECCOMP_RET_LOG},
	{specs.ActNotify, unix.SECCOMP_RET_USER_NOTIF},
}

// retBadArch is what a syscall from an ABI the filter does not cover gets:
// libseccomp's default bad-arch action, SCMP_ACT_KILL (kill the thread).
const retBadArch = unix.SECCOMP_RET_KILL_THREAD

// retENOSYS is returned, when the default action denies, for syscall numbers
// newer than kago's table: like runc, so that libc falls back to an older
// syscall instead of failing on EPERM.
const retENOSYS = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)

// maxErrno is the largest errno the kernel passes through (MAX_ERRNO).
const maxErrno = 4095

// actionRet turns an action and its optional errnoRet into a return value.
// where names the profile field for errors.
func actionRet(where string, act specs.LinuxSeccompAction, errnoRet *uint) (uint32, error) {
	for _, r := range retValues {
		if r.act != act {
			continue
		}
		switch act {
		case specs.ActErrno, specs.ActTrace:
			data := uint(unix.EPERM) // runc's default for both
			if errnoRet != nil {
				data = *errnoRet
			}
			if data > maxErrno {
				return 0, fmt.Errorf("%s: errnoRet %d is out of range (0..%d)", where, data, maxErrno)
			}
			return r.ret | uint32(data), nil
		default:
			if errnoRet != nil {
				return 0, fmt.Errorf("%s: errnoRet is only valid with %s or %s, not %s", where, specs.ActErrno, specs.ActTrace, act)
			}
			return r.ret, nil
		}
	}
	if act == "" {
		return 0, fmt.Errorf("%s: action is empty (one of %v)", where, SupportedActions())
	}
	return 0, fmt.Errorf("%s: unknown action %q (one of %v)", where, act, SupportedActions())
}

// SupportedActions lists the OCI seccomp actions kago implements.
func SupportedActions() []string {
	out := make([]string, len(retValues))
	for i, r := range retValues {
		out[i] = string(r.act)
	}
	return out
}

var operators = []specs.LinuxSeccompOperator{
	specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual, specs.OpEqualTo,
	specs.OpGreaterEqual, specs.OpGreaterThan, specs.OpMaskedEqual,
}

// SupportedOperators lists the argument comparison operators kago implements.
func SupportedOperators() []string {
	out := make([]string, len(operators))
	for i, o := range operators {
		out[i] = string(o)
	}
	return out
}

// flagValues are the seccomp(2) flags a profile may ask for.
var flagValues = []struct {
	name specs.LinuxSeccompFlag
	bit  uint
}{
	{"SECCOMP_FILTER_FLAG_TSYNC", unix.SECCOMP_FILTER_FLAG_TSYNC},
	{specs.LinuxSeccompFlagLog, unix.SECCOMP_FILTER_FLAG_LOG},
	{specs.LinuxSeccompFlagSpecAllow, unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW},
	{specs.LinuxSeccompFlagWaitKillableRecv, unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV},
}

// KnownFlags lists the seccomp flags a profile may use.
func KnownFlags() []string {
	out := make([]string, len(flagValues))
	for i, f := range flagValues {
		out[i] = string(f.name)
	}
	return out
}

func parseFlags(flags []specs.LinuxSeccompFlag) (uint, error) {
	var bits uint
next:
	for i, name := range flags {
		for _, f := range flagValues {
			if f.name == name {
				bits |= f.bit
				continue next
			}
		}
		return 0, fmt.Errorf("seccomp.flags[%d]: unknown flag %q (one of %v)", i, name, KnownFlags())
	}
	return bits, nil
}
