package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestRefusedBeforeCreate: a user, group, working directory or capability
// the container cannot have is refused with docker's message before
// anything is made: no panic, no container, no mount, the name stays free.
func TestRefusedBeforeCreate(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-u", "nosuchuser"}, "unable to find user nosuchuser: no matching entries in passwd file"},
		{[]string{"-u", "0:nosuchgroup"}, "unable to find group nosuchgroup: no matching entries in group file"},
		{[]string{"-w", "relative/dir"}, "the working directory 'relative/dir' is invalid, it needs to be an absolute path"},
		{[]string{"--cap-add", "BOGUS"}, `unknown capability "CAP_BOGUS"`},
		{[]string{"--cpus", "4096"}, "range of CPUs is from 0.01 to "},
	} {
		args := append(append([]string{"run", "--rm", "--name", "taken", "--network", "none"}, tc.args...), "bb", "true")
		out, errs, code := e.run(args...)
		if code == 0 || !strings.Contains(errs, tc.want) || strings.Contains(errs, "panic") || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
			t.Errorf("kago %s: exit %d, stdout %q, stderr %q; want one line with %q", strings.Join(args, " "), code, out, errs, tc.want)
		}
		if ids := e.ids(); len(ids) != 0 {
			t.Fatalf("kago %s left containers %v", strings.Join(args, " "), ids)
		}
		e.assertClean(nil)
	}
	if out := e.ok("run", "--rm", "--name", "taken", "--network", "none", "bb", "echo", "free"); out != "free" {
		t.Fatalf("the name after the refused runs: %q", out)
	}
	// A reference that is only wrong in its case is not pulled.
	if errs := e.fails("run", "--rm", "UPPER/Case:tag"); !strings.Contains(errs, "invalid reference format: repository name (UPPER/Case) must be lowercase") || strings.Contains(errs, "pull") {
		t.Errorf("run UPPER/Case:tag: %q", errs)
	}
}

// rootMounted tells whether the container's rootfs overlay is mounted.
func (e *env) rootMounted(id string) bool {
	merged := filepath.Join(e.root, "snapshots", "containers", id, "merged")
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mi), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == merged {
			return true
		}
	}
	return false
}

// TestStopUnmountsRootfs: as in docker, a container's rootfs is mounted
// only while it runs: not after create, not after stop or an exit (the
// restart policy's last one too), and start mounts it again with the
// container's files kept.
func TestStopUnmountsRootfs(t *testing.T) {
	e := newEnv(t)
	id := e.ok("create", "--network", "none", "--name", "s", "bb", "sh", "-c", "echo kept >> /f; exec sleep 100")
	if e.rootMounted(id) {
		t.Fatal("a created container's rootfs is mounted before it runs")
	}
	e.ok("start", "s")
	if !e.rootMounted(id) {
		t.Fatal("a running container's rootfs is not mounted")
	}
	e.ok("stop", "-t", "1", "s")
	if e.rootMounted(id) {
		t.Fatal("stop left the rootfs mounted")
	}
	e.ok("start", "s")
	if out := e.ok("exec", "s", "cat", "/f"); out != "kept\nkept" {
		t.Fatalf("after start: /f = %q, want two lines", out)
	}
	e.ok("kill", "s")
	e.eventually("the killed container to be unmounted", 10*time.Second, func() bool { return !e.rootMounted(id) })

	id = e.ok("run", "-d", "--network", "none", "--restart", "on-failure:2", "bb", "sh", "-c", "exit 3")
	e.eventually("two restarts and a final exit", 15*time.Second, func() bool {
		in := e.inspect(id)
		return state(in)["Status"] == "exited" && in["RestartCount"].(float64) == 2
	})
	if e.rootMounted(id) {
		t.Fatal("the restart policy's last exit left the rootfs mounted")
	}
}

