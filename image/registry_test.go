package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

const dockerRegistryBin = "/usr/bin/docker-registry"

// startDockerRegistry runs Debian's docker-registry (the CNCF distribution
// registry) on a free loopback port with storage in a temp dir, optionally
// behind htpasswd basic auth with user "kago", password "s3cret".
func startDockerRegistry(t testing.TB, withAuth bool) string {
	t.Helper()
	if _, err := os.Stat(dockerRegistryBin); err != nil {
		t.Skipf("needs %s (apt-get install docker-registry)", dockerRegistryBin)
	}
	dir := t.TempDir()
	ln := freeListener(t)
	addr := ln.Addr().String()
	ln.Close()
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n", filepath.Join(dir, "data"), addr)
	if withAuth {
		htpasswd, err := exec.LookPath("htpasswd")
		if err != nil {
			t.Skip("needs htpasswd (apt-get install apache2-utils)")
		}
		pw := filepath.Join(dir, "htpasswd")
		if out, err := exec.Command(htpasswd, "-Bbc", pw, "kago", "s3cret").CombinedOutput(); err != nil {
			t.Fatalf("htpasswd: %v: %s", err, out)
		}
		cfg += fmt.Sprintf("auth:\n  htpasswd:\n    realm: kago-test\n    path: %s\n", pw)
	}
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(dockerRegistryBin, "serve", cfgPath)
	logf, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			t.Fatalf("docker-registry did not listen on %s: %s", addr, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// skopeo runs Debian's skopeo, skipping the test if it is absent.
func skopeo(t *testing.T, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("skopeo")
	if err != nil {
		t.Skip("needs skopeo (apt-get install skopeo)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("skopeo %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Images move both ways between kago and other tools through a real
// registry: skopeo pushes what kago pulls, kago pushes what skopeo pulls.
func TestDockerRegistryInteropWithSkopeo(t *testing.T) {
	host := startDockerRegistry(t, false)
	s, layers := newTestStore(t)
	ctx := context.Background()
	img := testImage(t, true,
		layerOf(t, busyboxTar(t), "gzip"),
		layerOf(t, tarLayer(t, map[string]string{"etc/": "", "etc/motd": "welcome\n"}), "zstd"),
		layerOf(t, tarLayer(t, map[string]string{"srv/": "", "srv/index.html": "<h1>kago</h1>\n"}), "none"))
	dir := t.TempDir()
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	skopeo(t, "copy", "--dest-tls-verify=false", "oci:"+dir, "docker://"+host+"/busybox:multi")

	got, err := s.Pull(ctx, host+"/busybox:multi", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := strings.TrimSpace(skopeo(t, "inspect", "--tls-verify=false", "--format", "{{.Digest}}", "docker://"+host+"/busybox:multi"))
	if got.ManifestDigest.String() != want {
		t.Errorf("pulled %s, registry has %s", got.ManifestDigest, want)
	}
	if fi, err := os.Stat(filepath.Join(layers.dir(got.ChainIDs[0]), "bin", "busybox")); err != nil || fi.Mode()&0o111 == 0 {
		t.Errorf("busybox not unpacked executable: %v", err)
	}
	if data, err := os.ReadFile(filepath.Join(layers.dir(got.ChainIDs[2]), "srv", "index.html")); err != nil || !strings.Contains(string(data), "kago") {
		t.Errorf("uncompressed layer not unpacked: %v", err)
	}

	// skopeo reads what kago save writes.
	saved := filepath.Join(t.TempDir(), "saved.tar")
	f, err := os.Create(saved)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, f, []string{host + "/busybox:multi"}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if out := skopeo(t, "inspect", "--format", "{{.Digest}}", "oci-archive:"+saved); strings.TrimSpace(out) != got.ManifestDigest.String() {
		t.Errorf("skopeo reads digest %q from kago save, want %s", strings.TrimSpace(out), got.ManifestDigest)
	}

	// kago push, then skopeo reads it back with the same digest.
	if err := s.Tag(host+"/busybox:multi", host+"/pushed/by-kago:v1"); err != nil {
		t.Fatal(err)
	}
	pushed, err := s.Push(ctx, host+"/pushed/by-kago:v1", PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := skopeo(t, "inspect", "--tls-verify=false", "--format", "{{.Digest}}", "docker://"+host+"/pushed/by-kago:v1")
	if strings.TrimSpace(out) != pushed.String() {
		t.Errorf("skopeo sees %s, kago pushed %s", strings.TrimSpace(out), pushed)
	}
	// kago loads what skopeo writes.
	archive := filepath.Join(t.TempDir(), "skopeo.tar")
	skopeo(t, "copy", "--src-tls-verify=false", "docker://"+host+"/pushed/by-kago:v1", "oci-archive:"+archive+":example.com/from/skopeo:v1")
	af, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer af.Close()
	s3, _ := newTestStore(t)
	if _, err := s3.Load(ctx, af, LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	if loaded, err := s3.Resolve("example.com/from/skopeo:v1"); err != nil || loaded.ID != got.ID {
		t.Errorf("load of skopeo's archive: %v", err)
	}

	// A fresh store pulls what kago pushed.
	s2, _ := newTestStore(t)
	again, err := s2.Pull(ctx, host+"/pushed/by-kago@"+pushed.String(), PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != got.ID {
		t.Errorf("round trip changed the image: %s != %s", again.ID, got.ID)
	}
	if _, err := s2.Pull(ctx, host+"/pushed/by-kago:nosuchtag", PullOptions{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown tag: %v, want not found", err)
	}
}

func TestDockerRegistryBasicAuthAndLogin(t *testing.T) {
	host := startDockerRegistry(t, true)
	s, _ := newTestStore(t)
	ctx := context.Background()
	// Without credentials the registry says no.
	pushFixtureErr := func() error {
		s0, _ := newTestStore(t)
		_, err := s0.Pull(ctx, host+"/private:1", PullOptions{Retries: -1})
		return err
	}
	if err := pushFixtureErr(); err == nil || !strings.Contains(err.Error(), "kago login") {
		t.Errorf("anonymous pull from auth registry: %v, want a hint to log in", err)
	}
	if err := s.Login(ctx, host, "kago", "wrong", RegistryOptions{}); err == nil {
		t.Error("login with a wrong password succeeded")
	}
	if _, err := os.Stat(s.AuthFile); err == nil {
		t.Error("failed login wrote credentials")
	}
	if err := s.Login(ctx, host, "kago", "s3cret", RegistryOptions{}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(s.AuthFile)
	if err != nil || !strings.Contains(string(data), `"`+host+`"`) || !strings.Contains(string(data), "a2FnbzpzM2NyZXQ=") {
		t.Fatalf("config.json after login = %s, %v", data, err)
	}
	if fi, _ := os.Stat(s.AuthFile); fi.Mode().Perm() != 0o600 {
		t.Errorf("config.json mode %v, want 0600", fi.Mode().Perm())
	}
	// The stored credentials carry a push and a pull.
	if _, err := s.Import(ctx, strings.NewReader(string(tarLayer(t, map[string]string{"f": "x"}))), host+"/private:1", ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Push(ctx, host+"/private:1", PushOptions{}); err != nil {
		t.Fatal(err)
	}
	s2, _ := newTestStore(t)
	s2.AuthFile = s.AuthFile
	if _, err := s2.Pull(ctx, host+"/private:1", PullOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Logout(host, RegistryOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Logout(host, RegistryOptions{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("second logout: %v, want not logged in", err)
	}
	s3, _ := newTestStore(t)
	s3.AuthFile = s.AuthFile
	if _, err := s3.Pull(ctx, host+"/private:1", PullOptions{Retries: -1}); err == nil {
		t.Error("pull after logout succeeded")
	}
}

// A registry behind the token flow docker.io uses: /v2/ answers 401 with a
// Bearer challenge, and a token endpoint hands out tokens, anonymously for
// public pulls and for user/password otherwise.
func TestBearerTokenFlow(t *testing.T) {
	reg := startRegistry(t)
	var anonymous atomic.Int64
	reg.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/token" {
			tok := "anon-token"
			if u, p, ok := r.BasicAuth(); ok {
				if u != "kago" || p != "s3cret" {
					http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}`, http.StatusUnauthorized)
					return true
				}
				tok = "user-token"
			} else {
				anonymous.Add(1)
			}
			json.NewEncoder(w).Encode(map[string]string{"token": tok})
			return true
		}
		got := r.Header.Get("Authorization")
		// Pushing needs a user token, pulling any token.
		ok := got == "Bearer user-token" || (got == "Bearer anon-token" && (r.Method == http.MethodGet || r.Method == http.MethodHead))
		if !ok {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="http://%s/token",service="test"`, reg.host))
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
			return true
		}
		return false
	})
	s, _ := newTestStore(t)
	ctx := context.Background()
	if _, err := s.Import(ctx, strings.NewReader(string(tarLayer(t, map[string]string{"f": "x"}))), reg.host+"/tok:1", ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Push(ctx, reg.host+"/tok:1", PushOptions{Retries: -1}); err == nil || !strings.Contains(err.Error(), "login") {
		t.Errorf("anonymous push: %v, want access denied with a login hint", err)
	}
	if err := s.Login(ctx, reg.host, "kago", "nope", RegistryOptions{}); err == nil {
		t.Error("login with a wrong password succeeded")
	}
	if err := s.Login(ctx, reg.host, "kago", "s3cret", RegistryOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Push(ctx, reg.host+"/tok:1", PushOptions{}); err != nil {
		t.Fatal(err)
	}
	// A store without credentials pulls anonymously with a token.
	s2, _ := newTestStore(t)
	if _, err := s2.Pull(ctx, reg.host+"/tok:1", PullOptions{}); err != nil {
		t.Fatal(err)
	}
	if anonymous.Load() == 0 {
		t.Error("anonymous pull asked for no token")
	}
}

// Credentials kept by a docker credential helper (credsStore) are used.
func TestCredentialHelper(t *testing.T) {
	host := startDockerRegistry(t, true)
	bin := t.TempDir()
	helper := "#!/bin/sh\nread server\nif [ \"$server\" = \"" + host + "\" ]; then echo '{\"ServerURL\":\"'$server'\",\"Username\":\"kago\",\"Secret\":\"s3cret\"}'; exit 0; fi\necho 'credentials not found in native keychain'; exit 1\n"
	if err := os.WriteFile(filepath.Join(bin, "docker-credential-kagotest"), []byte(helper), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	s, _ := newTestStore(t)
	ctx := context.Background()
	if err := os.WriteFile(s.AuthFile, []byte(`{"auths":{"`+host+`":{}},"credsStore":"kagotest"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Import(ctx, strings.NewReader(string(tarLayer(t, map[string]string{"f": "x"}))), host+"/helped:1", ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Push(ctx, host+"/helped:1", PushOptions{}); err != nil {
		t.Fatalf("push with helper credentials: %v", err)
	}
	s2, _ := newTestStore(t)
	s2.AuthFile = s.AuthFile
	if _, err := s2.Pull(ctx, host+"/helped:1", PullOptions{}); err != nil {
		t.Fatalf("pull with helper credentials: %v", err)
	}
	// A helper that does not know the host means anonymous, and the
	// registry then says to log in.
	os.WriteFile(s.AuthFile, []byte(`{"credHelpers":{"`+host+`":"kagotest-none"}}`), 0o600)
	os.WriteFile(filepath.Join(bin, "docker-credential-kagotest-none"), []byte("#!/bin/sh\necho 'credentials not found in native keychain'; exit 1\n"), 0o755)
	s3, _ := newTestStore(t)
	s3.AuthFile = s.AuthFile
	if _, err := s3.Pull(ctx, host+"/helped:1", PullOptions{Retries: -1}); err == nil || !strings.Contains(err.Error(), "kago login") {
		t.Errorf("pull with an unknowing helper: %v, want access denied", err)
	}
}
