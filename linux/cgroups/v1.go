package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/linux/explain"
)

// freezeTimeout bounds Freeze and Thaw: a cgroup that cannot freeze within it
// (a task stuck in an uninterruptible sleep) is reported, not waited on forever.
const freezeTimeout = 10 * time.Second

// v1Dir is the container's directory in one v1 tree.
type v1Dir struct {
	controllers []string
	mount       string
	dir         string
}

// v1Manager drives one cgroup in each v1 tree, and on a hybrid host also a
// cgroup in the unified tree so that the container's processes are tracked
// there too (systemd and eBPF tools look at it).
type v1Manager struct {
	dirs    []v1Dir
	unified *v2Manager       // nil on a pure v1 host
	rec     explain.Recorder // nil: explain off
}

func newV1(l *layout, rel string) *v1Manager {
	m := &v1Manager{}
	for _, h := range l.V1 {
		m.dirs = append(m.dirs, v1Dir{controllers: h.Controllers, mount: h.Mountpoint, dir: resolve(h, rel)})
	}
	if l.Mode == ModeHybrid && l.Unified != nil {
		m.unified = newV2(*l.Unified, rel)
	}
	return m
}

func (m *v1Manager) Path(controller string) string {
	if controller == "" {
		if m.unified != nil {
			return m.unified.dir
		}
		return ""
	}
	for _, d := range m.dirs {
		if contains(d.controllers, controller) {
			return d.dir
		}
	}
	return ""
}

// need returns the dir of a controller a resource needs, or an error saying
// which spec field cannot be honoured on this host.
func (m *v1Manager) need(controller, field string) (string, error) {
	if p := m.Path(controller); p != "" {
		return p, nil
	}
	return "", fmt.Errorf("linux.resources.%s needs the cgroup v1 %q controller, which is not mounted on this host: mount it or remove the field", field, controller)
}

func (m *v1Manager) Create(res *specs.LinuxResources) error {
	if err := validateResources(res); err != nil {
		return err
	}
	for _, d := range m.dirs {
		if _, err := mkdirAll(m.rec, d.mount, d.dir); err != nil {
			return err
		}
		if contains(d.controllers, "cpuset") {
			if err := initCpuset(m.rec, d.mount, d.dir); err != nil {
				return err
			}
		}
	}
	if m.unified != nil {
		if _, err := mkdirAll(m.rec, m.unified.mount, m.unified.dir); err != nil {
			return err
		}
	}
	return m.apply(res)
}

// initCpuset copies cpuset.cpus and cpuset.mems from the parent into each
// level below mount that has none: a new v1 cpuset cgroup starts empty, and
// no process can join a cpuset without CPUs.
func initCpuset(rec explain.Recorder, mount, dir string) error {
	rel, err := filepath.Rel(mount, dir)
	if err != nil {
		return err
	}
	parent := mount
	for _, part := range strings.Split(rel, "/") {
		cur := filepath.Join(parent, part)
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			v, err := readFile(cur, f)
			if err != nil {
				return fmt.Errorf("init cpuset %s: %w", cur, err)
			}
			if v != "" {
				continue
			}
			pv, err := readFile(parent, f)
			if err != nil {
				return fmt.Errorf("init cpuset %s: %w", cur, err)
			}
			if err := writeFile(rec, cur, f, pv); err != nil {
				return err
			}
		}
		parent = cur
	}
	return nil
}

func (m *v1Manager) Update(res *specs.LinuxResources) error {
	if err := validateResources(res); err != nil {
		return err
	}
	return m.apply(res)
}

func (m *v1Manager) apply(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	if len(r.Unified) > 0 {
		return errors.New("linux.resources.unified needs cgroup v2, but this host runs cgroup v1: move the settings to the v1 fields or remove them")
	}
	return applySteps(r, m.setMemory, m.setCPU, m.setCpuset, m.setPids, m.setBlkio, m.setHugetlb, m.setNetwork, m.setRdma, m.setDevices)
}

