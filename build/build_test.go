package build

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/patternmatcher"

	"github.com/kago-run/kago/image"
)

func TestParseDockerfileErrorsNameTheLine(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"FROM bb\nRUN true \\\n  && true\nFROMM x\n", "Dockerfile:4: unknown instruction: FROMM"},
		{"ARG A=1\n", "has no FROM instruction"},
		{"FROM bb\nRUN --mount=type=ssh true\n", "Dockerfile:2: RUN --mount=type=ssh true: RUN --mount=type=ssh is not supported by kago build yet: kago build forwards no SSH agent"},
		{"FROM bb\nRUN --mount=type=cache,target=/c,id=x --mount=type=ssh,id=k true\n", "Dockerfile:2: RUN --mount=type=cache,target=/c,id=x --mount=type=ssh,id=k true: RUN --mount=type=ssh is not supported"},
		{"FROM bb\nRUN --security=insecure true\n", "Dockerfile:2: RUN --security=insecure true: RUN --security is not supported"},
		{"FROM bb\nRUN --network=bridge true\n", `Dockerfile:2: invalid network mode "bridge"`},
		{"FROM bb\nRUN --mount=type=nfs,target=/x true\n", "Dockerfile:2: "},
		{"FROM bb\nCOPY --from=x\n", "Dockerfile:2: "},
	} {
		_, err := parseDockerfile("Dockerfile", []byte(c.src))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("parse %q: error %v, want it to contain %q", c.src, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("parse %q: error spans lines: %q", c.src, err)
		}
	}
	for _, ok := range []string{
		"FROM bb\nRUN --mount=type=cache,target=/c --mount=type=secret,id=s --network=none true\n",
		"FROM bb\nRUN <<EOF\necho hi\nEOF\n",
		"FROM bb\nCOPY --parents --exclude=*.md a/./b /c/\nCOPY --link <<x <<y /d/\nxx\nx\nyy\ny\n",
		"FROM bb\nADD --checksum=sha256:00 http://h/a /b\nADD https://h/r.git#main:sub /s\n",
	} {
		if _, err := parseDockerfile("Dockerfile", []byte(ok)); err != nil {
			t.Errorf("parse %q: %v", ok, err)
		}
	}
	df, err := parseDockerfile("Dockerfile", []byte("ARG V=1\nFROM bb AS one\nRUN echo \\\n hi\nFROM one\nCOPY --from=one /a /b\n"))
	if err != nil || len(df.stages) != 2 || len(df.metaArgs) != 1 || df.stages[0].Name != "one" {
		t.Fatalf("parse a valid file: %v %+v", err, df)
	}
}

