package e2e

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runWithEnv runs kago with the env's root and extra environment
// variables (or, with replace, only those), returning stdout, stderr and
// the exit code.
func (e *env) runWithEnv(vars []string, replace bool, args ...string) (string, string, int) {
	e.t.Helper()
	return e.runCmd(func(c *exec.Cmd) {
		c.Env = vars
		if !replace {
			c.Env = append(os.Environ(), vars...)
		}
	}, args...)
}

// stepCached reports whether the build progress shows the step whose
// label contains instr as taken from the cache.
func stepCached(progress, instr string) bool {
	num := ""
	for _, l := range strings.Split(progress, "\n") {
		if f := strings.Fields(l); len(f) > 1 && strings.HasPrefix(f[0], "#") && strings.Contains(l, instr) && num == "" {
			num = f[0]
		}
		if num != "" && l == num+" CACHED" {
			return true
		}
	}
	return false
}

// TestBuildHeredocs: RUN heredocs in every form BuildKit runs (the shell's
// script, <<- tab stripping, a #! script, several heredocs handed to the
// shell with a quoted delimiter not expanding) and COPY heredocs (variables
// expanded unless the delimiter is quoted; several into a directory); a
// heredoc's text is part of its step's cache key.
func TestBuildHeredocs(t *testing.T) {
	e := newEnv(t)
	df := "FROM bb\nARG WHO=world\n" +
		"RUN <<EOF\necho \"hello $WHO\" > /h1\nEOF\n" +
		"RUN <<-EOF\n\techo tabbed > /h2\n\tEOF\n" +
		"RUN <<EOF\n#!/bin/sh\necho \"script $0\" > /h3\nEOF\n" +
		"RUN cat <<'A' > /h4 && cat <<B > /h5\n$WHO-quoted\nA\n$WHO-unquoted\nB\n" +
		"COPY <<EOF /c1.txt\ncopied $WHO\nEOF\n" +
		"COPY <<'EOF' /c2.txt\nraw $WHO\nEOF\n" +
		"COPY <<a <<b /dir/\naaa\na\nbbb\nb\n"
	dir := buildContext(t, map[string]string{"Dockerfile": df})
	e.ok("build", "--network", "none", "-t", "heredoc:1", dir)
	out := e.ok("run", "--rm", "--network", "none", "heredoc:1", "sh", "-c",
		"cat /h1 /h2 /h3 /h4 /h5 /c1.txt /c2.txt /dir/a /dir/b; stat -c '%a %u' /c1.txt /dir/b; ls /dev/pipes 2>&1 | grep -c EOF; true")
	want := "hello world\ntabbed\nscript /dev/pipes/EOF\n$WHO-quoted\nworld-unquoted\ncopied world\nraw $WHO\naaa\nbbb\n644 0\n644 0\n0"
	if out != want {
		t.Errorf("the heredoc image shows\n%s\nwant\n%s", out, want)
	}
	_, progress, code := e.run("build", "--network", "none", "--progress", "plain", "-t", "heredoc:1", dir)
	if code != 0 || countCached(progress) != 7 {
		t.Fatalf("rebuild: exit %d, %d steps cached, want 7:\n%s", code, countCached(progress), progress)
	}
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(strings.Replace(df, "copied $WHO", "copied again $WHO", 1)), 0o644)
	_, progress, code = e.run("build", "--network", "none", "--progress", "plain", "-t", "heredoc:1", dir)
	if code != 0 || countCached(progress) != 4 {
		t.Fatalf("after changing a COPY heredoc: exit %d, %d steps cached, want the 4 before it:\n%s", code, countCached(progress), progress)
	}
	if out := e.ok("run", "--rm", "--network", "none", "heredoc:1", "cat", "/c1.txt"); out != "copied again world" {
		t.Errorf("rebuilt heredoc file has %q", out)
	}
	e.assertNoBuildLeftovers()
}

// allBlobs returns the bytes of every blob in the root's content store,
// gzip blobs uncompressed.
func (e *env) allBlobs() []byte {
	var all []byte
	filepath.Walk(filepath.Join(e.root, "content", "blobs"), func(p string, fi os.FileInfo, err error) error {
		if err != nil || !fi.Mode().IsRegular() {
			return nil
		}
		b, _ := os.ReadFile(p)
		all = append(all, b...)
		if zr, err := gzip.NewReader(bytes.NewReader(b)); err == nil {
			u, _ := io.ReadAll(zr)
			all = append(all, u...)
		}
		return nil
	})
	return all
}

