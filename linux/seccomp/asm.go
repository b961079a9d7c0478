package seccomp

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// A small assembler for classic BPF with symbolic forward labels. Classic
// BPF conditional jumps have 8-bit offsets, so a branch whose target is more
// than 255 instructions ahead goes through an unconditional jump (32-bit
// offset) placed right after it: a "trampoline". Which branches need one is
// found by iterating to a fixed point, since every trampoline moves later
// code further away.

type label int

type asmInst struct {
	ins    bpf.Instruction // plain instruction, or nil for a jump
	cond   bpf.JumpTest    // conditional jump (JumpEqual, JumpGreaterThan, JumpGreaterOrEqual)
	val    uint32
	jt, jf label
	always bool // unconditional jump to jt
}

type assembler struct {
	insts  []asmInst
	labels []int // label → index into insts, -1 while unbound
}

func (a *assembler) newLabel() label {
	a.labels = append(a.labels, -1)
	return label(len(a.labels) - 1)
}

// bind makes l refer to the next instruction emitted.
func (a *assembler) bind(l label) { a.labels[l] = len(a.insts) }

func (a *assembler) emit(ins bpf.Instruction) { a.insts = append(a.insts, asmInst{ins: ins}) }

func (a *assembler) jumpIf(cond bpf.JumpTest, val uint32, jt, jf label) {
	a.insts = append(a.insts, asmInst{cond: cond, val: val, jt: jt, jf: jf})
}

func (a *assembler) jump(l label) { a.insts = append(a.insts, asmInst{always: true, jt: l}) }

// assemble resolves labels. Only forward jumps are allowed (a BPF rule).
func (a *assembler) assemble() ([]bpf.Instruction, error) {
	for l, idx := range a.labels {
		if idx < 0 || idx >= len(a.insts) {
			return nil, fmt.Errorf("internal error: label %d unbound or past the end", l)
		}
	}
	long := make([][2]bool, len(a.insts))
	pos := make([]int, len(a.insts)+1)
	for {
		for i := range a.insts {
			n := 1
			if long[i][0] {
				n++
			}
			if long[i][1] {
				n++
			}
			pos[i+1] = pos[i] + n
		}
		changed := false
		for i, in := range a.insts {
			if in.ins != nil || in.always {
				continue
			}
			for b, l := range []label{in.jt, in.jf} {
				off := pos[a.labels[l]] - (pos[i] + 1)
				if off < 0 {
					return nil, fmt.Errorf("internal error: backward jump at %d", i)
				}
				if off > 255 && !long[i][b] {
					long[i][b] = true
					changed = true
				}
			}
		}
		if !changed {
			break
		}
	}

	out := make([]bpf.Instruction, 0, pos[len(a.insts)])
	target := func(l label) int { return pos[a.labels[l]] }
	for i, in := range a.insts {
		switch {
		case in.ins != nil:
			out = append(out, in.ins)
		case in.always:
			off := target(in.jt) - (pos[i] + 1)
			if off < 0 {
				return nil, fmt.Errorf("internal error: backward jump at %d", i)
			}
			out = append(out, bpf.Jump{Skip: uint32(off)})
		default:
			var skip [2]uint8
			var tramps []bpf.Instruction
			for b, l := range []label{in.jt, in.jf} {
				if long[i][b] {
					skip[b] = uint8(len(tramps))
					if r, ok := a.insts[a.labels[l]].ins.(bpf.RetConstant); ok {
						tramps = append(tramps, r) // returning here is as good as jumping there
						continue
					}
					// the trampoline sits at pos[i]+1+len(tramps)
					tramps = append(tramps, bpf.Jump{Skip: uint32(target(l) - (pos[i] + 2 + len(tramps)))})
				} else {
					skip[b] = uint8(target(l) - (pos[i] + 1))
				}
			}
			out = append(out, bpf.JumpIf{Cond: in.cond, Val: in.val, SkipTrue: skip[0], SkipFalse: skip[1]})
			out = append(out, tramps...)
		}
	}
	return out, nil
}