// TestHalfMadeRecords: what a killed or racing create left in the store is
// removed by the next command that meets it, and a container whose create
// did not finish says so in the terms of containers.
func TestHalfMadeRecords(t *testing.T) {
	e := newEnv(t)
	dir := filepath.Join(e.root, "containers")
	// What kago before this fix left: a directory holding only the record
	// lock (rm -f racing run -d), or only a temporary record (kill -9).
	lockOnly, tmpOnly := strings.Repeat("a", 64), strings.Repeat("b", 64)
	for name, file := range map[string]string{lockOnly: ".lock", tmpOnly: ".tmp-container.json123"} {
		os.MkdirAll(filepath.Join(dir, name), 0o711)
		os.WriteFile(filepath.Join(dir, name, file), nil, 0o600)
	}
	// A record whose creator died after the record was written.
	id := e.ok("create", "--network", "none", "--name", "half", "bb")
	rec := filepath.Join(dir, id, "container.json")
	var m map[string]any
	data, _ := os.ReadFile(rec)
	json.Unmarshal(data, &m)
	m["Creating"] = true
	data, _ = json.Marshal(m)
	os.WriteFile(rec, data, 0o600)
	os.Remove(filepath.Join(dir, id, "config.json"))
	if ps := e.ok("ps", "-aq"); ps != "" {
		t.Fatalf("ps -a shows half-made containers: %q", ps)
	}
	if left, _ := os.ReadDir(dir); len(left) != 1 { // the store's .lock
		t.Fatalf("half-made records left after ps: %v", left)
	}
	e.assertClean([]string{id})
	e.ok("run", "-d", "--network", "none", "--name", "half", "bb", "sleep", "100")
	e.ok("rm", "-f", "half")

	// A container made by an older kago whose create was killed before
	// its bundle was written.
	id = e.ok("create", "--network", "none", "--name", "old", "bb")
	os.Remove(filepath.Join(dir, id, "config.json"))
	errs := e.fails("start", "old")
	if !strings.Contains(errs, "container old was not completely created") || strings.Contains(errs, "config.json") || strings.Contains(errs, "bundle") {
		t.Fatalf("start of an incomplete container: %q", errs)
	}
	e.ok("rm", "old")
	e.assertClean([]string{id})
}

// TestRmRacingRun: rm -f NAME racing run -d --name NAME leaves either a
// running container or nothing, never a directory without a record.
func TestRmRacingRun(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 6; i++ {
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				e.run("rm", "-f", "racer")
			}
		}()
		e.run("run", "-d", "--network", "none", "--name", "racer", "bb", "sleep", "100")
		time.Sleep(time.Duration(i) * 30 * time.Millisecond)
		close(done)
		wg.Wait()
		e.checkRecords()
		e.run("rm", "-f", "racer")
		if ids := e.ids(); len(ids) != 0 {
			t.Fatalf("round %d: left %v", i, ids)
		}
	}
	e.assertClean(nil)
}

// checkRecords checks that every directory in the store holds a finished
// record (after a command has met them).
func (e *env) checkRecords() {
	e.t.Helper()
	e.ok("ps", "-a")
	for _, id := range e.ids() {
		data, err := os.ReadFile(filepath.Join(e.root, "containers", id, "container.json"))
		var m map[string]any
		if err != nil || json.Unmarshal(data, &m) != nil {
			ents, _ := os.ReadDir(filepath.Join(e.root, "containers", id))
			e.t.Fatalf("containers/%s has no record: %v %v", id, err, ents)
		}
		if m["Creating"] == true {
			e.t.Fatalf("containers/%s is still creating after its creator ended", id)
		}
	}
}

// TestKilledRun: kill -9 of `run -d` at points spread over its run leaves
// either nothing or a container that starts and is removed cleanly.
func TestKilledRun(t *testing.T) {
	e := newEnv(t)
	start := time.Now()
	e.ok("run", "-d", "--network", "none", "bb", "true")
	took := time.Since(start)
	for _, id := range e.ids() {
		e.ok("rm", "-f", id)
	}
	const points = 16
	for i := 0; i < points; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, kagoBin, "--root", e.root, "run", "-d", "--network", "none", "bb", "sleep", "100")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(took * time.Duration(i) / points)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		cancel()
		e.checkRecords()
		for _, id := range e.ids() {
			// Killed while its monitor started it, the container may still
			// be on its way up: start is then refused until it runs.
			e.eventually("start of "+id, 10*time.Second, func() bool {
				_, _, code := e.run("start", id)
				return code == 0
			})
			e.ok("rm", "-f", id)
		}
		e.assertClean(nil)
	}
}
