package snapshot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/kago-run/kago/internal/atomicfile"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/archive"
)

// layerMeta is layers/<id>/meta.json.
type layerMeta struct {
	Size     int64     `json:"size"`
	Unpacked time.Time `json:"unpacked"`
}

// Unpack makes the snapshot of one layer, keyed by its chain ID, from a layer
// stream, compressed (gzip, zstd) or not. It extracts into a directory under
// tmp/ and renames it into place, so a layer is either whole or absent. If
// the snapshot exists already, Unpack reads nothing from r and returns 0,
// nil; concurrent calls for one chain ID extract it once. size is the bytes
// of file content this call wrote. The stream is read to its end.
func (s *Store) Unpack(ctx context.Context, chainID digest.Digest, r io.Reader) (size int64, err error) {
	if err := checkChainID(chainID); err != nil {
		return 0, err
	}
	unlock, err := lockFile(ctx, s.layerLock(chainID))
	if err != nil {
		return 0, err
	}
	defer unlock()
	final := s.layerDir(chainID)
	if _, err := os.Lstat(final); err == nil {
		return 0, nil
	}
	tmp, release, err := s.tmpDir(ctx, "unpack-")
	if err != nil {
		return 0, err
	}
	defer release()
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	fsDir := filepath.Join(tmp, "fs")
	if err := os.Mkdir(fsDir, 0o755); err != nil {
		return 0, fmt.Errorf("unpack %s: %w", chainID, err)
	}
	if err := os.Chmod(fsDir, 0o755); err != nil { // whatever the umask
		return 0, fmt.Errorf("unpack %s: %w", chainID, err)
	}
	dr, err := archive.Decompress(r)
	if err != nil {
		return 0, fmt.Errorf("unpack %s: %w", chainID, err)
	}
	defer dr.Close()
	size, err = archive.Apply(ctx, fsDir, dr, archive.ApplyOptions{})
	if err != nil {
		return 0, fmt.Errorf("unpack %s: %w", chainID, err)
	}
	// Apply stopped at the end of the tar; reading on to EOF also makes the
	// decompressor check its trailer (gzip CRC) and consume r entirely.
	if _, err := io.Copy(io.Discard, dr); err != nil {
		return 0, fmt.Errorf("unpack %s: read to end of layer: %w", chainID, err)
	}
	meta, _ := json.Marshal(layerMeta{Size: size, Unpacked: time.Now().UTC()})
	if err := atomicfile.WriteFile(filepath.Join(tmp, "meta.json"), meta, 0o600); err != nil {
		return 0, err
	}
	if err := syncFS(tmp); err != nil {
		return 0, fmt.Errorf("unpack %s: %w", chainID, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return 0, fmt.Errorf("unpack %s: move into place: %w", chainID, err)
	}
	if err := atomicfile.SyncDir(filepath.Dir(final)); err != nil {
		return size, err
	}
	return size, nil
}

// syncFS flushes the filesystem holding dir, so that the rename making a
// layer visible never reaches the disk before its contents do.
func syncFS(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer unix.Close(fd)
	if err := unix.Syncfs(fd); err != nil {
		return fmt.Errorf("syncfs %s: %w", dir, err)
	}
	return nil
}

func (s *Store) layerLock(id digest.Digest) string {
	return filepath.Join(s.root, "locks", "layer-"+id.Algorithm().String()+"-"+id.Encoded()+".lock")
}

// Exists reports whether the layer snapshot is complete on disk.
func (s *Store) Exists(chainID digest.Digest) bool {
	if checkChainID(chainID) != nil {
		return false
	}
	_, err := os.Lstat(s.layerDir(chainID))
	return err == nil
}

// Layers lists the chain IDs of all layer snapshots, in no particular order.
func (s *Store) Layers() ([]digest.Digest, error) {
	ents, err := os.ReadDir(filepath.Join(s.root, "layers"))
	if err != nil {
		return nil, fmt.Errorf("list layers: %w", err)
	}
	var ids []digest.Digest
	for _, e := range ents {
		if id, ok := dirName(e.Name()); ok {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// Usage is the bytes of file content in the layer snapshot.
func (s *Store) Usage(chainID digest.Digest) (int64, error) {
	if err := checkChainID(chainID); err != nil {
		return 0, err
	}
	data, err := os.ReadFile(filepath.Join(s.layerDir(chainID), "meta.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("layer %s: %w", chainID, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("layer %s: %w", chainID, err)
	}
	var m layerMeta
	if err := json.Unmarshal(data, &m); err != nil {
		return 0, fmt.Errorf("layer %s: corrupt meta.json: %w", chainID, err)
	}
	return m.Size, nil
}

// RemoveLayer deletes a layer snapshot, for garbage collection. It refuses
// with ErrInUse while a container snapshot uses it. Layers are independent
// directories, so removing a lower chain ID does not touch the ones above it;
// which chain IDs an image needs is the image store's business.
func (s *Store) RemoveLayer(chainID digest.Digest) error {
	// Waits for an Unpack of the same layer; no ctx in the agreed API.
	ctx := context.Background()
	if err := checkChainID(chainID); err != nil {
		return err
	}
	unlockLayer, err := lockFile(ctx, s.layerLock(chainID))
	if err != nil {
		return err
	}
	defer unlockLayer()
	unlock, err := s.lockStore(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if !s.Exists(chainID) {
		return fmt.Errorf("layer %s: %w", chainID, ErrNotFound)
	}
	users, err := s.usersOf(chainID)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return fmt.Errorf("layer %s is used by container snapshot %v: %w", chainID, users, ErrInUse)
	}
	return s.removeDir(ctx, s.layerDir(chainID))
}
