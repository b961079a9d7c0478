package engine

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/kago-run/kago/linux/cgroups"
	"github.com/kago-run/kago/runtime"
)

// Proc is one process of a container, as top lists it (host PIDs).
type Proc struct {
	PID     int
	PPID    int
	Command string
}

func (e *Engine) runningCgroup(ref string) (name string, cg cgroups.Manager, err error) {
	rec, err := e.Lookup(ref)
	if err != nil {
		return "", nil, err
	}
	c, err := e.Runtime.Load(rec.ID)
	if err != nil || c.Status() != runtime.StatusRunning && c.Status() != runtime.StatusPaused {
		return rec.Name, nil, fmt.Errorf("container %s is not running", rec.Name)
	}
	cg, err = c.Cgroup()
	return rec.Name, cg, err
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

// Stats reads a running container's cgroup counters.
func (e *Engine) Stats(ref string) (string, *cgroups.Stats, error) {
	name, cg, err := e.runningCgroup(ref)
	if err != nil {
		return name, nil, err
	}
	st, err := cg.Stats()
	return name, st, err
}