func (m *v1Manager) setMemory(r *specs.LinuxResources) error {
	mem := r.Memory
	if mem == nil || (mem.Limit == nil && mem.Swap == nil && mem.Reservation == nil && mem.Swappiness == nil &&
		mem.DisableOOMKiller == nil && mem.KernelTCP == nil) {
		return nil
	}
	dir, err := m.need("memory", "memory")
	if err != nil {
		return err
	}
	limit, swap := val(mem.Limit), val(mem.Swap)
	if err := checkBeforeUpdate(mem, dir, "memory.usage_in_bytes"); err != nil {
		return err
	}
	haveSwap := fileExists(dir, "memory.memsw.limit_in_bytes")
	if limit == -1 && swap == 0 && haveSwap {
		swap = -1 // unlimited memory means unlimited memory+swap too (runc)
	}
	if swap != 0 && !haveSwap {
		return fmt.Errorf("linux.resources.memory.swap is set but this kernel has no swap accounting (memory.memsw.*): remove it or boot with swapaccount=1")
	}
	// The kernel keeps memory.limit <= memory.memsw.limit at every step, so
	// the order of the two writes depends on whether the limit grows.
	swapFirst := false
	if limit != 0 && swap != 0 {
		cur, err := readInt(dir, "memory.limit_in_bytes")
		if err != nil {
			return err
		}
		swapFirst = swap == -1 || cur < swap
	}
	writeLimit := func() error {
		if limit == 0 {
			return nil
		}
		return writeFile(m.rec, dir, "memory.limit_in_bytes", strconv.FormatInt(limit, 10))
	}
	writeSwap := func() error {
		if swap == 0 {
			return nil
		}
		return writeFile(m.rec, dir, "memory.memsw.limit_in_bytes", strconv.FormatInt(swap, 10))
	}
	order := []func() error{writeLimit, writeSwap}
	if swapFirst {
		order = []func() error{writeSwap, writeLimit}
	}
	for _, w := range order {
		if err := w(); err != nil {
			return err
		}
	}
	if v := val(mem.Reservation); v != 0 {
		if err := writeFile(m.rec, dir, "memory.soft_limit_in_bytes", strconv.FormatInt(v, 10)); err != nil {
			return err
		}
	}
	if v := val(mem.KernelTCP); v != 0 {
		if err := writeFile(m.rec, dir, "memory.kmem.tcp.limit_in_bytes", strconv.FormatInt(v, 10)); err != nil {
			return err
		}
	}
	if mem.Swappiness != nil {
		if err := writeFile(m.rec, dir, "memory.swappiness", strconv.FormatUint(*mem.Swappiness, 10)); err != nil {
			return err
		}
	}
	if mem.DisableOOMKiller != nil {
		v := "0"
		if *mem.DisableOOMKiller {
			v = "1"
		}
		if err := writeFile(m.rec, dir, "memory.oom_control", v); err != nil {
			return err
		}
	}
	return nil
}

// checkBeforeUpdate implements memory.checkBeforeUpdate: refuse a new limit
// below what the cgroup already uses instead of letting the kernel OOM-kill.
func checkBeforeUpdate(mem *specs.LinuxMemory, dir, usageFile string) error {
	if mem.CheckBeforeUpdate == nil || !*mem.CheckBeforeUpdate || val(mem.Limit) <= 0 {
		return nil
	}
	usage, err := readUint(dir, usageFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil // not created yet: nothing in use
	}
	if err != nil {
		return err
	}
	if uint64(*mem.Limit) < usage {
		return fmt.Errorf("memory.limit %d is below the cgroup's current usage %d (checkBeforeUpdate is set): raise the limit", *mem.Limit, usage)
	}
	return nil
}