// TestBuildRunMounts: RUN --mount binds the context (read-only, or
// read-write with the writes dropped) and a stage; a cache mount keeps its
// files across builds until builder prune; tmpfs; a secret as a file (mode
// 0400) and as an environment variable, in no layer, blob or cache key;
// RUN --network=none and host. No mount point is left in the image.
func TestBuildRunMounts(t *testing.T) {
	e := newEnv(t)
	dir := buildContext(t, map[string]string{
		"Dockerfile": `FROM bb AS tools
RUN echo tool > /tool
FROM bb
RUN --mount=type=bind,source=data,target=/src cat /src/in.txt > /out1
RUN --mount=type=bind,from=tools,source=/tool,target=/mnt/deep/tool cp /mnt/deep/tool /out2
RUN --mount=type=bind,source=data,target=/src,rw echo changed > /src/in.txt && cat /src/in.txt > /out3
RUN --mount=type=cache,target=/var/cache/k,id=c1 echo run >> /var/cache/k/log; wc -l < /var/cache/k/log > /out4
RUN --mount=type=tmpfs,target=/tmpfs,size=1m grep -q ' /tmpfs tmpfs ' /proc/mounts && echo tmpfs > /out5
RUN --mount=type=secret,id=tok grep -q value /run/secrets/tok && stat -c '%a %u' /run/secrets/tok > /out6
RUN --mount=type=secret,id=tok,env=TOK test ${#TOK} = 12 && echo env-ok > /out7
RUN --network=none sh -c '! ip link show eth0' && echo none > /out8
RUN --network=host readlink /proc/self/ns/net > /out9
`,
		"data/in.txt": "from-context\n",
		"secret.txt":  "s3cret-value",
	})
	secret := filepath.Join(dir, "secret.txt")
	build := func(args ...string) string {
		t.Helper()
		_, errs, code := e.run(append([]string{"build", "--progress", "plain", "--secret", "id=tok,src=" + secret, "-t", "mounts:1"}, append(args, dir)...)...)
		if code != 0 {
			t.Fatalf("build %v: %s", args, errs)
		}
		return errs
	}
	build()
	hostNet, _ := os.Readlink("/proc/self/ns/net")
	script := "cat /out1 /out2 /out3 /out4 /out5 /out6 /out7 /out8 /out9; ls -d /src /mnt /var/cache/k /tmpfs /run/secrets /dev/pipes 2>/dev/null; true"
	want := "from-context\ntool\nchanged\n1\ntmpfs\n400 0\nenv-ok\nnone\n" + hostNet
	if out := e.ok("run", "--rm", "--network", "none", "mounts:1", "sh", "-c", script); out != want {
		t.Errorf("the image shows\n%s\nwant\n%s", out, want)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "data", "in.txt")); string(b) != "from-context\n" {
		t.Errorf("a rw bind mount changed the context: %q", b)
	}
	if bytes.Contains(e.allBlobs(), []byte("s3cret-value")) {
		t.Error("the secret is in a stored blob")
	}
	// A changed secret keeps the cache; a changed bind source does not.
	os.WriteFile(secret, []byte("s3cret-value"), 0o600)
	if progress := build(); countCached(progress) != 10 {
		t.Errorf("rebuild: %d steps cached, want 10:\n%s", countCached(progress), progress)
	}
	os.WriteFile(filepath.Join(dir, "data", "in.txt"), []byte("new\n"), 0o644)
	if progress := build(); stepCached(progress, "source=data,target=/src cat") {
		t.Errorf("a changed bind source kept the step cached:\n%s", progress)
	}
	// The cache mount persists across builds, until builder prune.
	build("--no-cache")
	if out := e.ok("run", "--rm", "--network", "none", "mounts:1", "cat", "/out4"); out != "3" {
		t.Errorf("cache mount after three runs counts %q", out)
	}
	e.ok("builder", "prune", "-f")
	if ents, _ := os.ReadDir(filepath.Join(e.root, "build", "mounts")); len(ents) != 0 {
		t.Errorf("builder prune left %d cache mounts", len(ents))
	}
	build("--no-cache")
	if out := e.ok("run", "--rm", "--network", "none", "mounts:1", "cat", "/out4"); out != "1" {
		t.Errorf("cache mount after prune counts %q", out)
	}
	if errs := e.fails("build", "--secret", "id=x,src=/nonexistent/s3bd", dir); !strings.Contains(errs, "--secret id=x: src /nonexistent/s3bd is not a readable file") {
		t.Errorf("a missing secret file: %s", errs)
	}
	// A required secret not given, and an ssh mount, fail naming the line.
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM bb\nRUN --mount=type=secret,id=nope,required true\n"), 0o644)
	if errs := e.fails("build", dir); !strings.Contains(errs, "Dockerfile:2: ") || !strings.Contains(errs, "--secret id=nope,src=FILE") {
		t.Errorf("a missing required secret: %s", errs)
	}
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM bb\nRUN --mount=type=ssh ssh-add -l\n"), 0o644)
	if errs := e.fails("build", dir); !strings.Contains(errs, "Dockerfile:2: RUN --mount=type=ssh ssh-add -l: RUN --mount=type=ssh is not supported") {
		t.Errorf("an ssh mount: %s", errs)
	}
	e.assertNoBuildLeftovers()
}

