package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/kago-run/kago/archive"
	"github.com/kago-run/kago/internal/testbundle"
)

// kago runs the CLI in-process against root and returns its output.
func kago(t *testing.T, root, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(append([]string{"--root", root}, args...))
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func mustKago(t *testing.T, root string, args ...string) string {
	t.Helper()
	return mustKagoIn(t, root, "", args...)
}

// The image verbs work together through one root: import, tag, images,
// inspect, save, rmi, load, prune.
func TestImageVerbs(t *testing.T) {
	testbundle.RequireRoot(t)
	root := t.TempDir()
	rootfs := t.TempDir()
	if err := testbundle.Rootfs(rootfs); err != nil {
		t.Fatal(err)
	}
	tarPath := filepath.Join(t.TempDir(), "rootfs.tar")
	f, err := os.Create(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := archive.WriteTar(context.Background(), f, rootfs); err != nil {
		t.Fatal(err)
	}
	f.Close()

	id := strings.TrimSpace(mustKago(t, root, "import", "--change", "CMD /bin/sh", "--change", "EXPOSE 8080", tarPath, "box:1"))
	if !strings.HasPrefix(id, "sha256:") {
		t.Fatalf("import printed %q, want an image ID", id)
	}
	mustKago(t, root, "tag", "box:1", "example.com/team/box:stable")
	out := mustKago(t, root, "images")
	for _, want := range []string{"REPOSITORY", "box ", "example.com/team/box", "stable", id[7:19]} {
		if !strings.Contains(out, want) {
			t.Errorf("images output lacks %q:\n%s", want, out)
		}
	}
	if out := mustKago(t, root, "images", "-q"); strings.TrimSpace(out) != id[7:19] {
		t.Errorf("images -q = %q", out)
	}
	var row map[string]any
	line, _, _ := strings.Cut(mustKago(t, root, "image", "ls", "--format", "json"), "\n")
	if err := json.Unmarshal([]byte(line), &row); err != nil || row["ID"] != id[7:19] {
		t.Errorf("images --format json line %q: %v", line, err)
	}
	// Templates, with docker's field names, headers and functions.
	if out := mustKago(t, root, "images", "--format", "{{.Repository}}:{{.Tag}} {{.Digest}} {{upper .Tag}}", "box"); out != "box:1 <none> 1\n" {
		t.Errorf("images --format template = %q", out)
	}
	if out := mustKago(t, root, "images", "--format", `table {{.ID}}\t{{.Tag}}`, "box"); !regexp.MustCompile(`^IMAGE ID +TAG\n[0-9a-f]{12} +1\n$`).MatchString(out) {
		t.Errorf("images --format table = %q", out)
	}
	if out, err := kago(t, root, "", "images", "--format", "{{.Tag"); err == nil || !strings.Contains(err.Error(), `"{{.Tag"`) || strings.Count(err.Error(), "\n") > 0 {
		t.Errorf("images with a bad template: %v %q", err, out)
	}
	if out := mustKago(t, root, "image", "inspect", "-f", "{{.ID}} {{json .RepoTags}}", "box:1"); out != id+` ["docker.io/library/box:1","example.com/team/box:stable"]`+"\n" {
		t.Errorf("image inspect -f = %q", out)
	}
	// docker's shape first ({{.Config.Cmd}}, {{.Id}}, short RepoTags), then kago's record.
	if out := mustKago(t, root, "inspect", "--format", "{{.Config.Cmd}} {{.Os}} {{.RootFS.Type}} {{index .RepoTags 0}}", "box:1"); out != "[/bin/sh -c /bin/sh] linux layers box:1\n" {
		t.Errorf("inspect -f of an image = %q", out)
	}
	if out := mustKago(t, root, "inspect", "--format", "{{.Config.Config.Cmd}}", "box:1"); out != "[/bin/sh -c /bin/sh]\n" {
		t.Errorf("inspect -f of an image = %q", out)
	}
	if out := mustKago(t, root, "image", "inspect", "-f", "{{.Id}}", "box:1"); out != id+"\n" {
		t.Errorf("image inspect -f {{.Id}} = %q", out)
	}
	if out := mustKago(t, root, "image", "inspect", "-f", "{{.manifestMediaType}}", "box:1"); out != "application/vnd.oci.image.manifest.v1+json\n" {
		t.Errorf("image inspect -f with a JSON key of kago's record = %q", out)
	}
	if out, err := kago(t, root, "", "inspect", "-f", "{{.ID}}", "box:1", "nosuchthing"); err == nil || !strings.Contains(err.Error(), "no such container, image, network or volume: nosuchthing") || out != id+"\n" {
		t.Errorf("inspect of an image and an unknown name: %v %q", err, out)
	}
	var insp []map[string]any
	if err := json.Unmarshal([]byte(mustKago(t, root, "image", "inspect", "box:1")), &insp); err != nil || len(insp) != 1 || insp[0]["id"] != id {
		t.Fatalf("inspect: %v %v", insp, err)
	}
	archive := filepath.Join(t.TempDir(), "box.tar")
	mustKago(t, root, "save", "-o", archive, "box:1")
	if out, err := kago(t, root, "", "rmi", id); err == nil || !strings.Contains(out+err.Error(), "-f") {
		t.Errorf("rmi by ID of a twice tagged image: %v %s", err, out)
	}
	mustKago(t, root, "rmi", "-f", id)
	if out := mustKago(t, root, "images", "-q"); out != "" {
		t.Errorf("images after rmi: %q", out)
	}
	if out := mustKago(t, root, "load", "-i", archive); !strings.Contains(out, "Loaded image: box:1") {
		t.Errorf("load output %q", out)
	}
	if _, err := kago(t, root, "", "image", "inspect", "nosuch:tag"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("inspect of unknown image: %v", err)
	}
	mustKago(t, root, "tag", "box:1", "box:2")
	mustKago(t, root, "rmi", "box:1", "box:2")
	if out := mustKago(t, root, "image", "prune", "-a"); !strings.Contains(out, "Total reclaimed space: 0B") {
		t.Errorf("prune after rmi had something to free: %q", out)
	}
	mustKago(t, root, "load", "-q", "-i", archive)
	if out := mustKago(t, root, "image", "prune", "-a"); !strings.Contains(out, "Deleted Images:\ndeleted: "+id) || strings.Contains(out, "space: 0B") {
		t.Errorf("prune -a of a loaded image: %q", out)
	}
	blobs, _ := os.ReadDir(filepath.Join(root, "content", "blobs", "sha256"))
	if len(blobs) != 0 {
		t.Errorf("%d blobs left after rmi and prune", len(blobs))
	}
}

// A registry on loopback behind basic auth (user kago, password s3cret).
func startAuthRegistry(t *testing.T) string {
	t.Helper()
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "kago" || p != "s3cret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"login"}]}`, http.StatusUnauthorized)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	for port := 15500; port < 15600; port++ {
		if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			srv.Listener.Close()
			srv.Listener = ln
			break
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// login, push, pull and logout through the CLI, with credentials in
// $DOCKER_CONFIG/config.json as docker keeps them.
func TestLoginPushPullVerbs(t *testing.T) {
	testbundle.RequireRoot(t)
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	host := startAuthRegistry(t)
	root := t.TempDir()
	layer := filepath.Join(t.TempDir(), "layer.tar")
	f, _ := os.Create(layer)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "hello"), []byte("hi\n"), 0o644)
	archive.WriteTar(context.Background(), f, dir)
	f.Close()
	ref := host + "/team/app:1"
	mustKago(t, root, "import", layer, ref)
	if _, err := kago(t, root, "", "push", ref); err == nil || !strings.Contains(err.Error(), "login") {
		t.Errorf("push without login: %v, want a login hint", err)
	}
	if _, err := kago(t, root, "wrong\n", "login", "-u", "kago", "--password-stdin", host); err == nil {
		t.Error("login with a wrong password succeeded")
	}
	if out := mustKagoIn(t, root, "s3cret\n", "login", "-u", "kago", "--password-stdin", host); !strings.Contains(out, "Login Succeeded") {
		t.Errorf("login output %q", out)
	}
	if out := mustKago(t, root, "push", ref); !strings.Contains(out, "digest: sha256:") {
		t.Errorf("push output %q", out)
	}
	mustKago(t, root, "rmi", ref)
	if out := mustKago(t, root, "pull", ref); !strings.Contains(out, "Downloaded image") {
		t.Errorf("pull output %q", out)
	}
	if out := mustKago(t, root, "pull", ref); !strings.Contains(out, "up to date") {
		t.Errorf("second pull output %q", out)
	}
	if out := mustKago(t, root, "images", "--format", "{{.Digest}}"); !regexp.MustCompile(`^sha256:[0-9a-f]{64}\n$`).MatchString(out) {
		t.Errorf("images --format {{.Digest}} of a pulled image = %q", out)
	}
	mustKago(t, root, "logout", host)
	data, _ := os.ReadFile(filepath.Join(os.Getenv("DOCKER_CONFIG"), "config.json"))
	if strings.Contains(string(data), host) {
		t.Errorf("credentials left after logout: %s", data)
	}
	mustKago(t, root, "rmi", ref)
}

func mustKagoIn(t *testing.T, root, stdin string, args ...string) string {
	t.Helper()
	out, err := kago(t, root, stdin, args...)
	if err != nil {
		t.Fatalf("kago %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}
