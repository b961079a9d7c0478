package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/linux/explain"
)

// v2Manager drives one cgroup in a cgroup2 tree.
type v2Manager struct {
	mount string
	dir   string
	rec   explain.Recorder // nil: explain off
}

func newV2(h hierarchy, rel string) *v2Manager {
	return &v2Manager{mount: h.Mountpoint, dir: resolve(h, rel)}
}

func (m *v2Manager) Path(controller string) string {
	if controller == "" {
		return m.dir
	}
	return ""
}

func (m *v2Manager) Create(res *specs.LinuxResources) error {
	if err := validateResources(res); err != nil {
		return err
	}
	if _, err := mkdirAll(m.rec, m.mount, m.dir); err != nil {
		return err
	}
	if err := m.enableControllers(); err != nil {
		return err
	}
	return m.apply(res)
}

// enableControllers turns on, in each ancestor's cgroup.subtree_control,
// every controller that ancestor has, so the container's cgroup gets its
// control files. Controllers are enabled one by one: one that cannot be
// enabled (say, an ancestor with processes of its own, which cgroup2's
// no-internal-process rule forbids) must not block the others. A limit that
// then needs a missing controller fails in apply with the file's name.
func (m *v2Manager) enableControllers() error {
	rel, err := filepath.Rel(m.mount, m.dir)
	if err != nil {
		return err
	}
	cur := m.mount
	for _, part := range strings.Split(rel, "/") {
		avail, err := readFile(cur, "cgroup.controllers")
		if err != nil {
			return fmt.Errorf("read controllers of %s: %w", cur, err)
		}
		enabled, err := readFile(cur, "cgroup.subtree_control")
		if err != nil {
			return fmt.Errorf("read subtree_control of %s: %w", cur, err)
		}
		on := strings.Fields(enabled)
		for _, c := range strings.Fields(avail) {
			if !contains(on, c) {
				_ = writeFile(m.rec, cur, "cgroup.subtree_control", "+"+c) // best effort, see above
			}
		}
		cur = filepath.Join(cur, part)
	}
	return nil
}

func (m *v2Manager) Update(res *specs.LinuxResources) error {
	if err := validateResources(res); err != nil {
		return err
	}
	return m.apply(res)
}

// write is writeFile with a hint when the control file is missing: in cgroup2
// that means the controller is not enabled for this cgroup.
func (m *v2Manager) write(name, value string) error {
	err := writeFile(m.rec, m.dir, name, value)
	if errors.Is(err, os.ErrNotExist) {
		ctrl, _, _ := strings.Cut(name, ".")
		return fmt.Errorf("%w: the cgroup2 %q controller is not available for %s (not in the parent's cgroup.subtree_control; on a hybrid host v2 has no controllers)", err, ctrl, m.dir)
	}
	return err
}

func (m *v2Manager) apply(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	return applySteps(r, m.setMemory, m.setCPU, m.setPids, m.setIO, m.setHugetlb, m.setNetwork, m.setRdma, m.setUnified, m.setDevices)
}

func (m *v2Manager) setMemory(r *specs.LinuxResources) error {
	mem := r.Memory
	if mem == nil {
		return nil
	}
	if err := checkBeforeUpdate(mem, m.dir, "memory.current"); err != nil {
		return err
	}
	limit, swap := val(mem.Limit), val(mem.Swap)
	if swap != 0 || (limit == -1 && fileExists(m.dir, "memory.swap.max")) {
		if swap > 0 && limit == 0 {
			// Update of swap alone: v2 swap is swap only, so it depends on the
			// memory limit in force.
			cur, err := readFile(m.dir, "memory.max")
			if err != nil {
				return fmt.Errorf("memory.swap without memory.limit: %w", err)
			}
			if cur != "max" {
				if limit, err = strconv.ParseInt(cur, 10, 64); err != nil {
					return fmt.Errorf("parse %s/memory.max %q: %w", m.dir, cur, err)
				}
			}
		}
		v, err := swapV2(swap, limit)
		if err != nil {
			return err
		}
		if v != "max" || fileExists(m.dir, "memory.swap.max") { // no swap: unlimited is a no-op
			if err := m.write("memory.swap.max", v); err != nil {
				return err
			}
		}
	}
	if limit != 0 {
		if err := m.write("memory.max", maxOr(limit)); err != nil {
			return err
		}
	}
	if v := val(mem.Reservation); v != 0 {
		if err := m.write("memory.low", maxOr(v)); err != nil {
			return err
		}
	}
	// swappiness, disableOOMKiller and kernel limits have no cgroup2 file;
	// runc ignores them on v2 and so does kago.
	return nil
}

