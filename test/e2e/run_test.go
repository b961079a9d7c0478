package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// freePort returns a TCP port nothing listens on at the moment.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func get(url string) (string, error) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// TestRunDetachedServesPublishedPort is the headline: run -d -p
// serves a page on localhost, then ps, logs, exec, inspect, stop and rm
// behave as in docker, and stop removes the published port.
func TestRunDetachedServesPublishedPort(t *testing.T) {
	e := newEnv(t)
	port := freePort(t)
	site := filepath.Join(t.TempDir(), "site")
	id := e.ok("run", "-d", "--name", "web", "-p", fmt.Sprintf("%d:80", port), "-e", "GREETING=hi",
		"-v", site+":/www:ro", "bb")
	if len(id) != 64 {
		t.Fatalf("run -d printed %q, want a 64-hex ID", id)
	}
	if _, err := os.Stat(site); err != nil {
		t.Fatalf("a missing bind source must be created, as docker does: %v", err)
	}
	if err := os.WriteFile(filepath.Join(site, "index.html"), []byte("served through kago\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/index.html", port)
	var body string
	e.eventually("the page on "+url, 10*time.Second, func() bool {
		body, _ = get(url)
		return body == "served through kago\n"
	})

	ps := e.ok("ps")
	if !strings.Contains(ps, "web") || !strings.Contains(ps, fmt.Sprintf("0.0.0.0:%d->80/tcp", port)) || !strings.Contains(ps, id[:12]) {
		t.Fatalf("ps does not show the container and its port:\n%s", ps)
	}
	var row map[string]any
	if err := json.Unmarshal([]byte(e.ok("ps", "--format", "json")), &row); err != nil || row["Names"] != "web" || row["State"] != "running" {
		t.Fatalf("ps --format json: %v %v", row, err)
	}
	if q := e.ok("ps", "-q"); q != id[:12] {
		t.Fatalf("ps -q = %q, want %q", q, id[:12])
	}
	if out := e.ok("exec", "-e", "X=1", "web", "sh", "-c", "echo $GREETING$X; hostname; cat /etc/hosts"); !strings.Contains(out, "hi1\n"+id[:12]) || !strings.Contains(out, "web") {
		t.Fatalf("exec output %q lacks env, hostname or hosts entry", out)
	}
	if _, _, code := e.run("exec", "web", "sh", "-c", "exit 7"); code != 7 {
		t.Fatalf("exec exit code %d, want 7", code)
	}
	if errs := e.fails("exec", "web", "sh", "-c", "echo x > /www/f"); !strings.Contains(errs, "Read-only") {
		t.Fatalf("a :ro volume was writable? stderr %q", errs)
	}
	in := e.inspect("web")
	st := state(in)
	ns := in["NetworkSettings"].(map[string]any)
	if st["Status"] != "running" || st["Pid"].(float64) <= 0 || !strings.HasPrefix(ns["IPAddress"].(string), "10.220.") || ns["MacAddress"] == "" {
		t.Fatalf("inspect: state %v network %v", st, ns)
	}
	if out := e.ok("port", "web"); out != fmt.Sprintf("80/tcp -> 0.0.0.0:%d", port) {
		t.Fatalf("port: %q", out)
	}

	start := time.Now()
	e.ok("stop", "-t", "1", "web")
	st = state(e.inspect("web"))
	// httpd as PID 1 has no SIGTERM handler, so the kernel ignores SIGTERM
	// and stop falls back to SIGKILL after the timeout: 128+9, as in docker.
	if took := time.Since(start); took < time.Second {
		t.Errorf("stop -t 1 returned after %s, before its timeout", took)
	}
	if st["Status"] != "exited" || st["ExitCode"].(float64) != 137 || st["FinishedAt"] == "0001-01-01T00:00:00Z" {
		t.Fatalf("after stop: %v", st)
	}
	if _, err := get(url); err == nil {
		t.Fatal("the published port still answers after stop")
	}
	if n := e.dnatElements(); n != 0 {
		t.Fatalf("stop left %d published ports in nftables", n)
	}
	// start brings it back with the same rootfs.
	e.ok("start", "web")
	e.eventually("the page after start", 10*time.Second, func() bool {
		body, _ = get(url)
		return body == "served through kago\n"
	})
	started := state(e.inspect("web"))["StartedAt"]
	e.ok("restart", "-t", "1", "web")
	if again := state(e.inspect("web")); again["Status"] != "running" || again["StartedAt"] == started {
		t.Fatalf("restart: %v", again)
	}
	e.eventually("the page after restart", 10*time.Second, func() bool {
		body, _ = get(url)
		return body == "served through kago\n"
	})
	e.ok("kill", "-s", "USR1", "web") // httpd as PID 1 has no handler: ignored
	if st := state(e.inspect("web")); st["Status"] != "running" {
		t.Fatalf("SIGUSR1 stopped httpd: %v", st)
	}
	if errs := e.fails("rm", "web"); !strings.Contains(errs, "stop it first") {
		t.Fatalf("rm of a running container: %q", errs)
	}
	e.ok("rm", "-f", "web")
	if errs := e.fails("inspect", "web"); !strings.Contains(errs, "no such container") {
		t.Fatalf("inspect after rm: %q", errs)
	}
	e.assertClean([]string{id})
}

// TestLogsAndExitCodes: stdout and stderr are logged in json-file format and
// the exit code is recorded; a foreground run returns the container's code.
func TestLogsAndExitCodes(t *testing.T) {
	e := newEnv(t)
	out, errs, code := e.run("run", "--name", "fg", "bb", "sh", "-c", "echo to-out; echo to-err >&2; exit 3")
	if code != 3 || out != "to-out\n" || !strings.Contains(errs, "to-err") {
		t.Fatalf("foreground run: code %d stdout %q stderr %q", code, out, errs)
	}
	out, errs, _ = e.run("logs", "fg")
	if out != "to-out\n" || errs != "to-err\n" {
		t.Fatalf("logs: stdout %q stderr %q", out, errs)
	}
	raw, err := os.ReadFile(filepath.Join(e.root, "containers", e.inspect("fg")["Id"].(string), e.inspect("fg")["Id"].(string)+"-json.log"))
	if err != nil || !strings.Contains(string(raw), `"log":"to-out\n","stream":"stdout","time":"`) {
		t.Fatalf("json-file log: %q %v", raw, err)
	}
	e.ok("run", "-d", "--name", "counter", "bb", "sh", "-c", "for i in 1 2 3 4 5; do echo line$i; done; sleep 2; echo late")
	// --tail counts the lines present when logs starts, so wait for them.
	e.eventually("five lines logged", 5*time.Second, func() bool { return strings.Contains(e.ok("logs", "counter"), "line5") })
	if got := e.ok("logs", "-f", "--tail", "2", "counter"); got != "line4\nline5\nlate" {
		t.Fatalf("logs -f --tail 2: %q", got)
	}
	if got := e.ok("wait", "counter"); got != "0" {
		t.Fatalf("wait: %q", got)
	}
	if out := e.ok("logs", "-t", "counter"); !strings.Contains(out, "Z line1") {
		t.Fatalf("logs -t: %q", out)
	}
}

// TestRestartPolicy: on-failure:2 restarts a crashing container twice and
// records the last exit code; stop ends an always-restarting one.
func TestRestartPolicy(t *testing.T) {
	e := newEnv(t)
	e.ok("run", "-d", "--name", "crash", "--restart", "on-failure:2", "bb", "sh", "-c", "echo boom; exit 3")
	e.eventually("two restarts and a final exit", 15*time.Second, func() bool {
		in := e.inspect("crash")
		return state(in)["Status"] == "exited" && in["RestartCount"].(float64) == 2
	})
	if st := state(e.inspect("crash")); st["ExitCode"].(float64) != 3 {
		t.Fatalf("exit code %v, want 3", st["ExitCode"])
	}
	if logs := e.ok("logs", "crash"); logs != "boom\nboom\nboom" {
		t.Fatalf("three runs should have logged three lines: %q", logs)
	}
	e.ok("run", "-d", "--name", "forever", "--restart", "always", "bb", "sh", "-c", "sleep 0.2")
	e.eventually("a restart", 10*time.Second, func() bool { return e.inspect("forever")["RestartCount"].(float64) >= 1 })
	e.ok("stop", "-t", "1", "forever")
	n := e.inspect("forever")["RestartCount"].(float64)
	time.Sleep(time.Second)
	if in := e.inspect("forever"); state(in)["Status"] != "exited" || in["RestartCount"].(float64) != n {
		t.Fatalf("stopped container restarted: %v", in)
	}
}

// TestAutoRemove: --rm removes everything when the container exits, in
// the foreground and detached.
func TestAutoRemove(t *testing.T) {
	e := newEnv(t)
	port := freePort(t)
	out, _, code := e.run("run", "--rm", "-p", fmt.Sprintf("%d:80", port), "bb", "sh", "-c", "echo bye; exit 2")
	if code != 2 || out != "bye\n" {
		t.Fatalf("run --rm: code %d out %q", code, out)
	}
	id := e.ok("run", "-d", "--rm", "-v", "/data", "bb", "sh", "-c", "sleep 0.3")
	e.eventually("the container to remove itself", 10*time.Second, func() bool { return len(e.ids()) == 0 })
	if ps := e.ok("ps", "-aq"); ps != "" {
		t.Fatalf("ps -a after --rm: %q", ps)
	}
	if vols := e.ok("volume", "ls", "-q"); vols != "" {
		t.Fatalf("--rm left its anonymous volume: %v", vols)
	}
	if vols, _ := filepath.Glob(filepath.Join(e.root, "volumes", "[0-9a-f]*")); len(vols) != 0 {
		t.Fatalf("--rm left its anonymous volume: %v", vols)
	}
	e.assertClean([]string{id})
}

// TestUserNetworkByName: two containers on a user network reach each other
// by container name.
func TestUserNetworkByName(t *testing.T) {
	e := newEnv(t)
	e.ok("network", "create", "app")
	e.ok("run", "-d", "--name", "server", "--network", "app", "bb")
	e.ok("run", "-d", "--name", "client", "--network", "app", "bb", "sleep", "60")
	var out string
	e.eventually("client fetching from server by name", 10*time.Second, func() bool {
		out, _, _ = e.run("exec", "client", "sh", "-c", `printf 'GET /index.html HTTP/1.0\r\n\r\n' | nc -w 2 server 80`)
		return strings.Contains(out, "hello from kago")
	})
	if hosts := e.ok("exec", "server", "cat", "/etc/hosts"); !strings.Contains(hosts, "client") {
		t.Fatalf("server's /etc/hosts lacks its peer:\n%s", hosts)
	}
	if errs := e.fails("run", "-d", "--network", "nosuchnet", "bb"); !strings.Contains(errs, "network nosuchnet not found") {
		t.Fatalf("unknown network: %q", errs)
	}
}

// TestBadInput: each mistake gives a clear error and leaves no container.
func TestBadInput(t *testing.T) {
	e := newEnv(t)
	l, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "-d", "nosuchimage:1"}, "nosuchimage"},
		{[]string{"run", "-d", "-p", "99999:80", "bb"}, "-p"},
		{[]string{"run", "-d", "-p", fmt.Sprintf("%d:80", taken), "bb"}, "in use"},
		{[]string{"run", "-d", "-v", "/a:relative", "bb"}, "invalid volume"},
		{[]string{"run", "-d", "--memory", "lots", "bb"}, "invalid size"},
		{[]string{"run", "-d", "--restart", "sometimes", "bb"}, "--restart"},
		{[]string{"run", "-d", "bb", "/no/such/binary"}, "/no/such/binary"},
		{[]string{"run", "-d", "--name", "bad/name", "bb"}, "invalid container name"},
		{[]string{"exec", "nosuch", "true"}, "no such container"},
	} {
		if errs := e.fails(tc.args...); !strings.Contains(errs, tc.want) {
			t.Errorf("kago %v: stderr %q does not mention %q", tc.args, errs, tc.want)
		}
		if ids := e.ids(); len(ids) != 0 {
			t.Fatalf("kago %v left containers %v", tc.args, ids)
		}
	}
	e.assertClean(nil)
	e.ok("run", "-d", "--name", "one", "bb")
	if errs := e.fails("run", "-d", "--name", "one", "bb"); !strings.Contains(errs, "already in use") && !strings.Contains(errs, "is used by") {
		t.Fatalf("duplicate name: %q", errs)
	}
	e.ok("stop", "one")
	if errs := e.fails("exec", "one", "true"); !strings.Contains(errs, "not running") {
		t.Fatalf("exec into a stopped container: %q", errs)
	}
}

