package image

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/kago-run/kago/internal/testbundle"
	"github.com/kago-run/kago/snapshot"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

func TestPullMediaTypesAndCompressions(t *testing.T) {
	reg := startRegistry(t)
	for _, tc := range []struct {
		comp string
		oci  bool
	}{{"gzip", false}, {"gzip", true}, {"zstd", true}, {"none", true}} {
		kind := "docker"
		if tc.oci {
			kind = "oci"
		}
		t.Run(tc.comp+"-"+kind, func(t *testing.T) {
			s, layers := newTestStore(t)
			img := smallImage(t, tc.comp, tc.oci)
			md := pushFixture(t, reg.host, "test/small:"+tc.comp+kind, img)
			got, err := s.Pull(context.Background(), reg.host+"/test/small:"+tc.comp+kind, PullOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got.ManifestDigest != md {
				t.Errorf("manifest digest %s, want %s", got.ManifestDigest, md)
			}
			if len(got.ChainIDs) != 2 || got.Config.Config.WorkingDir != "/tmp" || got.Config.Config.Cmd[2] != "echo hi" {
				t.Errorf("image = %+v", got)
			}
			data, err := os.ReadFile(filepath.Join(layers.dir(got.ChainIDs[1]), "etc", "world"))
			if err != nil || string(data) != "world\n" {
				t.Errorf("layer 2 not unpacked: %q %v", data, err)
			}
			if got.Size < 100000 {
				t.Errorf("size %d, want at least the 100000 bytes of data.txt", got.Size)
			}
			for _, l := range got.Layers {
				if !s.content.Has(l) {
					t.Errorf("layer blob %s not stored", l)
				}
			}
		})
	}
}

func TestPullResolveByNameIDAndDigest(t *testing.T) {
	reg := startRegistry(t)
	s, _ := newTestStore(t)
	md := pushFixture(t, reg.host, "app:1.0", smallImage(t, "gzip", false))
	img, err := s.Pull(context.Background(), reg.host+"/app:1.0", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{reg.host + "/app:1.0", img.ID.String(), img.ID.Encoded()[:12], "sha256:" + img.ID.Encoded()[:5], reg.host + "/app@" + md.String()} {
		got, err := s.Resolve(ref)
		if err != nil {
			t.Errorf("Resolve(%q): %v", ref, err)
			continue
		}
		if got.ID != img.ID {
			t.Errorf("Resolve(%q) = %s, want %s", ref, got.ID, img.ID)
		}
	}
	for _, ref := range []string{reg.host + "/app:2.0", "app:1.0", "0000000000", "BAD REF"} {
		if _, err := s.Resolve(ref); !errors.Is(err, ErrNotFound) {
			t.Errorf("Resolve(%q) error = %v, want not found", ref, err)
		}
	}
	// Pulling by digest again needs no registry at all.
	reg.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return true
	})
	if _, err := s.Pull(context.Background(), reg.host+"/app@"+md.String(), PullOptions{Retries: -1}); err != nil {
		t.Fatalf("pull by stored digest: %v", err)
	}
}

