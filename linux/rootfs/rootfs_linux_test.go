package rootfs

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kago-run/kago/linux/mountinfo"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/internal/testbundle"
)

// The root tests re-exec the test binary as TestHelperProcess in new mount,
// pid, uts and ipc namespaces (everything it mounts dies with it), with a
// scenario in the environment. The helper runs Prepare (+ Pivot + Finalize
// and execs busybox sh, or inspects the host side in Go) and the parent
// checks what it printed.

const helperEnv = "KAGO_ROOTFS_HELPER"

// scenario is what the parent tells the helper to do.
type scenario struct {
	Bundle  string
	Spec    *specs.Spec
	Opts    Options
	Console bool   // open a host pty and pass its slave as ConsolePath
	Script  string // run in the container after Finalize; "" = stop after Prepare
	Canary  string // host dir the helper checks is untouched after Prepare
	Rootfs  string // absolute rootfs path, for the Prepare-only report
	Race    bool   // after Prepare, mount on /race/sub while "race" is swapped with a symlink
	// NewUserNS runs the helper in a new user namespace mapping its root to
	// the host's root, where mounts inherited from the host are locked.
	NewUserNS bool
	// ConsoleAfterPivot opens the container's /dev/ptmx after Finalize and
	// calls SetupConsole with the new slave.
	ConsoleAfterPivot bool
	// NewCgroupNS adds CLONE_NEWCGROUP.
	NewCgroupNS bool
	// FakeV2 replaces /sys/fs/cgroup in the helper's mount namespace by a
	// cgroup2 mount, so a v1/hybrid host can exercise the pure-v2 branch.
	FakeV2 bool
}

func TestHelperProcess(t *testing.T) {
	data := os.Getenv(helperEnv)
	if data == "" {
		t.Skip("helper process for the root tests; runs only when re-executed by them")
	}
	var sc scenario
	if err := json.Unmarshal([]byte(data), &sc); err != nil {
		fail("decode scenario: %v", err)
	}
	if err := os.Chdir(sc.Bundle); err != nil {
		fail("chdir bundle: %v", err)
	}
	if sc.FakeV2 {
		if err := unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
			fail("make / rslave: %v", err)
		}
		if err := unix.Unmount(cgroupRoot, unix.MNT_DETACH); err != nil {
			fail("detach %s: %v", cgroupRoot, err)
		}
		if err := unix.Mount("cgroup2", cgroupRoot, "cgroup2", 0, ""); err != nil {
			fail("mount cgroup2: %v", err)
		}
	}
	if sc.Console {
		slave, err := openPty()
		if err != nil {
			fail("%v", err)
		}
		sc.Opts.ConsolePath = slave
	}
	if err := Prepare(sc.Spec, "rootfs", sc.Opts); err != nil {
		if sc.Script == "" {
			fmt.Printf("HELPER-ERROR: Prepare: %v\n", err)
			reportHost(sc)
			os.Exit(3)
		}
		fail("Prepare: %v", err)
	}
	if sc.Race {
		raceMounts(sc)
	}
	if sc.Script == "" {
		reportHost(sc)
		os.Exit(0)
	}
	if err := Pivot("rootfs", sc.Opts); err != nil {
		fail("Pivot: %v", err)
	}
	if err := Finalize(sc.Spec, nil); err != nil {
		fail("Finalize: %v", err)
	}
	if sc.ConsoleAfterPivot {
		slave, err := openPty()
		if err != nil {
			fail("%v", err)
		}
		if err := SetupConsole(slave); err != nil {
			fail("SetupConsole: %v", err)
		}
	}
	err := syscall.Exec("/bin/busybox", []string{"sh", "-c", sc.Script}, []string{"PATH=/bin"})
	fail("exec busybox: %v", err)
}

// openPty opens a pty master on /dev/ptmx (left open until exec) and
// returns its slave's path.
func openPty() (string, error) {
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return "", fmt.Errorf("open ptmx: %w", err)
	}
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		return "", fmt.Errorf("unlockpt: %w", err)
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		return "", fmt.Errorf("ptsname: %w", err)
	}
	return fmt.Sprintf("/dev/pts/%d", n), nil
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stdout, "HELPER-ERROR: "+format+"\n", args...)
	os.Exit(3)
}

// raceMounts mounts tmpfs on /race/sub 200 times while another goroutine
// atomically exchanges the directory "race" with a symlink to the host
// canary (renameat2 RENAME_EXCHANGE), the CVE-2021-30465 window. Each
// attempt may fail; none may land outside the rootfs.
func raceMounts(sc scenario) {
	r, err := openRoot(sc.Rootfs)
	if err != nil {
		fail("%v", err)
	}
	defer r.close()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = unix.Renameat2(unix.AT_FDCWD, filepath.Join(sc.Rootfs, "race"), unix.AT_FDCWD, filepath.Join(sc.Rootfs, "race-alt"), unix.RENAME_EXCHANGE)
		}
	}()
	ok, failed := 0, 0
	for i := 0; i < 200; i++ {
		if err := r.mountFS("tmpfs", "/race/sub", "tmpfs", MountOptions{Data: "size=4k"}, 0); err != nil {
			failed++
		} else {
			ok++
		}
	}
	close(stop)
	<-done
	fmt.Printf("RACE=%d ok %d failed\n", ok, failed)
}