// TestMonitorKilled: kill -9 of the monitor leaves the container
// recoverable: ps still shows it, stop ends it and records the exit, rm
// cleans up everything.
func TestMonitorKilled(t *testing.T) {
	e := newEnv(t)
	port := freePort(t)
	id := e.ok("run", "-d", "--name", "orphan", "-p", fmt.Sprintf("%d:80", port), "bb")
	mon := int(state(e.inspect("orphan"))["MonitorPid"].(float64))
	if mon <= 0 {
		t.Fatal("no monitor pid recorded")
	}
	if err := syscall.Kill(mon, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	e.eventually("the monitor to die", 5*time.Second, func() bool { return syscall.Kill(mon, 0) != nil })
	if st := state(e.inspect("orphan")); st["Status"] != "running" {
		t.Fatalf("after the monitor died the still running container shows %v", st["Status"])
	}
	e.eventually("the page", 5*time.Second, func() bool {
		b, _ := get(fmt.Sprintf("http://127.0.0.1:%d/index.html", port))
		return b == "hello from kago\n"
	})
	e.ok("stop", "-t", "2", "orphan")
	if st := state(e.inspect("orphan")); st["Status"] != "exited" {
		t.Fatalf("after stop: %v", st)
	}
	if n := e.dnatElements(); n != 0 {
		t.Fatalf("stop without a monitor left %d published ports", n)
	}
	e.ok("start", "orphan")
	e.ok("rm", "-f", "orphan")
	e.assertClean([]string{id})
}

// TestRebootLooksExited: when both the monitor and the container are gone
// without a trace of their exit (what a host reboot does, here with kill -9
// and an unmounted rootfs), ps shows the container as exited, not lost, and
// start brings it back.
func TestRebootLooksExited(t *testing.T) {
	e := newEnv(t)
	port := freePort(t)
	id := e.ok("run", "-d", "--name", "survivor", "-p", fmt.Sprintf("%d:80", port), "bb")
	st := state(e.inspect("survivor"))
	mon, pid := int(st["MonitorPid"].(float64)), int(st["Pid"].(float64))
	syscall.Kill(mon, syscall.SIGKILL)
	syscall.Kill(pid, syscall.SIGKILL)
	e.eventually("both processes to die", 5*time.Second, func() bool {
		return syscall.Kill(mon, 0) != nil && syscall.Kill(pid, 0) != nil
	})
	merged := filepath.Join(e.root, "snapshots", "containers", id, "merged")
	if err := syscall.Unmount(merged, syscall.MNT_DETACH); err != nil {
		t.Fatalf("unmount rootfs to imitate a reboot: %v", err)
	}
	if ps := e.ok("ps", "-a"); !strings.Contains(ps, "Exited (255)") || !strings.Contains(ps, "survivor") {
		t.Fatalf("ps -a after the 'reboot':\n%s", ps)
	}
	if n := e.dnatElements(); n != 0 {
		t.Fatalf("the dead container still publishes %d ports", n)
	}
	e.ok("start", "survivor")
	e.eventually("the page after start", 10*time.Second, func() bool {
		b, _ := get(fmt.Sprintf("http://127.0.0.1:%d/index.html", port))
		return b == "hello from kago\n"
	})
}

// TestMemoryLimitOOM: --memory is enforced and an OOM kill is recorded.
func TestMemoryLimitOOM(t *testing.T) {
	e := newEnv(t)
	// tail keeps the unterminated "line" of /dev/zero in memory until killed.
	_, _, code := e.run("run", "--name", "hog", "--memory", "16m", "bb", "tail", "/dev/zero")
	st := state(e.inspect("hog"))
	if code != 137 || st["OOMKilled"] != true || st["ExitCode"].(float64) != 137 {
		t.Fatalf("run exit %d, state %v: want 137 and OOMKilled", code, st)
	}
}

// TestTopAndStats: top lists the container's processes and stats reads its
// cgroup, limit included.
func TestTopAndStats(t *testing.T) {
	e := newEnv(t)
	e.ok("run", "-d", "--name", "busy", "--memory", "64m", "--pids-limit", "20", "bb", "sh", "-c", "sleep 300 & exec sleep 301")
	e.eventually("two processes", 5*time.Second, func() bool {
		out := e.ok("top", "busy")
		return strings.Contains(out, "sleep 300") && strings.Contains(out, "sleep 301")
	})
	out := e.ok("stats", "--no-stream", "busy")
	if !strings.Contains(out, "busy") || !strings.Contains(out, "/ 67.1MB") || !strings.HasSuffix(out, "2") {
		t.Fatalf("stats:\n%s", out)
	}
	if errs := e.fails("run", "-d", "--pids-limit", "-1", "bb"); !strings.Contains(errs, "pids-limit") {
		t.Fatalf("negative --pids-limit: %q", errs)
	}
}

// TestRunFlags: the docker flags that shape the process and its filesystem.
func TestRunFlags(t *testing.T) {
	e := newEnv(t)
	envFile := filepath.Join(t.TempDir(), "env")
	os.WriteFile(envFile, []byte("# comment\nFROM_FILE=yes\nA=file\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--env-file", envFile, "-e", "A=flag", "bb", "sh", "-c", "echo $FROM_FILE $A"}, "yes flag\n"},
		{[]string{"-u", "nobody", "bb", "id", "-u"}, "65534\n"},
		{[]string{"-u", "1234:5678", "bb", "sh", "-c", "echo $(id -u):$(id -g)"}, "1234:5678\n"},
		{[]string{"--entrypoint", "echo", "bb", "from", "entrypoint"}, "from entrypoint\n"},
		{[]string{"--hostname", "myhost", "bb", "hostname"}, "myhost\n"},
		{[]string{"--network", "none", "bb", "sh", "-c", "ls /sys/class/net | tr '\\n' ' '"}, "lo "},
		{[]string{"--read-only", "--tmpfs", "/scratch", "bb", "sh", "-c", "touch /x 2>/dev/null || echo ro; touch /scratch/y && echo tmpfs-ok"}, "ro\ntmpfs-ok\n"},
		{[]string{"--cap-drop", "ALL", "bb", "sh", "-c", "grep CapEff /proc/self/status"}, "CapEff:\t0000000000000000\n"},
		{[]string{"--privileged", "bb", "sh", "-c", "grep Seccomp: /proc/self/status"}, "Seccomp:\t0\n"},
		{[]string{"--security-opt", "seccomp=unconfined", "bb", "sh", "-c", "grep Seccomp: /proc/self/status"}, "Seccomp:\t0\n"},
		{[]string{"bb", "sh", "-c", "grep Seccomp: /proc/self/status"}, "Seccomp:\t2\n"},
	} {
		args := append([]string{"run", "--rm"}, tc.args...)
		out, errs, code := e.run(args...)
		if code != 0 || out != tc.want {
			t.Errorf("kago %s: exit %d, stdout %q (want %q), stderr %q", strings.Join(args, " "), code, out, tc.want, errs)
		}
	}
	// A relative bind source is relative to where kago runs, as in docker.
	cwd := t.TempDir()
	rel := exec.Command(kagoBin, "--root", e.root, "run", "--rm", "-v", "./site:/www", "bb", "sh", "-c", "echo made > /www/f")
	rel.Dir = cwd
	if out, err := rel.CombinedOutput(); err != nil {
		t.Fatalf("-v ./site:/www: %v: %s", err, out)
	}
	if b, err := os.ReadFile(filepath.Join(cwd, "site", "f")); err != nil || string(b) != "made\n" {
		t.Errorf("relative bind: %q %v", b, err)
	}
	// A named volume outlives the container that wrote it.
	e.ok("run", "--rm", "-v", "shared:/data", "bb", "sh", "-c", "echo kept > /data/f")
	if out := e.ok("run", "--rm", "-v", "shared:/data:ro", "bb", "cat", "/data/f"); out != "kept" {
		t.Errorf("named volume content: %q", out)
	}
	hostName, _ := os.Hostname()
	if out, _, _ := e.run("run", "--rm", "--network", "host", "bb", "hostname"); out != hostName+"\n" {
		t.Errorf("--network host: hostname %q, want the host's %q", out, hostName)
	}
	// -P publishes EXPOSEd ports on free host ports; -p IP:HOST:CONTAINER binds one address.
	port := freePort(t)
	e.ok("run", "-d", "--name", "pub", "-P", "-p", fmt.Sprintf("127.0.0.1:%d:80", port), "bb")
	out := e.ok("port", "pub")
	if !strings.Contains(out, fmt.Sprintf("80/tcp -> 127.0.0.1:%d", port)) || !strings.Contains(out, "80/tcp -> 0.0.0.0:") {
		t.Fatalf("port after -P and -p 127.0.0.1:%d:80:\n%s", port, out)
	}
	e.eventually("the page on the IP-bound port", 10*time.Second, func() bool {
		b, _ := get(fmt.Sprintf("http://127.0.0.1:%d/index.html", port))
		return b == "hello from kago\n"
	})
}

