package archive_test

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/kago-run/kago/archive"
	"github.com/kago-run/kago/archive/tartest"
)

// benchLayer is a ~50 MB layer shaped like a distribution image: many small
// files, some medium ones, a few large ones, links and directories.
func benchLayer() []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	body := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.IntN(64) + 32)
		}
		return string(b)
	}
	var es []E
	for d := range 50 {
		dir := fmt.Sprintf("usr/lib/d%02d/", d)
		es = append(es, E{Name: dir, Type: tar.TypeDir})
		for f := range 40 {
			es = append(es, E{Name: fmt.Sprintf("%sf%02d", dir, f), Body: body(512)})
		}
		for f := range 20 {
			es = append(es, E{Name: fmt.Sprintf("%sm%02d", dir, f), Body: body(32 << 10)})
		}
		es = append(es, E{Name: dir + "link", Type: tar.TypeSymlink, Link: "f00"})
		es = append(es, E{Name: dir + "hard", Type: tar.TypeLink, Link: dir + "f01"})
	}
	for i := range 8 {
		es = append(es, E{Name: fmt.Sprintf("opt/big%d", i), Body: body(2 << 20)})
	}
	return tartest.Tar(es...)
}

// BenchmarkApply reports MB/s of extracting an uncompressed layer. Run with
// go test -run '^$' -bench Apply ./archive/
func BenchmarkApply(b *testing.B) {
	layer := benchLayer()
	base := b.TempDir()
	b.SetBytes(int64(len(layer)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		dir := filepath.Join(base, fmt.Sprint(i))
		if err := os.Mkdir(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		if _, err := archive.Apply(context.Background(), dir, bytes.NewReader(layer), archive.ApplyOptions{NoOwnership: os.Geteuid() != 0}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := os.RemoveAll(dir); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
