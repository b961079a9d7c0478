// The kernel tests probe x86-64 system calls (getpgrp, _sysctl, ...) by
// number: they build for amd64 only.

//go:build amd64

package seccomp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/internal/testbundle"
	"github.com/kago-run/kago/linux/caps"
)

// A filter cannot be removed, so each kernel test re-execs the test binary as
// a child (childEnv set) that loads the filter on a locked thread, like the
// container init, and then either runs raw syscalls from that thread and
// prints their results as JSON, or execs busybox.

const childEnv = "KAGO_SECCOMP_TEST_CHILD"

type probe struct {
	Nr   uintptr
	Args [6]uint64
}

type result struct {
	Ret   uint64
	Errno int
}

type childReq struct {
	Profile       *specs.LinuxSeccomp
	Caps          []string // if set: bounding/permitted/effective before loading
	Probes        []probe
	Exec          []string // busybox argv after loading
	ThreadStatus  bool     // report how many threads are in seccomp filter mode
	State         string   // sent with the notify fd
	NoNewPrivsOff bool     // do not set no_new_privs
	Report        bool     // report AvailableActions and SupportedFlags
}

type childResp struct {
	Results        []result
	FilteredThread int
	Threads        int
	Actions, Flags []string
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

func child(reqJSON string) error {
	var req childReq
	if err := json.Unmarshal([]byte(reqJSON), &req); err != nil {
		return err
	}
	runtime.LockOSThread()
	// No core files from SIGSYS kills.
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}); err != nil {
		return err
	}
	if !req.NoNewPrivsOff {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return err
		}
	}
	if req.Caps != nil {
		set, err := caps.FromSpec(&specs.LinuxCapabilities{Bounding: req.Caps, Permitted: req.Caps, Effective: req.Caps})
		if err != nil {
			return err
		}
		if err := set.ApplyBounding(); err != nil {
			return err
		}
		if err := set.Apply(); err != nil {
			return err
		}
	}
	f, _, err := Compile(req.Profile)
	if err != nil {
		return err
	}
	fd, err := f.Load()
	if err != nil {
		return err
	}
	if fd >= 0 {
		if err := SendNotifyFD(req.Profile.ListenerPath, fd, []byte(req.State)); err != nil {
			return err
		}
		unix.Close(fd)
	}
	if len(req.Exec) > 0 {
		return unix.Exec(testbundle.BusyboxPath, req.Exec, []string{"PATH=/bin"})
	}
	var resp childResp
	for _, p := range req.Probes {
		a := p.Args
		r, _, e := unix.Syscall6(p.Nr, uintptr(a[0]), uintptr(a[1]), uintptr(a[2]), uintptr(a[3]), uintptr(a[4]), uintptr(a[5]))
		resp.Results = append(resp.Results, result{Ret: uint64(r), Errno: int(e)})
	}
	if req.Report {
		resp.Actions, resp.Flags = AvailableActions(), SupportedFlags()
	}
	if req.ThreadStatus {
		tids, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		for _, tid := range tids {
			b, err := os.ReadFile("/proc/self/task/" + tid.Name() + "/status")
			if err != nil {
				return err
			}
			resp.Threads++
			if bytes.Contains(b, []byte("\nSeccomp:\t2\n")) {
				resp.FilteredThread++
			}
		}
	}
	return json.NewEncoder(os.Stdout).Encode(resp)
}

func childCmd(t *testing.T, req childReq) *exec.Cmd {
	t.Helper()
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(b), "GODEBUG=asyncpreemptoff=1")
	return cmd
}

func runProbes(t *testing.T, req childReq) childResp {
	t.Helper()
	cmd := childCmd(t, req)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v: %s", err, stderr.String())
	}
	var resp childResp
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("child output %q: %v", out, err)
	}
	return resp
}

