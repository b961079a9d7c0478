package snapshot_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/archive/tartest"
	"github.com/kago-run/kago/internal/testbundle"
	"github.com/kago-run/kago/snapshot"
)

type E = tartest.Entry

// newStore makes a store under t.TempDir and unmounts whatever the test
// mounted in it, even when the test fails.
func newStore(t *testing.T) *snapshot.Store {
	t.Helper()
	testbundle.RequireRoot(t)
	root := filepath.Join(t.TempDir(), "snapshots")
	s, err := snapshot.New(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unmountUnder(t, root) })
	return s
}

// unmountUnder detaches every mount below root, deepest first.
func unmountUnder(t *testing.T, root string) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Error(err)
		return
	}
	lines := strings.Split(string(data), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		f := strings.Fields(lines[i])
		if len(f) > 4 && strings.HasPrefix(f[4], root+"/") {
			if err := unix.Unmount(f[4], unix.MNT_DETACH); err != nil {
				t.Errorf("cleanup: unmount %s: %v", f[4], err)
			}
		}
	}
}

// image is a stack of layer blobs with their chain IDs, bottom first.
type image struct {
	blobs    [][]byte
	chainIDs []digest.Digest
}

// newImage builds an image from uncompressed layer tars; compress wraps each
// blob (tartest.Gzip, tartest.Zstd or nil for none), as a registry serves it.
func newImage(layers [][]byte, compress []func([]byte) []byte) image {
	var img image
	var diffIDs []digest.Digest
	for i, l := range layers {
		diffIDs = append(diffIDs, digest.FromBytes(l))
		blob := l
		if i < len(compress) && compress[i] != nil {
			blob = compress[i](l)
		}
		img.blobs = append(img.blobs, blob)
	}
	img.chainIDs = identity.ChainIDs(diffIDs)
	return img
}

