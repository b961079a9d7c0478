package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// volumeOf is the volume mounted at dst in a container's inspect.
func volumeOf(t *testing.T, c map[string]any, dst string) map[string]any {
	t.Helper()
	for _, m := range c["Mounts"].([]any) {
		if mm := m.(map[string]any); mm["Destination"] == dst {
			return mm
		}
	}
	t.Fatalf("no mount at %s in %v", dst, c["Mounts"])
	return nil
}

// TestVolumes: a named volume outlives its containers, is initialised
// from the image's content on first use, is refused by rm while in use,
// and is listed, filtered and pruned as docker does; an image's VOLUME
// gets an anonymous volume that rm -v removes.
func TestVolumes(t *testing.T) {
	e := newEnv(t)
	e.ok("volume", "create", "--label", "app=kd9", "kd9data")
	var vs []map[string]any
	if err := json.Unmarshal([]byte(e.ok("volume", "inspect", "kd9data")), &vs); err != nil || len(vs) != 1 ||
		vs[0]["Driver"] != "local" || vs[0]["Mountpoint"] != filepath.Join(e.root, "volumes", "kd9data", "_data") ||
		vs[0]["Labels"].(map[string]any)["app"] != "kd9" {
		t.Fatalf("volume inspect: %v %v", vs, err)
	}
	// Data outlives the container; --mount readonly is read-only.
	e.ok("run", "--rm", "-v", "kd9data:/data", "bb", "sh", "-c", "echo kept > /data/f")
	if out := e.ok("run", "--rm", "--mount", "type=volume,src=kd9data,dst=/data,readonly", "bb", "cat", "/data/f"); out != "kept" {
		t.Fatalf("volume content in a new container: %q", out)
	}
	if _, _, code := e.run("run", "--rm", "--mount", "type=volume,source=kd9data,target=/data,readonly", "bb", "touch", "/data/g"); code == 0 {
		t.Fatal("a readonly volume mount was writable")
	}

	// First use of a new volume copies the image's /www into it; a volume
	// with content is not overwritten.
	e.ok("run", "--rm", "-v", "kd9www:/www", "bb", "true")
	if data, err := os.ReadFile(filepath.Join(e.root, "volumes", "kd9www", "_data", "index.html")); err != nil || string(data) != "hello from kago\n" {
		t.Fatalf("volume kd9www not initialised from the image: %q %v", data, err)
	}
	e.ok("run", "--rm", "-v", "kd9data:/www", "bb", "true")
	if _, err := os.Stat(filepath.Join(e.root, "volumes", "kd9data", "_data", "index.html")); err == nil {
		t.Fatal("a volume with content was filled from the image")
	}

	// In use: refused with docker's message.
	id := e.ok("run", "-d", "--name", "user", "-v", "kd9data:/data", "bb", "sleep", "300")
	if errs := e.fails("volume", "rm", "kd9data"); !strings.Contains(errs, "remove kd9data: volume is in use - ["+id+"]") {
		t.Fatalf("volume rm of a volume in use: %q", errs)
	}
	if out := e.ok("volume", "ls", "-q", "-f", "dangling=false"); out != "kd9data" {
		t.Fatalf("ls dangling=false: %q", out)
	}
	if out := e.ok("volume", "ls", "-q", "--filter", "label=app=kd9"); out != "kd9data" {
		t.Fatalf("ls label=app=kd9: %q", out)
	}
	e.ok("rm", "-f", "user")

	// An image's VOLUME: anonymous; plain rm leaves it for prune, rm -v
	// removes it.
	e.ok("import", "-c", "VOLUME /cache", imageTar, "bbvol:latest")
	anon1 := volumeOf(t, e.inspect(e.ok("create", "--name", "a1", "bbvol", "true")), "/cache")["Name"].(string)
	anon2 := volumeOf(t, e.inspect(e.ok("create", "--name", "a2", "bbvol", "true")), "/cache")["Name"].(string)
	e.ok("rm", "-v", "a1")
	if _, err := os.Stat(filepath.Join(e.root, "volumes", anon1)); err == nil {
		t.Fatalf("rm -v left anonymous volume %s", anon1)
	}
	e.ok("rm", "a2")
	out := e.ok("volume", "prune", "-f")
	if !strings.Contains(out, anon2) || strings.Contains(out, "kd9data") {
		t.Fatalf("volume prune: want only %s removed:\n%s", anon2, out)
	}
	if out := e.ok("volume", "ls", "-q"); out != "kd9data\nkd9www" {
		t.Fatalf("after prune: %q", out)
	}
	e.ok("volume", "prune", "-a", "-f", "--filter", "label=app=kd9")
	if out := e.ok("volume", "ls", "-q"); out != "kd9www" {
		t.Fatalf("after prune -a label=app=kd9: %q", out)
	}
	e.ok("volume", "rm", "kd9www")
	if errs := e.fails("volume", "rm", "kd9www"); !strings.Contains(errs, "no such volume") {
		t.Fatalf("rm of a missing volume: %q", errs)
	}
}

// TestMountFlag: --mount type=bind and type=tmpfs.
func TestMountFlag(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), []byte("bound"), 0o644)
	if out := e.ok("run", "--rm", "--mount", "type=bind,src="+dir+",dst=/b", "bb", "cat", "/b/f"); out != "bound" {
		t.Fatalf("bind: %q", out)
	}
	if out := e.ok("run", "--rm", "--mount", "type=tmpfs,dst=/t,tmpfs-size=1m", "bb", "sh", "-c", "grep ' /t ' /proc/mounts"); !strings.Contains(out, "tmpfs") || !strings.Contains(out, "size=1024k") {
		t.Fatalf("tmpfs: %q", out)
	}
	if errs := e.fails("run", "--rm", "--mount", "type=bind,dst=/b", "bb", "true"); !strings.Contains(errs, "needs a source") {
		t.Fatalf("bind without source: %q", errs)
	}
}
