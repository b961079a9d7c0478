package systemd

import (
	"reflect"
	"testing"

	sd "github.com/coreos/go-systemd/v22/dbus"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kago-run/kago/linux/cgroups"
)

func i64(v int64) *int64   { return &v }
func u64(v uint64) *uint64 { return &v }
func u16(v uint16) *uint16 { return &v }

// props flattens properties to name -> value (the last one of a name wins,
// as in systemd).
func props(list []sd.Property) map[string]any {
	out := map[string]any{}
	for _, p := range list {
		out[p.Name] = p.Value.Value()
	}
	return out
}

func TestResourcePropertiesV2(t *testing.T) {
	res := &specs.LinuxResources{
		Memory:  &specs.LinuxMemory{Limit: i64(64 << 20), Reservation: i64(32 << 20), Swap: i64(96 << 20)},
		CPU:     &specs.LinuxCPU{Shares: u64(1024), Quota: i64(50000), Period: u64(100000), Cpus: "0-2,7", Mems: "0"},
		Pids:    &specs.LinuxPids{Limit: i64(20)},
		BlockIO: &specs.LinuxBlockIO{Weight: u16(500)},
	}
	list, files, err := resourceProperties(res, cgroups.ModeV2, 252)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"MemoryMax":          uint64(64 << 20),
		"MemoryLow":          uint64(32 << 20),
		"MemorySwapMax":      uint64(32 << 20),
		"CPUWeight":          uint64(100), // runc 1.3's curve: 1024 shares is the default weight
		"CPUQuotaPeriodUSec": uint64(100000),
		"CPUQuotaPerSecUSec": uint64(500000),
		"AllowedCPUs":        []byte{0x87},
		"AllowedMemoryNodes": []byte{0x01},
		"TasksMax":           uint64(20),
		"IOWeight":           cgroups.BlkioWeightToIOWeight(500),
	}
	if got := props(list); !reflect.DeepEqual(got, want) {
		t.Errorf("v2 properties\n got %v\nwant %v", got, want)
	}
	if *files.CPU.Quota != 50000 {
		t.Errorf("quota for the files changed to %d", *files.CPU.Quota)
	}
}

func TestResourcePropertiesV1(t *testing.T) {
	res := &specs.LinuxResources{
		Memory:  &specs.LinuxMemory{Limit: i64(-1)},
		CPU:     &specs.LinuxCPU{Shares: u64(512), Quota: i64(-1)},
		Pids:    &specs.LinuxPids{Limit: i64(-1)},
		BlockIO: &specs.LinuxBlockIO{Weight: u16(300)},
	}
	for _, mode := range []string{cgroups.ModeV1, cgroups.ModeHybrid} {
		list, _, err := resourceProperties(res, mode, 252)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]any{
			"MemoryLimit":        infinity,
			"CPUShares":          uint64(512),
			"CPUQuotaPerSecUSec": infinity,
			"TasksMax":           infinity,
			"BlockIOWeight":      uint64(300),
		}
		if got := props(list); !reflect.DeepEqual(got, want) {
			t.Errorf("%s properties\n got %v\nwant %v", mode, got, want)
		}
	}
}

// A quota systemd cannot store exactly is rounded up to whole percents of
// a CPU, and the files get the same rounded quota.
func TestCPUQuotaRounding(t *testing.T) {
	res := &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(12345), Period: u64(100000)}}
	list, files, err := resourceProperties(res, cgroups.ModeV2, 252)
	if err != nil {
		t.Fatal(err)
	}
	if got := props(list)["CPUQuotaPerSecUSec"]; got != uint64(130000) {
		t.Errorf("CPUQuotaPerSecUSec = %v, want 130000", got)
	}
	if *files.CPU.Quota != 13000 {
		t.Errorf("files quota = %d, want 13000", *files.CPU.Quota)
	}
	if *res.CPU.Quota != 12345 {
		t.Error("the caller's resources were changed")
	}
	// Old systemd: no CPUQuotaPeriodUSec or AllowedCPUs, the files still get them.
	res.CPU.Cpus = "1"
	list, _, _ = resourceProperties(res, cgroups.ModeV2, 239)
	p := props(list)
	if _, ok := p["CPUQuotaPeriodUSec"]; ok {
		t.Error("CPUQuotaPeriodUSec sent to systemd 239")
	}
	if _, ok := p["AllowedCPUs"]; ok {
		t.Error("AllowedCPUs sent to systemd 239")
	}
}

