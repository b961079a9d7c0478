package seccomp

import (
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"

	mobyseccomp "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kago-run/kago/linux/caps"
)

// Default claims to be Docker's profile. These tests hold it to Docker's
// published one, github.com/moby/profiles/seccomp (the module moby itself
// builds its default.json from), resolved for a container with Docker's
// default capabilities. Updating the module in go.mod and running these
// tests is how kago follows Docker's profile; a difference fails, naming
// the syscall.

// dockerGoArch maps GOARCH to the architecture names moby's profile uses in
// includes/excludes.arches (libseccomp's names).
var dockerGoArch = map[string]string{"amd64": "amd64", "386": "x86", "arm64": "arm64", "arm": "arm"}

// resolveDocker resolves moby's conditional profile the way moby's
// setupSeccomp does for a container whose bounding set is capset, on goarch
// and a kernel new enough for every minKernel condition (kago requires
// more than any the profile names). It is written out here rather than
// taken from moby's GetDefaultProfile, which only resolves for the
// running GOARCH; TestResolveDockerMatchesMoby checks the two agree there.
func resolveDocker(t *testing.T, goarch string, capset []string) *specs.LinuxSeccomp {
	t.Helper()
	arch, ok := dockerGoArch[goarch]
	if !ok {
		t.Fatalf("no libseccomp name for GOARCH %s", goarch)
	}
	prof := mobyseccomp.DefaultProfile()
	out := prof.LinuxSeccomp
	out.Syscalls = nil
	native := map[string]specs.Arch{"amd64": specs.ArchX86_64, "x86": specs.ArchX86, "arm64": specs.ArchAARCH64, "arm": specs.ArchARM}[arch]
	for _, a := range prof.ArchMap {
		if a.Arch == native {
			out.Architectures = append([]specs.Arch{a.Arch}, a.SubArches...)
		}
	}
	anyCap := func(list []string) bool {
		for _, c := range list {
			if slices.Contains(capset, c) {
				return true
			}
		}
		return false
	}
	for _, s := range prof.Syscalls {
		if ex := s.Excludes; ex != nil {
			if slices.Contains(ex.Arches, arch) || anyCap(ex.Caps) || ex.MinKernel != nil {
				continue
			}
		}
		if in := s.Includes; in != nil {
			if len(in.Arches) > 0 && !slices.Contains(in.Arches, arch) {
				continue
			}
			if !allIn(in.Caps, capset) {
				continue
			}
		}
		out.Syscalls = append(out.Syscalls, s.LinuxSyscall)
	}
	return &out
}

func allIn(want, have []string) bool {
	for _, c := range want {
		if !slices.Contains(have, c) {
			return false
		}
	}
	return true
}

// ruleSet flattens a profile to syscall name -> its rules, each rule a
// canonical string (action, errno, conditions in index order), so that two
// profiles compare equal when they say the same thing per syscall,
// however the names are grouped into rules.
func ruleSet(p *specs.LinuxSeccomp) map[string][]string {
	m := map[string][]string{}
	for _, s := range p.Syscalls {
		var args []string
		for _, a := range s.Args {
			args = append(args, fmt.Sprintf("arg%d %s %#x %#x", a.Index, a.Op, a.Value, a.ValueTwo))
		}
		sort.Strings(args)
		rule := string(s.Action)
		if s.ErrnoRet != nil {
			rule += fmt.Sprintf(" errno %d", *s.ErrnoRet)
		}
		if len(args) > 0 {
			rule += " if " + strings.Join(args, " && ")
		}
		for _, n := range s.Names {
			if !slices.Contains(m[n], rule) {
				m[n] = append(m[n], rule)
			}
		}
	}
	for _, rules := range m {
		sort.Strings(rules)
	}
	return m
}

// diffProfiles lists every difference between got (kago's) and want
// (Docker's), one line each.
func diffProfiles(got, want *specs.LinuxSeccomp) []string {
	var d []string
	if got.DefaultAction != want.DefaultAction {
		d = append(d, fmt.Sprintf("defaultAction: kago %s, docker %s", got.DefaultAction, want.DefaultAction))
	}
	if e := func(p *uint) string {
		if p == nil {
			return "unset"
		}
		return fmt.Sprint(*p)
	}; e(got.DefaultErrnoRet) != e(want.DefaultErrnoRet) {
		d = append(d, fmt.Sprintf("defaultErrnoRet: kago %s, docker %s", e(got.DefaultErrnoRet), e(want.DefaultErrnoRet)))
	}
	if !slices.Equal(got.Architectures, want.Architectures) {
		d = append(d, fmt.Sprintf("architectures: kago %v, docker %v", got.Architectures, want.Architectures))
	}
	if !slices.Equal(got.Flags, want.Flags) {
		d = append(d, fmt.Sprintf("flags: kago %v, docker %v", got.Flags, want.Flags))
	}
	g, w := ruleSet(got), ruleSet(want)
	names := map[string]bool{}
	for n := range g {
		names[n] = true
	}
	for n := range w {
		names[n] = true
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	for _, n := range sorted {
		if !slices.Equal(g[n], w[n]) {
			d = append(d, fmt.Sprintf("%s: kago %q, docker %q", n, g[n], w[n]))
		}
	}
	return d
}

// TestDefaultIsDockersProfile fails when kago's default profile and
// Docker's published one differ in any syscall's rules, the default
// action, or the architectures, for each architecture kago resolves.
func TestDefaultIsDockersProfile(t *testing.T) {
	for _, goarch := range []string{"amd64", "386", "arm64", "arm"} {
		t.Run(goarch, func(t *testing.T) {
			for _, line := range diffProfiles(defaultFor(goarch), resolveDocker(t, goarch, caps.DefaultDocker())) {
				t.Error(line)
			}
		})
	}
}

// TestResolveDockerMatchesMoby checks the resolver above against moby's
// own on the running architecture and kernel.
func TestResolveDockerMatchesMoby(t *testing.T) {
	if _, ok := dockerGoArch[runtime.GOARCH]; !ok {
		t.Skipf("kago resolves Docker's profile for %v, not %s", dockerGoArch, runtime.GOARCH)
	}
	spec := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: caps.DefaultDocker()}}}
	moby, err := mobyseccomp.GetDefaultProfile(spec)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range diffProfiles(resolveDocker(t, runtime.GOARCH, caps.DefaultDocker()), moby) {
		t.Error(line)
	}
}

// TestDiffProfilesSeesDrift: the comparison itself notices a syscall
// added, one dropped, and a changed condition.
func TestDiffProfilesSeesDrift(t *testing.T) {
	want := Default()
	for name, mutate := range map[string]func(p *specs.LinuxSeccomp){
		"added":     func(p *specs.LinuxSeccomp) { p.Syscalls[0].Names = append(p.Syscalls[0].Names, "kexec_load") },
		"dropped":   func(p *specs.LinuxSeccomp) { p.Syscalls[0].Names = p.Syscalls[0].Names[1:] },
		"condition": func(p *specs.LinuxSeccomp) { p.Syscalls[len(p.Syscalls)-2].Args[0].Value = 0 },
		"arch":      func(p *specs.LinuxSeccomp) { p.Architectures = p.Architectures[:1] },
	} {
		got := Default()
		mutate(got)
		if d := diffProfiles(got, want); len(d) == 0 {
			t.Errorf("%s: no difference found", name)
		}
	}
}