// TestBuildCopyLink: a COPY --link layer does not depend on the layers
// below: built on another base, the step comes from the cache and the
// image has the same layer on top of the new base.
func TestBuildCopyLink(t *testing.T) {
	e := newEnv(t)
	for _, b := range []string{"base1", "base2"} {
		d := buildContext(t, map[string]string{"Dockerfile": "FROM bb\nRUN echo " + b + " > /base\n"})
		e.ok("build", "--network", "none", "-t", b, d)
	}
	dir := buildContext(t, map[string]string{
		"Dockerfile": "ARG BASE\nFROM $BASE\nCOPY --link app.txt /app/app.txt\nCOPY app.txt /app/plain.txt\n",
		"app.txt":    "app\n",
	})
	layers := func(ref string) []any {
		var list []map[string]any
		json.Unmarshal([]byte(e.ok("image", "inspect", ref)), &list)
		return list[0]["layers"].([]any)
	}
	e.ok("build", "--build-arg", "BASE=base1", "-t", "link:1", dir)
	_, progress, code := e.run("build", "--progress", "plain", "--build-arg", "BASE=base2", "-t", "link:2", dir)
	if code != 0 {
		t.Fatalf("build on base2: %s", progress)
	}
	if !stepCached(progress, "COPY --link app.txt") || stepCached(progress, "COPY app.txt /app/plain.txt") {
		t.Errorf("on a new base the --link step must come from the cache and the plain COPY not:\n%s", progress)
	}
	if out := e.ok("run", "--rm", "--network", "none", "link:2", "cat", "/base", "/app/app.txt", "/app/plain.txt"); out != "base2\napp\napp" {
		t.Errorf("link:2 shows %q", out)
	}
	l1, l2 := layers("link:1"), layers("link:2")
	if len(l1) < 2 || len(l2) < 2 || fmt.Sprint(l1[len(l1)-2]) != fmt.Sprint(l2[len(l2)-2]) {
		t.Errorf("the --link layer differs between the two bases:\n%v\n%v", l1, l2)
	}
	// A linked layer does not see the image's users: names are refused.
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM bb\nCOPY --link --chown=nobody app.txt /x\n"), 0o644)
	if errs := e.fails("build", dir); !strings.Contains(errs, "Dockerfile:2: ") || !strings.Contains(errs, "--link with --chown=nobody: give numeric ids") {
		t.Errorf("COPY --link --chown=NAME: %s", errs)
	}
	e.assertNoBuildLeftovers()
}

// TestBuildCopyParentsExclude: COPY --parents keeps the source's
// directories (below a /./ pivot), COPY --exclude leaves files out.
func TestBuildCopyParentsExclude(t *testing.T) {
	e := newEnv(t)
	dir := buildContext(t, map[string]string{
		"Dockerfile": `FROM bb
COPY --parents a/b/c.txt a/d/*.txt /p/
COPY --parents ./x/./y/z.txt /q/
COPY --exclude=*.md --exclude=sub/skip docs/ /docs/
COPY --exclude=b.txt *.txt /top/
`,
		"a/b/c.txt": "c", "a/d/e.txt": "e", "a/d/f.txt": "f", "x/y/z.txt": "z",
		"docs/keep.txt": "k", "docs/read.md": "r", "docs/sub/keep": "k", "docs/sub/skip": "s",
		"a.txt": "a", "b.txt": "b",
	})
	e.ok("build", "--network", "none", "-t", "parents:1", dir)
	out := e.ok("run", "--rm", "--network", "none", "parents:1", "sh", "-c", "cd / && find p q docs top | sort")
	want := "docs\ndocs/keep.txt\ndocs/sub\ndocs/sub/keep\np\np/a\np/a/b\np/a/b/c.txt\np/a/d\np/a/d/e.txt\np/a/d/f.txt\nq\nq/y\nq/y/z.txt\ntop\ntop/a.txt"
	if out != want {
		t.Errorf("the image has\n%s\nwant\n%s", out, want)
	}
	// An excluded file's change keeps the step cached.
	os.WriteFile(filepath.Join(dir, "docs", "read.md"), []byte("changed"), 0o644)
	_, progress, _ := e.run("build", "--network", "none", "--progress", "plain", "-t", "parents:1", dir)
	if countCached(progress) != 4 {
		t.Errorf("changing an excluded file rebuilt steps:\n%s", progress)
	}
	e.assertNoBuildLeftovers()
}

