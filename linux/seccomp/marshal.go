package seccomp

import (
	"encoding/json"
	"fmt"

	"golang.org/x/net/bpf"
)

// wireFilter is a compiled filter as the runtime hands it to the container's
// init: the assembled program, so init loads it without compiling the
// profile a second time.
type wireFilter struct {
	Prog   [][4]uint32 `json:"prog"` // op, jt, jf, k
	Flags  uint        `json:"flags"`
	Notify bool        `json:"notify,omitempty"`
}

// MarshalJSON encodes the assembled program.
func (f *Filter) MarshalJSON() ([]byte, error) {
	raw, err := bpf.Assemble(f.prog)
	if err != nil {
		return nil, fmt.Errorf("seccomp: assemble filter: %w", err)
	}
	w := wireFilter{Prog: make([][4]uint32, len(raw)), Flags: f.flags, Notify: f.notify}
	for i, r := range raw {
		w.Prog[i] = [4]uint32{uint32(r.Op), uint32(r.Jt), uint32(r.Jf), r.K}
	}
	return json.Marshal(w)
}

// UnmarshalJSON decodes what MarshalJSON wrote. The program is checked the
// way the kernel would see it: not empty, not longer than BPF_MAXINSNS.
func (f *Filter) UnmarshalJSON(data []byte) error {
	var w wireFilter
	if err := json.Unmarshal(data, &w); err != nil {
		return fmt.Errorf("seccomp: decode filter: %w", err)
	}
	if len(w.Prog) == 0 || len(w.Prog) > maxInstructions {
		return fmt.Errorf("seccomp: decoded filter has %d instructions (want 1..%d)", len(w.Prog), maxInstructions)
	}
	prog := make([]bpf.Instruction, len(w.Prog))
	for i, ins := range w.Prog {
		if ins[0] > 0xffff || ins[1] > 0xff || ins[2] > 0xff {
			return fmt.Errorf("seccomp: decoded filter instruction %d is malformed", i)
		}
		prog[i] = bpf.RawInstruction{Op: uint16(ins[0]), Jt: uint8(ins[1]), Jf: uint8(ins[2]), K: ins[3]}
	}
	*f = Filter{prog: prog, flags: w.Flags, notify: w.Notify}
	return nil
}
