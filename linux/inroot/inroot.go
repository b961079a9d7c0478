// Package inroot opens paths inside a directory that must act as their root:
// a container's rootfs, /proc/<pid>/root of a running container, the
// directory an image layer is extracted into. Everything in such a tree is
// untrusted: a symlink may point at "/", climb with "../..", or be swapped
// for a directory while kago is looking it up.
//
// Every lookup is one openat2(2) with RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS
// relative to an fd of the root, so the kernel, not string handling, keeps
// "..", absolute symlinks and symlinks in middle components inside the
// root, and refuses /proc magic links (/proc/self/root, /proc/<pid>/fd/N)
// that would jump out of it. Operations that create (MkdirAll, MkFile) or
// act on a last component (Parent, Lstat, Readlink) never resolve a path by
// name after a check: they work on fds of already-resolved directories and
// pass them a single name, with *at calls that do not follow a symlink at
// that name.
//
// The kernel aborts a RESOLVE_IN_ROOT lookup with EAGAIN when a rename or
// mount anywhere on the system raced it, since it cannot then prove ".."
// stayed inside. Openat2 retries that a bounded number of times
// (MaxAttempts) and then fails with ErrRaced: a tree that keeps changing
// under a lookup is an attack or a bug, and giving up is the safe answer.
// This is the one retry policy; every caller in kago goes through it.
package inroot

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// MaxAttempts bounds the openat2 calls one lookup makes when the kernel
// answers EAGAIN or EINTR. Each retry is one lookup of at most a few
// thousand names, so this is milliseconds at worst.
const MaxAttempts = 128

// ErrRaced is wrapped in the error of a lookup that the kernel aborted
// MaxAttempts times because something renamed or mounted while it ran.
var ErrRaced = errors.New("the path kept changing while it was resolved (renames or mounts raced every attempt)")

// resolveInRoot is the confinement every lookup in a Root uses.
const resolveInRoot = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS

// Openat2 is openat2(2) with the package's retry policy: EAGAIN and EINTR
// are retried up to MaxAttempts times. Callers that resolve beneath a
// directory rather than in a root (RESOLVE_BENEATH, e.g. /proc/sys) use it
// too, so kago has one policy.
func Openat2(dirfd int, p string, how *unix.OpenHow) (int, error) {
	for i := 1; ; i++ {
		fd, err := unix.Openat2(dirfd, p, how)
		if err != unix.EAGAIN && err != unix.EINTR {
			return fd, err
		}
		if i >= MaxAttempts {
			return -1, fmt.Errorf("%w, %d attempts: %w", ErrRaced, i, err)
		}
	}
}

// Root is an open directory that paths are confined to.
type Root struct {
	fd   int    // O_PATH fd of the root directory
	dir  string // the path it was opened by, for messages
	real string // its path in the current mount namespace; "" until needed
}

// Open opens dir as a root. dir itself is trusted (it is resolved as
// given); only what is looked up inside it is confined.
func Open(dir string) (*Root, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open root directory %s: %w", dir, err)
	}
	return &Root{fd: fd, dir: dir}, nil
}

// Close closes the root's fd.
func (r *Root) Close() error { return unix.Close(r.fd) }

// Fd is the root's O_PATH fd, for *at calls on the root itself.
func (r *Root) Fd() int { return r.fd }

// Dir is the path the root was opened by.
func (r *Root) Dir() string { return r.dir }

// Clean makes p absolute and lexically clean, as it names a path inside a
// root: relative paths are taken from the root, ".." cannot climb above it.
func Clean(p string) string { return path.Clean("/" + p) }

// rel turns p into the relative name openat2 resolves from the root's fd.
func rel(p string) string {
	r := strings.TrimPrefix(Clean(p), "/")
	if r == "" {
		return "."
	}
	return r
}

// OpenFd opens p inside the root with open(2) flags (O_CLOEXEC is always
// added) and returns the fd. resolve adds RESOLVE_* flags, for example
// RESOLVE_NO_SYMLINKS or RESOLVE_NO_XDEV.
func (r *Root) OpenFd(p string, flags int, resolve uint64) (int, error) {
	return OpenAt(r.fd, p, flags, resolve)
}

