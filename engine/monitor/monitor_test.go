package monitor

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// TestHelperEnv: the monitor's runtime settings do not reach the helpers;
// the rest of its environment does.
func TestHelperEnv(t *testing.T) {
	for _, kv := range RuntimeEnv {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv("KAGO_TEST_KEEP", "1")
	env := helperEnv()
	for _, kv := range env {
		for _, set := range RuntimeEnv {
			k, _, _ := strings.Cut(set, "=")
			if strings.HasPrefix(kv, k+"=") {
				t.Errorf("helper environment has %s", kv)
			}
		}
	}
	if !slices.Contains(env, "KAGO_TEST_KEEP=1") {
		t.Errorf("helper environment lost the rest: %v", env)
	}
}

// TestReaper: exits are collected, by status and by signal, also when the
// child exits before anyone waits for it.
func TestReaper(t *testing.T) {
	r := newReaper()
	defer r.stop()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	fds := []uintptr{devnull.Fd(), devnull.Fd(), devnull.Fd()}
	early, err := r.start("/bin/sh", []string{"sh", "-c", "exit 3"}, nil, fds)
	if err != nil {
		t.Fatal(err)
	}
	late, err := r.start("/bin/sh", []string{"sh", "-c", "sleep 0.2; kill -9 $$"}, nil, fds)
	if err != nil {
		t.Fatal(err)
	}
	if code := r.wait(late); code != 128+9 {
		t.Errorf("killed child: code %d, want 137", code)
	}
	if code := r.wait(early); code != 3 {
		t.Errorf("child that exited first: code %d, want 3", code)
	}
}

// TestPageOutMakesNoGarbage: a trim allocates nothing once its buffers
// exist. The monitor collects garbage rarely (a collection keeps the
// collector's metadata resident), so every trim's garbage used to stay.
func TestPageOutMakesNoGarbage(t *testing.T) {
	tr := newTrimmer()
	tr.pageOut()
	if len(tr.ranges) == 0 {
		t.Fatal("pageOut found no read-only file mapping of the test binary")
	}
	if n := testing.AllocsPerRun(20, tr.pageOut); n != 0 {
		t.Errorf("pageOut allocates %.0f times a trim, want 0", n)
	}
}

func TestProgramRange(t *testing.T) {
	for _, c := range []struct {
		line       string
		start, len uintptr
		ok         bool
	}{
		{"00400000-004b9000 r-xp 00000000 fe:00 10018830                           /usr/bin/kago-monitor", 0x400000, 0xb9000, true},
		{"7f00-7f10 r--p 00000000 fe:00 42   /tmp/a dir/with spaces", 0x7f00, 0x10, true},
		{"005b6000-005c2000 rw-p 001b6000 fe:00 10018830   /usr/bin/kago-monitor", 0, 0, false}, // written data
		{"7ff10002e000-7ff100102000 rw-p 00000000 00:00 0 ", 0, 0, false},                       // anonymous
		{"7ffe13608000-7ffe13629000 rw-p 00000000 00:00 0                          [stack]", 0, 0, false},
		{"7fff-7ff0 r--p 00000000 fe:00 42 /x", 0, 0, false}, // end before start
		{"zz-10 r--p 00000000 fe:00 42 /x", 0, 0, false},
		{"", 0, 0, false},
	} {
		start, n, ok := programRange([]byte(c.line))
		if ok != c.ok || start != c.start || n != c.len {
			t.Errorf("programRange(%q) = %#x %#x %v, want %#x %#x %v", c.line, start, n, ok, c.start, c.len, c.ok)
		}
	}
}