// reportHost prints, after Prepare only, where mounts landed relative to
// the rootfs and whether the host canary was touched.
func reportHost(sc scenario) {
	mounts, err := mountinfo.Read()
	if err != nil {
		fail("mountinfo: %v", err)
	}
	for _, m := range mounts {
		switch {
		case under(m.Mountpoint, sc.Rootfs):
			fmt.Printf("INROOT=%s %s\n", strings.TrimPrefix(m.Mountpoint, sc.Rootfs), m.FSType)
		case sc.Canary != "" && under(m.Mountpoint, sc.Canary):
			fmt.Printf("ESCAPED=%s %s\n", m.Mountpoint, m.FSType)
		case m.Mountpoint == "/" && m.FSType == "tmpfs":
			fmt.Printf("ESCAPED=/ %s\n", m.FSType)
		}
	}
	if sc.Canary != "" {
		ents, err := os.ReadDir(sc.Canary)
		if err != nil {
			fail("read canary: %v", err)
		}
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		fmt.Printf("CANARY=%s\n", strings.Join(names, ","))
	}
}

// runHelper runs one scenario and returns its output. wantFail says the
// scenario is expected to end with a HELPER-ERROR.
func runHelper(t *testing.T, sc scenario) string {
	t.Helper()
	data, err := json.Marshal(sc)
	if err != nil {
		t.Fatal(err)
	}
	// All temporary dirs of one test share a parent: watch all of them.
	testTmp := filepath.Dir(sc.Bundle)
	before := mountsUnder(t, testTmp)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperProcess$", "-test.v=false")
	cmd.Env = append(os.Environ(), helperEnv+"="+string(data))
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC,
		Pdeathsig:  syscall.SIGKILL,
	}
	if sc.NewCgroupNS {
		cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWCGROUP
	}
	if sc.NewUserNS {
		cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWUSER
		cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}}
		cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}}
	}
	out, err := cmd.CombinedOutput()
	t.Logf("helper output:\n%s", out)
	if err != nil && !strings.Contains(string(out), "HELPER-ERROR") {
		t.Fatalf("helper: %v", err)
	}
	// Everything happened in the child's mount namespace: the test's own
	// mount table must not have gained anything under the bundle.
	if after := mountsUnder(t, testTmp); len(after) != len(before) {
		t.Fatalf("host mounts under %s changed: before %v, after %v", testTmp, before, after)
	}
	return string(out)
}

func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	ms, err := mountinfo.Read()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		if under(m.Mountpoint, dir) {
			out = append(out, m.Mountpoint)
		}
	}
	return out
}

// values returns the KEY=VALUE lines of the helper's output.
func values(out string) map[string]string {
	v := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if k, val, ok := strings.Cut(sc.Text(), "="); ok && k != "" && k[0] >= 'A' && k[0] <= 'Z' && !strings.Contains(k, " ") {
			v[k] = val
		}
	}
	return v
}

// containerMounts parses the mountinfo the container printed between
// MOUNTINFO-BEGIN and MOUNTINFO-END, keyed by mount point (last one wins).
func containerMounts(t *testing.T, out string) map[string]mountinfo.Info {
	t.Helper()
	b := strings.Index(out, "MOUNTINFO-BEGIN\n")
	e := strings.Index(out, "MOUNTINFO-END")
	if b < 0 || e < b {
		t.Fatalf("no mountinfo in output")
	}
	ms, err := mountinfo.Parse(strings.NewReader(out[b+len("MOUNTINFO-BEGIN\n") : e]))
	if err != nil {
		t.Fatal(err)
	}
	byPoint := map[string]mountinfo.Info{}
	for _, m := range ms {
		byPoint[m.Mountpoint] = m
	}
	return byPoint
}

func hasOpt(opts, o string) bool {
	for _, x := range strings.Split(opts, ",") {
		if x == o {
			return true
		}
	}
	return false
}

func newBundle(t *testing.T) (bundle, rootfs string) {
	t.Helper()
	testbundle.RequireRoot(t)
	bundle = t.TempDir()
	rootfs = filepath.Join(bundle, "rootfs")
	if err := testbundle.Rootfs(rootfs); err != nil {
		t.Fatal(err)
	}
	return bundle, rootfs
}

func baseMounts() []specs.Mount {
	return []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
	}
}

// testCgroup makes a memory (v1) or unified (v2) cgroup with one child for
// the container to see, removed after the test.
func testCgroup(t *testing.T) map[string]string {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(cgroupRoot, &st); err != nil {
		t.Skipf("no %s: %v", cgroupRoot, err)
	}
	key, base := "memory", filepath.Join(cgroupRoot, "memory")
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		key, base = "", cgroupRoot
	}
	dir := filepath.Join(base, fmt.Sprintf("kago-rootfs-test-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("create test cgroup: %v", err)
	}
	t.Cleanup(func() { os.Remove(filepath.Join(dir, "child")); os.Remove(dir) })
	if err := os.Mkdir(filepath.Join(dir, "child"), 0o755); err != nil {
		t.Fatalf("create test child cgroup: %v", err)
	}
	return map[string]string{key: dir}
}

