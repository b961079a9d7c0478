// Package seccomp compiles an OCI seccomp profile (config.json
// linux.seccomp) into a classic BPF program and loads it, without libseccomp.
//
// The program has the shape libseccomp gives it, so profiles behave as they
// do under runc:
//
//  1. Check seccomp_data.arch against each covered ABI (the native one is
//     always covered; a profile adds others). A syscall from any other ABI
//     gets SCMP_ACT_KILL, libseccomp's default "bad arch" action. x32 shares
//     the x86_64 audit arch and is told apart by bit 30 of the number.
//  2. Per ABI, a binary search over the syscall number (runs of numbers with
//     the same outcome are merged into one range), so Docker's profile costs
//     about ten comparisons per syscall instead of three hundred.
//  3. Per syscall, its argument rules: the conditions of one rule are ANDed,
//     the rules of one syscall are tried in profile order and the first that
//     matches decides (OR); a rule without conditions is the syscall's
//     fallback, tried after all conditional ones; after that, the default action.
//
// Deliberate compatibilities with runc: rules whose action equals the default
// action are dropped (libseccomp refuses them); a rule with several
// conditions on the same argument is split into one rule per condition
// (libseccomp cannot AND them, runc ORs them); names unknown on every covered
// ABI are skipped with a warning; and when the default action denies,
// syscall numbers newer than kago's table return ENOSYS so that libc falls
// back to older calls (clone3 → clone).
//
// Arguments are 64 bits wide and compared as two 32-bit halves (classic BPF
// has 32-bit registers); seccomp_data is little-endian on amd64 and arm64.
package seccomp