func (m *v1Manager) setCPU(r *specs.LinuxResources) error {
	c := r.CPU
	if c == nil || (c.Shares == nil && c.Quota == nil && c.Period == nil && c.Burst == nil &&
		c.RealtimeRuntime == nil && c.RealtimePeriod == nil && c.Idle == nil) {
		return nil
	}
	dir, err := m.need("cpu", "cpu")
	if err != nil {
		return err
	}
	if v := uval(c.Shares); v != 0 {
		if err := writeFile(m.rec, dir, "cpu.shares", strconv.FormatUint(v, 10)); err != nil {
			return err
		}
	}
	// A period shorter than the current quota allows may be refused until the
	// quota is lowered, so on failure write the quota first and retry.
	period, quota := uval(c.Period), val(c.Quota)
	writePeriod := func() error {
		if period == 0 {
			return nil
		}
		return writeFile(m.rec, dir, "cpu.cfs_period_us", strconv.FormatUint(period, 10))
	}
	writeQuota := func() error {
		if quota == 0 {
			return nil
		}
		return writeFile(m.rec, dir, "cpu.cfs_quota_us", strconv.FormatInt(quota, 10))
	}
	if err := writePeriod(); err != nil {
		if qerr := writeQuota(); qerr != nil {
			return errors.Join(err, qerr)
		}
		if err := writePeriod(); err != nil {
			return err
		}
	} else if err := writeQuota(); err != nil {
		return err
	}
	if c.Burst != nil {
		if err := writeFile(m.rec, dir, "cpu.cfs_burst_us", strconv.FormatUint(*c.Burst, 10)); err != nil {
			return err
		}
	}
	if v := uval(c.RealtimePeriod); v != 0 {
		if err := writeFile(m.rec, dir, "cpu.rt_period_us", strconv.FormatUint(v, 10)); err != nil {
			return err
		}
	}
	if c.RealtimeRuntime != nil && *c.RealtimeRuntime != 0 {
		if err := writeFile(m.rec, dir, "cpu.rt_runtime_us", strconv.FormatInt(*c.RealtimeRuntime, 10)); err != nil {
			return err
		}
	}
	if c.Idle != nil {
		if err := writeFile(m.rec, dir, "cpu.idle", strconv.FormatInt(*c.Idle, 10)); err != nil {
			return err
		}
	}
	return nil
}

func (m *v1Manager) setCpuset(r *specs.LinuxResources) error {
	if r.CPU == nil || (r.CPU.Cpus == "" && r.CPU.Mems == "") {
		return nil
	}
	dir, err := m.need("cpuset", "cpu.cpus")
	if err != nil {
		return err
	}
	return writeCpuset(func(name, value string) error { return writeFile(m.rec, dir, name, value) }, r.CPU)
}

// writeCpuset is shared by v1 and v2: the files have the same names.
func writeCpuset(write func(name, value string) error, c *specs.LinuxCPU) error {
	if c.Cpus != "" {
		if err := write("cpuset.cpus", c.Cpus); err != nil {
			return err
		}
	}
	if c.Mems != "" {
		if err := write("cpuset.mems", c.Mems); err != nil {
			return err
		}
	}
	return nil
}

func (m *v1Manager) setPids(r *specs.LinuxResources) error {
	if r.Pids == nil || r.Pids.Limit == nil {
		return nil
	}
	dir, err := m.need("pids", "pids")
	if err != nil {
		return err
	}
	return writeFile(m.rec, dir, "pids.max", pidsMax(*r.Pids.Limit))
}

// pidsMax renders pids.limit: positive is a limit, 0 and -1 mean unlimited
// (runc treats 0 as "no limit" too).
func pidsMax(limit int64) string {
	if limit > 0 {
		return strconv.FormatInt(limit, 10)
	}
	return "max"
}

