package cgroups

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// userHZ is the unit of cpuacct.stat (USER_HZ is 100 on every Linux ABI).
const userHZ = 100

// statsReader collects the first error other than "file does not exist":
// a controller that is not mounted or not enabled just leaves its part of
// Stats zero, as in runc.
type statsReader struct{ err error }

func (r *statsReader) keep(err error) bool {
	if err == nil {
		return true
	}
	if !errors.Is(err, os.ErrNotExist) && r.err == nil {
		r.err = err
	}
	return false
}

func (r *statsReader) uint(dir, name string) uint64 {
	if dir == "" {
		return 0
	}
	v, err := readUint(dir, name)
	r.keep(err)
	return v
}

func (r *statsReader) kv(dir, name string) map[string]uint64 {
	if dir == "" {
		return nil
	}
	kv, err := readKeyValues(dir, name)
	r.keep(err)
	return kv
}

func (m *v1Manager) Stats() (*Stats, error) {
	var r statsReader
	s := &Stats{}
	for _, d := range m.dirs {
		if _, err := os.Stat(d.dir); err != nil {
			return nil, fmt.Errorf("read cgroup stats: %w", err)
		}
	}
	if dir := m.Path("cpuacct"); dir != "" {
		s.CPU.Usage.Total = r.uint(dir, "cpuacct.usage")
		if b, err := os.ReadFile(filepath.Join(dir, "cpuacct.usage_percpu")); r.keep(err) {
			for _, f := range strings.Fields(string(b)) {
				if v, err := strconv.ParseUint(f, 10, 64); err == nil {
					s.CPU.Usage.Percpu = append(s.CPU.Usage.Percpu, v)
				}
			}
		}
		if fileExists(dir, "cpuacct.usage_user") {
			s.CPU.Usage.User = r.uint(dir, "cpuacct.usage_user")
			s.CPU.Usage.Kernel = r.uint(dir, "cpuacct.usage_sys")
		} else if kv := r.kv(dir, "cpuacct.stat"); kv != nil {
			s.CPU.Usage.User = kv["user"] * (1e9 / userHZ)
			s.CPU.Usage.Kernel = kv["system"] * (1e9 / userHZ)
		}
	}
	if kv := r.kv(m.Path("cpu"), "cpu.stat"); kv != nil {
		s.CPU.Throttling = Throttling{Periods: kv["nr_periods"], ThrottledPeriods: kv["nr_throttled"], ThrottledTime: kv["throttled_time"]}
	}
	if dir := m.Path("memory"); dir != "" {
		entry := func(prefix string) MemoryEntry {
			if !fileExists(dir, prefix+".usage_in_bytes") {
				return MemoryEntry{}
			}
			return MemoryEntry{
				Usage:   r.uint(dir, prefix+".usage_in_bytes"),
				Max:     r.uint(dir, prefix+".max_usage_in_bytes"),
				Failcnt: r.uint(dir, prefix+".failcnt"),
				Limit:   r.uint(dir, prefix+".limit_in_bytes"),
			}
		}
		s.Memory.Usage = entry("memory")
		s.Memory.Swap = entry("memory.memsw")
		s.Memory.Kernel = entry("memory.kmem")
		s.Memory.KernelTCP = entry("memory.kmem.tcp")
		s.Memory.Raw = r.kv(dir, "memory.stat")
		s.Memory.Cache = s.Memory.Raw["cache"]
	}
	if dir := m.Path("pids"); dir != "" {
		s.Pids = readPidsStats(&r, dir)
	}
	if dir := m.Path("blkio"); dir != "" {
		// CFQ's blkio.io_* files are gone from current kernels; the throttle
		// files count every I/O whether or not a limit is set.
		s.Blkio.IoServiceBytesRecursive = readBlkioV1(&r, dir, "blkio.throttle.io_service_bytes_recursive")
		s.Blkio.IoServicedRecursive = readBlkioV1(&r, dir, "blkio.throttle.io_serviced_recursive")
	}
	if dir := m.Path("hugetlb"); dir != "" {
		s.Hugetlb = readHugetlb(&r, dir, "usage_in_bytes", "max_usage_in_bytes", func(size string) uint64 {
			return r.uint(dir, "hugetlb."+size+".failcnt")
		})
	}
	if r.err != nil {
		return nil, fmt.Errorf("read cgroup stats: %w", r.err)
	}
	return s, nil
}

func readPidsStats(r *statsReader, dir string) Pids {
	p := Pids{Current: r.uint(dir, "pids.current"), Limit: r.uint(dir, "pids.max")}
	if p.Limit == math.MaxUint64 {
		p.Limit = 0 // runc reports "max" as 0
	}
	return p
}

// readBlkioV1 parses "major:minor Op value" lines; the trailing "Total N"
// line is skipped.
func readBlkioV1(r *statsReader, dir, name string) []BlkioEntry {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if !r.keep(err) {
		return nil
	}
	var out []BlkioEntry
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			continue
		}
		major, minor, ok := parseDevNum(f[0])
		v, err := strconv.ParseUint(f[2], 10, 64)
		if !ok || err != nil {
			continue
		}
		out = append(out, BlkioEntry{Major: major, Minor: minor, Op: f[1], Value: v})
	}
	return out
}

func parseDevNum(s string) (uint64, uint64, bool) {
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return 0, 0, false
	}
	major, err1 := strconv.ParseUint(a, 10, 32)
	minor, err2 := strconv.ParseUint(b, 10, 32)
	return major, minor, err1 == nil && err2 == nil
}