func (img image) unpack(t *testing.T, s *snapshot.Store) {
	t.Helper()
	for i, b := range img.blobs {
		if _, err := s.Unpack(context.Background(), img.chainIDs[i], bytes.NewReader(b)); err != nil {
			t.Fatalf("unpack layer %d: %v", i, err)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return string(b)
}

func names(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n []string
	for _, e := range ents {
		n = append(n, e.Name())
	}
	return strings.Join(n, ",")
}

func TestPrepareMergesLayersWithWhiteouts(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	img := newImage([][]byte{
		tartest.Tar(
			E{Name: "etc/", Type: tar.TypeDir},
			E{Name: "etc/motd", Body: "hello"},
			E{Name: "etc/hostname", Body: "base"},
			E{Name: "opt/", Type: tar.TypeDir},
			E{Name: "opt/a", Body: "a"},
			E{Name: "opt/b", Body: "b"},
			E{Name: "bin/", Type: tar.TypeDir},
			E{Name: "bin/su", Body: "su", Mode: 0o4755, UID: 1000, GID: 1000, Xattrs: map[string]string{"user.kago": "x"}},
			E{Name: "bin/su2", Type: tar.TypeLink, Link: "bin/su"},
			E{Name: "bin/sh", Type: tar.TypeSymlink, Link: "/bin/su"},
			E{Name: "dev/null", Type: tar.TypeChar, Major: 1, Minor: 3, Mode: 0o666},
			E{Name: "run/fifo", Type: tar.TypeFifo},
		),
		tartest.Tar(
			E{Name: "etc/.wh.motd"},
			E{Name: "opt/.wh..wh..opq"},
			E{Name: "opt/c", Body: "c"},
		),
		tartest.Tar(E{Name: "etc/hostname", Body: "top"}),
	}, []func([]byte) []byte{nil, tartest.Gzip, tartest.Zstd})
	img.unpack(t, s)

	rootfs, err := s.Prepare(ctx, "c1", img.chainIDs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(rootfs, "etc/motd")); !os.IsNotExist(err) {
		t.Errorf("whited-out etc/motd visible: %v", err)
	}
	if got := names(t, filepath.Join(rootfs, "opt")); got != "c" {
		t.Errorf("opaque opt holds %q, want only c", got)
	}
	if got := readFile(t, filepath.Join(rootfs, "etc/hostname")); got != "top" {
		t.Errorf("etc/hostname = %q, want the top layer's", got)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(rootfs, "bin/su"), &st); err != nil || st.Mode != unix.S_IFREG|0o4755 || st.Uid != 1000 || st.Gid != 1000 || st.Nlink != 2 {
		t.Errorf("bin/su: %+v %v", st, err)
	}
	if got := time.Unix(st.Mtim.Unix()); !got.Equal(tartest.MTime) {
		t.Errorf("bin/su mtime %v, want %v", got, tartest.MTime)
	}
	buf := make([]byte, 16)
	if n, err := unix.Lgetxattr(filepath.Join(rootfs, "bin/su"), "user.kago", buf); err != nil || string(buf[:n]) != "x" {
		t.Errorf("bin/su xattr user.kago = %q, %v", buf[:n], err)
	}
	if target, _ := os.Readlink(filepath.Join(rootfs, "bin/sh")); target != "/bin/su" {
		t.Errorf("bin/sh -> %q", target)
	}
	if err := unix.Lstat(filepath.Join(rootfs, "dev/null"), &st); err != nil || st.Rdev != unix.Mkdev(1, 3) {
		t.Errorf("dev/null: rdev %x %v", st.Rdev, err)
	}
	if err := unix.Lstat(filepath.Join(rootfs, "run/fifo"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
		t.Errorf("run/fifo: mode %o %v", st.Mode, err)
	}

	// Writes go to the container's upper layer, never into a shared layer.
	if err := os.WriteFile(filepath.Join(rootfs, "etc/hostname"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(rootfs, "opt/c")); err != nil {
		t.Fatal(err)
	}
	other, err := s.Prepare(ctx, "c2", img.chainIDs)
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(other, "etc/hostname")); got != "top" {
		t.Errorf("second container sees %q: the first one's write leaked into a layer", got)
	}
	if got := names(t, filepath.Join(other, "opt")); got != "c" {
		t.Errorf("second container opt holds %q", got)
	}

	// Unmount, mount again (as after a reboot): the container's changes stay.
	if err := s.Unmount(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	if got := names(t, rootfs); got != "" {
		t.Errorf("unmounted rootfs still shows %q", got)
	}
	if err := s.Unmount(ctx, "c1"); err != nil {
		t.Errorf("second Unmount: %v", err)
	}
	for range 2 {
		again, err := s.Mount(ctx, "c1")
		if err != nil || again != rootfs {
			t.Fatalf("Mount = %q, %v", again, err)
		}
	}
	if got := readFile(t, filepath.Join(rootfs, "etc/hostname")); got != "changed" {
		t.Errorf("after remount etc/hostname = %q", got)
	}
	if got := strings.Count(mountinfo(t), " "+rootfs+" "); got != 1 {
		t.Errorf("rootfs mounted %d times after two Mounts, want 1", got)
	}

	for _, key := range []string{"c1", "c2"} {
		if err := s.Release(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Contains(mountinfo(t), s.Root()) {
		t.Error("mounts left after Release")
	}
	if got := names(t, filepath.Join(s.Root(), "containers")); got != "" {
		t.Errorf("containers left after Release: %q", got)
	}
	if err := s.Release(ctx, "c1"); !errors.Is(err, snapshot.ErrNotFound) {
		t.Errorf("second Release: %v, want ErrNotFound", err)
	}
}

func mountinfo(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPrepareHundredLayers(t *testing.T) {
	s := newStore(t)
	var layers [][]byte
	for i := range 100 {
		layers = append(layers, tartest.Tar(E{Name: fmt.Sprintf("layers/l%03d", i), Body: "x"}, E{Name: "top", Body: fmt.Sprint(i)}))
	}
	img := newImage(layers, nil)
	img.unpack(t, s)
	rootfs, err := s.Prepare(context.Background(), "many", img.chainIDs)
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(rootfs, "top")); got != "99" {
		t.Errorf("top = %q, want the last layer's 99", got)
	}
	if ents, err := os.ReadDir(filepath.Join(rootfs, "layers")); err != nil || len(ents) != 100 {
		t.Errorf("merged view has %d layer files, %v", len(ents), err)
	}
	if err := s.Release(context.Background(), "many"); err != nil {
		t.Fatal(err)
	}
}

func TestPrepareZeroLayers(t *testing.T) {
	s := newStore(t)
	rootfs, err := s.Prepare(context.Background(), "scratch", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(t, rootfs); got != "" {
		t.Errorf("empty image rootfs holds %q", got)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "f"), []byte("x"), 0o644); err != nil {
		t.Errorf("rootfs not writable: %v", err)
	}
	if got := names(t, filepath.Join(s.Root(), "empty")); got != "" {
		t.Errorf("write reached the shared empty lower: %q", got)
	}
	if err := s.Release(context.Background(), "scratch"); err != nil {
		t.Fatal(err)
	}
}

func TestPrepareErrors(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	missing := digest.FromString("missing")
	if _, err := s.Prepare(ctx, "c", []digest.Digest{missing}); !errors.Is(err, snapshot.ErrNotFound) {
		t.Errorf("missing layer: %v", err)
	}
	for _, key := range []string{"", "../x", "a/b", ".hidden", strings.Repeat("k", 200)} {
		if _, err := s.Prepare(ctx, key, nil); err == nil || !strings.Contains(err.Error(), "snapshot key") {
			t.Errorf("key %q: %v", key, err)
		}
	}
	if _, err := s.Prepare(ctx, "c", []digest.Digest{"sha256:../../etc"}); err == nil {
		t.Error("invalid chain ID accepted")
	}
	if _, err := s.Prepare(ctx, "c", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Prepare(ctx, "c", nil); !errors.Is(err, snapshot.ErrExists) {
		t.Errorf("second Prepare: %v, want ErrExists", err)
	}
	if _, err := s.Mount(ctx, "nope"); !errors.Is(err, snapshot.ErrNotFound) {
		t.Errorf("Mount unknown: %v", err)
	}
	if err := s.Release(ctx, "c"); err != nil {
		t.Fatal(err)
	}
}

func TestLayersUsageRemove(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	img := newImage([][]byte{tartest.Tar(E{Name: "a", Body: "12345"}), tartest.Tar(E{Name: "b", Body: "123"})}, nil)
	img.unpack(t, s)
	ids, err := s.Layers()
	if err != nil || len(ids) != 2 {
		t.Fatalf("Layers = %v, %v", ids, err)
	}
	for _, id := range img.chainIDs {
		if !s.Exists(id) {
			t.Errorf("Exists(%s) = false", id)
		}
	}
	if n, err := s.Usage(img.chainIDs[0]); err != nil || n != 5 {
		t.Errorf("Usage = %d, %v; want 5", n, err)
	}
	if _, err := s.Prepare(ctx, "user", img.chainIDs); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveLayer(img.chainIDs[0]); !errors.Is(err, snapshot.ErrInUse) {
		t.Errorf("RemoveLayer of a used layer: %v, want ErrInUse", err)
	}
	if err := s.Release(ctx, "user"); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveLayer(img.chainIDs[0]); err != nil {
		t.Fatal(err)
	}
	if s.Exists(img.chainIDs[0]) {
		t.Error("layer exists after RemoveLayer")
	}
	if err := s.RemoveLayer(img.chainIDs[0]); !errors.Is(err, snapshot.ErrNotFound) {
		t.Errorf("second RemoveLayer: %v", err)
	}
	if _, err := s.Usage(img.chainIDs[0]); !errors.Is(err, snapshot.ErrNotFound) {
		t.Errorf("Usage of removed layer: %v", err)
	}
	if got := names(t, filepath.Join(s.Root(), "tmp")); got != "" {
		t.Errorf("tmp holds %q", got)
	}
}

// failReader fails the test if the store reads a layer it already has.
type failReader struct{ t *testing.T }

func (f failReader) Read([]byte) (int, error) {
	f.t.Error("Unpack read a layer that exists")
	return 0, io.EOF
}

func TestUnpackIsIdempotentAndConcurrent(t *testing.T) {
	s := newStore(t)
	layer := tartest.Gzip(tartest.Tar(E{Name: "f", Body: strings.Repeat("x", 1<<20)}))
	id := digest.FromString("layer")
	var wg sync.WaitGroup
	sizes := make([]int64, 4)
	errs := make([]error, 4)
	for i := range sizes {
		wg.Go(func() {
			sizes[i], errs[i] = s.Unpack(context.Background(), id, bytes.NewReader(layer))
		})
	}
	wg.Wait()
	var total int64
	for i := range sizes {
		if errs[i] != nil {
			t.Errorf("Unpack %d: %v", i, errs[i])
		}
		total += sizes[i]
	}
	if total != 1<<20 {
		t.Errorf("concurrent Unpacks wrote %d bytes in total, want one extraction of %d", total, 1<<20)
	}
	if n, err := s.Unpack(context.Background(), id, failReader{t}); n != 0 || err != nil {
		t.Errorf("Unpack of an existing layer = %d, %v", n, err)
	}
}

// brokenReader returns data, then fails as a dropped connection does.
type brokenReader struct{ r io.Reader }

func (b *brokenReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		return n, errors.New("connection reset")
	}
	return n, err
}

func TestUnpackFailureLeavesNothing(t *testing.T) {
	s := newStore(t)
	layer := tartest.Tar(E{Name: "a", Body: "a"}, E{Name: "big", Body: strings.Repeat("x", 100000)})
	id := digest.FromString("broken")
	_, err := s.Unpack(context.Background(), id, &brokenReader{bytes.NewReader(layer[:50000])})
	if err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("Unpack of a broken stream: %v", err)
	}
	if s.Exists(id) {
		t.Error("half layer exists")
	}
	if got := names(t, filepath.Join(s.Root(), "tmp")); got != "" {
		t.Errorf("tmp holds %q", got)
	}
	// A good stream later unpacks fine.
	if _, err := s.Unpack(context.Background(), id, bytes.NewReader(layer)); err != nil || !s.Exists(id) {
		t.Errorf("retry: %v", err)
	}
}

const helperEnv = "KAGO_SNAPSHOT_HELPER_ROOT"

// TestHelperUnpackProcess is not a test: TestKilledUnpack runs the test
// binary as a kago that unpacks stdin, and kills it midway.
func TestHelperUnpackProcess(t *testing.T) {
	root := os.Getenv(helperEnv)
	if root == "" {
		t.Skip("helper process for TestKilledUnpack")
	}
	s, err := snapshot.New(root)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Unpack(context.Background(), digest.FromString("killed"), os.Stdin)
	t.Fatalf("Unpack returned (%v) but should have been killed", err)
}

// TestUnpackHostileLayer: a layer that tries to climb out fails as a whole,
// leaves no snapshot, no temp dir and nothing beside the store.
func TestUnpackHostileLayer(t *testing.T) {
	s := newStore(t)
	parent := filepath.Dir(s.Root())
	layer := tartest.Gzip(tartest.Tar(E{Name: "ok", Body: "x"}, E{Name: "../../escaped", Body: "x"}))
	id := digest.FromString("hostile")
	_, err := s.Unpack(context.Background(), id, bytes.NewReader(layer))
	if err == nil || !strings.Contains(err.Error(), "../../escaped") {
		t.Fatalf("hostile layer: %v", err)
	}
	if s.Exists(id) {
		t.Error("hostile layer became a snapshot")
	}
	if got := names(t, filepath.Join(s.Root(), "tmp")); got != "" {
		t.Errorf("tmp holds %q", got)
	}
	if got := names(t, parent); got != "snapshots" {
		t.Errorf("beside the store: %q", got)
	}
}
