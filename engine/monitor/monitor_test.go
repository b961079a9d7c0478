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
