package engine

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func i64(n int64) *int64 { return &n }

// UpdateRequest.resources applies docker update's rules on memory and swap
// against the limits in force, and refuses what cannot be.
func TestUpdateResources(t *testing.T) {
	cur := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(128 << 20)}}
	res, err := UpdateRequest{Memory: i64(96 << 20), PidsLimit: i64(0), NanoCPUs: i64(5e8), CPUShares: i64(512)}.resources(cur)
	if err != nil {
		t.Fatal(err)
	}
	if *res.Memory.Limit != 96<<20 || res.Memory.Swap != nil || *res.Pids.Limit != -1 || *res.CPU.Quota != 50000 || *res.CPU.Period != 100000 || *res.CPU.Shares != 512 {
		t.Errorf("resources: %+v %+v %+v", res.Memory, res.Pids, res.CPU)
	}
	if res, err := (UpdateRequest{NanoCPUs: i64(0)}).resources(nil); err != nil || *res.CPU.Quota != -1 {
		t.Errorf("--cpus 0 removes the quota: %v %v", res, err)
	}
	if res, err := (UpdateRequest{}).resources(cur); err != nil || res != nil {
		t.Errorf("an empty update changes %v (%v)", res, err)
	}
	for _, tc := range []struct {
		u    UpdateRequest
		cur  *specs.LinuxResources
		want string
	}{
		{UpdateRequest{Memory: i64(256 << 20)}, cur, "give --memory-swap too"},
		{UpdateRequest{MemorySwap: i64(32 << 20)}, cur, "must not be below --memory"},
		{UpdateRequest{MemorySwap: i64(128 << 20)}, nil, "needs a memory limit"},
		{UpdateRequest{Memory: i64(1 << 20)}, nil, "6MiB"},
		{UpdateRequest{CPUShares: i64(1)}, nil, "--cpu-shares"},
		{UpdateRequest{PidsLimit: i64(-5)}, nil, "--pids-limit"},
		{UpdateRequest{NanoCPUs: i64(1e15)}, nil, "range of CPUs"},
	} {
		if _, err := tc.u.resources(tc.cur); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error with %q", tc.u, err, tc.want)
		}
	}
	// Memory and swap raised together, and no limit lifts the swap's too.
	if res, err := (UpdateRequest{Memory: i64(256 << 20), MemorySwap: i64(512 << 20)}).resources(cur); err != nil || *res.Memory.Swap != 512<<20 {
		t.Errorf("memory and swap together: %v %v", res, err)
	}
	if res, err := (UpdateRequest{Memory: i64(-1)}).resources(cur); err != nil || *res.Memory.Limit != -1 || *res.Memory.Swap != -1 {
		t.Errorf("lifting the memory limit: %+v %v", res.Memory, err)
	}
}