// runExec runs busybox under the filter and returns its output and the
// signal that killed it (0 if it exited).
func runExec(t *testing.T, p *specs.LinuxSeccomp, argv ...string) (string, syscall.Signal, int) {
	t.Helper()
	cmd := childCmd(t, childReq{Profile: p, Exec: argv})
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("run child: %v", err)
	}
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return string(out), ws.Signal(), -1
	}
	return string(out), 0, ws.ExitStatus()
}

func errnoPtr(e unix.Errno) *uint { u := uint(e); return &u }

func deny(names []string, errno unix.Errno, args ...specs.LinuxSeccompArg) specs.LinuxSyscall {
	return specs.LinuxSyscall{Names: names, Action: specs.ActErrno, ErrnoRet: errnoPtr(errno), Args: args}
}

func allowAll(rules ...specs.LinuxSyscall) *specs.LinuxSeccomp {
	return &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: rules}
}

func checkResults(t *testing.T, what []string, got []result, want []unix.Errno) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d results, want %d", len(got), len(want))
	}
	for i := range want {
		if unix.Errno(got[i].Errno) != want[i] {
			t.Errorf("%s: errno %d (%v), want %d (%v)", what[i], got[i].Errno, unix.Errno(got[i].Errno), int(want[i]), want[i])
		}
	}
}

// TestActions: every action does what the kernel documents, seen from the
// filtered process.
func TestActions(t *testing.T) {
	testbundle.RequireRoot(t)
	t.Run("errno", func(t *testing.T) {
		p := allowAll(
			deny([]string{"getppid"}, unix.EPERM),
			deny([]string{"getpgrp"}, 42),
			specs.LinuxSyscall{Names: []string{"geteuid"}, Action: specs.ActTrace}, // no tracer: ENOSYS
			specs.LinuxSyscall{Names: []string{"getegid"}, Action: specs.ActLog},
		)
		resp := runProbes(t, childReq{Profile: p, Probes: []probe{{Nr: unix.SYS_GETPPID}, {Nr: unix.SYS_GETPGRP}, {Nr: unix.SYS_GETEUID}, {Nr: unix.SYS_GETEGID}, {Nr: unix.SYS_GETUID}}})
		checkResults(t, []string{"getppid ERRNO", "getpgrp ERRNO 42", "geteuid TRACE", "getegid LOG", "getuid default"}, resp.Results,
			[]unix.Errno{unix.EPERM, 42, unix.ENOSYS, 0, 0})
	})
	t.Run("default errno", func(t *testing.T) {
		// Deny-by-default must still let the Go child run: allow the rest of Docker's list.
		p := Default()
		p.DefaultErrnoRet = errnoPtr(unix.EACCES)
		resp := runProbes(t, childReq{Profile: p, Probes: []probe{{Nr: unix.SYS_ACCT}, {Nr: 0x3fff0000}, {Nr: unix.SYS_GETPID}}})
		checkResults(t, []string{"acct", "unknown number above the table", "getpid"}, resp.Results, []unix.Errno{unix.EACCES, unix.ENOSYS, 0})
	})
	for _, tc := range []struct {
		act  specs.LinuxSeccompAction
		sig  syscall.Signal
		name string
	}{
		{specs.ActKill, unix.SIGSYS, "kill"},
		{specs.ActKillThread, unix.SIGSYS, "kill thread"},
		{specs.ActKillProcess, unix.SIGSYS, "kill process"},
		{specs.ActTrap, unix.SIGSYS, "trap"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := allowAll(specs.LinuxSyscall{Names: []string{"uname"}, Action: tc.act})
			out, sig, _ := runExec(t, p, "uname", "-s")
			if sig != tc.sig {
				t.Fatalf("busybox uname under %s: signal %v, output %q; want killed by %v", tc.act, sig, out, tc.sig)
			}
			out, sig, code := runExec(t, p, "echo", "still fine")
			if sig != 0 || code != 0 || out != "still fine\n" {
				t.Fatalf("busybox echo under %s: signal %v exit %d output %q", tc.act, sig, code, out)
			}
		})
	}
	t.Run("kill process from Go", func(t *testing.T) {
		p := allowAll(specs.LinuxSyscall{Names: []string{"getppid"}, Action: specs.ActKillProcess})
		cmd := childCmd(t, childReq{Profile: p, Probes: []probe{{Nr: unix.SYS_GETPPID}}})
		out, _ := cmd.CombinedOutput()
		ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if !ws.Signaled() || ws.Signal() != unix.SIGSYS {
			t.Fatalf("child %v, output %q: want the whole multi-threaded process killed by SIGSYS", cmd.ProcessState, out)
		}
	})
}

