package rootfs

import (
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseOptions(t *testing.T) {
	atime := uint64(unix.MOUNT_ATTR__ATIME)
	tests := []struct {
		name    string
		opts    []string
		want    MountOptions
		wantErr string
	}{
		{name: "none", opts: nil, want: MountOptions{}},
		{name: "defaults", opts: []string{"defaults"}, want: MountOptions{}},
		{name: "ro", opts: []string{"ro"}, want: MountOptions{Flags: unix.MS_RDONLY}},
		{name: "ro then rw", opts: []string{"ro", "rw"}, want: MountOptions{}},
		{name: "rw then ro", opts: []string{"rw", "ro"}, want: MountOptions{Flags: unix.MS_RDONLY}},
		{name: "nosuid nodev noexec", opts: []string{"nosuid", "nodev", "noexec"},
			want: MountOptions{Flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC}},
		{name: "suid dev exec clear", opts: []string{"nosuid", "nodev", "noexec", "suid", "dev", "exec"}, want: MountOptions{}},
		{name: "sync async", opts: []string{"sync", "async"}, want: MountOptions{}},
		{name: "sync", opts: []string{"sync"}, want: MountOptions{Flags: unix.MS_SYNCHRONOUS}},
		{name: "dirsync", opts: []string{"dirsync"}, want: MountOptions{Flags: unix.MS_DIRSYNC}},
		{name: "remount", opts: []string{"remount"}, want: MountOptions{Flags: unix.MS_REMOUNT}},
		{name: "mand nomand", opts: []string{"mand", "nomand"}, want: MountOptions{}},
		{name: "mand", opts: []string{"mand"}, want: MountOptions{Flags: unix.MS_MANDLOCK}},
		{name: "noatime atime", opts: []string{"noatime", "atime"}, want: MountOptions{}},
		{name: "nodiratime", opts: []string{"nodiratime"}, want: MountOptions{Flags: unix.MS_NODIRATIME}},
		{name: "nodiratime diratime", opts: []string{"nodiratime", "diratime"}, want: MountOptions{}},
		{name: "relatime", opts: []string{"relatime"}, want: MountOptions{Flags: unix.MS_RELATIME}},
		{name: "relatime norelatime", opts: []string{"relatime", "norelatime"}, want: MountOptions{}},
		{name: "strictatime", opts: []string{"strictatime"}, want: MountOptions{Flags: unix.MS_STRICTATIME}},
		{name: "strictatime nostrictatime", opts: []string{"strictatime", "nostrictatime"}, want: MountOptions{}},
		{name: "atime modes: last wins", opts: []string{"noatime", "relatime", "strictatime"}, want: MountOptions{Flags: unix.MS_STRICTATIME}},
		{name: "lazytime", opts: []string{"lazytime"}, want: MountOptions{Flags: unix.MS_LAZYTIME}},
		{name: "lazytime nolazytime", opts: []string{"lazytime", "nolazytime"}, want: MountOptions{}},
		{name: "bind", opts: []string{"bind"}, want: MountOptions{Flags: unix.MS_BIND}},
		{name: "rbind", opts: []string{"rbind"}, want: MountOptions{Flags: unix.MS_BIND | unix.MS_REC}},
		{name: "nosymfollow", opts: []string{"nosymfollow"}, want: MountOptions{Flags: unix.MS_NOSYMFOLLOW}},
		{name: "propagation in order", opts: []string{"rbind", "rprivate", "shared", "slave", "rslave", "unbindable", "runbindable", "private", "rshared"},
			want: MountOptions{Flags: unix.MS_BIND | unix.MS_REC, Propagation: []uintptr{
				unix.MS_PRIVATE | unix.MS_REC, unix.MS_SHARED, unix.MS_SLAVE, unix.MS_SLAVE | unix.MS_REC,
				unix.MS_UNBINDABLE, unix.MS_UNBINDABLE | unix.MS_REC, unix.MS_PRIVATE, unix.MS_SHARED | unix.MS_REC}}},
		{name: "unknown options become data in order", opts: []string{"nosuid", "size=65536k", "mode=1777", "newinstance"},
			want: MountOptions{Flags: unix.MS_NOSUID, Data: "size=65536k,mode=1777,newinstance"}},
		{name: "x- options ignored", opts: []string{"x-systemd.automount", "ro"}, want: MountOptions{Flags: unix.MS_RDONLY}},
		{name: "empty options ignored", opts: []string{"", " ", "ro"}, want: MountOptions{Flags: unix.MS_RDONLY}},
		{name: "rro", opts: []string{"rbind", "rro"},
			want: MountOptions{Flags: unix.MS_BIND | unix.MS_REC, RecAttr: &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}}},
		{name: "rro then rrw", opts: []string{"rro", "rrw"},
			want: MountOptions{RecAttr: &unix.MountAttr{Attr_clr: unix.MOUNT_ATTR_RDONLY}}},
		{name: "rnosuid rnodev rnoexec", opts: []string{"rnosuid", "rnodev", "rnoexec", "rnosymfollow", "rnodiratime"},
			want: MountOptions{RecAttr: &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC | unix.MOUNT_ATTR_NOSYMFOLLOW | unix.MOUNT_ATTR_NODIRATIME}}},
		{name: "rsuid rdev rexec", opts: []string{"rsuid", "rdev", "rexec", "rsymfollow", "rdiratime"},
			want: MountOptions{RecAttr: &unix.MountAttr{Attr_clr: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC | unix.MOUNT_ATTR_NOSYMFOLLOW | unix.MOUNT_ATTR_NODIRATIME}}},
		{name: "rnoatime clears the whole atime field", opts: []string{"rnoatime"},
			want: MountOptions{RecAttr: &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_NOATIME, Attr_clr: atime}}},
		{name: "rstrictatime after rnoatime", opts: []string{"rnoatime", "rstrictatime"},
			want: MountOptions{RecAttr: &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_STRICTATIME, Attr_clr: atime}}},
		{name: "ratime back to relatime", opts: []string{"rnoatime", "ratime"},
			want: MountOptions{RecAttr: &unix.MountAttr{Attr_clr: atime}}},
		{name: "rrelatime", opts: []string{"rrelatime"},
			want: MountOptions{RecAttr: &unix.MountAttr{Attr_clr: atime}}},
		{name: "idmap", opts: []string{"rbind", "idmap"}, want: MountOptions{Flags: unix.MS_BIND | unix.MS_REC, IDMap: true}},
		{name: "ridmap", opts: []string{"ridmap"}, want: MountOptions{IDMap: true}},
		{name: "x-mount.idmap refused", opts: []string{"x-mount.idmap=u:0:1000:1"}, wantErr: "uidMappings"},
		{name: "tmpcopyup", opts: []string{"tmpcopyup", "size=1k"}, want: MountOptions{CopyUp: true, Data: "size=1k"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseOptions(tc.opts)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseOptions(%q) error = %v, want one mentioning %q", tc.opts, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseOptions(%q): %v", tc.opts, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ParseOptions(%q)\n got %+v (rec %+v)\nwant %+v (rec %+v)", tc.opts, got, got.RecAttr, tc.want, tc.want.RecAttr)
			}
		})
	}
}