func TestRangeToBits(t *testing.T) {
	good := map[string][]byte{"0": {1}, "0-2,7": {0x87}, "8": {0, 1}, "1,3-5": {0x3a}, " 9 ,": {0, 2}}
	for in, want := range good {
		if got, err := rangeToBits(in); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("rangeToBits(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", ",", "a", "3-1", "1-", "4000000000", "0-99999999"} {
		if got, err := rangeToBits(in); err == nil {
			t.Errorf("rangeToBits(%q) = %v, want an error", in, got)
		}
	}
}

func dev(allow bool, typ string, major, minor *int64, access string) specs.LinuxDeviceCgroup {
	return specs.LinuxDeviceCgroup{Allow: allow, Type: typ, Major: major, Minor: minor, Access: access}
}

func TestDeviceProperties(t *testing.T) {
	denyAll := dev(false, "a", nil, nil, "rwm")
	std := []specs.LinuxDeviceCgroup{
		denyAll,
		dev(true, "c", nil, nil, "m"),
		dev(true, "c", i64(1), i64(3), "rwm"),
		dev(true, "c", i64(136), nil, "rw"),
		dev(true, "a", i64(10), i64(200), ""),
	}
	stdList := []deviceAllow{{"char-*", "m"}, {"/dev/char/1:3", "rwm"}, {"char-136", "rw"}, {"/dev/char/10:200", "rwm"}, {"/dev/block/10:200", "rwm"}}
	blacklist := []specs.LinuxDeviceCgroup{dev(true, "a", nil, nil, "rwm"), dev(false, "c", i64(1), i64(3), "w")}
	mixed := append(append([]specs.LinuxDeviceCgroup{}, std...), dev(false, "c", i64(1), i64(3), "w"), dev(true, "c", i64(1), i64(5), "r"))
	starMinor := []specs.LinuxDeviceCgroup{denyAll, dev(true, "c", nil, i64(3), "r"), dev(true, "c", i64(1), i64(3), "r")}
	cases := []struct {
		name   string
		rules  []specs.LinuxDeviceCgroup
		v2     bool
		policy string
		list   []deviceAllow
	}{
		{"whitelist v2", std, true, "strict", stdList},
		{"whitelist v1", std, false, "strict", stdList},
		{"allow all", []specs.LinuxDeviceCgroup{denyAll, dev(true, "", nil, nil, "")}, true, "auto", []deviceAllow{}},
		{"blacklist v2: kago's filter alone", blacklist, true, "auto", []deviceAllow{}},
		{"blacklist v1: deny all", blacklist, false, "strict", []deviceAllow{}},
		{"deny after allow v2", mixed, true, "auto", []deviceAllow{}},
		{"deny after allow v1: allows after the last deny", mixed, false, "strict", []deviceAllow{{"/dev/char/1:5", "r"}}},
		{"*:minor v2", starMinor, true, "auto", []deviceAllow{}},
		{"*:minor v1", starMinor, false, "strict", []deviceAllow{{"/dev/char/1:3", "r"}}},
	}
	for _, c := range cases {
		list := deviceProperties(c.rules, c.v2, 252)
		if len(list) != 3 || list[0].Name != "DeviceAllow" || !reflect.DeepEqual(list[0].Value.Value(), []deviceAllow{}) {
			t.Errorf("%s: %v does not start by clearing DeviceAllow", c.name, list)
			continue
		}
		p := props(list)
		if p["DevicePolicy"] != c.policy || !reflect.DeepEqual(p["DeviceAllow"], c.list) {
			t.Errorf("%s: policy %v allow %v; want %s %v", c.name, p["DevicePolicy"], p["DeviceAllow"], c.policy, c.list)
		}
	}
	if deviceProperties(nil, true, 252) != nil {
		t.Error("no rules must leave the unit's device settings alone (update)")
	}
	// systemd before 240 cannot name a major without /proc/devices.
	p := props(deviceProperties(std, true, 239))
	if p["DevicePolicy"] != "auto" {
		t.Errorf("systemd 239 with a major-only rule: policy %v, want auto", p["DevicePolicy"])
	}
}

func TestScopeProperties(t *testing.T) {
	u := Unit{Slice: "a-b.slice", Name: "p-n.scope"}
	p := props(scopeProperties(u, "n", cgroups.ModeV2, 42))
	for name, want := range map[string]any{
		"Slice": "a-b.slice", "Delegate": true, "PIDs": []uint32{42}, "DefaultDependencies": false,
		"MemoryAccounting": true, "CPUAccounting": true, "IOAccounting": true, "TasksAccounting": true,
	} {
		if !reflect.DeepEqual(p[name], want) {
			t.Errorf("%s = %v, want %v", name, p[name], want)
		}
	}
	if p := props(scopeProperties(u, "n", cgroups.ModeHybrid, 42)); p["BlockIOAccounting"] != true {
		t.Error("v1 scope lacks BlockIOAccounting")
	}
}

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]int{`"252.38-1~deb12u1"`: 252, `"v245.4-1.fc32"`: 245, "257": 257, `"x"`: 0, "": 0} {
		if got := parseVersion(in); got != want {
			t.Errorf("parseVersion(%q) = %d, want %d", in, got, want)
		}
	}
}
