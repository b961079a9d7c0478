package caps

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/internal/testbundle"
)

// The tests re-exec the test binary as a child that applies a Set and
// reports its capability sets, because capability drops are permanent.
const (
	childEnv = "KAGO_CAPS_TEST_CHILD" // JSON of childReq
)

type childReq struct {
	Caps *specs.LinuxCapabilities
	UID  int  // if non-zero: keepcaps, setresuid/gid to it, then Apply
	Exec bool // print /proc/self/status of an execve'd busybox instead of this thread's
}

func TestMain(m *testing.M) {
	if req := os.Getenv(childEnv); req != "" {
		if err := child(req); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(3)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// child runs the init's order of operations: bounding, uid switch with
// keepcaps, capset and ambient, then (optionally) execve.
func child(reqJSON string) error {
	var req childReq
	if err := json.Unmarshal([]byte(reqJSON), &req); err != nil {
		return err
	}
	runtime.LockOSThread()
	s, err := FromSpec(req.Caps)
	if err != nil {
		return err
	}
	if req.UID != 0 {
		if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
			return err
		}
	}
	if err := s.ApplyBounding(); err != nil {
		return err
	}
	if req.UID != 0 {
		// Raw syscalls change only this thread, as in the container init.
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(req.UID), uintptr(req.UID), uintptr(req.UID)); e != 0 {
			return fmt.Errorf("setresgid: %w", e)
		}
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(req.UID), uintptr(req.UID), uintptr(req.UID)); e != 0 {
			return fmt.Errorf("setresuid: %w", e)
		}
	}
	if err := s.Apply(); err != nil {
		return err
	}
	if req.Exec {
		return unix.Exec(testbundle.BusyboxPath, []string{"cat", "/proc/self/status"}, []string{})
	}
	b, err := os.ReadFile("/proc/thread-self/status")
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(b)
	return err
}

type status struct{ Inh, Prm, Eff, Bnd, Amb uint64 }

func runChild(t *testing.T, req childReq) status {
	t.Helper()
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(b))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v: %s", err, stderr.String())
	}
	var st status
	fields := map[string]*uint64{"CapInh": &st.Inh, "CapPrm": &st.Prm, "CapEff": &st.Eff, "CapBnd": &st.Bnd, "CapAmb": &st.Amb}
	seen := 0
	for _, line := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if p := fields[k]; ok && p != nil {
			if *p, err = strconv.ParseUint(strings.TrimSpace(v), 16, 64); err != nil {
				t.Fatalf("parse %q: %v", line, err)
			}
			seen++
		}
	}
	if seen != len(fields) {
		t.Fatalf("child status lacks capability lines:\n%s", out)
	}
	return st
}

func mask(t *testing.T, names ...string) uint64 {
	t.Helper()
	var m uint64
	for _, n := range names {
		c, err := Parse(n)
		if err != nil {
			t.Fatal(err)
		}
		m |= 1 << uint(c)
	}
	return m
}

func checkStatus(t *testing.T, got, want status) {
	t.Helper()
	for _, f := range []struct {
		name      string
		got, want uint64
	}{{"CapInh", got.Inh, want.Inh}, {"CapPrm", got.Prm, want.Prm}, {"CapEff", got.Eff, want.Eff}, {"CapBnd", got.Bnd, want.Bnd}, {"CapAmb", got.Amb, want.Amb}} {
		if f.got != f.want {
			t.Errorf("%s = %016x %v, want %016x %v", f.name, f.got, Names(f.got), f.want, Names(f.want))
		}
	}
}

// TestApplyThreadSets checks that each of the five sets lands exactly on the
// calling thread (root, no uid change).
func TestApplyThreadSets(t *testing.T) {
	testbundle.RequireRoot(t)
	c := &specs.LinuxCapabilities{
		Bounding:    DefaultDocker(),
		Permitted:   []string{"CAP_CHOWN", "CAP_KILL", "CAP_SETUID", "CAP_NET_BIND_SERVICE"},
		Effective:   []string{"CAP_CHOWN", "CAP_KILL"},
		Inheritable: []string{"CAP_KILL", "CAP_NET_BIND_SERVICE"},
		Ambient:     []string{"CAP_KILL"},
	}
	got := runChild(t, childReq{Caps: c})
	checkStatus(t, got, status{
		Bnd: mask(t, DefaultDocker()...),
		Prm: mask(t, c.Permitted...),
		Eff: mask(t, c.Effective...),
		Inh: mask(t, c.Inheritable...),
		Amb: mask(t, "CAP_KILL"),
	})
}