func TestNeedsRemount(t *testing.T) {
	for opts, want := range map[string]bool{
		"rbind":              false,
		"bind":               false,
		"rbind,ro":           true,
		"bind,nosuid":        true,
		"rbind,rprivate":     false,
		"rbind,rw":           false,
		"bind,remount":       false,
		"rbind,nodev,noexec": true,
	} {
		mo, err := ParseOptions(strings.Split(opts, ","))
		if err != nil {
			t.Fatal(err)
		}
		if got := mo.needsRemount(); got != want {
			t.Errorf("%s: needsRemount = %v, want %v", opts, got, want)
		}
	}
}

// FuzzParseOptions: any option list parses without panicking, the data
// string never carries a known flag name, and a recursive atime set always
// clears the whole atime field as mount_setattr(2) requires.
func FuzzParseOptions(f *testing.F) {
	for _, s := range []string{"ro,nosuid", "rbind,rro,rprivate", "size=1k,mode=755", "rnoatime,ratime", ",,,", "idmap", "defaults,\x00", "tmpcopyup"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		mo, err := ParseOptions(strings.Split(s, ","))
		if err != nil {
			return
		}
		for _, d := range strings.Split(mo.Data, ",") {
			if _, ok := flagOptions[d]; ok {
				t.Fatalf("flag option %q leaked into data %q", d, mo.Data)
			}
		}
		if a := mo.RecAttr; a != nil && a.Attr_set&unix.MOUNT_ATTR__ATIME != 0 && a.Attr_clr&unix.MOUNT_ATTR__ATIME != unix.MOUNT_ATTR__ATIME {
			t.Fatalf("atime set %#x without clearing the field (clr %#x)", a.Attr_set, a.Attr_clr)
		}
	})
}

func TestKnownOptions(t *testing.T) {
	known := KnownOptions()
	if len(known) != len(flagOptions)+len(propagationOptions)+len(recAttrOptions)+1+len(idmapOptions) {
		t.Fatalf("KnownOptions has %d entries", len(known))
	}
	for i, o := range known {
		if i > 0 && known[i-1] >= o {
			t.Fatalf("not sorted or duplicate at %q", o)
		}
		mo, err := ParseOptions([]string{o})
		if err != nil {
			t.Errorf("known option %q: %v", o, err)
		}
		if mo.Data != "" {
			t.Errorf("known option %q passed to the filesystem as data", o)
		}
	}
	for _, o := range []string{"x-mount.idmap"} {
		for _, k := range known {
			if k == o {
				t.Errorf("unsupported option %q listed as known", o)
			}
		}
	}
}
