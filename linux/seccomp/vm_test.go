package seccomp

import (
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// These tests run compiled programs in x/net/bpf's interpreter and compare
// every answer with evaluate, a direct reading of the profile that shares
// nothing with the code generator (no intervals, no shared bodies, no
// jumps): a wrong jump offset, trampoline, 64-bit comparison or merged range
// shows up as a disagreement.

type seccompData struct {
	nr, arch uint32
	args     [6]uint64
}

// bytes lays out struct seccomp_data as the kernel does on a little-endian
// machine, seen through 32-bit loads: the interpreter loads words in network
// order where seccomp loads them in native order, so each word is stored
// big-endian here, and a 64-bit argument is its low word then its high word.
func (d seccompData) bytes() []byte {
	b := make([]byte, 64)
	be := binary.BigEndian
	be.PutUint32(b[0:], d.nr)
	be.PutUint32(b[4:], d.arch)
	be.PutUint32(b[8:], 0x12345678) // instruction pointer: never read
	for i, a := range d.args {
		be.PutUint32(b[16+8*i:], uint32(a))
		be.PutUint32(b[16+8*i+4:], uint32(a>>32))
	}
	return b
}

// evaluate is the meaning of a profile for one syscall, per the package doc.
func evaluate(t testing.TB, goarch string, p *specs.LinuxSeccomp, d seccompData) uint32 {
	defRet, err := actionRet("default", p.DefaultAction, p.DefaultErrnoRet)
	if err != nil {
		t.Fatal(err)
	}
	abis, _, err := resolveArches(goarch, p.Architectures)
	if err != nil {
		t.Fatal(err)
	}
	var ab *arch
	for _, a := range abis {
		if a.audit == d.arch && (a.audit != unix.AUDIT_ARCH_X86_64 || (d.nr >= x32Bit) == a.x32) {
			ab = a
		}
	}
	if ab == nil {
		return retBadArch
	}
	nr, maxNr := d.nr, ab.maxNr
	if ab.x32 {
		nr &^= x32Bit
		maxNr |= x32Bit
	}
	var first, uncond *uint32
	for _, sc := range p.Syscalls {
		ret, err := actionRet("rule", sc.Action, sc.ErrnoRet)
		if err != nil {
			t.Fatal(err)
		}
		if ret == defRet {
			continue
		}
		for _, name := range sc.Names {
			n, ok := ab.table[name]
			if !ok || n != nr || (ab.x32 && d.nr&^x32Bit != nr) {
				continue
			}
			if len(sc.Args) == 0 {
				if uncond == nil {
					uncond = &ret
				}
				continue
			}
			args := d.args
			if ab.bits32 { // only low halves count
				conds := slices.Clone(sc.Args)
				for i := range conds {
					conds[i].Value, conds[i].ValueTwo = uint64(uint32(conds[i].Value)), uint64(uint32(conds[i].ValueTwo))
				}
				for i := range args {
					args[i] = uint64(uint32(args[i]))
				}
				if first == nil && argsMatch(conds, args) {
					first = &ret
				}
				continue
			}
			if first == nil && argsMatch(sc.Args, args) {
				first = &ret
			}
		}
	}
	switch {
	case first != nil:
		return *first
	case uncond != nil:
		return *uncond
	case deniesByDefault(defRet) && d.nr > maxNr:
		return retENOSYS
	}
	return defRet
}

// argsMatch: all conditions hold, or — when an index repeats — any one does.
func argsMatch(conds []specs.LinuxSeccompArg, args [6]uint64) bool {
	seen := map[uint]bool{}
	repeated := false
	for _, c := range conds {
		repeated = repeated || seen[c.Index]
		seen[c.Index] = true
	}
	for _, c := range conds {
		a, v := args[c.Index], c.Value
		var ok bool
		switch c.Op {
		case specs.OpEqualTo:
			ok = a == v
		case specs.OpNotEqual:
			ok = a != v
		case specs.OpLessThan:
			ok = a < v
		case specs.OpLessEqual:
			ok = a <= v
		case specs.OpGreaterThan:
			ok = a > v
		case specs.OpGreaterEqual:
			ok = a >= v
		case specs.OpMaskedEqual:
			ok = a&v == c.ValueTwo
		}
		if repeated && ok {
			return true
		}
		if !repeated && !ok {
			return false
		}
	}
	return !repeated
}

// vmFor assembles the filter to raw BPF and back, as the kernel will see it.
func vmFor(t testing.TB, f *Filter) *bpf.VM {
	raw, err := bpf.Assemble(f.prog)
	if err != nil {
		t.Fatalf("assemble: %v", err)
	}
	ins, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatalf("program has instructions x/net/bpf cannot decode")
	}
	vm, err := bpf.NewVM(ins)
	if err != nil {
		t.Fatalf("vm: %v", err)
	}
	return vm
}