// swapV2 converts OCI memory.swap (memory+swap, the v1 meaning) to cgroup2
// memory.swap.max (swap alone), as runc does.
func swapV2(swap, limit int64) (string, error) {
	if limit == -1 && swap == 0 {
		return "max", nil
	}
	if swap == -1 {
		return "max", nil
	}
	if limit <= 0 {
		return "", fmt.Errorf("memory.swap %d needs a memory.limit: set one or use swap -1", swap)
	}
	if swap < limit {
		return "", fmt.Errorf("memory.swap %d is below memory.limit %d: swap is the memory+swap total", swap, limit)
	}
	return strconv.FormatInt(swap-limit, 10), nil
}

func maxOr(v int64) string {
	if v < 0 {
		return "max"
	}
	return strconv.FormatInt(v, 10)
}

func (m *v2Manager) setCPU(r *specs.LinuxResources) error {
	c := r.CPU
	if c == nil {
		return nil
	}
	if w := cpuSharesToWeight(uval(c.Shares)); w != 0 {
		if err := m.write("cpu.weight", strconv.FormatUint(w, 10)); err != nil {
			return err
		}
	}
	if val(c.Quota) != 0 || uval(c.Period) != 0 {
		// cpu.max holds both numbers; keep the one not being changed.
		cur, err := readFile(m.dir, "cpu.max")
		if err != nil {
			return m.write("cpu.max", "") // reports the missing controller
		}
		quota, period, _ := strings.Cut(cur, " ")
		if c.Quota != nil && *c.Quota != 0 {
			quota = maxOr(*c.Quota)
		}
		if c.Period != nil && *c.Period != 0 {
			period = strconv.FormatUint(*c.Period, 10)
		}
		if err := m.write("cpu.max", quota+" "+period); err != nil {
			return err
		}
	}
	if c.Burst != nil {
		if err := m.write("cpu.max.burst", strconv.FormatUint(*c.Burst, 10)); err != nil {
			return err
		}
	}
	if c.Idle != nil {
		if err := m.write("cpu.idle", strconv.FormatInt(*c.Idle, 10)); err != nil {
			return err
		}
	}
	if val(c.RealtimeRuntime) != 0 || uval(c.RealtimePeriod) != 0 {
		return errors.New("linux.resources.cpu.realtimeRuntime/realtimePeriod need cgroup v1 (cgroup2 has no realtime group scheduling): remove them")
	}
	if c.Cpus != "" || c.Mems != "" {
		if err := writeCpuset(m.write, c); err != nil {
			return err
		}
	}
	return nil
}

func (m *v2Manager) setPids(r *specs.LinuxResources) error {
	if r.Pids == nil || r.Pids.Limit == nil {
		return nil
	}
	return m.write("pids.max", pidsMax(*r.Pids.Limit))
}

