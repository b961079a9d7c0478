// Package runtime is kago's OCI runtime: it turns a bundle (config.json plus a
// root filesystem) into a running container and takes it through the lifecycle
// the OCI runtime specification defines:
//
//	create -> created -> start -> running -> (process exits) -> stopped -> delete
//
// "create" builds the container's environment (namespaces, cgroup, mounts,
// devices) and leaves its init process blocked on a FIFO in the state
// directory; "start" opens the FIFO, which lets init execve the user process.
// This is runc's design, and it needs no daemon: the state on disk plus the
// blocked init process are the container.
//
// The package knows nothing of images, networks or the engine. kago-runc (the
// runc-compatible CLI) and the kago engine both call it as a Go package.
package runtime

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
)

// Errors callers can test with errors.Is.
var (
	ErrNotExist = errors.New("container does not exist")
	ErrExist    = errors.New("container already exists")
	ErrState    = errors.New("container is not in the right state")
)

// DefaultRoot is where kago-runc keeps container state unless --root says otherwise.
const DefaultRoot = "/run/kago-runc"

// Runtime holds the state root shared by all containers it manages.
type Runtime struct {
	// Root is the directory holding one subdirectory of state per container.
	Root string
	// Log receives debug and warning messages; nil discards them.
	Log *slog.Logger
	// Rootless is runc's --rootless: whether create may go on without a
	// cgroup when the kernel refuses one (and the config sets no limits).
	// "auto" (or empty) means for an unprivileged caller only; "true" for
	// any caller (root in a container whose cgroupfs is read-only, say);
	// "false" never.
	Rootless string
	// SystemdCgroup is runc's --systemd-cgroup: systemd creates each new
	// container's cgroup as a transient scope (package cgroups/systemd) and
	// linux.cgroupsPath reads "slice:prefix:name". A container keeps the
	// driver it was created with.
	SystemdCgroup bool

	exeMu sync.Mutex
	exe   *os.File // see sealedExe
}

// New returns a runtime keeping state under root.
func New(root string, log *slog.Logger) (*Runtime, error) {
	if root == "" {
		root = DefaultRoot
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("state root %s: %w", root, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("create state root %s: %w", abs, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Runtime{Root: abs, Log: log}, nil
}

var idPattern = regexp.MustCompile(`^[\w+\-.]+$`)

// ValidateID checks a container ID the way runc does: letters, digits, and
// _+-. only, so an ID can never name a path outside the state root.
func ValidateID(id string) error {
	if id == "" {
		return errors.New("container ID must not be empty")
	}
	if len(id) > 1024 || !idPattern.MatchString(id) || id == "." || id == ".." {
		return fmt.Errorf("invalid container ID %q: use only letters, digits, '_', '+', '-' and '.'", id)
	}
	return nil
}

func (r *Runtime) dir(id string) string { return filepath.Join(r.Root, id) }

// Load returns the container with this ID.
func (r *Runtime) Load(id string) (*Container, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	rec, err := readRecord(r.dir(id))
	if err != nil {
		return nil, err
	}
	return &Container{rt: r, rec: rec, dir: r.dir(id)}, nil
}

// List returns every container under the state root, sorted by ID. A
// directory whose record cannot be read is skipped with a warning.
func (r *Runtime) List() ([]*Container, error) {
	entries, err := os.ReadDir(r.Root)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("list %s: %w", r.Root, err)
	}
	var out []*Container
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		c, err := r.Load(e.Name())
		if err != nil {
			r.Log.Warn("skipping unreadable container state", "id", e.Name(), "error", err)
			continue
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID() < out[j].ID() })
	return out, nil
}
