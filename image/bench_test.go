package image

import (
	"bytes"
	"context"
	"crypto/rand"
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

// BenchmarkPullUnpack pulls and unpacks a multi-layer image (200 MB of layer
// content by default, KAGO_BENCH_MB to change) from a local docker-registry,
// with kago and with skopeo copy + umoci unpack, and reports MB/s of
// uncompressed layer content. Run it with
//
//	go test -run XXX -bench PullUnpack -benchtime 3x ./image
func BenchmarkPullUnpack(b *testing.B) {
	testbundle.RequireRoot(b)
	for _, bin := range []string{dockerRegistryBin, "/usr/bin/skopeo", "/usr/bin/umoci"} {
		if _, err := os.Stat(bin); err != nil {
			b.Skipf("needs %s", bin)
		}
	}
	total := 200
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
		tarData := tarLayer(b, map[string]string{"layer" + strconv.Itoa(i) + "/blob": string(data)})
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(tarData)), nil },
			tarball.WithMediaType(types.OCILayer)) // umoci takes only OCI media types
		if err != nil {
			b.Fatal(err)
		}
		ls = append(ls, l)
	}
	img := testImage(b, true, ls...)
	pushFixture(b, host, "bench:1", img)
	ref := host + "/bench:1"
	b.Run("kago", func(b *testing.B) {
		b.SetBytes(int64(total) << 20)
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
		b.SetBytes(int64(total) << 20)
		for b.Loop() {
			dir := b.TempDir()
			run(b, "skopeo", "copy", "--quiet", "--src-tls-verify=false", "docker://"+ref, "oci:"+filepath.Join(dir, "oci")+":1")
			run(b, "umoci", "unpack", "--image", filepath.Join(dir, "oci")+":1", filepath.Join(dir, "bundle"))
			b.StopTimer()
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
