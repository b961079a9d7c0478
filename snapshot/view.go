package snapshot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// View opens an image's layers (chainIDs bottom first) read-only as one
// tree, to read files of the image (its /etc/passwd, say) before any
// container exists. The view is a detached mount (an overlay, or a bind of
// a single layer): no path shows it and it goes away when the returned
// directory is closed, so even a killed reader leaves nothing mounted. Resolve paths under it with
// openat2(RESOLVE_IN_ROOT): the image is untrusted.
func (s *Store) View(ctx context.Context, chainIDs []digest.Digest) (*os.File, error) {
	for _, id := range chainIDs {
		if err := checkChainID(id); err != nil {
			return nil, err
		}
	}
	// The store lock keeps the layers from being removed while we open them.
	unlock, err := s.lockStore(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	lowers := make([]string, 0, len(chainIDs))
	for _, id := range slices.Backward(chainIDs) {
		if !s.Exists(id) {
			return nil, fmt.Errorf("view layer %s: %w", id, ErrNotFound)
		}
		lowers = append(lowers, filepath.Join(s.layerDir(id), "fs"))
	}
	var fd int
	switch {
	case len(lowers) == 0:
		fd, err = detachedBind(filepath.Join(s.root, "empty"))
	case len(lowers) == 1:
		// overlayfs without an upper layer needs two lowers; one layer is
		// already the whole tree.
		fd, err = detachedBind(lowers[0])
	case len(lowers) > maxLayers:
		return nil, fmt.Errorf("view of %d layers: more than the %d overlayfs stacks", len(lowers), maxLayers)
	default:
		fd, err = detachedOverlay(lowers)
	}
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), "image view"), nil
}

// viewAttrs make a view read-only and harmless.
const viewAttrs = unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC

// detachedBind is a read-only bind mount of dir attached nowhere.
func detachedBind(dir string) (int, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, dir, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("open_tree %s: %w", dir, err)
	}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &unix.MountAttr{Attr_set: viewAttrs}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("make the view of %s read-only: %w", dir, err)
	}
	return fd, nil
}

// detachedOverlay makes a read-only overlay of lowers (top first) that is
// not attached anywhere, and returns its mount fd.
func detachedOverlay(lowers []string) (int, error) {
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsopen overlay: %w", err)
	}
	defer unix.Close(fsfd)
	for _, l := range lowers {
		if err = unix.FsconfigSetString(fsfd, "lowerdir+", l); err != nil {
			break
		}
	}
	if errors.Is(err, unix.EINVAL) {
		// Before Linux 6.8: one option string, limited to a page.
		err = unix.FsconfigSetString(fsfd, "lowerdir", strings.Join(lowers, ":"))
	}
	if err != nil {
		return -1, fmt.Errorf("overlay lowers for a view: %w%s", err, fsLog(fsfd))
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, fmt.Errorf("create overlay view: %w%s", err, fsLog(fsfd))
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, viewAttrs)
	if err != nil {
		return -1, fmt.Errorf("fsmount overlay view: %w%s", err, fsLog(fsfd))
	}
	return mfd, nil
}