// TestInit: with --init, PID 1 is kago-init: stop's SIGTERM reaches a
// program that ignores it as PID 1, and orphans are reaped.
func TestInit(t *testing.T) {
	e := newEnv(t)
	e.ok("run", "-d", "--name", "sleeper", "--init", "bb", "sleep", "100")
	// kago-init is a Go program: a signal in the first milliseconds, before
	// it has started its child, would end it with status 2.
	// (top would not do: init's own command line ends in "sleep 100" too.)
	e.eventually("sleep to run under kago-init", 5*time.Second, func() bool {
		out, _, code := e.run("exec", "sleeper", "pidof", "sleep")
		return code == 0 && strings.TrimSpace(out) != ""
	})
	start := time.Now()
	e.ok("stop", "-t", "10", "sleeper")
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("stop took %s: SIGTERM was not forwarded to sleep", took)
	}
	if st := state(e.inspect("sleeper")); st["ExitCode"].(float64) != 143 {
		t.Errorf("exit code %v, want 143 (SIGTERM)", st["ExitCode"])
	}
	out := e.ok("run", "--rm", "--init", "bb", "sh", "-c", "(sleep 0.1 &); sleep 0.6; ps -o pid=,stat=,comm=")
	if strings.Contains(out, " Z ") || !strings.Contains(out, "1 S    ld-linux") && !strings.Contains(out, "kago-init") {
		t.Fatalf("ps under --init:\n%s", out)
	}
	// --init works on a read-only root too: the bundle is mounted on /dev.
	if out := e.ok("run", "--rm", "--init", "--read-only", "bb", "echo", "ro-ok"); out != "ro-ok" {
		t.Fatalf("--init --read-only: %q", out)
	}
}

