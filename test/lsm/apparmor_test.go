package lsm

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kago-run/kago/linux/apparmor"
)

func requireAppArmor(t *testing.T) {
	t.Helper()
	if !apparmor.Enabled() {
		t.Skip("AppArmor is not enabled on this host: make test-lsm-vm runs this in a VM where it is")
	}
	if _, err := exec.LookPath("apparmor_parser"); err != nil {
		t.Fatal("AppArmor is enabled but apparmor_parser is missing: install Debian's apparmor package")
	}
}

func requireNoAppArmor(t *testing.T) {
	t.Helper()
	if apparmor.Enabled() {
		t.Skip("AppArmor is enabled here: the confinement tests run instead")
	}
}

// testProfile allows everything a busybox container does, plus extra rules.
func testProfile(name, extra string) string {
	return "profile " + name + " flags=(attach_disconnected,mediate_deleted) {\n" +
		"  file,\n  capability,\n  network,\n  signal,\n  ptrace,\n  unix,\n  " + extra + "\n}\n"
}

// probe prints the process's AppArmor label, then tries to read the secret.
var probe = []string{"sh", "-c", "cat /proc/self/attr/current; echo; cat " + secret + " && echo READ-SECRET; true"}

func withProfile(name string) func(*specs.Spec) {
	return func(s *specs.Spec) { s.Process.ApparmorProfile = name }
}

// confined checks a probe's output: the label, and the deny rule bit.
func confined(t *testing.T, what string, r result, profile string) {
	t.Helper()
	if r.code != 0 {
		t.Errorf("%s: %s", what, r)
		return
	}
	contains(t, what, r.stdout, profile+" (enforce)")
	lacks(t, what, r.stdout, "READ-SECRET")
	contains(t, what, r.stderr, "ermission denied")
}

// The case: a profile that denies one file; the container runs
// under it, as runc's does, as root and as another user (the profile is
// asked for after the user switch), and the deny rule bites.
func TestAppArmorConfinesContainer(t *testing.T) {
	requireAppArmor(t)
	loadProfile(t, testProfile("ka5-deny", "deny "+secret+" r,"))
	for _, p := range peers(t) {
		for _, uid := range []uint32{0, 1000} {
			b := newBundle(t, probe, func(s *specs.Spec) {
				s.Process.ApparmorProfile = "ka5-deny"
				s.Process.User.UID, s.Process.User.GID = uid, uid
			})
			confined(t, fmt.Sprintf("%s uid %d", p.name, uid), p.run(t, b), "ka5-deny")
		}
	}
	// Without the profile the same container reads the file: the profile,
	// not something else, denied it above.
	r := peers(t)[0].run(t, newBundle(t, probe, nil))
	contains(t, "no profile", r.stdout, "unconfined", "READ-SECRET")
}

// exec'd processes run under the container's profile, or under the one
// named with --apparmor, with either runtime.
func TestAppArmorConfinesExec(t *testing.T) {
	requireAppArmor(t)
	loadProfile(t, testProfile("ka5-deny", "deny "+secret+" r,"))
	loadProfile(t, testProfile("ka5-other", ""))
	for _, p := range peers(t) {
		id := p.detached(t, newBundle(t, []string{"sleep", "300"}, withProfile("ka5-deny")))
		confined(t, p.name+" exec", p.do(t, append([]string{"exec", id}, probe...)...), "ka5-deny")
		// A process.json that names no profile gets the container's with
		// kago. runc 1.1 runs it unconfined: its spec conversion never
		// records the container's profile, so its exec has none to inherit
		// (its SELinux label it does inherit); containerd and docker always
		// name the profile in the exec's process.
		if p.name == "kago-runc" {
			pj := filepath.Join(t.TempDir(), "process.json")
			data, _ := json.Marshal(specs.Process{Args: probe, Cwd: "/", Env: []string{"PATH=/bin"}})
			if err := os.WriteFile(pj, data, 0o644); err != nil {
				t.Fatal(err)
			}
			confined(t, p.name+" exec --process", p.do(t, "exec", "--process", pj, id), "ka5-deny")
		}
		r := p.do(t, append([]string{"exec", "--apparmor", "ka5-other", id}, probe...)...)
		contains(t, p.name+" exec --apparmor ka5-other", r.stdout, "ka5-other (enforce)", "READ-SECRET")
	}
}

// A profile that is not loaded is refused, and nothing is left behind.
func TestAppArmorRefusesProfileNotLoaded(t *testing.T) {
	requireAppArmor(t)
	for _, p := range peers(t) {
		r := p.run(t, newBundle(t, probe, withProfile("ka5-missing")))
		if r.code == 0 {
			t.Errorf("%s ran a container under a profile that is not loaded: %s", p.name, r)
		}
		if p.name == "kago-runc" {
			contains(t, "kago-runc's refusal", r.stderr, `AppArmor profile "ka5-missing" is not loaded`, "apparmor_parser")
		}
		p.noContainers(t)
	}
}

// Where AppArmor is off (this project's CI kernel), a named profile is
// refused, as runc refuses it; exec --apparmor too.
func TestAppArmorRefusedWithoutAppArmor(t *testing.T) {
	requireNoAppArmor(t)
	for _, p := range peers(t) {
		r := p.run(t, newBundle(t, probe, withProfile("ka5-any")))
		if r.code == 0 {
			t.Errorf("%s ran a container with apparmorProfile on a host without AppArmor: %s", p.name, r)
		}
		p.noContainers(t)
		id := p.detached(t, newBundle(t, []string{"sleep", "300"}, nil))
		rx := p.do(t, "exec", "--apparmor", "ka5-any", id, "true")
		if rx.code == 0 {
			t.Errorf("%s exec --apparmor succeeded on a host without AppArmor: %s", p.name, rx)
		}
		if p.name == "kago-runc" {
			for _, rr := range []result{r, rx} {
				contains(t, "kago-runc's refusal", rr.stderr, `process.apparmorProfile: "ka5-any" is set but AppArmor is not enabled on this host`)
			}
		}
	}
}