func (m *v2Manager) setIO(r *specs.LinuxResources) error {
	b := r.BlockIO
	if b == nil {
		return nil
	}
	// With BFQ the v1 weight range is used as is; io.weight wants 1..10000.
	bfq := fileExists(m.dir, "io.bfq.weight")
	if b.Weight != nil && *b.Weight != 0 {
		var err error
		if bfq {
			err = m.write("io.bfq.weight", strconv.Itoa(int(*b.Weight)))
		} else {
			err = m.write("io.weight", "default "+strconv.FormatUint(blkioWeightToIOWeight(*b.Weight), 10))
		}
		if err != nil {
			return err
		}
	}
	for _, d := range b.WeightDevice {
		if d.Weight == nil {
			continue
		}
		var err error
		if bfq {
			err = m.write("io.bfq.weight", fmt.Sprintf("%d:%d %d", d.Major, d.Minor, *d.Weight))
		} else {
			err = m.write("io.weight", fmt.Sprintf("%d:%d %d", d.Major, d.Minor, blkioWeightToIOWeight(*d.Weight)))
		}
		if err != nil {
			return err
		}
	}
	for _, t := range throttles(b) {
		for _, d := range t.devs {
			rate := "max" // 0 removes the limit, as in v1
			if d.Rate != 0 {
				rate = strconv.FormatUint(d.Rate, 10)
			}
			if err := m.write("io.max", fmt.Sprintf("%d:%d %s=%s", d.Major, d.Minor, t.v2Key, rate)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (m *v2Manager) setHugetlb(r *specs.LinuxResources) error {
	if len(r.HugepageLimits) == 0 {
		return nil
	}
	if err := writeHugetlb(m.rec, m.dir, r.HugepageLimits, "max"); err != nil {
		return fmt.Errorf("%w (is the cgroup2 hugetlb controller enabled?)", err)
	}
	return nil
}

func (m *v2Manager) setUnified(r *specs.LinuxResources) error {
	for k, v := range r.Unified {
		if err := checkUnifiedKey(k); err != nil {
			return err
		}
		if err := m.write(k, v); err != nil {
			return fmt.Errorf("unified %q: %w", k, err)
		}
	}
	return nil
}

func (m *v2Manager) setDevices(r *specs.LinuxResources) error {
	if len(r.Devices) == 0 {
		return nil
	}
	return setDeviceFilter(m.rec, m.dir, r.Devices)
}

func (m *v2Manager) Join(pid int) error {
	if pid <= 0 {
		return fmt.Errorf("join cgroup: invalid pid %d", pid)
	}
	if err := writeFile(m.rec, m.dir, "cgroup.procs", strconv.Itoa(pid)); err != nil {
		return fmt.Errorf("join pid %d: %w", pid, err)
	}
	return nil
}

func (m *v2Manager) Freeze() error { return m.setFrozen(true) }
func (m *v2Manager) Thaw() error   { return m.setFrozen(false) }

// setFrozen writes cgroup.freeze and waits for cgroup.events to report the
// result: the write only starts freezing, the kernel finishes asynchronously.
func (m *v2Manager) setFrozen(frozen bool) error {
	want := "0"
	if frozen {
		want = "1"
	}
	if err := m.write("cgroup.freeze", want); err != nil {
		return err
	}
	return pollUntil(freezeTimeout, "wait for "+m.dir+" frozen="+want, func() (bool, error) {
		kv, err := readKeyValues(m.dir, "cgroup.events")
		if err != nil {
			return false, err
		}
		return strconv.FormatUint(kv["frozen"], 10) == want, nil
	})
}

func (m *v2Manager) FreezerState() (string, error) {
	kv, err := readKeyValues(m.dir, "cgroup.events")
	if err != nil {
		return "", fmt.Errorf("read freezer state: %w", err)
	}
	if kv["frozen"] == 1 {
		return Frozen, nil
	}
	return Thawed, nil
}

func (m *v2Manager) Pids() ([]int, error) { return readPids(m.dir) }

func (m *v2Manager) Destroy() error { return removeTree(m.dir) }

func (m *v2Manager) OOMKillCount() (uint64, error) {
	kv, err := readKeyValues(m.dir, "memory.events")
	if err != nil {
		return 0, fmt.Errorf("read oom kills (is the cgroup2 memory controller enabled?): %w", err)
	}
	return kv["oom_kill"], nil
}

func (m *v2Manager) Kill() error {
	if err := m.write("cgroup.kill", "1"); err != nil {
		return fmt.Errorf("kill cgroup (needs Linux 5.14 or later): %w", err)
	}
	return nil
}

// OpenForClone opens the cgroup's directory for clone3's CLONE_INTO_CGROUP
// (Go's SysProcAttr.UseCgroupFD): a process cloned with it is born in the
// cgroup, so nothing moves it there afterwards, and the move's cost — the
// cgroup_threadgroup_rwsem write lock and the RCU grace period its first
// writer waits for — is never paid. Create must have made the cgroup.
func (m *v2Manager) OpenForClone() (*os.File, error) {
	f, err := os.OpenFile(m.dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open cgroup %s for clone: %w", m.dir, err)
	}
	return f, nil
}
