package e2e

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

// buildContext writes files (name -> content) into a new context directory.
func buildContext(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// tarOf makes a tar archive of name -> content.
func tarOf(t *testing.T, files map[string]string) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, content := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg, Uid: 123, Gid: 456}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(content))
	}
	tw.Close()
	return buf.String()
}

// imageConfig returns the stored config of an image, raw, as the build
// wrote it (the docker extensions included).
func (e *env) imageConfig(ref string) map[string]any {
	e.t.Helper()
	id := strings.TrimPrefix(e.imageID(ref), "sha256:")
	raw, err := os.ReadFile(filepath.Join(e.root, "content", "blobs", "sha256", id))
	if err != nil {
		e.t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		e.t.Fatal(err)
	}
	return cfg
}

func (e *env) imageID(ref string) string {
	e.t.Helper()
	var list []map[string]any
	if err := json.Unmarshal([]byte(e.ok("image", "inspect", ref)), &list); err != nil || len(list) != 1 {
		e.t.Fatalf("image inspect %s: %v", ref, err)
	}
	return list[0]["id"].(string)
}

// assertNoBuildLeftovers checks that no build container, snapshot or
// bundle is left in the root.
func (e *env) assertNoBuildLeftovers() {
	e.t.Helper()
	for _, d := range []string{"build/runtime", "build/bundles", "snapshots/containers"} {
		if ents, _ := os.ReadDir(filepath.Join(e.root, d)); len(ents) > 0 {
			e.t.Errorf("%s left behind: %d entries", d, len(ents))
		}
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), e.root) {
		e.t.Errorf("mount of %s left behind", e.root)
	}
	matches, _ := filepath.Glob("/sys/fs/cgroup/*/kago/build-*")
	m2, _ := filepath.Glob("/sys/fs/cgroup/kago/build-*")
	if len(matches)+len(m2) > 0 {
		e.t.Errorf("build cgroups left: %v", append(matches, m2...))
	}
}

// TestBuildMultiStageImage builds a two-stage Dockerfile and checks the
// image from outside: what `kago run` sees in it and its config.
func TestBuildMultiStageImage(t *testing.T) {
	e := newEnv(t)
	dir := buildContext(t, map[string]string{
		"Dockerfile": `ARG BASE=bb
FROM $BASE AS builder
ARG GREETING=hello
ENV TARGET=world DIR=/out
WORKDIR $DIR/deep
RUN echo "$GREETING $TARGET" > msg && echo doomed > tmpfile
RUN rm tmpfile /etc/group
COPY app/ ./app/
COPY *.md docs/
ADD files.tar unpacked/

FROM bb
COPY --from=builder /out /out
COPY --chown=nobody --chmod=0640 owned.txt /home/owned.txt
USER nobody
WORKDIR /data
EXPOSE 8080/udp 9090
VOLUME /data
LABEL org.test=yes
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=5s CMD true
CMD ["sh", "-c", "cat /out/deep/msg; id -u; ls /out/deep/app /out/deep/docs; cat /out/deep/unpacked/t/inner.txt; stat -c '%u:%g %a' /home/owned.txt /out/deep/unpacked/t/inner.txt; pwd"]
`,
		".dockerignore":   "app/ignored.txt\n*.log\n",
		"app/keep.txt":    "keep",
		"app/ignored.txt": "ignored",
		"debug.log":       "log",
		"a.md":            "a",
		"b.md":            "b",
		"owned.txt":       "owned",
		"files.tar":       tarOf(t, map[string]string{"t/inner.txt": "inner\n"}),
	})
	e.ok("build", "-t", "multi:1", "--build-arg", "GREETING=hi", dir)
	e.ok("image", "build", "-q", "--target", "builder", "-t", "multi:builder", dir)
	out := e.ok("run", "--rm", "--network", "none", "multi:1")
	want := "hi world\n65534\n/out/deep/app:\nkeep.txt\n\n/out/deep/docs:\na.md\nb.md\ninner\n65534:65534 640\n123:456 644\n/data"
	if out != want {
		t.Errorf("the built image shows\n%s\nwant\n%s", out, want)
	}
	// A file made in one step and deleted in the next, and a file of the
	// base image deleted, are gone: whiteouts in the layers.
	out, errs, code := e.run("run", "--rm", "--network", "none", "multi:builder", "sh", "-c", "ls /out/deep; ls /etc/group")
	if code == 0 || strings.Contains(out, "tmpfile") || !strings.Contains(out, "msg") {
		t.Errorf("builder stage: exit %d, stdout %q stderr %q; want msg without tmpfile, and no /etc/group", code, out, errs)
	}
	cfg := e.imageConfig("multi:1")
	c := cfg["config"].(map[string]any)
	if c["User"] != "nobody" || c["WorkingDir"] != "/data" || c["StopSignal"] != "SIGQUIT" {
		t.Errorf("config User/WorkingDir/StopSignal = %v/%v/%v", c["User"], c["WorkingDir"], c["StopSignal"])
	}
	ports, _ := c["ExposedPorts"].(map[string]any)
	vols, _ := c["Volumes"].(map[string]any)
	labels, _ := c["Labels"].(map[string]any)
	hc, _ := c["Healthcheck"].(map[string]any)
	if _, ok := ports["8080/udp"]; !ok || len(ports) != 3 || vols["/data"] == nil || labels["org.test"] != "yes" || hc == nil {
		t.Errorf("config ports %v volumes %v labels %v healthcheck %v", ports, vols, labels, hc)
	}
	if h, _ := cfg["history"].([]any); len(h) < 10 {
		t.Errorf("history has %d entries, want one per instruction", len(h))
	}
	e.assertNoBuildLeftovers()
}

