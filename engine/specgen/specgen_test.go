package specgen

import (
	"reflect"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestCommandDockerRules(t *testing.T) {
	img := ocispec.ImageConfig{Entrypoint: []string{"/ep"}, Cmd: []string{"a", "b"}}
	empty := ""
	sh := "sh"
	for _, tc := range []struct {
		name string
		o    Options
		want []string
	}{
		{"image", Options{}, []string{"/ep", "a", "b"}},
		{"args replace cmd", Options{Args: []string{"x"}}, []string{"/ep", "x"}},
		{"entrypoint drops cmd", Options{Entrypoint: &sh}, []string{"sh"}},
		{"entrypoint with args", Options{Entrypoint: &sh, Args: []string{"-c", "true"}}, []string{"sh", "-c", "true"}},
		{"empty entrypoint", Options{Entrypoint: &empty, Args: []string{"ls"}}, []string{"ls"}},
	} {
		got, err := Command(img, tc.o)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	if _, err := Command(ocispec.ImageConfig{}, Options{}); err == nil || !strings.Contains(err.Error(), "no command") {
		t.Errorf("no command: %v", err)
	}
}

func TestGenerateEnvWorkdirResources(t *testing.T) {
	img := ocispec.ImageConfig{Cmd: []string{"sh"}, Env: []string{"PATH=/img", "A=1", "B=2"}, WorkingDir: "/srv"}
	spec, err := Generate(img, Options{Env: []string{"B=3", "C=4"}, Hostname: "h", Memory: 64 << 20, CPUs: 0.5, PidsLimit: 10, CapDrop: []string{"ALL"}, CapAdd: []string{"net_bind_service"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"PATH=/img", "A=1", "B=3", "HOSTNAME=h", "C=4"}
	if !reflect.DeepEqual(spec.Process.Env, want) {
		t.Errorf("env %q, want %q", spec.Process.Env, want)
	}
	if spec.Process.Cwd != "/srv" || *spec.Linux.Resources.Memory.Limit != 64<<20 || *spec.Linux.Resources.CPU.Quota != 50000 || *spec.Linux.Resources.Pids.Limit != 10 {
		t.Errorf("cwd %s resources %+v", spec.Process.Cwd, spec.Linux.Resources)
	}
	if !reflect.DeepEqual(spec.Process.Capabilities.Bounding, []string{"CAP_NET_BIND_SERVICE"}) {
		t.Errorf("caps %v", spec.Process.Capabilities.Bounding)
	}
	if _, err := Generate(img, Options{CapAdd: []string{"CAP_BOGUS"}}); err == nil {
		t.Error("unknown capability accepted")
	}
}

func TestParseVolume(t *testing.T) {
	for in, want := range map[string]Volume{
		"./site:/www:ro": {Kind: KindBind, Source: "./site", Destination: "/www", ReadOnly: true},
		"/h:/c/":         {Kind: KindBind, Source: "/h", Destination: "/c"},
		"data:/var/lib":  {Kind: KindVolume, Source: "data", Destination: "/var/lib"},
		"/anon":          {Kind: KindAnonymous, Destination: "/anon"},
	} {
		got, err := ParseVolume(in)
		if err != nil || got != want {
			t.Errorf("%q: %+v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "a:b", "/h:rel", "/h:/", "x:/y:bogus", "a:b:c:d", "$x:/y"} {
		if _, err := ParseVolume(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestParseBytesRestartUser(t *testing.T) {
	for in, want := range map[string]int64{"512m": 512 << 20, "1g": 1 << 30, "100": 100, "2K": 2048, "1.5m": 3 << 19, "64mb": 64 << 20} {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("%q: %d, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "m", "-1m", "lots", "1x", "NaN", "1e300g"} {
		if _, err := ParseBytes(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
	passwd := []byte("root:x:0:0::/:/bin/sh\nwww:x:33:44::/:/bin/false\n")
	group := []byte("root:x:0:\nstaff:x:50:\n")
	for in, want := range map[string][2]uint32{"www": {33, 44}, "33": {33, 44}, "1000": {1000, 0}, "www:staff": {33, 50}, "0:7": {0, 7}} {
		u, err := ResolveUser(in, passwd, group)
		if err != nil || u.UID != want[0] || u.GID != want[1] {
			t.Errorf("-u %q: %+v, %v", in, u, err)
		}
	}
	for _, in := range []string{"nobody", "www:nogroup", ":0", ""} {
		if _, err := ResolveUser(in, passwd, group); err == nil {
			t.Errorf("-u %q accepted", in)
		}
	}
}

func TestParseEnvFile(t *testing.T) {
	lookup := func(k string) (string, bool) { return map[string]string{"HOSTV": "h"}[k], k == "HOSTV" }
	got, err := ParseEnvFile("f", []byte("# c\nA=1\n\n  B=x y\nHOSTV\nUNSET\n"), lookup)
	if err != nil || !reflect.DeepEqual(got, []string{"A=1", "B=x y", "HOSTV=h"}) {
		t.Fatalf("%q %v", got, err)
	}
	if _, err := ParseEnvFile("f", []byte("=bad\n"), lookup); err == nil || !strings.Contains(err.Error(), "f line 1") {
		t.Fatalf("bad line: %v", err)
	}
}

func FuzzParsers(f *testing.F) {
	for _, s := range []string{"./a:/b:ro", "1.5g", "on-failure:2", "www:staff", "/tmp:size=1m", "A=1", "::::", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if v, err := ParseVolume(s); err == nil && !strings.HasPrefix(v.Destination, "/") {
			t.Fatalf("volume %q gave relative destination %q", s, v.Destination)
		}
		if n, err := ParseBytes(s); err == nil && n < 0 {
			t.Fatalf("size %q gave %d", s, n)
		}
		CheckUser(s)
		ResolveUser(s, []byte(s), []byte(s))
		ParseTmpfs(s)
		ParseEnvFile("f", []byte(s), func(string) (string, bool) { return "", false })
	})
}
