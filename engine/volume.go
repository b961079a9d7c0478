package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/archive"
	"github.com/kago-run/kago/engine/containers"
	"github.com/kago-run/kago/engine/volumes"
	"github.com/kago-run/kago/linux/inroot"
)

// Volume is one volume of the engine, as `volume inspect` shows it.
type Volume = volumes.Volume

// ErrNoSuchVolume is the error for a volume the engine lacks.
var ErrNoSuchVolume = volumes.ErrNotFound

// CreateVolume makes a named volume (local driver), or returns the one of
// that name, as docker's volume create does.
func (e *Engine) CreateVolume(name string, labels map[string]string) (*Volume, error) {
	if name == "" {
		name = containers.NewID()
	}
	v, _, err := e.volumes.Create(name, labels)
	return v, err
}

// InspectVolume returns one volume.
func (e *Engine) InspectVolume(name string) (*Volume, error) { return e.volumes.Get(name) }

// VolumeFilter is `volume ls -f` / `volume prune -f`, docker's keys:
// name=SUBSTRING, label=KEY[=VALUE], label!=KEY[=VALUE], dangling=BOOL,
// driver=NAME; prune also takes all=BOOL. Values of one key are or-ed,
// keys are and-ed.
type VolumeFilter map[string][]string

// ParseVolumeFilters parses -f KEY=VALUE values; allowed are the keys the
// command takes.
func ParseVolumeFilters(values []string, allowed ...string) (VolumeFilter, error) {
	f := VolumeFilter{}
	for _, v := range values {
		key, val, ok := strings.Cut(v, "=")
		if strings.HasSuffix(key, "!") {
			key = strings.TrimSuffix(key, "!") + "!"
		}
		if !ok || key == "" {
			return nil, fmt.Errorf("bad filter %q: use KEY=VALUE (%s)", v, strings.Join(allowed, ", "))
		}
		known := false
		for _, a := range allowed {
			known = known || a == key
		}
		if !known {
			return nil, fmt.Errorf("invalid filter %q: use one of %s", key, strings.Join(allowed, ", "))
		}
		if key == "dangling" || key == "all" {
			if _, err := strconv.ParseBool(val); err != nil {
				return nil, fmt.Errorf("invalid filter %s=%q: want true or false", key, val)
			}
		}
		f[key] = append(f[key], val)
	}
	return f, nil
}

// matches tells whether v passes the filter; used is the names of volumes
// some container mounts.
func (f VolumeFilter) matches(v *Volume, used map[string]bool) bool {
	label := func(want string) bool { return hasLabel(v.Labels, want) }
	any := func(key string, ok func(string) bool) bool {
		vals, set := f[key]
		if !set {
			return true
		}
		for _, val := range vals {
			if ok(val) {
				return true
			}
		}
		return false
	}
	for _, want := range f["label!"] {
		if label(want) {
			return false
		}
	}
	for _, want := range f["label"] {
		if !label(want) {
			return false
		}
	}
	return any("name", func(s string) bool { return strings.Contains(v.Name, s) }) &&
		any("driver", func(s string) bool { return s == v.Driver }) &&
		any("dangling", func(s string) bool { b, _ := strconv.ParseBool(s); return b == !used[v.Name] })
}

// Volumes lists the volumes passing the filter, by name.
func (e *Engine) Volumes(f VolumeFilter) ([]*Volume, error) {
	all, err := e.volumes.List()
	if err != nil {
		return nil, err
	}
	used := e.volumeUsers()
	var out []*Volume
	for _, v := range all {
		if f.matches(v, used.names()) {
			out = append(out, v)
		}
	}
	return out, nil
}

// RemoveVolume removes a volume no container uses (force only makes a
// missing volume no error, as docker's -f).
func (e *Engine) RemoveVolume(name string, force bool) error {
	err := e.volumes.Remove(name, func(name string) []string { return e.volumeUsers()[name] })
	if force && errors.Is(err, volumes.ErrNotFound) {
		return nil
	}
	return err
}

