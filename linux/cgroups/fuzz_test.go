package cgroups

import (
	"encoding/binary"
	"encoding/json"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// nativeEndian is the byte order used to check that a program assembles;
// any order the assembler knows will do for that.
func nativeEndian() binary.ByteOrder { return binary.LittleEndian }

// The parsers read kernel files, which a container with a writable /proc
// bind mount or a fake cgroupfs could shape; they must never panic.

func FuzzParseProcCgroup(f *testing.F) {
	f.Add([]byte(hybridProcCgroup))
	f.Add([]byte(v2ProcCgroup))
	f.Add([]byte("1:::\n::\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		groups, err := parseProcCgroup(data)
		if err != nil {
			return
		}
		for _, g := range groups {
			if !strings.HasPrefix(g.Path, "/") {
				t.Fatalf("accepted non-absolute path %q", g.Path)
			}
		}
	})
}

func FuzzParseMountInfo(f *testing.F) {
	f.Add([]byte(hybridMountinfo))
	f.Add([]byte(v2Mountinfo))
	f.Add([]byte(`1 2 3 / /a\04 - cgroup2`))
	f.Fuzz(func(t *testing.T, data []byte) {
		mounts, err := parseMountInfo(data)
		if err != nil {
			return
		}
		_, _ = buildLayout(ModeHybrid, []byte(hybridProcCgroup), data)
		_ = mounts
	})
}

// FuzzCleanCgroupsPath checks the property the runtime relies on: an accepted
// path never climbs out of the tree it is placed in.
func FuzzCleanCgroupsPath(f *testing.F) {
	for _, s := range []string{"", "/kago/x", "a/../b", "..", "a/b/..", "/a//b/./c", "x:y:z"} {
		f.Add(s, "id")
	}
	f.Fuzz(func(t *testing.T, p, id string) {
		got, err := cleanCgroupsPath(p, id)
		if err != nil {
			return
		}
		for _, part := range strings.Split(got, "/") {
			if part == ".." {
				t.Fatalf("cleanCgroupsPath(%q, %q) = %q climbs out", p, id, got)
			}
		}
		h := hierarchy{Mountpoint: "/sys/fs/cgroup", Root: "/", Self: "/self"}
		if d := resolve(h, got); !strings.HasPrefix(d, "/sys/fs/cgroup/") {
			t.Fatalf("resolve(%q) = %q escapes the mount", got, d)
		}
	})
}

// FuzzResources feeds arbitrary linux.resources JSON through validation and
// the pure translations (device program, v1 device lines).
func FuzzResources(f *testing.F) {
	f.Add(`{"memory":{"limit":-2},"cpu":{"quota":5}}`)
	f.Add(`{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rw"}]}`)
	f.Add(`{"devices":[{"allow":true,"type":"b","major":-1,"access":"m"},{"allow":false,"type":"a","minor":4294967295}]}`)
	f.Add(`{"unified":{"../x":"1"},"hugepageLimits":[{"pageSize":"2MB","limit":1}]}`)
	f.Fuzz(func(t *testing.T, data string) {
		var r specs.LinuxResources
		if json.Unmarshal([]byte(data), &r) != nil {
			return
		}
		if err := validateResources(&r); err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		insns, err := deviceFilter(r.Devices)
		if err != nil {
			t.Fatalf("validated rules failed to compile: %v", err)
		}
		if err := insns.Marshal(new(strings.Builder), nativeEndian()); err != nil {
			t.Fatalf("device program does not assemble: %v", err)
		}
		_ = v1DeviceLines(r.Devices)
	})
}

func FuzzParseStats(f *testing.F) {
	f.Add("8:0 rbytes=1 wbytes=2 rios=3 wios=4\n")
	f.Add("usage_usec 5\nnr_periods max\n")
	f.Fuzz(func(t *testing.T, data string) {
		parseIOStat(data)
		parseKeyValues(data)
	})
}
