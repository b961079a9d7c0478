package e2e

import (
	"archive/tar"
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kago-run/kago/archive/tartest"
)

// runIn runs kago with stdin and returns stdout, stderr and the exit code.
func (e *env) runIn(stdin []byte, args ...string) (string, string, int) {
	e.t.Helper()
	return e.runCmd(func(c *exec.Cmd) { c.Stdin = bytes.NewReader(stdin) }, args...)
}

// tarEntry is one entry of an archive kago wrote.
type tarEntry struct {
	hdr  *tar.Header
	body string
}

// untar reads an archive into its entries in order, failing on a bad one.
func untar(t *testing.T, data string) ([]string, map[string]tarEntry) {
	t.Helper()
	var names []string
	ents := map[string]tarEntry{}
	tr := tar.NewReader(strings.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names, ents
		}
		if err != nil {
			t.Fatalf("kago wrote a bad tar after %v: %v", names, err)
		}
		b, _ := io.ReadAll(tr)
		names = append(names, h.Name)
		ents[h.Name] = tarEntry{h, string(b)}
	}
}

// TestCpTarOut: `cp CONTAINER:SRC -` writes a tar of SRC named by its base
// name, from a running and from a stopped container, and the archive goes
// back in with `cp - CONTAINER:DIR`.
func TestCpTarOut(t *testing.T) {
	e := newEnv(t)
	e.ok("run", "-d", "--name", "c", "bb", "sleep", "300")
	e.ok("exec", "c", "sh", "-c", "mkdir -p /data/sub && echo hi > /data/sub/f && ln /data/sub/f /data/hard && ln -s /etc/passwd /data/link")
	passwd := e.ok("exec", "c", "cat", "/etc/passwd")

	out, errs, code := e.run("cp", "c:/etc", "-")
	if code != 0 {
		t.Fatalf("cp c:/etc -: exit %d: %s", code, errs)
	}
	names, ents := untar(t, out)
	if names[0] != "etc/" || strings.TrimSpace(ents["etc/passwd"].body) != passwd {
		t.Fatalf("archive of /etc: first entry %q, etc/passwd %q, want the container's %q", names[0], ents["etc/passwd"].body, passwd)
	}

	out, _, _ = e.run("cp", "c:/data", "-")
	_, ents = untar(t, out)
	if l := ents["data/link"].hdr; l == nil || l.Typeflag != tar.TypeSymlink || l.Linkname != "/etc/passwd" {
		t.Fatalf("data/link is not the symlink itself: %+v", l)
	}
	// The two names of one inode: the first is the file, the second a link
	// to it under the same top directory.
	h := ents["data/sub/f"].hdr
	if h == nil || h.Typeflag != tar.TypeLink || h.Linkname != "data/hard" || ents["data/hard"].body != "hi\n" {
		t.Fatalf("hard link data/sub/f: %+v, data/hard %q", h, ents["data/hard"].body)
	}
	// Round trip into another directory of the container.
	e.ok("exec", "c", "mkdir", "/copy")
	if _, errs, code := e.runIn([]byte(out), "cp", "-", "c:/copy"); code != 0 {
		t.Fatalf("cp - c:/copy: %s", errs)
	}
	if got := e.ok("exec", "c", "sh", "-c", "cat /copy/data/sub/f; readlink /copy/data/link"); got != "hi\n/etc/passwd" {
		t.Fatalf("round trip: %q", got)
	}

	out, errs, code = e.run("cp", "c:/nope", "-")
	if code == 0 || out != "" || !strings.Contains(errs, "/nope") {
		t.Fatalf("cp of a missing path: exit %d, %d bytes out, stderr %q", code, len(out), errs)
	}

	e.ok("stop", "-t", "0", "c")
	out, errs, code = e.run("cp", "c:/data/sub/f", "-")
	if code != 0 {
		t.Fatalf("cp out of a stopped container: %s", errs)
	}
	if names, ents := untar(t, out); len(names) != 1 || ents["f"].body != "hi\n" {
		t.Fatalf("archive of one file: %v", names)
	}
	e.assertRootfsUnmounted()
}

