package engine

import (
	"fmt"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/kago-run/kago/engine/health"
	"github.com/kago-run/kago/image"
)

func TestParseRestartPolicy(t *testing.T) {
	for in, want := range map[string]RestartPolicy{
		"": {Name: RestartNo}, "no": {Name: RestartNo}, "always": {Name: RestartAlways},
		"unless-stopped": {Name: RestartUnlessStopped}, "on-failure": {Name: RestartOnFailure},
		"on-failure:3": {Name: RestartOnFailure, MaximumRetryCount: 3},
	} {
		if got, err := ParseRestartPolicy(in); err != nil || got != want {
			t.Errorf("--restart %q: %+v, %v", in, got, err)
		}
	}
	for _, in := range []string{"sometimes", "always:2", "on-failure:-1", "on-failure:x", "no:0", ":1"} {
		if _, err := ParseRestartPolicy(in); err == nil {
			t.Errorf("--restart %q accepted", in)
		}
	}
}

func TestParseMounts(t *testing.T) {
	for in, want := range map[string]Mount{
		"./site:/www:ro": {Type: MountBind, Source: "./site", Target: "/www", ReadOnly: true},
		"data:/data":     {Type: MountVolume, Source: "data", Target: "/data"},
		"/anon":          {Type: MountVolume, Target: "/anon"},
	} {
		got, err := ParseVolume(in)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("-v %q: %+v, %v", in, got, err)
		}
	}
	got, err := ParseTmpfs("/scratch:size=1m,mode=1777")
	if err != nil || got.Type != MountTmpfs || got.Target != "/scratch" || strings.Join(got.TmpfsOptions, ",") != "size=1m,mode=1777" {
		t.Errorf("--tmpfs: %+v, %v", got, err)
	}
}

// TestValidate: each mistake a request can hold without an image is found
// by Validate, with docker's message where docker has one.
func TestValidate(t *testing.T) {
	n := goruntime.NumCPU()
	ok := CreateRequest{Image: "bb"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("a request with only an image: %v", err)
	}
	for _, tc := range []struct {
		change func(*CreateRequest)
		want   string
	}{
		{func(r *CreateRequest) { r.Image = "" }, "image is required"},
		{func(r *CreateRequest) { r.Name = "a/b" }, "invalid container name"},
		{func(r *CreateRequest) { r.Workdir = "relative/dir" }, "the working directory 'relative/dir' is invalid, it needs to be an absolute path"},
		{func(r *CreateRequest) { r.User = "0:" }, "invalid user"},
		{func(r *CreateRequest) { r.CapAdd = []string{"BOGUS"} }, `unknown capability "CAP_BOGUS"`},
		{func(r *CreateRequest) { r.CapDrop = []string{"cap_nope"} }, `unknown capability "CAP_NOPE"`},
		{func(r *CreateRequest) { r.Env = []string{"=x"} }, "invalid environment variable"},
		{func(r *CreateRequest) { r.Resources.Memory = 1 << 20 }, "6MiB minimum"},
		{func(r *CreateRequest) { r.Resources.NanoCPUs = int64(n+1) * 1e9 }, fmt.Sprintf("range of CPUs is from 0.01 to %d.00, as there are only %d CPUs available", n, n)},
		{func(r *CreateRequest) { r.Resources.NanoCPUs = 1e6 }, "range of CPUs"},
		{func(r *CreateRequest) { r.Resources.PidsLimit = -1 }, "negative"},
		{func(r *CreateRequest) { r.Mounts = []Mount{{Type: MountBind, Source: "/x", Target: "rel"}} }, "invalid mount target"},
		{func(r *CreateRequest) { r.Mounts = []Mount{{Type: MountVolume, Source: "../up", Target: "/x"}} }, "invalid volume name"},
		{func(r *CreateRequest) { r.Mounts = []Mount{{Type: "nfs", Target: "/x"}} }, "unknown mount type"},
		{func(r *CreateRequest) { r.Restart = RestartPolicy{Name: "sometimes"} }, "unknown restart policy"},
		{func(r *CreateRequest) { r.Restart = RestartPolicy{Name: RestartAlways, MaximumRetryCount: 2} }, "retry count"},
		{func(r *CreateRequest) { r.AutoRemove, r.Restart = true, RestartPolicy{Name: RestartAlways} }, "--rm and --restart"},
		{func(r *CreateRequest) { r.Network, r.PublishAll = NetworkHost, true }, "ports cannot be published with --network host"},
		{func(r *CreateRequest) { r.Network, r.MacAddress = NetworkNone, "02:00:00:00:00:01" }, "--network none"},
		{func(r *CreateRequest) { r.MacAddress = "01:00:5e:00:00:01" }, "--mac-address"},
	} {
		r := ok
		tc.change(&r)
		if err := r.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error with %q", r, err, tc.want)
		}
	}
}