// OpenAt resolves p inside the root dirfd, for callers that keep their own
// fd of the root (and of directories below it, which then act as the root
// of the lookup: p cannot leave them either).
func OpenAt(dirfd int, p string, flags int, resolve uint64) (int, error) {
	how := unix.OpenHow{Flags: uint64(flags) | unix.O_CLOEXEC, Resolve: resolveInRoot | resolve}
	fd, err := Openat2(dirfd, rel(p), &how)
	if err != nil {
		return -1, pathError("open", p, explain(err, resolve))
	}
	return fd, nil
}

// OpenFile is OpenFd returning an *os.File named p.
func (r *Root) OpenFile(p string, flags int) (*os.File, error) {
	fd, err := r.OpenFd(p, flags, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), Clean(p)), nil
}

// OpenFile opens p inside the directory dir taken as root. It is Open, then
// Root.OpenFile, then Close, for callers with a single lookup to make.
func OpenFile(dir, p string, flags int) (*os.File, error) {
	r, err := Open(dir)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return r.OpenFile(p, flags)
}

// ReadFile reads at most limit bytes of the file p inside the root.
func (r *Root) ReadFile(p string, limit int64) ([]byte, error) {
	f, err := r.OpenFile(p, unix.O_RDONLY|unix.O_NONBLOCK)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, pathError("read", p, errors.New("not a regular file"))
	}
	return io.ReadAll(io.LimitReader(f, limit))
}

// Parent opens the directory p is in (O_PATH) and returns it with p's last
// component, for the *at call that creates, replaces or inspects that name
// without following it. p must not be the root itself.
func (r *Root) Parent(p string, resolve uint64) (dirfd int, name string, err error) {
	c := Clean(p)
	if c == "/" {
		return -1, "", pathError("open parent of", p, errors.New("the root has no parent"))
	}
	fd, err := r.OpenFd(path.Dir(c), unix.O_PATH|unix.O_DIRECTORY, resolve)
	if err != nil {
		return -1, "", err
	}
	return fd, path.Base(c), nil
}

// Lstat stats p inside the root without following a symlink at its last
// component. A missing p or parent gives an error that errors.Is ENOENT.
func (r *Root) Lstat(p string) (unix.Stat_t, error) {
	var st unix.Stat_t
	if Clean(p) == "/" {
		if err := unix.Fstat(r.fd, &st); err != nil {
			return st, pathError("stat", p, err)
		}
		return st, nil
	}
	dfd, name, err := r.Parent(p, 0)
	if err != nil {
		return st, err
	}
	defer unix.Close(dfd)
	if err := unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return st, pathError("stat", p, err)
	}
	return st, nil
}

// Readlink returns the target of the symlink p inside the root, as stored:
// the target is not resolved.
func (r *Root) Readlink(p string) (string, error) {
	dfd, name, err := r.Parent(p, 0)
	if err != nil {
		return "", err
	}
	defer unix.Close(dfd)
	for size := 256; size <= 1<<16; size *= 4 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dfd, name, buf)
		if err != nil {
			return "", pathError("readlink", p, err)
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
	return "", pathError("readlink", p, errors.New("symlink target longer than 64 KiB"))
}

// MkdirAll returns an O_PATH fd of directory p inside the root, creating
// missing components one at a time with mode. Each mkdirat runs on the fd
// of the already-resolved parent with a single name, and the result is
// resolved again from the root, so a symlink raced into place is followed
// inside the root, never outside it.
func (r *Root) MkdirAll(p string, mode uint32, resolve uint64) (int, error) {
	p = Clean(p)
	fd, err := r.OpenFd("/", unix.O_PATH|unix.O_DIRECTORY, resolve)
	if err != nil {
		return -1, err
	}
	cur := ""
	for _, name := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		if name == "" {
			continue
		}
		next := cur + "/" + name
		nfd, err := r.OpenFd(next, unix.O_PATH|unix.O_DIRECTORY, resolve)
		if errors.Is(err, unix.ENOENT) {
			if merr := unix.Mkdirat(fd, name, mode); merr != nil && merr != unix.EEXIST {
				unix.Close(fd)
				return -1, pathError("create directory", next, merr)
			}
			nfd, err = r.OpenFd(next, unix.O_PATH|unix.O_DIRECTORY, resolve)
			if errors.Is(err, unix.ENOENT) {
				err = missingTarget(next, err)
			}
		}
		unix.Close(fd)
		if err != nil {
			return -1, err
		}
		fd, cur = nfd, next
	}
	return fd, nil
}