func runVM(t testing.TB, vm *bpf.VM, d seccompData) uint32 {
	r, err := vm.Run(d.bytes())
	if err != nil {
		t.Fatalf("vm run: %v", err)
	}
	return uint32(r)
}

var auditArches = []uint32{unix.AUDIT_ARCH_X86_64, unix.AUDIT_ARCH_I386, unix.AUDIT_ARCH_AARCH64, unix.AUDIT_ARCH_ARM, 0xdeadbeef}

// probes returns syscall data worth checking for p: mostly a syscall a rule
// names, on an ABI that knows it, with the rule's arguments at, just beside
// and half-changed around its values; sometimes random data.
func probes(p *specs.LinuxSeccomp, rnd *rand.Rand, n int) []seccompData {
	near := func(v uint64) uint64 {
		switch rnd.IntN(8) {
		case 0:
			return v + 1
		case 1:
			return v - 1
		case 2:
			return v ^ 1<<32
		case 3:
			return v & 0xffffffff
		case 4:
			return v ^ 1<<uint(rnd.IntN(64))
		}
		return v
	}
	out := make([]seccompData, n)
	for i := range out {
		d := &out[i]
		d.arch = auditArches[rnd.IntN(len(auditArches))]
		d.nr = []uint32{rnd.Uint32(), uint32(rnd.IntN(1000)), x32Bit + uint32(rnd.IntN(1000)), 0x0f0000 + uint32(rnd.IntN(10))}[rnd.IntN(4)]
		for j := range d.args {
			d.args[j] = []uint64{rnd.Uint64(), 0, ^uint64(0), uint64(rnd.IntN(100))}[rnd.IntN(4)]
		}
		if len(p.Syscalls) == 0 || rnd.IntN(5) == 0 {
			continue
		}
		sc := p.Syscalls[rnd.IntN(len(p.Syscalls))]
		if len(sc.Names) == 0 {
			continue
		}
		name := sc.Names[rnd.IntN(len(sc.Names))]
		a := arches[rnd.IntN(len(arches))]
		if nr, ok := a.table[name]; ok {
			d.arch, d.nr = a.audit, nr
			if a.x32 {
				d.nr |= x32Bit
			}
		}
		for _, c := range sc.Args {
			if c.Index > 5 || rnd.IntN(4) == 0 {
				continue
			}
			v := c.Value
			if c.Op == specs.OpMaskedEqual {
				v = c.ValueTwo | rnd.Uint64()&^c.Value
			}
			d.args[c.Index] = near(v)
		}
	}
	return out
}

func checkAgainstEvaluator(t testing.TB, goarch string, p *specs.LinuxSeccomp, seed uint64, n int) {
	t.Helper()
	f, _, err := compileFor(goarch, p)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	vm := vmFor(t, f)
	rnd := rand.New(rand.NewPCG(seed, 1))
	for _, d := range probes(p, rnd, n) {
		got, want := runVM(t, vm, d), evaluate(t, goarch, p, d)
		if got != want {
			t.Fatalf("%s: nr %#x arch %#x args %#x: filter returns %#x, profile means %#x", goarch, d.nr, d.arch, d.args, got, want)
		}
	}
}

func TestDefaultProfileMatchesEvaluator(t *testing.T) {
	for _, goarch := range []string{"amd64", "arm64"} {
		p := defaultFor(goarch)
		checkAgainstEvaluator(t, goarch, p, 1, 5000)
		// and every number of every covered ABI, exhaustively
		f, _, err := compileFor(goarch, p)
		if err != nil {
			t.Fatal(err)
		}
		vm := vmFor(t, f)
		abis, _, _ := resolveArches(goarch, p.Architectures)
		for _, a := range abis {
			base := uint32(0)
			if a.x32 {
				base = x32Bit
			}
			nrs := []uint32{a.maxNr + 1, a.maxNr + 2}
			for nr := range uint32(600) {
				nrs = append(nrs, nr)
			}
			for _, nr := range a.table { // ARM's private syscalls are far up
				nrs = append(nrs, nr-1, nr, nr+1)
			}
			for _, nr := range nrs {
				d := seccompData{nr: nr | base, arch: a.audit}
				if got, want := runVM(t, vm, d), evaluate(t, goarch, p, d); got != want {
					t.Fatalf("%s %s nr %d: filter %#x, profile %#x", goarch, a.name, nr, got, want)
				}
			}
		}
	}
}

