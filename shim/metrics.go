package shim

import (
	v1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	v2 "github.com/containerd/cgroups/v3/cgroup2/stats"
	"github.com/containerd/typeurl/v2"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/kago-run/kago/linux/cgroups"
)

// metrics converts kago's cgroup counters into the metrics type containerd
// expects for the host's cgroup version: cgroup2's on a pure v2 host,
// cgroup1's otherwise (kago puts the controllers in the v1 trees there).
func metrics(st *cgroups.Stats) (*anypb.Any, error) {
	mode, _ := cgroups.Mode()
	var m any
	if mode == cgroups.ModeV2 {
		m = &v2.Metrics{
			Pids: &v2.PidsStat{Current: st.Pids.Current, Limit: st.Pids.Limit},
			CPU: &v2.CPUStat{
				UsageUsec:     st.CPU.Usage.Total / 1000,
				UserUsec:      st.CPU.Usage.User / 1000,
				SystemUsec:    st.CPU.Usage.Kernel / 1000,
				NrPeriods:     st.CPU.Throttling.Periods,
				NrThrottled:   st.CPU.Throttling.ThrottledPeriods,
				ThrottledUsec: st.CPU.Throttling.ThrottledTime / 1000,
			},
			Memory: &v2.MemoryStat{
				Usage:      st.Memory.Usage.Usage,
				UsageLimit: st.Memory.Usage.Limit,
				SwapUsage:  st.Memory.Swap.Usage,
				SwapLimit:  st.Memory.Swap.Limit,
				File:       st.Memory.Raw["file"],
				Anon:       st.Memory.Raw["anon"],
			},
		}
	} else {
		m = &v1.Metrics{
			Pids: &v1.PidsStat{Current: st.Pids.Current, Limit: st.Pids.Limit},
			CPU: &v1.CPUStat{
				Usage: &v1.CPUUsage{
					Total: st.CPU.Usage.Total, Kernel: st.CPU.Usage.Kernel,
					User: st.CPU.Usage.User, PerCPU: st.CPU.Usage.Percpu,
				},
				Throttling: &v1.Throttle{
					Periods:          st.CPU.Throttling.Periods,
					ThrottledPeriods: st.CPU.Throttling.ThrottledPeriods,
					ThrottledTime:    st.CPU.Throttling.ThrottledTime,
				},
			},
			Memory: &v1.MemoryStat{
				Cache: st.Memory.Cache,
				RSS:   st.Memory.Raw["rss"],
				Usage: &v1.MemoryEntry{Limit: st.Memory.Usage.Limit, Usage: st.Memory.Usage.Usage,
					Max: st.Memory.Usage.Max, Failcnt: st.Memory.Usage.Failcnt},
				Swap: &v1.MemoryEntry{Limit: st.Memory.Swap.Limit, Usage: st.Memory.Swap.Usage,
					Max: st.Memory.Swap.Max, Failcnt: st.Memory.Swap.Failcnt},
			},
		}
	}
	return typeurl.MarshalAnyToProto(m)
}