// TestAmbientSurvivesExecAsNonRoot runs the init's sequence for uid 65534 and
// checks the sets of the exec'd program: with no file capabilities, execve
// keeps bounding and inheritable and turns ambient into permitted and
// effective (capabilities(7) transformation rules).
func TestAmbientSurvivesExecAsNonRoot(t *testing.T) {
	testbundle.RequireRoot(t)
	c := &specs.LinuxCapabilities{
		Bounding:    []string{"CAP_NET_BIND_SERVICE", "CAP_KILL", "CAP_CHOWN"},
		Permitted:   []string{"CAP_NET_BIND_SERVICE", "CAP_KILL"},
		Effective:   []string{"CAP_NET_BIND_SERVICE", "CAP_KILL"},
		Inheritable: []string{"CAP_NET_BIND_SERVICE", "CAP_KILL"},
		Ambient:     []string{"CAP_NET_BIND_SERVICE"},
	}
	got := runChild(t, childReq{Caps: c, UID: 65534, Exec: true})
	amb := mask(t, "CAP_NET_BIND_SERVICE")
	checkStatus(t, got, status{
		Bnd: mask(t, c.Bounding...),
		Inh: mask(t, c.Inheritable...),
		Prm: amb, Eff: amb, Amb: amb,
	})
}

// TestNilSpecDropsEverything: no capabilities object means none at all.
func TestNilSpecDropsEverything(t *testing.T) {
	testbundle.RequireRoot(t)
	checkStatus(t, runChild(t, childReq{}), status{})
}

func TestAmbientNotPermittedFails(t *testing.T) {
	testbundle.RequireRoot(t)
	b, _ := json.Marshal(childReq{Caps: &specs.LinuxCapabilities{Ambient: []string{"CAP_KILL"}}})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(b))
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "raise ambient CAP_KILL") {
		t.Fatalf("ambient without permitted: err=%v out=%s, want failure naming CAP_KILL", err, out)
	}
}

func TestFromSpecErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    *specs.LinuxCapabilities
		want []string
	}{
		{"unknown", &specs.LinuxCapabilities{Effective: []string{"CAP_FLY"}}, []string{"capabilities.effective", `"CAP_FLY"`}},
		{"no prefix", &specs.LinuxCapabilities{Bounding: []string{"CHOWN"}}, []string{"capabilities.bounding", `did you mean "CAP_CHOWN"`}},
		{"empty", &specs.LinuxCapabilities{Ambient: []string{""}}, []string{"capabilities.ambient", "unknown capability"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FromSpec(tc.c)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestFromSpecMasks(t *testing.T) {
	s, err := FromSpec(&specs.LinuxCapabilities{Bounding: []string{"cap_chown", "CAP_SYS_ADMIN", "CAP_BPF"}})
	if err != nil {
		t.Fatal(err)
	}
	want := uint64(1)<<0 | 1<<21
	if last, _ := LastCap(); last >= 39 {
		want |= 1 << 39
	}
	if s.Bounding != want || s.Effective != 0 || s.Ambient != 0 {
		t.Fatalf("bounding %x effective %x ambient %x, want bounding %x and nothing else", s.Bounding, s.Effective, s.Ambient, want)
	}
	if s, err := FromSpec(nil); err != nil || s.Bounding|s.Effective|s.Permitted|s.Inheritable|s.Ambient != 0 {
		t.Fatalf("nil spec: %+v %v", s, err)
	}
}

func TestKnown(t *testing.T) {
	last, err := LastCap()
	if err != nil {
		t.Skip(err)
	}
	k := Known()
	if len(k) != last+1 || k[0] != "CAP_CHOWN" || k[21] != "CAP_SYS_ADMIN" {
		t.Fatalf("Known() = %v (len %d), want %d names starting CAP_CHOWN", k, len(k), last+1)
	}
}

// TestLastCapWithoutProc: the prctl probe, used where /proc is not
// mounted, finds the same last capability as /proc.
func TestLastCapWithoutProc(t *testing.T) {
	last, err := LastCap()
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := lastCapFromPrctl(); !ok || n != last {
		t.Fatalf("prctl probe says %d (%v), /proc says %d", n, ok, last)
	}
}