// TestArgumentConditions compares 64-bit arguments around a value whose
// halves are both non-zero, for every operator, in the kernel.
func TestArgumentConditions(t *testing.T) {
	testbundle.RequireRoot(t)
	const v = uint64(0x1_0000_0005)
	sys := []uintptr{unix.SYS_GETPPID, unix.SYS_GETUID, unix.SYS_GETGID, unix.SYS_GETEUID, unix.SYS_GETEGID, unix.SYS_GETPGRP, unix.SYS_GETTID}
	names := []string{"getppid", "getuid", "getgid", "geteuid", "getegid", "getpgrp", "gettid"}
	ops := []specs.LinuxSeccompOperator{specs.OpEqualTo, specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual, specs.OpGreaterThan, specs.OpGreaterEqual, specs.OpMaskedEqual}
	const mask, datum = uint64(0xff00_0000_00ff), uint64(0x1200_0000_0034)
	holds := func(op specs.LinuxSeccompOperator, a uint64) bool {
		switch op {
		case specs.OpEqualTo:
			return a == v
		case specs.OpNotEqual:
			return a != v
		case specs.OpLessThan:
			return a < v
		case specs.OpLessEqual:
			return a <= v
		case specs.OpGreaterThan:
			return a > v
		case specs.OpGreaterEqual:
			return a >= v
		}
		return a&mask == datum
	}
	var rules []specs.LinuxSyscall
	for i, op := range ops {
		arg := specs.LinuxSeccompArg{Index: 1, Value: v, Op: op}
		if op == specs.OpMaskedEqual {
			arg.Value, arg.ValueTwo = mask, datum
		}
		rules = append(rules, deny([]string{names[i]}, unix.Errno(100+i), arg))
	}
	values := []uint64{v - 1, v, v + 1, 5, 4, 6, 0x2_0000_0000, 0xffff_ffff, 0, ^uint64(0),
		0x1200_0000_0034, 0x12ab_0000_0034, 0x1300_0000_0034, 0x1200_1234_5634}
	var probes []probe
	var what []string
	var want []unix.Errno
	for i, op := range ops {
		for _, a := range values {
			probes = append(probes, probe{Nr: sys[i], Args: [6]uint64{1: a}})
			what = append(what, fmt.Sprintf("%s arg1=%#x", op, a))
			e := unix.Errno(0)
			if holds(op, a) {
				e = unix.Errno(100 + i)
			}
			want = append(want, e)
		}
	}
	resp := runProbes(t, childReq{Profile: allowAll(rules...), Probes: probes})
	checkResults(t, what, resp.Results, want)
}

