package e2e

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExportDiffCommit: diff lists what a running container added,
// changed and deleted; export is its whole filesystem with those changes;
// commit makes an image of them and of the container's config that runs
// at once, with -c changes, and leaves the container running.
func TestExportDiffCommit(t *testing.T) {
	e := newEnv(t)
	e.ok("run", "-d", "--name", "fs", "-e", "FROM_RUN=yes", "-l", "s3rf.run=1", "bb")
	e.ok("exec", "fs", "sh", "-c", "echo new > /added && mkdir /newdir && echo f > /newdir/f && rm /www/index.html && echo n > /www/new.html && echo 's3rf:x:1234:1234::/:/bin/sh' >> /etc/passwd")
	diff := e.ok("diff", "fs")
	for _, want := range []string{"A /added", "A /newdir", "A /newdir/f", "C /www", "D /www/index.html", "A /www/new.html", "C /etc", "C /etc/passwd"} {
		if !strings.Contains("\n"+diff+"\n", "\n"+want+"\n") {
			t.Errorf("diff lacks %q:\n%s", want, diff)
		}
	}
	if strings.Contains(diff, "/bin") || strings.Contains(diff, "/etc/hosts") {
		t.Errorf("diff lists unchanged paths:\n%s", diff)
	}

	out := filepath.Join(t.TempDir(), "fs.tar")
	e.ok("export", "-o", out, "fs")
	files := tarFiles(t, out)
	for _, want := range []string{"added", "newdir/f", "www/new.html", "bin/busybox"} {
		if _, ok := files[want]; !ok {
			t.Errorf("export lacks %s", want)
		}
	}
	if _, ok := files["www/index.html"]; ok {
		t.Error("export has the deleted www/index.html")
	}
	if !strings.Contains(files["etc/passwd"], "s3rf:x:1234") {
		t.Errorf("export's etc/passwd lacks the container's change:\n%s", files["etc/passwd"])
	}

	id := e.ok("commit", "-m", "s3rf commit", "-a", "S3 RF", "-c", "ENV S3RF=1", "-c", "LABEL s3rf.change=yes", "fs", "s3rf/committed:v1")
	if !strings.HasPrefix(id, "sha256:") {
		t.Errorf("commit printed %q, want the image ID", id)
	}
	if st := state(e.inspect("fs")); st["Status"] != "running" {
		t.Errorf("container after commit: %v", st["Status"])
	}
	if got := e.ok("run", "--rm", "s3rf/committed:v1", "sh", "-c", "cat /added /www/new.html; ls /www; echo $FROM_RUN $S3RF; id -u s3rf"); got != "new\nn\nnew.html\nyes 1\n1234" {
		t.Errorf("a container of the committed image sees %q", got)
	}
	e.ok("create", "--name", "c2", "s3rf/committed:v1")
	c2 := e.inspect("c2")
	labels, _ := c2["Config"].(map[string]any)["Labels"].(map[string]any)
	if c2["Path"] != "httpd" || labels["s3rf.run"] != "1" || labels["s3rf.change"] != "yes" {
		t.Errorf("container of the committed image: Path %v labels %v", c2["Path"], labels)
	}
	// A commit of nothing new is an image too; bad input is refused.
	e.ok("run", "--name", "same", "bb", "true")
	e.ok("commit", "same", "s3rf/same")
	if errs := e.fails("commit", "fs", "s3rf/Bad:Name"); !strings.Contains(errs, "invalid reference") {
		t.Errorf("commit to a bad name: %q", errs)
	}
	if errs := e.fails("commit", "-c", "RUN true", "fs"); !strings.Contains(errs, "unsupported instruction") {
		t.Errorf("commit -c RUN: %q", errs)
	}
	if errs := e.fails("diff", "s3rf-nosuch"); !strings.Contains(errs, "no such container") {
		t.Errorf("diff of nothing: %q", errs)
	}
	e.ok("rm", "-f", "fs", "c2", "same")
	e.ok("rmi", "s3rf/committed:v1", "s3rf/same")
}

// tarFiles reads a tar into name -> content (of regular files; "" else).
func tarFiles(t *testing.T, p string) map[string]string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out[strings.TrimPrefix(strings.TrimSuffix(hdr.Name, "/"), "./")] = string(b)
	}
}