func TestPrepareFullContainer(t *testing.T) {
	bundle, rootfs := newBundle(t)
	if err := os.WriteFile(filepath.Join(rootfs, "home", "secret"), []byte("hide me"), 0o600); err != nil {
		t.Fatal(err)
	}
	app := filepath.Join(rootfs, "opt", "app")
	if err := os.MkdirAll(filepath.Join(app, "sub"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(app, "file"), []byte("image"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(app, "sub", "nested"), []byte("deep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(app, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(filepath.Join(app, "file"), 1000, 1001); err != nil {
		t.Fatal(err)
	}
	roDir, rwDir := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(roDir, "hello"), []byte("from host"), 0o644); err != nil {
		t.Fatal(err)
	}
	hostFile := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(hostFile, []byte("single file"), 0o644); err != nil {
		t.Fatal(err)
	}
	cg := testCgroup(t)
	cgKey := "memory"
	if _, ok := cg[""]; ok {
		cgKey = ""
	}
	mounts := append(baseMounts(),
		specs.Mount{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		specs.Mount{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		specs.Mount{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		specs.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
		specs.Mount{Destination: "/mnt/ro", Type: "bind", Source: roDir, Options: []string{"rbind", "ro", "nosuid"}},
		specs.Mount{Destination: "/mnt/rw", Type: "bind", Source: rwDir, Options: []string{"rbind", "rw", "rprivate"}},
		specs.Mount{Destination: "/mnt/rro", Type: "bind", Source: roDir, Options: []string{"rbind", "rro"}},
		specs.Mount{Destination: "/mnt/shared", Type: "bind", Source: roDir, Options: []string{"rbind", "rshared"}},
		specs.Mount{Destination: "/etc/hostfile", Source: hostFile, Options: []string{"bind", "ro"}},
		specs.Mount{Destination: "/tmp/small", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m", "mode=0700", "noexec"}},
		specs.Mount{Destination: "/tmp/small", Type: "tmpfs", Source: "tmpfs", Options: []string{"remount", "size=2m", "noexec", "nodev"}},
		specs.Mount{Destination: "/mnt/rw2", Type: "bind", Source: rwDir, Options: []string{"rbind"}},
		specs.Mount{Destination: "/mnt/rw2", Type: "bind", Source: rwDir, Options: []string{"bind", "remount", "ro"}},
		specs.Mount{Destination: "/opt/app", Type: "tmpfs", Source: "tmpfs", Options: []string{"tmpcopyup", "size=1m"}},
	)
	spec := &specs.Spec{
		Root:   &specs.Root{Path: "rootfs", Readonly: true},
		Mounts: mounts,
		Linux: &specs.Linux{
			Devices: []specs.LinuxDevice{{Path: "/dev/kago-null", Type: "c", Major: 1, Minor: 3,
				FileMode: mode(0o640), UID: u32(1000), GID: u32(1001)}},
			MaskedPaths:       []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/scsi", "/home", "/proc/does-not-exist"},
			ReadonlyPaths:     []string{"/proc/sys", "/proc/sysrq-trigger", "/proc/missing", "/tmp/small"},
			Sysctl:            map[string]string{"kernel.domainname": "kago.test"},
			RootfsPropagation: "shared",
			Namespaces: []specs.LinuxNamespace{{Type: specs.MountNamespace}, {Type: specs.PIDNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.IPCNamespace}},
		},
	}
	script := `
echo MOUNTINFO-BEGIN; cat /proc/self/mountinfo; echo MOUNTINFO-END
ls -ln /dev
echo DEVNODE=$(stat -c '%F %t:%T %a %u:%g' /dev/kago-null)
echo NULLNODE=$(stat -c '%F %t:%T %a' /dev/null)
for d in zero full random urandom tty; do test -c /dev/$d && echo DEV_$d=c; done
echo PTMX=$(readlink /dev/ptmx) FD=$(readlink /dev/fd) STDIN=$(readlink /dev/stdin) CORE=$(readlink /dev/core)
if cat /proc/kcore >/dev/null 2>&1; then echo KCORE=readable; else echo KCORE=masked; fi
echo KEYS=$(wc -c </proc/keys)
echo TIMERS=$(wc -c </proc/timer_list)
echo HOME=$(ls -A /home | wc -l)
echo DOMAIN=$(cat /proc/sys/kernel/domainname)
if (echo other > /proc/sys/kernel/domainname) 2>/dev/null; then echo SYSRO=writable; else echo SYSRO=readonly; fi
if touch /rootfile 2>/dev/null; then echo ROOT=writable; else echo ROOT=readonly; fi
if touch /mnt/ro/x 2>/dev/null; then echo BINDRO=writable; else echo BINDRO=readonly; fi
echo BINDRO_READ=$(cat /mnt/ro/hello)
echo written-inside > /mnt/rw/out && echo BINDRW=ok
echo HOSTFILE=$(cat /etc/hostfile)
echo SMALL=$(stat -c %a /tmp/small)
if test -d /sys/fs/cgroup/` + cgKey + `/child; then echo CGCHILD=yes; else echo CGCHILD=no; fi
echo CGLIST=$(ls /sys/fs/cgroup/)
echo CWD=$(pwd)
echo COPYUP=$(cat /opt/app/file) $(cat /opt/app/sub/nested) $(readlink /opt/app/link) $(stat -c '%a %u:%g' /opt/app/file) $(stat -c %a /opt/app/sub) $(stat -c %a /opt/app)
echo changed > /opt/app/file && echo COPYUP_WRITE=ok
echo FDS=$(ls /proc/self/fd | sort -n | tr '\n' ' ')
`
	out := runHelper(t, scenario{Bundle: bundle, Spec: spec, Opts: Options{CgroupPaths: cg}, Script: script, ConsoleAfterPivot: true})
	v := values(out)
	want := map[string]string{
		"DEVNODE":      "character special file 1:3 640 1000:1001",
		"NULLNODE":     "character special file 1:3 666",
		"DEV_zero":     "c",
		"DEV_tty":      "c",
		"DEV_urandom":  "c",
		"PTMX":         "pts/ptmx FD=/proc/self/fd STDIN=/proc/self/fd/0 CORE=" + hostKcore(),
		"KCORE":        "masked",
		"TIMERS":       "0",
		"HOME":         "0",
		"KEYS":         "0",
		"DOMAIN":       "kago.test",
		"SYSRO":        "readonly",
		"ROOT":         "readonly",
		"BINDRO":       "readonly",
		"BINDRO_READ":  "from host",
		"BINDRW":       "ok",
		"HOSTFILE":     "single file",
		"SMALL":        "700",
		"CGCHILD":      "yes",
		"CWD":          "/",
		"COPYUP":       "image deep /etc/passwd 640 1000:1001 750 750",
		"COPYUP_WRITE": "ok",
		// Nothing of Prepare/Pivot/Finalize leaks into the container; fds the
		// test itself inherited without O_CLOEXEC pass through exec.
		"FDS": strings.Join(append([]string{"0", "1", "2", "3"}, inheritedFds(t)...), " "),
	}
	for k, w := range want {
		if v[k] != w {
			t.Errorf("%s = %q, want %q", k, v[k], w)
		}
	}
	if got, err := os.ReadFile(filepath.Join(app, "file")); err != nil || string(got) != "image" {
		t.Errorf("write to the tmpcopyup tmpfs reached the image: %q, %v", got, err)
	}
	if got, err := os.ReadFile(filepath.Join(rwDir, "out")); err != nil || string(got) != "written-inside\n" {
		t.Errorf("rw bind did not write through to the host: %q, %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(roDir, "x")); err == nil {
		t.Errorf("ro bind: file created on host")
	}
	if strings.Contains(v["CGLIST"], "kago-rootfs-test") {
		t.Errorf("container sees host cgroup tree: %s", v["CGLIST"])
	}

	ms := containerMounts(t, out)
	checks := []struct {
		point, fstype string
		opts          []string
		super         []string
	}{
		{"/", "", []string{"ro"}, nil},
		{"/proc", "proc", []string{"rw", "nosuid", "nodev", "noexec"}, nil},
		{"/dev", "tmpfs", []string{"rw", "nosuid"}, []string{"mode=755"}},
		{"/dev/pts", "devpts", []string{"nosuid", "noexec"}, []string{"ptmxmode=666", "mode=620"}},
		{"/dev/shm", "tmpfs", []string{"nosuid", "nodev", "noexec"}, []string{"size=65536k"}},
		{"/dev/mqueue", "mqueue", []string{"nosuid", "nodev", "noexec"}, nil},
		{"/sys", "sysfs", []string{"ro", "nosuid"}, nil},
		{"/sys/fs/cgroup", "tmpfs", []string{"ro"}, nil},
		{"/mnt/ro", "", []string{"ro", "nosuid"}, nil},
		{"/mnt/rw", "", []string{"rw"}, nil},
		{"/mnt/rro", "", []string{"ro"}, nil},
		{"/etc/hostfile", "", []string{"ro"}, nil},
		// a read-only path keeps the flags it had (noexec, nodev)
		{"/tmp/small", "tmpfs", []string{"ro", "noexec", "nodev"}, []string{"size=2048k", "mode=700"}},
		{"/mnt/rw2", "", []string{"ro"}, nil},
		{"/opt/app", "tmpfs", []string{"rw"}, []string{"size=1024k"}},
		{"/proc/sys", "proc", []string{"ro"}, nil},
		{"/proc/keys", "", nil, nil},
		{"/proc/timer_list", "", nil, nil},
		{"/proc/scsi", "tmpfs", []string{"ro"}, nil},
		{"/home", "tmpfs", []string{"ro"}, nil},
	}
	if cgKey == "" {
		checks[7].fstype = "cgroup2"
	} else {
		checks = append(checks, struct {
			point, fstype string
			opts, super   []string
		}{"/sys/fs/cgroup/memory", "cgroup", []string{"ro", "nosuid"}, []string{"memory"}})
	}
	for _, c := range checks {
		m, ok := ms[c.point]
		if !ok {
			if c.point == "/proc/scsi" {
				continue // not every kernel has /proc/scsi; masking a missing path is a no-op
			}
			t.Errorf("no mount at %s in the container", c.point)
			continue
		}
		if c.fstype != "" && m.FSType != c.fstype {
			t.Errorf("%s: fstype %s, want %s", c.point, m.FSType, c.fstype)
		}
		for _, o := range c.opts {
			if !hasOpt(m.Options, o) {
				t.Errorf("%s: options %s lack %s", c.point, m.Options, o)
			}
		}
		for _, o := range c.super {
			if !hasOpt(m.SuperOptions, o) {
				t.Errorf("%s: super options %s lack %s", c.point, m.SuperOptions, o)
			}
		}
	}
	// pivot_root detached the host's tree: exactly the spec's mounts, the
	// runtime's additions and the masked/read-only paths are left.
	wantPoints := []string{"/", "/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup",
		"/mnt/ro", "/mnt/rw", "/mnt/rro", "/mnt/shared", "/mnt/rw2", "/etc/hostfile", "/tmp/small", "/opt/app",
		"/proc/sys", "/proc/keys", "/proc/timer_list", "/home", "/dev/console"}
	if cgKey != "" {
		wantPoints = append(wantPoints, "/sys/fs/cgroup/"+cgKey)
	}
	for _, opt := range []string{"/proc/kcore", "/proc/scsi", "/proc/sysrq-trigger"} {
		if _, err := os.Stat(opt); err == nil {
			wantPoints = append(wantPoints, opt)
		}
	}
	sort.Strings(wantPoints)
	if got := keys(ms); strings.Join(got, " ") != strings.Join(wantPoints, " ") {
		t.Errorf("container mount points:\n got %v\nwant %v", got, wantPoints)
	}
	if c, pts := ms["/dev/console"], ms["/dev/pts"]; c.FSType != "devpts" || c.Dev != pts.Dev {
		t.Errorf("/dev/console is not a slave of the container's devpts: console %+v, pts %+v", c, pts)
	}
	if !ms["/"].Shared() {
		t.Errorf("linux.rootfsPropagation shared: / is not shared: %+v", ms["/"])
	}
	if !ms["/mnt/shared"].Shared() || ms["/mnt/rw"].Shared() {
		t.Errorf("propagation options: /mnt/shared %v, /mnt/rw %v", ms["/mnt/shared"].Optional, ms["/mnt/rw"].Optional)
	}
	for p := range ms {
		if strings.HasPrefix(p, bundle) || strings.HasPrefix(p, "/tmp/Test") {
			t.Errorf("container sees a host path mount %s", p)
		}
	}
}

// TestNoPivotUserNSDevicesConsole covers --no-pivot, device nodes bind-mounted
// from the host (the user-namespace way), /dev/shm added when the spec has
// none, a read-only /dev (remounted after the nodes are made), a bind
// source relative to the bundle, cgroups of the calling process
// (DefaultCgroupPaths) and a pty slave on /dev/console.
func TestNoPivotUserNSDevicesConsole(t *testing.T) {
	bundle, _ := newBundle(t)
	if err := os.MkdirAll(filepath.Join(bundle, "hostdata"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "hostdata", "f"), []byte("relative"), 0o644); err != nil {
		t.Fatal(err)
	}
	mounts := baseMounts()
	mounts[1].Options = append(mounts[1].Options, "ro")
	mounts = append(mounts,
		specs.Mount{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"ro", "nosuid"}},
		specs.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"ro", "nosuid"}},
		specs.Mount{Destination: "/data", Type: "bind", Source: "hostdata", Options: []string{"rbind", "ro"}},
	)
	own, err := DefaultCgroupPaths()
	if err != nil {
		t.Fatal(err)
	}
	spec := &specs.Spec{Root: &specs.Root{Path: "rootfs"}, Mounts: mounts, Linux: &specs.Linux{}}
	script := `
echo MOUNTINFO-BEGIN; cat /proc/self/mountinfo; echo MOUNTINFO-END
echo NULL=$(echo data > /dev/null && echo ok)
echo ZERO=$(head -c 4 /dev/zero | wc -c)
echo CWD=$(pwd)
test -f /bin/busybox && echo BUSYBOX=yes
echo SHM=$(stat -c %a /dev/shm)
echo DATA=$(cat /data/f)
if touch /dev/newfile 2>/dev/null; then echo DEVRO=writable; else echo DEVRO=readonly; fi
echo CGROUPS=$(ls /sys/fs/cgroup | sort | tr '\n' ' ')
`
	out := runHelper(t, scenario{Bundle: bundle, Spec: spec, Opts: Options{NoPivot: true, UserNS: true}, Console: true, Script: script})
	v := values(out)
	var wantCgroups []string
	for k := range own {
		if k != "" {
			wantCgroups = append(wantCgroups, k)
		}
	}
	sort.Strings(wantCgroups)
	for k, w := range map[string]string{"NULL": "ok", "ZERO": "4", "CWD": "/", "BUSYBOX": "yes", "SHM": "1777",
		"DATA": "relative", "DEVRO": "readonly", "CGROUPS": strings.Join(wantCgroups, " ")} {
		if v[k] != w {
			t.Errorf("%s = %q, want %q", k, v[k], w)
		}
	}
	ms := containerMounts(t, out)
	for _, dev := range []string{"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", "/dev/console"} {
		m, ok := ms[dev]
		if !ok || m.FSType != "devtmpfs" && m.FSType != "devpts" {
			t.Errorf("%s: want a bind mount of the host node, got %+v (present %v)", dev, m, ok)
		}
	}
	if m, ok := ms["/dev/shm"]; !ok || m.FSType != "tmpfs" || !hasOpt(m.Options, "noexec") {
		t.Errorf("/dev/shm not added as a tmpfs: %+v", m)
	}
	for k, hostDir := range own {
		if k == "" {
			continue
		}
		m := ms["/sys/fs/cgroup/"+k]
		if want := strings.TrimPrefix(hostDir, "/sys/fs/cgroup/"+k); m.Root != cleanPath(want) || !hasOpt(m.Options, "ro") {
			t.Errorf("/sys/fs/cgroup/%s shows %s (options %s), want the caller's cgroup %s read-only", k, m.Root, m.Options, cleanPath(want))
		}
	}
	if m := ms["/dev"]; !hasOpt(m.Options, "ro") {
		t.Errorf("/dev is not read-only: %+v", m)
	}
	if _, ok := ms["/"]; !ok {
		t.Errorf("the moved rootfs is not / in the chroot: %v", keys(ms))
	}
}

// inheritedFds lists the fds above 3 this test process has without
// FD_CLOEXEC (left to it by whatever started go test): they survive every
// exec, so the container sees them too.
func inheritedFds(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var fds []int
	for _, e := range ents {
		var fd int
		if _, err := fmt.Sscan(e.Name(), &fd); err != nil || fd <= 3 {
			continue
		}
		if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil && flags&unix.FD_CLOEXEC == 0 {
			fds = append(fds, fd)
		}
	}
	sort.Ints(fds)
	out := make([]string, len(fds))
	for i, fd := range fds {
		out[i] = fmt.Sprint(fd)
	}
	return out
}

// hostKcore is where /dev/core must point: nowhere on kernels without
// /proc/kcore (the link is only made when the target exists).
func hostKcore() string {
	if _, err := os.Stat("/proc/kcore"); err == nil {
		return "/proc/kcore"
	}
	return ""
}

func keys(m map[string]mountinfo.Info) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestSymlinkEscapes is CVE-2021-30465 and its relatives: destinations that
// go through symlinks planted in the image must end up inside the rootfs
// (or fail), never on the host, whose canary directory must stay untouched.
func TestSymlinkEscapes(t *testing.T) {
	testbundle.RequireRoot(t)
	tmpfs := func(dest string) specs.Mount {
		return specs.Mount{Destination: dest, Type: "tmpfs", Source: "tmpfs", Options: []string{"size=4k"}}
	}
	tests := []struct {
		name  string
		setup func(rootfs, canary string) error
		mount specs.Mount
		// wantIn is where the mount must land, relative to the rootfs;
		// "" means the scenario must fail instead.
		wantIn  string
		wantErr string
	}{
		{name: "absolute symlink to /", mount: tmpfs("/evil"), wantIn: "/",
			setup: func(r, c string) error { return os.Symlink("/", filepath.Join(r, "evil")) }},
		{name: "relative dotdot symlink", mount: tmpfs("/evil"), wantIn: "CANARY",
			setup: func(r, c string) error {
				if err := os.MkdirAll(filepath.Join(r, c), 0o755); err != nil {
					return err
				}
				return os.Symlink(strings.Repeat("../", 20)+strings.TrimPrefix(c, "/"), filepath.Join(r, "evil"))
			}},
		{name: "absolute symlink in a middle component", mount: tmpfs("/mid/sub"), wantIn: "CANARY/sub",
			setup: func(r, c string) error {
				if err := os.MkdirAll(filepath.Join(r, c), 0o755); err != nil {
					return err
				}
				return os.Symlink(c, filepath.Join(r, "mid"))
			}},
		{name: "absolute symlink in a middle component, target missing in rootfs", mount: tmpfs("/mid/sub"),
			wantErr: "symlink to a missing target",
			setup:   func(r, c string) error { return os.Symlink(c, filepath.Join(r, "mid")) }},
		{name: "dotdot in destination", mount: tmpfs("/../../../../../../CANARY"), wantIn: "CANARY"},
		{name: "symlink to missing host path", mount: tmpfs("/evil"), wantErr: "symlink to a missing target",
			setup: func(r, c string) error { return os.Symlink(c+"/nowhere", filepath.Join(r, "evil")) }},
		{name: "file bind through symlink", wantErr: "symlink to a missing target",
			mount: specs.Mount{Destination: "/evilfile", Source: "/etc/hostname", Options: []string{"bind"}},
			setup: func(r, c string) error { return os.Symlink(c+"/canary", filepath.Join(r, "evilfile")) }},
		{name: "proc over symlink", wantErr: "symlink",
			mount: specs.Mount{Destination: "/proc", Type: "proc", Source: "proc"},
			setup: func(r, c string) error {
				if err := os.Remove(filepath.Join(r, "proc")); err != nil {
					return err
				}
				return os.Symlink(c, filepath.Join(r, "proc"))
			}},
		{name: "sysfs over symlink in /sys", wantErr: "symlink",
			mount: specs.Mount{Destination: "/sys/kernel/security", Type: "securityfs", Source: "securityfs"},
			setup: func(r, c string) error { return os.Symlink("/", filepath.Join(r, "sys", "kernel")) }},
		{name: "proc symlink to a dir inside rootfs", wantErr: "symlink",
			mount: specs.Mount{Destination: "/proc", Type: "proc", Source: "proc"},
			setup: func(r, c string) error {
				if err := os.Remove(filepath.Join(r, "proc")); err != nil {
					return err
				}
				return os.Symlink("tmp", filepath.Join(r, "proc"))
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bundle, rootfs := newBundle(t)
			canary := t.TempDir()
			if err := os.WriteFile(filepath.Join(canary, "canary"), []byte("host"), 0o644); err != nil {
				t.Fatal(err)
			}
			if tc.setup != nil {
				if err := tc.setup(rootfs, canary); err != nil {
					t.Fatal(err)
				}
			}
			m := tc.mount
			m.Destination = strings.ReplaceAll(m.Destination, "CANARY", strings.TrimPrefix(canary, "/"))
			spec := &specs.Spec{Root: &specs.Root{Path: "rootfs"}, Mounts: []specs.Mount{m}}
			out := runHelper(t, scenario{Bundle: bundle, Spec: spec, Rootfs: rootfs, Canary: canary})
			v := values(out)
			if v["CANARY"] != "canary" {
				t.Errorf("host canary dir changed or hidden: %q", v["CANARY"])
			}
			if strings.Contains(out, "ESCAPED=") {
				t.Errorf("a mount escaped the rootfs")
			}
			if tc.wantErr != "" {
				if !strings.Contains(out, "HELPER-ERROR") || !strings.Contains(out, tc.wantErr) {
					t.Errorf("want Prepare to fail mentioning %q", tc.wantErr)
				}
				return
			}
			if strings.Contains(out, "HELPER-ERROR") {
				t.Fatalf("Prepare failed")
			}
			want := strings.TrimSuffix(strings.ReplaceAll(tc.wantIn, "CANARY", strings.TrimPrefix(canary, "/")), "/")
			if want != "" {
				want = "/" + strings.TrimPrefix(want, "/")
			}
			if !strings.Contains(out, "INROOT="+want+" tmpfs\n") {
				t.Errorf("want the tmpfs at rootfs%s", want)
			}
		})
	}
}

// TestSymlinkSwapRace mounts repeatedly on a path whose middle component is
// atomically swapped with a symlink to a host directory. Mounts may fail;
// none may reach the host.
func TestSymlinkSwapRace(t *testing.T) {
	bundle, rootfs := newBundle(t)
	canary := t.TempDir()
	if err := os.WriteFile(filepath.Join(canary, "canary"), []byte("host"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(rootfs, "race", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The symlink's target also exists inside the rootfs, so both sides of
	// the swap can succeed: one in race/sub, one in rootfs/<canary>/sub.
	if err := os.MkdirAll(filepath.Join(rootfs, canary, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(canary, filepath.Join(rootfs, "race-alt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(canary, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	spec := &specs.Spec{Root: &specs.Root{Path: "rootfs"}}
	out := runHelper(t, scenario{Bundle: bundle, Spec: spec, Rootfs: rootfs, Canary: canary, Race: true})
	v := values(out)
	if v["CANARY"] != "canary,sub" {
		t.Errorf("host canary dir changed or hidden: %q", v["CANARY"])
	}
	if strings.Contains(out, "ESCAPED=") || strings.Contains(out, "HELPER-ERROR") {
		t.Errorf("a mount escaped the rootfs or the helper failed")
	}
	var ok, failed int
	if _, err := fmt.Sscanf(v["RACE"], "%d ok %d failed", &ok, &failed); err != nil || ok+failed != 200 {
		t.Fatalf("race result %q: %v", v["RACE"], err)
	}
	// Mounts that succeeded are all inside the rootfs: one tmpfs line per
	// success, stacked at race/sub (or race-alt/sub after the swaps) or at
	// <canary>/sub inside the rootfs.
	if n := strings.Count(out, "/sub tmpfs\n"); n != ok {
		t.Errorf("%d tmpfs mounts at */sub in the rootfs, want %d", n, ok)
	}
}

// TestUserNamespace runs the whole sequence in a new user namespace, where
// device nodes must be bind-mounted, sysfs without a network namespace falls
// back to a bind of /sys, and remounts must keep the locked flags.
func TestUserNamespace(t *testing.T) {
	bundle, _ := newBundle(t)
	roDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(roDir, "hello"), []byte("from host"), 0o644); err != nil {
		t.Fatal(err)
	}
	mounts := append(baseMounts(),
		specs.Mount{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		specs.Mount{Destination: "/mnt/ro", Type: "bind", Source: roDir, Options: []string{"rbind", "ro", "nosuid"}},
	)
	spec := &specs.Spec{
		Root:   &specs.Root{Path: "rootfs", Readonly: true},
		Mounts: mounts,
		Linux: &specs.Linux{
			MaskedPaths:   []string{"/proc/keys", "/proc/timer_list"},
			ReadonlyPaths: []string{"/proc/sys"},
			Sysctl:        map[string]string{"kernel.hostname": "kago-userns"},
			Namespaces:    []specs.LinuxNamespace{{Type: specs.UserNamespace}, {Type: specs.UTSNamespace}},
		},
	}
	script := `
echo MOUNTINFO-BEGIN; cat /proc/self/mountinfo; echo MOUNTINFO-END
echo HOST=$(hostname)
echo NULL=$(echo x > /dev/null && echo ok)
echo KEYS=$(wc -c </proc/keys)
if touch /rootfile 2>/dev/null; then echo ROOT=writable; else echo ROOT=readonly; fi
if touch /mnt/ro/x 2>/dev/null; then echo BINDRO=writable; else echo BINDRO=readonly; fi
test -d /sys/kernel && echo SYS=yes
`
	out := runHelper(t, scenario{Bundle: bundle, Spec: spec, Opts: Options{UserNS: true}, Script: script, NewUserNS: true})
	v := values(out)
	for k, w := range map[string]string{"HOST": "kago-userns", "NULL": "ok", "KEYS": "0", "ROOT": "readonly", "BINDRO": "readonly", "SYS": "yes"} {
		if v[k] != w {
			t.Errorf("%s = %q, want %q", k, v[k], w)
		}
	}
	ms := containerMounts(t, out)
	if m := ms["/dev/null"]; m.FSType != "devtmpfs" {
		t.Errorf("/dev/null is not a bind of the host node: %+v", m)
	}
	if m := ms["/sys"]; m.FSType != "sysfs" || !hasOpt(m.Options, "ro") {
		t.Errorf("/sys: %+v", m)
	}
	// Without a network namespace sysfs is the host's, bound recursively:
	// its submounts must be read-only too.
	for p, m := range ms {
		if strings.HasPrefix(p, "/sys/") && !hasOpt(m.Options, "ro") {
			t.Errorf("%s under the read-only /sys is writable: %s", p, m.Options)
		}
	}
}

// TestDevBindIsLeftAlone: a bind-mounted /dev is the host's (or a volume);
// Prepare must not create device nodes, links or /dev/shm in it.
func TestDevBindIsLeftAlone(t *testing.T) {
	bundle, _ := newBundle(t)
	hostDev := t.TempDir()
	spec := &specs.Spec{Root: &specs.Root{Path: "rootfs"}, Mounts: []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc"},
		{Destination: "/dev", Type: "bind", Source: hostDev, Options: []string{"rbind"}},
	}}
	out := runHelper(t, scenario{Bundle: bundle, Spec: spec, Script: "echo DEVCOUNT=$(ls -A /dev | wc -l)"})
	if v := values(out); v["DEVCOUNT"] != "0" {
		t.Errorf("container /dev has %q entries, want 0", v["DEVCOUNT"])
	}
	if ents, err := os.ReadDir(hostDev); err != nil || len(ents) != 0 {
		t.Errorf("Prepare wrote into the bind-mounted /dev on the host: %v, %v", ents, err)
	}
}

// TestNoDevMountUsesImageDev: without a /dev mount the nodes are made in the
// image's own /dev (as runc does), here the bundle's rootfs/dev.
func TestNoDevMountUsesImageDev(t *testing.T) {
	bundle, rootfs := newBundle(t)
	spec := &specs.Spec{Root: &specs.Root{Path: "rootfs"}, Mounts: []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}}}
	out := runHelper(t, scenario{Bundle: bundle, Spec: spec, Script: "echo NULL=$(echo x >/dev/null && echo ok)"})
	if v := values(out); v["NULL"] != "ok" {
		t.Errorf("/dev/null unusable: %q", v["NULL"])
	}
	fi, err := os.Lstat(filepath.Join(rootfs, "dev", "null"))
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		t.Errorf("rootfs/dev/null: %v, %v", fi, err)
	}
}

// TestCgroupNamespace: with a cgroup namespace every hierarchy is a fresh
// mount whose root is the namespace's (the helper's own cgroup), not a bind
// of a host path.
func TestCgroupNamespace(t *testing.T) {
	bundle, _ := newBundle(t)
	own, err := ownCgroupHierarchies()
	if err != nil {
		t.Fatal(err)
	}
	mounts := append(baseMounts(),
		specs.Mount{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"ro", "nosuid"}},
		specs.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"ro", "nosuid", "nodev", "noexec"}},
	)
	spec := &specs.Spec{Root: &specs.Root{Path: "rootfs"}, Mounts: mounts,
		Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.CgroupNamespace}}}}
	script := "echo MOUNTINFO-BEGIN; cat /proc/self/mountinfo; echo MOUNTINFO-END; echo SELF=$(cat /proc/self/cgroup | grep -c ':/$')"
	out := runHelper(t, scenario{Bundle: bundle, Spec: spec, Script: script, NewCgroupNS: true})
	ms := containerMounts(t, out)
	if len(own) == 0 {
		t.Skip("no cgroup hierarchies mounted under /sys/fs/cgroup")
	}
	for _, h := range own {
		p := cleanPath("/sys/fs/cgroup/" + h.Key)
		m, ok := ms[p]
		if !ok {
			t.Errorf("no mount at %s", p)
			continue
		}
		wantType := "cgroup"
		if h.Controllers == "" {
			wantType = "cgroup2"
		}
		if m.FSType != wantType || m.Root != "/" || !hasOpt(m.Options, "ro") || !hasOpt(m.Options, "nosuid") {
			t.Errorf("%s: %s root %s options %s, want a fresh read-only %s showing the namespace root", p, m.FSType, m.Root, m.Options, wantType)
		}
	}
	if v := values(out); v["SELF"] != fmt.Sprint(len(strings.Split(strings.TrimSpace(readFile(t, "/proc/self/cgroup")), "\n"))) {
		t.Errorf("container is not at the root of its cgroup namespace: %s", v["SELF"])
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestCgroupV2 runs the pure cgroup v2 branch: with a path the container's
// cgroup directory is bind-mounted, with a cgroup namespace cgroup2 is
// mounted afresh. On a v1/hybrid host the helper first puts a cgroup2 mount
// on /sys/fs/cgroup in its own mount namespace.
func TestCgroupV2(t *testing.T) {
	testbundle.RequireRoot(t)
	var st unix.Statfs_t
	if err := unix.Statfs(cgroupRoot, &st); err != nil {
		t.Skipf("no %s: %v", cgroupRoot, err)
	}
	unified, fake := cgroupRoot, false
	if st.Type != unix.CGROUP2_SUPER_MAGIC {
		unified, fake = filepath.Join(cgroupRoot, "unified"), true
		if err := unix.Statfs(unified, &st); err != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
			t.Skip("no cgroup2 hierarchy on this host")
		}
	}
	name := fmt.Sprintf("kago-rootfs-v2-%d", os.Getpid())
	dir := filepath.Join(unified, name)
	if err := os.MkdirAll(filepath.Join(dir, "child"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(filepath.Join(dir, "child")); os.Remove(dir) })
	mounts := append(baseMounts(),
		specs.Mount{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"ro", "nosuid"}},
		specs.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"ro", "nosuid", "nodev", "noexec"}},
	)
	script := "echo MOUNTINFO-BEGIN; cat /proc/self/mountinfo; echo MOUNTINFO-END; test -d /sys/fs/cgroup/child && echo CHILD=yes; true"
	t.Run("bind", func(t *testing.T) {
		bundle, _ := newBundle(t)
		spec := &specs.Spec{Root: &specs.Root{Path: "rootfs"}, Mounts: mounts}
		// Seen from the helper, the cgroup2 mount is on /sys/fs/cgroup.
		out := runHelper(t, scenario{Bundle: bundle, Spec: spec, Script: script, FakeV2: fake,
			Opts: Options{CgroupPaths: map[string]string{"": filepath.Join(cgroupRoot, name)}}})
		m := containerMounts(t, out)["/sys/fs/cgroup"]
		if m.FSType != "cgroup2" || m.Root != "/"+name || !hasOpt(m.Options, "ro") || values(out)["CHILD"] != "yes" {
			t.Errorf("/sys/fs/cgroup: %+v, want a read-only bind of %s", m, name)
		}
	})
	t.Run("namespace", func(t *testing.T) {
		bundle, _ := newBundle(t)
		spec := &specs.Spec{Root: &specs.Root{Path: "rootfs"}, Mounts: mounts,
			Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.CgroupNamespace}}}}
		out := runHelper(t, scenario{Bundle: bundle, Spec: spec, Script: script, FakeV2: fake, NewCgroupNS: true})
		m := containerMounts(t, out)["/sys/fs/cgroup"]
		if m.FSType != "cgroup2" || m.Root != "/" || !hasOpt(m.Options, "ro") {
			t.Errorf("/sys/fs/cgroup: %+v, want a fresh read-only cgroup2", m)
		}
	})
}