// TestCp copies files both ways, through volumes of a running container and
// the rootfs of a stopped one, and never follows the container's symlinks
// onto the host.
func TestCp(t *testing.T) {
	e := newEnv(t)
	vol := t.TempDir()
	e.ok("run", "-d", "--name", "box", "-v", vol+":/vol", "bb", "sleep", "300")
	host := t.TempDir()
	os.MkdirAll(filepath.Join(host, "tree", "sub"), 0o755)
	os.WriteFile(filepath.Join(host, "tree", "sub", "f"), []byte("in"), 0o644)
	e.ok("cp", filepath.Join(host, "tree"), "box:/vol")
	if b, err := os.ReadFile(filepath.Join(vol, "tree", "sub", "f")); err != nil || string(b) != "in" {
		t.Fatalf("cp into a volume: %q %v", b, err)
	}
	e.ok("exec", "box", "sh", "-c", "echo out > /tmp/o; ln -s /etc/shadow-of-host /tmp/evil")
	e.ok("cp", "box:/tmp/o", filepath.Join(host, "o"))
	if b, _ := os.ReadFile(filepath.Join(host, "o")); string(b) != "out\n" {
		t.Fatalf("cp out: %q", b)
	}
	// Writing through a symlink that points at a host path stays inside.
	secret := filepath.Join(host, "secret")
	os.WriteFile(secret, []byte("host"), 0o644)
	e.ok("exec", "box", "ln", "-s", secret, "/tmp/link")
	os.WriteFile(filepath.Join(host, "payload"), []byte("evil"), 0o644)
	e.run("cp", filepath.Join(host, "payload"), "box:/tmp/link")
	if b, _ := os.ReadFile(secret); string(b) != "host" {
		t.Fatalf("cp followed a container symlink onto the host: %q", b)
	}
	e.ok("stop", "-t", "0", "box")
	e.ok("cp", "box:/tmp/o", filepath.Join(host, "o2"))
	if b, _ := os.ReadFile(filepath.Join(host, "o2")); string(b) != "out\n" {
		t.Fatalf("cp out of a stopped container: %q", b)
	}
	if errs := e.fails("cp", "box:/nonexistent", host); !strings.Contains(errs, "/nonexistent") {
		t.Fatalf("cp of a missing file: %q", errs)
	}
}