func TestSecondPullDownloadsNothingAndSharedLayersStoredOnce(t *testing.T) {
	reg := startRegistry(t)
	s, layers := newTestStore(t)
	base := layerOf(t, tarLayer(t, map[string]string{"base": "shared"}), "gzip")
	a := testImage(t, true, base, layerOf(t, tarLayer(t, map[string]string{"a": "a"}), "gzip"))
	b := testImage(t, true, base, layerOf(t, tarLayer(t, map[string]string{"b": "b"}), "gzip"))
	pushFixture(t, reg.host, "a:1", a)
	pushFixture(t, reg.host, "b:1", b)
	ctx := context.Background()
	if _, err := s.Pull(ctx, reg.host+"/a:1", PullOptions{}); err != nil {
		t.Fatal(err)
	}
	gets, manifests := reg.blobGets.Load(), reg.manifests.Load()
	if gets != 3 { // config + 2 layers
		t.Errorf("first pull fetched %d blobs, want 3", gets)
	}
	if _, err := s.Pull(ctx, reg.host+"/a:1", PullOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := reg.blobGets.Load(); n != gets {
		t.Errorf("second pull fetched %d blobs, want none", n-gets)
	}
	if n := reg.manifests.Load(); n != manifests {
		t.Errorf("second pull fetched the manifest %d times, want a HEAD only", n-manifests)
	}
	if _, err := s.Pull(ctx, reg.host+"/b:1", PullOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := reg.blobGets.Load() - gets; n != 2 { // config + its own layer
		t.Errorf("pull of b fetched %d blobs, want 2 (the shared layer is stored)", n)
	}
	if n := layers.unpacks.Load(); n != 3 {
		t.Errorf("%d unpacks, want 3 (shared layer once)", n)
	}
	blobs, _ := s.content.List()
	if len(blobs) != 2*2+3 { // 2 manifests, 2 configs, 3 distinct layers
		t.Errorf("%d blobs stored, want 7", len(blobs))
	}
}

func TestPullIndexChoosesPlatform(t *testing.T) {
	reg := startRegistry(t)
	s, _ := newTestStore(t)
	host := testImage(t, true, layerOf(t, tarLayer(t, map[string]string{"which": "host"}), "gzip"))
	other := testImage(t, true, layerOf(t, tarLayer(t, map[string]string{"which": "other"}), "gzip"))
	hp := HostPlatform()
	otherArch := "riscv64"
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: other, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: otherArch}}},
		mutate.IndexAddendum{Add: host, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: hp.OS, Architecture: hp.Architecture, Variant: hp.Variant}}},
	)
	ref, _ := name.ParseReference(reg.host + "/multi:1")
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	got, err := s.Pull(ctx, reg.host+"/multi:1", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hd, _ := host.Digest()
	if got.ManifestDigest.String() != hd.String() || got.IndexDigest == "" {
		t.Errorf("host pull got manifest %s (index %s), want %s", got.ManifestDigest, got.IndexDigest, hd)
	}
	got2, err := s.Pull(ctx, reg.host+"/multi:1", PullOptions{Platform: "linux/" + otherArch})
	if err != nil {
		t.Fatal(err)
	}
	od, _ := other.Digest()
	if got2.ManifestDigest.String() != od.String() {
		t.Errorf("--platform pull got %s, want %s", got2.ManifestDigest, od)
	}
	_, err = s.Pull(ctx, reg.host+"/multi:1", PullOptions{Platform: "windows/arm"})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "linux/"+otherArch) {
		t.Errorf("unknown platform error = %v, want not found listing the platforms", err)
	}
	if _, err := s.Pull(ctx, reg.host+"/multi:1", PullOptions{Platform: "linux"}); err == nil {
		t.Error("bad --platform accepted")
	}
}

// assertNoImages checks a failed pull left no image and no stray temp files.
func assertNoImages(t *testing.T, s *Store) {
	t.Helper()
	imgs, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 0 {
		t.Errorf("failed pull left %d images", len(imgs))
	}
	ents, _ := os.ReadDir(s.content.ingest)
	for _, e := range ents {
		// Partial downloads stay for the next pull to resume.
		if !strings.HasSuffix(e.Name(), ".partial") {
			t.Errorf("failed pull left temp file %s in ingest", e.Name())
		}
	}
}

// hasPartial reports whether a resumable partial download of d exists.
func hasPartial(s *Store, d v1.Hash) bool {
	_, err := os.Stat(filepath.Join(s.content.ingest, d.Hex+".partial"))
	return err == nil
}