// TestCpTarIn: `cp - CONTAINER:DIR` extracts a tar from stdin into a
// running container, a volume and a stopped container; DIR must be an
// existing directory.
func TestCpTarIn(t *testing.T) {
	e := newEnv(t)
	vol := t.TempDir()
	e.ok("run", "-d", "--name", "c", "-v", vol+":/vol", "bb", "sleep", "300")
	archive := tartest.Tar(
		tartest.Entry{Name: "hello.txt", Body: "hello\n"},
		tartest.Entry{Name: "dir/", Type: tar.TypeDir},
		tartest.Entry{Name: "dir/x", Body: "x", Mode: 0o600, UID: 1234},
	)
	if _, errs, code := e.runIn(archive, "cp", "-", "c:/tmp"); code != 0 {
		t.Fatalf("cp - c:/tmp: %s", errs)
	}
	// Files belong to root, as with docker cp without --archive.
	if got := e.ok("exec", "c", "sh", "-c", "cat /tmp/hello.txt /tmp/dir/x; stat -c ' %u %a' /tmp/dir/x"); got != "hello\nx 0 600" {
		t.Fatalf("extracted files in the container: %q", got)
	}
	if _, errs, code := e.runIn(archive, "cp", "-", "c:/vol"); code != 0 {
		t.Fatalf("cp - c:/vol: %s", errs)
	}
	if b, err := os.ReadFile(filepath.Join(vol, "dir", "x")); err != nil || string(b) != "x" {
		t.Fatalf("cp - into a volume: %q %v", b, err)
	}
	if errs := e.fails("cp", "-", "c:/etc/passwd"); !strings.Contains(errs, "/etc/passwd is not a directory") {
		t.Fatalf("cp - onto a file: %q", errs)
	}
	if errs := e.fails("cp", "-", "c:/nope"); !strings.Contains(errs, "/nope does not exist") {
		t.Fatalf("cp - into a missing directory: %q", errs)
	}
	if _, errs, code := e.runIn([]byte("not a tar archive, just some text that is long enough to fill more than one tar block ..."+strings.Repeat(".", 600)), "cp", "-", "c:/tmp"); code == 0 || !strings.Contains(errs, "tar") {
		t.Fatalf("cp - of garbage: exit %d, %q", code, errs)
	}
	e.ok("stop", "-t", "0", "c")
	if _, errs, code := e.runIn(tartest.Tar(tartest.Entry{Name: "late", Body: "stopped"}), "cp", "-", "c:/tmp"); code != 0 {
		t.Fatalf("cp - into a stopped container: %s", errs)
	}
	out, _, _ := e.run("cp", "c:/tmp/late", "-")
	if _, ents := untar(t, out); ents["late"].body != "stopped" {
		t.Fatalf("file copied into a stopped container: %q", ents["late"].body)
	}
	// As docker, a stopped container's root is mounted for the copy only.
	e.assertRootfsUnmounted()
	e.ok("start", "c")
	if got := e.ok("exec", "c", "cat", "/tmp/late"); got != "stopped" {
		t.Fatalf("file copied into a stopped container, after start: %q", got)
	}
}

// assertRootfsUnmounted checks that no container rootfs of the engine is
// mounted (the state of stopped containers).
func (e *env) assertRootfsUnmounted() {
	e.t.Helper()
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mi), "\n") {
		if strings.Contains(line, e.root) && strings.Contains(line, "/merged ") {
			e.t.Errorf("rootfs of a stopped container left mounted: %s", line)
		}
	}
}

