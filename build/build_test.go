package build

import (
	"archive/tar"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/patternmatcher"
)

func TestParseDockerfileErrorsNameTheLine(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"FROM bb\nRUN true \\\n  && true\nFROMM x\n", "Dockerfile:4: unknown instruction: FROMM"},
		{"ARG A=1\n", "has no FROM instruction"},
		{"FROM bb\nRUN --mount=type=cache,target=/c true\n", "Dockerfile:2: RUN --mount=type=cache,target=/c true: RUN --mount is not supported"},
		{"FROM bb\nRUN --network=host true\n", "Dockerfile:2: RUN --network=host true: RUN --network is not supported"},
		{"FROM bb\nRUN <<EOF\necho hi\nEOF\n", "Dockerfile:2: RUN <<EOF: RUN with a heredoc is not supported"},
		{"FROM bb\nCOPY --parents a /b/\n", "COPY --parents is not supported"},
		{"FROM bb\nADD --checksum=sha256:00 a /b\n", "ADD --checksum is not supported"},
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