// features says the runtime applies AppArmor and SELinux (what the field
// means: not whether this host has them), as runc's does.
func TestFeaturesReportAppArmorAndSELinux(t *testing.T) {
	for _, p := range peers(t) {
		r := p.do(t, "features")
		if r.code != 0 {
			if p.name == "runc" {
				continue // older runc has no features verb
			}
			t.Fatalf("%s features: %s", p.name, r)
		}
		var f struct {
			Linux struct {
				Apparmor, Selinux struct{ Enabled *bool }
			}
		}
		if err := json.Unmarshal([]byte(r.stdout), &f); err != nil {
			t.Fatalf("%s features: %v", p.name, err)
		}
		if a, s := f.Linux.Apparmor.Enabled, f.Linux.Selinux.Enabled; a == nil || !*a || s == nil || !*s {
			t.Errorf("%s features: apparmor.enabled %v, selinux.enabled %v; want both true", p.name, a, s)
		}
	}
}

// The engine: kago-default is loaded and applied by default; unconfined,
// --privileged and a named profile as docker does; a profile that is not
// loaded refused; exec'd processes confined too; inspect and info report it;
// the profile is reloaded only when needed.
func TestKagoDefaultProfile(t *testing.T) {
	requireAppArmor(t)
	e := newEngine(t)
	record := filepath.Join(e.root, "apparmor", "kago-default")
	if loaded, err := apparmor.Loaded("kago-default"); err == nil && !loaded {
		// Leave the host as it was: unload the profile this test loads.
		t.Cleanup(func() { unloadRecorded(t, record) })
	}
	// kago-default denies /proc/kcore (kago masks it with /dev/null too;
	// --privileged shows the real one: read one byte, never the whole).
	kcore := []string{"sh", "-c", "cat /proc/self/attr/current; echo; dd if=/proc/kcore of=/dev/null bs=1 count=1 2>/dev/null && echo KCORE-READ; true"}
	run := func(opts ...string) string {
		return e.ok(append(append([]string{"run", "--rm", "--network", "none"}, opts...), append([]string{"bb"}, kcore...)...)...)
	}
	out := run()
	contains(t, "default run", out, "kago-default (enforce)")
	lacks(t, "default run (/proc/kcore is denied)", out, "KCORE-READ")
	before, err := os.Stat(record)
	if err != nil {
		t.Fatalf("the loaded profile was not recorded: %v", err)
	}
	time.Sleep(10 * time.Millisecond)
	contains(t, "second run", run(), "kago-default (enforce)")
	if after, err := os.Stat(record); err != nil || !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("kago-default was reloaded although its text did not change (%v)", err)
	}
	contains(t, "apparmor=unconfined", run("--security-opt", "apparmor=unconfined"), "unconfined", "KCORE-READ")
	contains(t, "--privileged", run("--privileged"), "unconfined", "KCORE-READ")
	loadProfile(t, testProfile("ka5-deny", "deny "+secret+" r,"))
	contains(t, "apparmor=ka5-deny", run("--security-opt", "apparmor=ka5-deny"), "ka5-deny (enforce)")
	r := e.kago("run", "--rm", "--network", "none", "--security-opt", "apparmor=ka5-missing", "bb", "true")
	if r.code == 0 {
		t.Errorf("kago ran under a profile that is not loaded: %s", r)
	}
	contains(t, "refusal", r.stderr, `AppArmor profile "ka5-missing" is not loaded`)

	id := strings.TrimSpace(e.ok("run", "-d", "--network", "none", "bb", "sleep", "300"))
	if got := e.appArmorProfile(id); got != "kago-default" {
		t.Errorf("inspect AppArmorProfile = %q, want kago-default", got)
	}
	contains(t, "kago exec", e.ok("exec", id, "cat", "/proc/self/attr/current"), "kago-default (enforce)")
	e.ok("rm", "-f", id)
	contains(t, "kago info", e.ok("info"), "name=apparmor")

	// Unloaded behind kago's back (a reboot, an AppArmor reload): loaded again.
	unloadRecorded(t, record)
	contains(t, "run after unload", run(), "kago-default (enforce)")
}

// unloadRecorded unloads the profile whose text the engine recorded.
func unloadRecorded(t *testing.T, record string) {
	t.Helper()
	text, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("apparmor_parser", "-R")
	cmd.Stdin = strings.NewReader(string(text))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("unload kago-default: %v: %s", err, out)
	}
}

// Without AppArmor the engine applies no profile, accepts unconfined and
// refuses a named profile rather than dropping it.
func TestKagoWithoutAppArmor(t *testing.T) {
	requireNoAppArmor(t)
	e := newEngine(t)
	r := e.kago("run", "--rm", "--network", "none", "--security-opt", "apparmor=ka5-any", "bb", "true")
	if r.code == 0 {
		t.Errorf("kago accepted an AppArmor profile on a host without AppArmor: %s", r)
	}
	contains(t, "refusal", r.stderr, "--security-opt apparmor=ka5-any: AppArmor is not enabled on this host")
	e.ok("run", "--rm", "--network", "none", "--security-opt", "apparmor=unconfined", "bb", "true")
	id := strings.TrimSpace(e.ok("create", "--network", "none", "bb", "true"))
	if got := e.appArmorProfile(id); got != "" {
		t.Errorf("inspect AppArmorProfile = %q without AppArmor, want none", got)
	}
	lacks(t, "kago info", e.ok("info"), "name=apparmor")
}