// TestCpTarInHostile: an archive from stdin that climbs with "..", writes
// through a symlink to / or to a host path, hard-links a host file or makes
// a device stays inside the container or is refused with a clear error;
// the host is never touched.
func TestCpTarInHostile(t *testing.T) {
	e := newEnv(t)
	e.ok("run", "-d", "--name", "c", "bb", "sleep", "300")
	host := t.TempDir()
	secret := filepath.Join(host, "secret")
	os.WriteFile(secret, []byte("host"), 0o644)
	climb := strings.Repeat("../", 20) + strings.TrimPrefix(host, "/")
	type E = tartest.Entry
	for _, tc := range []struct {
		name    string
		entries []E
		wantErr string
	}{
		{"dotdot", []E{{Name: climb + "/escape", Body: "x"}}, "climbs out of the destination"},
		{"symlink to / then a file", []E{{Name: "evil", Type: tar.TypeSymlink, Link: "/"}, {Name: "evil" + host + "/escape", Body: "x"}}, ""},
		{"symlink to a host path then a file", []E{{Name: "up", Type: tar.TypeSymlink, Link: host}, {Name: "up/escape2", Body: "x"}}, ""},
		{"hard link to a host file", []E{{Name: "hl", Type: tar.TypeLink, Link: climb + "/secret"}}, "hard link"},
		{"device", []E{{Name: "disk", Type: tar.TypeBlock, Major: 8, Minor: 0}}, "device node"},
	} {
		_, errs, code := e.runIn(tartest.Tar(tc.entries...), "cp", "-", "c:/tmp")
		switch {
		case tc.wantErr == "" && code != 0:
			t.Errorf("%s: exit %d: %s", tc.name, code, errs)
		case tc.wantErr != "" && (code == 0 || !strings.Contains(errs, tc.wantErr) || strings.Count(strings.TrimSpace(errs), "\n") > 0):
			t.Errorf("%s: exit %d, stderr %q, want one line with %q", tc.name, code, errs, tc.wantErr)
		}
	}
	ents, _ := os.ReadDir(host)
	var st syscall.Stat_t
	if err := syscall.Stat(secret, &st); len(ents) != 1 || err != nil || st.Nlink != 1 {
		t.Fatalf("the host directory was touched: %d entries, %d links to the secret", len(ents), st.Nlink)
	}
	// What went through the symlinks landed in the container's own tree.
	if got := e.ok("exec", "c", "cat", host+"/escape", host+"/escape2"); got != "xx" {
		t.Fatalf("files written through symlinks, seen in the container: %q", got)
	}
	if _, _, code := e.run("exec", "c", "test", "-e", "/tmp/disk"); code == 0 {
		t.Fatalf("a device node was created")
	}
}

// statsStream runs `kago stats ARGS...` in the background and collects its
// tables, each a list of lines after the header.
type statsStream struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	tables [][]string
	raw    strings.Builder
	done   chan error
}

func (e *env) startStats(args ...string) *statsStream {
	e.t.Helper()
	s := &statsStream{cmd: exec.Command(kagoBin, append([]string{"--root", e.root, "stats"}, args...)...), done: make(chan error, 1)}
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { s.cmd.Process.Kill(); <-s.done })
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.raw.WriteString(line + "\n")
			if strings.HasPrefix(line, "NAME") {
				s.tables = append(s.tables, []string{})
			} else if n := len(s.tables); n > 0 {
				s.tables[n-1] = append(s.tables[n-1], line)
			}
			s.mu.Unlock()
		}
		s.done <- s.cmd.Wait()
	}()
	return s
}

// complete counts the tables that are followed by another, so whole, and
// reports whether the last complete one satisfies ok.
func (s *statsStream) complete(ok func(rows []string) bool) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.tables) - 1
	return n, n > 0 && ok(s.tables[n-1])
}

// interrupt sends Ctrl-C and returns the exit error.
func (s *statsStream) interrupt(t *testing.T) error {
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-s.done:
		s.done <- err // for the cleanup
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("stats did not end on Ctrl-C")
		return nil
	}
}

func hasRow(rows []string, name string) bool {
	for _, r := range rows {
		if f := strings.Fields(r); len(f) > 0 && f[0] == name {
			return true
		}
	}
	return false
}

