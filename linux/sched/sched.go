// Package sched applies process.scheduler (runtime-spec 1.2) with
// sched_setattr(2): the policy, nice value, static priority, flags and the
// SCHED_DEADLINE runtime/deadline/period of the container's process.
//
// The runtime checks the setting with FromSpec when it loads config.json, so a
// bad value fails `create` (or `exec`) with the field named, and the init
// applies it right before it reports ready, as runc does.
package sched

import (
	"errors"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Policy numbers of sched(7); SCHED_ISO is reserved by Linux and refused by it.
var policies = map[specs.LinuxSchedulerPolicy]uint32{
	specs.SchedOther:    0,
	specs.SchedFIFO:     1,
	specs.SchedRR:       2,
	specs.SchedBatch:    3,
	specs.SchedISO:      4,
	specs.SchedIdle:     5,
	specs.SchedDeadline: 6,
}

var flags = map[specs.LinuxSchedulerFlag]uint64{
	specs.SchedFlagResetOnFork:  unix.SCHED_FLAG_RESET_ON_FORK,
	specs.SchedFlagReclaim:      unix.SCHED_FLAG_RECLAIM,
	specs.SchedFlagDLOverrun:    unix.SCHED_FLAG_DL_OVERRUN,
	specs.SchedFlagKeepPolicy:   unix.SCHED_FLAG_KEEP_POLICY,
	specs.SchedFlagKeepParams:   unix.SCHED_FLAG_KEEP_PARAMS,
	specs.SchedFlagUtilClampMin: unix.SCHED_FLAG_UTIL_CLAMP_MIN,
	specs.SchedFlagUtilClampMax: unix.SCHED_FLAG_UTIL_CLAMP_MAX,
}

// FromSpec checks s as runc does and returns the sched_attr to set; nil for
// a nil s.
func FromSpec(s *specs.Scheduler) (*unix.SchedAttr, error) {
	if s == nil {
		return nil, nil
	}
	if s.Policy == "" {
		return nil, errors.New("process.scheduler.policy is required: use SCHED_OTHER, SCHED_BATCH, SCHED_IDLE, SCHED_FIFO, SCHED_RR or SCHED_DEADLINE")
	}
	policy, ok := policies[s.Policy]
	if !ok {
		return nil, fmt.Errorf("process.scheduler.policy %q is unknown: use SCHED_OTHER, SCHED_BATCH, SCHED_IDLE, SCHED_FIFO, SCHED_RR or SCHED_DEADLINE", s.Policy)
	}
	if (s.Policy == specs.SchedOther || s.Policy == specs.SchedBatch) && (s.Nice < -20 || s.Nice > 19) {
		return nil, fmt.Errorf("process.scheduler.nice %d is outside -20..19 for policy %s", s.Nice, s.Policy)
	}
	if s.Priority != 0 && s.Policy != specs.SchedFIFO && s.Policy != specs.SchedRR {
		return nil, fmt.Errorf("process.scheduler.priority is only for SCHED_FIFO and SCHED_RR, not %s: remove it", s.Policy)
	}
	if (s.Policy == specs.SchedFIFO || s.Policy == specs.SchedRR) && (s.Priority < 1 || s.Priority > 99) {
		return nil, fmt.Errorf("process.scheduler.priority %d is outside 1..99 for policy %s", s.Priority, s.Policy)
	}
	if s.Policy != specs.SchedDeadline && (s.Runtime != 0 || s.Deadline != 0 || s.Period != 0) {
		return nil, fmt.Errorf("process.scheduler.runtime/deadline/period are only for SCHED_DEADLINE, not %s: remove them", s.Policy)
	}
	attr := &unix.SchedAttr{
		Size:     unix.SizeofSchedAttr,
		Policy:   policy,
		Nice:     s.Nice,
		Priority: uint32(s.Priority),
		Runtime:  s.Runtime,
		Deadline: s.Deadline,
		Period:   s.Period,
	}
	for _, f := range s.Flags {
		v, ok := flags[f]
		if !ok {
			return nil, fmt.Errorf("process.scheduler.flags: %q is unknown: use SCHED_FLAG_RESET_ON_FORK, SCHED_FLAG_RECLAIM, SCHED_FLAG_DL_OVERRUN, SCHED_FLAG_KEEP_POLICY, SCHED_FLAG_KEEP_PARAMS, SCHED_FLAG_UTIL_CLAMP_MIN or SCHED_FLAG_UTIL_CLAMP_MAX", f)
		}
		attr.Flags |= v
	}
	return attr, nil
}

// Apply sets s on the calling thread, which becomes the container's process
// at execve (the init runs locked to one thread).
func Apply(s *specs.Scheduler) error {
	attr, err := FromSpec(s)
	if err != nil || attr == nil {
		return err
	}
	if err := unix.SchedSetAttr(0, attr, 0); err != nil {
		hint := ""
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EBUSY) {
			hint = " (a real-time or deadline policy needs CAP_SYS_NICE and bandwidth the kernel admits: with cgroup v1 real-time group scheduling, set linux.resources.cpu.realtimeRuntime; SCHED_DEADLINE needs a cgroup with all CPUs)"
		}
		return fmt.Errorf("process.scheduler: sched_setattr policy %s: %w%s", s.Policy, err, hint)
	}
	return nil
}
