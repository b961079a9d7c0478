package rootfs

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestPlan(t *testing.T) {
	spec := &specs.Spec{Mounts: []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc"},
		{Destination: "/data", Type: "bind", Source: "/srv/data", Options: []string{"rbind", "ro"}},
		{Destination: "plain", Type: "bind", Source: "/srv/plain"},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"ro"}},
		{Destination: "/tmp//x/../y", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1k"}},
		{Destination: "/proc/meminfo", Source: "/var/lib/lxcfs/proc/meminfo", Options: []string{"bind"}},
	}}
	ops, err := Plan(spec)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		kind       Kind
		dest       string
		flags      uintptr
		noSymlinks bool
	}{
		{KindFS, "/proc", 0, true},
		{KindBind, "/data", unix.MS_BIND | unix.MS_REC | unix.MS_RDONLY, false},
		{KindBind, "/plain", unix.MS_BIND, false},
		{KindCgroup, "/sys/fs/cgroup", unix.MS_RDONLY, true},
		{KindFS, "/tmp/y", 0, false},
		{KindBind, "/proc/meminfo", unix.MS_BIND, true},
	}
	if len(ops) != len(want) {
		t.Fatalf("got %d ops, want %d", len(ops), len(want))
	}
	for i, w := range want {
		o := ops[i]
		if o.Kind != w.kind || o.Destination != w.dest || o.Options.Flags != w.flags || o.NoSymlinks != w.noSymlinks {
			t.Errorf("op %d = kind %d dest %s flags %#x nosym %v, want %+v", i, o.Kind, o.Destination, o.Options.Flags, o.NoSymlinks, w)
		}
	}
	if ops[4].Options.Data != "size=1k" {
		t.Errorf("tmpfs data = %q", ops[4].Options.Data)
	}
}

func TestPlanRejects(t *testing.T) {
	for name, tc := range map[string]struct {
		m    specs.Mount
		want string
	}{
		"empty destination":   {specs.Mount{Type: "tmpfs", Source: "tmpfs"}, "destination is empty"},
		"no type no bind":     {specs.Mount{Destination: "/x", Source: "x"}, "no type"},
		"bind without source": {specs.Mount{Destination: "/x", Type: "bind"}, "no source"},
		"over root":           {specs.Mount{Destination: "/", Type: "tmpfs", Source: "tmpfs"}, "root"},
		"root via dotdot":     {specs.Mount{Destination: "/../..", Type: "tmpfs", Source: "tmpfs"}, "root"},
		"tmpfs on /proc":      {specs.Mount{Destination: "/proc", Type: "tmpfs", Source: "tmpfs"}, "only a filesystem of type proc"},
		"bind host dir /proc": {specs.Mount{Destination: "/proc", Source: "/etc", Options: []string{"rbind"}}, "only a filesystem of type proc"},
		"inside /proc":        {specs.Mount{Destination: "/proc/sys", Source: "/tmp", Options: []string{"rbind"}}, "inside /proc"},
		"inside /proc dotdot": {specs.Mount{Destination: "/proc/x/../sysrq-trigger", Source: "/tmp/f", Options: []string{"bind"}}, "inside /proc"},
		"bad option":          {specs.Mount{Destination: "/x", Type: "tmpfs", Source: "t", Options: []string{"idmap"}}, "id-mapped"},
		"tmpcopyup on a bind": {specs.Mount{Destination: "/x", Type: "bind", Source: "/tmp", Options: []string{"tmpcopyup"}}, "tmpcopyup only applies"},
		"nul in destination":  {specs.Mount{Destination: "/x\x00y", Type: "tmpfs", Source: "t"}, "NUL"},
		"data on a bind":      {specs.Mount{Destination: "/x", Type: "bind", Source: "/tmp", Options: []string{"rbind", "size=1k"}}, "filesystem options"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Plan(&specs.Spec{Mounts: []specs.Mount{tc.m}})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Plan error = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
	if _, err := Plan(nil); err == nil {
		t.Fatal("Plan(nil) succeeded")
	}
}

// FuzzPlan: arbitrary mounts never panic, and every planned destination is
// absolute, clean and not "/", so Prepare only ever resolves paths below
// the rootfs.
func FuzzPlan(f *testing.F) {
	f.Add("/proc", "proc", "proc", "nosuid")
	f.Add("../../etc", "bind", "/etc", "rbind,ro")
	f.Add("/proc/../proc/meminfo", "", "/x", "bind")
	f.Add("//", "tmpfs", "tmpfs", "")
	f.Fuzz(func(t *testing.T, dest, typ, src, opts string) {
		ops, err := Plan(&specs.Spec{Mounts: []specs.Mount{{Destination: dest, Type: typ, Source: src, Options: strings.Split(opts, ",")}}})
		if err != nil {
			return
		}
		d := ops[0].Destination
		if d == "/" || !strings.HasPrefix(d, "/") || cleanPath(d) != d {
			t.Fatalf("destination %q planned as %q", dest, d)
		}
		if under(d, "/proc") && !ops[0].NoSymlinks {
			t.Fatalf("destination %q under /proc resolved with symlinks", d)
		}
	})
}

// linux.mountLabel goes into the data of every filesystem mounted for the
// container, as runc's context= option, except proc, sysfs and mqueue; a
// bind mount takes no data.
func TestPlanAddsTheSELinuxMountLabel(t *testing.T) {
	const label = "system_u:object_r:container_file_t:s0:c1,c2"
	spec := &specs.Spec{Linux: &specs.Linux{MountLabel: label}, Mounts: []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc"},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"mode=755"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts"},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue"},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs"},
		{Destination: "/data", Type: "bind", Source: "/srv", Options: []string{"rbind"}},
	}}
	ops, err := Plan(spec)
	if err != nil {
		t.Fatal(err)
	}
	ctx := `context="` + label + `"`
	want := map[string]string{"/proc": "", "/dev": "mode=755," + ctx, "/dev/pts": ctx, "/dev/mqueue": "", "/sys": "", "/data": ""}
	for _, op := range ops {
		if op.Options.Data != want[op.Destination] {
			t.Errorf("%s: data %q, want %q", op.Destination, op.Options.Data, want[op.Destination])
		}
	}
}
