package engine

import (
	"github.com/kago-run/kago/engine/containers"
)

// ExplainTarget returns what `kago explain` reads of a running container:
// its record (network endpoint, published ports), the host pid of its init
// and the pids in its cgroup.
func (e *Engine) ExplainTarget(ref string) (rec *containers.Record, initPid int, pids []int, err error) {
	rec, cg, err := e.runningCgroup(ref)
	if err != nil {
		return nil, 0, nil, err
	}
	c, err := e.runtime.Load(rec.ID)
	if err != nil {
		return nil, 0, nil, err
	}
	pids, err = cg.Pids()
	return rec, c.Pid(), pids, err
}
