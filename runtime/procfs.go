package runtime

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// procStat is the part of /proc/PID/stat the runtime needs.
type procStat struct {
	State     byte
	StartTime uint64 // clock ticks after boot; tells a pid apart from a reused one
}

func readProcStat(pid int) (procStat, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	// The command name (field 2) may contain spaces and parentheses: parse
	// from the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 || i+2 >= len(data) {
		return procStat{}, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	fields := bytes.Fields(data[i+2:])
	// fields[0] is field 3 (state); starttime is field 22.
	if len(fields) < 20 {
		return procStat{}, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	start, err := strconv.ParseUint(string(fields[19]), 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("parse start time in /proc/%d/stat: %w", pid, err)
	}
	return procStat{State: fields[0][0], StartTime: start}, nil
}

// alive reports whether pid is still the process that started at startTime
// and has not exited (a zombie counts as exited).
func alive(pid int, startTime uint64) bool {
	if pid <= 0 {
		return false
	}
	st, err := readProcStat(pid)
	if err != nil {
		return false
	}
	return st.StartTime == startTime && st.State != 'Z' && st.State != 'X'
}
