package image

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/compression"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/kago-run/kago/archive"
	"github.com/kago-run/kago/internal/testbundle"
	"github.com/kago-run/kago/snapshot"
	digest "github.com/opencontainers/go-digest"
)

// countedLayers is the real snapshot store, counting unpacks so tests can see
// that a layer is unpacked once.
type countedLayers struct {
	*snapshot.Store
	unpacks atomic.Int64
}

func (l *countedLayers) Unpack(ctx context.Context, c digest.Digest, r io.Reader) (int64, error) {
	had := l.Exists(c)
	n, err := l.Store.Unpack(ctx, c, r)
	if err == nil && !had {
		l.unpacks.Add(1)
	}
	return n, err
}

// dir is the unpacked tree of a layer (the snapshot store's layout).
func (l *countedLayers) dir(c digest.Digest) string {
	return filepath.Join(l.Root(), "layers", "sha256-"+c.Encoded(), "fs")
}

func (l *countedLayers) count() int {
	ids, _ := l.Layers()
	return len(ids)
}

// newTestStore opens a store in a temp root with the real snapshot store.
func newTestStore(t *testing.T) (*Store, *countedLayers) {
	t.Helper()
	testbundle.RequireRoot(t)
	root := t.TempDir()
	snaps, err := snapshot.New(filepath.Join(root, SnapshotDir))
	if err != nil {
		t.Fatal(err)
	}
	l := &countedLayers{Store: snaps}
	s, err := OpenWith(root, l)
	if err != nil {
		t.Fatal(err)
	}
	s.AuthFile = filepath.Join(t.TempDir(), "config.json")
	return s, l
}

// freeListener listens on a free port in 127.0.0.1:15000-15999, the range
// reserved for test registries.
func freeListener(t testing.TB) net.Listener {
	t.Helper()
	for range 200 {
		port := 15000 + rand.IntN(1000)
		if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			return ln
		}
	}
	t.Fatal("no free port in 127.0.0.1:15000-15999")
	return nil
}

// testRegistry is an in-process registry with hooks for fault injection.
type testRegistry struct {
	host      string
	mu        sync.Mutex
	fault     func(w http.ResponseWriter, r *http.Request) bool
	blobGets  atomic.Int64
	manifests atomic.Int64
	client    *http.Client // trusts the registry's certificate
}

func (r *testRegistry) setFault(f func(w http.ResponseWriter, r *http.Request) bool) {
	r.mu.Lock()
	r.fault = f
	r.mu.Unlock()
}

func startRegistry(t *testing.T) *testRegistry {
	t.Helper()
	return startRegistryTLS(t, false)
}

// startRegistryTLS starts the test registry, speaking HTTPS with a
// self-signed certificate if tls is set (its client trusts it).
func startRegistryTLS(t *testing.T, tls bool) *testRegistry {
	t.Helper()
	tr := &testRegistry{}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		tr.mu.Lock()
		f := tr.fault
		tr.mu.Unlock()
		if req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/blobs/sha256:") {
			tr.blobGets.Add(1)
		}
		if req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/manifests/") {
			tr.manifests.Add(1)
		}
		if f != nil && f(w, req) {
			return
		}
		reg.ServeHTTP(w, req)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	srv.Listener.Close()
	srv.Listener = freeListener(t)
	if tls {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	tr.host = srv.Listener.Addr().String()
	tr.client = srv.Client()
	return tr
}

// tarLayer builds a layer tar from files (name -> content; a trailing '/'
// makes a directory).
func tarLayer(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names) // the same files always make the same layer
	for _, n := range names {
		c := files[n]
		hdr := &tar.Header{Name: n, Mode: 0o644, Size: int64(len(c)), Typeflag: tar.TypeReg}
		if strings.HasSuffix(n, "/") {
			hdr = &tar.Header{Name: n, Mode: 0o755, Typeflag: tar.TypeDir}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(c)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// layerOf makes a layer from a tar with the given compression ("gzip",
// "zstd" or "none").
func layerOf(t testing.TB, tarData []byte, comp string) v1.Layer {
	t.Helper()
	if comp == "none" {
		return static.NewLayer(tarData, types.OCIUncompressedLayer)
	}
	opener := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(tarData)), nil }
	opts := []tarball.LayerOption{}
	if comp == "zstd" {
		opts = append(opts, tarball.WithCompression(compression.ZStd), tarball.WithMediaType(types.OCILayerZStd))
	}
	l, err := tarball.LayerFromOpener(opener, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// busyboxTar is a layer with the busybox root filesystem.
func busyboxTar(t testing.TB) []byte {
	t.Helper()
	if _, err := os.Stat(testbundle.BusyboxPath); err != nil {
		t.Skipf("needs %s (apt-get install busybox-static)", testbundle.BusyboxPath)
	}
	dir := t.TempDir()
	if err := testbundle.Rootfs(dir); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := archive.WriteTar(context.Background(), &buf, dir); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// testImage builds an image from layers with a config the tests check.
func testImage(t testing.TB, oci bool, layers ...v1.Layer) v1.Image {
	t.Helper()
	base := empty.Image
	if oci {
		base = mutate.MediaType(base, types.OCIManifestSchema1)
		base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	}
	img, err := mutate.AppendLayers(base, layers...)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", HostPlatform().Architecture
	cf.Config.Cmd = []string{"/bin/sh", "-c", "echo hi"}
	cf.Config.Env = []string{"PATH=/bin", "GREETING=hello"}
	cf.Config.WorkingDir = "/tmp"
	cf.Config.ExposedPorts = map[string]struct{}{"80/tcp": {}}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// smallImage is a two-layer image without busybox, quick to push and pull.
func smallImage(t testing.TB, comp string, oci bool) v1.Image {
	return testImage(t, oci,
		layerOf(t, tarLayer(t, map[string]string{"etc/": "", "etc/hello": "hello\n"}), comp),
		layerOf(t, tarLayer(t, map[string]string{"etc/world": "world\n", "data.txt": strings.Repeat("x", 100000)}), comp))
}

// pushFixture puts img into the test registry with go-containerregistry.
func pushFixture(t testing.TB, host, repoTag string, img v1.Image) digest.Digest {
	t.Helper()
	ref, err := name.ParseReference(host + "/" + repoTag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return digest.Digest(d.String())
}

// stallBlob is a registry fault: it answers requests for layer l with the
// first 100 bytes, says so on started (without blocking), and then hangs
// until the client goes away.
func stallBlob(l v1.Layer, started chan<- struct{}) func(w http.ResponseWriter, r *http.Request) bool {
	d, _ := l.Digest()
	return func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.Contains(r.URL.Path, "/blobs/"+d.String()) {
			return false
		}
		rc, _ := l.Compressed()
		defer rc.Close()
		buf := make([]byte, 100)
		n, _ := rc.Read(buf)
		w.Write(buf[:n])
		w.(http.Flusher).Flush()
		select {
		case started <- struct{}{}:
		default:
		}
		<-r.Context().Done()
		return true
	}
}
