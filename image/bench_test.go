package image

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"hash/fnv"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/kago-run/kago/internal/testbundle"
	"github.com/kago-run/kago/snapshot"
)

// BenchmarkPullUnpack pulls and unpacks a multi-layer image (100 MB of layer
// content by default, as `make bench` runs it; KAGO_BENCH_MB to change) from
// a local docker-registry, with kago, with skopeo copy + umoci unpack and
// with podman pull, and reports MB/s of uncompressed layer content. Its
// layers are one big file each: the bytes path. Run it with
//
//	go test -run XXX -bench PullUnpack -benchtime 3x ./image
func BenchmarkPullUnpack(b *testing.B) {
	requirePullPeers(b)
	total := 100
	if v, err := strconv.Atoi(os.Getenv("KAGO_BENCH_MB")); err == nil && v > 0 {
		total = v
	}
	host := startDockerRegistry(b, false)
	const layers = 5
	per := total << 20 / layers
	var ls []v1.Layer
	for i := range layers {
		// Half random, half zeros: compresses about 2:1 like real images.
		data := make([]byte, per)
		rand.Read(data[:per/2])
		ls = append(ls, ociLayer(b, tarLayer(b, map[string]string{"layer" + strconv.Itoa(i) + "/blob": string(data)})))
	}
	pushFixture(b, host, "bench:1", testImage(b, true, ls...))
	benchPullPeers(b, host+"/bench:1", int64(total)<<20)
}

// BenchmarkPullUnpackRootfs is BenchmarkPullUnpack on what real images
// are: a Debian root filesystem (KAGO_BENCH_ROOTFS, a tar of one, such as
// demo/build-httpd-image.sh makes with debootstrap), thousands of small
// files split into several layers. Files go to a layer by a hash of their
// directory (a hard link with its target), directories all to the first,
// so each layer holds only what its lower layers have parents for.
func BenchmarkPullUnpackRootfs(b *testing.B) {
	requirePullPeers(b)
	src := os.Getenv("KAGO_BENCH_ROOTFS")
	if src == "" {
		b.Skip("set KAGO_BENCH_ROOTFS to a root filesystem tar (demo/build-httpd-image.sh makes one)")
	}
	const layers = 6
	tars, files, size := splitRootfs(b, src, layers)
	var ls []v1.Layer
	for _, t := range tars {
		ls = append(ls, ociLayer(b, t))
	}
	host := startDockerRegistry(b, false)
	pushFixture(b, host, "rootfs:1", testImage(b, true, ls...))
	b.Logf("%s: %d entries, %d MB of file content in %d layers", filepath.Base(src), files, size>>20, layers)
	benchPullPeers(b, host+"/rootfs:1", size)
}

// requirePullPeers skips unless root and the registry and peers are here.
func requirePullPeers(b *testing.B) {
	testbundle.RequireRoot(b)
	for _, bin := range []string{dockerRegistryBin, "/usr/bin/skopeo", "/usr/bin/umoci"} {
		if _, err := os.Stat(bin); err != nil {
			b.Skipf("needs %s", bin)
		}
	}
}

// ociLayer is a layer of an uncompressed tar with the OCI media type
// (umoci takes only those).
func ociLayer(b *testing.B, tarData []byte) v1.Layer {
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(tarData)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		b.Fatal(err)
	}
	return l
}

// splitRootfs splits the tar at path into n layer tars, and returns them
// with the count of entries and the bytes of file content.
func splitRootfs(b *testing.B, path string, n int) (layers [][]byte, entries int, size int64) {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	bufs := make([]bytes.Buffer, n)
	tws := make([]*tar.Writer, n)
	for i := range tws {
		tws[i] = tar.NewWriter(&bufs[i])
	}
	layerOf := func(name string) int {
		h := fnv.New32a()
		h.Write([]byte(filepath.Dir(filepath.Clean(name))))
		return 1 + int(h.Sum32()%uint32(n-1))
	}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatalf("read %s: %v", path, err)
		}
		i := 0
		switch hdr.Typeflag {
		case tar.TypeDir:
		case tar.TypeLink:
			i = layerOf(hdr.Linkname)
		default:
			i = layerOf(hdr.Name)
		}
		if err := tws[i].WriteHeader(hdr); err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(tws[i], tr); err != nil {
			b.Fatal(err)
		}
		entries++
		size += hdr.Size
	}
	for i, tw := range tws {
		if err := tw.Close(); err != nil {
			b.Fatal(err)
		}
		layers = append(layers, bufs[i].Bytes())
	}
	return layers, entries, size
}

// benchPullPeers pulls and unpacks ref with kago and each peer, every
// iteration into a fresh store, and reports MB/s of size.
func benchPullPeers(b *testing.B, ref string, size int64) {
	b.Run("kago", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			root := b.TempDir()
			s, err := Open(root)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.Pull(context.Background(), ref, PullOptions{}); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			cleanupSnapshots(b, s.Snapshots())
			os.RemoveAll(root)
			b.StartTimer()
		}
	})
	b.Run("skopeo+umoci", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			dir := b.TempDir()
			run(b, "skopeo", "copy", "--quiet", "--src-tls-verify=false", "docker://"+ref, "oci:"+filepath.Join(dir, "oci")+":1")
			run(b, "umoci", "unpack", "--image", filepath.Join(dir, "oci")+":1", filepath.Join(dir, "bundle"))
			b.StopTimer()
			os.RemoveAll(dir)
			b.StartTimer()
		}
	})
	b.Run("podman", func(b *testing.B) {
		if _, err := exec.LookPath("podman"); err != nil {
			b.Skip("needs podman")
		}
		b.SetBytes(size)
		for b.Loop() {
			// podman wants a run root under 50 characters: not b.TempDir's.
			dir, err := os.MkdirTemp("", "kbp")
			if err != nil {
				b.Fatal(err)
			}
			p := []string{"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"),
				"--storage-driver", "overlay", "--events-backend", "file"}
			run(b, "podman", append(p, "pull", "--quiet", "--tls-verify=false", ref)...)
			b.StopTimer()
			run(b, "podman", append(p, "rmi", "-af")...)
			exec.Command("umount", "-R", filepath.Join(dir, "root")).Run() // podman may leave its store mounted
			os.RemoveAll(dir)
			b.StartTimer()
		}
	})
}

func run(b *testing.B, name string, args ...string) {
	b.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		b.Fatalf("%s: %v\n%s", name, err, out)
	}
}

func cleanupSnapshots(b *testing.B, s *snapshot.Store) {
	ids, _ := s.Layers()
	for _, id := range ids {
		if err := s.RemoveLayer(id); err != nil {
			b.Log(err)
		}
	}
}