// TestLongJumps builds a profile whose bodies are far from the search tree,
// so that conditional jumps need trampolines, and checks it still means the
// same thing.
func TestLongJumps(t *testing.T) {
	p := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow}
	ops := operators
	n := 0
	for name := range sysnumX86_64 {
		errno := uint(n%4000 + 1)
		p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{
			Names: []string{name}, Action: specs.ActErrno, ErrnoRet: &errno,
			Args: []specs.LinuxSeccompArg{
				{Index: uint(n % 6), Value: uint64(n) << (n % 40), ValueTwo: uint64(n), Op: ops[n%len(ops)]},
				{Index: uint(n+1) % 6, Value: uint64(n) * 0x100000001, Op: ops[(n+3)%len(ops)]},
			},
		})
		n++
		if n == 200 {
			break
		}
	}
	f, _, err := compileFor("amd64", p)
	if err != nil {
		t.Fatal(err)
	}
	jumps := 0
	for _, in := range f.prog {
		if _, ok := in.(bpf.Jump); ok {
			jumps++
		}
	}
	if jumps == 0 {
		t.Fatalf("program of %d instructions has no long jump: the test does not exercise trampolines", len(f.prog))
	}
	t.Logf("%d instructions, %d trampolines", len(f.prog), jumps)
	checkAgainstEvaluator(t, "amd64", p, 2, 50000)
}

func TestDefaultProfileIsSmall(t *testing.T) {
	for _, goarch := range []string{"amd64", "arm64"} {
		f, warnings, err := compileFor(goarch, defaultFor(goarch))
		if err != nil {
			t.Fatal(err)
		}
		// Docker's socket rule is one comparison per allowed address
		// family (about 30), which alone costs some 300 instructions over
		// the three x86 ABIs; the kernel takes up to 4096.
		if len(f.prog) > 900 {
			t.Errorf("%s: Docker's profile compiles to %d instructions, want well under 1000", goarch, len(f.prog))
		}
		for _, w := range warnings {
			if !strings.Contains(w, "is unknown on") {
				t.Errorf("%s: unexpected warning %q", goarch, w)
			}
		}
	}
}

// FuzzCompile decodes arbitrary JSON as a profile: Compile must never panic,
// errors must say what is wrong, and an accepted profile's program must give
// the evaluator's answer for syscalls derived from the profile.
func FuzzCompile(f *testing.F) {
	seeds := []string{
		`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["personality"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":4294967295,"op":"SCMP_CMP_EQ"}]}]}`,
		`{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,"architectures":["SCMP_ARCH_X86","SCMP_ARCH_X32","SCMP_ARCH_AARCH64","SCMP_ARCH_ARM"],"syscalls":[{"names":["read","write","ioctl"],"action":"SCMP_ACT_ALLOW"},{"names":["socket"],"action":"SCMP_ACT_LOG","args":[{"index":0,"value":2,"op":"SCMP_CMP_LE"},{"index":1,"value":1,"op":"SCMP_CMP_GT"}]}]}`,
		`{"defaultAction":"SCMP_ACT_KILL_PROCESS","syscalls":[{"names":["clone"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":2114060288,"valueTwo":0,"op":"SCMP_CMP_MASKED_EQ"},{"index":0,"value":17179869184,"op":"SCMP_CMP_GE"}]},{"names":["clone"],"action":"SCMP_ACT_TRAP","args":[{"index":2,"value":5,"op":"SCMP_CMP_LT"}]},{"names":["clone"],"action":"SCMP_ACT_TRACE","errnoRet":7},{"names":["getppid"],"action":"SCMP_ACT_NOTIFY"}]}`,
		`{"defaultAction":"SCMP_ACT_LOG","architectures":["SCMP_ARCH_MIPS"],"flags":["SECCOMP_FILTER_FLAG_LOG"],"syscalls":[{"names":["nosuchcall","getpid"],"action":"SCMP_ACT_KILL"}]}`,
		`{"defaultAction":"SCMP_ACT_NOPE"}`,
		`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":9,"op":"SCMP_CMP_EQ"}]}]}`,
	}
	for i, s := range seeds {
		f.Add(s, uint64(i))
	}
	f.Fuzz(func(t *testing.T, profile string, seed uint64) {
		var p specs.LinuxSeccomp
		if json.Unmarshal([]byte(profile), &p) != nil {
			return
		}
		for _, goarch := range []string{"amd64", "arm64"} {
			fl, _, err := compileFor(goarch, &p)
			if err != nil {
				if !strings.HasPrefix(err.Error(), "seccomp") {
					t.Fatalf("error %q does not say it is about seccomp", err)
				}
				return
			}
			if len(fl.prog) == 0 {
				t.Fatal("empty program")
			}
			checkAgainstEvaluator(t, goarch, &p, seed, 200)
		}
	})
}
