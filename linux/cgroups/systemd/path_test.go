package systemd

import (
	"path"
	"strings"
	"testing"
)

func TestParsePath(t *testing.T) {
	good := map[[2]string]Unit{
		{"", "abc"}:                       {Slice: "system.slice", Name: "kago-abc.scope"},
		{"system.slice:docker:1234", "x"}: {Slice: "system.slice", Name: "docker-1234.scope"},
		{":crio:1234", "x"}:               {Slice: "system.slice", Name: "crio-1234.scope"},
		{"user-1000.slice::abc", "x"}:     {Slice: "user-1000.slice", Name: "-abc.scope"}, // runc: prefix + "-" + name
		{"-.slice:p:n", "x"}:              {Slice: "-.slice", Name: "p-n.scope"},
		{"kubepods-burstable-pod1a2b.slice:cri-containerd:0f9e", "x"}: {Slice: "kubepods-burstable-pod1a2b.slice", Name: "cri-containerd-0f9e.scope"},
	}
	for in, want := range good {
		got, err := ParsePath(in[0], in[1])
		if err != nil || got != want {
			t.Errorf("ParsePath(%q, %q) = %+v, %v; want %+v", in[0], in[1], got, err, want)
		}
	}
	bad := map[string]string{
		"system.slice:kago":           "slice:prefix:name",
		"a:b:c:d":                     "slice:prefix:name",
		"/kago/abc":                   "slice:prefix:name",
		"system:kago:abc":             "end in",
		"a/b.slice:kago:abc":          "character",
		"a--b.slice:kago:abc":         "empty level",
		"-a.slice:kago:abc":           "empty level",
		"a-.slice:kago:abc":           "empty level",
		".slice:kago:abc":             "end in",
		"system.slice:kago:":          "names no unit",
		"system.slice:kago:pod.slice": "names a slice",
		"system.slice:ka go:abc":      "character",
		"system.slice:kago:a/b":       "character",
		"system.slice:kago:" + strings.Repeat("x", 300): "bytes long",
	}
	for in, want := range bad {
		if u, err := ParsePath(in, "x"); err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("ParsePath(%q) = %+v, %v; want a one-line error mentioning %q", in, u, err, want)
		}
	}
	if _, err := ParsePath("", "a b"); err == nil {
		t.Error("an empty cgroupsPath with an id systemd cannot name was accepted")
	}
}

func TestCgroupPath(t *testing.T) {
	for slice, want := range map[string]string{
		"system.slice":                  "/system.slice/u.scope",
		"-.slice":                       "/u.scope",
		"a-b-c.slice":                   "/a.slice/a-b.slice/a-b-c.slice/u.scope",
		"kubepods-burstable-podX.slice": "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podX.slice/u.scope",
	} {
		if got := (Unit{Slice: slice, Name: "u.scope"}).CgroupPath(); got != want {
			t.Errorf("CgroupPath in %s = %s, want %s", slice, got, want)
		}
	}
}

// FuzzParsePath: whatever the config says, a parsed path is a clean
// absolute path made of slice levels and ending in the scope, never a way
// out of the cgroup tree, and a valid unit name.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"", "system.slice:kago:abc", "a-b-c.slice:p:n", "-.slice::x", "../..:a:b", "a.slice:..:..", "a.slice:p:n.slice", "x:y:z"} {
		f.Add(s, "id")
	}
	f.Fuzz(func(t *testing.T, cgroupsPath, id string) {
		u, err := ParsePath(cgroupsPath, id)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		p := u.CgroupPath()
		if !path.IsAbs(p) || path.Clean(p) != p || path.Base(p) != u.Name {
			t.Fatalf("ParsePath(%q): path %q is not clean or does not end in %q", cgroupsPath, p, u.Name)
		}
		for _, part := range strings.Split(path.Dir(p), "/")[1:] {
			if part == "" && path.Dir(p) == "/" {
				break // the root slice
			}
			if !strings.HasSuffix(part, ".slice") {
				t.Fatalf("ParsePath(%q): path %q has a level %q that is not a slice", cgroupsPath, p, part)
			}
		}
		if err := checkUnitName(u.Name); err != nil || !strings.HasSuffix(u.Name, ".scope") {
			t.Fatalf("ParsePath(%q): unit %q: %v", cgroupsPath, u.Name, err)
		}
	})
}