// TestRulesAndOr: conditions of one rule are ANDed, rules of one syscall ORed.
func TestRulesAndOr(t *testing.T) {
	testbundle.RequireRoot(t)
	p := allowAll(
		// personality: denied only for 0xffffffff (the query), high half checked too
		deny([]string{"personality"}, unix.EPERM, specs.LinuxSeccompArg{Index: 0, Value: 0xffffffff, Op: specs.OpEqualTo}),
		// socket: AF_INET denied, AF_UNIX allowed
		deny([]string{"socket"}, unix.EACCES, specs.LinuxSeccompArg{Index: 0, Value: unix.AF_INET, Op: specs.OpEqualTo}),
		// getppid: denied when arg0 == 1 AND arg2 >= 10, or when arg3 == 7
		deny([]string{"getppid"}, unix.EPERM,
			specs.LinuxSeccompArg{Index: 0, Value: 1, Op: specs.OpEqualTo},
			specs.LinuxSeccompArg{Index: 2, Value: 10, Op: specs.OpGreaterEqual}),
		deny([]string{"getppid"}, unix.EPERM, specs.LinuxSeccompArg{Index: 3, Value: 7, Op: specs.OpEqualTo}),
	)
	resp := runProbes(t, childReq{Profile: p, Probes: []probe{
		{Nr: unix.SYS_PERSONALITY, Args: [6]uint64{0xffffffff}},
		{Nr: unix.SYS_PERSONALITY, Args: [6]uint64{0x1_ffffffff}},
		{Nr: unix.SYS_SOCKET, Args: [6]uint64{unix.AF_INET, unix.SOCK_STREAM}},
		{Nr: unix.SYS_SOCKET, Args: [6]uint64{unix.AF_UNIX, unix.SOCK_STREAM}},
		{Nr: unix.SYS_GETPPID, Args: [6]uint64{1, 0, 10}},
		{Nr: unix.SYS_GETPPID, Args: [6]uint64{1, 0, 9}},
		{Nr: unix.SYS_GETPPID, Args: [6]uint64{2, 0, 10}},
		{Nr: unix.SYS_GETPPID, Args: [6]uint64{3: 7}},
		{Nr: unix.SYS_GETPPID, Args: [6]uint64{3: 8}},
	}})
	checkResults(t, []string{"personality(0xffffffff)", "personality(0x1ffffffff)", "socket(AF_INET)", "socket(AF_UNIX)",
		"getppid(1,_,10)", "getppid(1,_,9)", "getppid(2,_,10)", "getppid(_,_,_,7)", "getppid(_,_,_,8)"},
		resp.Results, []unix.Errno{unix.EPERM, 0, unix.EACCES, 0, unix.EPERM, 0, 0, unix.EPERM, 0})
}