// countCached counts the steps a build took from the cache.
func countCached(progress string) int { return strings.Count(progress, " CACHED\n") }

// TestBuildCache: a rebuild takes every step from the cache and makes the
// same image; changing one COPY source rebuilds from that step on; a new
// mtime alone does not; --no-cache and builder prune rebuild all.
func TestBuildCache(t *testing.T) {
	e := newEnv(t)
	dir := buildContext(t, map[string]string{
		"Dockerfile": "FROM bb\nCOPY a.txt /a.txt\nRUN cat /a.txt > /a.copy\nCOPY b.txt /b.txt\nRUN cat /b.txt > /b.copy\n",
		"a.txt":      "a1\n",
		"b.txt":      "b1\n",
	})
	build := func(args ...string) (string, string) {
		t.Helper()
		_, errs, code := e.run(append([]string{"build", "-t", "cache:1"}, append(args, dir)...)...)
		if code != 0 {
			t.Fatalf("build: %s", errs)
		}
		return errs, e.imageID("cache:1")
	}
	progress, id1 := build()
	if n := countCached(progress); n != 0 {
		t.Fatalf("first build took %d steps from the cache:\n%s", n, progress)
	}
	progress, id2 := build()
	if n := countCached(progress); n != 4 || id2 != id1 {
		t.Fatalf("rebuild: %d steps cached (want 4), image %s then %s:\n%s", n, id1, id2, progress)
	}
	future := time.Now().Add(time.Hour)
	os.Chtimes(filepath.Join(dir, "a.txt"), future, future)
	if progress, _ = build(); countCached(progress) != 4 {
		t.Fatalf("a new mtime alone invalidated the cache:\n%s", progress)
	}
	os.WriteFile(filepath.Join(dir, "b.txt"), []byte("b2\n"), 0o644)
	progress, _ = build()
	if n := countCached(progress); n != 2 || !strings.Contains(progress, "COPY b.txt /b.txt\n#") {
		t.Fatalf("after changing b.txt: %d steps cached, want the 2 before it:\n%s", n, progress)
	}
	if out := e.ok("run", "--rm", "--network", "none", "cache:1", "cat", "/a.copy", "/b.copy"); out != "a1\nb2" {
		t.Errorf("rebuilt image has %q", out)
	}
	if progress, _ = build("--no-cache"); countCached(progress) != 0 {
		t.Errorf("--no-cache took steps from the cache:\n%s", progress)
	}
	e.ok("builder", "prune", "-f")
	if progress, _ = build(); countCached(progress) != 0 {
		t.Errorf("after builder prune, steps came from the cache:\n%s", progress)
	}
	e.assertNoBuildLeftovers()
}

