//go:build compat

package compat

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kago-run/kago/archive"

	"github.com/kago-run/kago/internal/testbundle"
)

// testImage is the reference every client imports the test image as; its
// default command is sh. pauseImage is the CRI sandbox image: it sleeps.
const (
	testImage  = "localhost/kago-compat/busybox:latest"
	pauseImage = "localhost/kago-compat/pause:latest"
)

// imageTar writes a one-layer busybox image in the docker-archive format
// (what `docker save` writes), which ctr import, docker load and podman load
// all read, and returns its path. No registry is involved.
func imageTar(t *testing.T, dir, ref string, cmd ...string) string {
	t.Helper()
	rootfs := filepath.Join(dir, "image-rootfs")
	if err := testbundle.Rootfs(rootfs); err != nil {
		t.Fatalf("busybox rootfs: %v", err)
	}
	layer, err := layerTar(rootfs)
	if err != nil {
		t.Fatalf("layer tar of %s: %v", rootfs, err)
	}
	diffID := sha256.Sum256(layer)
	config, err := json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"created":      time.Unix(0, 0).UTC(),
		"config": map[string]any{
			"Env": []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			"Cmd": cmd,
		},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + hex.EncodeToString(diffID[:])}},
	})
	if err != nil {
		t.Fatal(err)
	}
	configDigest := sha256.Sum256(config)
	configName := hex.EncodeToString(configDigest[:]) + ".json"
	layerName := hex.EncodeToString(diffID[:]) + "/layer.tar"
	manifest, err := json.Marshal([]map[string]any{{
		"Config": configName, "RepoTags": []string{ref}, "Layers": []string{layerName},
	}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, strings.NewReplacer("/", "_", ":", "_").Replace(ref)+".tar")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	for _, e := range []struct {
		name string
		data []byte
	}{{configName, config}, {layerName, layer}, {"manifest.json", manifest}} {
		if dir := filepath.Dir(e.name); dir != "." {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755}); err != nil {
				t.Fatal(err)
			}
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: e.name, Mode: 0o644, Size: int64(len(e.data))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return path
}

// layerTar returns an uncompressed tar of dir's contents, paths relative to
// dir, written by kago's own layer writer.
func layerTar(dir string) ([]byte, error) {
	var buf bytes.Buffer
	if err := archive.WriteTar(context.Background(), &buf, dir); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