// TestStatsStream: without --no-stream, stats prints a table every second
// with every running container, drops one that stops, and ends with exit 0
// on Ctrl-C; stdout is not a terminal, so the screen is not cleared.
func TestStatsStream(t *testing.T) {
	e := newEnv(t)
	e.ok("run", "-d", "--name", "one", "bb", "sleep", "300")
	e.ok("run", "-d", "--name", "two", "bb", "sleep", "300")
	s := e.startStats()
	e.eventually("two tables with both containers", 15*time.Second, func() bool {
		n, ok := s.complete(func(rows []string) bool { return hasRow(rows, "one") && hasRow(rows, "two") })
		return n >= 2 && ok
	})
	e.ok("stop", "-t", "0", "two")
	e.eventually("a table without the stopped container", 15*time.Second, func() bool {
		_, ok := s.complete(func(rows []string) bool { return hasRow(rows, "one") && !hasRow(rows, "two") })
		return ok
	})
	if err := s.interrupt(t); err != nil {
		t.Fatalf("stats after Ctrl-C: %v, want exit 0", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if strings.Contains(s.raw.String(), "\033[") {
		t.Fatalf("stats cleared the screen of a pipe")
	}
}

// TestStatsFormatJSON: --format json prints one object per container, and
// an unknown format is refused.
func TestStatsFormatJSON(t *testing.T) {
	e := newEnv(t)
	e.ok("run", "-d", "--name", "j", "--memory", "64m", "bb", "sleep", "300")
	id := e.inspect("j")["Id"].(string)
	out := e.ok("stats", "--no-stream", "--format", "json", "j")
	var got struct {
		ID       string   `json:"id"`
		Name     string   `json:"name"`
		CPU      *float64 `json:"cpu_percent"`
		MemUsage uint64   `json:"memory_usage_bytes"`
		MemLimit uint64   `json:"memory_limit_bytes"`
		Pids     uint64   `json:"pids"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("stats --format json: %v: %q", err, out)
	}
	if got.ID != id || got.Name != "j" || got.CPU == nil || got.MemUsage == 0 || got.MemLimit != 64<<20 || got.Pids != 1 {
		t.Fatalf("stats --format json: %+v", got)
	}
	if errs := e.fails("stats", "--no-stream", "--format", "yaml", "j"); !strings.Contains(errs, `unknown --format "yaml"`) {
		t.Fatalf("stats --format yaml: %q", errs)
	}
}

// TestCpDirContents: docker cp's "SRC/." copies what is in the directory,
// not the directory, both ways; "/." on a file is an error.
func TestCpDirContents(t *testing.T) {
	e := newEnv(t)
	e.ok("run", "-d", "--name", "box", "bb", "sleep", "300")
	host := t.TempDir()
	os.MkdirAll(filepath.Join(host, "src", "sub"), 0o755)
	os.WriteFile(filepath.Join(host, "src", "a"), []byte("A"), 0o644)
	os.WriteFile(filepath.Join(host, "src", "sub", "b"), []byte("B"), 0o644)
	e.ok("exec", "box", "mkdir", "/dst")
	e.ok("cp", filepath.Join(host, "src")+"/.", "box:/dst")
	if got := e.ok("exec", "box", "sh", "-c", "cat /dst/a /dst/sub/b; echo; ls /dst"); got != "AB\na\nsub" {
		t.Fatalf("cp SRC/. into the container: %q", got)
	}
	out := filepath.Join(host, "out")
	os.Mkdir(out, 0o755)
	e.ok("cp", "box:/dst/.", out)
	if b, err := os.ReadFile(filepath.Join(out, "sub", "b")); err != nil || string(b) != "B" {
		t.Fatalf("cp CONTAINER:SRC/. out: %q %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(out, "dst")); !os.IsNotExist(err) {
		t.Fatalf("cp SRC/. made the directory itself: %v", err)
	}
	listing, err := exec.Command("sh", "-c", kagoBin+" --root "+e.root+" cp box:/dst/. - | tar -t").CombinedOutput()
	if err != nil || !strings.Contains(string(listing), "./sub/b") || strings.Contains(string(listing), "dst") {
		t.Fatalf("cp CONTAINER:SRC/. - lists %q (%v), want entries under ./", listing, err)
	}
	if errs := e.fails("cp", "box:/dst/a/.", out); !strings.Contains(errs, "must be a directory") {
		t.Fatalf("cp FILE/.: %q", errs)
	}
}