func TestParseCPUs(t *testing.T) {
	if n, err := ParseCPUs("1.5"); err != nil || n != 1_500_000_000 {
		t.Errorf("--cpus 1.5: %d, %v", n, err)
	}
	for _, in := range []string{"", "0", "-1", "x", "NaN"} {
		if _, err := ParseCPUs(in); err == nil {
			t.Errorf("--cpus %q accepted", in)
		}
	}
}

func TestParseSecurityOpts(t *testing.T) {
	o, err := ParseSecurityOpts([]string{"seccomp=unconfined"})
	if err != nil || !o.SeccompUnconfined {
		t.Errorf("seccomp=unconfined: %+v, %v", o, err)
	}
	for _, in := range []string{"apparmor=", "seccomp=", "label:disable", "seccomp=/no/such/profile.json"} {
		if _, err := ParseSecurityOpts([]string{in}); err == nil {
			t.Errorf("--security-opt %q accepted", in)
		}
	}
}

func TestLowercaseError(t *testing.T) {
	for ref, want := range map[string]string{
		"UPPER":          "repository name (library/UPPER) must be lowercase",
		"UPPER/Case:tag": "repository name (UPPER/Case) must be lowercase",
		"localhost:5000/Foo@sha256:" + strings.Repeat("a", 64): "repository name (localhost:5000/Foo) must be lowercase",
	} {
		if err := lowercaseError(ref); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", ref, err, want)
		}
	}
	for _, ref := range []string{"busybox", "bad//name", "UP PER"} {
		if err := lowercaseError(ref); err != nil {
			t.Errorf("%s: %v", ref, err)
		}
	}
}

// FuzzRequestParsers: the parsers compose and the CLI feed strings to never
// panic, and what they accept passes Validate.
func FuzzRequestParsers(f *testing.F) {
	for _, s := range []string{"./a:/b:ro", "v:/d", "/t:size=1m", "on-failure:2", "1.5", "512m", "seccomp=unconfined", "type=tmpfs,dst=/t,tmpfs-size=1m", "type=volume,src=v,dst=/v,ro=false", "UPPER/Case:tag", ":::", "\x00",
		"nofile=1024:2048", "nproc=-1", "/dev/null:/dev/x:rw", "/dev/fuse:r", "h:1.2.3.4", "h=host-gateway", "h:[::1]", "net.core.somaxconn=1", "k=v"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r := CreateRequest{Image: "bb", User: s, Workdir: s, Name: s, MacAddress: s, Network: NetworkMode(s)}
		r.Validate()
		ok := CreateRequest{Image: "bb"}
		if m, err := ParseVolume(s); err == nil {
			ok.Mounts = append(ok.Mounts, m)
		}
		if m, err := ParseTmpfs(s); err == nil {
			ok.Mounts = append(ok.Mounts, m)
		}
		if m, err := ParseMount(s); err == nil {
			ok.Mounts = append(ok.Mounts, m)
		}
		if p, err := ParseRestartPolicy(s); err == nil {
			ok.Restart = p
		}
		if n, err := ParseMemory(s); err == nil && n >= minMemory {
			ok.Resources.Memory = n
		}
		if u, err := ParseUlimit(s); err == nil {
			ok.Ulimits = append(ok.Ulimits, u)
		}
		if d, err := ParseDevice(s); err == nil {
			ok.Devices = append(ok.Devices, d)
		}
		if h, err := ParseExtraHost(s); err == nil {
			ok.ExtraHosts = append(ok.ExtraHosts, h)
		}
		if ips, err := ParseDNSServers([]string{s}); err == nil {
			ok.DNS.Servers = ips
		}
		if k, v, err := ParseSysctl(s); err == nil && validateSysctl(k, v, NetworkBridge) == nil {
			ok.Sysctls = map[string]string{k: v}
		}
		if l, err := parseLabelFile("f", []byte(s)); err == nil {
			if ls, err := ParseLabels(l, nil); err == nil {
				ok.Labels = ls
			}
		}
		if err := ok.Validate(); err != nil {
			t.Fatalf("%q parsed into a request Validate refuses: %v", s, err)
		}
		lowercaseError(s)
	})
}

func TestParseMount(t *testing.T) {
	m, err := ParseMount("type=volume,src=data,dst=/d,readonly")
	if err != nil || m.Type != MountVolume || m.Source != "data" || m.Target != "/d" || !m.ReadOnly {
		t.Fatalf("volume: %+v %v", m, err)
	}
	m, err = ParseMount("type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1777")
	if err != nil || m.Type != MountTmpfs || strings.Join(m.TmpfsOptions, ",") != "size=1048576,mode=1777" {
		t.Fatalf("tmpfs: %+v %v", m, err)
	}
	for _, bad := range []string{"type=bind,dst=/b", "src=x", "type=tmpfs,src=x,dst=/t", "type=volume,dst=/v,tmpfs-size=1m",
		"type=nfs,dst=/n", "type=volume,src=../x,dst=/v", "dst=/v,bogus=1", "dst=/v,readonly=maybe", "type=tmpfs,dst=/t,tmpfs-mode=9"} {
		if _, err := ParseMount(bad); err == nil {
			t.Errorf("--mount %q accepted", bad)
		}
	}
}