// TestDefaultProfile: Docker's profile in the kernel denies the dangerous
// calls with EPERM (arguments are chosen so that, unfiltered, each would fail
// differently or harmlessly) and lets ordinary programs run.
func TestDefaultProfile(t *testing.T) {
	testbundle.RequireRoot(t)
	cases := []struct {
		what string
		p    probe
		want unix.Errno
	}{
		{"unshare(CLONE_NEWUTS)", probe{Nr: unix.SYS_UNSHARE, Args: [6]uint64{unix.CLONE_NEWUTS}}, unix.EPERM},
		{"mount(NULL...)", probe{Nr: unix.SYS_MOUNT}, unix.EPERM},
		{"umount2(NULL)", probe{Nr: unix.SYS_UMOUNT2}, unix.EPERM},
		{"keyctl(-1)", probe{Nr: unix.SYS_KEYCTL, Args: [6]uint64{^uint64(0)}}, unix.EPERM},
		{"add_key(NULL)", probe{Nr: unix.SYS_ADD_KEY}, unix.EPERM},
		{"kexec_load(0)", probe{Nr: unix.SYS_KEXEC_LOAD}, unix.EPERM},
		{"bpf(-1)", probe{Nr: unix.SYS_BPF, Args: [6]uint64{0xffff}}, unix.EPERM},
		{"perf_event_open(NULL)", probe{Nr: unix.SYS_PERF_EVENT_OPEN}, unix.EPERM},
		{"clock_settime(12345)", probe{Nr: unix.SYS_CLOCK_SETTIME, Args: [6]uint64{12345}}, unix.EPERM},
		{"reboot(0)", probe{Nr: unix.SYS_REBOOT}, unix.EPERM},
		{"setns(-1)", probe{Nr: unix.SYS_SETNS, Args: [6]uint64{^uint64(0)}}, unix.EPERM},
		{"init_module(NULL)", probe{Nr: unix.SYS_INIT_MODULE}, unix.EPERM},
		{"swapon(NULL)", probe{Nr: unix.SYS_SWAPON}, unix.EPERM},
		{"open_by_handle_at(-1)", probe{Nr: unix.SYS_OPEN_BY_HANDLE_AT, Args: [6]uint64{^uint64(0)}}, unix.EPERM},
		{"personality(0x1234)", probe{Nr: unix.SYS_PERSONALITY, Args: [6]uint64{0x1234}}, unix.EPERM},
		{"socket(AF_VSOCK)", probe{Nr: unix.SYS_SOCKET, Args: [6]uint64{unix.AF_VSOCK, unix.SOCK_STREAM}}, unix.EPERM},
		// CLONE_NEWNS|CLONE_FS is EINVAL if it reaches the kernel: EPERM proves the filter.
		{"clone(CLONE_NEWNS|CLONE_FS)", probe{Nr: unix.SYS_CLONE, Args: [6]uint64{unix.CLONE_NEWNS | unix.CLONE_FS}}, unix.EPERM},
		// CLONE_THREAD without CLONE_SIGHAND: EINVAL from the kernel means the filter let it through.
		{"clone(CLONE_THREAD)", probe{Nr: unix.SYS_CLONE, Args: [6]uint64{unix.CLONE_THREAD}}, unix.EINVAL},
		{"clone3(NULL)", probe{Nr: unix.SYS_CLONE3}, unix.ENOSYS},
		{"getpid", probe{Nr: unix.SYS_GETPID}, 0},
		{"read(-1)", probe{Nr: unix.SYS_READ, Args: [6]uint64{^uint64(0)}}, unix.EBADF},
		{"write(-1)", probe{Nr: unix.SYS_WRITE, Args: [6]uint64{^uint64(0)}}, unix.EBADF},
		{"personality(0xffffffff)", probe{Nr: unix.SYS_PERSONALITY, Args: [6]uint64{0xffffffff}}, 0},
		{"socket(AF_UNIX)", probe{Nr: unix.SYS_SOCKET, Args: [6]uint64{unix.AF_UNIX, unix.SOCK_STREAM}}, 0},
	}
	req := childReq{Profile: Default()}
	var what []string
	var want []unix.Errno
	for _, c := range cases {
		req.Probes = append(req.Probes, c.p)
		what = append(what, c.what)
		want = append(want, c.want)
	}
	resp := runProbes(t, req)
	checkResults(t, what, resp.Results, want)
	if pid := resp.Results[len(cases)-5].Ret; pid == 0 {
		t.Errorf("getpid returned 0")
	}

	out, sig, code := runExec(t, Default(), "sh", "-c", "echo ok; ls / >/dev/null && cat /proc/self/status | grep -q '^Seccomp:.2' && echo filtered")
	if sig != 0 || code != 0 || out != "ok\nfiltered\n" {
		t.Fatalf("busybox sh under the default profile: signal %v exit %d output %q", sig, code, out)
	}
}

