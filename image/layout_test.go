package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/kago-run/kago/internal/testbundle"
	"github.com/kago-run/kago/snapshot"
)

func TestSaveLoadRoundTrip(t *testing.T) {
	reg := startRegistry(t)
	src, _ := newTestStore(t)
	ctx := context.Background()
	pushFixture(t, reg.host, "app:1", smallImage(t, "gzip", true))
	pushFixture(t, reg.host, "other:2", testImage(t, false,
		layerOf(t, tarLayer(t, map[string]string{"etc/": "", "etc/hello": "hello\n"}), "zstd"),
		layerOf(t, tarLayer(t, map[string]string{"other": "2"}), "none")))
	a, err := src.Pull(ctx, reg.host+"/app:1", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := src.Pull(ctx, reg.host+"/other:2", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := src.Save(ctx, &buf, []string{reg.host + "/app:1", reg.host + "/other:2"}); err != nil {
		t.Fatal(err)
	}
	dst, layers := newTestStore(t)
	imgs, err := dst.Load(ctx, bytes.NewReader(buf.Bytes()), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 2 {
		t.Fatalf("loaded %d images, want 2", len(imgs))
	}
	for _, want := range []*Image{a, b} {
		got, err := dst.Resolve(want.RepoTags[0])
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != want.ID || got.ManifestDigest != want.ManifestDigest {
			t.Errorf("loaded %s as %s/%s, want %s/%s", want.RepoTags[0], got.ID, got.ManifestDigest, want.ID, want.ManifestDigest)
		}
		if data, err := os.ReadFile(filepath.Join(layers.dir(got.ChainIDs[0]), "etc", "hello")); err != nil || string(data) != "hello\n" {
			t.Errorf("layer not unpacked after load: %v", err)
		}
	}
}

// rewriteTar copies a tar, letting edit change each entry's content.
func rewriteTar(t *testing.T, in []byte, edit func(name string, data []byte) []byte) []byte {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(in))
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		data = edit(hdr.Name, data)
		hdr.Size = int64(len(data))
		tw.WriteHeader(hdr)
		tw.Write(data)
	}
	tw.Close()
	return out.Bytes()
}

func TestLoadRejectsCorruptArchive(t *testing.T) {
	reg := startRegistry(t)
	src, _ := newTestStore(t)
	ctx := context.Background()
	pushFixture(t, reg.host, "app:1", smallImage(t, "gzip", true))
	img, err := src.Pull(ctx, reg.host+"/app:1", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := src.Save(ctx, &buf, []string{img.ID.String()}); err != nil {
		t.Fatal(err)
	}
	victim := "blobs/sha256/" + img.Layers[1].Encoded()
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"flipped byte in a layer", rewriteTar(t, buf.Bytes(), func(n string, d []byte) []byte {
			if n == victim {
				d = append([]byte{}, d...)
				d[len(d)/2] ^= 0xff
			}
			return d
		}), nil},
		{"truncated archive", buf.Bytes()[:buf.Len()/2], nil},
		{"not a tar", []byte("hello, I am not an archive"), nil},
		{"escaping name", func() []byte {
			var b bytes.Buffer
			tw := tar.NewWriter(&b)
			tw.WriteHeader(&tar.Header{Name: "../../evil", Size: 1, Mode: 0o644, Typeflag: tar.TypeReg})
			tw.Write([]byte("x"))
			tw.Close()
			return b.Bytes()
		}(), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst, _ := newTestStore(t)
			_, err := dst.Load(ctx, bytes.NewReader(tc.data), LoadOptions{})
			if err == nil {
				t.Fatal("load succeeded")
			}
			t.Logf("error: %v", err)
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
			assertNoImages(t, dst)
			if blobs, _ := dst.content.List(); len(blobs) > 0 && tc.name == "flipped byte in a layer" {
				if dst.content.Has(img.Layers[1]) {
					t.Error("corrupt layer was stored")
				}
			}
		})
	}
}