import (
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// maxInstructions is the kernel's limit on a classic BPF program (BPF_MAXINSNS).
const maxInstructions = 4096

// Offsets in struct seccomp_data.
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

// Filter is a compiled profile, ready to Load.
type Filter struct {
	prog   []bpf.Instruction
	flags  uint
	notify bool
}

// Instructions returns the BPF program (for inspection and tests).
func (f *Filter) Instructions() []bpf.Instruction { return slices.Clone(f.prog) }

// NeedsListener reports whether a rule uses SCMP_ACT_NOTIFY, so that Load
// returns a listener fd for the runtime to hand to listenerPath.
func (f *Filter) NeedsListener() bool { return f.notify }

type cond struct {
	idx       uint
	op        specs.LinuxSeccompOperator
	val, val2 uint64
	lo32      bool // compare only the low halves (32-bit ABI)
}

type rule struct {
	conds []cond
	ret   uint32
}

// sysRules is everything one syscall number does on one ABI.
type sysRules struct {
	conditional []rule
	uncond      uint32
	hasUncond   bool
}

// Compile turns a profile into a Filter for the running architecture. The
// warnings name what was skipped (unknown syscalls, foreign architectures).
func Compile(s *specs.LinuxSeccomp) (*Filter, []string, error) {
	return compileFor(runtime.GOARCH, s)
}

func compileFor(goarch string, s *specs.LinuxSeccomp) (*Filter, []string, error) {
	if s == nil {
		return nil, nil, fmt.Errorf("seccomp: no profile to compile")
	}
	defRet, err := actionRet("seccomp.defaultAction", s.DefaultAction, s.DefaultErrnoRet)
	if err != nil {
		return nil, nil, err
	}
	if s.DefaultAction == specs.ActNotify {
		return nil, nil, fmt.Errorf("seccomp.defaultAction: %s cannot be the default action (the runtime's own syscalls would wait for the listener); use it in syscalls rules", specs.ActNotify)
	}
	abis, warnings, err := resolveArches(goarch, s.Architectures)
	if err != nil {
		return nil, nil, err
	}
	flags, err := parseFlags(s.Flags)
	if err != nil {
		return nil, nil, err
	}

	f := &Filter{flags: flags}
	perArch := make([]map[uint32]*sysRules, len(abis))
	for i := range perArch {
		perArch[i] = map[uint32]*sysRules{}
	}
	unknown := map[string]bool{}
	for i, sc := range s.Syscalls {
		where := fmt.Sprintf("seccomp.syscalls[%d]", i)
		ret, err := actionRet(where, sc.Action, sc.ErrnoRet)
		if err != nil {
			return nil, nil, err
		}
		rules, err := parseRules(where, sc.Args, ret)
		if err != nil {
			return nil, nil, err
		}
		if len(sc.Names) == 0 {
			return nil, nil, fmt.Errorf("%s: names is empty (list at least one syscall name)", where)
		}
		for j, name := range sc.Names {
			if name == "" || strings.ContainsAny(name, " \t\n") {
				return nil, nil, fmt.Errorf("%s.names[%d]: %q is not a syscall name", where, j, name)
			}
		}
		if ret == defRet {
			continue // same as the default: nothing to do, and libseccomp would refuse it
		}
		for _, name := range sc.Names {
			found := false
			for k, a := range abis {
				nr, ok := a.table[name]
				if !ok {
					continue
				}
				found = true
				if conflict := addRules(perArch[k], nr, rules, a.bits32); conflict {
					warnings = append(warnings, fmt.Sprintf("%s: %s already has an unconditional action on %s, the first one wins", where, name, a.name))
				}
			}
			if !found && !unknown[name] {
				unknown[name] = true
				warnings = append(warnings, fmt.Sprintf("seccomp: syscall %q is unknown on %s, skipped", name, archNames(abis)))
			}
			if found && ret == unix.SECCOMP_RET_USER_NOTIF {
				f.notify = true
			}
		}
	}
	if f.flags&unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV != 0 && !f.notify {
		// The kernel refuses this flag without a listener.
		f.flags &^= unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
		warnings = append(warnings, "seccomp: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV ignored: no rule uses SCMP_ACT_NOTIFY")
	}
	if f.notify && s.ListenerPath == "" {
		warnings = append(warnings, "seccomp: SCMP_ACT_NOTIFY is used but listenerPath is empty: notified syscalls will wait until something answers on the listener fd")
	}

	g := &gen{a: &assembler{}, rets: map[uint32]label{}, bodies: map[string]label{}, defRet: defRet, enosys: deniesByDefault(defRet)}
	f.prog, err = g.program(abis, perArch)
	if err != nil {
		return nil, nil, err
	}
	if len(f.prog) > maxInstructions {
		return nil, nil, fmt.Errorf("seccomp: profile compiles to %d BPF instructions, more than the kernel's limit of %d: merge rules or drop architectures", len(f.prog), maxInstructions)
	}
	return f, warnings, nil
}

// deniesByDefault: the default action refuses the syscall, so unknown new
// syscalls are better answered with ENOSYS (see package doc).
func deniesByDefault(ret uint32) bool {
	switch ret & unix.SECCOMP_RET_ACTION_FULL {
	case unix.SECCOMP_RET_ALLOW, unix.SECCOMP_RET_LOG, unix.SECCOMP_RET_TRACE, unix.SECCOMP_RET_USER_NOTIF:
		return false
	}
	return true
}

func archNames(abis []*arch) string {
	n := make([]string, len(abis))
	for i, a := range abis {
		n[i] = string(a.name)
	}
	return strings.Join(n, ", ")
}

// parseRules validates the argument conditions of one syscalls entry and
// returns its rules: one rule ANDing them, or one per condition when an
// argument index repeats (runc's behaviour).
func parseRules(where string, args []specs.LinuxSeccompArg, ret uint32) ([]rule, error) {
	conds := make([]cond, len(args))
	seen := map[uint]bool{}
	repeated := false
	for i, a := range args {
		if a.Index > 5 {
			return nil, fmt.Errorf("%s.args[%d]: index %d is out of range (syscalls have arguments 0..5)", where, i, a.Index)
		}
		if !slices.Contains(operators, a.Op) {
			return nil, fmt.Errorf("%s.args[%d]: unknown operator %q (one of %v)", where, i, a.Op, SupportedOperators())
		}
		repeated = repeated || seen[a.Index]
		seen[a.Index] = true
		conds[i] = cond{idx: a.Index, op: a.Op, val: a.Value, val2: a.ValueTwo}
	}
	if !repeated {
		return []rule{{conds: conds, ret: ret}}, nil
	}
	rules := make([]rule, len(conds))
	for i, c := range conds {
		rules[i] = rule{conds: []cond{c}, ret: ret}
	}
	return rules, nil
}

// addRules records rules for syscall nr; it reports a conflict when nr
// already has a different unconditional action.
func addRules(m map[uint32]*sysRules, nr uint32, rules []rule, bits32 bool) (conflict bool) {
	sr := m[nr]
	if sr == nil {
		sr = &sysRules{}
		m[nr] = sr
	}
	for _, r := range rules {
		if len(r.conds) > 0 {
			if bits32 {
				r.conds = slices.Clone(r.conds)
				for i := range r.conds {
					r.conds[i].lo32 = true
				}
			}
			sr.conditional = append(sr.conditional, r)
			continue
		}
		if !sr.hasUncond {
			sr.uncond, sr.hasUncond = r.ret, true
		} else if sr.uncond != r.ret {
			conflict = true
		}
	}
	return conflict
}

// gen emits the program; rets and bodies are shared by label.
type gen struct {
	a        *assembler
	rets     map[uint32]label
	retOrder []uint32
	bodies   map[string]label
	pending  []pendingBody
	defRet   uint32
	enosys   bool
}

type pendingBody struct {
	l  label
	sr *sysRules
}

type interval struct {
	lo, hi uint32
	body   label
}

func (g *gen) ret(v uint32) label {
	l, ok := g.rets[v]
	if !ok {
		l = g.a.newLabel()
		g.rets[v] = l
		g.retOrder = append(g.retOrder, v)
	}
	return l
}

// section is one audit arch value: the ABI for it, and for x86_64 the x32
// ABI sharing it.
type section struct {
	audit     uint32
	low, high int // indexes into abis/perArch, -1 if not covered (high: x32)
}

func (g *gen) program(abis []*arch, perArch []map[uint32]*sysRules) ([]bpf.Instruction, error) {
	var secs []*section
	for i, a := range abis {
		var s *section
		for _, o := range secs {
			if o.audit == a.audit {
				s = o
			}
		}
		if s == nil {
			s = &section{audit: a.audit, low: -1, high: -1}
			secs = append(secs, s)
		}
		if a.x32 {
			s.high = i
		} else {
			s.low = i
		}
	}

	a := g.a
	a.emit(bpf.LoadAbsolute{Off: offArch, Size: 4})
	starts := make([]label, len(secs))
	for i, s := range secs {
		starts[i] = a.newLabel()
		next := g.ret(retBadArch)
		if i < len(secs)-1 {
			next = a.newLabel()
		}
		a.jumpIf(bpf.JumpEqual, s.audit, starts[i], next)
		if i < len(secs)-1 {
			a.bind(next)
		}
	}
	for i, s := range secs {
		a.bind(starts[i])
		a.emit(bpf.LoadAbsolute{Off: offNr, Size: 4})
		if s.audit != unix.AUDIT_ARCH_X86_64 {
			g.tree(g.intervals(abis[s.low], perArch[s.low], 0, ^uint32(0), 0))
			continue
		}
		// x86_64 and x32 share the audit arch; bit 30 of the number tells them apart.
		var low, high []interval
		lowL, highL := g.ret(retBadArch), g.ret(retBadArch)
		if s.low >= 0 {
			low = g.intervals(abis[s.low], perArch[s.low], 0, x32Bit-1, 0)
			lowL = g.labelFor(low)
		}
		if s.high >= 0 {
			high = g.intervals(abis[s.high], perArch[s.high], x32Bit, ^uint32(0), x32Bit)
			highL = g.labelFor(high)
		}
		a.jumpIf(bpf.JumpGreaterOrEqual, x32Bit, highL, lowL)
		g.emitNode(low, lowL)
		g.emitNode(high, highL)
	}
	for i := 0; i < len(g.pending); i++ { // bodies
		g.body(g.pending[i])
	}
	for _, v := range g.retOrder {
		a.bind(g.rets[v])
		a.emit(bpf.RetConstant{Val: v})
	}
	return a.assemble()
}

// intervals covers [lo, hi] with ranges of numbers that share an outcome.
// bit is or-ed into the table's numbers (x32).
func (g *gen) intervals(ab *arch, rules map[uint32]*sysRules, lo, hi, bit uint32) []interval {
	nrs := make([]uint32, 0, len(rules))
	for nr := range rules {
		nrs = append(nrs, nr|bit)
	}
	sort.Slice(nrs, func(i, j int) bool { return nrs[i] < nrs[j] })
	maxNr := ab.maxNr | bit

	var out []interval
	add := func(lo, hi uint32, body label) {
		if n := len(out); n > 0 && out[n-1].body == body && out[n-1].hi+1 == lo {
			out[n-1].hi = hi
			return
		}
		out = append(out, interval{lo, hi, body})
	}
	gap := func(a, b uint32) { // numbers without rules
		if g.enosys && b > maxNr {
			if a <= maxNr {
				add(a, maxNr, g.ret(g.defRet))
				a = maxNr + 1
			}
			add(a, b, g.ret(retENOSYS))
			return
		}
		add(a, b, g.ret(g.defRet))
	}
	cur := uint64(lo)
	for _, nr := range nrs {
		if uint64(nr) > cur {
			gap(uint32(cur), nr-1)
		}
		add(nr, nr, g.bodyLabel(rules[nr&^bit]))
		cur = uint64(nr) + 1
	}
	if cur <= uint64(hi) {
		gap(uint32(cur), hi)
	}
	return out
}

// bodyLabel returns where the code for one syscall's rules starts, sharing
// the code between syscalls with identical rules.
func (g *gen) bodyLabel(sr *sysRules) label {
	fallback := g.defRet
	if sr.hasUncond {
		fallback = sr.uncond
	}
	if len(sr.conditional) == 0 {
		return g.ret(fallback)
	}
	key := fmt.Sprint(sr.conditional, fallback)
	if l, ok := g.bodies[key]; ok {
		return l
	}
	l := g.a.newLabel()
	g.bodies[key] = l
	g.pending = append(g.pending, pendingBody{l, sr})
	return l
}

func (g *gen) labelFor(ivs []interval) label {
	if len(ivs) == 1 {
		return ivs[0].body
	}
	return g.a.newLabel()
}

// tree emits a binary search over ivs from the current position.
func (g *gen) tree(ivs []interval) {
	l := g.labelFor(ivs)
	if len(ivs) == 1 {
		g.a.jump(l)
		return
	}
	g.emitNode(ivs, l)
}

// emitNode emits the search node l for ivs (nothing for a single range:
// its label is the body itself). The number is in A.
func (g *gen) emitNode(ivs []interval, l label) {
	if len(ivs) <= 1 {
		return
	}
	g.a.bind(l)
	mid := len(ivs) / 2
	left, right := g.labelFor(ivs[:mid]), g.labelFor(ivs[mid:])
	g.a.jumpIf(bpf.JumpGreaterOrEqual, ivs[mid].lo, right, left)
	g.emitNode(ivs[:mid], left)
	g.emitNode(ivs[mid:], right)
}

// body emits one syscall's conditional rules, first match wins.
func (g *gen) body(p pendingBody) {
	a := g.a
	a.bind(p.l)
	// The body's outcomes are emitted right after it: shared returns at the
	// end of a large program would need a trampoline per branch.
	local := map[uint32]label{}
	var order []uint32
	ret := func(v uint32) label {
		l, ok := local[v]
		if !ok {
			l = a.newLabel()
			local[v] = l
			order = append(order, v)
		}
		return l
	}
	defer func() {
		for _, v := range order {
			a.bind(local[v])
			a.emit(bpf.RetConstant{Val: v})
		}
	}()
	fallback := ret(g.defRet)
	if p.sr.hasUncond {
		fallback = ret(p.sr.uncond)
	}
	for i, r := range p.sr.conditional {
		fail := fallback
		if i < len(p.sr.conditional)-1 {
			fail = a.newLabel()
		}
		for j, c := range r.conds {
			match := ret(r.ret)
			if j < len(r.conds)-1 {
				match = a.newLabel()
			}
			g.cond(c, match, fail)
			if j < len(r.conds)-1 {
				a.bind(match)
			}
		}
		if i < len(p.sr.conditional)-1 {
			a.bind(fail)
		}
	}
}

// cond emits a 64-bit comparison of one argument: the high halves decide
// unless they are equal, then the low halves do. On a 32-bit ABI (lo32)
// only the low halves are compared.
func (g *gen) cond(c cond, match, fail label) {
	if c.lo32 {
		g.condLow(c, match, fail)
		return
	}
	a := g.a
	vhi := uint32(c.val >> 32)
	low := a.newLabel()
	a.emit(bpf.LoadAbsolute{Off: uint32(offArgs + 8*c.idx + 4), Size: 4})
	switch c.op {
	case specs.OpEqualTo:
		a.jumpIf(bpf.JumpEqual, vhi, low, fail)
	case specs.OpNotEqual:
		a.jumpIf(bpf.JumpEqual, vhi, low, match)
	case specs.OpGreaterThan, specs.OpGreaterEqual, specs.OpLessThan, specs.OpLessEqual:
		// above: the outcome when arg > value; below: when arg < value.
		above, below := match, fail
		if c.op == specs.OpLessThan || c.op == specs.OpLessEqual {
			above, below = fail, match
		}
		eq := a.newLabel()
		a.jumpIf(bpf.JumpGreaterThan, vhi, above, eq)
		a.bind(eq)
		a.jumpIf(bpf.JumpEqual, vhi, low, below)
	case specs.OpMaskedEqual: // (arg & value) == valueTwo
		a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: vhi})
		a.jumpIf(bpf.JumpEqual, uint32(c.val2>>32), low, fail)
	}
	a.bind(low)
	g.condLow(c, match, fail)
}

// condLow compares the low halves of the argument and the values.
func (g *gen) condLow(c cond, match, fail label) {
	a := g.a
	a.emit(bpf.LoadAbsolute{Off: uint32(offArgs + 8*c.idx), Size: 4})
	v := uint32(c.val)
	switch c.op {
	case specs.OpEqualTo:
		a.jumpIf(bpf.JumpEqual, v, match, fail)
	case specs.OpNotEqual:
		a.jumpIf(bpf.JumpEqual, v, fail, match)
	case specs.OpGreaterThan:
		a.jumpIf(bpf.JumpGreaterThan, v, match, fail)
	case specs.OpGreaterEqual:
		a.jumpIf(bpf.JumpGreaterOrEqual, v, match, fail)
	case specs.OpLessThan:
		a.jumpIf(bpf.JumpGreaterOrEqual, v, fail, match)
	case specs.OpLessEqual:
		a.jumpIf(bpf.JumpGreaterThan, v, fail, match)
	case specs.OpMaskedEqual:
		a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: v})
		a.jumpIf(bpf.JumpEqual, uint32(c.val2), match, fail)
	}
}
