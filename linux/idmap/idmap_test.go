package idmap

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

var (
	uidMap = []specs.LinuxIDMapping{{ContainerID: 1000, HostID: 2000, Size: 1}}
	gidMap = []specs.LinuxIDMapping{{ContainerID: 1000, HostID: 3000, Size: 1}}
)

func TestMountsChecksLikeRunc(t *testing.T) {
	userns := &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.UserNamespace}}}
	for name, tc := range map[string]struct {
		m     specs.Mount
		linux *specs.Linux
		want  string
	}{
		"not a bind":          {specs.Mount{Destination: "/x", Type: "tmpfs", Options: []string{"idmap"}}, userns, "only supported for bind mounts"},
		"uid without gid":     {specs.Mount{Destination: "/x", Source: "/tmp", Options: []string{"rbind"}, UIDMappings: uidMap}, nil, "both uidMappings and gidMappings"},
		"idmap, no userns":    {specs.Mount{Destination: "/x", Source: "/tmp", Options: []string{"rbind", "idmap"}}, nil, "there is none"},
		"empty mapping":       {specs.Mount{Destination: "/x", Source: "/tmp", Options: []string{"rbind"}, UIDMappings: []specs.LinuxIDMapping{{}}, GIDMappings: gidMap}, nil, "empty or overflows"},
		"overflowing mapping": {specs.Mount{Destination: "/x", Source: "/tmp", Options: []string{"bind"}, UIDMappings: []specs.LinuxIDMapping{{HostID: 1 << 31, Size: 1<<31 + 1}}, GIDMappings: gidMap}, nil, "overflows"},
	} {
		_, err := Mounts(&specs.Spec{Mounts: []specs.Mount{tc.m}, Linux: tc.linux}, "/bundle")
		if err == nil || !strings.Contains(err.Error(), "mounts[0]") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one naming mounts[0] and %q", name, err, tc.want)
		}
	}
	if os.Geteuid() != 0 {
		return
	}
	got, err := Mounts(&specs.Spec{Linux: userns, Mounts: []specs.Mount{
		{Destination: "/plain", Source: "/tmp", Options: []string{"rbind"}},
		{Destination: "/x", Source: "rel", Options: []string{"rbind", "ridmap"}},
	}}, "/bundle")
	if err != nil || len(got) != 1 || got[0].Index != 1 || got[0].Source != "/bundle/rel" || !got[0].Recursive || !got[0].RecursiveMap {
		t.Errorf("Mounts = %+v, %v", got, err)
	}
}

// TestPrepareMapsOwnersSeenThroughTheTree makes a file owned by uid/gid 1000,
// id-maps a detached copy of its directory with 1000->2000/3000, and stats
// the file through the copy: the kernel must report the mapped owner.
func TestPrepareMapsOwnersSeenThroughTheTree(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if !Supported() {
		t.Skip("kernel without mount_setattr")
	}
	dir := t.TempDir()
	f := filepath.Join(dir, "f")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(f, 1000, 1000); err != nil {
		t.Fatal(err)
	}
	trees, err := Prepare([]Mount{{Source: dir, UIDMappings: uidMap, GIDMappings: gidMap}}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer trees[0].Close()
	var st unix.Stat_t
	if err := unix.Fstatat(int(trees[0].Fd()), "f", &st, 0); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 2000 || st.Gid != 3000 {
		t.Errorf("owner through the id-mapped tree %d:%d, want 2000:3000", st.Uid, st.Gid)
	}
	var host unix.Stat_t
	unix.Stat(f, &host)
	if host.Uid != 1000 {
		t.Errorf("the source itself changed owner: %d", host.Uid)
	}
}