// TestImageHealthcheck: an image's HEALTHCHECK (docker's config field) is
// read and validated, and the request's flags override it field by field.
func TestImageHealthcheck(t *testing.T) {
	img := &image.Image{RawConfig: []byte(`{"config":{"Healthcheck":{"Test":["CMD-SHELL","curl -f localhost"],"Interval":1000000000,"Retries":4}}}`)}
	hc, err := imageHealthcheck(img)
	if err != nil || hc == nil || hc.Test[1] != "curl -f localhost" || hc.Interval != time.Second || hc.Retries != 4 {
		t.Fatalf("image healthcheck: %+v %v", hc, err)
	}
	if got := health.Merge(&Healthcheck{Retries: 1}, hc); got.Retries != 1 || got.Interval != time.Second {
		t.Fatalf("merged: %+v", got)
	}
	if got := health.Merge(&Healthcheck{Test: []string{"NONE"}}, hc); got != nil {
		t.Fatalf("--no-healthcheck kept %+v", got)
	}
	img.RawConfig = []byte(`{"config":{"Healthcheck":{"Test":["RUN","x"]}}}`)
	if _, err := imageHealthcheck(img); err == nil {
		t.Fatal("an image healthcheck with a bad test was accepted")
	}
	if hc, err := imageHealthcheck(&image.Image{RawConfig: []byte(`{"config":{}}`)}); hc != nil || err != nil {
		t.Fatalf("no healthcheck: %+v %v", hc, err)
	}
}

func TestParseHostFlags(t *testing.T) {
	for in, want := range map[string]Ulimit{
		"nofile=1024:2048": {Name: "nofile", Soft: 1024, Hard: 2048},
		"nproc=77":         {Name: "nproc", Soft: 77, Hard: 77},
		"core=-1":          {Name: "core", Soft: ^uint64(0), Hard: ^uint64(0)},
	} {
		if got, err := ParseUlimit(in); err != nil || got != want {
			t.Errorf("--ulimit %q: %+v %v", in, got, err)
		}
	}
	for _, bad := range []string{"nofile", "nofile=2:1", "bogus=1", "nofile=-2", "nofile=1:x", "=1"} {
		if _, err := ParseUlimit(bad); err == nil {
			t.Errorf("--ulimit %q accepted", bad)
		}
	}
	for in, want := range map[string]Device{
		"/dev/fuse":           {PathOnHost: "/dev/fuse", PathInContainer: "/dev/fuse", CgroupPermissions: "rwm"},
		"/dev/fuse:r":         {PathOnHost: "/dev/fuse", PathInContainer: "/dev/fuse", CgroupPermissions: "r"},
		"/dev/fuse:/dev/f":    {PathOnHost: "/dev/fuse", PathInContainer: "/dev/f", CgroupPermissions: "rwm"},
		"/dev/fuse:/dev/f:rw": {PathOnHost: "/dev/fuse", PathInContainer: "/dev/f", CgroupPermissions: "rw"},
	} {
		if got, err := ParseDevice(in); err != nil || got != want {
			t.Errorf("--device %q: %+v %v", in, got, err)
		}
	}
	for _, bad := range []string{"dev/fuse", "/dev/fuse:/dev/f:rx", "/dev/fuse:/dev/f:rr", "/a:/b:r:w", "/dev/fuse:f"} {
		if _, err := ParseDevice(bad); err == nil {
			t.Errorf("--device %q accepted", bad)
		}
	}
	for _, bad := range []string{"vm.swappiness", "kernel.hostname", "net..x", "net.", "net.core/x", "fs.file-max"} {
		if err := validateSysctl(bad, "1", NetworkBridge); err == nil {
			t.Errorf("--sysctl %s accepted", bad)
		}
	}
	for _, good := range []string{"net.core.somaxconn", "kernel.shmmax", "fs.mqueue.msg_max", "kernel.sem"} {
		if err := validateSysctl(good, "1", NetworkBridge); err != nil {
			t.Errorf("--sysctl %s: %v", good, err)
		}
	}
	if err := validateSysctl("net.core.somaxconn", "1", NetworkHost); err == nil {
		t.Error("a net.* sysctl accepted with --network host")
	}
	labels, err := ParseLabels([]string{"a=flag", "b"}, nil)
	if err != nil || len(labels) != 2 || labels["a"] != "flag" || labels["b"] != "" {
		t.Errorf("labels: %v %v", labels, err)
	}
}