// contextDir makes a context with files, a directory, a symlink inside,
// symlinks out and a .dockerignore.
func contextDir(t testing.TB) string {
	dir := t.TempDir()
	for name, data := range map[string]string{
		"a.txt": "a", "b.txt": "b", "skip.log": "log", "sub/c.txt": "c", "sub/keep.log": "keep",
		".dockerignore": "*.log\n!sub/keep.log\n",
	} {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Symlink("/etc", filepath.Join(dir, "abs-out"))
	os.Symlink("../../", filepath.Join(dir, "sub", "rel-out"))
	os.Symlink("sub/c.txt", filepath.Join(dir, "in-link"))
	return dir
}

func TestContextSourceConfinesAndIgnores(t *testing.T) {
	dir := contextDir(t)
	src, err := newContextSource(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		want []string // rels; nil: an error containing wantErr
		err  string
	}{
		{path: "a.txt", want: []string{"a.txt"}},
		{path: "/sub/../a.txt", want: []string{"a.txt"}},
		{path: "*.txt", want: []string{"a.txt", "b.txt"}},
		{path: "sub/*.*", want: []string{"sub/c.txt", "sub/keep.log"}},
		{path: "sub/*", err: `"sub/rel-out" leads outside the build context`},
		{path: "in-link", want: []string{"in-link"}},
		{path: ".", want: []string{"."}},
		{path: "skip.log", err: "excluded by .dockerignore"},
		{path: "*.log", err: "no file in the build context"},
		{path: "../x", err: "outside the build context"},
		{path: "abs-out/passwd", err: "leads outside the build context"},
		{path: "abs-out", err: "leads outside the build context"},
		{path: "sub/rel-out/etc", err: "leads outside the build context"},
		{path: "nope", err: `"nope" not found`},
	} {
		ms, err := src.resolve(c.path)
		if c.want == nil {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("resolve %q: %v, want an error saying %q", c.path, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("resolve %q: %v", c.path, err)
			continue
		}
		var got []string
		for _, m := range ms {
			got = append(got, m.rel)
		}
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("resolve %q = %v, want %v", c.path, got, c.want)
		}
	}
	// A symlink inside the context resolves to its target.
	ms, _ := src.resolve("in-link")
	if len(ms) != 1 || ms[0].real != filepath.Join(dir, "sub", "c.txt") {
		t.Errorf("in-link resolved to %+v", ms)
	}
}

func TestArchiveEntriesStayUnderTheDestination(t *testing.T) {
	it := copyItem{src: &source{label: "ctx"}, m: match{rel: "x.tar"}, dest: "dst", extract: true}
	for _, c := range []struct {
		hdr  tar.Header
		want string
		err  bool
	}{
		{hdr: tar.Header{Name: "a/b", Typeflag: tar.TypeReg}, want: "dst/a/b"},
		{hdr: tar.Header{Name: "/abs/../c", Typeflag: tar.TypeReg}, want: "dst/c"},
		{hdr: tar.Header{Name: "../../etc/passwd", Typeflag: tar.TypeReg}, err: true},
		{hdr: tar.Header{Name: "l", Typeflag: tar.TypeLink, Linkname: "../../etc/shadow"}, err: true},
		{hdr: tar.Header{Name: "d/.wh.x", Typeflag: tar.TypeReg}, err: true},
		{hdr: tar.Header{Name: "dev", Typeflag: tar.TypeChar}, err: true},
	} {
		h := c.hdr
		keep, err := it.rename(&h)
		if c.err {
			if err == nil {
				t.Errorf("entry %q accepted as %q", c.hdr.Name, h.Name)
			}
			continue
		}
		if err != nil || !keep || h.Name != c.want {
			t.Errorf("entry %q: %v %v %q, want %q", c.hdr.Name, keep, err, h.Name, c.want)
		}
	}
}

func TestNormalizePort(t *testing.T) {
	for in, want := range map[string]string{"80": "80/tcp", "53/UDP": "53/udp", "8000-8010": "8000-8010/tcp"} {
		if got, err := normalizePort(in); err != nil || got != want {
			t.Errorf("normalizePort(%q) = %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"abc", "0", "70000", "80/icmp", "", "80-"} {
		if got, err := normalizePort(bad); err == nil {
			t.Errorf("normalizePort(%q) = %q, want an error", bad, got)
		}
	}
}

func TestStepKeyChains(t *testing.T) {
	a := stepKey("", "RUN", "x")
	if a == stepKey("", "RUNx") || a == stepKey(a, "RUN", "x") || a != stepKey("", "RUN", "x") {
		t.Error("step keys must tell parts and parents apart and be stable")
	}
}

// FuzzContextResolve: whatever COPY source and .dockerignore a Dockerfile
// gives, what resolve finds is inside the context and not ignored, and an
// error is one line.
func FuzzContextResolve(f *testing.F) {
	for _, s := range [][2]string{{"a.txt", ""}, {"*.txt", "b*"}, {"../x", ""}, {"abs-out/passwd", ""}, {"sub/rel-out/etc", "!x"}, {"sub/*", "sub\n!sub/c.txt"}, {"[", "["}} {
		f.Add(s[0], s[1])
	}
	dir := contextDir(f)
	root, _ := filepath.EvalSymlinks(dir)
	f.Fuzz(func(t *testing.T, p, ignore string) {
		src := &source{root: dir, context: true, label: "ctx"}
		if pm, err := patternmatcher.New(strings.Split(ignore, "\n")); err == nil {
			src.ignore = pm
		}
		ms, err := src.resolve(p)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		for _, m := range ms {
			if m.real != root && !strings.HasPrefix(m.real, root+"/") {
				t.Fatalf("resolve %q found %q outside the context %s", p, m.real, root)
			}
			if src.ignored(m.rel) {
				t.Fatalf("resolve %q found ignored %q", p, m.rel)
			}
		}
	})
}

// FuzzDockerfile: no Dockerfile makes the parser or kago's checks panic,
// and errors are one line.
func FuzzDockerfile(f *testing.F) {
	f.Add([]byte("FROM bb\nRUN echo hi\n"))
	f.Add([]byte("ARG A\nFROM $A AS x\nCOPY --from=x --chown=1:1 a b\nRUN --mount=type=secret true\n"))
	f.Add([]byte("FROM bb\nRUN <<EOF\nhi\nEOF\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := parseDockerfile("Dockerfile", data)
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Fatalf("multi-line error %q", err)
		}
		if errors.Is(err, errUnsupported) && !strings.HasPrefix(err.Error(), "Dockerfile:") {
			t.Fatalf("unsupported error without its line: %q", err)
		}
	})
}

// TestPlatformArgs: BuildKit's automatic platform ARGs expand in FROM, and
// a FROM --platform other than this machine's is refused.
func TestPlatformArgs(t *testing.T) {
	df, err := parseDockerfile("Dockerfile", []byte("FROM --platform=linux/s390x $TARGETOS-base\n"))
	if err != nil {
		t.Fatal(err)
	}
	bd := &build{df: df, results: map[int]*state{}}
	if err := bd.metaArgs(); err != nil {
		t.Fatal(err)
	}
	if base, _ := bd.expand(df.stages[0].BaseName, bd.meta); base != "linux-base" {
		t.Errorf("$TARGETOS-base expanded to %q", base)
	}
	if _, err := bd.from(context.Background(), 0); err == nil || !strings.Contains(err.Error(), "FROM --platform=linux/s390x: kago build builds for this machine's platform") {
		t.Errorf("FROM --platform=linux/s390x: %v", err)
	}
}

// TestRunHeredocArgv: RUN heredocs become the argv BuildKit runs.
func TestRunHeredocArgv(t *testing.T) {
	for _, c := range []struct {
		src, argv, script string
	}{
		{"RUN <<EOF\necho $HOME\nEOF\n", `["/bin/sh","-c","echo $HOME\n"]`, ""},
		{"RUN <<-EOF\n\techo tab\n\tEOF\n", `["/bin/sh","-c","echo tab\n"]`, ""},
		{"RUN <<EOF\n#!/usr/bin/env python3\nprint(1)\nEOF\n", `["/dev/pipes/EOF"]`, "#!/usr/bin/env python3\nprint(1)\n"},
		{"RUN cat <<'A' > /a && cat <<B > /b\n$x\nA\n$y\nB\n", `["/bin/sh","-c","cat \u003c\u003c'A' \u003e /a \u0026\u0026 cat \u003c\u003cB \u003e /b\n$x\nA\n$y\nB"]`, ""},
		{"SHELL [\"/bin/bash\", \"-e\", \"-c\"]\nRUN <<EOF\ntrue\nEOF\n", `["/bin/bash","-e","-c","true\n"]`, ""},
	} {
		df, err := parseDockerfile("Dockerfile", []byte("FROM bb\n"+c.src))
		if err != nil {
			t.Fatalf("%q: %v", c.src, err)
		}
		st := &state{}
		cmds := df.stages[0].Commands
		if sh, ok := cmds[0].(*instructions.ShellCommand); ok {
			st.cfg.Config.Shell = sh.Shell
		}
		run := cmds[len(cmds)-1].(*instructions.RunCommand)
		bd := &build{df: df}
		argv, script, err := bd.runArgv(st, run)
		if err != nil {
			t.Fatalf("%q: %v", c.src, err)
		}
		if got := jsonString(argv); got != c.argv {
			t.Errorf("%q: argv %s, want %s", c.src, got, c.argv)
		}
		if got := ""; script != nil {
			got = script.Data
			if got != c.script {
				t.Errorf("%q: script %q, want %q", c.src, got, c.script)
			}
		} else if c.script != "" {
			t.Errorf("%q: no script file, want %q", c.src, c.script)
		}
	}
}

func TestParseSecret(t *testing.T) {
	for in, want := range map[string]string{
		"id=a,src=/f":              "a {/f }",
		"id=a,source=/f,type=file": "a {/f }",
		"id=a,env=VAR":             "a { VAR}",
		"id=a":                     "a { a}",
		"type=env,id=a,src=VAR":    "a { VAR}",
		`"id=a,b",src=/f`:          "a,b {/f }",
		"id=a,src=/f,env=X":        "",
		"src=/f":                   "",
		"id=../x,src=/f":           "",
		"id=a,kind=x":              "",
		"id=a,type=file":           "",
		"id=a,env=A=B":             "",
	} {
		id, sec, err := ParseSecret(in)
		got := ""
		if err == nil {
			got = fmt.Sprintf("%s %v", id, sec)
		} else if !strings.HasPrefix(err.Error(), "--secret ") || strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseSecret(%q): error %q does not name the flag on one line", in, err)
		}
		if got != want {
			t.Errorf("ParseSecret(%q) = %q (%v), want %q", in, got, err, want)
		}
	}
}

func TestParseGitSource(t *testing.T) {
	for in, want := range map[string]string{
		"https://h/r.git#main:sub/dir":    "https://h/r.git main sub/dir",
		"http://127.0.0.1:1/r.git":        "http://127.0.0.1:1/r.git  ",
		"git@github.com:o/r.git#v1":       "git@github.com:o/r.git v1 ",
		"git://h/r.git?ref=x&subdir=a":    "git://h/r.git x a",
		"https://h/r.git#--upload-pack=x": "error",
		"https://h/r.git#main:../../etc":  "https://h/r.git main etc",
		"https://h/r.git?checksum=zz":     "error",
		"https://h/file.tar":              "not git",
		"./local.git":                     "not git",
		"local/dir":                       "not git",
	} {
		g, isGit, err := parseGitSource(in)
		got := "not git"
		switch {
		case err != nil:
			got = "error"
			if !isGit || strings.Contains(err.Error(), "\n") {
				t.Errorf("%q: error %q", in, err)
			}
		case isGit:
			got = g.remote + " " + g.ref + " " + g.subdir
		}
		if got != want {
			t.Errorf("parseGitSource(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzParseSecret: no --secret value panics; an accepted one names an id
// that is a plain file name, and one source.
func FuzzParseSecret(f *testing.F) {
	for _, s := range []string{"id=a,src=/f", "id=a,env=B", `"id=a"`, "id=a,type=env", "=,=", `"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, sec, err := ParseSecret(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		if id == "" || strings.ContainsAny(id, "/\x00") || (sec.Src == "") == (sec.Env == "") {
			t.Fatalf("ParseSecret(%q) = %q %+v", s, id, sec)
		}
	})
}

// FuzzGitSource: what an ADD git source hands to git is never an option,
// a local path or a subdirectory outside the clone.
func FuzzGitSource(f *testing.F) {
	for _, s := range []string{"https://h/r.git#main:sub", "git@h:r.git#v1", "git://h/r.git?ref=a&subdir=b", "ssh://-oProxyCommand=x/r.git", "https://h/r.git#-x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		g, isGit, err := parseGitSource(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		if !isGit {
			return
		}
		for _, v := range []string{g.remote, g.ref, g.checksum} {
			if strings.HasPrefix(v, "-") || strings.ContainsAny(v, "\x00\n") {
				t.Fatalf("%q gives git %q", s, v)
			}
		}
		if g.subdir == ".." || strings.HasPrefix(g.subdir, "../") || strings.HasPrefix(g.subdir, "/") {
			t.Fatalf("%q: subdir %q", s, g.subdir)
		}
	})
}

// FuzzRunMount: whatever a RUN --mount says, parsing it and planning the
// mounts gives a clean absolute target or a one-line error, never a panic.
func FuzzRunMount(f *testing.F) {
	for _, s := range []string{"type=cache,target=/c,id=x,sharing=locked", "type=bind,source=a.txt,target=rel", "type=secret,id=s,env=S", "type=tmpfs,target=/t,size=1m", "type=ssh", "type=bind,from=x,target=/", "target=/a,mode=0700"} {
		f.Add(s)
	}
	dir := contextDir(f)
	f.Fuzz(func(t *testing.T, opt string) {
		if strings.ContainsAny(opt, "\n\r\\") {
			return
		}
		df, err := parseDockerfile("Dockerfile", []byte("FROM scratch\nRUN --mount="+opt+" true\n"))
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		run, ok := df.stages[0].Commands[0].(*instructions.RunCommand)
		if !ok {
			return
		}
		if err := run.Expand(func(w string) (string, error) { return w, nil }); err != nil {
			return
		}
		src, err := newContextSource(dir)
		if err != nil {
			t.Fatal(err)
		}
		bd := &build{df: df, ctxSrc: src, results: map[int]*state{}, b: &Builder{Resolve: func(context.Context, string, bool) (*image.Image, error) {
			return nil, errors.New("no images here")
		}}}
		rms, _, err := bd.planMounts(context.Background(), &state{}, 0, instructions.GetMounts(run))
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		for _, rm := range rms {
			if rm.target != "" && (!path.IsAbs(rm.target) || path.Clean(rm.target) != rm.target || rm.target == "/") {
				t.Fatalf("--mount=%s: target %q", opt, rm.target)
			}
			if rm.ctx != nil && !strings.HasPrefix(rm.ctx.real+"/", src.root+"/") {
				real, _ := filepath.EvalSymlinks(src.root)
				if !strings.HasPrefix(rm.ctx.real+"/", real+"/") {
					t.Fatalf("--mount=%s binds %q, outside the context", opt, rm.ctx.real)
				}
			}
		}
	})
}

// TestCacheMountSharing: a cache mount's directory persists per id;
// shared users get it at once, a private user finds another instance
// while it is held, a locked user waits for it; Prune removes only the
// instances no build holds.
func TestCacheMountSharing(t *testing.T) {
	b := &Builder{Root: t.TempDir()}
	ctx := context.Background()
	mount := func(id string, sharing instructions.ShareMode) *instructions.Mount {
		return &instructions.Mount{Type: instructions.MountTypeCache, Target: "/c", CacheID: id, CacheSharing: sharing}
	}
	d1, un1, err := b.cacheMount(ctx, mount("a", ""))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(d1, "kept"), []byte("x"), 0o644)
	d2, un2, err := b.cacheMount(ctx, mount("a", instructions.MountSharingShared))
	if err != nil || d2 != d1 {
		t.Fatalf("a shared user got %q (%v), want %q", d2, err, d1)
	}
	if other, un, err := b.cacheMount(ctx, mount("b", "")); err != nil || other == d1 {
		t.Fatalf("another id got %q (%v)", other, err)
	} else {
		un()
	}
	dp, unp, err := b.cacheMount(ctx, mount("a", instructions.MountSharingPrivate))
	if err != nil || dp == d1 {
		t.Fatalf("a private user while the cache is held got %q (%v)", dp, err)
	}
	unp()
	tctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, _, err := b.cacheMount(tctx, mount("a", instructions.MountSharingLocked)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a locked user did not wait while the cache was held: %v", err)
	}
	if n, err := b.Prune(); err != nil || n != 2 {
		t.Fatalf("Prune with one cache held removed %d (%v), want the 2 free ones", n, err)
	}
	un1()
	un2()
	dl, unl, err := b.cacheMount(ctx, mount("a", instructions.MountSharingLocked))
	if err != nil || dl != d1 {
		t.Fatalf("locked after release: %q %v", dl, err)
	}
	if _, err := os.Stat(filepath.Join(dl, "kept")); err != nil {
		t.Errorf("the cache lost its file: %v", err)
	}
	unl()
	if n, err := b.Prune(); err != nil || n != 1 {
		t.Fatalf("Prune removed %d (%v), want 1", n, err)
	}
	if ents, _ := os.ReadDir(b.mountsDir()); len(ents) != 0 {
		t.Errorf("after Prune %d cache mounts remain", len(ents))
	}
}

func TestNumericOwner(t *testing.T) {
	for s, want := range map[string]bool{"0": true, "1000:1000": true, "1:": true, "app": false, "1:grp": false, ":1": false, "": false} {
		if got := numericOwner(s); got != want {
			t.Errorf("numericOwner(%q) = %v", s, got)
		}
	}
}