// TestBuildCacheBuildArgs: a build arg in use is part of a step's cache
// key: the same value reuses the step, another rebuilds it.
func TestBuildCacheBuildArgs(t *testing.T) {
	e := newEnv(t)
	dir := buildContext(t, map[string]string{"Dockerfile": "FROM bb\nARG V=1\nRUN echo $V > /v\n"})
	for _, c := range []struct {
		arg    string
		cached int
		want   string
	}{{"V=1", 0, "1"}, {"V=1", 1, "1"}, {"V=2", 0, "2"}, {"V=1", 1, "1"}} {
		_, errs, code := e.run("build", "--progress", "plain", "--network", "none", "--build-arg", c.arg, "-t", "args:1", dir)
		if code != 0 || countCached(errs) != c.cached {
			t.Fatalf("build with %s: exit %d, %d steps cached, want %d:\n%s", c.arg, code, countCached(errs), c.cached, errs)
		}
		if out := e.ok("run", "--rm", "--network", "none", "args:1", "cat", "/v"); out != c.want {
			t.Errorf("build with %s made /v %q", c.arg, out)
		}
	}
}

// TestBuildBadInput: every bad Dockerfile or context fails with a message
// naming the problem, and leaves no image, container, snapshot or mount.
func TestBuildBadInput(t *testing.T) {
	e := newEnv(t)
	dir := buildContext(t, map[string]string{"f.txt": "f"})
	os.Symlink("/etc/passwd", filepath.Join(dir, "out-link"))
	for _, c := range []struct{ dockerfile, want string }{
		{"FROM bb\nRUN true \\\n  && true\nFROMM x\n", "Dockerfile:4: unknown instruction: FROMM"},
		{"FROM bb\nCOPY missing.txt /x\n", `"missing.txt" not found in the build context ` + dir},
		{"FROM bb\nCOPY ../etc/passwd /x\n", "outside the build context"},
		{"FROM bb\nCOPY out-link /x\n", `"out-link" leads outside the build context`},
		{"FROM bb\nRUN --mount=type=ssh,id=x ssh-add -l\n", "Dockerfile:2: RUN --mount=type=ssh,id=x ssh-add -l: RUN --mount=type=ssh is not supported"},
		{"FROM bb\nRUN echo boom-output; exit 3\n", "exit code 3"},
	} {
		os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(c.dockerfile), 0o644)
		errs := e.fails("build", "-t", "bad:1", dir)
		if !strings.Contains(errs, c.want) {
			t.Errorf("build of %q: stderr\n%s\nwant it to say %q", c.dockerfile, errs, c.want)
		}
		if strings.Contains(c.want, "exit code") && !strings.Contains(errs, "boom-output") {
			t.Errorf("a failing RUN did not show its output:\n%s", errs)
		}
		lines := strings.Split(strings.TrimSpace(errs), "\n")
		if strings.Contains(errs, "goroutine ") || strings.Count(errs, "kago: ") != 1 || !strings.HasPrefix(lines[len(lines)-1], "kago: ") {
			t.Errorf("not one clean error:\n%s", errs)
		}
	}
	// By repository name: an image ID may well contain "bad".
	out, _, _ := e.run("images")
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == "bad" {
			t.Errorf("a failed build left an image:\n%s", out)
		}
	}
	e.assertNoBuildLeftovers()
}