func TestLoadDockerSaveArchive(t *testing.T) {
	testbundle.RequireRoot(t)
	img := smallImage(t, "gzip", false)
	tag, _ := name.NewTag("example.com/legacy:v1")
	var buf bytes.Buffer
	if err := tarball.Write(tag, img, &buf); err != nil {
		t.Fatal(err)
	}
	s, layers := newTestStore(t)
	imgs, err := s.Load(context.Background(), &buf, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfgDigest, _ := img.ConfigName()
	if len(imgs) != 1 || imgs[0].ID.String() != cfgDigest.String() {
		t.Fatalf("loaded %v, want image %s", imgs, cfgDigest)
	}
	got, err := s.Resolve("example.com/legacy:v1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(layers.dir(got.ChainIDs[1]), "data.txt")); err != nil {
		t.Errorf("layer not unpacked: %v", err)
	}
	// A layer whose content does not match the config's diff ID is refused.
	var bad bytes.Buffer
	tarball.Write(tag, smallImage(t, "none", false), &bad)
	corrupt := rewriteTar(t, bad.Bytes(), func(n string, d []byte) []byte {
		if strings.HasSuffix(n, ".tar") && len(d) > 1000 {
			d = append([]byte{}, d...)
			d[600] ^= 1
		}
		return d
	})
	s2, _ := newTestStore(t)
	if _, err := s2.Load(context.Background(), bytes.NewReader(corrupt), LoadOptions{}); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("corrupt docker-save layer: err = %v, want digest mismatch", err)
	}
	assertNoImages(t, s2)
}

func TestImportWithChanges(t *testing.T) {
	s, layers := newTestStore(t)
	rootfs := busyboxTar(t)
	img, err := s.Import(context.Background(), bytes.NewReader(rootfs), "mybox:1", ImportOptions{Changes: []string{
		`CMD ["/bin/sh", "-c", "echo hi"]`, "ENTRYPOINT /bin/init", "ENV A=1 B=2", "ENV C 3", "EXPOSE 80 53/udp", "WORKDIR /srv", "USER nobody",
	}})
	if err != nil {
		t.Fatal(err)
	}
	c := img.Config.Config
	if strings.Join(c.Cmd, " ") != "/bin/sh -c echo hi" || strings.Join(c.Entrypoint, " ") != "/bin/sh -c /bin/init" ||
		strings.Join(c.Env, ",") != "A=1,B=2,C=3" || c.WorkingDir != "/srv" || c.User != "nobody" || len(c.ExposedPorts) != 2 {
		t.Errorf("config = %+v", c)
	}
	if _, err := s.Resolve("mybox:1"); err != nil {
		t.Error(err)
	}
	if fi, err := os.Stat(filepath.Join(layers.dir(img.ChainIDs[0]), "bin", "busybox")); err != nil || fi.Size() == 0 {
		t.Errorf("busybox not unpacked: %v", err)
	}
	if _, err := s.Import(context.Background(), bytes.NewReader(rootfs), "x:1", ImportOptions{Changes: []string{"RUN rm -rf /"}}); err == nil {
		t.Error("unsupported change accepted")
	}
	if _, err := s.Import(context.Background(), strings.NewReader("not a tar at all, nope"), "x:1", ImportOptions{}); err == nil {
		t.Error("garbage import accepted")
	}
	imgs, _ := s.List()
	if len(imgs) != 1 {
		t.Errorf("%d images after failed imports, want 1", len(imgs))
	}
}

// FuzzLoad feeds archives to Load: whatever the bytes, it returns an error
// or images, never panics, and never records an image whose blobs are missing.
func FuzzLoad(f *testing.F) {
	var docker bytes.Buffer
	tag, _ := name.NewTag("example.com/fuzz:1")
	img := testImage(f, false, layerOf(f, tarLayer(f, map[string]string{"a": "b"}), "none"))
	if err := tarball.Write(tag, img, &docker); err != nil {
		f.Fatal(err)
	}
	f.Add(docker.Bytes())
	f.Add([]byte{})
	f.Add([]byte("not a tar"))
	var oci bytes.Buffer
	tw := tar.NewWriter(&oci)
	for name, data := range map[string]string{
		"oci-layout": `{"imageLayoutVersion":"1.0.0"}`,
		"index.json": `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` + strings.Repeat("0", 64) + `","size":2}]}`,
	} {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg})
		tw.Write([]byte(data))
	}
	tw.Close()
	f.Add(oci.Bytes())
	testbundle.RequireRoot(f)
	root := f.TempDir()
	snaps, err := snapshot.New(filepath.Join(root, SnapshotDir))
	if err != nil {
		f.Fatal(err)
	}
	s, err := OpenWith(root, snaps)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		imgs, err := s.Load(context.Background(), bytes.NewReader(data), LoadOptions{})
		if err != nil {
			return
		}
		for _, img := range imgs {
			rec := img.Record
			if !s.complete(&rec) {
				t.Fatalf("loaded image %s is incomplete", img.ID)
			}
		}
	})
}