// TestMonitorProgram: the per-container monitor is kago-monitor, not a
// copy of kago; without it beside kago, run says what is missing and
// leaves nothing behind.
func TestMonitorProgram(t *testing.T) {
	e := newEnv(t)
	e.ok("run", "-d", "--name", "watched", "bb")
	mon := int(state(e.inspect("watched"))["MonitorPid"].(float64))
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", mon))
	if err != nil || strings.TrimSpace(string(comm)) != "kago-monitor" {
		t.Fatalf("monitor pid %d runs %q (%v), want kago-monitor", mon, comm, err)
	}
	e.ok("rm", "-f", "watched")

	lone := filepath.Join(t.TempDir(), "kago")
	data, err := os.ReadFile(kagoBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lone, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(lone, "--root", e.root, "run", "-d", "bb")
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "kago-monitor is not beside") {
		t.Fatalf("run without kago-monitor: %v: %s", err, out)
	}
	if ids := e.ids(); len(ids) != 0 {
		t.Fatalf("a failed run left containers %v", ids)
	}
	e.assertClean(nil)
}

// TestStartAllAfterReboot: what a boot runs (start --all with the
// restart-policy filters, as contrib/systemd/kago-restart.service does)
// brings back the "always" container and the "unless-stopped" one that was
// not stopped by hand, and leaves the others exited.
func TestStartAllAfterReboot(t *testing.T) {
	e := newEnv(t)
	e.ok("run", "-d", "--name", "always", "--restart", "always", "bb")
	e.ok("run", "-d", "--name", "unless", "--restart", "unless-stopped", "bb")
	e.ok("run", "-d", "--name", "stopped", "--restart", "unless-stopped", "bb")
	e.ok("run", "-d", "--name", "never", "bb")
	e.ok("stop", "-t", "1", "stopped")
	// The 'reboot': monitors and containers die without a trace.
	for _, name := range []string{"always", "unless", "never"} {
		st := state(e.inspect(name))
		mon, pid := int(st["MonitorPid"].(float64)), int(st["Pid"].(float64))
		syscall.Kill(mon, syscall.SIGKILL)
		syscall.Kill(pid, syscall.SIGKILL)
		e.eventually(name+"'s processes to die", 5*time.Second, func() bool {
			return syscall.Kill(mon, 0) != nil && syscall.Kill(pid, 0) != nil
		})
	}
	out := e.ok("start", "--all", "--filter", "restart-policy=always", "--filter", "restart-policy=unless-stopped")
	if out != "always\nunless" {
		t.Fatalf("start --all started %q, want always and unless", out)
	}
	for name, want := range map[string]string{"always": "running", "unless": "running", "stopped": "exited", "never": "exited"} {
		if st := state(e.inspect(name))["Status"]; st != want {
			t.Errorf("%s is %v, want %s", name, st, want)
		}
	}
	if errs := e.fails("start", "--all", "--filter", "color=red"); !strings.Contains(errs, "restart-policy=") {
		t.Errorf("bad filter: %q", errs)
	}
	if errs := e.fails("start"); !strings.Contains(errs, "--all") {
		t.Errorf("start without arguments: %q", errs)
	}
}

