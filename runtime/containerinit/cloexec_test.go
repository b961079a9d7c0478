package containerinit

import (
	"os"
	"os/exec"
	goruntime "runtime"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/linux/seccomp"
)

const envCloexecChild = "KAGO_TEST_CLOEXEC_ERRNO"

// TestMarkInheritedCloexecWithoutCloseRange runs markInheritedCloexec in a
// child whose seccomp filter makes close_range fail (as an earlier-loaded
// notify profile or an old kernel does): the /proc/self/fd walk must still
// keep the child's extra descriptor from the program it executes.
func TestMarkInheritedCloexecWithoutCloseRange(t *testing.T) {
	if errno := os.Getenv(envCloexecChild); errno != "" {
		cloexecChild(t, errno)
		return
	}
	for _, errno := range []unix.Errno{unix.EPERM, unix.ENOSYS} {
		t.Run(errno.Error(), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestMarkInheritedCloexecWithoutCloseRange$")
			cmd.Env = append(os.Environ(), envCloexecChild+"="+strconv.Itoa(int(errno)))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			// ls lists its own directory descriptor (3) besides stdio.
			if got := strings.Fields(string(out)); strings.Join(got, " ") != "0 1 2 3" {
				t.Errorf("descriptors reaching the executed program: %q, want 0 1 2 3", out)
			}
		})
	}
}

func cloexecChild(t *testing.T, errnoStr string) {
	goruntime.LockOSThread()
	n, _ := strconv.Atoi(errnoStr)
	errno := uint(n)
	f, _, err := seccomp.Compile(&specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"close_range"}, Action: specs.ActErrno, ErrnoRet: &errno}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Descriptors the executed program must not see, without O_CLOEXEC.
	for range 3 {
		if _, err := unix.Open(os.DevNull, unix.O_RDONLY, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Load(); err != nil {
		t.Fatal(err)
	}
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != unix.Errno(errno) {
		t.Fatalf("close_range under the filter: %v, want %v", err, unix.Errno(errno))
	}
	if err := markInheritedCloexec(3); err != nil {
		t.Fatal(err)
	}
	ls, err := exec.LookPath("ls")
	if err != nil {
		t.Fatal(err)
	}
	t.Fatal(unix.Exec(ls, []string{"ls", "/proc/self/fd"}, os.Environ()))
}