func TestPullFaults(t *testing.T) {
	reg := startRegistry(t)
	img := smallImage(t, "gzip", false)
	pushFixture(t, reg.host, "f:1", img)
	layers, _ := img.Layers()
	l1, _ := layers[1].Digest()
	isBlob := func(r *http.Request) bool { return strings.Contains(r.URL.Path, "/blobs/"+l1.String()) }
	isManifest := func(r *http.Request) bool { return strings.Contains(r.URL.Path, "/manifests/") }
	for _, tc := range []struct {
		name  string
		fault func(w http.ResponseWriter, r *http.Request) bool
		want  string
	}{
		{"wrong layer content", func(w http.ResponseWriter, r *http.Request) bool {
			if !isBlob(r) {
				return false
			}
			sz, _ := layers[1].Size()
			w.Write([]byte(strings.Repeat("!", int(sz))))
			return true
		}, "sha256"},
		{"truncated layer", func(w http.ResponseWriter, r *http.Request) bool {
			if !isBlob(r) {
				return false
			}
			rc, _ := layers[1].Compressed()
			defer rc.Close()
			buf := make([]byte, 200)
			n, _ := rc.Read(buf)
			sz, _ := layers[1].Size()
			w.Header().Set("Content-Length", itoa(sz))
			w.Write(buf[:n])
			return true // the server closes the connection short
		}, ""},
		{"server errors", func(w http.ResponseWriter, r *http.Request) bool {
			if !isBlob(r) {
				return false
			}
			http.Error(w, "boom", http.StatusInternalServerError)
			return true
		}, "500"},
		{"garbage manifest", func(w http.ResponseWriter, r *http.Request) bool {
			if !isManifest(r) {
				return false
			}
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			w.Write([]byte("{not json"))
			return true
		}, "JSON"},
		{"huge manifest", func(w http.ResponseWriter, r *http.Request) bool {
			if !isManifest(r) {
				return false
			}
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			w.Write([]byte(`{"schemaVersion":2,"x":"` + strings.Repeat("a", MaxManifestSize) + `"}`))
			return true
		}, "more than"},
		{"not a registry", func(w http.ResponseWriter, r *http.Request) bool {
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte("<html><body>Welcome to nginx!</body></html>"))
			return true
		}, "f:1"},
		{"unknown tag", func(w http.ResponseWriter, r *http.Request) bool {
			if !isManifest(r) {
				return false
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}`))
			return true
		}, "does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, snaps := newTestStore(t)
			reg.setFault(tc.fault)
			t.Cleanup(func() { reg.setFault(nil) })
			_, err := s.Pull(context.Background(), reg.host+"/f:1", PullOptions{Retries: -1})
			if err == nil {
				t.Fatal("pull succeeded")
			}
			t.Logf("error: %v", err)
			if strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q: want one line containing %q", err, tc.want)
			}
			assertNoImages(t, s)
			if tc.name == "wrong layer content" || tc.name == "truncated layer" {
				if s.content.Has(digestOf(l1)) {
					t.Error("bad layer blob was committed")
				}
			}
			if tc.name == "wrong layer content" && hasPartial(s, l1) {
				t.Error("wrong bytes kept for resuming")
			}
			if tc.name == "truncated layer" && !hasPartial(s, l1) {
				t.Error("truncated download not kept for resuming")
			}
			// The same store pulls fine once the registry behaves.
			reg.setFault(nil)
			if _, err := s.Pull(context.Background(), reg.host+"/f:1", PullOptions{}); err != nil {
				t.Fatalf("pull after fault: %v", err)
			}
			if snaps.count() != 2 {
				t.Errorf("%d snapshots, want 2", snaps.count())
			}
		})
	}
}

func TestPullRegistryDown(t *testing.T) {
	s, _ := newTestStore(t)
	ln := freeListener(t)
	addr := ln.Addr().String()
	ln.Close()
	_, err := s.Pull(context.Background(), addr+"/x:1", PullOptions{Retries: -1})
	if err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("error = %v, want registry unreachable", err)
	}
}

func TestPullCancelledLeavesNoImage(t *testing.T) {
	reg := startRegistry(t)
	img := smallImage(t, "gzip", true)
	pushFixture(t, reg.host, "slow:1", img)
	layers, _ := img.Layers()
	started := make(chan struct{}, 1)
	reg.setFault(stallBlob(layers[1], started))
	s, _ := newTestStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-started
		cancel()
	}()
	done := make(chan error, 1)
	go func() { _, err := s.Pull(ctx, reg.host+"/slow:1", PullOptions{Retries: -1}); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error = %v, want context.Canceled", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("pull did not stop after cancel")
	}
	assertNoImages(t, s)
	reg.setFault(nil)
	if _, err := s.Pull(context.Background(), reg.host+"/slow:1", PullOptions{}); err != nil {
		t.Fatalf("pull after cancel: %v", err)
	}
}

func digestOf(h v1.Hash) digest.Digest { return digest.Digest(h.String()) }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestPullDiskFull(t *testing.T) {
	testbundle.RequireRoot(t)
	reg := startRegistry(t)
	random := make([]byte, 3<<20)
	rand.Read(random)
	img := testImage(t, true,
		layerOf(t, tarLayer(t, map[string]string{"small": "x"}), "gzip"),
		layerOf(t, tarLayer(t, map[string]string{"big": string(random)}), "gzip"))
	pushFixture(t, reg.host, "big:1", img)

	root := t.TempDir()
	if err := unix.Mount("tmpfs", root, "tmpfs", 0, "size=2m"); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(root, unix.MNT_DETACH) })
	snaps, err := snapshot.New(filepath.Join(root, SnapshotDir))
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenWith(root, snaps)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Pull(context.Background(), reg.host+"/big:1", PullOptions{Retries: -1})
	if err == nil || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("pull onto a full disk: %v, want no space left", err)
	}
	t.Logf("error: %v", err)
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error spans lines: %q", err)
	}
	assertNoImages(t, s)
	// The store still works: a small image fits.
	pushFixture(t, reg.host, "small:1", testImage(t, true, layerOf(t, tarLayer(t, map[string]string{"small": "x"}), "gzip")))
	if _, err := s.Pull(context.Background(), reg.host+"/small:1", PullOptions{}); err != nil {
		t.Fatalf("pull after disk full: %v", err)
	}
}

func TestPullSinglePlatformImageChecksPlatform(t *testing.T) {
	reg := startRegistry(t)
	s, _ := newTestStore(t)
	pushFixture(t, reg.host, "single:1", smallImage(t, "gzip", true)) // linux/<host arch>
	_, err := s.Pull(context.Background(), reg.host+"/single:1", PullOptions{Platform: "linux/riscv64"})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "linux/riscv64") {
		t.Errorf("pull for another platform: %v, want not found naming it", err)
	}
	assertNoImages(t, s)
	if _, err := s.Pull(context.Background(), reg.host+"/single:1", PullOptions{Platform: FormatPlatform(HostPlatform())}); err != nil {
		t.Fatal(err)
	}
}

func TestPlainHTTPOnlyForLoopbackOrInsecure(t *testing.T) {
	sentinel := errors.New("would send")
	next := roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, sentinel })
	for _, tc := range []struct {
		url      string
		insecure bool
		allowed  bool
	}{
		{"http://127.0.0.1:5000/v2/", false, true},
		{"http://localhost:5000/v2/", false, true},
		{"http://[::1]:5000/v2/", false, true},
		{"http://10.1.2.3:5000/v2/", false, false},
		{"http://192.168.1.1/v2/", false, false},
		{"http://registry.example/v2/", false, false},
		{"http://10.1.2.3:5000/v2/", true, true},
		{"https://10.1.2.3:5000/v2/", false, true},
	} {
		req, _ := http.NewRequest(http.MethodGet, tc.url, nil)
		_, err := httpGuard{next: next, insecure: tc.insecure}.RoundTrip(req)
		if allowed := errors.Is(err, sentinel); allowed != tc.allowed {
			t.Errorf("%s insecure=%v: allowed=%v (%v), want %v", tc.url, tc.insecure, allowed, err, tc.allowed)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Two pulls of one image at once, as two kago commands would do, both
// succeed and store it once.
func TestConcurrentPulls(t *testing.T) {
	reg := startRegistry(t)
	s, layers := newTestStore(t)
	pushFixture(t, reg.host, "c:1", smallImage(t, "gzip", true))
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			s2, err := OpenWith(s.root, layers)
			if err == nil {
				_, err = s2.Pull(context.Background(), reg.host+"/c:1", PullOptions{})
			}
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	imgs, _ := s.List()
	if len(imgs) != 1 || layers.count() != 2 {
		t.Errorf("%d images, %d layers; want 1 and 2", len(imgs), layers.count())
	}
}

// On a terminal the progress display redraws its lines in place with byte
// counts; elsewhere it prints one plain line per change.
func TestProgressDisplay(t *testing.T) {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer master.Close()
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Skipf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Skipf("pty number: %v", err)
	}
	tty, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("open pty: %v", err)
	}
	defer tty.Close()
	d := digest.FromString("layer")
	p := newProgress(tty)
	if !p.tty {
		t.Fatal("pty not seen as a terminal")
	}
	p.Status(d, p.fetching, 2000000)
	time.Sleep(150 * time.Millisecond)
	p.Add(d, 1000000)
	p.Status(d, p.done, 2000000)
	buf := make([]byte, 4096)
	master.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := ""
	for !strings.Contains(got, "Pull complete") {
		k, err := master.Read(buf)
		if err != nil {
			t.Fatalf("read pty: %v (got %q)", err, got)
		}
		got += string(buf[:k])
	}
	if !strings.Contains(got, "\x1b[1A") || !strings.Contains(got, "1MB / 2MB") {
		t.Errorf("terminal output %q lacks cursor moves or byte counts", got)
	}

	var plain strings.Builder
	p = newProgress(&plain)
	p.Status(d, p.fetching, 10)
	p.Add(d, 5)
	p.Status(d, p.done, 10)
	want := shortID(d) + ": Downloading\n" + shortID(d) + ": Pull complete\n"
	if plain.String() != want {
		t.Errorf("plain output %q, want %q", plain.String(), want)
	}
}

// When one layer fails, the pull stops the others instead of waiting for
// them, and reports the failure.
func TestPullFailsFastWhenOneLayerFails(t *testing.T) {
	reg := startRegistry(t)
	img := smallImage(t, "gzip", true)
	pushFixture(t, reg.host, "ff:1", img)
	layers, _ := img.Layers()
	l0, _ := layers[0].Digest()
	l1, _ := layers[1].Digest()
	hung := make(chan struct{})
	reg.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		switch {
		case strings.Contains(r.URL.Path, "/blobs/"+l1.String()):
			sz, _ := layers[1].Size()
			w.Header().Set("Content-Length", itoa(sz))
			w.Write([]byte("x"))
			w.(http.Flusher).Flush()
			close(hung)
			<-r.Context().Done()
			return true
		case strings.Contains(r.URL.Path, "/blobs/"+l0.String()):
			<-hung
			http.Error(w, "gone", http.StatusNotFound)
			return true
		}
		return false
	})
	s, _ := newTestStore(t)
	start := time.Now()
	_, err := s.Pull(context.Background(), reg.host+"/ff:1", PullOptions{Retries: -1})
	if err == nil {
		t.Fatal("pull succeeded")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("pull took %v to give up", d)
	}
	assertNoImages(t, s)
}

// A download cut off half way is resumed by the next pull with a Range
// request for the rest, and the result is the same image.
func TestPullResumesInterruptedDownload(t *testing.T) {
	reg := startRegistry(t)
	random := make([]byte, 1<<20)
	rand.Read(random)
	img := testImage(t, true,
		layerOf(t, tarLayer(t, map[string]string{"a": "a"}), "gzip"),
		layerOf(t, tarLayer(t, map[string]string{"big": string(random)}), "gzip"))
	pushFixture(t, reg.host, "resume:1", img)
	layers, _ := img.Layers()
	l1, _ := layers[1].Digest()
	size, _ := layers[1].Size()
	reg.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.Contains(r.URL.Path, "/blobs/"+l1.String()) {
			return false
		}
		rc, _ := layers[1].Compressed()
		defer rc.Close()
		w.Header().Set("Content-Length", itoa(size))
		io.CopyN(w, rc, size/2)
		return true // the connection ends half way
	})
	s, snaps := newTestStore(t)
	if _, err := s.Pull(context.Background(), reg.host+"/resume:1", PullOptions{Retries: -1}); err == nil {
		t.Fatal("pull of a cut-off layer succeeded")
	}
	assertNoImages(t, s)
	fi, err := os.Stat(filepath.Join(s.content.ingest, l1.Hex+".partial"))
	if err != nil || fi.Size() == 0 || fi.Size() > size/2 {
		t.Fatalf("partial download: %v, %v; want up to %d bytes", fi, err, size/2)
	}
	var rangeHdr string
	reg.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.Contains(r.URL.Path, "/blobs/"+l1.String()) {
			rangeHdr = r.Header.Get("Range")
		}
		return false
	})
	got, err := s.Pull(context.Background(), reg.host+"/resume:1", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "bytes=" + itoa(fi.Size()) + "-" + itoa(size-1); rangeHdr != want {
		t.Errorf("second pull asked for %q, want %q", rangeHdr, want)
	}
	data, err := os.ReadFile(filepath.Join(snaps.dir(got.ChainIDs[1]), "big"))
	if err != nil || !bytes.Equal(data, random) {
		t.Errorf("resumed layer content differs (%d bytes, %v)", len(data), err)
	}
	if hasPartial(s, l1) {
		t.Error("partial file left after the blob was committed")
	}
}

// A registry that ignores Range gets the whole blob again, and the pull
// still makes the right image.
func TestPullResumeWithoutRangeSupport(t *testing.T) {
	reg := startRegistry(t)
	img := smallImage(t, "gzip", true)
	pushFixture(t, reg.host, "norange:1", img)
	layers, _ := img.Layers()
	l1, _ := layers[1].Digest()
	s, snaps := newTestStore(t)
	// A stale partial: right length prefix, as if a pull was killed.
	rc, _ := layers[1].Compressed()
	head := make([]byte, 50)
	io.ReadFull(rc, head)
	rc.Close()
	if err := os.WriteFile(filepath.Join(s.content.ingest, l1.Hex+".partial"), head, 0o600); err != nil {
		t.Fatal(err)
	}
	reg.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		r.Header.Del("Range")
		return false
	})
	got, err := s.Pull(context.Background(), reg.host+"/norange:1", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join(snaps.dir(got.ChainIDs[1]), "etc", "world")); err != nil || string(data) != "world\n" {
		t.Errorf("layer after full re-download: %q, %v", data, err)
	}
}

// A registry with a certificate kago cannot verify is refused, unless the
// user says it is insecure; then kago still speaks HTTPS to it.
func TestPullSelfSignedTLSRegistry(t *testing.T) {
	reg := startRegistryTLS(t, true)
	ref, _ := name.ParseReference(reg.host + "/tls:1")
	if err := remote.Write(ref, smallImage(t, "gzip", true), remote.WithTransport(reg.client.Transport)); err != nil {
		t.Fatal(err)
	}
	s, _ := newTestStore(t)
	if _, err := s.Pull(context.Background(), reg.host+"/tls:1", PullOptions{Retries: -1}); err == nil {
		t.Error("pull from a registry with an unverifiable certificate succeeded")
	}
	// The server speaks only TLS, so a pull that works spoke HTTPS.
	if _, err := s.Pull(context.Background(), reg.host+"/tls:1", PullOptions{Insecure: true}); err != nil {
		t.Fatal(err)
	}
}

// An image whose config claims the diff ID of another layer (say, a popular
// base) is refused, and does not plant its files under that layer's chain
// ID for the next image.
func TestPullRefusesLayerWithWrongDiffID(t *testing.T) {
	reg := startRegistry(t)
	good := layerOf(t, tarLayer(t, map[string]string{"etc/": "", "etc/os-release": "good\n"}), "gzip")
	evil := layerOf(t, tarLayer(t, map[string]string{"etc/": "", "etc/os-release": "evil\n"}), "gzip")
	goodDiff, _ := good.DiffID()
	liar := testImage(t, true, evil)
	cf, _ := liar.ConfigFile()
	cf = cf.DeepCopy()
	cf.RootFS.DiffIDs[0] = goodDiff
	liar, err := mutate.ConfigFile(liar, cf)
	if err != nil {
		t.Fatal(err)
	}
	pushFixture(t, reg.host, "liar:1", liar)
	pushFixture(t, reg.host, "good:1", testImage(t, true, good))
	s, snaps := newTestStore(t)
	_, err = s.Pull(context.Background(), reg.host+"/liar:1", PullOptions{})
	if !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("pull of an image lying about its diff ID: %v, want digest mismatch", err)
	}
	assertNoImages(t, s)
	img, err := s.Pull(context.Background(), reg.host+"/good:1", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(snaps.dir(img.ChainIDs[0]), "etc", "os-release"))
	if err != nil || string(data) != "good\n" {
		t.Errorf("base layer content %q, %v; want good", data, err)
	}
}

// Docker's manifest list (not only the OCI index) is understood, and an
// attestation entry ("unknown/unknown") is never chosen.
func TestPullDockerManifestList(t *testing.T) {
	reg := startRegistry(t)
	s, _ := newTestStore(t)
	host := testImage(t, false, layerOf(t, tarLayer(t, map[string]string{"which": "host"}), "gzip"))
	att := testImage(t, false, layerOf(t, tarLayer(t, map[string]string{"which": "attestation"}), "gzip"))
	hp := HostPlatform()
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.DockerManifestList),
		mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"}}},
		mutate.IndexAddendum{Add: host, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: hp.OS, Architecture: hp.Architecture}}},
	)
	ref, _ := name.ParseReference(reg.host + "/list:1")
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	got, err := s.Pull(context.Background(), reg.host+"/list:1", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hd, _ := host.Digest()
	if got.ManifestDigest.String() != hd.String() {
		t.Errorf("pulled %s, want the host's %s", got.ManifestDigest, hd)
	}
}

func TestPlatformParsingAndMatching(t *testing.T) {
	for in, want := range map[string]string{
		"linux/amd64":   "linux/amd64",
		"linux/x86_64":  "linux/amd64",
		"linux/aarch64": "linux/arm64/v8",
		"linux/arm64":   "linux/arm64/v8",
		"linux/arm/v7":  "linux/arm/v7",
		"Linux/AMD64":   "linux/amd64",
	} {
		p, err := ParsePlatform(in)
		if err != nil || FormatPlatform(p) != want {
			t.Errorf("ParsePlatform(%q) = %s, %v; want %s", in, FormatPlatform(p), err, want)
		}
	}
	for _, bad := range []string{"linux", "/amd64", "linux/", "a/b/c/d"} {
		if _, err := ParsePlatform(bad); err == nil {
			t.Errorf("ParsePlatform(%q) accepted", bad)
		}
	}
	arm64 := ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	if !platformMatches(arm64, &ocispec.Platform{OS: "linux", Architecture: "arm64"}) {
		t.Error("linux/arm64 entry does not serve linux/arm64/v8")
	}
	if platformMatches(ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, &ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v6"}) {
		t.Error("arm/v6 entry serves arm/v7")
	}
}

// Layers download at the same time: the registry holds each layer's answer
// until both requests have arrived, which a one-at-a-time pull never does.
func TestPullDownloadsLayersInParallel(t *testing.T) {
	reg := startRegistry(t)
	img := smallImage(t, "gzip", true)
	pushFixture(t, reg.host, "par:1", img)
	layers, _ := img.Layers()
	var names []string
	for _, l := range layers {
		d, _ := l.Digest()
		names = append(names, "/blobs/"+d.String())
	}
	arrived := make(chan struct{}, len(names))
	reg.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		for _, n := range names {
			if strings.HasSuffix(r.URL.Path, n) {
				arrived <- struct{}{}
				deadline := time.After(5 * time.Second)
				for len(arrived) < len(names) {
					select {
					case <-deadline:
						http.Error(w, "layers were fetched one at a time", http.StatusConflict)
						return true
					case <-time.After(10 * time.Millisecond):
					}
				}
			}
		}
		return false
	})
	s, _ := newTestStore(t)
	if _, err := s.Pull(context.Background(), reg.host+"/par:1", PullOptions{Retries: -1}); err != nil {
		t.Fatal(err)
	}
}