// PruneVolumes removes unused volumes passing the filter: anonymous ones
// only unless the filter says all=true (docker's rule since API 1.42). It
// returns the names removed and the bytes they held.
func (e *Engine) PruneVolumes(f VolumeFilter) ([]string, int64, error) {
	all := false
	for _, v := range f["all"] {
		all, _ = strconv.ParseBool(v)
	}
	vs, err := e.volumes.List()
	if err != nil {
		return nil, 0, err
	}
	used := e.volumeUsers().names()
	var names []string
	var space int64
	for _, v := range vs {
		if used[v.Name] || !all && !v.Anonymous() || !f.matches(v, used) {
			continue
		}
		size := diskUsage(v.Mountpoint)
		if err := e.volumes.Remove(v.Name, func(name string) []string { return e.volumeUsers()[name] }); err != nil {
			if errors.Is(err, volumes.ErrNotFound) || strings.Contains(err.Error(), "in use") {
				continue
			}
			return names, space, err
		}
		names, space = append(names, v.Name), space+size
	}
	return names, space, nil
}

// users maps a volume name to the IDs of the containers that mount it.
type users map[string][]string

func (u users) names() map[string]bool {
	out := map[string]bool{}
	for n := range u {
		out[n] = true
	}
	return out
}

// volumeUsers reads which containers mount which volumes.
func (e *Engine) volumeUsers() users {
	out := users{}
	all, err := e.containers.List()
	if err != nil {
		return out
	}
	for _, r := range all {
		for _, m := range r.Mounts {
			if m.Type == string(MountVolume) && m.Name != "" {
				out[m.Name] = append(out[m.Name], r.ID)
			}
		}
	}
	return out
}

// diskUsage is the bytes of the files under dir (best effort).
func diskUsage(dir string) int64 {
	var n int64
	var walk func(string)
	walk = func(p string) {
		entries, err := os.ReadDir(p)
		if err != nil {
			return
		}
		for _, en := range entries {
			if en.IsDir() {
				walk(path.Join(p, en.Name()))
			} else if info, err := en.Info(); err == nil && info.Mode().IsRegular() {
				n += info.Size()
			}
		}
	}
	walk(dir)
	return n
}

// prepareVolume makes the volume a container mounts at target (creating
// it when missing) and, when it is empty, fills it with what the image has
// at target, as docker does on a volume's first use: its files, and the
// owner and mode of the directory.
func (e *Engine) prepareVolume(ctx context.Context, m containers.Mount, rootfs string) error {
	labels := map[string]string{}
	if m.Anonymous {
		labels[volumes.AnonymousLabel] = ""
	}
	v, _, err := e.volumes.Create(m.Name, labels)
	if err != nil {
		return err
	}
	if entries, err := os.ReadDir(v.Mountpoint); err != nil || len(entries) > 0 {
		return err
	}
	src, err := inroot.OpenFile(rootfs, m.Destination, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			return nil // nothing to copy (a file there fails at mount)
		}
		return fmt.Errorf("volume %s: read %s of the image: %w", m.Name, m.Destination, err)
	}
	defer src.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(src.Fd()), &st); err != nil {
		return fmt.Errorf("volume %s: %w", m.Name, err)
	}
	if err := os.Lchown(v.Mountpoint, int(st.Uid), int(st.Gid)); err != nil {
		return fmt.Errorf("volume %s: %w", m.Name, err)
	}
	if err := os.Chmod(v.Mountpoint, os.FileMode(st.Mode&0o777)|unixModeBits(st.Mode)); err != nil {
		return fmt.Errorf("volume %s: %w", m.Name, err)
	}
	// The image's tree goes through a tar stream: the same code that
	// writes and applies layers keeps owners, modes, links and xattrs.
	// The directory as the kernel resolved it in the rootfs (symlinks
	// clamped to it); nothing changes the rootfs before the container runs.
	dir, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(src.Fd())))
	if err != nil {
		return fmt.Errorf("volume %s: %w", m.Name, err)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(archive.WriteTar(ctx, pw, dir)) }()
	_, err = archive.Apply(ctx, v.Mountpoint, pr, archive.ApplyOptions{Warn: func(msg string) { e.Log.Warn("initialise volume", "volume", m.Name, "note", msg) }})
	pr.CloseWithError(err)
	if err != nil {
		return fmt.Errorf("volume %s: copy %s of the image into it: %w", m.Name, m.Destination, err)
	}
	return nil
}

func unixModeBits(mode uint32) os.FileMode {
	var m os.FileMode
	if mode&unix.S_ISUID != 0 {
		m |= os.ModeSetuid
	}
	if mode&unix.S_ISGID != 0 {
		m |= os.ModeSetgid
	}
	if mode&unix.S_ISVTX != 0 {
		m |= os.ModeSticky
	}
	return m
}