// serveOn serves h on addr (this suite's own ports) until the test ends.
func serveOn(t *testing.T, addr string, h http.Handler) *httptest.Server {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// TestBuildOnbuildAndAddURL: a base image's ONBUILD triggers run before the
// stage's own instructions; ADD of an http URL downloads the file (mode
// 0600, not extracted) and a changed download rebuilds the step.
func TestBuildOnbuildAndAddURL(t *testing.T) {
	e := newEnv(t)
	var body atomic.Value
	body.Store("first\n")
	srv := serveOn(t, "127.0.0.1:15801", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, body.Load().(string))
	}))
	base := buildContext(t, map[string]string{"Dockerfile": "FROM bb\nONBUILD RUN echo triggered > /trig\n"})
	e.ok("build", "-t", "onbuild:base", base)
	dir := buildContext(t, map[string]string{"Dockerfile": "FROM onbuild:base\nADD " + srv.URL + "/dl/file.txt /dl/\n"})
	e.ok("build", "-t", "onbuild:child", dir)
	script := "cat /trig /dl/file.txt; stat -c %a /dl/file.txt"
	if out := e.ok("run", "--rm", "--network", "none", "onbuild:child", "sh", "-c", script); out != "triggered\nfirst\n600" {
		t.Errorf("child image shows %q", out)
	}
	if c := e.imageConfig("onbuild:child")["config"].(map[string]any); c["OnBuild"] != nil {
		t.Errorf("the child inherited ONBUILD triggers: %v", c["OnBuild"])
	}
	body.Store("second\n")
	e.ok("build", "-t", "onbuild:child", dir)
	if out := e.ok("run", "--rm", "--network", "none", "onbuild:child", "cat", "/dl/file.txt"); out != "second" {
		t.Errorf("after the download changed the image has %q", out)
	}
	e.assertNoBuildLeftovers()
}

// TestBuildRunNetworks: RUN steps join the default bridge (an address on
// eth0, /etc/hosts naming the sandbox) unless --network none; the mount
// points the runtime needs leave nothing in the image's layers.
func TestBuildRunNetworks(t *testing.T) {
	e := newEnv(t)
	dir := buildContext(t, map[string]string{"Dockerfile": "FROM bb\nRUN ip -4 addr show eth0 | grep -q inet && grep -q buildkitsandbox /etc/hosts && echo on-bridge\n"})
	_, errs, code := e.run("build", "--progress", "plain", "-t", "net:1", dir)
	if code != 0 || !strings.Contains(errs, "on-bridge") {
		t.Fatalf("RUN on the default bridge: exit %d\n%s", code, errs)
	}
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM bb\nRUN ! ip link show eth0 && echo no-network\n"), 0o644)
	_, errs, code = e.run("build", "--network", "none", "--progress", "plain", "-t", "net:2", dir)
	if code != 0 || !strings.Contains(errs, "no-network") {
		t.Fatalf("RUN with --network none: exit %d\n%s", code, errs)
	}
	for _, ref := range []string{"net:1", "net:2"} {
		var list []map[string]any
		json.Unmarshal([]byte(e.ok("image", "inspect", ref)), &list)
		if n := len(list[0]["layers"].([]any)); n != 1 {
			t.Errorf("%s has %d layers: a RUN that changes no file must add none (mount points left in a layer?)", ref, n)
		}
	}
	e.assertNoBuildLeftovers()
}

// TestBuildStagesInParallel: two independent stages of two seconds each
// finish in well under four: they run at once, and the last stage, which
// copies from both, waits for them.
func TestBuildStagesInParallel(t *testing.T) {
	e := newEnv(t)
	dir := buildContext(t, map[string]string{"Dockerfile": `FROM bb AS a
RUN sleep 2; echo a > /a
FROM bb AS b
RUN sleep 2; echo b > /b
FROM bb
COPY --from=a /a /a
COPY --from=b /b /b
`})
	start := time.Now()
	e.ok("build", "--network", "none", "-t", "par:1", dir)
	if d := time.Since(start); d > 3500*time.Millisecond {
		t.Errorf("two independent 2 s stages took %s: not in parallel", d)
	}
	if out := e.ok("run", "--rm", "--network", "none", "par:1", "cat", "/a", "/b"); out != "a\nb" {
		t.Errorf("image has %q", out)
	}
	e.assertNoBuildLeftovers()
}