// gitRepo makes a git repository with a commit tagged v1 (sub/f.txt,
// top.txt) and a later commit on main, and returns it and v1's commit.
func gitRepo(t *testing.T) (string, string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed (make deps installs it)")
	}
	dir := filepath.Join(t.TempDir(), "repo.git")
	work := t.TempDir()
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", work, "-c", "user.name=t", "-c", "user.email=t@e"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q", "-b", "main")
	os.MkdirAll(filepath.Join(work, "sub"), 0o755)
	os.WriteFile(filepath.Join(work, "sub", "f.txt"), []byte("v1\n"), 0o644)
	os.WriteFile(filepath.Join(work, "top.txt"), []byte("top\n"), 0o644)
	git("add", ".")
	git("commit", "-q", "-m", "one")
	git("tag", "v1")
	commit := git("rev-parse", "HEAD")
	os.WriteFile(filepath.Join(work, "sub", "f.txt"), []byte("v2\n"), 0o644)
	git("commit", "-q", "-am", "two")
	if out, err := exec.Command("git", "clone", "-q", "--bare", work, dir).CombinedOutput(); err != nil {
		t.Fatalf("git clone --bare: %v\n%s", err, out)
	}
	return dir, commit
}

// TestBuildAddChecksumAndGit: ADD --checksum verifies a download and a
// mismatch fails naming the URL; ADD of a git repository served over http
// on 127.0.0.1 clones a tag's subdirectory or a branch, verifies a commit
// checksum, and without git on the host fails saying so.
func TestBuildAddChecksumAndGit(t *testing.T) {
	e := newEnv(t)
	body := "downloaded\n"
	sum := sha256.Sum256([]byte(body))
	files := serveOn(t, "127.0.0.1:18160", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) }))
	repo, commit := gitRepo(t)
	gitPath, _ := exec.LookPath("git")
	gitSrv := serveOn(t, "127.0.0.1:18161", &cgi.Handler{
		Path: gitPath, Args: []string{"http-backend"},
		Env: []string{"GIT_PROJECT_ROOT=" + filepath.Dir(repo), "GIT_HTTP_EXPORT_ALL=1"},
	})
	url := gitSrv.URL + "/repo.git"
	dir := buildContext(t, map[string]string{"Dockerfile": fmt.Sprintf(`FROM bb
ADD --checksum=sha256:%s %s/f.txt /dl/
ADD %s#v1:sub /v1/
ADD --checksum=%s %s#v1 /whole/
ADD %s /main/
ADD %s#%s:sub /bycommit/
`, hex.EncodeToString(sum[:]), files.URL, url, commit, url, url, url, commit)})
	e.ok("build", "--network", "none", "-t", "git:1", dir)
	out := e.ok("run", "--rm", "--network", "none", "git:1", "sh", "-c", "cat /dl/f.txt /v1/f.txt /whole/top.txt /main/sub/f.txt /bycommit/f.txt; ls -a /whole | grep -c .git; true")
	if out != "downloaded\nv1\ntop\nv2\nv1\n0" {
		t.Errorf("the image shows %q", out)
	}
	for _, c := range []struct{ line, want string }{
		{"ADD --checksum=sha256:" + strings.Repeat("0", 64) + " " + files.URL + "/f.txt /x", "ADD " + files.URL + "/f.txt: checksum mismatch"},
		{"ADD --checksum=" + strings.Repeat("a", 40) + " " + url + "#v1 /x", "is commit " + commit + ", not the checksum"},
		{"ADD " + url + "#nope /x", "Dockerfile:2: "},
		{"COPY " + url + " /x", "use ADD for a URL or a git repository"},
	} {
		os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM bb\n"+c.line+"\n"), 0o644)
		if errs := e.fails("build", "--network", "none", dir); !strings.Contains(errs, c.want) || strings.Contains(errs, "goroutine ") || strings.Count(errs, "kago: ") != 1 {
			t.Errorf("%s: stderr\n%s\nwant it to say %q", c.line, errs, c.want)
		}
	}
	// Without git on the host: a clear error.
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM bb\nADD "+url+" /x\n"), 0o644)
	_, errs, code := e.runWithEnv([]string{"PATH=/nonexistent"}, true, "build", "--network", "none", dir)
	if code == 0 || !strings.Contains(errs, "needs git on this machine") {
		t.Errorf("build without git: exit %d\n%s", code, errs)
	}
	e.assertNoBuildLeftovers()
}
