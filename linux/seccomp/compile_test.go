package seccomp

import (
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestCompileErrors(t *testing.T) {
	big := uint(5000)
	one := uint(1)
	rule := func(s specs.LinuxSyscall) *specs.LinuxSeccomp {
		return &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{s}}
	}
	for _, tc := range []struct {
		name string
		p    *specs.LinuxSeccomp
		want []string
	}{
		{"nil", nil, []string{"no profile"}},
		{"no default", &specs.LinuxSeccomp{}, []string{"seccomp.defaultAction", "empty"}},
		{"unknown default", &specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_PERMIT"}, []string{"seccomp.defaultAction", `"SCMP_ACT_PERMIT"`, "SCMP_ACT_ALLOW"}},
		{"notify default", &specs.LinuxSeccomp{DefaultAction: specs.ActNotify}, []string{"seccomp.defaultAction", "cannot be the default"}},
		{"errnoRet on allow", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, DefaultErrnoRet: &one}, []string{"errnoRet is only valid"}},
		{"errno too big", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, DefaultErrnoRet: &big}, []string{"errnoRet 5000 is out of range"}},
		{"bad arch", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{"SCMP_ARCH_Z80"}}, []string{"seccomp.architectures[0]", `"SCMP_ARCH_Z80"`}},
		{"bad flag", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_FAST"}}, []string{"seccomp.flags[0]", "SECCOMP_FILTER_FLAG_FAST"}},
		{"unknown rule action", rule(specs.LinuxSyscall{Names: []string{"read"}, Action: "SCMP_ACT_DENY"}), []string{"seccomp.syscalls[0]", `"SCMP_ACT_DENY"`}},
		{"bad operator", rule(specs.LinuxSyscall{Names: []string{"read"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 0, Op: "SCMP_CMP_LIKE"}}}), []string{"seccomp.syscalls[0].args[0]", `"SCMP_CMP_LIKE"`, "SCMP_CMP_MASKED_EQ"}},
		{"arg index", rule(specs.LinuxSyscall{Names: []string{"read"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}}}), []string{"seccomp.syscalls[0].args[0]", "index 6"}},
		{"no names", rule(specs.LinuxSyscall{Action: specs.ActErrno}), []string{"seccomp.syscalls[0]", "names is empty"}},
		{"empty name", rule(specs.LinuxSyscall{Names: []string{"read", ""}, Action: specs.ActErrno}), []string{"seccomp.syscalls[0].names[1]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Compile(tc.p)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestCompileWarnings(t *testing.T) {
	p := &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchS390X},
		Flags:         []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagWaitKillableRecv},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read", "no_such_syscall"}, Action: specs.ActAllow},
			{Names: []string{"write"}, Action: specs.ActErrno}, // same as default: dropped silently
		},
	}
	f, warnings, err := compileFor("amd64", p)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{`"no_such_syscall" is unknown`, "SCMP_ARCH_S390X cannot run", "WAIT_KILLABLE_RECV ignored"} {
		if !slices.ContainsFunc(warnings, func(s string) bool { return strings.Contains(s, w) }) {
			t.Errorf("warnings %q lack %q", warnings, w)
		}
	}
	if len(warnings) != 3 {
		t.Errorf("warnings %q, want exactly 3", warnings)
	}
	if f.flags != 0 {
		t.Errorf("flags %#x, want the listener-only flag dropped", f.flags)
	}
}

func TestFeatureLists(t *testing.T) {
	for name, list := range map[string][]string{"actions": SupportedActions(), "operators": SupportedOperators(), "archs": SupportedArchs(), "flags": KnownFlags()} {
		if len(list) == 0 || slices.Contains(list, "") {
			t.Errorf("%s: %q", name, list)
		}
	}
	if !slices.Contains(SupportedActions(), "SCMP_ACT_NOTIFY") || !slices.Contains(SupportedArchs(), "SCMP_ARCH_X32") || len(SupportedOperators()) != 7 {
		t.Errorf("feature lists incomplete: %v %v %v", SupportedActions(), SupportedArchs(), SupportedOperators())
	}
}

// TestTables spot-checks the generated syscall tables against numbers from
// the kernel's syscall tables.
func TestTables(t *testing.T) {
	for _, c := range []struct {
		table map[string]uint32
		name  string
		nr    uint32
	}{
		{sysnumX86_64, "read", 0}, {sysnumX86_64, "clone3", 435}, {sysnumX86_64, "newfstatat", 262},
		{sysnumX86, "socketcall", 102}, {sysnumX86, "_llseek", 140},
		{sysnumX32, "ioctl", 514}, {sysnumX32, "read", 0}, {sysnumX32, "execve", 520},
		{sysnumAARCH64, "openat", 56}, {sysnumAARCH64, "clone", 220},
		{sysnumARM, "set_tls", 0x0f0005}, {sysnumARM, "sync_file_range2", 341},
	} {
		if got, ok := c.table[c.name]; !ok || got != c.nr {
			t.Errorf("%s = %d (%v), want %d", c.name, got, ok, c.nr)
		}
	}
	if _, ok := sysnumX32["uselib"]; ok {
		t.Error("x32 table has uselib, which x32 lacks")
	}
}

func BenchmarkCompileDefault(b *testing.B) {
	p := Default()
	for b.Loop() {
		if _, _, err := Compile(p); err != nil {
			b.Fatal(err)
		}
	}
}