// TestBuildFromStdinPushPull: a context tar on stdin, -q printing the ID;
// the image pushed to a registry on loopback and pulled into another
// engine root runs there.
func TestBuildFromStdinPushPull(t *testing.T) {
	e := newEnv(t)
	ctxTar := tarOf(t, map[string]string{
		"Dockerfile": "FROM bb\nRUN echo built-by-kago > /msg\nCMD [\"cat\", \"/msg\"]\n",
	})
	cmd := exec.Command(kagoBin, "--root", e.root, "build", "-q", "-t", "stdin:1", "-")
	cmd.Stdin = strings.NewReader(ctxTar)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("build from stdin: %v", err)
	}
	id := strings.TrimSpace(string(out))
	if !strings.HasPrefix(id, "sha256:") || e.imageID("stdin:1") != id {
		t.Fatalf("-q printed %q", id)
	}
	// And the Dockerfile alone from stdin (-f -), with a directory context.
	cmd = exec.Command(kagoBin, "--root", e.root, "build", "-q", "--network", "none", "-f", "-", t.TempDir())
	cmd.Stdin = strings.NewReader("FROM bb\nRUN echo dockerfile-from-stdin > /msg\n")
	if out, err := cmd.Output(); err != nil || !strings.HasPrefix(string(out), "sha256:") {
		t.Fatalf("build -f -: %v %q", err, out)
	}
	srv := serveOn(t, "127.0.0.1:15802", registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	ref := strings.TrimPrefix(srv.URL, "http://") + "/e2e/built:1"
	e.ok("tag", "stdin:1", ref)
	e.ok("push", ref)
	other := newEnv(t)
	if out := other.ok("run", "--rm", "--network", "none", ref); out != "built-by-kago" {
		t.Errorf("pulled image printed %q", out)
	}
}

// startBuildUntil starts kago build on dir and returns once its stderr
// shows marker; the process is killed at cleanup if still running.
func (e *env) startBuildUntil(dir, marker string) *exec.Cmd {
	t := e.t
	t.Helper()
	cmd := exec.Command(kagoBin, "--root", e.root, "build", "--progress", "plain", "-t", "intr:1", dir)
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	started := make(chan struct{})
	go func() {
		buf := make([]byte, 4096)
		var seen strings.Builder
		for {
			n, err := pr.Read(buf)
			seen.Write(buf[:n])
			if strings.Contains(seen.String(), marker) {
				close(started)
				io.Copy(io.Discard, pr)
				return
			}
			if err != nil {
				return
			}
		}
	}()
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatalf("the build did not print %q", marker)
	}
	go func() { cmd.Wait(); pw.Close() }()
	return cmd
}

// waitExit waits for a started build to end and returns its exit code.
func waitExit(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for cmd.ProcessState == nil {
		if time.Now().After(deadline) {
			t.Fatal("kago build did not stop")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cmd.ProcessState.ExitCode()
}

// TestBuildInterruptCleansUp: Ctrl-C during a RUN step ends the build and
// leaves no container, process, snapshot or mount.
func TestBuildInterruptCleansUp(t *testing.T) {
	e := newEnv(t)
	dir := buildContext(t, map[string]string{"Dockerfile": "FROM bb\nRUN echo step-$((40+2)); sleep 60\n"})
	cmd := e.startBuildUntil(dir, "step-42")
	cmd.Process.Signal(syscall.SIGINT)
	if code := waitExit(t, cmd); code == 0 {
		t.Error("an interrupted build exited 0")
	}
	if out, _, _ := e.run("images"); strings.Contains(out, "intr") {
		t.Errorf("an interrupted build left an image:\n%s", out)
	}
	e.assertNoBuildLeftovers()
}

// TestBuildAfterKilledBuild: a build killed with SIGKILL leaves its step's
// container and snapshot; the next build removes them.
func TestBuildAfterKilledBuild(t *testing.T) {
	e := newEnv(t)
	dir := buildContext(t, map[string]string{"Dockerfile": "FROM bb\nRUN echo step-$((40+2)); sleep 60\n"})
	cmd := e.startBuildUntil(dir, "step-42")
	cmd.Process.Kill()
	waitExit(t, cmd)
	if ents, _ := os.ReadDir(filepath.Join(e.root, "snapshots", "containers")); len(ents) == 0 {
		t.Fatal("the killed build left nothing: this test tests nothing")
	}
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM bb\nRUN true\n"), 0o644)
	e.ok("build", dir)
	e.assertNoBuildLeftovers()
}