// TestLogsSinceUntil: logs --since and --until take docker's forms and
// print only what was written in that window.
func TestLogsSinceUntil(t *testing.T) {
	e := newEnv(t)
	e.ok("run", "-d", "--name", "talk", "bb", "sh", "-c", "echo early; sleep 1.5; echo late")
	e.eventually("the container to finish", 10*time.Second, func() bool { return state(e.inspect("talk"))["Status"] == "exited" })
	lines := strings.Split(e.ok("logs", "-t", "talk"), "\n")
	if len(lines) != 2 {
		t.Fatalf("logs -t: %q", lines)
	}
	first, err1 := time.Parse(time.RFC3339Nano, strings.Fields(lines[0])[0])
	second, err2 := time.Parse(time.RFC3339Nano, strings.Fields(lines[1])[0])
	if err1 != nil || err2 != nil {
		t.Fatalf("timestamps: %v %v", err1, err2)
	}
	mid := first.Add(second.Sub(first) / 2).Format(time.RFC3339Nano)
	if got := e.ok("logs", "--since", mid, "talk"); got != "late" {
		t.Errorf("logs --since %s: %q", mid, got)
	}
	unix := fmt.Sprintf("%d.%09d", first.Unix(), first.Nanosecond())
	if got := e.ok("logs", "--until", mid, "--since", unix, "talk"); got != "early" {
		t.Errorf("logs --since %s --until %s: %q", unix, mid, got)
	}
	if got := e.ok("logs", "--since", "1h", "talk"); got != "early\nlate" {
		t.Errorf("logs --since 1h: %q", got)
	}
	if errs := e.fails("logs", "--since", "yesterday", "talk"); !strings.Contains(errs, "--since") {
		t.Errorf("bad --since: %q", errs)
	}
	// ps: a status filter shows exited containers without -a, as docker's.
	if ps := e.ok("ps", "--format", "json", "-f", "status=exited", "-f", "name=tal"); !strings.Contains(ps, `"Names":"talk"`) {
		t.Errorf("ps -f status=exited -f name=tal: %q", ps)
	}
	if ps := e.ok("ps", "-q", "-f", "status=running"); ps != "" {
		t.Errorf("ps -f status=running: %q", ps)
	}
}
