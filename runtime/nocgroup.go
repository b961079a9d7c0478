package runtime

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/linux/cgroups"
)

// A rootless container whose user cannot write any cgroup runs without one,
// as runc's rootless mode does: the limits are not applied, and verbs that
// need a cgroup (pause, update, events) say so. Processes are then found by
// the container's PID namespace instead of its cgroup.

// errNoCgroup is what the cgroup-only verbs of such a container return.
var errNoCgroup = errors.New("the container has no cgroup: it was created by an unprivileged user without a writable (delegated) cgroup; delegate one to the user (for example systemd-run --user --scope -p Delegate=yes) and set linux.cgroupsPath under it")

// skipCgroup decides whether create may go on without a cgroup after err: only
// in rootless mode (see Runtime.Rootless) when the kernel denied the cgroup,
// and only if the config sets no limits that would then silently not apply.
func (r *Runtime) skipCgroup(err error, spec *specs.Spec) error {
	if !r.rootless() || !(errors.Is(err, fs.ErrPermission) || errors.Is(err, unix.EROFS)) {
		return err
	}
	if hasLimits(spec.Linux.Resources) {
		return fmt.Errorf("linux.resources sets limits, but user %d cannot write a cgroup to apply them (%w): delegate a cgroup to the user and set linux.cgroupsPath under it, or remove linux.resources (kago-runc spec --rootless has none)", os.Geteuid(), err)
	}
	return nil
}

// rootless applies Runtime.Rootless.
func (r *Runtime) rootless() bool {
	switch r.Rootless {
	case "true":
		return true
	case "false":
		return false
	}
	return os.Geteuid() != 0
}

// hasLimits reports whether res limits anything besides device access
// (device rules mean nothing to a user who cannot create device nodes).
func hasLimits(res *specs.LinuxResources) bool {
	if res == nil {
		return false
	}
	r := *res
	r.Devices = nil
	return r.Memory != nil || r.CPU != nil || r.Pids != nil || r.BlockIO != nil ||
		len(r.HugepageLimits) != 0 || r.Network != nil || len(r.Rdma) != 0 || len(r.Unified) != 0
}

// noCgroup is the cgroups.Manager of a container without a cgroup.
type noCgroup struct{ initPid int }

var _ cgroups.Manager = noCgroup{}

func (noCgroup) Create(*specs.LinuxResources) error { return nil }
func (noCgroup) Join(int) error                     { return nil }
func (noCgroup) Update(*specs.LinuxResources) error { return errNoCgroup }
func (noCgroup) Freeze() error                      { return errNoCgroup }
func (noCgroup) Thaw() error                        { return errNoCgroup }
func (noCgroup) FreezerState() (string, error)      { return cgroups.Thawed, nil }
func (noCgroup) Stats() (*cgroups.Stats, error)     { return nil, errNoCgroup }
func (noCgroup) OOMKillCount() (uint64, error)      { return 0, errNoCgroup }
func (noCgroup) Destroy() error                     { return nil }
func (noCgroup) Path(string) string                 { return "" }
func (noCgroup) WaitOOM(context.Context) (<-chan struct{}, error) {
	return nil, errNoCgroup
}

// Pids lists the processes in init's PID namespace (init alone if it
// shares the caller's).
func (m noCgroup) Pids() ([]int, error) {
	if m.initPid <= 0 {
		return nil, nil
	}
	initNS, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", m.initPid))
	if err != nil {
		return nil, nil // init is gone
	}
	if self, err := os.Readlink("/proc/self/ns/pid"); err != nil || self == initNS {
		return []int{m.initPid}, nil
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ns, err := os.Readlink("/proc/" + e.Name() + "/ns/pid"); err == nil && ns == initNS {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// Kill sends SIGKILL to every process found by Pids.
func (m noCgroup) Kill() error {
	pids, err := m.Pids()
	if err != nil {
		return err
	}
	var errs []error
	for _, pid := range pids {
		if err := unix.Kill(pid, unix.SIGKILL); err != nil && err != unix.ESRCH {
			errs = append(errs, fmt.Errorf("kill %d: %w", pid, err))
		}
	}
	return errors.Join(errs...)
}

// noCgroupNote is kept in the log once per create.
func noCgroupNote(err error) string {
	return strings.TrimSpace("running without a cgroup, so no limits apply and pause/update/events are unavailable: " + err.Error())
}

// createCgroup makes the container's cgroup with the config's limits. An
// unprivileged caller the kernel refuses (and whose config sets no limits)
// gets noCgroup instead, recorded in rec, and a warning in the log.
//
// An unprivileged caller's cgroup gets no device rules: the kernel lets
// only CAP_SYS_ADMIN in the initial user namespace set them (v1 devices.allow,
// v2 device programs), and such a container cannot create device nodes anyway.
func (r *Runtime) createCgroup(cg cgroups.Manager, spec *specs.Spec, rec *record, initPid int) (cgroups.Manager, error) {
	res := withDeviceRules(spec)
	if os.Geteuid() != 0 {
		res.Devices = nil
	}
	err := cg.Create(res)
	if err == nil {
		return cg, nil
	}
	cg.Destroy()
	if skipErr := r.skipCgroup(err, spec); skipErr != nil {
		return nil, fmt.Errorf("cgroup: %w", skipErr)
	}
	r.Log.Warn(noCgroupNote(err), "id", rec.ID)
	rec.NoCgroup = true
	return noCgroup{initPid: initPid}, nil
}
