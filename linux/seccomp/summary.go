package seccomp

import (
	"encoding/json"
	"runtime"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Summary is what a profile does, counted over the syscalls the running
// architecture has (kago explain prints it next to the program's size).
type Summary struct {
	// Profile is "docker default" for Default(), otherwise "linux.seccomp
	// from config.json".
	Profile       string
	DefaultAction specs.LinuxSeccompAction
	// Allowed and Refused count syscall names by the action of the first
	// entry that names them (an entry with argument conditions counts for
	// its action); names the architecture lacks are not counted.
	Allowed, Refused int
}

// Summarize counts profile s; it does not validate it (Compile does).
func Summarize(s *specs.LinuxSeccomp) Summary {
	sum := Summary{Profile: "linux.seccomp from config.json", DefaultAction: s.DefaultAction}
	if a, b := jsonOf(s), jsonOf(Default()); a != nil && string(a) == string(b) {
		sum.Profile = "docker default"
	}
	var table map[string]uint32
	if name, err := nativeArch(runtime.GOARCH); err == nil {
		if a := lookupArch(name); a != nil {
			table = a.table
		}
	}
	seen := map[string]bool{}
	for _, sc := range s.Syscalls {
		for _, n := range sc.Names {
			if _, ok := table[n]; !ok || seen[n] {
				continue
			}
			seen[n] = true
			if allows(sc.Action) {
				sum.Allowed++
			} else {
				sum.Refused++
			}
		}
	}
	return sum
}

// allows: the syscall runs (logged, traced or answered by a listener at
// most); every other action refuses it.
func allows(a specs.LinuxSeccompAction) bool {
	switch a {
	case specs.ActAllow, specs.ActLog, specs.ActTrace, specs.ActNotify:
		return true
	}
	return false
}

func jsonOf(s *specs.LinuxSeccomp) []byte {
	b, _ := json.Marshal(s)
	return b
}