// MkFile returns an O_PATH fd of p inside the root, creating it as an empty
// regular file with mode (and its parent directories, 0755) if it does not
// exist. A mount point for a file or device bind mount is made this way.
func (r *Root) MkFile(p string, mode uint32, resolve uint64) (int, error) {
	p = Clean(p)
	if fd, err := r.OpenFd(p, unix.O_PATH, resolve); err == nil || !errors.Is(err, unix.ENOENT) {
		return fd, err
	}
	if p == "/" {
		return -1, pathError("create file", p, errors.New("the root is a directory"))
	}
	dfd, err := r.MkdirAll(path.Dir(p), 0o755, resolve)
	if err != nil {
		return -1, err
	}
	defer unix.Close(dfd)
	// O_EXCL makes O_CREAT refuse to follow a symlink at the last component.
	ffd, err := unix.Openat(dfd, path.Base(p), unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode)
	if err == nil {
		unix.Close(ffd)
	} else if err != unix.EEXIST {
		return -1, pathError("create file", p, err)
	}
	fd, err := r.OpenFd(p, unix.O_PATH, resolve)
	if errors.Is(err, unix.ENOENT) {
		return -1, missingTarget(p, err)
	}
	return fd, err
}

func missingTarget(p string, err error) error {
	return fmt.Errorf("%s is a symlink to a missing target: create the target or remove the link: %w", p, err)
}

// CheckInside is defence in depth after a lookup: the object fd refers to
// must be the root or below it, as the current mount namespace sees them.
// p names it in the message.
func (r *Root) CheckInside(fd int, p string) error {
	if r.real == "" {
		real, err := os.Readlink(ProcFd(r.fd))
		if err != nil {
			return fmt.Errorf("read the path of root %s: %w", r.dir, err)
		}
		r.real = real
	}
	got, err := os.Readlink(ProcFd(fd))
	if err != nil {
		return fmt.Errorf("read the path of %s: %w", p, err)
	}
	if got == r.real || r.real == "/" || strings.HasPrefix(got, r.real+"/") {
		return nil
	}
	return fmt.Errorf("%s resolved to %s, outside the root %s: refusing to use it", p, got, r.real)
}

// ProcFd is the magic link through which a syscall that only takes a path
// (mount(2), chmod(2)) acts on exactly the object fd refers to.
func ProcFd(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// pathError names the path as it is inside the root.
func pathError(op, p string, err error) error {
	return &os.PathError{Op: op, Path: Clean(p), Err: err}
}

// hinted is an errno with the fix a user can make appended; errors.Is
// still finds the errno.
type hinted struct {
	err  error
	hint string
}

func (h *hinted) Error() string { return h.err.Error() + " (" + h.hint + ")" }
func (h *hinted) Unwrap() error { return h.err }

// explain adds what an openat2 error means for a path in a root.
func explain(err error, resolve uint64) error {
	var hint string
	switch {
	case errors.Is(err, unix.ELOOP) && resolve&unix.RESOLVE_NO_SYMLINKS != 0:
		hint = "the path goes through a symlink, which is refused here: replace the symlink with a directory"
	case errors.Is(err, unix.ELOOP):
		hint = "a symlink on the path loops, or is a /proc magic link, which is refused"
	case errors.Is(err, unix.ENOTDIR):
		hint = "a component of the path is not a directory"
	case errors.Is(err, unix.EXDEV):
		hint = "the path crosses a mount point, which is refused here"
	case errors.Is(err, unix.ENOSYS):
		hint = "openat2 needs Linux 5.6 or newer"
	default:
		return err
	}
	return &hinted{err: err, hint: hint}
}
