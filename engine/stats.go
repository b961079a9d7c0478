package engine

import (
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kago-run/kago/engine/containers"
	"github.com/kago-run/kago/linux/cgroups"
	"github.com/kago-run/kago/runtime"
)

// Proc is one process of a container, as top lists it (host PIDs).
type Proc struct {
	PID     int
	PPID    int
	Command string
}

func (e *Engine) runningCgroup(ref string) (rec *containers.Record, cg cgroups.Manager, err error) {
	rec, err = e.Lookup(ref)
	if err != nil {
		return nil, nil, err
	}
	c, err := e.runtime.Load(rec.ID)
	if err != nil || c.Status() != runtime.StatusRunning && c.Status() != runtime.StatusPaused {
		return rec, nil, fmt.Errorf("container %s is not running", rec.Name)
	}
	cg, err = c.Cgroup()
	return rec, cg, err
}

// Top lists the processes of a running container.
func (e *Engine) Top(ref string) ([]Proc, error) {
	_, cg, err := e.runningCgroup(ref)
	if err != nil {
		return nil, err
	}
	pids, err := cg.Pids()
	if err != nil {
		return nil, err
	}
	sort.Ints(pids)
	var out []Proc
	for _, pid := range pids {
		p := Proc{PID: pid}
		if data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil {
			p.Command = strings.TrimSpace(strings.ReplaceAll(string(data), "\x00", " "))
		}
		if data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
			// pid (comm) state ppid ...; comm may hold spaces and parens.
			if i := strings.LastIndexByte(string(data), ')'); i > 0 {
				if f := strings.Fields(string(data[i+1:])); len(f) > 1 {
					p.PPID, _ = strconv.Atoi(f[1])
				}
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// StatsSample is one reading of a running container's counters, what
// `kago stats` shows. CPU is a counter: a percentage needs two samples.
type StatsSample struct {
	ID, Name string
	Time     time.Time // when it was read, for the interval between two
	CPUNanos uint64    // CPU time used since the container started
	MemUsage uint64    // bytes
	MemLimit uint64    // bytes; 0 when the memory is not limited
	Pids     uint64
}

// CPUPercent is the CPU used between an earlier sample and s, in percent of
// one CPU (two busy CPUs are 200%), as docker shows it.
func (s StatsSample) CPUPercent(earlier StatsSample) float64 {
	dt := s.Time.Sub(earlier.Time)
	if dt <= 0 || s.CPUNanos < earlier.CPUNanos {
		return 0
	}
	return float64(s.CPUNanos-earlier.CPUNanos) / float64(dt.Nanoseconds()) * 100
}

// Sample reads a running container's counters.
func (e *Engine) Sample(ref string) (StatsSample, error) {
	rec, cg, err := e.runningCgroup(ref)
	if err != nil {
		return StatsSample{}, err
	}
	st, err := cg.Stats()
	if err != nil {
		return StatsSample{}, fmt.Errorf("read the counters of container %s: %w", rec.Name, err)
	}
	s := StatsSample{ID: rec.ID, Name: rec.Name, Time: time.Now(), CPUNanos: st.CPU.Usage.Total,
		MemUsage: st.Memory.Usage.Usage, Pids: st.Pids.Current}
	// The kernel reports "no limit" as a huge page-rounded number.
	if l := st.Memory.Usage.Limit; l < math.MaxInt64/2 {
		s.MemLimit = l
	}
	return s, nil
}