// TestDefaultProfileWithDockerCaps is the container's situation: Docker's
// capabilities and Docker's profile. ptrace is allowed by the profile, and
// attaching to a more privileged process is then refused by capabilities.
func TestDefaultProfileWithDockerCaps(t *testing.T) {
	testbundle.RequireRoot(t)
	sleeper := exec.Command(testbundle.BusyboxPath, "sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() })
	pid := uint64(sleeper.Process.Pid)
	resp := runProbes(t, childReq{Profile: Default(), Caps: caps.DefaultDocker(), Probes: []probe{
		{Nr: unix.SYS_PTRACE, Args: [6]uint64{unix.PTRACE_ATTACH, pid}},
		{Nr: unix.SYS_MOUNT},
		{Nr: unix.SYS_GETPID},
	}})
	checkResults(t, []string{"ptrace(ATTACH, root process)", "mount", "getpid"}, resp.Results, []unix.Errno{unix.EPERM, unix.EPERM, 0})
}

// TestTSYNC: with the flag every thread of the process is filtered, without
// it only the calling one.
func TestTSYNC(t *testing.T) {
	testbundle.RequireRoot(t)
	for _, tc := range []struct {
		flags []specs.LinuxSeccompFlag
		all   bool
	}{{nil, false}, {[]specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_TSYNC", specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow}, true}} {
		p := allowAll(deny([]string{"acct"}, unix.EPERM))
		p.Flags = tc.flags
		resp := runProbes(t, childReq{Profile: p, ThreadStatus: true})
		if resp.Threads < 2 {
			t.Fatalf("child has %d threads; the test needs a multi-threaded process", resp.Threads)
		}
		want := 1
		if tc.all {
			want = resp.Threads
		}
		if resp.FilteredThread != want {
			t.Errorf("flags %v: %d of %d threads filtered, want %d", tc.flags, resp.FilteredThread, resp.Threads, want)
		}
	}
}

type seccompNotif struct {
	ID    uint64
	Pid   uint32
	Flags uint32
	Nr    int32
	Arch  uint32
	IP    uint64
	Args  [6]uint64
}

type seccompNotifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

// TestNotify: a NOTIFY rule gives a listener fd, which arrives at
// listenerPath with the state; answering on it decides the syscall's result.
func TestNotify(t *testing.T) {
	testbundle.RequireRoot(t)
	sock := filepath.Join(t.TempDir(), "listener.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	p := allowAll(specs.LinuxSyscall{Names: []string{"getppid"}, Action: specs.ActNotify})
	p.ListenerPath = sock
	state := `{"ociVersion":"1.3.0","fds":["seccompFd"],"pid":1,"state":{"id":"t"}}`
	cmd := childCmd(t, childReq{Profile: p, State: state, Probes: []probe{{Nr: unix.SYS_GETPPID}, {Nr: unix.SYS_GETPID}}})
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	if err := ln.SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	conn, err := ln.AcceptUnix()
	if err != nil {
		t.Fatalf("accept: %v (child stderr %s)", err, stderr.String())
	}
	defer conn.Close()
	buf, oob := make([]byte, 4096), make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		t.Fatal(err)
	}
	if string(buf[:n]) != state {
		t.Errorf("state %q, want %q", buf[:n], state)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		t.Fatalf("control messages %v %v", msgs, err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		t.Fatalf("rights %v %v", fds, err)
	}
	fd := fds[0]
	defer unix.Close(fd)

	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	if n, err := unix.Poll(pfd, 20000); err != nil || n != 1 || pfd[0].Revents&unix.POLLIN == 0 {
		t.Fatalf("poll listener: n=%d revents=%#x err=%v (child stderr %s)", n, pfd[0].Revents, err, stderr.String())
	}
	var req seccompNotif
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_RECV, uintptr(unsafe.Pointer(&req))); e != 0 {
		t.Fatalf("NOTIF_RECV: %v", e)
	}
	if req.Nr != unix.SYS_GETPPID || req.Arch != unix.AUDIT_ARCH_X86_64 && runtime.GOARCH == "amd64" || int(req.Pid) != cmd.Process.Pid {
		t.Errorf("notification nr %d arch %#x pid %d, want getppid from pid %d", req.Nr, req.Arch, req.Pid, cmd.Process.Pid)
	}
	resp := seccompNotifResp{ID: req.ID, Val: 4242}
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_SEND, uintptr(unsafe.Pointer(&resp))); e != 0 {
		t.Fatalf("NOTIF_SEND: %v", e)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v: %s", err, stderr.String())
	}
	var out childResp
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Results) != 2 || out.Results[0] != (result{Ret: 4242}) || out.Results[1].Ret != uint64(cmd.Process.Pid) {
		t.Fatalf("results %+v: want getppid answered 4242 by the listener and getpid untouched (%d)", out.Results, cmd.Process.Pid)
	}
}

func TestSendNotifyFDErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nobody-listens.sock")
	err := SendNotifyFD(missing, 0, []byte("{}"))
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing socket: %v, want an error naming %s", err, missing)
	}
	if err := SendNotifyFD("", 0, []byte("{}")); err == nil {
		t.Error("empty path accepted")
	}
	if err := SendNotifyFD(missing, 0, nil); err == nil {
		t.Error("empty state accepted")
	}
}

func TestLoadFailsClearlyWithoutPrivilege(t *testing.T) {
	testbundle.RequireRoot(t)
	// Neither no_new_privs nor CAP_SYS_ADMIN: the kernel refuses (EACCES)
	// and the error says how to fix it.
	cmd := childCmd(t, childReq{Profile: allowAll(deny([]string{"acct"}, unix.EPERM)), Caps: []string{"CAP_KILL"}, NoNewPrivsOff: true})
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "noNewPrivileges") {
		t.Fatalf("load without privilege: err=%v output %q, want a failure mentioning noNewPrivileges", err, out)
	}
}

// TestProbes: what the kernel reports, on this kernel and on one that looks
// older because a filter makes seccomp(2) answer as Linux 4.13 would (no
// SECCOMP_GET_ACTION_AVAIL; no SPEC_ALLOW flag, from 4.17).
func TestProbes(t *testing.T) {
	avail, err := os.ReadFile("/proc/sys/kernel/seccomp/actions_avail")
	if err != nil {
		t.Skip(err)
	}
	kernelName := map[specs.LinuxSeccompAction]string{
		specs.ActKill: "kill_thread", specs.ActKillThread: "kill_thread", specs.ActKillProcess: "kill_process",
		specs.ActTrap: "trap", specs.ActErrno: "errno", specs.ActTrace: "trace", specs.ActAllow: "allow",
		specs.ActLog: "log", specs.ActNotify: "user_notif",
	}
	var want []string
	for _, r := range retValues {
		if slices.Contains(strings.Fields(string(avail)), kernelName[r.act]) {
			want = append(want, string(r.act))
		}
	}
	if got := AvailableActions(); !slices.Equal(got, want) {
		t.Errorf("AvailableActions() = %v, want %v (the kernel's %s)", got, want, strings.TrimSpace(string(avail)))
	}
	if got := SupportedFlags(); !slices.Equal(got, KnownFlags()) {
		t.Errorf("SupportedFlags() = %v, want every known flag %v on Linux %s", got, KnownFlags(), kernelRelease(t))
	}

	older := allowAll(
		deny([]string{"seccomp"}, unix.EINVAL, specs.LinuxSeccompArg{Index: 0, Value: unix.SECCOMP_GET_ACTION_AVAIL, Op: specs.OpEqualTo}),
		deny([]string{"seccomp"}, unix.EINVAL,
			specs.LinuxSeccompArg{Index: 0, Value: unix.SECCOMP_SET_MODE_FILTER, Op: specs.OpEqualTo},
			specs.LinuxSeccompArg{Index: 1, Value: unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW, Op: specs.OpEqualTo}),
	)
	resp := runProbes(t, childReq{Profile: older, Report: true})
	wantActions := []string{"SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW"}
	if !slices.Equal(resp.Actions, wantActions) {
		t.Errorf("without SECCOMP_GET_ACTION_AVAIL: actions %v, want %v", resp.Actions, wantActions)
	}
	if slices.Contains(resp.Flags, string(specs.LinuxSeccompFlagSpecAllow)) || !slices.Contains(resp.Flags, string(specs.LinuxSeccompFlagLog)) {
		t.Errorf("with SPEC_ALLOW refused: flags %v", resp.Flags)
	}
}

func kernelRelease(t *testing.T) string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	return unix.ByteSliceToString(u.Release[:])
}