// hugePageSizes lists the huge page sizes the kernel supports, in the names
// cgroup files use ("2MB", "1GB").
func hugePageSizes() []string {
	entries, err := os.ReadDir("/sys/kernel/mm/hugepages")
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		kb, ok := strings.CutPrefix(e.Name(), "hugepages-")
		if !ok {
			continue
		}
		kb, ok = strings.CutSuffix(kb, "kB")
		n, err := strconv.ParseUint(kb, 10, 64)
		if !ok || err != nil {
			continue
		}
		out = append(out, hugePageName(n))
	}
	return out
}

// hugePageName renders a size in kB the way hugetlb cgroup files are named.
func hugePageName(kb uint64) string {
	units := []string{"KB", "MB", "GB", "TB"}
	i := 0
	for kb >= 1024 && kb%1024 == 0 && i < len(units)-1 {
		kb /= 1024
		i++
	}
	return strconv.FormatUint(kb, 10) + units[i]
}

func readHugetlb(r *statsReader, dir, usage, maxName string, failcnt func(size string) uint64) map[string]Hugetlb {
	out := make(map[string]Hugetlb)
	for _, size := range hugePageSizes() {
		if !fileExists(dir, "hugetlb."+size+"."+usage) {
			continue
		}
		out[size] = Hugetlb{
			Usage:   r.uint(dir, "hugetlb."+size+"."+usage),
			Max:     r.uint(dir, "hugetlb."+size+"."+maxName),
			Failcnt: failcnt(size),
		}
	}
	return out
}

func (m *v2Manager) Stats() (*Stats, error) {
	var r statsReader
	s := &Stats{}
	dir := m.dir
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("read cgroup stats: %w", err)
	}
	// cpu.stat's usage lines exist even without the cpu controller.
	if kv := r.kv(dir, "cpu.stat"); kv != nil {
		s.CPU.Usage = CPUUsage{Total: kv["usage_usec"] * 1000, User: kv["user_usec"] * 1000, Kernel: kv["system_usec"] * 1000}
		s.CPU.Throttling = Throttling{Periods: kv["nr_periods"], ThrottledPeriods: kv["nr_throttled"], ThrottledTime: kv["throttled_usec"] * 1000}
	}
	if fileExists(dir, "memory.current") {
		s.Memory.Usage = MemoryEntry{
			Usage: r.uint(dir, "memory.current"),
			Limit: r.uint(dir, "memory.max"),
		}
		if fileExists(dir, "memory.peak") {
			s.Memory.Usage.Max = r.uint(dir, "memory.peak")
		}
		if ev := r.kv(dir, "memory.events"); ev != nil {
			s.Memory.Usage.Failcnt = ev["max"]
		}
		if fileExists(dir, "memory.swap.current") {
			// Report memory+swap like v1's memsw, as runc does.
			swap, swapMax := r.uint(dir, "memory.swap.current"), r.uint(dir, "memory.swap.max")
			s.Memory.Swap = MemoryEntry{Usage: swap + s.Memory.Usage.Usage, Limit: saturatingAdd(swapMax, s.Memory.Usage.Limit)}
		}
		s.Memory.Raw = r.kv(dir, "memory.stat")
		s.Memory.Cache = s.Memory.Raw["file"]
		s.Memory.Kernel.Usage = s.Memory.Raw["kernel"]
	}
	if fileExists(dir, "pids.current") {
		s.Pids = readPidsStats(&r, dir)
	}
	if fileExists(dir, "io.stat") {
		s.Blkio = readIOStat(&r, dir)
	}
	s.Hugetlb = readHugetlb(&r, dir, "current", "max", func(size string) uint64 {
		return r.kv(dir, "hugetlb."+size+".events")["max"]
	})
	if len(s.Hugetlb) == 0 {
		s.Hugetlb = nil
	}
	if r.err != nil {
		return nil, fmt.Errorf("read cgroup stats: %w", r.err)
	}
	return s, nil
}

func saturatingAdd(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}

// readIOStat parses io.stat ("8:0 rbytes=1 wbytes=2 rios=3 wios=4 ...") into
// the v1-shaped entries runc reports.
func readIOStat(r *statsReader, dir string) Blkio {
	var b Blkio
	data, err := os.ReadFile(filepath.Join(dir, "io.stat"))
	if !r.keep(err) {
		return b
	}
	b.IoServiceBytesRecursive, b.IoServicedRecursive = parseIOStat(string(data))
	return b
}

func parseIOStat(data string) (bytes, ios []BlkioEntry) {
	sc := bufio.NewScanner(strings.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		major, minor, ok := parseDevNum(f[0])
		if !ok {
			continue
		}
		for _, kv := range f[1:] {
			k, v, ok := strings.Cut(kv, "=")
			n, err := strconv.ParseUint(v, 10, 64)
			if !ok || err != nil {
				continue
			}
			e := BlkioEntry{Major: major, Minor: minor, Value: n}
			switch k {
			case "rbytes":
				e.Op = "Read"
				bytes = append(bytes, e)
			case "wbytes":
				e.Op = "Write"
				bytes = append(bytes, e)
			case "rios":
				e.Op = "Read"
				ios = append(ios, e)
			case "wios":
				e.Op = "Write"
				ios = append(ios, e)
			}
		}
	}
	return bytes, ios
}
