package archive

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/linux/inroot"
)

// maxNameLen bounds entry and link names: PATH_MAX on Linux. Longer names
// cannot be created anyway and only cost memory.
const maxNameLen = 4096

// cleanName turns a tar entry name into a clean path relative to the root:
// leading slashes are dropped, "." and empty components vanish, and ".."
// is resolved lexically. A ".." that climbs above the root is an error, not
// silently clamped: such a layer is broken or hostile and should be noticed.
// The root itself is returned as ".".
func cleanName(name string) (string, error) {
	if len(name) > maxNameLen {
		return "", fmt.Errorf("name is %d bytes long, more than the %d allowed", len(name), maxNameLen)
	}
	if strings.IndexByte(name, 0) >= 0 {
		return "", errors.New("name contains a NUL byte")
	}
	parts := make([]string, 0, strings.Count(name, "/")+1)
	for _, p := range strings.Split(name, "/") {
		switch p {
		case "", ".":
		case "..":
			if len(parts) == 0 {
				return "", errors.New("name climbs out of the root with \"..\"")
			}
			parts = parts[:len(parts)-1]
		default:
			if len(p) > 255 {
				return "", fmt.Errorf("path component is %d bytes long, more than the 255 allowed", len(p))
			}
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		return ".", nil
	}
	return strings.Join(parts, "/"), nil
}

// splitName splits a clean relative name into parent directory and base.
func splitName(name string) (dir, base string) {
	i := strings.LastIndexByte(name, '/')
	if i < 0 {
		return ".", name
	}
	return name[:i], name[i+1:]
}

// root is an open directory tree that entries are confined to. It caches
// open parent directories, because consecutive entries of a tar usually share
// their parent; the cache is dropped whenever something is removed, since a
// removal is the only way a resolved parent can stop being what its path names.
// Dropped fds stay open until the entry is done (flush), as the entry may
// still be using one of them.
type root struct {
	fd    int
	cache map[string]int
	stale []int
	// opaqueKey is the xattr that marks a directory opaque for overlayfs.
	opaqueKey string
}

const maxCachedDirs = 128

func openRoot(dir, opaqueKey string) (*root, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	return &root{fd: fd, cache: map[string]int{}, opaqueKey: opaqueKey}, nil
}

func (r *root) Close() {
	r.invalidate()
	r.flush()
	unix.Close(r.fd)
}

// invalidate forgets every cached parent.
func (r *root) invalidate() {
	for k, fd := range r.cache {
		r.stale = append(r.stale, fd)
		delete(r.cache, k)
	}
}

// flush closes the fds invalidate dropped; called between entries.
func (r *root) flush() {
	for _, fd := range r.stale {
		unix.Close(fd)
	}
	r.stale = r.stale[:0]
}

// openDir opens the directory path below dirfd, confined to dirfd by
// package inroot: ".." stops at it, absolute symlinks are taken relative to
// it, and /proc magic links are refused.
func openDir(dirfd int, path string) (int, error) {
	return inroot.OpenAt(dirfd, path, unix.O_RDONLY|unix.O_DIRECTORY, 0)
}

// dir returns an fd of the directory rel (clean, relative), creating missing
// directories with mode 0755 like tar does. The fd belongs to the cache.
func (r *root) dir(rel string) (int, error) {
	if rel == "." {
		return r.fd, nil
	}
	if fd, ok := r.cache[rel]; ok {
		return fd, nil
	}
	fd, err := openDir(r.fd, rel)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		pdir, base := splitName(rel)
		pfd, perr := r.dir(pdir)
		if perr != nil {
			return -1, perr
		}
		if err := r.mkdir(pfd, base, 0o755, false); err != nil {
			return -1, fmt.Errorf("create parent directory %s: %w", rel, err)
		}
		fd, err = openDir(pfd, base)
	}
	if err != nil {
		return -1, fmt.Errorf("open parent directory %s: %w", rel, err)
	}
	if len(r.cache) >= maxCachedDirs {
		r.invalidate()
	}
	r.cache[rel] = fd
	return fd, nil
}

// mkdir makes directory base in pfd. An existing directory is kept. An
// overlay whiteout of this layer is replaced by an opaque directory: ".wh.a"
// then "a/x" in one layer deletes the lower a and makes a new one, which is
// what an opaque directory says to overlayfs. Other existing entries are
// replaced only if replaceAny (an explicit directory entry; a later entry
// wins), else they are an error.
func (r *root) mkdir(pfd int, base string, mode uint32, replaceAny bool) error {
	err := unix.Mkdirat(pfd, base, mode)
	if err != unix.EEXIST {
		return err
	}
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("stat existing %s: %w", base, err)
	}
	whiteout := st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
	switch {
	case st.Mode&unix.S_IFMT == unix.S_IFDIR:
		return nil
	case !whiteout && !replaceAny:
		return fmt.Errorf("%s exists and is not a directory", base)
	}
	if err := r.remove(pfd, base); err != nil {
		return err
	}
	if err := unix.Mkdirat(pfd, base, mode); err != nil {
		return err
	}
	if !whiteout {
		return nil
	}
	fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return r.setOpaque(fd)
}

// setOpaque marks the directory fd opaque: lower layers' entries under the
// same path are hidden.
func (r *root) setOpaque(fd int) error {
	if err := unix.Fsetxattr(fd, r.opaqueKey, []byte("y"), 0); err != nil {
		return fmt.Errorf("set %s (trusted.* needs CAP_SYS_ADMIN, or ApplyOptions.UserXattr): %w", r.opaqueKey, err)
	}
	return nil
}

// remove deletes base in pfd, a whole tree if it is a directory.
func (r *root) remove(pfd int, base string) error {
	r.invalidate()
	if err := removeAllAt(pfd, base); err != nil {
		return fmt.Errorf("replace existing %s: %w", base, err)
	}
	return nil
}