func (m *v1Manager) setBlkio(r *specs.LinuxResources) error {
	b := r.BlockIO
	if b == nil || (b.Weight == nil && len(b.WeightDevice) == 0 && len(b.ThrottleReadBpsDevice) == 0 &&
		len(b.ThrottleWriteBpsDevice) == 0 && len(b.ThrottleReadIOPSDevice) == 0 && len(b.ThrottleWriteIOPSDevice) == 0) {
		return nil
	}
	dir, err := m.need("blkio", "blockIO")
	if err != nil {
		return err
	}
	// CFQ is gone from current kernels; BFQ exposes the same knobs with a
	// "bfq." prefix. Use whichever this kernel has.
	weightFile, weightDevFile := "blkio.weight", "blkio.weight_device"
	if !fileExists(dir, weightFile) {
		weightFile, weightDevFile = "blkio.bfq.weight", "blkio.bfq.weight_device"
	}
	if b.Weight != nil && *b.Weight != 0 {
		if !fileExists(dir, weightFile) {
			return fmt.Errorf("linux.resources.blockIO.weight needs the CFQ or BFQ I/O scheduler (no blkio.weight or blkio.bfq.weight in %s): remove it or switch the disk to bfq", dir)
		}
		if err := writeFile(m.rec, dir, weightFile, strconv.Itoa(int(*b.Weight))); err != nil {
			return err
		}
	}
	for _, d := range b.WeightDevice {
		if d.Weight == nil {
			continue
		}
		if err := writeFile(m.rec, dir, weightDevFile, fmt.Sprintf("%d:%d %d", d.Major, d.Minor, *d.Weight)); err != nil {
			return err
		}
	}
	for _, t := range throttles(b) {
		for _, d := range t.devs {
			if err := writeFile(m.rec, dir, t.v1File, fmt.Sprintf("%d:%d %d", d.Major, d.Minor, d.Rate)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (m *v1Manager) setHugetlb(r *specs.LinuxResources) error {
	if len(r.HugepageLimits) == 0 {
		return nil
	}
	dir, err := m.need("hugetlb", "hugepageLimits")
	if err != nil {
		return err
	}
	return writeHugetlb(m.rec, dir, r.HugepageLimits, "limit_in_bytes")
}

// writeHugetlb sets the usage limit and, where the kernel has them, the
// reservation limit too, as the spec asks ("default to reservation limits if
// supported").
func writeHugetlb(rec explain.Recorder, dir string, limits []specs.LinuxHugepageLimit, suffix string) error {
	for _, h := range limits {
		v := strconv.FormatUint(h.Limit, 10)
		if err := writeFile(rec, dir, "hugetlb."+h.Pagesize+"."+suffix, v); err != nil {
			return fmt.Errorf("hugepage size %s: %w", h.Pagesize, err)
		}
		rsvd := "hugetlb." + h.Pagesize + ".rsvd." + suffix
		if fileExists(dir, rsvd) {
			if err := writeFile(rec, dir, rsvd, v); err != nil {
				return err
			}
		}
	}
	return nil
}

func (m *v1Manager) setDevices(r *specs.LinuxResources) error {
	if len(r.Devices) == 0 {
		return nil
	}
	dir, err := m.need("devices", "devices")
	if err != nil {
		return err
	}
	for _, l := range v1DeviceLines(r.Devices) {
		err := writeFile(m.rec, dir, l[0], l[1])
		if err != nil && l == [2]string{"devices.deny", "a *:* rwm"} && errors.Is(err, unix.EINVAL) {
			// The kernel refuses a whole-list change in a cgroup that has
			// child cgroups (a container running systemd, say). If the list
			// is already deny-by-default, revoking each allowed entry is the
			// same thing.
			err = denyEach(m.rec, dir, err)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// denyEach revokes every entry of devices.list, which works where "deny all"
// is refused; it returns cause if the list allows everything, because that
// default cannot be changed while child cgroups exist.
func denyEach(rec explain.Recorder, dir string, cause error) error {
	list, err := readFile(dir, "devices.list")
	if err != nil {
		return errors.Join(cause, err)
	}
	for _, entry := range strings.Split(list, "\n") {
		if entry == "" {
			continue
		}
		if entry == "a *:* rwm" {
			return fmt.Errorf("%w: cannot switch %s from allow-all to deny-all while it has child cgroups", cause, dir)
		}
		if err := writeFile(rec, dir, "devices.deny", entry); err != nil {
			return err
		}
	}
	return nil
}

func (m *v1Manager) Join(pid int) error {
	if pid <= 0 {
		return fmt.Errorf("join cgroup: invalid pid %d", pid)
	}
	for _, d := range m.dirs {
		if err := writeFile(m.rec, d.dir, "cgroup.procs", strconv.Itoa(pid)); err != nil {
			return fmt.Errorf("join pid %d: %w", pid, err)
		}
	}
	if m.unified != nil {
		return m.unified.Join(pid)
	}
	return nil
}

// Freeze uses the v1 freezer, or on a hybrid host without one the unified
// tree's cgroup.freeze.
func (m *v1Manager) Freeze() error { return m.setFrozen(true) }
func (m *v1Manager) Thaw() error   { return m.setFrozen(false) }

func (m *v1Manager) setFrozen(frozen bool) error {
	dir := m.Path("freezer")
	if dir == "" {
		if m.unified != nil {
			return m.unified.setFrozen(frozen)
		}
		return errors.New("cannot freeze: no cgroup v1 freezer controller is mounted and there is no unified tree: mount the freezer controller")
	}
	want := "THAWED"
	if frozen {
		want = "FROZEN"
	}
	// Writing FROZEN again while the state is FREEZING restarts a freeze that
	// raced with a fork, which is why runc does it too.
	return pollUntil(freezeTimeout, "set "+dir+" to "+want, func() (bool, error) {
		if err := writeFile(nil, dir, "freezer.state", want); err != nil {
			return false, err
		}
		s, err := readFile(dir, "freezer.state")
		return s == want, err
	})
}

func (m *v1Manager) FreezerState() (string, error) {
	dir := m.Path("freezer")
	if dir == "" {
		if m.unified != nil {
			return m.unified.FreezerState()
		}
		return "", errors.New("no freezer: the cgroup v1 freezer controller is not mounted")
	}
	s, err := readFile(dir, "freezer.state")
	if err != nil {
		return "", fmt.Errorf("read freezer state: %w", err)
	}
	if s == "FROZEN" {
		return Frozen, nil
	}
	return Thawed, nil // THAWED, or FREEZING which is not paused yet
}

func (m *v1Manager) Pids() ([]int, error) {
	for _, c := range []string{"pids", "freezer", "devices", "memory", "cpu"} {
		if dir := m.Path(c); dir != "" {
			return readPids(dir)
		}
	}
	if len(m.dirs) > 0 {
		return readPids(m.dirs[0].dir)
	}
	return nil, errors.New("no cgroup v1 hierarchy to read pids from")
}

// Kill prefers the unified tree's cgroup.kill on a hybrid host (every
// process joined it too, and children inherit it). Otherwise the cgroup is
// frozen so nothing can fork between listing and signalling; a frozen v1
// task dies once thawed.
func (m *v1Manager) Kill() error {
	if m.unified != nil && fileExists(m.unified.dir, "cgroup.kill") {
		return m.unified.Kill()
	}
	if err := m.Freeze(); err == nil {
		defer m.Thaw()
	}
	pids, err := m.Pids()
	if err != nil {
		return fmt.Errorf("kill cgroup: %w", err)
	}
	var errs []error
	for _, pid := range pids {
		if err := unix.Kill(pid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("kill pid %d: %w", pid, err))
		}
	}
	return errors.Join(errs...)
}

func (m *v1Manager) Destroy() error {
	var errs []error
	for _, d := range m.dirs {
		errs = append(errs, removeTree(d.dir))
	}
	if m.unified != nil {
		errs = append(errs, m.unified.Destroy())
	}
	return errors.Join(errs...)
}

func (m *v1Manager) OOMKillCount() (uint64, error) {
	dir, err := m.need("memory", "memory")
	if err != nil {
		return 0, err
	}
	kv, err := readKeyValues(dir, "memory.oom_control")
	if err != nil {
		return 0, fmt.Errorf("read oom kills: %w", err)
	}
	return kv["oom_kill"], nil
}

func val(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

func uval(p *uint64) uint64 {
	if p == nil {
		return 0
	}
	return *p
}

func fileExists(dir, name string) bool {
	_, err := os.Stat(filepath.Join(dir, name))
	return err == nil
}

func readInt(dir, name string) (int64, error) {
	s, err := readFile(dir, name)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: parse %q: %w", filepath.Join(dir, name), s, err)
	}
	return v, nil
}
