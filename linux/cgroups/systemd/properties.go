package systemd

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	sd "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kago-run/kago/linux/cgroups"
)

// infinity is systemd's USEC_INFINITY / CGROUP_LIMIT_MAX: "no limit".
const infinity = uint64(math.MaxUint64)

// defaultCPUPeriod is the kernel's CFS period (100ms), v1 and v2 alike.
const defaultCPUPeriod = 100000

// The systemd versions that added the properties gated below.
const (
	versionCPUQuotaPeriod = 242 // CPUQuotaPeriodUSec
	versionDeviceMajor    = 240 // DeviceAllow "char-<major>" without a /proc/devices name
	versionAllowedCPUs    = 244 // AllowedCPUs, AllowedMemoryNodes
)

func prop(name string, value any) sd.Property {
	return sd.Property{Name: name, Value: dbus.MakeVariant(value)}
}

// scopeProperties are the unit's own settings, as runc sets them: the slice,
// delegation (so the container may make cgroups below its own), the first
// process, accounting of every controller whether or not it is limited (the
// cgroupfs driver's behaviour, and the kernel charges memory correctly only
// to a cgroup that accounts it from the first page), and no default
// dependencies, so stopping the unit never waits on anything else.
func scopeProperties(u Unit, containerID, mode string, pid int) []sd.Property {
	io := "IOAccounting"
	if mode != cgroups.ModeV2 {
		io = "BlockIOAccounting"
	}
	return []sd.Property{
		sd.PropDescription("kago container " + containerID),
		sd.PropSlice(u.Slice),
		prop("Delegate", true),
		prop("PIDs", []uint32{uint32(pid)}),
		prop("MemoryAccounting", true),
		prop("CPUAccounting", true),
		prop(io, true),
		prop("TasksAccounting", true),
		prop("DefaultDependencies", false),
	}
}

// resourceProperties maps linux.resources to the unit properties systemd
// has for them (systemd.resource-control(5)); mode is the host's cgroup
// layout (v1 and hybrid use the v1 names) and version systemd's.
//
// It also returns the resources to write to the cgroup files afterwards:
// res itself, except that a CPU quota is rounded up as systemd rounds it
// (CPUQuotaPerSecUSec counts whole 10ms steps), so that the files and the
// unit agree and systemd's next rewrite of cpu.max changes nothing.
func resourceProperties(res *specs.LinuxResources, mode string, version int) ([]sd.Property, *specs.LinuxResources, error) {
	if res == nil {
		return nil, nil, nil
	}
	files := *res
	v2 := mode == cgroups.ModeV2
	var props []sd.Property
	props = append(props, deviceProperties(res.Devices, v2, version)...)

	if m := res.Memory; m != nil {
		limit := value(m.Limit)
		if limit != 0 {
			name := "MemoryMax"
			if !v2 {
				name = "MemoryLimit"
			}
			props = append(props, prop(name, limitOrInfinity(limit)))
		}
		if v2 {
			if r := value(m.Reservation); r != 0 {
				props = append(props, prop("MemoryLow", limitOrInfinity(r)))
			}
			if swap := value(m.Swap); swap == -1 || (swap > 0 && limit > 0) {
				v := infinity // OCI swap is memory+swap; MemorySwapMax is swap alone
				if swap > 0 {
					v = uint64(swap - limit)
				}
				props = append(props, prop("MemorySwapMax", v))
			}
		}
	}

	if c := res.CPU; c != nil {
		if s := value(c.Shares); s != 0 {
			if v2 {
				props = append(props, prop("CPUWeight", cgroups.CPUSharesToWeight(s)))
			} else {
				props = append(props, prop("CPUShares", s))
			}
		}
		if quota := value(c.Quota); quota != 0 {
			period := value(c.Period)
			if period != 0 && version >= versionCPUQuotaPeriod {
				props = append(props, prop("CPUQuotaPeriodUSec", period))
			}
			perSec, rounded := cpuQuotaPerSec(quota, period)
			props = append(props, prop("CPUQuotaPerSecUSec", perSec))
			if rounded != quota {
				cpu := *c
				cpu.Quota = &rounded
				files.CPU = &cpu
			}
		} else if p := value(c.Period); p != 0 && version >= versionCPUQuotaPeriod {
			props = append(props, prop("CPUQuotaPeriodUSec", p))
		}
		if version >= versionAllowedCPUs {
			for _, set := range []struct{ name, list string }{{"AllowedCPUs", c.Cpus}, {"AllowedMemoryNodes", c.Mems}} {
				if set.list == "" {
					continue
				}
				bits, err := rangeToBits(set.list)
				if err != nil {
					return nil, nil, fmt.Errorf("linux.resources.cpu %q for %s: %w", set.list, set.name, err)
				}
				props = append(props, prop(set.name, bits))
			}
		}
	}

	if p := res.Pids; p != nil && p.Limit != nil {
		tasks := infinity // 0 and -1 mean no limit, as in the cgroupfs driver
		if *p.Limit > 0 {
			tasks = uint64(*p.Limit)
		}
		props = append(props, prop("TasksMax", tasks))
	}

	if b := res.BlockIO; b != nil && b.Weight != nil && *b.Weight != 0 {
		if v2 {
			props = append(props, prop("IOWeight", cgroups.BlkioWeightToIOWeight(*b.Weight)))
		} else {
			props = append(props, prop("BlockIOWeight", uint64(*b.Weight)))
		}
	}
	return props, &files, nil
}

// cpuQuotaPerSec converts a CFS quota per period to systemd's CPU time per
// second, rounded up to whole percents of a CPU (10ms per second) as systemd
// stores it, and returns the quota per period that this rounding yields.
func cpuQuotaPerSec(quota int64, period uint64) (perSec uint64, rounded int64) {
	if quota < 0 {
		return infinity, quota
	}
	if period == 0 {
		period = defaultCPUPeriod
	}
	perSec = uint64(quota) * 1000000 / period
	if perSec%10000 == 0 {
		return perSec, quota
	}
	perSec = (perSec/10000 + 1) * 10000
	return perSec, int64(perSec * period / 1000000)
}

func limitOrInfinity(v int64) uint64 {
	if v < 0 {
		return infinity
	}
	return uint64(v)
}

// value is *p, or the zero value for nil (an unset spec field).
func value[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// maxCPUs bounds a cpuset list: systemd's own limit is far lower, and a
// number like 4000000000 must not make a half-gigabyte mask.
const maxCPUs = 1 << 16

// rangeToBits turns a cpuset list ("0-2,7") into the byte mask systemd takes
// for AllowedCPUs and AllowedMemoryNodes: bit n%8 of byte n/8 is CPU n.
func rangeToBits(list string) ([]byte, error) {
	var bits []byte
	for part := range strings.SplitSeq(list, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := strconv.ParseUint(lo, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number or range", part)
		}
		last := first
		if isRange {
			if last, err = strconv.ParseUint(hi, 10, 32); err != nil || last < first {
				return nil, fmt.Errorf("%q is not a range low-high", part)
			}
		}
		if last >= maxCPUs {
			return nil, fmt.Errorf("%d is beyond the largest CPU or node number %d", last, maxCPUs-1)
		}
		for len(bits) <= int(last/8) {
			bits = append(bits, 0)
		}
		for n := first; n <= last; n++ {
			bits[n/8] |= 1 << (n % 8)
		}
	}
	if len(bits) == 0 {
		return nil, fmt.Errorf("the list is empty")
	}
	return bits, nil
}
